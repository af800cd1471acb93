//! Series selectors (`metric{a="b",c=~"d"}`) for `/api/v1/query` and
//! `/federate`: PromQL's vector selector syntax and nothing else.
//!
//! Anything that is valid PromQL but more than a plain selector (functions,
//! operators, ranges, offsets) is refused with [`SelectorError::NotASelector`],
//! because edgescrape serves no query engine.

use std::fmt;

use regex::Regex;

use crate::labels::{Labels, METRIC_NAME};

/// How a [`Matcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

impl MatchKind {
    fn as_str(self) -> &'static str {
        match self {
            MatchKind::Equal => "=",
            MatchKind::NotEqual => "!=",
            MatchKind::Regex => "=~",
            MatchKind::NotRegex => "!~",
        }
    }
}

/// One label matcher. A missing label matches as the empty string, as in
/// Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub kind: MatchKind,
    /// The value or regular expression as written.
    pub value: String,
    /// `^(?:value)$` compiled, for the regex kinds.
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.kind == other.kind && self.value == other.value
    }
}

impl Matcher {
    /// A matcher; regular expressions are anchored at both ends.
    pub fn new(
        kind: MatchKind,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, SelectorError> {
        let name = name.into();
        let value = value.into();
        let re = match kind {
            MatchKind::Regex | MatchKind::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| SelectorError::BadRegex(value.clone(), e.to_string()))?,
            ),
            MatchKind::Equal | MatchKind::NotEqual => None,
        };
        Ok(Matcher {
            name,
            kind,
            value,
            re,
        })
    }

    /// Whether a label value (empty when the label is missing) matches.
    pub fn matches(&self, value: &str) -> bool {
        match (&self.kind, &self.re) {
            (MatchKind::Equal, _) => value == self.value,
            (MatchKind::NotEqual, _) => value != self.value,
            (MatchKind::Regex, Some(re)) => re.is_match(value),
            (MatchKind::NotRegex, Some(re)) => !re.is_match(value),
            (MatchKind::Regex | MatchKind::NotRegex, None) => false,
        }
    }

    /// Whether the series `labels` matches.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

/// Whether `labels` matches every matcher of `set`.
pub fn matches_all(set: &[Matcher], labels: &Labels) -> bool {
    set.iter().all(|m| m.matches_labels(labels))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.kind.as_str(), self.value)
    }
}

/// Why a selector was refused; the message names the column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectorError {
    /// Empty input.
    Empty,
    /// Valid-looking input that is more than a plain selector.
    NotASelector(String),
    /// A syntax error at a 1-based column.
    Syntax {
        /// 1-based character column.
        col: usize,
        /// What was expected or found.
        msg: String,
    },
    /// A regular expression that does not compile.
    BadRegex(String, String),
    /// Every matcher matches the empty string.
    MatchesEverything,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectorError::Empty => f.write_str("1:1: parse error: no expression found in input"),
            SelectorError::NotASelector(q) => write!(
                f,
                "only plain selectors are supported (metric{{label=\"value\"}}), not {q:?}"
            ),
            SelectorError::Syntax { col, msg } => write!(f, "1:{col}: parse error: {msg}"),
            SelectorError::BadRegex(re, e) => write!(f, "invalid regular expression {re:?}: {e}"),
            SelectorError::MatchesEverything => {
                f.write_str("vector selector must contain at least one non-empty matcher")
            }
        }
    }
}

impl std::error::Error for SelectorError {}

/// Parses a query: like [`parse`], and as PromQL refuses a selector whose
/// every matcher matches the empty string (it would select everything).
pub fn parse_query(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    let matchers = parse(input)?;
    if matchers.iter().all(|m| m.matches("")) {
        return Err(SelectorError::MatchesEverything);
    }
    Ok(matchers)
}

/// Parses `name`, `name{...}` or `{...}` into matchers; a metric name becomes
/// a `__name__` equality matcher first. As Prometheus's
/// `ParseMetricSelector` (used for `match[]`), a selector matching every
/// series is allowed.
pub fn parse(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut p = Parser { src: input, pos: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(SelectorError::Empty);
    }
    let mut matchers = Vec::new();
    if let Some(name) = p.ident(true) {
        matchers.push(Matcher::new(MatchKind::Equal, METRIC_NAME, name)?);
        p.skip_ws();
    }
    match p.peek() {
        Some('{') => {
            p.pos += 1;
            p.label_matchers(&mut matchers)?;
        }
        None => {}
        Some(_) if matchers.is_empty() => {
            return Err(SelectorError::NotASelector(input.to_string()))
        }
        Some(_) => {}
    }
    p.skip_ws();
    if !p.at_end() {
        return Err(SelectorError::NotASelector(input.to_string()));
    }
    Ok(matchers)
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next unread character.
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn col(&self) -> usize {
        self.src[..self.pos].chars().count() + 1
    }

    fn syntax(&self, msg: impl Into<String>) -> SelectorError {
        SelectorError::Syntax {
            col: self.col(),
            msg: msg.into(),
        }
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    /// An identifier; metric names may also hold `:`.
    fn ident(&mut self, metric: bool) -> Option<String> {
        let start = self.pos;
        let len = self
            .rest()
            .char_indices()
            .take_while(|&(i, c)| {
                c.is_ascii_alphabetic()
                    || c == '_'
                    || (metric && c == ':')
                    || (i > 0 && c.is_ascii_digit())
            })
            .count();
        // Every accepted character is ASCII, so chars are bytes here.
        self.pos += len;
        (len > 0).then(|| self.src[start..self.pos].to_string())
    }

    fn label_matchers(&mut self, out: &mut Vec<Matcher>) -> Result<(), SelectorError> {
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(());
            }
            if self.at_end() {
                return Err(self.syntax("unexpected end of input inside braces"));
            }
            let Some(name) = self.ident(false) else {
                return Err(self.syntax("expected label name or \"}\""));
            };
            self.skip_ws();
            let kind = if self.rest().starts_with("=~") {
                MatchKind::Regex
            } else if self.rest().starts_with("!~") {
                MatchKind::NotRegex
            } else if self.rest().starts_with("!=") {
                MatchKind::NotEqual
            } else if self.rest().starts_with('=') {
                MatchKind::Equal
            } else {
                return Err(self.syntax(format!(
                    "expected one of \"=\", \"!=\", \"=~\", \"!~\" after label {name:?}"
                )));
            };
            self.pos += kind.as_str().len();
            self.skip_ws();
            let value = self.string()?;
            out.push(Matcher::new(kind, name, value)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                None => return Err(self.syntax("unexpected end of input inside braces")),
                _ => return Err(self.syntax("expected \",\" or \"}\" in label matching")),
            }
        }
    }

    /// A PromQL string literal: `"..."` and `'...'` with Go escapes, or a raw
    /// `` `...` ``.
    fn string(&mut self) -> Result<String, SelectorError> {
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.syntax("expected a quoted label value")),
        };
        let start_col = self.col();
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' | '"' | '\'' => out.push(e),
                    'x' | 'u' | 'U' => {
                        let len = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.by_ref().take(len).map(|(_, h)| h).collect();
                        let decoded = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == len)
                            .and_then(char::from_u32);
                        match decoded {
                            Some(ch) => out.push(ch),
                            None => {
                                return Err(SelectorError::Syntax {
                                    col: start_col,
                                    msg: format!("invalid escape \\{e}{hex} in string"),
                                })
                            }
                        }
                    }
                    other => {
                        return Err(SelectorError::Syntax {
                            col: start_col,
                            msg: format!("unknown escape sequence \\{other} in string"),
                        })
                    }
                }
                continue;
            }
            out.push(c);
        }
        Err(SelectorError::Syntax {
            col: start_col,
            msg: "unterminated quoted string".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(input: &str, want: &[(&str, MatchKind, &str)]) {
        let got = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        let got: Vec<_> = got
            .iter()
            .map(|m| (m.name.as_str(), m.kind, m.value.as_str()))
            .collect();
        assert_eq!(got, want, "{input}");
    }

    #[track_caller]
    fn err(input: &str, want: &str) {
        match parse(input) {
            Ok(m) => panic!("{input}: parsed as {m:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{input}: {e}"),
        }
    }

    #[test]
    fn plain_selectors_parse() {
        use MatchKind::*;
        ok("up", &[("__name__", Equal, "up")]);
        ok(" ns:rate_5m ", &[("__name__", Equal, "ns:rate_5m")]);
        ok(
            r#"up{job="a", instance!='b',x=~"c.*",y!~`d\d`,}"#,
            &[
                ("__name__", Equal, "up"),
                ("job", Equal, "a"),
                ("instance", NotEqual, "b"),
                ("x", Regex, "c.*"),
                ("y", NotRegex, r"d\d"),
            ],
        );
        ok(
            r#"{__name__=~"up|down"}"#,
            &[("__name__", Regex, "up|down")],
        );
        ok(r#"{a="q\"\n\x41\u00e9"}"#, &[("a", Equal, "q\"\nAé")]);
    }

    #[test]
    fn everything_else_is_refused() {
        err("", "no expression found");
        err("sum(up)", "only plain selectors");
        err("up[5m]", "only plain selectors");
        err("up offset 5m", "only plain selectors");
        err("up + 1", "only plain selectors");
        err("1", "only plain selectors");
        let e = parse_query(r#"{a=~".*"}"#).unwrap_err().to_string();
        assert!(e.contains("at least one non-empty matcher"), "{e}");
        assert!(parse_query(r#"{a=""}"#).is_err());
        assert_eq!(parse(r#"{a=~".*"}"#).map(|m| m.len()), Ok(1));
        err(
            r#"up{a="b""#,
            "1:9: parse error: unexpected end of input inside braces",
        );
        err(
            "up{",
            "1:4: parse error: unexpected end of input inside braces",
        );
        err(r#"up{a b"}"#, "1:6: parse error");
        err(r#"up{a="b}"#, "unterminated");
        err(r#"up{a=~"("}"#, "invalid regular expression");
        err(r#"up{a="\q"}"#, "unknown escape");
    }

    #[test]
    fn matching_is_anchored_and_missing_is_empty() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        let m = parse(r#"up{job=~"no"}"#).unwrap();
        assert!(!matches_all(&m, &l));
        let m = parse(r#"up{job=~"no.*", zone=""}"#).unwrap();
        assert!(matches_all(&m, &l));
        let m = parse(r#"up{zone!~""}"#).unwrap();
        assert!(!matches_all(&m, &l));
    }
}
