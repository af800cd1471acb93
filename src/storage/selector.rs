//! Label matchers and the plain series selector syntax of PromQL:
//! `metric{label="v",other=~"re",x!="y",y!~"z"}` and `{__name__=~"..."}`,
//! as Prometheus's `model/labels/matcher.go` and the vector-selector part of
//! `promql/parser`. Used by the head's queries and by `/federate`'s
//! `match[]` and `/api/v1/query`.

use std::fmt;

use crate::labels::{Labels, METRIC_NAME};
use crate::relabel;

/// How a [`Matcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// `=`: equal to the value.
    Equal,
    /// `!=`: not equal to the value.
    NotEqual,
    /// `=~`: the whole value matches the regex.
    Regex,
    /// `!~`: the whole value does not match the regex.
    NotRegex,
}

impl MatchKind {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Equal => "=",
            MatchKind::NotEqual => "!=",
            MatchKind::Regex => "=~",
            MatchKind::NotRegex => "!~",
        }
    }
}

/// One label matcher. A label the series lacks counts as the empty value,
/// as in Prometheus, so `{job=""}` selects series without `job`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub kind: MatchKind,
    /// The value or (unanchored, as written) regex.
    pub value: String,
    /// The regex anchored as `^(?:value)$`, for the regex kinds, with Go's
    /// meaning of the syntax (`\d`, `\w`, `\s`, `\b` ASCII only), as
    /// relabeling reads it.
    re: Option<relabel::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.kind == other.kind && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; fails only for a regex that does not compile.
    pub fn new(kind: MatchKind, name: &str, value: &str) -> Result<Matcher, regex::Error> {
        let re = match kind {
            MatchKind::Regex | MatchKind::NotRegex => Some(relabel::Regex::new(value)?),
            MatchKind::Equal | MatchKind::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            kind,
            value: value.to_string(),
            re,
        })
    }

    /// Whether a label value (empty for a missing label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (&self.kind, &self.re) {
            (MatchKind::Equal, _) => value == self.value,
            (MatchKind::NotEqual, _) => value != self.value,
            (MatchKind::Regex, Some(re)) => re.is_match(value),
            (MatchKind::NotRegex, Some(re)) => !re.is_match(value),
            (MatchKind::Regex | MatchKind::NotRegex, None) => false,
        }
    }

    /// Whether the series `labels` satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.kind.as_str(), self.value)
    }
}

/// Whether `labels` satisfies every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

/// A selector that does not parse: where (byte offset into the input, from
/// 0) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// Byte offset of the problem in the selector text.
    pub pos: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parse error at position {}: {}", self.pos, self.msg)
    }
}

impl std::error::Error for SelectorError {}

/// Parses a plain series selector into its matchers.
///
/// Accepts `name`, `name{...}` and `{...}` with `=`, `!=`, `=~`, `!~`,
/// values in `"..."` or `'...'` (Go/PromQL escapes: `\a \b \f \n \r \t \v
/// \\ \" \' \xHH \ooo \uHHHH \UHHHHHHHH`) or raw `` `...` ``, and a
/// trailing comma. As Prometheus, at least one matcher must not match the
/// empty string, and the metric name may not be given twice.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut p = Parser { src: input, pos: 0 };
    let mut matchers = Vec::new();
    p.skip_ws();
    let name_pos = p.pos;
    let name = p.ident(true);
    if let Some(name) = name {
        matchers.push(p.matcher(name_pos, MatchKind::Equal, METRIC_NAME, name)?);
    }
    p.skip_ws();
    let braces = p.peek() == Some('{');
    if braces {
        p.pos += 1;
        p.label_matchers(&mut matchers, name.is_some())?;
    }
    p.skip_ws();
    if let Some(c) = p.peek() {
        return Err(p.error(format!("unexpected character {c:?}")));
    }
    if name.is_none() && !braces {
        return Err(p.error("expected a metric name or '{'".to_string()));
    }
    if matchers.iter().all(|m| m.matches("")) {
        return Err(SelectorError {
            pos: 0,
            msg: "vector selector must contain at least one non-empty matcher".to_string(),
        });
    }
    Ok(matchers)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn error(&self, msg: String) -> SelectorError {
        SelectorError { pos: self.pos, msg }
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// A metric name (`metric` allows `:`) or label name, if one starts here.
    fn ident(&mut self, metric: bool) -> Option<&'a str> {
        let start = self.pos;
        let ok_first = |c: u8| c.is_ascii_alphabetic() || c == b'_' || (metric && c == b':');
        let bytes = self.src.as_bytes();
        if !bytes.get(start).is_some_and(|&c| ok_first(c)) {
            return None;
        }
        let mut end = start + 1;
        while bytes
            .get(end)
            .is_some_and(|&c| ok_first(c) || c.is_ascii_digit())
        {
            end += 1;
        }
        self.pos = end;
        Some(&self.src[start..end])
    }

    fn matcher(
        &self,
        pos: usize,
        kind: MatchKind,
        name: &str,
        value: &str,
    ) -> Result<Matcher, SelectorError> {
        Matcher::new(kind, name, value).map_err(|e| SelectorError {
            pos,
            msg: format!("invalid regular expression {value:?}: {e}"),
        })
    }

    /// After `{`: matchers up to and including `}`.
    fn label_matchers(
        &mut self,
        out: &mut Vec<Matcher>,
        have_name: bool,
    ) -> Result<(), SelectorError> {
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(());
            }
            let name_pos = self.pos;
            let Some(name) = self.ident(false) else {
                return Err(match self.peek() {
                    Some(c) => self.error(format!("expected a label name, found {c:?}")),
                    None => self.error("unexpected end of input inside braces".to_string()),
                });
            };
            if have_name && name == METRIC_NAME {
                return Err(SelectorError {
                    pos: name_pos,
                    msg: "metric name must not be set twice".to_string(),
                });
            }
            self.skip_ws();
            let kind = self.operator()?;
            self.skip_ws();
            let value_pos = self.pos;
            let value = self.string()?;
            out.push(self.matcher(value_pos, kind, name, &value)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                Some(c) => return Err(self.error(format!("expected ',' or '}}', found {c:?}"))),
                None => return Err(self.error("unexpected end of input inside braces".to_string())),
            }
        }
    }

    fn operator(&mut self) -> Result<MatchKind, SelectorError> {
        let rest = &self.src[self.pos..];
        let (kind, len) = if rest.starts_with("=~") {
            (MatchKind::Regex, 2)
        } else if rest.starts_with("!~") {
            (MatchKind::NotRegex, 2)
        } else if rest.starts_with("!=") {
            (MatchKind::NotEqual, 2)
        } else if rest.starts_with('=') {
            (MatchKind::Equal, 1)
        } else {
            return Err(self.error("expected one of =, !=, =~, !~".to_string()));
        };
        self.pos += len;
        Ok(kind)
    }

    /// A quoted string with PromQL escapes, or a raw backquoted one.
    fn string(&mut self) -> Result<String, SelectorError> {
        let start = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.error("expected a quoted string".to_string())),
        };
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(SelectorError {
                    pos: start,
                    msg: "unterminated string".to_string(),
                });
            };
            if c == quote {
                self.pos += 1;
                break;
            }
            if quote != '`' && c == '\n' {
                return Err(self.error("newline in string".to_string()));
            }
            if quote != '`' && c == '\\' {
                self.pos += 1;
                self.escape(quote, &mut out)?;
                continue;
            }
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            self.pos += c.len_utf8();
        }
        String::from_utf8(out).map_err(|_| SelectorError {
            pos: start,
            msg: "string is not valid UTF-8 after escapes".to_string(),
        })
    }

    /// After a backslash: one escape sequence, appended to `out` as bytes.
    fn escape(&mut self, quote: char, out: &mut Vec<u8>) -> Result<(), SelectorError> {
        let at = self.pos - 1;
        let bad = |msg: &str| SelectorError {
            pos: at,
            msg: msg.to_string(),
        };
        let Some(c) = self.peek() else {
            return Err(bad("escape sequence not terminated"));
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => {
                self.pos -= 1;
                (3, 8)
            }
            _ => return Err(bad(&format!("unknown escape sequence \\{c}"))),
        };
        let text = self.src.get(self.pos..self.pos + digits).unwrap_or("");
        if text.len() != digits || !text.chars().all(|d| d.is_digit(radix)) {
            return Err(bad("escape sequence not terminated"));
        }
        self.pos += digits;
        let n = u32::from_str_radix(text, radix).map_err(|_| bad("bad escape sequence"))?;
        match c {
            'x' | '0'..='7' => {
                let b = u8::try_from(n).map_err(|_| bad("octal escape value > 255"))?;
                out.push(b);
            }
            _ => {
                let ch = char::from_u32(n)
                    .ok_or_else(|| bad("escape is not a valid Unicode code point"))?;
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(input: &str, want: &[(&str, MatchKind, &str)]) {
        let got = parse_selector(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        let got: Vec<_> = got
            .iter()
            .map(|m| (m.name.as_str(), m.kind, m.value.as_str()))
            .collect();
        assert_eq!(got, want, "{input}");
    }

    #[track_caller]
    fn err(input: &str, pos: usize, msg: &str) {
        match parse_selector(input) {
            Ok(m) => panic!("{input}: parsed as {m:?}"),
            Err(e) => {
                assert_eq!(e.pos, pos, "{input}: {e}");
                assert!(e.msg.contains(msg), "{input}: {e}");
            }
        }
    }

    use MatchKind::*;

    #[test]
    fn regex_matchers_read_perl_classes_as_go_does() {
        let digits = Matcher::new(Regex, "x", r"\d+").unwrap();
        assert!(digits.matches("42"));
        assert!(
            !digits.matches("\u{663}"),
            "Arabic-Indic three is not \\d in Go"
        );
        let word = Matcher::new(NotRegex, "x", r"\w+").unwrap();
        assert!(word.matches("é"), "é is not \\w in Go");
        assert!(!word.matches("a_1"));
        assert!(Matcher::new(Regex, "x", ".*").unwrap().matches(""));
    }

    #[test]
    fn selectors_parse() {
        ok("up", &[("__name__", Equal, "up")]);
        ok(
            " node:cpu_seconds:rate5m ",
            &[("__name__", Equal, "node:cpu_seconds:rate5m")],
        );
        ok("up{}", &[("__name__", Equal, "up")]);
        ok(
            r#"metric{label="v",other=~"re",x!="y",y!~"z"}"#,
            &[
                ("__name__", Equal, "metric"),
                ("label", Equal, "v"),
                ("other", Regex, "re"),
                ("x", NotEqual, "y"),
                ("y", NotRegex, "z"),
            ],
        );
        ok(
            r#"{__name__=~"node_.+"}"#,
            &[("__name__", Regex, "node_.+")],
        );
        ok(r#"{ job = "a" , }"#, &[("job", Equal, "a")]);
        ok(r#"{job='it\'s'}"#, &[("job", Equal, "it's")]);
        ok(r#"{job="a\"b\\c\n"}"#, &[("job", Equal, "a\"b\\c\n")]);
        ok(
            r#"{job="\x41\101\u00e9\U0001F600"}"#,
            &[("job", Equal, "AAé😀")],
        );
        ok(r#"{job=`raw\n`}"#, &[("job", Equal, "raw\\n")]);
        ok(
            r#"{job="é", a=""}"#,
            &[("job", Equal, "é"), ("a", Equal, "")],
        );
    }

    #[test]
    fn selectors_fail_with_position() {
        err("", 0, "expected a metric name");
        err("{}", 0, "at least one non-empty matcher");
        err(r#"{job=~".*"}"#, 0, "at least one non-empty matcher");
        err(r#"{job=""}"#, 0, "at least one non-empty matcher");
        err(r#"up{job="a""#, 10, "unexpected end of input");
        err(r#"up{job="a}"#, 7, "unterminated string");
        err(r#"up{job=a}"#, 7, "expected a quoted string");
        err(r#"up{job~"a"}"#, 6, "expected one of");
        err(r#"up{1job="a"}"#, 3, "expected a label name");
        err(r#"up{job="a" x="b"}"#, 11, "expected ',' or '}'");
        err(r#"up{__name__="x"}"#, 3, "set twice");
        err(r#"up{job=~"("}"#, 8, "invalid regular expression");
        err(r#"up{job="\q"}"#, 8, "unknown escape");
        err(r#"up{job="\xff"}"#, 7, "not valid UTF-8");
        err(r#"up{job='a\"'}"#, 9, "unknown escape");
        err("up foo", 3, "unexpected character");
        err(r#"up{job="a"} x"#, 12, "unexpected character");
    }

    #[test]
    fn regexes_are_anchored_and_missing_labels_are_empty() {
        let l = Labels::from_pairs([("__name__", "node_load1"), ("job", "node")]);
        let m = |s: &str| parse_selector(s).unwrap();
        assert!(matches_all(&m(r#"{__name__=~"node_load.*"}"#), &l));
        assert!(!matches_all(&m(r#"{__name__=~"load"}"#), &l));
        assert!(!matches_all(&m(r#"{__name__=~"node_load"}"#), &l));
        assert!(matches_all(
            &m(r#"{__name__="node_load1",instance=""}"#),
            &l
        ));
        assert!(matches_all(&m(r#"node_load1{instance!~".+"}"#), &l));
        assert!(!matches_all(&m(r#"node_load1{job!="node"}"#), &l));
        assert!(matches_all(&m(r#"node_load1{job=~"a|node"}"#), &l));
    }
}
