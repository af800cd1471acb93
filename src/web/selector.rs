//! Selectors as `/federate`'s `match[]` takes them: the storage's plain
//! series selector parser ([`crate::storage::selector`]) with Prometheus's
//! error wording for empty input, and a clear refusal for PromQL that is
//! more than a plain selector (functions, operators, ranges, offsets), as
//! Prometheus refuses it there. Queries go to [`crate::promql`].

use std::fmt;

use crate::storage::selector::{parse_selector, Matcher, SelectorError as ParseError};

/// Why a `query` or `match[]` parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectorError {
    /// Empty input.
    Empty,
    /// Valid-looking input that is more than a plain selector.
    NotASelector(String),
    /// A selector that does not parse, or selects every series.
    Parse(ParseError),
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectorError::Empty => f.write_str("1:1: parse error: no expression found in input"),
            SelectorError::NotASelector(q) => write!(
                f,
                "only plain selectors are supported (metric{{label=\"value\"}}), not {q:?}"
            ),
            SelectorError::Parse(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SelectorError {}

/// Parses a `query` or `match[]` value.
pub fn parse(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    if input.trim().is_empty() {
        return Err(SelectorError::Empty);
    }
    parse_selector(input).map_err(|e| {
        // Text left after a selector, or input that starts like no selector
        // (a number, a parenthesis), is PromQL beyond a plain selector.
        if e.msg.starts_with("unexpected character") || e.msg.starts_with("expected a metric name")
        {
            SelectorError::NotASelector(input.to_string())
        } else {
            SelectorError::Parse(e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn err(input: &str, want: &str) {
        match parse(input) {
            Ok(m) => panic!("{input}: parsed as {m:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{input}: {e}"),
        }
    }

    #[test]
    fn only_plain_selectors_are_taken() {
        assert_eq!(parse(r#" up{job="a"} "#).map(|m| m.len()), Ok(2));
        err("", "1:1: parse error: no expression found in input");
        err("  ", "no expression found");
        for q in ["sum(up)", "up[5m]", "up offset 5m", "up + 1", "1", "(up)"] {
            err(q, "only plain selectors are supported");
        }
        err(r#"up{a="b""#, "unexpected end of input inside braces");
        err(r#"{a=~".*"}"#, "at least one non-empty matcher");
        err(r#"up{a=~"("}"#, "invalid regular expression");
    }
}
