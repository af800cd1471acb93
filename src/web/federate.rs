//! `/federate`: the latest sample of every matching series in the Prometheus
//! text format (0.0.4), as Prometheus's `web/federate.go` writes it.
//!
//! As Prometheus: samples are grouped by metric name (one `# TYPE name
//! untyped` per run of a name, no HELP), every sample carries its timestamp,
//! labels with empty values are left out, and the external labels the series
//! does not already have are appended after its own labels, `instance=""`
//! included when the external labels have no `instance`. Stale markers never
//! reach the output (the view excludes them). Series of one name keep label
//! order, which Prometheus leaves to an unstable sort.

use std::fmt::Write;

use crate::labels::{Labels, INSTANCE, METRIC_NAME};
use crate::web::format;
use crate::web::views::Sample;

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes `samples` in federation order with `external_labels` attached;
/// a series given more than once is written once.
pub fn encode(mut samples: Vec<Sample>, external_labels: &Labels) -> String {
    samples.sort_by(|a, b| {
        let na = a.0.get(METRIC_NAME).unwrap_or("");
        let nb = b.0.get(METRIC_NAME).unwrap_or("");
        na.cmp(nb).then_with(|| a.0.cmp(&b.0))
    });
    samples.dedup_by(|a, b| a.0 == b.0);
    let mut external: Vec<(&str, &str)> =
        external_labels.iter().map(|l| (l.name, l.value)).collect();
    if !external_labels.has(INSTANCE) {
        external.push((INSTANCE, ""));
        external.sort_unstable();
    }

    let mut out = String::with_capacity(128 * samples.len());
    let mut last_name: Option<&str> = None;
    for (labels, t, v) in &samples {
        let Some(name) = labels.get(METRIC_NAME).filter(|n| !n.is_empty()) else {
            log::warn!(metric:% = labels; "Ignoring nameless metric during federation");
            continue;
        };
        if last_name != Some(name) {
            let _ = writeln!(out, "# TYPE {name} untyped");
            last_name = Some(name);
        }
        out.push_str(name);
        let mut n = 0;
        let mut label = |out: &mut String, k: &str, v: &str| {
            out.push(if n == 0 { '{' } else { ',' });
            n += 1;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        };
        for l in labels.iter() {
            if l.name != METRIC_NAME && !l.value.is_empty() {
                label(&mut out, l.name, l.value);
            }
        }
        for (k, v) in &external {
            if labels.get(k).map_or(true, str::is_empty) {
                label(&mut out, k, v);
            }
        }
        if n > 0 {
            out.push('}');
        }
        let _ = writeln!(out, " {} {t}", format::text_value(*v));
    }
    out
}

/// Label value escaping of the text format: `\`, `"` and newline.
fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_matches_prometheus_federation() {
        let samples = vec![
            (
                Labels::from_pairs([("__name__", "up"), ("job", "b"), ("instance", "h:2")]),
                1_000,
                0.0,
            ),
            (
                Labels::from_pairs([("__name__", "go_goroutines"), ("job", "a\"\n\\")]),
                2_000,
                1e6,
            ),
            (
                Labels::from_pairs([("__name__", "up"), ("job", "a"), ("instance", "h:1")]),
                1_000,
                1.0,
            ),
            (Labels::from_pairs([("job", "nameless")]), 1_000, 1.0),
            (
                Labels::from_pairs([("__name__", "up"), ("job", "a"), ("instance", "h:1")]),
                1_000,
                1.0,
            ),
        ];
        let ext = Labels::from_pairs([("zone", "z1"), ("job", "ext")]);
        assert_eq!(
            encode(samples, &ext),
            "# TYPE go_goroutines untyped\n\
             go_goroutines{job=\"a\\\"\\n\\\\\",instance=\"\",zone=\"z1\"} 1e+06 2000\n\
             # TYPE up untyped\n\
             up{instance=\"h:1\",job=\"a\",zone=\"z1\"} 1 1000\n\
             up{instance=\"h:2\",job=\"b\",zone=\"z1\"} 0 1000\n"
        );
    }
}
