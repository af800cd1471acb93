//! Test helpers: parse a whole body into owned entries and compare them.

use super::{Entry, Exemplar, MetricType, ParseError, Parser};
use crate::labels::{Labels, LabelsBuilder};

/// One parsed entry, owned, with the value compared bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Got {
    Series {
        m: String,
        t: Option<i64>,
        v: u64,
        lset: Labels,
        e: Option<Exemplar>,
    },
    Help(String, String),
    Type(String, MetricType),
    Unit(String, String),
    Comment(String),
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every entry of `input`, or the first error.
pub(crate) fn parse_all(input: &[u8], content_type: &str) -> Result<Vec<Got>, ParseError> {
    let mut p = Parser::new(input, content_type);
    let mut builder = LabelsBuilder::default();
    let mut out = Vec::new();
    while let Some(entry) = p.next() {
        out.push(match entry? {
            Entry::Series => {
                let (m, t, v) = p.series();
                let lset = p.labels(&mut builder);
                let e = p.exemplar();
                assert_eq!(p.exemplar(), None, "an exemplar is handed out once");
                Got::Series {
                    m: text(m),
                    t,
                    v: v.to_bits(),
                    lset,
                    e,
                }
            }
            Entry::Help => {
                let (m, h) = p.help();
                Got::Help(text(m), h.into_owned())
            }
            Entry::Type => {
                let (m, t) = p.metric_type();
                Got::Type(text(m), t)
            }
            Entry::Unit => {
                let (m, u) = p.unit();
                Got::Unit(text(m), text(u))
            }
            Entry::Comment => Got::Comment(text(p.comment())),
        });
    }
    assert!(p.next().is_none(), "next stays None at the end");
    Ok(out)
}

/// A sample without timestamp or exemplar.
pub(crate) fn ser(m: &str, v: f64, lset: &[(&str, &str)]) -> Got {
    ser_full(m, v, None, lset, None)
}

/// A sample with a timestamp.
pub(crate) fn ser_ts(m: &str, v: f64, t: i64, lset: &[(&str, &str)]) -> Got {
    ser_full(m, v, Some(t), lset, None)
}

/// A sample with everything.
pub(crate) fn ser_full(
    m: &str,
    v: f64,
    t: Option<i64>,
    lset: &[(&str, &str)],
    e: Option<Exemplar>,
) -> Got {
    Got::Series {
        m: m.to_string(),
        t,
        v: v.to_bits(),
        lset: Labels::from_pairs(lset.iter().copied()),
        e,
    }
}

/// An exemplar.
pub(crate) fn ex(lset: &[(&str, &str)], value: f64, timestamp: Option<i64>) -> Option<Exemplar> {
    Some(Exemplar {
        labels: Labels::from_pairs(lset.iter().copied()),
        value,
        timestamp,
    })
}

pub(crate) fn help(m: &str, h: &str) -> Got {
    Got::Help(m.to_string(), h.to_string())
}

pub(crate) fn typ(m: &str, t: MetricType) -> Got {
    Got::Type(m.to_string(), t)
}

pub(crate) fn unit(m: &str, u: &str) -> Got {
    Got::Unit(m.to_string(), u.to_string())
}

pub(crate) fn comment(c: &str) -> Got {
    Got::Comment(c.to_string())
}

/// Asserts that `input` parses to exactly `want`.
#[track_caller]
pub(crate) fn assert_parses(input: &[u8], content_type: &str, want: &[Got]) {
    let got = parse_all(input, content_type)
        .unwrap_or_else(|e| panic!("{:?}: unexpected error {e}", String::from_utf8_lossy(input)));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "entry {i} of {:?}", String::from_utf8_lossy(input));
    }
    assert_eq!(got.len(), want.len(), "entry count: {got:?}");
}

/// Asserts that `input` fails with a message starting with `message` on
/// line `line`.
#[track_caller]
pub(crate) fn assert_error(input: &[u8], content_type: &str, line: usize, message: &str) {
    match parse_all(input, content_type) {
        Ok(got) => panic!(
            "{:?} parsed without error: {got:?}",
            String::from_utf8_lossy(input)
        ),
        Err(e) => {
            assert!(
                e.message.starts_with(message),
                "{:?}: got error {:?}, want {message:?}",
                String::from_utf8_lossy(input),
                e.message
            );
            assert_eq!(e.line, line, "{:?}: {e}", String::from_utf8_lossy(input));
        }
    }
}
