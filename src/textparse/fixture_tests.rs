//! The shipped fixtures parse completely, and the same series come out of
//! both formats.

use super::testutil::{parse_all, Got};

#[path = "../../tests/fixtures/synthetic.rs"]
mod synthetic;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn samples(entries: &[Got]) -> Vec<(String, u64, Option<i64>)> {
    entries
        .iter()
        .filter_map(|e| match e {
            Got::Series { lset, v, t, .. } => Some((lset.to_string(), *v, *t)),
            _ => None,
        })
        .collect()
}

#[test]
fn node_exporter_fixture_parses_in_both_formats() {
    let prom = include_bytes!("../../tests/fixtures/node_exporter.prom");
    let om = include_bytes!("../../tests/fixtures/node_exporter.om");
    let text_entries = parse_all(prom, TEXT).unwrap_or_else(|e| panic!("text: {e}"));
    let om_entries = parse_all(om, OM).unwrap_or_else(|e| panic!("openmetrics: {e}"));
    let text_samples = samples(&text_entries);
    assert_eq!(text_samples.len(), 507);
    assert_eq!(text_samples, samples(&om_entries));
    assert!(text_samples
        .iter()
        .any(|(l, _, _)| l.starts_with("{__name__=\"node_cpu_seconds_total\"")));
}

#[test]
fn synthetic_fixture_has_10000_series_alike_in_both_formats() {
    let text = synthetic::exposition(10_000, false);
    let om = synthetic::exposition(10_000, true);
    assert_eq!(text, synthetic::exposition(10_000, false), "deterministic");
    let text_entries = parse_all(&text, TEXT).unwrap_or_else(|e| panic!("text: {e}"));
    let om_entries = parse_all(&om, OM).unwrap_or_else(|e| panic!("openmetrics: {e}"));
    let (text_samples, om_samples) = (samples(&text_entries), samples(&om_entries));
    assert_eq!(text_samples.len(), 10_000);
    assert_eq!(om_samples.len(), 10_000);
    // Same labels and values. OpenMetrics timestamps are seconds; Prometheus
    // truncates `seconds * 1000`, which can land one millisecond low.
    for (t, o) in text_samples.iter().zip(&om_samples) {
        assert_eq!((&t.0, t.1), (&o.0, o.1));
        match (t.2, o.2) {
            (Some(a), Some(b)) => assert!(a - b == 0 || a - b == 1, "{t:?} vs {o:?}"),
            (a, b) => assert_eq!(a, b, "{t:?}"),
        }
    }
    let exemplars = om_entries
        .iter()
        .filter(|e| matches!(e, Got::Series { e: Some(_), .. }))
        .count();
    assert!(exemplars > 100, "{exemplars} exemplars");
}
