//! The query API against real Prometheus 2.42: edgescrape scrapes a target
//! whose counters grow, reset and vanish, and remote_writes every sample to
//! a Prometheus started by the test; then a table of expressions is asked
//! of both, as instant queries and as range queries over several ranges and
//! steps. The answers must hold the same series with the same timestamps,
//! and values equal within float tolerance.
//!
//! The ranges stay within the last minute, which the head's window serves;
//! the same table applies unchanged once the past is read from the WAL.

mod peers;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peers::exposition::{ExpositionServer, Step};
use peers::{free_port, wait_http_ok, wait_until, ChildGuard};
use serde_json::Value;

/// Expressions asked of both, covering every part of the subset.
const EXPRESSIONS: &[&str] = &[
    "req_total",
    "temp",
    "flappy",
    "up",
    "rate(req_total[10s])",
    "irate(req_total[5s])",
    "increase(req_total[15s])",
    "delta(temp[10s])",
    "rate(flappy[6s])",
    "avg_over_time(temp[10s])",
    "min_over_time(temp[7s])",
    "max_over_time(temp[7s])",
    "sum_over_time(req_total[10s])",
    "count_over_time(flappy[10s])",
    "last_over_time(flappy[5s])",
    "sum(rate(req_total[10s]))",
    "sum by (path) (req_total)",
    "avg without (path) (req_total)",
    "max(temp)",
    "min by (sensor) (temp) - 3",
    "count(flappy)",
    "count by (__name__) ({job=\"q\"})",
    "2 * rate(req_total{path=~\"a|b\"}[10s]) / 3",
    "-temp",
    "temp ^ 2 % 7",
    "1 + 2 * 3",
    "req_total{path!=\"a\"}",
    "{__name__=~\"req_.*\",path!~\"b\"}",
];

/// One scrape's exposition: step `i` of the target.
fn exposition(i: u64) -> String {
    let mut body = format!(
        "# TYPE req_total counter\nreq_total{{path=\"a\"}} {}\nreq_total{{path=\"b\"}} {}\n\
         # TYPE temp gauge\ntemp{{sensor=\"x\"}} {}\ntemp{{sensor=\"y\"}} {}\n",
        5 * i,
        (i % 13) * 7,
        20.0 + ((i * 37) % 11) as f64 * 0.5,
        -1.25 * ((i * 17) % 5) as f64,
    );
    // Present for ten scrapes, gone for ten: stale markers in between.
    if (i / 10) % 2 == 0 {
        body.push_str(&format!("flappy {}\n", i * 3));
    }
    body
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn get(base: &str, path: &str, params: &[(&str, &str)]) -> Value {
    let mut request = ureq::get(&format!("{base}{path}"));
    for (k, v) in params {
        request = request.query(k, v);
    }
    let text = match request.call() {
        Ok(r) => r.into_string().unwrap_or_default(),
        Err(ureq::Error::Status(_, r)) => r.into_string().unwrap_or_default(),
        Err(e) => panic!("{base}{path}: {e}"),
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// A result as series (labels as JSON) → points (timestamp text, value).
type Series = BTreeMap<String, Vec<(String, f64)>>;

fn normalize(answer: &Value, what: &str) -> Series {
    assert_eq!(answer["status"], "success", "{what}: {answer}");
    let data = &answer["data"];
    let point = |p: &Value| {
        let v = p[1].as_str().unwrap_or("NaN");
        (p[0].to_string(), v.parse::<f64>().unwrap_or(f64::NAN))
    };
    match data["resultType"].as_str() {
        Some("scalar") => BTreeMap::from([("scalar".to_string(), vec![point(&data["result"])])]),
        Some("vector") | Some("matrix") => data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let points = match s.get("value") {
                    Some(p) => vec![point(p)],
                    None => s["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(point)
                        .collect(),
                };
                (s["metric"].to_string(), points)
            })
            .collect(),
        other => panic!("{what}: result type {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[track_caller]
fn assert_same(edge: &Value, prom: &Value, what: &str) {
    assert_eq!(
        edge["data"]["resultType"], prom["data"]["resultType"],
        "{what}"
    );
    let (e, p) = (normalize(edge, what), normalize(prom, what));
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        p.keys().collect::<Vec<_>>(),
        "{what}: series differ"
    );
    for (series, points) in &e {
        let want = &p[series];
        let times = |v: &Vec<(String, f64)>| v.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
        assert_eq!(times(points), times(want), "{what} {series}: timestamps");
        for ((t, a), (_, b)) in points.iter().zip(want) {
            assert!(
                close(*a, *b),
                "{what} {series} at {t}: edgescrape {a}, Prometheus {b}"
            );
        }
    }
}

fn start_prometheus(dir: &Path) -> (ChildGuard, String) {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").expect("write prometheus config");
    let port = free_port();
    let guard = ChildGuard::spawn(
        "/usr/bin/prometheus",
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.join("prom").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-remote-write-receiver".to_string(),
        ],
        &dir.join("prometheus.log"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    (guard, base)
}

fn start_edgescrape(dir: &Path, target: &str, prom_base: &str) -> (ChildGuard, String) {
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\n\
         scrape_configs:\n  - job_name: q\n    metrics_path: /m\n    static_configs:\n      - targets: [\"{target}\"]\n\
         remote_write:\n  - url: {prom_base}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\n"
    );
    let cfg = dir.join("edgescrape.yml");
    std::fs::write(&cfg, config).expect("write config");
    let port = free_port();
    let guard = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_edgescrape"),
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.join("edgescrape.log"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    (guard, base)
}

/// How many `up` samples a server holds in the minute before `at_ms`.
fn up_samples(base: &str, at_ms: i64) -> f64 {
    let v = get(
        base,
        "/api/v1/query",
        &[
            ("query", "count_over_time(up[1m])"),
            ("time", &seconds(at_ms)),
        ],
    );
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn queries_agree_with_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps: Vec<Step> = (0..400).map(|i| Step::text(&exposition(i))).collect();
    let target = ExpositionServer::start(HashMap::from([("/m".to_string(), steps)]));
    let (_prom, prom) = start_prometheus(dir.path());
    let (_edge, edge) = start_edgescrape(dir.path(), &target.address, &prom);

    // 45 scrapes, then wait for Prometheus to hold everything up to `end`.
    assert!(wait_until(Duration::from_secs(90), || up_samples(
        &edge,
        now_ms()
    ) >= 45.0));
    let end = now_ms() - 1_500;
    let held = up_samples(&edge, end);
    assert!(
        wait_until(Duration::from_secs(30), || up_samples(&prom, end) == held),
        "Prometheus holds {} up samples before {end}, edgescrape {held}",
        up_samples(&prom, end)
    );

    let ranges = [
        (end - 40_000, end, "1"),
        (end - 40_000, end, "5s"),
        (end - 33_000, end - 4_000, "3.5"),
    ];
    for q in EXPRESSIONS {
        for (start, stop, step) in ranges {
            let params = [
                ("query", *q),
                ("start", &seconds(start)),
                ("end", &seconds(stop)),
                ("step", step),
            ];
            let what = format!("query_range {q} [{start}, {stop}] step {step}");
            let e = get(&edge, "/api/v1/query_range", &params);
            let p = get(&prom, "/api/v1/query_range", &params);
            assert_same(&e, &p, &what);
            // Equal but empty would prove nothing.
            assert!(!normalize(&e, &what).is_empty(), "{what}: no result");
        }
        for at in [end, end - 12_345, end - 30_000] {
            let params = [("query", *q), ("time", &seconds(at))];
            let what = format!("query {q} at {at}");
            let e = get(&edge, "/api/v1/query", &params);
            let p = get(&prom, "/api/v1/query", &params);
            assert_same(&e, &p, &what);
        }
    }
}
