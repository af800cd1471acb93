//! `/api/v1/*`: the JSON Prometheus 2.42's `web/api/v1` writes, field for
//! field and in the same order (`Target`, `DroppedTarget`,
//! `TargetDiscovery`, the instant-vector result and the status endpoints).
//!
//! The JSON is written by hand rather than derived so that numbers come out
//! exactly as Go writes them (`0`, not `0.0`; timestamps as `1.5`).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::labels::Labels;
use crate::web::format;
use crate::web::views::{DroppedTargetInfo, Sample, TargetInfo};

/// Prometheus's API error types that edgescrape can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `bad_data` (HTTP 400).
    BadData,
    /// `execution` (HTTP 422): a valid query that cannot be evaluated.
    Execution,
    /// `timeout` (HTTP 503): a query past its deadline.
    Timeout,
    /// `internal` (HTTP 500).
    Internal,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Execution => 422,
            ErrorType::Timeout => 503,
            ErrorType::Internal => 500,
        }
    }
}

fn json_str(out: &mut String, s: &str) {
    // serde_json escapes exactly what JSON needs; it cannot fail on a &str.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

fn json_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, l.name);
        out.push(':');
        json_str(out, l.value);
    }
    out.push('}');
}

/// `{"status":"success","data":<data>}`.
pub fn success(data: &str) -> String {
    format!("{{\"status\":\"success\",\"data\":{data}}}")
}

/// `{"status":"error","errorType":"...","error":"..."}`.
pub fn error(kind: ErrorType, msg: &str) -> String {
    let mut out = format!(
        "{{\"status\":\"error\",\"errorType\":\"{}\",\"error\":",
        kind.as_str()
    );
    json_str(&mut out, msg);
    out.push('}');
    out
}

/// Which targets `/api/v1/targets` lists (`state=` and `scrapePool=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetsFilter {
    /// Include active targets.
    pub active: bool,
    /// Include dropped targets.
    pub dropped: bool,
    /// Only this pool, when set.
    pub scrape_pool: Option<String>,
}

impl TargetsFilter {
    /// As Prometheus: `state` is case-insensitive; empty or `any` shows both,
    /// an unknown state shows neither (no error).
    pub fn new(state: Option<&str>, scrape_pool: Option<&str>) -> TargetsFilter {
        let state = state.unwrap_or("").to_ascii_lowercase();
        TargetsFilter {
            active: matches!(state.as_str(), "" | "any" | "active"),
            dropped: matches!(state.as_str(), "" | "any" | "dropped"),
            scrape_pool: scrape_pool.filter(|p| !p.is_empty()).map(str::to_string),
        }
    }

    fn keeps(&self, pool: &str) -> bool {
        self.scrape_pool.as_deref().map_or(true, |p| p == pool)
    }
}

/// Groups by pool, pools sorted by name, order inside a pool kept.
fn by_pool<T>(items: Vec<T>, pool: impl Fn(&T) -> &str) -> BTreeMap<String, Vec<T>> {
    let mut pools: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for item in items {
        pools.entry(pool(&item).to_string()).or_default().push(item);
    }
    pools
}

/// Active targets grouped by pool, as the page shows them.
pub fn active_by_pool(targets: Vec<TargetInfo>) -> BTreeMap<String, Vec<TargetInfo>> {
    by_pool(targets, |t| &t.scrape_pool)
}

/// The `data` of `/api/v1/targets` (Prometheus 2.42's `TargetDiscovery`).
/// `global_url` maps a scrape URL to its `globalUrl`.
pub fn targets_json(
    active: Vec<TargetInfo>,
    dropped: Vec<DroppedTargetInfo>,
    filter: &TargetsFilter,
    global_url: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(1024 * (active.len() + 1));
    out.push_str("{\"activeTargets\":[");
    let mut first = true;
    if filter.active {
        for (pool, targets) in active_by_pool(active) {
            if !filter.keeps(&pool) {
                continue;
            }
            for t in targets {
                if !first {
                    out.push(',');
                }
                first = false;
                target_json(&mut out, &pool, &t, &global_url(&t.scrape_url));
            }
        }
    }
    out.push_str("],\"droppedTargets\":[");
    first = true;
    if filter.dropped {
        for (pool, targets) in by_pool(dropped, |t| &t.scrape_pool) {
            if !filter.keeps(&pool) {
                continue;
            }
            for t in targets {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str("{\"discoveredLabels\":");
                json_labels(&mut out, &t.discovered_labels);
                out.push('}');
            }
        }
    }
    out.push_str("]}");
    out
}

fn target_json(out: &mut String, pool: &str, t: &TargetInfo, global_url: &str) {
    out.push_str("{\"discoveredLabels\":");
    json_labels(out, &t.discovered_labels);
    out.push_str(",\"labels\":");
    json_labels(out, &t.labels);
    for (key, value) in [
        ("scrapePool", pool),
        ("scrapeUrl", &t.scrape_url),
        ("globalUrl", global_url),
        ("lastError", &t.last_error),
    ] {
        let _ = write!(out, ",\"{key}\":");
        json_str(out, value);
    }
    let _ = write!(
        out,
        ",\"lastScrape\":\"{}\",\"lastScrapeDuration\":{},\"health\":\"{}\"",
        format::rfc3339_nano(t.last_scrape),
        format::json_float(t.last_scrape_duration.as_secs_f64()),
        t.health.as_str()
    );
    out.push_str(",\"scrapeInterval\":");
    json_str(out, &t.scrape_interval);
    out.push_str(",\"scrapeTimeout\":");
    json_str(out, &t.scrape_timeout);
    out.push('}');
}

/// The `data` of an instant query: `{"resultType":"vector","result":[...]}`,
/// series in label order.
pub fn vector_json(mut samples: Vec<Sample>) -> String {
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(64 + 128 * samples.len());
    out.push_str("{\"resultType\":\"vector\",\"result\":[");
    for (i, (labels, t, v)) in samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        json_labels(&mut out, labels);
        let _ = write!(
            out,
            ",\"value\":[{},\"{}\"]}}",
            format::api_timestamp(*t),
            format::api_value(*v)
        );
    }
    out.push_str("]}");
    out
}

/// The `data` of a scalar result: `{"resultType":"scalar","result":[t,"v"]}`.
pub fn scalar_json(t_ms: i64, v: f64) -> String {
    format!(
        "{{\"resultType\":\"scalar\",\"result\":[{},\"{}\"]}}",
        format::api_timestamp(t_ms),
        format::api_value(v)
    )
}

/// The `data` of a matrix result (a range query, or a range selector in an
/// instant query), series in the order given.
pub fn matrix_json(series: &[(Labels, Vec<(i64, f64)>)]) -> String {
    let points: usize = series.iter().map(|(_, s)| s.len()).sum();
    let mut out = String::with_capacity(64 + 128 * series.len() + 24 * points);
    out.push_str("{\"resultType\":\"matrix\",\"result\":[");
    for (i, (labels, samples)) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        json_labels(&mut out, labels);
        out.push_str(",\"values\":[");
        for (j, &(t, v)) in samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "[{},\"{}\"]",
                format::api_timestamp(t),
                format::api_value(v)
            );
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out
}

/// The `data` of `/api/v1/status/config`: `{"yaml":"..."}`.
pub fn config_json(yaml: &str) -> String {
    let mut out = String::from("{\"yaml\":");
    json_str(&mut out, yaml);
    out.push('}');
    out
}

/// The `data` of `/api/v1/status/flags`: an object sorted by flag name.
pub fn flags_json(flags: Vec<(String, String)>) -> String {
    let sorted: BTreeMap<String, String> = flags.into_iter().collect();
    let mut out = String::from("{");
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(&mut out, k);
        out.push(':');
        json_str(&mut out, v);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    #[test]
    fn state_filter_follows_prometheus() {
        let f = TargetsFilter::new(None, None);
        assert!(f.active && f.dropped);
        let f = TargetsFilter::new(Some("ANY"), Some(""));
        assert!(f.active && f.dropped && f.scrape_pool.is_none());
        let f = TargetsFilter::new(Some("Active"), Some("node"));
        assert!(f.active && !f.dropped);
        assert_eq!(f.scrape_pool.as_deref(), Some("node"));
        let f = TargetsFilter::new(Some("dropped"), None);
        assert!(!f.active && f.dropped);
        let f = TargetsFilter::new(Some("bogus"), None);
        assert!(!f.active && !f.dropped);
    }

    #[test]
    fn labels_compare_like_prometheus() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        let c = Labels::from_pairs([("__name__", "up")]);
        let d = Labels::from_pairs([("Zone", "x"), ("__name__", "up")]);
        assert_eq!(a.cmp(&b), Ordering::Less);
        assert_eq!(c.cmp(&a), Ordering::Less);
        assert_eq!(d.cmp(&c), Ordering::Less);
        assert_eq!(a.cmp(&a), Ordering::Equal);
    }

    #[test]
    fn vector_json_is_exact() {
        let s = vec![
            (
                Labels::from_pairs([("__name__", "x"), ("b", "2")]),
                1_500,
                f64::NAN,
            ),
            (
                Labels::from_pairs([("__name__", "x"), ("b", "1")]),
                2_000,
                0.25,
            ),
        ];
        assert_eq!(
            vector_json(s),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"x","b":"1"},"value":[2,"0.25"]},{"metric":{"__name__":"x","b":"2"},"value":[1.500,"NaN"]}]}"#
        );
    }

    #[test]
    fn errors_are_escaped() {
        assert_eq!(
            error(ErrorType::BadData, "bad \"q\""),
            r#"{"status":"error","errorType":"bad_data","error":"bad \"q\""}"#
        );
    }
}
