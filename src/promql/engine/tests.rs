use super::*;
use crate::storage::selector::matches_all;
use crate::storage::stale_nan;

/// Two counters of job `a` and `b` sampled every 10 s from 0 to 120 s,
/// and a gauge that goes stale at 60 s.
fn data() -> Vec<SeriesSamples> {
    let counter = |job: &str, per_step: f64| {
        (
            Labels::from_pairs([("__name__", "c_total"), ("job", job)]),
            (0..=12)
                .map(|i| (i * 10_000, per_step * i as f64))
                .collect(),
        )
    };
    vec![
        counter("a", 10.0),
        counter("b", 20.0),
        (
            Labels::from_pairs([("__name__", "g"), ("job", "a")]),
            vec![(0, 1.0), (30_000, 3.0), (60_000, stale_nan())],
        ),
    ]
}

fn select(matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<SeriesSamples>, String> {
    Ok(data()
        .into_iter()
        .filter(|(l, _)| matches_all(matchers, l))
        .map(|(l, s)| {
            let s = s
                .into_iter()
                .filter(|&(t, _)| t >= mint && t <= maxt)
                .collect();
            (l, s)
        })
        .collect())
}

#[track_caller]
fn instant(q: &str, at: i64) -> Value {
    instant_query(q, at, &Limits::default(), &select).unwrap_or_else(|e| panic!("{q}: {e}"))
}

#[track_caller]
fn vector(q: &str, at: i64) -> Vec<(String, f64)> {
    match instant(q, at) {
        Value::Vector(v) => v.into_iter().map(|(l, v)| (format!("{l:?}"), v)).collect(),
        other => panic!("{q}: {other:?}"),
    }
}

#[track_caller]
fn values(q: &str, at: i64) -> Vec<f64> {
    vector(q, at).into_iter().map(|(_, v)| v).collect()
}

#[test]
fn selectors_follow_lookback_and_staleness() {
    assert_eq!(values("g", 45_000), [3.0]);
    // The stale marker at 60s hides the series.
    assert!(values("g", 65_000).is_empty());
    // Five minutes after the last sample the series is gone.
    assert_eq!(values("c_total{job=\"a\"}", 120_000 + 300_000), [120.0]);
    assert!(values("c_total{job=\"a\"}", 120_001 + 300_000).is_empty());
}

#[test]
fn functions_aggregations_and_arithmetic() {
    assert_eq!(values("rate(c_total[1m])", 120_000), [1.0, 2.0]);
    assert_eq!(values("sum(rate(c_total[1m]))", 120_000), [3.0]);
    assert_eq!(values("count(c_total) * 2", 60_000), [4.0]);
    assert_eq!(values("max by (job) (c_total) / 10", 60_000), [6.0, 12.0]);
    assert_eq!(values("min without (job) (c_total)", 60_000), [60.0]);
    assert_eq!(values("avg(c_total)", 60_000), [90.0]);
    assert_eq!(values("2 ^ 2 - c_total{job='a'}", 10_000), [-6.0]);
    assert_eq!(values("max_over_time(g[1m])", 70_000), [3.0]);
    assert_eq!(values("count_over_time(g[5m])", 70_000), [2.0]);
    // last_over_time keeps the name; rate and arithmetic drop it.
    assert!(vector("last_over_time(g[1m])", 50_000)[0]
        .0
        .contains("__name__"));
    assert!(!vector("-g", 50_000)[0].0.contains("__name__"));
    assert_eq!(instant("1 + 1", 0), Value::Scalar(2.0));
    match instant("g[40s]", 50_000) {
        Value::Matrix(m) => assert_eq!(m[0].1, [(30_000, 3.0)]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn range_queries_step_through_time() {
    let got = range_query(
        "sum(c_total)",
        0,
        60_000,
        20_000,
        &Limits::default(),
        &select,
    )
    .expect("range query");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].1,
        [(0, 0.0), (20_000, 60.0), (40_000, 120.0), (60_000, 180.0)]
    );
    let scalar = range_query("3", 0, 10_000, 5_000, &Limits::default(), &select).expect("scalar");
    assert_eq!(scalar[0].1, [(0, 3.0), (5_000, 3.0), (10_000, 3.0)]);
}

#[test]
fn limits_and_bad_ranges_are_refused() {
    let run = |q: &str, start: i64, end: i64, step: i64, limits: Limits| {
        range_query(q, start, end, step, &limits, &select).map(|_| ())
    };
    let d = Limits::default();
    assert!(
        matches!(run("up", 10, 0, 1, d), Err(QueryError::BadData(m)) if m.contains("invalid range"))
    );
    assert!(
        matches!(run("up", 0, 10, 0, d), Err(QueryError::BadData(m)) if m.contains("invalid range"))
    );
    assert!(
        matches!(run("c_total[1m]", 0, 10, 1, d), Err(QueryError::BadData(m)) if m.contains("range vector"))
    );
    let few = Limits { max_series: 1, ..d };
    assert!(
        matches!(run("c_total", 0, 10, 1, few), Err(QueryError::Execution(m)) if m.contains("max-series"))
    );
    let tiny = Limits {
        max_samples: 3,
        ..d
    };
    assert!(
        matches!(run("c_total", 0, 100_000, 1_000, tiny), Err(QueryError::Execution(m)) if m.contains("too many samples"))
    );
    let none = Limits {
        timeout: Duration::ZERO,
        ..d
    };
    assert!(matches!(
        run("c_total", 0, 100_000, 1_000, none),
        Err(QueryError::Timeout(_))
    ));
    // Dropping the metric name makes the two series of different metrics
    // collide, as in Prometheus.
    let e = instant_query("rate({job=\"a\"}[1m])", 50_000, &d, &select);
    assert!(matches!(e, Err(QueryError::Execution(m)) if m.contains("same labelset")));
}
