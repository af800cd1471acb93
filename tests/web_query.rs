//! `/api/v1/query_range` and the PromQL subset of `/api/v1/query` over real
//! HTTP, against the web fixture's series: results, Prometheus's JSON and
//! every refusal with its status and error type.

mod web_support;

use std::sync::atomic::Ordering;

use edgescrape::promql::Limits;
use edgescrape::web::format::api_timestamp;
use edgescrape::web::{Metrics, WebOptions};
use serde_json::{json, Value};
use web_support::{send, Fixture, Reply, TestLifecycle};

fn start(limits: Limits) -> Fixture {
    let lifecycle = TestLifecycle::default();
    lifecycle.ready.store(true, Ordering::SeqCst);
    let options = WebOptions {
        query_limits: limits,
        ..WebOptions::default()
    };
    Fixture::start(options, lifecycle, Metrics::new())
}

fn range(f: &Fixture, query: &str, start: i64, end: i64, step: &str) -> Reply {
    let url = format!("{}/api/v1/query_range", f.base);
    send(
        ureq::get(&url)
            .query("query", query)
            .query("start", &api_timestamp(start))
            .query("end", &api_timestamp(end))
            .query("step", step),
        None,
    )
}

#[track_caller]
fn refused(r: &Reply, status: u16, error_type: &str, msg: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], error_type, "{}", r.body);
    let got = v["error"].as_str().unwrap_or_default();
    assert!(got.contains(msg), "{got}");
}

#[test]
fn range_queries_answer_matrix_json() {
    let f = start(Limits::default());
    let t0 = f.t0;
    let r = range(&f, "up", t0 - 30_000, t0, "15s");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["data"]["resultType"], "matrix");
    let result = &v["data"]["result"];
    assert_eq!(
        result[0]["metric"],
        json!({"__name__": "up", "instance": "10.0.0.6:9100", "job": "node"})
    );
    let ts = |ms: i64| -> Value { serde_json::from_str(&api_timestamp(ms)).expect("number") };
    assert_eq!(
        result[0]["values"],
        json!([
            [ts(t0 - 30_000), "0"],
            [ts(t0 - 15_000), "1"],
            [ts(t0), "1"]
        ])
    );
    assert_eq!(
        result[1]["values"],
        json!([[ts(t0 - 15_000), "0"], [ts(t0), "0"]])
    );

    let r = range(&f, "count by (job) (up) * 10", t0 - 15_000, t0, "15");
    assert_eq!(
        r.json()["data"]["result"],
        json!([{"metric": {"job": "node"}, "values": [[ts(t0 - 15_000), "20"], [ts(t0), "20"]]}])
    );

    // A form POST, as Grafana sends, and a scalar expression.
    let url = format!("{}/api/v1/query_range", f.base);
    let body = format!(
        "query=1%2B1&start={}&end={}&step=1m",
        api_timestamp(t0),
        api_timestamp(t0)
    );
    let r = send(
        ureq::post(&url).set("Content-Type", "application/x-www-form-urlencoded"),
        Some(&body),
    );
    assert_eq!(
        r.json()["data"]["result"],
        json!([{"metric": {}, "values": [[ts(t0), "2"]]}])
    );
}

#[test]
fn instant_queries_evaluate_the_subset() {
    let f = start(Limits::default());
    let url = format!("{}/api/v1/query", f.base);
    let at = api_timestamp(f.t0);
    let get = |q: &str| send(ureq::get(&url).query("query", q).query("time", &at), None);
    let r = get("sum without (instance) (up)");
    assert_eq!(
        r.json()["data"]["result"],
        json!([{"metric": {"job": "node"}, "value": [serde_json::from_str::<Value>(&at).unwrap(), "1"]}])
    );
    let r = get("2 * 3");
    assert_eq!(r.json()["data"]["resultType"], "scalar");
    assert_eq!(r.json()["data"]["result"][1], "6");
    let r = get("up{instance=\"10.0.0.6:9100\"}[20s]");
    assert_eq!(r.json()["data"]["resultType"], "matrix");
    assert_eq!(r.json()["data"]["result"][0]["values"][0][1], "1");
    let r = get("histogram_quantile(0.9, up)");
    refused(
        &r,
        400,
        "bad_data",
        "invalid parameter \"query\": 1:1: parse error: function \"histogram_quantile\"",
    );
}

#[test]
fn bad_ranges_and_limits_are_refused_as_prometheus() {
    let f = start(Limits {
        max_series: 3,
        ..Limits::default()
    });
    let t0 = f.t0;
    let cases: [(&str, i64, i64, &str, u16, &str, &str); 7] = [
        (
            "up",
            t0,
            t0 - 1_000,
            "1s",
            400,
            "bad_data",
            "invalid parameter \"end\": end timestamp must not be before start time",
        ),
        (
            "up",
            t0,
            t0,
            "0",
            400,
            "bad_data",
            "invalid parameter \"step\": zero or negative query resolution step widths",
        ),
        (
            "up",
            t0,
            t0,
            "soon",
            400,
            "bad_data",
            "invalid parameter \"step\": cannot parse \"soon\" to a valid duration",
        ),
        (
            "up",
            t0 - 11_001_000,
            t0,
            "1s",
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
        (
            "up[1m]",
            t0,
            t0,
            "1s",
            400,
            "bad_data",
            "invalid expression type \"range vector\" for range query",
        ),
        (
            "sum(",
            t0,
            t0,
            "1s",
            400,
            "bad_data",
            "1:5: parse error: unexpected end of input",
        ),
        (
            "{job=~\".+\"}",
            t0,
            t0,
            "1s",
            422,
            "execution",
            "more than 3 series (--query.max-series)",
        ),
    ];
    for (query, start, end, step, status, error_type, msg) in cases {
        refused(&range(&f, query, start, end, step), status, error_type, msg);
    }
    assert_eq!(range(&f, "up", t0 - 11_000_000, t0, "1s").status, 200);
    let url = format!("{}/api/v1/query_range", f.base);
    let r = send(
        ureq::get(&url)
            .query("query", "up")
            .query("start", &api_timestamp(t0))
            .query("end", &api_timestamp(t0))
            .query("step", "1s")
            .query("timeout", "0s"),
        None,
    );
    refused(&r, 503, "timeout", "query timed out");
}
