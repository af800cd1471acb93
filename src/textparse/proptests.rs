//! Property tests: no input makes a parser panic, generated valid
//! expositions come back as generated, and the fast line recognizers
//! read every input exactly as the token machine does.

use std::fmt::Write;

use proptest::prelude::*;

use super::{Entry, Parser};
use crate::labels::{Labels, LabelsBuilder};

const TEXT: &str = "text/plain; version=0.0.4";
const OM: &str = "application/openmetrics-text; version=1.0.0";

/// Drives a parser to the end, calling every accessor on every entry.
fn drain(buf: &[u8], content_type: &str) {
    let mut p = Parser::new(buf, content_type);
    let mut builder = LabelsBuilder::default();
    let mut entries = 0;
    while let Some(entry) = p.next() {
        match entry {
            Ok(Entry::Series) => {
                let (series, _, _) = p.series();
                assert!(!series.is_empty());
                let lset = p.labels(&mut builder);
                assert!(lset.metric_name().is_some());
                let _ = p.exemplar();
            }
            Ok(Entry::Help) => drop(p.help()),
            Ok(Entry::Type) => drop(p.metric_type()),
            Ok(Entry::Unit) => drop(p.unit()),
            Ok(Entry::Comment) => drop(p.comment()),
            Err(e) => {
                assert!(e.line >= 1);
                assert!(e.line <= 1 + buf.iter().filter(|&&c| c == b'\n').count());
                let _ = e.to_string();
            }
        }
        entries += 1;
        assert!(entries <= buf.len() + 1, "parser does not advance");
    }
}

/// Everything a parser hands out for one entry, in comparable form.
fn observe(p: &mut Parser<'_>, entry: Result<Entry, super::ParseError>) -> String {
    let mut builder = LabelsBuilder::default();
    match entry {
        Ok(Entry::Series) => {
            let (series, ts, v) = p.series();
            let exposes_job = p.exposes_label("job");
            format!(
                "series {series:?} {ts:?} {:x} {} job:{exposes_job} {:?}",
                v.to_bits(),
                p.labels(&mut builder),
                p.exemplar()
            )
        }
        Ok(Entry::Help) => format!("help {:?}", p.help()),
        Ok(Entry::Type) => format!("type {:?}", p.metric_type()),
        Ok(Entry::Unit) => format!("unit {:?}", p.unit()),
        Ok(Entry::Comment) => format!("comment {:?}", p.comment()),
        Err(e) => format!("error {e}"),
    }
}

/// Checks that the fast recognizers and the token machine agree on `buf`,
/// and so does a parser deferring its series checks to `check_series` (as
/// the scrape loop does on a cache miss, here on every sample).
fn same_as_token_machine(buf: &[u8], content_type: &str) -> Result<(), TestCaseError> {
    let mut fast = Parser::new(buf, content_type);
    let mut deferred = Parser::new(buf, content_type);
    deferred.defer_series_checks();
    let mut slow = Parser::token_machine_only(buf, content_type);
    loop {
        let checked = match deferred.next() {
            Some(Ok(Entry::Series)) => Some(deferred.check_series().map(|()| Entry::Series)),
            other => other,
        };
        match (fast.next(), checked, slow.next()) {
            (None, None, None) => return Ok(()),
            (Some(a), Some(d), Some(b)) => {
                let (a, d, b) = (
                    observe(&mut fast, a),
                    observe(&mut deferred, d),
                    observe(&mut slow, b),
                );
                prop_assert_eq!(&a, &b, "in {:?}", String::from_utf8_lossy(buf));
                prop_assert_eq!(d, b, "deferred, in {:?}", String::from_utf8_lossy(buf));
            }
            (a, d, b) => prop_assert!(false, "{a:?} / {d:?} vs {b:?} in {buf:?}"),
        }
    }
}

/// Sample lines that fail or pass only the series checks, with the text
/// and OpenMetrics spellings both readable by the fast recognizers.
fn checked_line() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        &b"a{x=\"1\",x=\"2\"} 1\n"[..],
        b"a{x=\"1\",y=\"2\",x=\"3\"} 1 2\n",
        b"a{__name__=\"b\"} 1\n",
        b"a{x=\"\xff\"} 1\n",
        b"a{x=\"ok\",y=\"\xc3\"} 1\n",
        b"a{x=\"\xc3\xbc\"} 1\n",
        b"a{x=\"\xff\",x=\"1\"} 1\n",
        b"c_total{x=\"1\",x=\"1\"} 1 # {a=\"b\"} 1\n",
        b"a{x=\"1\"} 1\n",
        b"a 1\n",
    ])
    .prop_map(<[u8]>::to_vec)
}

/// Bytes the grammar cares about, to reach deep states more often than
/// uniform bytes do.
fn grammar_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(grammar_byte(), 0..200)
}

fn grammar_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"#{}=,\" \t\n\\aZ_:019.eE+-xpEOFHELPTYPUNI\0\r\xff".to_vec()),
        1 => any::<u8>(),
    ]
}

/// A metadata or comment line, well-formed or nearly so.
fn meta_line() -> impl Strategy<Value = String> {
    let head = prop::sample::select(vec![
        "# HELP ", "# TYPE ", "# UNIT ", "#  HELP ", "# HELP\t", "# TYPE  ", "#HELP ", "# x ",
    ]);
    let text = prop::sample::select(vec![
        " counter",
        " gauge",
        "  gauge",
        " gaugehistogram",
        " untyped",
        " unknown",
        " info",
        " help text",
        " ",
        "",
        "\tx",
        " total",
        " a\\nb\\\\",
        " \0x",
        " ü",
        " x\r",
    ]);
    (head, "[a-z_:][a-z_0-9]{0,6}", text).prop_map(|(h, name, t)| format!("{h}{name}{t}\n"))
}

/// A sample line with an exemplar, well-formed or nearly so.
fn exemplar_line() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["a_total", "b_bucket", "c", "d_total{x=\"y\"}"]);
    let exemplar = prop::sample::select(vec![
        " # {a=\"b\"} 1",
        " # {a=\"b\",c=\"\\\"\"} 1 2.5",
        " # {} 0",
        " # {a=\"\0\"} 1",
        " # {a=\"b\"} 1 ",
        " # {a=\"b\"}  1",
        " # {a=\"b\",} 1",
        " # x",
        " #",
    ]);
    (name, prop::option::of(Just(" 17.5")), exemplar)
        .prop_map(|(n, ts, e)| format!("{n} 1{}{e}\n", ts.unwrap_or("")))
}

/// One generated sample: name, labels (name, raw value), value, timestamp.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    ts_ms: Option<i64>,
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._/-]{0,20}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        prop::sample::select(vec![
            "\"".to_string(),
            "\\".to_string(),
            "\n".to_string(),
            "a\\nb".to_string(),
            "{}=,#".to_string(),
        ]),
    ]
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,15}",
        prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,10}", label_value(), 0..6),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        ],
        prop::option::of(-4_000_000_000_000i64..4_000_000_000_000),
    )
        .prop_map(|(name, labels, value, ts_ms)| Sample {
            name,
            labels: labels
                .into_iter()
                .filter(|(n, _)| n != "__name__")
                .collect(),
            value,
            ts_ms,
        })
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

fn render(samples: &[Sample], openmetrics: bool) -> String {
    let mut out = String::new();
    for s in samples {
        out.push_str(&s.name);
        if !s.labels.is_empty() {
            let parts: Vec<String> = s
                .labels
                .iter()
                .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(out, "{{{}}}", parts.join(","));
        }
        // `{:?}` prints the shortest representation that reads back exactly.
        let _ = write!(out, " {:?}", s.value);
        if let Some(ms) = s.ts_ms {
            if openmetrics {
                let _ = write!(out, " {}", om_seconds(ms));
            } else if ms >= 0 {
                let _ = write!(out, " {ms}");
            }
        }
        out.push('\n');
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// Milliseconds written as OpenMetrics seconds.
fn om_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    format!("{sign}{}.{:03}", ms.abs() / 1000, ms.abs() % 1000)
}

fn expected_labels(s: &Sample) -> Labels {
    Labels::from_pairs(
        std::iter::once(("__name__", s.name.as_str()))
            .chain(s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
    )
}

fn check_round_trip(samples: &[Sample], openmetrics: bool) -> Result<(), TestCaseError> {
    let body = render(samples, openmetrics);
    let mut p = Parser::new(body.as_bytes(), if openmetrics { OM } else { TEXT });
    let mut builder = LabelsBuilder::default();
    for s in samples {
        let entry = p.next();
        prop_assert!(
            matches!(entry, Some(Ok(Entry::Series))),
            "{entry:?} in {body:?}"
        );
        let (_, ts, v) = p.series();
        prop_assert_eq!(p.labels(&mut builder), expected_labels(s));
        if s.value.is_nan() {
            prop_assert_eq!(v.to_bits(), super::NORMAL_NAN_BITS);
        } else {
            prop_assert_eq!(v.to_bits(), s.value.to_bits());
        }
        let want_ts = match s.ts_ms {
            // Prometheus truncates `seconds * 1000`, so 542947266.833
            // becomes 542947266832: the rounding error of the float.
            Some(ms) if openmetrics => {
                let seconds: f64 = om_seconds(ms).parse().unwrap_or(f64::NAN);
                Some((seconds * 1000.0) as i64)
            }
            Some(ms) if ms >= 0 => Some(ms),
            _ => None,
        };
        prop_assert_eq!(ts, want_ts);
    }
    prop_assert!(p.next().is_none());
    Ok(())
}

/// Applies each `(place, byte, op)`: op 0 replaces the byte there, 1
/// inserts one, 2 removes one (past the end: appends).
fn mutate(body: &mut Vec<u8>, edits: Vec<(prop::sample::Index, u8, u8)>) {
    for (at, byte, op) in edits {
        let i = at.index(body.len() + 1);
        match op {
            0 if i < body.len() => body[i] = byte,
            1 => body.insert(i, byte),
            _ if i < body.len() => {
                body.remove(i);
            }
            _ => body.push(byte),
        }
    }
}

proptest! {
    #[test]
    fn prom_never_panics_on_arbitrary_bytes(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        drain(&buf, TEXT);
    }

    #[test]
    fn openmetrics_never_panics_on_arbitrary_bytes(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        drain(&buf, OM);
    }

    #[test]
    fn parsers_never_panic_on_grammar_soup(buf in grammar_bytes()) {
        drain(&buf, TEXT);
        drain(&buf, OM);
    }

    #[test]
    fn parsers_never_panic_on_mutated_valid_input(
        samples in prop::collection::vec(sample(), 1..5),
        openmetrics: bool,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut body = render(&samples, openmetrics).into_bytes();
        mutate(&mut body, edits);
        drain(&body, TEXT);
        drain(&body, OM);
    }

    #[test]
    fn fast_lines_read_as_the_token_machine_on_grammar_soup(buf in grammar_bytes()) {
        same_as_token_machine(&buf, TEXT)?;
        same_as_token_machine(&buf, OM)?;
    }

    #[test]
    fn fast_lines_read_as_the_token_machine_on_mutated_valid_input(
        metas in prop::collection::vec(prop_oneof![meta_line(), exemplar_line()], 0..4),
        samples in prop::collection::vec(sample(), 1..5),
        openmetrics: bool,
        edits in prop::collection::vec((any::<prop::sample::Index>(), grammar_byte(), 0u8..3), 0..3),
    ) {
        let mut body = metas.concat().into_bytes();
        body.extend_from_slice(render(&samples, openmetrics).as_bytes());
        mutate(&mut body, edits);
        same_as_token_machine(&body, TEXT)?;
        same_as_token_machine(&body, OM)?;
    }

    #[test]
    fn deferred_series_checks_fail_as_the_token_machine(
        lines in prop::collection::vec(checked_line(), 1..6),
        eof: bool,
    ) {
        let mut body = lines.concat();
        if eof {
            body.extend_from_slice(b"# EOF\n");
        }
        same_as_token_machine(&body, TEXT)?;
        same_as_token_machine(&body, OM)?;
    }

    #[test]
    fn prom_round_trips_generated_expositions(samples in prop::collection::vec(sample(), 0..8)) {
        check_round_trip(&samples, false)?;
    }

    #[test]
    fn openmetrics_round_trips_generated_expositions(samples in prop::collection::vec(sample(), 0..8)) {
        check_round_trip(&samples, true)?;
    }
}
