//! The Prometheus text format 0.0.4, as Prometheus 2.42's `promparse.go`
//! and `promlex.l`.

use std::borrow::Cow;

use super::current::Current;
use super::fast::Format;
use super::float::{go_quote, parse_float, parse_int, NORMAL_NAN_BITS};
use super::lex::{
    is_lname_char, is_lname_start, is_mname_char, is_mname_start, Lexer, State, Token,
};
use super::{unescape, Entry, MetricType, ParseError};
use crate::labels::{Labels, LabelsBuilder};

/// The format this parser reads, for the fast recognizers.
const FORMAT: Format = Format::Text;

/// Parser of the Prometheus text format over a borrowed scrape body.
///
/// Accepts exactly what Prometheus 2.42 accepts, among others: spaces and
/// tabs between tokens and around label terms (`a { b = "c" d="e", } 1`),
/// label terms without separating commas and one trailing comma, raw
/// newlines and NULs inside label values, any `#` line as a comment, blank
/// lines, and a missing final newline. It rejects, as 2.42 does: a `\r`
/// before the line end of a sample (CRLF bodies fail on their first sample;
/// in HELP and comment lines the `\r` is kept as text), hex floats, `_` in
/// numbers, signs or fractions in timestamps, invalid UTF-8 in label values
/// and help texts, and a NUL at the start of a line ends the input.
///
/// Differences from Prometheus, on purpose:
/// - duplicate label names (also a label called `__name__`) are a parse
///   error; 2.42 fails the scrape at append time instead;
/// - a sample line starting with whitespace is a parse error; 2.42 lexes
///   the whitespace into the metric name and fails the scrape when it
///   validates the name.
///
/// Prometheus 2.53 additionally accepts quoted UTF-8 metric and label
/// names (`{"my.metric", "a.b"="c"} 1`, `# HELP "my.metric" ...`); 2.42
/// does not, and neither does this parser.
#[derive(Debug, Clone)]
pub struct PromParser<'a> {
    l: Lexer<'a>,
    /// The current entry.
    cur: Current<'a>,
    done: bool,
}

impl<'a> PromParser<'a> {
    /// A parser over `buf`, read as if it ended with one more newline.
    pub fn new(buf: &'a [u8]) -> PromParser<'a> {
        PromParser {
            l: Lexer::new(buf, true),
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

    /// Advances to the next entry; `None` at the end of input or after an
    /// error.
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

    /// Family name and help text, `\\` and `\n` unescaped.
    pub fn help(&self) -> (&'a [u8], Cow<'a, str>) {
        let text = match String::from_utf8_lossy(self.cur.text) {
            Cow::Borrowed(s) => unescape(s, false),
            Cow::Owned(s) => Cow::Owned(unescape(&s, false).into_owned()),
        };
        (self.cur.family, text)
    }

    /// Family name and type.
    pub fn metric_type(&self) -> (&'a [u8], MetricType) {
        self.cur.metric_type()
    }

    /// The comment line, from its `#` to before the newline.
    pub fn comment(&self) -> &'a [u8] {
        self.cur.text
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

    fn token(&mut self) -> Token {
        loop {
            let t = lex(&mut self.l);
            if t != Token::Whitespace {
                return t;
            }
        }
    }

    fn error(&self, message: String) -> Option<Result<Entry, ParseError>> {
        Some(Err(ParseError::at(self.l.b, self.l.start, message)))
    }

    fn unexpected(&self, expected: &str, got: Token) -> Option<Result<Entry, ParseError>> {
        self.error(format!("{expected}, got \"{got}\""))
    }

    fn parse_entry(&mut self) -> Option<Result<Entry, ParseError>> {
        loop {
            self.cur.start = self.l.i;
            if let Some(entry) = self.cur.read_fast_line(&mut self.l, FORMAT) {
                return Some(Ok(entry));
            }
            self.cur.labels.clear();
            let t = self.token();
            return match t {
                Token::Eof => None,
                // Blank lines are allowed.
                Token::Linebreak => continue,
                Token::Help | Token::Type => self.parse_meta(t),
                Token::Comment => {
                    self.cur.text = self.l.buf();
                    match self.token() {
                        Token::Linebreak => Some(Ok(Entry::Comment)),
                        t => self.unexpected("linebreak expected after comment", t),
                    }
                }
                Token::MName => self.parse_sample(),
                t => self.error(format!("\"{t}\" is not a valid start token")),
            };
        }
    }

    fn parse_meta(&mut self, t: Token) -> Option<Result<Entry, ParseError>> {
        match self.token() {
            Token::MName => self.cur.family = self.l.buf(),
            t2 => return self.unexpected(&format!("expected metric name after {t}"), t2),
        }
        match self.token() {
            // The text token keeps the one blank before it.
            Token::Text => self.cur.text = self.l.buf().get(1..).unwrap_or(&[]),
            _ => return self.error(format!("expected text in {t}")),
        }
        let entry = if t == Token::Type {
            self.cur.mtype = match self.cur.text {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                other => return self.error(format!("invalid metric type {}", go_quote(other))),
            };
            Entry::Type
        } else {
            if std::str::from_utf8(self.cur.text).is_err() {
                return self.error("help text is not a valid utf8 string".to_string());
            }
            Entry::Help
        };
        match self.token() {
            Token::Linebreak => Some(Ok(entry)),
            t => self.unexpected("linebreak expected after metadata", t),
        }
    }

    fn parse_sample(&mut self) -> Option<Result<Entry, ParseError>> {
        let name_start = self.l.start;
        if name_start != self.cur.start {
            let name = go_quote(self.l.slice(self.cur.start, self.l.i));
            return self.error(format!(
                "invalid metric name {name}: a sample line must not start with whitespace"
            ));
        }
        self.cur.name = self.l.buf();
        self.cur.series = self.l.buf();
        let mut t = self.token();
        if t == Token::BraceOpen {
            if let Some(err) = self.parse_label_values() {
                return Some(Err(err));
            }
            self.cur.series = self.l.slice(self.cur.start, self.l.i);
            if let Some(e) = self.cur.utf8_error(self.l.b) {
                return Some(Err(e));
            }
            t = self.token();
        }
        if t != Token::Value {
            return self.unexpected("expected value after metric", t);
        }
        self.cur.val = match parse_float(self.l.buf()) {
            Ok(v) if v.is_nan() => f64::from_bits(NORMAL_NAN_BITS),
            Ok(v) => v,
            Err(e) => return self.error(e),
        };
        self.cur.ts = None;
        match self.token() {
            Token::Linebreak => {}
            Token::Timestamp => {
                match parse_int(self.l.buf()) {
                    Ok(ts) => self.cur.ts = Some(ts),
                    Err(e) => return self.error(e),
                }
                match self.token() {
                    Token::Linebreak => {}
                    t => return self.unexpected("expected next entry after timestamp", t),
                }
            }
            t => return self.unexpected("expected timestamp or new record", t),
        }
        if let Some(e) = self.cur.duplicate_error(self.l.b) {
            return Some(Err(e));
        }
        Some(Ok(Entry::Series))
    }

    fn parse_label_values(&mut self) -> Option<ParseError> {
        let unexpected = |p: &Self, expected: &str, got: Token| {
            Some(ParseError::at(
                p.l.b,
                p.l.start,
                format!("{expected}, got \"{got}\""),
            ))
        };
        let mut t = self.token();
        loop {
            match t {
                Token::BraceClose => return None,
                Token::LName => {}
                t => return unexpected(self, "expected label name", t),
            }
            let name = self.l.buf();
            match self.token() {
                Token::Equal => {}
                t => return unexpected(self, "expected equal", t),
            }
            match self.token() {
                Token::LValue => {}
                t => return unexpected(self, "expected label value", t),
            }
            // The lexer guarantees the quotes; strip them. UTF-8 is checked
            // for the whole label set at once.
            let value = self.l.slice(self.l.start + 1, self.l.i.saturating_sub(1));
            self.cur.labels.push((name, value));
            // Free trailing commas are allowed, and so is no comma at all.
            t = self.token();
            if t == Token::Comma {
                t = self.token();
            }
        }
    }
}

/// One token of `promlex.l` (Prometheus 2.42).
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
                    c = l.next();
                    if !is_blank(c) {
                        return consume_comment(l);
                    }
                    while is_blank(c) {
                        c = l.next();
                    }
                    // `#[ \t]+`: continue in sComment with the same token start.
                    l.state = State::Comment;
                }
                b'\n' => {
                    l.next();
                    return Token::Linebreak;
                }
                b' ' | b'\t' => return whitespace(l),
                0 => {
                    l.next();
                    return Token::Eof;
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
                    b'H' => keyword(l, b"ELP", Token::Help),
                    b'T' => keyword(l, b"YPE", Token::Type),
                    b' ' | b'\t' => whitespace(l),
                    _ => consume_comment(l),
                }
            }
            State::Meta1 => {
                return match c {
                    b' ' | b'\t' => whitespace(l),
                    c if is_mname_start(c) => {
                        l.advance_while(is_mname_char);
                        l.state = State::Meta2;
                        Token::MName
                    }
                    _ => Token::Invalid,
                }
            }
            State::Meta2 => {
                if is_blank(c) {
                    c = l.advance_while(is_blank);
                    if c == 0 || c == b'\n' {
                        return Token::Whitespace;
                    }
                }
                if c != 0 && c != b'\n' {
                    l.advance_while(|c| c != 0 && c != b'\n');
                }
                l.state = State::Init;
                return Token::Text;
            }
            State::Labels => {
                return match c {
                    b',' => {
                        l.next();
                        Token::Comma
                    }
                    b'=' => {
                        l.next();
                        l.state = State::LValue;
                        Token::Equal
                    }
                    b'}' => {
                        l.next();
                        l.state = State::Value;
                        Token::BraceClose
                    }
                    b' ' | b'\t' => whitespace(l),
                    c if is_lname_start(c) => {
                        l.advance_while(is_lname_char);
                        Token::LName
                    }
                    _ => Token::Invalid,
                }
            }
            State::LValue => {
                return match c {
                    b'"' => quoted_value(l),
                    b' ' | b'\t' => whitespace(l),
                    _ => Token::Invalid,
                }
            }
            State::Value => {
                return match c {
                    b' ' | b'\t' => whitespace(l),
                    b'{' => {
                        l.next();
                        l.state = State::Labels;
                        Token::BraceOpen
                    }
                    c if is_value_char(c) => {
                        l.advance_while(is_value_char);
                        l.state = State::Timestamp;
                        Token::Value
                    }
                    _ => Token::Invalid,
                }
            }
            State::Timestamp => {
                return match c {
                    b'\n' => {
                        l.next();
                        l.state = State::Init;
                        Token::Linebreak
                    }
                    b' ' | b'\t' => whitespace(l),
                    c if c.is_ascii_digit() => {
                        l.advance_while(|c| c.is_ascii_digit());
                        Token::Timestamp
                    }
                    _ => Token::Invalid,
                }
            }
            State::Exemplar | State::EValue | State::ETimestamp => return Token::Invalid,
        }
    }
}

#[inline(always)]
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// `[^{ \t\n]` without NUL: a byte of a sample value.
#[inline(always)]
fn is_value_char(c: u8) -> bool {
    !matches!(c, 0 | b'\t' | b'\n' | b' ' | b'{')
}

/// `[ \t]+`
fn whitespace(l: &mut Lexer<'_>) -> Token {
    l.advance_while(is_blank);
    Token::Whitespace
}

/// `HELP[\t ]+` / `TYPE[\t ]+` after their first letter; a mismatch makes
/// the line a comment.
fn keyword(l: &mut Lexer<'_>, rest: &[u8], token: Token) -> Token {
    for &want in rest {
        if l.next() != want {
            return consume_comment(l);
        }
    }
    let mut c = l.next();
    if !is_blank(c) {
        return consume_comment(l);
    }
    while is_blank(c) {
        c = l.next();
    }
    l.state = State::Meta1;
    token
}

/// `\"(\\.|[^\\"])*\"`: raw newlines are allowed, a backslash escapes any
/// byte but a newline.
fn quoted_value(l: &mut Lexer<'_>) -> Token {
    loop {
        match l.advance_while(|c| !matches!(c, 0 | b'"' | b'\\')) {
            b'"' => {
                l.next();
                l.state = State::Labels;
                return Token::LValue;
            }
            b'\\' => {
                if matches!(l.next(), 0 | b'\n') {
                    return Token::Invalid;
                }
            }
            // The virtual newline after the buffer: the input ends inside
            // the value.
            _ => return Token::Invalid,
        }
    }
}

/// Everything up to the newline is a comment; a NUL (outside `# ` lines,
/// where it is skipped) ends the input.
fn consume_comment(l: &mut Lexer<'_>) -> Token {
    let mut c = l.cur();
    if c != 0 && c != b'\n' {
        c = l.advance_while(|c| c != 0 && c != b'\n');
    }
    if c == 0 {
        return Token::Eof;
    }
    l.state = State::Init;
    Token::Comment
}
