//! Exposition parsers, as Prometheus's `model/textparse`.
//!
//! [`Parser`] reads one scraped body in place: [`Parser::next`] finds the
//! next entry and [`Parser::series`] hands back the raw series bytes (the
//! scrape cache key), the value and the timestamp without allocating.
//! Labels are only decoded on a cache miss, by [`Parser::labels`].
//!
//! Two formats are spoken, chosen by Content-Type as Prometheus 2.42's
//! `textparse.New` does: the Prometheus text format 0.0.4 ([`PromParser`])
//! and OpenMetrics 1.0 ([`OpenMetricsParser`]). What each accepts and
//! rejects follows Prometheus 2.42 byte for byte, quirks included; where
//! Prometheus 2.53 differs the parser docs say how.
//!
//! Each parser is a port of Prometheus's generated lexer (`lex.rs`, token
//! by token) with fast line recognizers in front of it (`fast.rs`): the
//! plain sample and metadata lines nearly every exposition consists of are
//! read a line at a time with `memchr` and word-at-a-time scans, anything
//! else by the token machine from the line's start. Property tests hold
//! the two to the same result on every input (`proptests.rs`); measured
//! throughput is in `benches/textparse.rs`: on the CPU, 1.0–1.4 GB/s for
//! the node_exporter and 10,000-series fixtures in both formats with the
//! series checks deferred as on a scrape-cache hit, 0.8–1.2 GB/s checking
//! every sample.

mod current;
mod fast;
mod float;
mod lex;
mod openmetricsparse;
mod promparse;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod openmetricsparse_tests;
#[cfg(test)]
mod promparse_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testutil;

use std::borrow::Cow;
use std::fmt;

use crate::labels::{Labels, LabelsBuilder};

pub use float::NORMAL_NAN_BITS;
pub use openmetricsparse::OpenMetricsParser;
pub use promparse::PromParser;

/// The type of a metric family, from `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics)
    Info,
    /// `stateset` (OpenMetrics)
    StateSet,
    /// `untyped` / `unknown`, or no TYPE line.
    #[default]
    Unknown,
}

impl MetricType {
    /// The name Prometheus uses in metadata APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// What [`Parser::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A sample: read it with [`Parser::series`] and [`Parser::labels`].
    Series,
    /// `# HELP`: read it with [`Parser::help`].
    Help,
    /// `# TYPE`: read it with [`Parser::metric_type`].
    Type,
    /// `# UNIT` (OpenMetrics): read it with [`Parser::unit`].
    Unit,
    /// Any other `#` line (text format): read it with [`Parser::comment`].
    Comment,
}

/// A malformed exposition: where, what, and the offending line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number of the offending token.
    pub line: usize,
    /// What is wrong, in Prometheus 2.42's words where it has them.
    pub message: String,
    /// The start of the offending line (at most [`ParseError::SNIPPET_LEN`]
    /// characters, invalid UTF-8 replaced).
    pub snippet: String,
    /// Whether Prometheus 2.42 reads the offending line as a sample and
    /// counts it in `scrape_samples_scraped` before failing the scrape
    /// (duplicate label names, which it finds only when appending).
    pub counted_as_sample: bool,
}

impl ParseError {
    /// Longest snippet kept, in characters.
    pub const SNIPPET_LEN: usize = 80;

    /// An error about the token starting at byte `pos` of `buf`.
    pub(crate) fn at(buf: &[u8], pos: usize, message: String) -> ParseError {
        // A position on or past the final newline belongs to the last line.
        let pos = pos.min(buf.len().saturating_sub(1));
        let head = buf.get(..pos).unwrap_or(buf);
        let line = 1 + head.iter().filter(|&&c| c == b'\n').count();
        let line_start = head.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        let tail = buf.get(line_start..).unwrap_or(&[]);
        let line_end = tail.iter().position(|&c| c == b'\n').unwrap_or(tail.len());
        let text = String::from_utf8_lossy(tail.get(..line_end).unwrap_or(tail));
        ParseError {
            line,
            message,
            snippet: text.chars().take(Self::SNIPPET_LEN).collect(),
            counted_as_sample: false,
        }
    }

    /// The same error, marked as one Prometheus counts as a sample.
    pub(crate) fn counted_as_sample(self) -> ParseError {
        ParseError {
            counted_as_sample: true,
            ..self
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: \"{}\"",
            self.line,
            self.message,
            self.snippet.escape_debug()
        )
    }
}

impl std::error::Error for ParseError {}

/// An OpenMetrics exemplar attached to a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels, values as written (not unescaped, as Prometheus).
    pub labels: Labels,
    /// The exemplar value.
    pub value: f64,
    /// Milliseconds since the epoch, if the exemplar has a timestamp.
    pub timestamp: Option<i64>,
}

/// A parser for one scraped body, in either exposition format.
///
/// Borrowed slices it returns point into the scraped buffer and stay valid
/// as long as the buffer does. After an error or the end of input, `next`
/// keeps returning `None`.
#[derive(Debug, Clone)]
pub enum Parser<'a> {
    /// Prometheus text format 0.0.4.
    Prometheus(PromParser<'a>),
    /// OpenMetrics 1.0 text format.
    OpenMetrics(OpenMetricsParser<'a>),
}

impl<'a> Parser<'a> {
    /// Chosen by Content-Type like Prometheus 2.42 `textparse.New`:
    /// `application/openmetrics-text` (with well-formed parameters) →
    /// OpenMetrics; anything else, an empty or unparsable type included →
    /// Prometheus text. Protobuf is not spoken: it falls back to text, as
    /// edgescrape never asks for it.
    pub fn new(buf: &'a [u8], content_type: &str) -> Parser<'a> {
        if media_type(content_type).as_deref() == Some("application/openmetrics-text") {
            Parser::OpenMetrics(OpenMetricsParser::new(buf))
        } else {
            Parser::Prometheus(PromParser::new(buf))
        }
    }

    /// As [`Parser::new`], but reading every line with the token machine
    /// alone (no fast recognizers), to check the two against each other.
    #[cfg(test)]
    pub(crate) fn token_machine_only(buf: &'a [u8], content_type: &str) -> Parser<'a> {
        match Parser::new(buf, content_type) {
            Parser::Prometheus(_) => Parser::Prometheus(PromParser::token_machine_only(buf)),
            Parser::OpenMetrics(_) => {
                Parser::OpenMetrics(OpenMetricsParser::token_machine_only(buf))
            }
        }
    }

    /// Advances to the next entry. `None` at the end of input (for
    /// OpenMetrics: after `# EOF`; input without it is an error).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Entry, ParseError>> {
        match self {
            Parser::Prometheus(p) => p.next(),
            Parser::OpenMetrics(p) => p.next(),
        }
    }

    /// From now on, samples the fast recognizers read are handed out
    /// before their series checks (valid UTF-8, no label name twice), which
    /// [`Parser::check_series`] makes. For a caller that checks only series
    /// it does not know: the scrape cache's keys are the bytes of series
    /// that passed, and the checks depend on those bytes alone, so on a
    /// cache hit they are skipped. Such a caller must call `check_series`
    /// before anything else of a sample it does not know.
    pub fn defer_series_checks(&mut self) {
        match self {
            Parser::Prometheus(p) => p.defer_series_checks(),
            Parser::OpenMetrics(p) => p.defer_series_checks(),
        }
    }

    /// Makes the current sample's deferred series checks, if any: `Err` is
    /// the error the parser would have returned for the line without
    /// [`Parser::defer_series_checks`], and ends the parse.
    pub fn check_series(&mut self) -> Result<(), ParseError> {
        match self {
            Parser::Prometheus(p) => p.check_series(),
            Parser::OpenMetrics(p) => p.check_series(),
        }
    }

    /// The current sample: raw series bytes exactly as written (name plus
    /// the `{...}` part, the scrape cache key), timestamp in milliseconds if
    /// present, and value.
    pub fn series(&self) -> (&'a [u8], Option<i64>, f64) {
        match self {
            Parser::Prometheus(p) => p.series(),
            Parser::OpenMetrics(p) => p.series(),
        }
    }

    /// Metric family name and unescaped help text of a HELP entry.
    pub fn help(&self) -> (&'a [u8], Cow<'a, str>) {
        match self {
            Parser::Prometheus(p) => p.help(),
            Parser::OpenMetrics(p) => p.help(),
        }
    }

    /// Metric family name and type of a TYPE entry.
    pub fn metric_type(&self) -> (&'a [u8], MetricType) {
        match self {
            Parser::Prometheus(p) => p.metric_type(),
            Parser::OpenMetrics(p) => p.metric_type(),
        }
    }

    /// Metric family name and unit of a UNIT entry (empty for text format).
    pub fn unit(&self) -> (&'a [u8], &'a [u8]) {
        match self {
            Parser::Prometheus(_) => (&[], &[]),
            Parser::OpenMetrics(p) => p.unit(),
        }
    }

    /// The whole text of a Comment entry, `#` included.
    pub fn comment(&self) -> &'a [u8] {
        match self {
            Parser::Prometheus(p) => p.comment(),
            Parser::OpenMetrics(_) => &[],
        }
    }

    /// Parses the labels of the current Series entry (unescaping values),
    /// including `__name__`. Called only on a scrape-cache miss. Labels with
    /// an empty value are left out, as everywhere in edgescrape.
    pub fn labels(&self, builder: &mut LabelsBuilder) -> Labels {
        match self {
            Parser::Prometheus(p) => p.labels(builder),
            Parser::OpenMetrics(p) => p.labels(builder),
        }
    }

    /// Whether the current series has label `name` in its exposition, even
    /// with an empty value: Prometheus's `honor_labels` treats `job=""` as
    /// present and so does not add the target's `job`.
    pub fn exposes_label(&self, name: &str) -> bool {
        match self {
            Parser::Prometheus(p) => p.exposes_label(name),
            Parser::OpenMetrics(p) => p.exposes_label(name),
        }
    }

    /// The exemplar of the current sample (OpenMetrics only). Returns it
    /// once per sample, as Prometheus 2.53 does; 2.42 returned it on every
    /// call, which its scrape loop never relied on.
    pub fn exemplar(&mut self) -> Option<Exemplar> {
        match self {
            Parser::Prometheus(_) => None,
            Parser::OpenMetrics(p) => p.exemplar(),
        }
    }

    /// Always `None`: Prometheus 2.42 has no created timestamps, and 2.53's
    /// text parsers return nil too (a `_created` sample is an ordinary
    /// series in both).
    pub fn created_timestamp(&self) -> Option<i64> {
        None
    }

    /// Whether this parser reads OpenMetrics.
    pub fn is_openmetrics(&self) -> bool {
        matches!(self, Parser::OpenMetrics(_))
    }
}

/// The Content-Type to parse a body as: `content_type` itself when it names
/// a format Prometheus knows, else the media type of `fallback`
/// (`fallback_scrape_protocol`, as Prometheus 3's `extractMediaType`).
/// Without a fallback it is `content_type` unchanged, which [`Parser::new`]
/// reads as the text format, as Prometheus 2.x does; nothing is computed
/// then, so the scrape path allocates nothing more.
pub fn content_type_or_fallback<'a>(content_type: &'a str, fallback: Option<&'a str>) -> &'a str {
    let known = || {
        matches!(
            media_type(content_type).as_deref(),
            Some("application/openmetrics-text" | "application/vnd.google.protobuf" | "text/plain")
        )
    };
    match fallback {
        Some(fallback) if !known() => fallback,
        _ => content_type,
    }
}

/// Go's `mime.ParseMediaType` as far as `textparse.New` needs it: the
/// lower-cased media type, or `None` if the header does not parse.
fn media_type(content_type: &str) -> Option<String> {
    let (base, mut params) = match content_type.find(';') {
        Some(p) => content_type.split_at(p),
        None => (content_type, ""),
    };
    let mt = base.trim().to_ascii_lowercase();
    let (main, rest) = take_token(&mt);
    if main.is_empty() {
        return None;
    }
    if !rest.is_empty() {
        let sub = rest.strip_prefix('/')?;
        let (sub, rest) = take_token(sub);
        if sub.is_empty() || !rest.is_empty() {
            return None;
        }
    }
    let mut seen: Vec<String> = Vec::new();
    loop {
        params = params.trim_start();
        if params.is_empty() {
            break;
        }
        let after = params.strip_prefix(';')?;
        let after = after.trim_start();
        let (key, rest) = take_token(after);
        if key.is_empty() {
            // Trailing semicolons are ignored.
            if after.trim().is_empty() {
                break;
            }
            return None;
        }
        let rest = rest.trim_start().strip_prefix('=')?.trim_start();
        let rest = match rest.strip_prefix('"') {
            Some(quoted) => skip_quoted(quoted)?,
            None => {
                let (value, rest) = take_token(rest);
                if value.is_empty() {
                    return None;
                }
                rest
            }
        };
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return None;
        }
        seen.push(key);
        params = rest;
    }
    Some(mt)
}

/// Splits off the longest RFC 1521 token prefix.
fn take_token(s: &str) -> (&str, &str) {
    let end = s
        .bytes()
        .position(|c| !(c > 0x20 && c < 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&c)))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Skips a quoted-string body (opening quote already taken); returns what
/// follows the closing quote.
fn skip_quoted(s: &str) -> Option<&str> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return s.get(i + 1..),
            _ => {}
        }
    }
    None
}

/// Replaces `\\`, `\n` and (when `quote`) `\"` as Go's `strings.Replacer`
/// in Prometheus does: left to right, other backslashes kept as written.
pub(crate) fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('\\') {
        let (head, tail) = rest.split_at(p);
        out.push_str(head);
        // `tail` starts with the backslash; what follows is one byte for
        // every escape we replace, so splitting after it is on a boundary.
        let after = &tail[1..];
        match after.as_bytes().first() {
            Some(b'\\') => out.push('\\'),
            Some(b'n') => out.push('\n'),
            Some(b'"') if quote => out.push('"'),
            _ => {
                out.push('\\');
                rest = after;
                continue;
            }
        }
        rest = &after[1..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Checks a series' label names for duplicates, `__name__` included (the
/// metric name is one). Prometheus 2.42 finds these when appending
/// (`label name is not unique`) and fails the scrape; here the parse fails
/// at the offending line instead.
pub(crate) fn find_duplicate<'a>(
    names: impl Iterator<Item = &'a [u8]> + Clone,
    scratch: &mut Vec<&'a [u8]>,
) -> Option<&'a [u8]> {
    let metric_name = crate::labels::METRIC_NAME.as_bytes();
    let mut n = 0;
    for name in names.clone() {
        if name == metric_name {
            return Some(name);
        }
        n += 1;
    }
    if n <= 16 {
        let mut it = names;
        while let Some(name) = it.next() {
            if it.clone().any(|other| other == name) {
                return Some(name);
            }
        }
        return None;
    }
    scratch.clear();
    scratch.extend(names);
    scratch.sort_unstable();
    scratch.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// Checks that a series (or exemplar) is UTF-8 in one pass. Names and
/// punctuation are ASCII, so this is exactly Prometheus's check of every
/// label value; returns the offset of the first bad byte.
pub(crate) fn check_utf8(bytes: &[u8]) -> Result<(), usize> {
    // The ASCII scan is several times faster than full validation and
    // covers nearly every real exposition.
    if bytes.is_ascii() {
        return Ok(());
    }
    std::str::from_utf8(bytes)
        .map(drop)
        .map_err(|e| e.valid_up_to())
}

/// Label names and values of a series or exemplar, as raw bytes of a
/// buffer already checked by [`check_utf8`].
pub(crate) type RawLabels<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Text of bytes [`check_utf8`] accepted (never empty otherwise).
pub(crate) fn checked_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// Adds a label set's pairs to a fresh builder state and returns the set.
pub(crate) fn build_labels<'a>(
    builder: &mut LabelsBuilder,
    name: &'a str,
    pairs: impl Iterator<Item = (&'a str, Cow<'a, str>)>,
) -> Labels {
    builder.reset(&Labels::empty());
    if !name.is_empty() {
        builder.set(crate::labels::METRIC_NAME, name);
    }
    for (n, v) in pairs {
        builder.set(n, &v);
    }
    builder.labels()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ct(content_type: &str, openmetrics: bool) {
        assert_eq!(
            Parser::new(b"", content_type).is_openmetrics(),
            openmetrics,
            "{content_type:?}"
        );
    }

    #[test]
    fn content_type_selects_parser_as_prometheus() {
        ct("", false);
        ct("text/plain", false);
        ct("text/plain; version=0.0.4; charset=utf-8", false);
        ct("application/openmetrics-text", true);
        ct(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            true,
        );
        ct("Application/OpenMetrics-Text;version=1.0.0", true);
        ct(" application/openmetrics-text ; version=\"1.0.0\";", true);
        ct("application/openmetrics-text; version", false);
        ct("application/openmetrics-text; version=1; version=2", false);
        ct("application/openmetrics-text/x", false);
        ct(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily",
            false,
        );
        ct("garbage", false);
    }

    #[track_caller]
    fn unesc(s: &str, quote: bool, want: &str) {
        assert_eq!(unescape(s, quote), want, "{s:?}");
    }

    #[test]
    fn unescape_as_go_replacer() {
        unesc(r"plain", true, "plain");
        unesc(r#"a\"b"#, true, "a\"b");
        unesc(r#"a\"b"#, false, "a\\\"b");
        unesc(r"a\\nb", true, "a\\nb");
        unesc(r"a\nb", false, "a\nb");
        unesc(r"a\xb", true, "a\\xb");
        unesc(r"end\", true, "end\\");
        unesc(r"\\\\", true, "\\\\");
        unesc("ü\\nü", true, "ü\nü");
    }

    #[test]
    fn error_display_names_line_and_snippet() {
        let e = ParseError::at(b"a 1\nb{\"x\" 2\n", 5, "expected label name".into());
        assert_eq!(e.line, 2);
        assert_eq!(e.snippet, "b{\"x\" 2");
        assert_eq!(
            e.to_string(),
            "line 2: expected label name: \"b{\\\"x\\\" 2\""
        );
        let e = ParseError::at(b"a 1\n", 4, "x".into());
        assert_eq!((e.line, e.snippet.as_str()), (1, "a 1"));
        let e = ParseError::at(b"", 0, "x".into());
        assert_eq!((e.line, e.snippet.as_str()), (1, ""));
    }

    #[test]
    fn duplicates_found_small_and_large() {
        fn dup<'a>(names: &[&'a str], scratch: &mut Vec<&'a [u8]>) -> Option<&'a [u8]> {
            find_duplicate(names.iter().map(|n| n.as_bytes()), scratch)
        }
        let mut scratch = Vec::new();
        assert_eq!(dup(&["a", "b"], &mut scratch), None);
        assert_eq!(dup(&["a", "b", "a"], &mut scratch), Some(&b"a"[..]));
        assert_eq!(
            dup(&["a", "__name__"], &mut scratch),
            Some(&b"__name__"[..])
        );
        let owned: Vec<String> = (0..40).map(|i| format!("l{i}")).collect();
        let many: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut scratch = Vec::new();
        assert_eq!(dup(&many, &mut scratch), None);
        let mut with_dup = many.clone();
        with_dup.push("l7");
        assert_eq!(dup(&with_dup, &mut scratch), Some(&b"l7"[..]));
    }
}
