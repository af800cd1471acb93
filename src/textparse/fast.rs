//! Fast recognizers for the lines nearly every exposition is made of.
//!
//! The parsers are ports of Prometheus's golex machines and go token by
//! token (see `lex.rs`); that is exact but costs a dispatch per token. The
//! functions here read one whole line at a time instead, with `memchr`
//! over label values and help texts, and accept only the plainest shape
//! of each line kind: a sample `name{l="v",...} value [timestamp]`, and
//! `# HELP` / `# TYPE` (/ `# UNIT`) with single blanks. Whatever they do
//! not recognize, or recognize as malformed, they decline (`None`) without
//! having moved the lexer, and the token machine reads the line from its
//! start; so errors, their messages, and every quirk stay the machine's.
//!
//! The rule that keeps this exact: a recognizer accepts a line only where
//! the machine would produce the same entry from it, and where in doubt it
//! declines. `proptests.rs` checks both paths against each other.
//!
//! One exception, asked for by the caller: with deferred checks
//! (`Parser::defer_series_checks`) a sample line that fails only the
//! series checks (UTF-8, a label name twice) is accepted, and
//! `Parser::check_series` then gives the machine's error for it. The
//! scrape loop defers them because on a cache hit they are already known
//! to pass.

use memchr::{memchr, memchr2, memchr3};

use super::current::Current;
use super::float::{parse_float, parse_int, seconds_to_millis, NORMAL_NAN_BITS};
use super::lex::{is_lname_char, is_lname_start, is_mname_char, is_mname_start};
use super::{check_utf8, Entry, MetricType, RawLabels};

/// Which exposition format a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Prometheus text 0.0.4: blanks may repeat, trailing commas and raw
    /// newlines in label values are allowed, the body ends in a virtual
    /// newline.
    Text,
    /// OpenMetrics 1.0: single spaces, no trailing comma, no raw newline
    /// in a label value, timestamps in seconds.
    OpenMetrics,
}

/// A `# HELP`, `# TYPE` or `# UNIT` line recognized whole.
#[derive(Debug)]
pub(crate) struct Meta<'a> {
    /// What kind of line.
    pub kind: MetaKind,
    /// The metric family.
    pub family: &'a [u8],
    /// Help text, type or unit as written.
    pub text: &'a [u8],
    /// Offset just past the line's newline.
    pub next: usize,
}

/// The kind of a [`Meta`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaKind {
    /// `# HELP`
    Help,
    /// `# TYPE` with its type.
    Type(MetricType),
    /// `# UNIT` (OpenMetrics).
    Unit,
}

impl MetaKind {
    /// The entry a line of this kind is.
    pub(crate) fn entry(self) -> Entry {
        match self {
            MetaKind::Help => Entry::Help,
            MetaKind::Type(_) => Entry::Type,
            MetaKind::Unit => Entry::Unit,
        }
    }
}

/// End of the run of bytes from `i` that `pred` accepts.
#[inline(always)]
fn scan(b: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while let Some(&c) = b.get(i) {
        if !pred(c) {
            break;
        }
        i += 1;
    }
    i
}

/// Where the line that continues at `i` ends: the offset past its newline
/// (text format: the virtual newline after the buffer counts), or `None`
/// when the byte at `i` does not end a line.
#[inline(always)]
fn line_end(b: &[u8], i: usize, format: Format) -> Option<usize> {
    match b.get(i) {
        Some(b'\n') => Some(i + 1),
        None if format == Format::Text => Some(b.len() + 1),
        _ => None,
    }
}

/// A sample line starting at `cur.start`, read into `cur` (which is left
/// in any state when declined, the machine resetting what it reads);
/// returns the offset just past the line's newline.
#[inline(always)]
pub(crate) fn sample<'a>(b: &'a [u8], format: Format, cur: &mut Current<'a>) -> Option<usize> {
    let s = cur.start;
    if !is_mname_start(*b.get(s)?) {
        return None;
    }
    let name_end = name_end(b, s, cur.name);
    cur.labels.clear();
    let series_end = match b.get(name_end)? {
        b'{' => label_set(b, name_end + 1, format, &mut cur.labels)?,
        b' ' => name_end,
        _ => return None,
    };
    let (value, mut i) = value(b, series_end, format)?;
    cur.ts = None;
    if b.get(i) == Some(&b' ') && !b[i..].starts_with(EXEMPLAR) {
        let (ts, end) = timestamp(b, i, format)?;
        cur.ts = Some(ts);
        i = end;
    }
    cur.name = &b[s..name_end];
    if format == Format::OpenMetrics && b[i..].starts_with(EXEMPLAR) {
        i = exemplar(b, i + EXEMPLAR.len(), cur)?;
    }
    let next = line_end(b, i, format)?;
    cur.series = &b[s..series_end];
    // Deferred, the checks cost nothing for a series the caller knows.
    cur.unchecked = cur.defer_checks;
    if !cur.defer_checks && !cur.series_is_valid() {
        return None;
    }
    cur.val = value;
    Some(next)
}

/// The end of the metric name at `s`. Samples of one family follow each
/// other, so the previous sample's name is tried first: one comparison
/// instead of a byte-by-byte scan.
#[inline(always)]
fn name_end(b: &[u8], s: usize, previous: &[u8]) -> usize {
    let end = s + previous.len();
    let same = !previous.is_empty()
        && b.get(s..end) == Some(previous)
        && !b.get(end).is_some_and(|&c| is_mname_char(c));
    if same {
        end
    } else {
        scan(b, s + 1, is_mname_char)
    }
}

/// What starts an exemplar after a sample's value or timestamp.
const EXEMPLAR: &[u8] = b" # {";

/// An OpenMetrics exemplar's labels (after its `{` at `i`), value and
/// timestamp, on a counter or bucket as Prometheus 2.42 requires; returns
/// the offset after it.
fn exemplar<'a>(b: &'a [u8], i: usize, cur: &mut Current<'a>) -> Option<usize> {
    if !(cur.name.ends_with(b"_total") || cur.name.ends_with(b"_bucket")) {
        return None;
    }
    cur.exemplar_labels.clear();
    let labels_end = label_set(b, i, Format::OpenMetrics, &mut cur.exemplar_labels)?;
    let labels = &b[i..labels_end];
    // The machine skips NULs in series label values, not in exemplars'.
    if memchr(0, labels).is_some() || check_utf8(labels).is_err() {
        return None;
    }
    let (value, mut end) = value(b, labels_end, Format::OpenMetrics)?;
    cur.exemplar_ts = None;
    if b.get(end) == Some(&b' ') {
        let (ts, ts_end) = timestamp(b, end, Format::OpenMetrics)?;
        cur.exemplar_ts = Some(ts);
        end = ts_end;
    }
    cur.exemplar_val = value;
    cur.has_exemplar = true;
    Some(end)
}

/// The label set after `{` at `i`, up to and including `}`; returns the
/// offset past the `}`.
#[inline(always)]
fn label_set<'a>(
    b: &'a [u8],
    mut i: usize,
    format: Format,
    labels: &mut RawLabels<'a>,
) -> Option<usize> {
    loop {
        let c = *b.get(i)?;
        if c == b'}' {
            // OpenMetrics: no trailing comma (nor an empty `{}` after one).
            return Some(i + 1);
        }
        if !is_lname_start(c) {
            return None;
        }
        let name_end = scan(b, i + 1, is_lname_char);
        if b.get(name_end..name_end + 2)? != b"=\"" {
            return None;
        }
        let value_start = name_end + 2;
        let value_end = quoted_end(b, value_start, format)?;
        labels.push((&b[i..name_end], &b[value_start..value_end]));
        i = value_end + 1;
        match (b.get(i)?, format) {
            (b',', Format::Text) => i += 1,
            (b',', Format::OpenMetrics) => {
                i += 1;
                // A label must follow the comma.
                if !is_lname_start(*b.get(i)?) {
                    return None;
                }
            }
            (b'}', _) => {}
            // The text format needs no comma between labels.
            (_, Format::Text) => {}
            (_, Format::OpenMetrics) => return None,
        }
    }
}

/// The offset of the quote closing a label value that starts at `i`.
/// A backslash escapes any byte but a newline or NUL (where the machine's
/// NUL skipping would matter, this declines); OpenMetrics has no raw
/// newlines in values. Most values are short: they are looked at eight
/// bytes at a time, and `memchr` takes over for long ones.
#[inline(always)]
fn quoted_end(b: &[u8], mut i: usize, format: Format) -> Option<usize> {
    loop {
        let rest = b.get(i..)?;
        let at = match first_stop(rest, format) {
            Some(at) => at,
            None if rest.len() <= SHORT_VALUE => return None,
            None => {
                let tail = &rest[SHORT_VALUE..];
                SHORT_VALUE
                    + match format {
                        Format::Text => memchr2(b'"', b'\\', tail),
                        Format::OpenMetrics => memchr3(b'"', b'\\', b'\n', tail),
                    }?
            }
        };
        let j = i + at;
        match b[j] {
            b'"' => return Some(j),
            b'\\' if !matches!(b.get(j + 1), None | Some(0 | b'\n')) => i = j + 2,
            _ => return None,
        }
    }
}

/// Label values up to this long are scanned by [`first_stop`].
const SHORT_VALUE: usize = 16;

/// The first quote, backslash or (OpenMetrics) newline among the first
/// [`SHORT_VALUE`] bytes of `s`, eight bytes at a time: a byte equal to
/// `c` is a zero byte of `word ^ c·0x01..01`, and the lowest flagged zero
/// byte of the usual has-zero-byte test is exact.
#[inline(always)]
fn first_stop(s: &[u8], format: Format) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut at = 0;
    while let Some(chunk) = s.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let mut found =
            zero_bytes(w ^ (ONES * u64::from(b'"'))) | zero_bytes(w ^ (ONES * u64::from(b'\\')));
        if format == Format::OpenMetrics {
            found |= zero_bytes(w ^ (ONES * u64::from(b'\n')));
        }
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
        if at >= SHORT_VALUE {
            return None;
        }
    }
    let stop = |c: u8| c == b'"' || c == b'\\' || (c == b'\n' && format == Format::OpenMetrics);
    s[at..].iter().position(|&c| stop(c)).map(|p| at + p)
}

/// A byte of a value or timestamp word: not a blank, newline or NUL, and
/// for the text format not `{`.
#[inline(always)]
fn is_word_char(c: u8, format: Format) -> bool {
    match format {
        Format::Text => !matches!(c, 0 | b'\t' | b'\n' | b' ' | b'{'),
        Format::OpenMetrics => !matches!(c, 0 | b'\n' | b' '),
    }
}

/// ` value` at `i` (one space; the text format's other blanks are left to
/// the machine); returns the value and the offset after it.
#[inline(always)]
fn value(b: &[u8], i: usize, format: Format) -> Option<(f64, usize)> {
    if b.get(i) != Some(&b' ') {
        return None;
    }
    let start = i + 1;
    let end = scan(b, start, |c| is_word_char(c, format));
    if end == start {
        return None;
    }
    let v = parse_float(&b[start..end]).ok()?;
    let v = if v.is_nan() {
        f64::from_bits(NORMAL_NAN_BITS)
    } else {
        v
    };
    Some((v, end))
}

/// ` timestamp` at `i`: integer milliseconds (text) or seconds with an
/// optional fraction (OpenMetrics, where ` #` starts an exemplar, which
/// is the machine's to read).
#[inline(always)]
fn timestamp(b: &[u8], i: usize, format: Format) -> Option<(i64, usize)> {
    let start = i + 1;
    let end = match format {
        Format::Text => scan(b, start, |c| c.is_ascii_digit()),
        Format::OpenMetrics => {
            if b.get(start) == Some(&b'#') {
                return None;
            }
            scan(b, start, |c| is_word_char(c, format))
        }
    };
    if end == start {
        return None;
    }
    let word = &b[start..end];
    let ts = match format {
        Format::Text => parse_int(word).ok()?,
        Format::OpenMetrics => {
            let seconds = parse_float(word).ok()?;
            if !seconds.is_finite() {
                return None;
            }
            seconds_to_millis(seconds)
        }
    };
    Some((ts, end))
}

/// A `# HELP`, `# TYPE` or (OpenMetrics) `# UNIT` line starting at `s`,
/// written with single blanks and, for HELP, a text that does not start
/// with a blank.
#[inline(always)]
pub(crate) fn meta(b: &[u8], s: usize, format: Format) -> Option<Meta<'_>> {
    let head = b.get(s..s + 7)?;
    let kind = match head {
        b"# HELP " => MetaKind::Help,
        b"# TYPE " => MetaKind::Type(MetricType::Unknown),
        b"# UNIT " if format == Format::OpenMetrics => MetaKind::Unit,
        _ => return None,
    };
    let family_start = s + 7;
    if !is_mname_start(*b.get(family_start)?) {
        return None;
    }
    let family_end = scan(b, family_start + 1, is_mname_char);
    if b.get(family_end) != Some(&b' ') {
        return None;
    }
    let text_start = family_end + 1;
    let rest = &b[text_start..];
    let (text_end, next) = match (memchr(b'\n', rest), format) {
        (Some(at), _) => (text_start + at, text_start + at + 1),
        (None, Format::Text) => (b.len(), b.len() + 1),
        (None, Format::OpenMetrics) => return None,
    };
    let text = &b[text_start..text_end];
    let family = &b[family_start..family_end];
    let kind = match kind {
        MetaKind::Help => {
            // The text format keeps only the first blank out of the text.
            if format == Format::Text && matches!(text.first(), Some(b' ' | b'\t') | None) {
                return None;
            }
            if !text.is_ascii() && std::str::from_utf8(text).is_err() {
                return None;
            }
            MetaKind::Help
        }
        MetaKind::Type(_) => MetaKind::Type(metric_type(text, format)?),
        MetaKind::Unit => {
            let suffix_ok = text.is_empty()
                || (family.len() > text.len()
                    && family.ends_with(text)
                    && family[family.len() - text.len() - 1] == b'_');
            if !suffix_ok {
                return None;
            }
            MetaKind::Unit
        }
    };
    Some(Meta {
        kind,
        family,
        text,
        next,
    })
}

/// The types each format knows.
fn metric_type(text: &[u8], format: Format) -> Option<MetricType> {
    let t = match (text, format) {
        (b"counter", _) => MetricType::Counter,
        (b"gauge", _) => MetricType::Gauge,
        (b"histogram", _) => MetricType::Histogram,
        (b"summary", _) => MetricType::Summary,
        (b"untyped", Format::Text) => MetricType::Unknown,
        (b"gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
        (b"info", Format::OpenMetrics) => MetricType::Info,
        (b"stateset", Format::OpenMetrics) => MetricType::StateSet,
        (b"unknown", Format::OpenMetrics) => MetricType::Unknown,
        _ => return None,
    };
    Some(t)
}
