//! OpenMetrics 1.0 text format, as Prometheus 2.42's `openmetricsparse.go`
//! and `openmetricslex.l`.

use std::borrow::Cow;

use super::current::Current;
use super::fast::Format;
use super::float::{go_quote, parse_float, seconds_to_millis, NORMAL_NAN_BITS};
use super::lex::{
    is_lname_char, is_lname_start, is_mname_char, is_mname_start, Lexer, State, Token,
};
use super::{
    build_labels, check_utf8, checked_str, unescape, Entry, Exemplar, MetricType, ParseError,
    RawLabels,
};
use crate::labels::{Labels, LabelsBuilder};

/// Parser of the OpenMetrics text format over a borrowed scrape body.
///
/// Strict as Prometheus 2.42: exactly one space between tokens, no
/// comments other than HELP, TYPE, UNIT and `# EOF`, which must end the
/// input (optionally followed by one newline). Timestamps are seconds with
/// an optional fraction, turned into milliseconds as `int64(ts * 1000)`.
/// HELP texts unescape `\\`, `\n` and `\"`. A `\r` before a line end makes
/// the value or timestamp unparsable, so CRLF bodies are rejected.
///
/// Where Prometheus 2.53 differs, this follows 2.42:
/// - exemplars are only accepted on `_total` and `_bucket` series (2.53
///   accepts them on any series);
/// - a trailing comma in a label set, `a{b="c",} 1`, is an error (2.53
///   accepts it);
/// - quoted UTF-8 metric and label names are not accepted (2.53 accepts
///   them);
/// - error messages are 2.42's, without 2.53's "while parsing" suffix.
///
/// One difference from Prometheus on purpose: duplicate label names (also
/// a label called `__name__`) are a parse error; 2.42 fails the scrape at
/// append time instead.
#[derive(Debug, Clone)]
pub struct OpenMetricsParser<'a> {
    l: Lexer<'a>,
    /// The current entry.
    cur: Current<'a>,
    done: bool,
}

/// The format this parser reads, for the fast recognizers.
const FORMAT: Format = Format::OpenMetrics;

type Step<T> = Result<T, ParseError>;

impl<'a> OpenMetricsParser<'a> {
    /// A parser over `buf`.
    pub fn new(buf: &'a [u8]) -> OpenMetricsParser<'a> {
        OpenMetricsParser {
            l: Lexer::new(buf, false),
            cur: Current::default(),
            done: false,
        }
    }

    /// A parser that reads every line with the token machine alone, to
    /// check the fast recognizers against it.
    #[cfg(test)]
    pub(crate) fn token_machine_only(buf: &'a [u8]) -> Self {
        let mut p = Self::new(buf);
        p.cur.fast = false;
        p
    }

    /// Advances to the next entry; `None` after `# EOF` or after an error.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Entry, ParseError>> {
        if self.done {
            return None;
        }
        let res = self.parse_entry();
        if !matches!(res, Some(Ok(_))) {
            self.done = true;
        }
        res
    }

    /// Hands out fast-read samples before their series checks; see
    /// [`super::Parser::defer_series_checks`].
    pub fn defer_series_checks(&mut self) {
        self.cur.defer_checks = true;
    }

    /// The current sample's deferred series checks; see
    /// [`super::Parser::check_series`]. After an error, `next` returns `None`.
    pub fn check_series(&mut self) -> Result<(), ParseError> {
        let checked = self.cur.check_deferred(self.l.b);
        self.done |= checked.is_err();
        checked
    }

    /// Raw series bytes, timestamp in milliseconds, and value.
    pub fn series(&self) -> (&'a [u8], Option<i64>, f64) {
        self.cur.series()
    }

    /// Family name and help text, `\\`, `\n` and `\"` unescaped.
    pub fn help(&self) -> (&'a [u8], Cow<'a, str>) {
        let text = match String::from_utf8_lossy(self.cur.text) {
            Cow::Borrowed(s) => unescape(s, true),
            Cow::Owned(s) => Cow::Owned(unescape(&s, true).into_owned()),
        };
        (self.cur.family, text)
    }

    /// Family name and type.
    pub fn metric_type(&self) -> (&'a [u8], MetricType) {
        self.cur.metric_type()
    }

    /// Family name and unit.
    pub fn unit(&self) -> (&'a [u8], &'a [u8]) {
        (self.cur.family, self.cur.text)
    }

    /// Whether the current series names label `name` in its label set,
    /// even with an empty value (which [`Self::labels`] leaves out).
    pub fn exposes_label(&self, name: &str) -> bool {
        self.cur.exposes_label(name)
    }

    /// The labels of the current sample, `__name__` included.
    pub fn labels(&self, builder: &mut LabelsBuilder) -> Labels {
        self.cur.labels(builder)
    }

    /// The exemplar of the current sample, handed out once.
    pub fn exemplar(&mut self) -> Option<Exemplar> {
        if !std::mem::take(&mut self.cur.has_exemplar) {
            return None;
        }
        let mut builder = LabelsBuilder::default();
        // Exemplar label values are taken as written, as in Prometheus.
        let labels = build_labels(
            &mut builder,
            "",
            self.cur
                .exemplar_labels
                .iter()
                .map(|&(n, v)| (checked_str(n), Cow::Borrowed(checked_str(v)))),
        );
        Some(Exemplar {
            labels,
            value: self.cur.exemplar_val,
            timestamp: self.cur.exemplar_ts,
        })
    }

    fn err_at(&self, pos: usize, message: String) -> ParseError {
        ParseError::at(self.l.b, pos, message)
    }

    fn err(&self, message: String) -> ParseError {
        self.err_at(self.l.start, message)
    }

    fn unexpected(&self, expected: &str, got: Token) -> ParseError {
        self.err(format!("{expected}, got \"{got}\""))
    }

    fn parse_entry(&mut self) -> Option<Result<Entry, ParseError>> {
        self.cur.start = self.l.i;
        if let Some(entry) = self.cur.read_fast_line(&mut self.l, FORMAT) {
            return Some(Ok(entry));
        }
        self.cur.labels.clear();
        self.cur.exemplar_labels.clear();
        self.cur.has_exemplar = false;
        self.cur.exemplar_ts = None;
        let t = lex(&mut self.l);
        let res = match t {
            Token::EofWord => {
                return match lex(&mut self.l) {
                    Token::Eof => None,
                    _ => Some(Err(self.err("unexpected data after # EOF".to_string()))),
                }
            }
            Token::Eof => Err(self.err("data does not end with # EOF".to_string())),
            Token::Help | Token::Type | Token::Unit => self.parse_meta(t),
            Token::MName => self.parse_sample(),
            t => {
                // Go prints the byte as a rune, so 0xff shows as "ÿ".
                let cur = self.l.b.get(self.l.i).map_or(' ', |&c| char::from(c));
                Err(self.err(format!(
                    "\"{t}\" {} is not a valid start token",
                    go_quote(cur.to_string().as_bytes())
                )))
            }
        };
        Some(res)
    }

    fn parse_meta(&mut self, t: Token) -> Step<Entry> {
        match lex(&mut self.l) {
            Token::MName => self.cur.family = self.l.buf(),
            t2 => return Err(self.unexpected(&format!("expected metric name after {t}"), t2)),
        }
        match lex(&mut self.l) {
            // The text token is ` text\n`; keep what is between.
            Token::Text => {
                let buf = self.l.buf();
                self.cur.text = buf.get(1..buf.len().saturating_sub(1)).unwrap_or(&[]);
            }
            _ => return Err(self.err(format!("expected text in {t}"))),
        }
        match t {
            Token::Type => {
                self.cur.mtype = match self.cur.text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::StateSet,
                    b"unknown" => MetricType::Unknown,
                    other => {
                        return Err(self.err(format!("invalid metric type {}", go_quote(other))))
                    }
                };
                Ok(Entry::Type)
            }
            Token::Help => {
                if std::str::from_utf8(self.cur.text).is_err() {
                    return Err(self.err("help text is not a valid utf8 string".to_string()));
                }
                Ok(Entry::Help)
            }
            _ => {
                let (m, u) = (self.cur.family, self.cur.text);
                if !u.is_empty() {
                    let suffix_ok = m.len() > u.len()
                        && m.ends_with(u)
                        && m.get(m.len() - u.len() - 1) == Some(&b'_');
                    if !suffix_ok {
                        return Err(
                            self.err(format!("unit not a suffix of metric {}", go_quote(m)))
                        );
                    }
                }
                Ok(Entry::Unit)
            }
        }
    }

    fn parse_sample(&mut self) -> Step<Entry> {
        self.cur.name = self.l.buf();
        self.cur.series = self.l.buf();
        let mut t = lex(&mut self.l);
        if t == Token::BraceOpen {
            parse_label_values(&mut self.l, &mut self.cur.labels)?;
            self.cur.series = self.l.slice(self.cur.start, self.l.i);
            if let Some(e) = self.cur.utf8_error(self.l.b) {
                return Err(e);
            }
            t = lex(&mut self.l);
        }
        self.cur.val = self.float_value(t, "metric")?;
        self.cur.ts = None;
        match lex(&mut self.l) {
            Token::Eof => return Err(self.err("data does not end with # EOF".to_string())),
            Token::Linebreak => {}
            Token::Comment => self.parse_exemplar()?,
            Token::Timestamp => {
                self.cur.ts = Some(self.timestamp("invalid timestamp")?);
                match lex(&mut self.l) {
                    Token::Linebreak => {}
                    Token::Comment => self.parse_exemplar()?,
                    t => return Err(self.unexpected("expected next entry after timestamp", t)),
                }
            }
            t => return Err(self.unexpected("expected timestamp or # symbol", t)),
        }
        if let Some(e) = self.cur.duplicate_error(self.l.b) {
            return Err(e);
        }
        Ok(Entry::Series)
    }

    /// After ` # {`: the exemplar's labels, value and optional timestamp.
    fn parse_exemplar(&mut self) -> Step<()> {
        // Prometheus 2.42 takes exemplars only on counters and buckets.
        if !(self.cur.name.ends_with(b"_total") || self.cur.name.ends_with(b"_bucket")) {
            return Err(self.err(format!(
                "metric name {} does not support exemplars",
                checked_str(self.cur.name)
            )));
        }
        let labels_start = self.l.i;
        parse_label_values(&mut self.l, &mut self.cur.exemplar_labels)?;
        if let Err(bad) = check_utf8(self.l.slice(labels_start, self.l.i)) {
            let msg = "invalid UTF-8 label value".to_string();
            return Err(self.err_at(labels_start + bad, msg));
        }
        let t = lex(&mut self.l);
        self.cur.exemplar_val = self.float_value(t, "exemplar labels")?;
        match lex(&mut self.l) {
            Token::Eof => return Err(self.err("data does not end with # EOF".to_string())),
            Token::Linebreak => {}
            Token::Timestamp => {
                self.cur.exemplar_ts = Some(self.timestamp("invalid exemplar timestamp")?);
                match lex(&mut self.l) {
                    Token::Linebreak => {}
                    t => {
                        return Err(
                            self.unexpected("expected next entry after exemplar timestamp", t)
                        )
                    }
                }
            }
            t => return Err(self.unexpected("expected timestamp or comment", t)),
        }
        self.cur.has_exemplar = true;
        Ok(())
    }

    /// A value token is ` value`; parse what follows the space.
    fn float_value(&self, t: Token, after: &str) -> Step<f64> {
        if t != Token::Value {
            return Err(self.unexpected(&format!("expected value after {after}"), t));
        }
        match parse_float(self.l.buf().get(1..).unwrap_or(&[])) {
            Ok(v) if v.is_nan() => Ok(f64::from_bits(NORMAL_NAN_BITS)),
            Ok(v) => Ok(v),
            Err(e) => Err(self.err(e)),
        }
    }

    /// A timestamp token is ` seconds`; milliseconds as Prometheus.
    fn timestamp(&self, invalid: &str) -> Step<i64> {
        match parse_float(self.l.buf().get(1..).unwrap_or(&[])) {
            Ok(ts) if ts.is_finite() => Ok(seconds_to_millis(ts)),
            Ok(_) => Err(self.err(invalid.to_string())),
            Err(e) => Err(self.err(e)),
        }
    }
}

/// The label set after `{` (or an exemplar's after ` # {`), up to `}`:
/// comma separated, no trailing comma, as Prometheus 2.42.
fn parse_label_values<'a>(l: &mut Lexer<'a>, out: &mut RawLabels<'a>) -> Result<(), ParseError> {
    let unexpected = |l: &Lexer<'_>, expected: &str, got: Token| {
        ParseError::at(l.b, l.start, format!("{expected}, got \"{got}\""))
    };
    let mut first = true;
    loop {
        match lex(l) {
            Token::BraceClose => return Ok(()),
            Token::Comma if !first => match lex(l) {
                Token::LName => {}
                t => return Err(unexpected(l, "expected label name", t)),
            },
            Token::LName if first => {}
            Token::LName => return Err(unexpected(l, "expected comma", Token::LName)),
            t if first => return Err(unexpected(l, "expected label name or left brace", t)),
            t => return Err(unexpected(l, "expected comma or left brace", t)),
        }
        first = false;
        let name = l.buf();
        match lex(l) {
            Token::Equal => {}
            t => return Err(unexpected(l, "expected equal", t)),
        }
        match lex(l) {
            Token::LValue => {}
            t => return Err(unexpected(l, "expected label value", t)),
        }
        // The lexer guarantees the quotes; strip them. UTF-8 is checked for
        // the whole label set at once.
        out.push((name, l.slice(l.start + 1, l.i.saturating_sub(1))));
    }
}

/// One token of `openmetricslex.l` (Prometheus 2.42).
fn lex(l: &mut Lexer<'_>) -> Token {
    if l.i >= l.end {
        return Token::Eof;
    }
    let mut c = l.cur();
    l.start = l.i;
    loop {
        match l.state {
            State::Init => match c {
                b'#' => {
                    if l.next() != b' ' {
                        return Token::Invalid;
                    }
                    c = l.next();
                    // `#{S}`: continue in sComment with the same token start.
                    l.state = State::Comment;
                }
                c if is_mname_start(c) => {
                    l.advance_while(is_mname_char);
                    l.state = State::Value;
                    return Token::MName;
                }
                _ => return Token::Invalid,
            },
            State::Comment => {
                return match c {
                    b'E' => {
                        if l.next() != b'O' || l.next() != b'F' {
                            return Token::Invalid;
                        }
                        if l.next() == b'\n' {
                            l.next();
                        }
                        l.state = State::Init;
                        Token::EofWord
                    }
                    b'H' => keyword(l, b"ELP ", Token::Help),
                    b'T' => keyword(l, b"YPE ", Token::Type),
                    b'U' => keyword(l, b"NIT ", Token::Unit),
                    _ => Token::Invalid,
                }
            }
            State::Meta1 => {
                if !is_mname_start(c) {
                    return Token::Invalid;
                }
                l.advance_while(is_mname_char);
                l.state = State::Meta2;
                return Token::MName;
            }
            State::Meta2 => {
                // `{S}{C}*\n`
                if c != b' ' {
                    return Token::Invalid;
                }
                if l.advance_while(|c| c != 0 && c != b'\n') != b'\n' {
                    return Token::Invalid;
                }
                l.next();
                l.state = State::Init;
                return Token::Text;
            }
            State::Labels | State::Exemplar => {
                let in_exemplar = l.state == State::Exemplar;
                return match c {
                    b',' => {
                        l.next();
                        Token::Comma
                    }
                    b'=' => {
                        l.next();
                        l.state = if in_exemplar {
                            State::EValue
                        } else {
                            State::LValue
                        };
                        Token::Equal
                    }
                    b'}' => {
                        l.next();
                        l.state = if in_exemplar {
                            State::EValue
                        } else {
                            State::Value
                        };
                        Token::BraceClose
                    }
                    c if is_lname_start(c) => {
                        l.advance_while(is_lname_char);
                        Token::LName
                    }
                    _ => Token::Invalid,
                };
            }
            State::LValue => {
                return if c == b'"' {
                    quoted_value(l, State::Labels)
                } else {
                    Token::Invalid
                }
            }
            State::Value => {
                return match c {
                    b' ' => spaced_word(l, State::Timestamp, Token::Value),
                    b'{' => {
                        l.next();
                        l.state = State::Labels;
                        Token::BraceOpen
                    }
                    _ => Token::Invalid,
                }
            }
            State::Timestamp => {
                return match c {
                    b' ' => timestamp_or_exemplar(l),
                    b'\n' => {
                        l.next();
                        l.state = State::Init;
                        Token::Linebreak
                    }
                    _ => Token::Invalid,
                }
            }
            State::EValue => {
                return match c {
                    b' ' => spaced_word(l, State::ETimestamp, Token::Value),
                    b'"' => quoted_value(l, State::Exemplar),
                    _ => Token::Invalid,
                }
            }
            State::ETimestamp => {
                return match c {
                    b' ' => spaced_word(l, State::ETimestamp, Token::Timestamp),
                    b'\n' => {
                        l.next();
                        l.state = State::Init;
                        Token::Linebreak
                    }
                    _ => Token::Invalid,
                }
            }
        }
    }
}

/// `[^ \n]` without NUL: a byte of a value or timestamp.
#[inline(always)]
fn is_word_char(c: u8) -> bool {
    !matches!(c, 0 | b'\n' | b' ')
}

/// `{S}[^ \n]+` from the space under the cursor.
fn spaced_word(l: &mut Lexer<'_>, then: State, token: Token) -> Token {
    if !is_word_char(l.next()) {
        return Token::Invalid;
    }
    l.advance_while(is_word_char);
    l.state = then;
    token
}

/// In sTimestamp after a value: `{S}[^ \n]+` (a timestamp) or `{S}#{S}\{`
/// (an exemplar). The machine does not backtrack: ` # x` is invalid, while
/// ` #` and ` #x` are timestamps.
fn timestamp_or_exemplar(l: &mut Lexer<'_>) -> Token {
    let mut c = l.next();
    if c == b'#' {
        c = l.next();
        if c == b' ' {
            if l.next() != b'{' {
                return Token::Invalid;
            }
            l.next();
            l.state = State::Exemplar;
            return Token::Comment;
        }
    } else if !is_word_char(c) {
        return Token::Invalid;
    }
    if is_word_char(c) {
        l.advance_while(is_word_char);
    }
    Token::Timestamp
}

/// `\"(\\.|[^\\"\n])*\"`: no raw newlines; a backslash escapes any byte
/// but a newline.
fn quoted_value(l: &mut Lexer<'_>, then: State) -> Token {
    loop {
        match l.advance_while(|c| !matches!(c, 0 | b'"' | b'\\' | b'\n')) {
            b'"' => {
                l.next();
                l.state = then;
                return Token::LValue;
            }
            b'\\' => {
                if matches!(l.next(), 0 | b'\n') {
                    return Token::Invalid;
                }
            }
            _ => return Token::Invalid,
        }
    }
}

/// `HELP{S}`, `TYPE{S}`, `UNIT{S}` after their first letter.
fn keyword(l: &mut Lexer<'_>, rest: &[u8], token: Token) -> Token {
    for &want in rest {
        if l.next() != want {
            return Token::Invalid;
        }
    }
    l.next();
    l.state = State::Meta1;
    token
}
