//! Every web endpoint over real HTTP, against views filled with realistic data.

mod web_support;

use std::io::Read;
use std::sync::atomic::Ordering;

use edgescrape::labels::Labels;
use edgescrape::web::{Metrics, MetricsWriter, WebOptions};
use serde_json::{json, Value};
use web_support::{get, send, Fixture, TestLifecycle};

fn ready_lifecycle() -> TestLifecycle {
    let l = TestLifecycle {
        external_labels: Labels::from_pairs([("site", "edge-7")]),
        ..TestLifecycle::default()
    };
    l.ready.store(true, Ordering::SeqCst);
    l
}

fn options() -> WebOptions {
    WebOptions {
        external_url: Some("http://edge.example:9099/".to_string()),
        ..WebOptions::default()
    }
}

fn start() -> Fixture {
    Fixture::start(options(), ready_lifecycle(), Metrics::new())
}

#[track_caller]
fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn targets_api_has_prometheus_2_42_shape() {
    let f = start();
    let port = f
        .server
        .as_ref()
        .map(|s| s.local_addr().port())
        .unwrap_or(0);
    let r = get(&format!("{}/api/v1/targets", f.base));
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");
    // Field order as Go's struct order.
    assert!(
        r.body
            .starts_with(r#"{"status":"success","data":{"activeTargets":[{"discoveredLabels":{"#),
        "{}",
        r.body
    );
    let v = r.json();
    assert_eq!(v["status"], "success");
    let mut data_keys = keys(&v["data"]);
    data_keys.sort_unstable();
    assert_eq!(data_keys, ["activeTargets", "droppedTargets"]);

    let active = v["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets");
    let order: Vec<(&str, &str)> = active
        .iter()
        .map(|t| {
            (
                t["scrapePool"].as_str().unwrap(),
                t["scrapeUrl"].as_str().unwrap(),
            )
        })
        .collect();
    let self_url = format!("http://localhost:{port}/metrics");
    assert_eq!(
        order,
        [
            ("demo", "http://127.0.0.1:9999/metrics"),
            ("node", "http://10.0.0.7:9100/metrics"),
            ("node", "http://10.0.0.8:9100/metrics"),
            ("node", "http://10.0.0.6:9100/metrics"),
            ("self", self_url.as_str()),
        ]
    );
    for t in active {
        let mut k = keys(t);
        k.sort_unstable();
        assert_eq!(
            k,
            [
                "discoveredLabels",
                "globalUrl",
                "health",
                "labels",
                "lastError",
                "lastScrape",
                "lastScrapeDuration",
                "scrapeInterval",
                "scrapePool",
                "scrapeTimeout",
                "scrapeUrl"
            ]
        );
    }

    let down = &active[1];
    assert_eq!(
        down["discoveredLabels"],
        json!({
            "__address__": "10.0.0.7:9100",
            "__meta_filepath": "/etc/sd/node.json",
            "__metrics_path__": "/metrics",
            "__scheme__": "http",
            "__scrape_interval__": "15s",
            "__scrape_timeout__": "10s",
            "job": "node"
        })
    );
    assert_eq!(
        down["labels"],
        json!({"instance": "10.0.0.7:9100", "job": "node"})
    );
    assert_eq!(down["scrapePool"], "node");
    assert_eq!(down["globalUrl"], "http://10.0.0.7:9100/metrics");
    assert_eq!(
        down["lastError"],
        "Get \"http://10.0.0.7:9100/metrics\": dial tcp 10.0.0.7:9100: connect: connection refused"
    );
    assert_eq!(down["lastScrapeDuration"], 1.002);
    assert_eq!(down["health"], "down");
    assert_eq!(down["scrapeInterval"], "15s");
    assert_eq!(down["scrapeTimeout"], "10s");
    let last = down["lastScrape"].as_str().unwrap();
    assert!(
        last.len() >= 20 && last.ends_with('Z') && last.as_bytes()[10] == b'T',
        "{last}"
    );

    let never = &active[2];
    assert_eq!(never["health"], "unknown");
    assert_eq!(never["lastScrape"], "0001-01-01T00:00:00Z");
    assert_eq!(never["lastError"], "");
    assert!(
        r.body
            .contains(r#""lastScrapeDuration":0,"health":"unknown""#),
        "{}",
        r.body
    );

    let up = &active[3];
    assert_eq!(up["health"], "up");
    assert_eq!(up["lastScrapeDuration"], 0.004321);

    // globalUrl as Prometheus's getGlobalURL: our own port → external URL,
    // another localhost port → external host with that port.
    assert_eq!(active[4]["globalUrl"], "http://edge.example:9099/metrics");
    assert_eq!(active[0]["globalUrl"], "http://edge.example:9999/metrics");

    let dropped = v["data"]["droppedTargets"]
        .as_array()
        .expect("droppedTargets");
    assert_eq!(
        dropped,
        &vec![
            json!({"discoveredLabels": {"__address__": "127.0.0.1:1", "job": "demo"}}),
            json!({"discoveredLabels": {"__address__": "10.0.0.9:9100", "__meta_filepath": "/etc/sd/node.json", "job": "node"}}),
        ]
    );
}

#[test]
fn targets_api_filters_by_state_and_pool() {
    let f = start();
    let count = |query: &str| {
        let v = get(&format!("{}/api/v1/targets{query}", f.base)).json();
        (
            v["data"]["activeTargets"].as_array().map_or(99, Vec::len),
            v["data"]["droppedTargets"].as_array().map_or(99, Vec::len),
        )
    };
    assert_eq!(count(""), (5, 2));
    assert_eq!(count("?state=any"), (5, 2));
    assert_eq!(count("?state=active"), (5, 0));
    assert_eq!(count("?state=Dropped"), (0, 2));
    assert_eq!(count("?state=bogus"), (0, 0));
    assert_eq!(count("?scrapePool=node"), (3, 1));
    assert_eq!(count("?state=active&scrapePool=self"), (1, 0));
    assert_eq!(count("?scrapePool=nope"), (0, 0));
}

#[test]
fn instant_query_returns_prometheus_vector_json() {
    let f = start();
    let now = f.t0;
    let url = format!("{}/api/v1/query", f.base);
    let r = send(ureq::get(&url).query("query", "up{job=\"node\"}"), None);
    assert_eq!(r.status, 200);
    assert!(
        r.json()["data"]["result"][0]["value"][0].is_number(),
        "{}",
        r.body
    );
    let eval = edgescrape::web::format::api_timestamp(now);
    let r = send(
        ureq::get(&url)
            .query("query", "up{job=\"node\"}")
            .query("time", &eval),
        None,
    );
    let v = r.json();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let result = v["data"]["result"].as_array().expect("result");
    assert_eq!(result.len(), 2);
    assert_eq!(
        result[0]["metric"],
        json!({"__name__": "up", "instance": "10.0.0.6:9100", "job": "node"})
    );
    assert_eq!(result[0]["value"][1], "1");
    // The value carries the evaluation time, as PromQL's.
    assert!(
        r.body.contains(&format!("\"value\":[{eval},\"1\"]")),
        "{}",
        r.body
    );
    assert_eq!(result[1]["metric"]["instance"], "10.0.0.7:9100");
    assert_eq!(result[1]["value"][1], "0");

    // Values formatted as Prometheus: NaN, +Inf, exponent form for tiny ones.
    let r = send(ureq::get(&url).query("query", "weird"), None);
    let values: Vec<(String, String)> = r.json()["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["kind"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        values,
        [
            ("inf".to_string(), "+Inf".to_string()),
            ("nan".to_string(), "NaN".to_string()),
            ("tiny".to_string(), "1e-07".to_string())
        ]
    );

    // An explicit time picks the sample current then; a stale series and
    // one older than the lookback are absent.
    let at = format!("{}.5", (now - 20_000) / 1000);
    let r = send(
        ureq::get(&url)
            .query("query", "{job=\"node\",__name__=~\"up|gone|old\"}")
            .query("time", &at),
        None,
    );
    let result = r.json()["data"]["result"].clone();
    let names: Vec<(&str, &str)> = result
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["__name__"].as_str().unwrap(),
                s["value"][1].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("gone", "1"), ("up", "0")]);
    assert!(
        r.body.contains(&format!("\"value\":[{at}00,")),
        "{}",
        r.body
    );
    let r = send(ureq::get(&url).query("query", "gone"), None);
    assert_eq!(r.json()["data"]["result"], json!([]));
    let r = send(ureq::get(&url).query("query", "old"), None);
    assert_eq!(r.json()["data"]["result"], json!([]));

    // POST form, as Grafana sends.
    let r = send(
        ureq::post(&url).set("Content-Type", "application/x-www-form-urlencoded"),
        Some("query=node_load1&time="),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"]["result"][0]["value"][1], "0.25");
    let r = send(
        ureq::get(&url).query("query", "node_filesystem_avail_bytes"),
        None,
    );
    assert_eq!(r.json()["data"]["result"][0]["value"][1], "12345678000");
}

#[test]
fn bad_queries_are_bad_data() {
    let f = start();
    let url = format!("{}/api/v1/query", f.base);
    let cases = [
        ("topk(1, up)", "aggregation \"topk\""),
        ("up > 1", "binary operator \">\" is not supported"),
        ("up{job=\"a\"", "parse error"),
        ("", "no expression found in input"),
        ("{job=~\".*\"}", "at least one non-empty matcher"),
    ];
    for (query, want) in cases {
        let r = send(ureq::get(&url).query("query", query), None);
        assert_eq!(r.status, 400, "{query}");
        let v = r.json();
        assert_eq!(v["status"], "error", "{query}");
        assert_eq!(v["errorType"], "bad_data", "{query}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.starts_with("invalid parameter \"query\": "), "{msg}");
        assert!(msg.contains(want), "{query}: {msg}");
        assert_eq!(keys(&v), ["error", "errorType", "status"]);
    }
    let r = send(
        ureq::get(&url)
            .query("query", "up")
            .query("time", "yesterday"),
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp"
    );
}

#[test]
fn federate_serves_latest_samples_in_text_format() {
    let f = start();
    let now = f.t0;
    let url = format!("{}/federate", f.base);
    let r = send(
        ureq::get(&url)
            .query("match[]", "{job=\"node\"}")
            .query("match[]", "up"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    let t = now - 15_000;
    let want = format!(
        "# TYPE node_filesystem_avail_bytes untyped\n\
         node_filesystem_avail_bytes{{instance=\"10.0.0.6:9100\",job=\"node\",mountpoint=\"/\",site=\"edge-7\"}} 1.2345678e+10 {t}\n\
         # TYPE node_load1 untyped\n\
         node_load1{{instance=\"10.0.0.6:9100\",job=\"node\",site=\"edge-7\"}} 0.25 {t}\n\
         # TYPE up untyped\n\
         up{{instance=\"10.0.0.6:9100\",job=\"node\",site=\"edge-7\"}} 1 {t}\n\
         up{{instance=\"10.0.0.7:9100\",job=\"node\",site=\"edge-7\"}} 0 {t}\n"
    );
    assert_eq!(r.body, want);

    let r = send(
        ureq::get(&url).query("match[]", "weird{kind=\"nan\"}"),
        None,
    );
    assert_eq!(
        r.body,
        format!("# TYPE weird untyped\nweird{{job=\"demo\",kind=\"nan\",instance=\"\",site=\"edge-7\"}} NaN {t}\n")
    );

    // As Prometheus 2.42: no match[] is an empty 200.
    let r = get(&url);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let r = send(
        ureq::get(&url).query("match[]", "{kind=~\".*\",__name__=\"weird\"}"),
        None,
    );
    assert_eq!(r.body.lines().count(), 4, "{}", r.body);
    let r = send(ureq::get(&url).query("match[]", "{job=~\".+\"}"), None);
    // Nine series; the stale one and the one past the lookback are left out.
    assert_eq!(
        r.body.lines().filter(|l| !l.starts_with('#')).count(),
        7,
        "{}",
        r.body
    );
    // Deliberately unlike Prometheus 2.42, whose match[] parser skips the
    // check: a selector that matches every series is refused here too.
    let r = send(ureq::get(&url).query("match[]", "{job=~\".*\"}"), None);
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("at least one non-empty matcher"),
        "{}",
        r.body
    );
    let r = send(ureq::get(&url).query("match[]", "up{"), None);
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("unexpected end of input inside braces"),
        "{}",
        r.body
    );
    let r = send(ureq::get(&url).query("match[]", "sum(up)"), None);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("only plain selectors"), "{}", r.body);
    let r = send(ureq::post(&url), Some(""));
    assert_eq!(r.status, 405);
}

#[test]
fn status_endpoints_show_config_and_flags() {
    let f = start();
    let r = get(&format!("{}/api/v1/status/config", f.base));
    assert_eq!(r.status, 200);
    let v = r.json();
    let yaml = v["data"]["yaml"].as_str().expect("yaml");
    assert!(yaml.contains("password: <secret>"), "{yaml}");
    assert_eq!(keys(&v["data"]), ["yaml"]);

    let r = get(&format!("{}/api/v1/status/flags", f.base));
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"config.file":"conf/prometheus.yml","web.listen-address":"127.0.0.1:0"}}"#
    );
}

#[test]
fn health_and_readiness() {
    let lifecycle = TestLifecycle::default();
    let f = Fixture::start(options(), lifecycle, Metrics::new());
    let r = get(&format!("{}/-/healthy", f.base));
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "edgescrape is Healthy.\n")
    );
    for path in [
        "/-/ready",
        "/api/v1/targets",
        "/api/v1/query?query=up",
        "/federate?match[]=up",
    ] {
        let r = get(&format!("{}{path}", f.base));
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "Service Unavailable"),
            "{path}"
        );
    }
    // Not gated: the page and self-metrics work during start-up.
    assert_eq!(get(&format!("{}/metrics", f.base)).status, 200);
    assert_eq!(get(&format!("{}/", f.base)).status, 200);

    f.lifecycle.ready.store(true, Ordering::SeqCst);
    let r = get(&format!("{}/-/ready", f.base));
    assert_eq!((r.status, r.body.as_str()), (200, "edgescrape is Ready.\n"));
    assert_eq!(get(&format!("{}/api/v1/targets", f.base)).status, 200);

    let r = send(ureq::head(&format!("{}/-/healthy", f.base)), None);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
}

#[test]
fn lifecycle_api_is_forbidden_unless_enabled() {
    let f = start();
    for path in ["/-/reload", "/-/quit"] {
        let url = format!("{}{path}", f.base);
        let r = send(ureq::post(&url), Some(""));
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Lifecycle API is not enabled.")
        );
        let r = send(ureq::put(&url), Some(""));
        assert_eq!(r.status, 403);
        let r = get(&url);
        assert_eq!(
            (r.status, r.body.as_str()),
            (405, "Only POST or PUT requests allowed")
        );
    }
    assert_eq!(f.lifecycle.reloads.load(Ordering::SeqCst), 0);
    assert_eq!(f.lifecycle.quits.load(Ordering::SeqCst), 0);
}

#[test]
fn lifecycle_api_reloads_and_quits_when_enabled() {
    let opts = WebOptions {
        enable_lifecycle: true,
        ..options()
    };
    let f = Fixture::start(opts, ready_lifecycle(), Metrics::new());
    let reload = format!("{}/-/reload", f.base);
    let r = send(ureq::post(&reload), Some(""));
    assert_eq!(r.status, 200);
    assert_eq!(f.lifecycle.reloads.load(Ordering::SeqCst), 1);

    f.lifecycle.fail_reload.store(true, Ordering::SeqCst);
    let r = send(ureq::put(&reload), Some(""));
    assert_eq!(r.status, 500);
    assert_eq!(
        r.body,
        "failed to reload config: conf/prometheus.yml:3: field scrape_intervall not found\n"
    );
    assert_eq!(f.lifecycle.reloads.load(Ordering::SeqCst), 2);

    let quit = format!("{}/-/quit", f.base);
    let r = send(ureq::post(&quit), Some(""));
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "Requesting termination... Goodbye!")
    );
    let r = send(ureq::post(&quit), Some(""));
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "Termination already in progress.")
    );
    assert_eq!(f.lifecycle.quits.load(Ordering::SeqCst), 1);
}

#[test]
fn metrics_endpoint_serves_sources_and_process_metrics() {
    let metrics = Metrics::new();
    metrics.add_source(|out: &mut MetricsWriter| {
        out.gauge(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            &[],
            1.0,
        );
        out.gauge(
            "prometheus_target_scrape_pool_targets",
            "Current number of targets in this scrape pool.",
            &[("scrape_job", "node")],
            3.0,
        );
    });
    let f = Fixture::start(options(), ready_lifecycle(), metrics);
    let r = get(&format!("{}/metrics", f.base));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    for want in [
        "\nprometheus_config_last_reload_successful 1.0\n",
        "\nprometheus_target_scrape_pool_targets{scrape_job=\"node\"} 3.0\n",
        "\n# TYPE process_cpu_seconds counter\n",
        "\nprocess_open_fds ",
        "\nprocess_threads ",
        "\nprocess_start_time_seconds ",
        "\nprocess_resident_memory_bytes ",
        "\nprometheus_build_info{",
        "\n# EOF\n",
    ] {
        assert!(r.body.contains(want), "missing {want:?} in\n{}", r.body);
    }
    let threads: f64 = r
        .body
        .lines()
        .find_map(|l| l.strip_prefix("process_threads "))
        .and_then(|v| v.parse().ok())
        .expect("process_threads value");
    assert!(
        threads >= 4.0,
        "the test threads, the web accept thread and this connection's thread: {threads}"
    );
}

#[test]
fn unknown_paths_and_methods() {
    let f = start();
    let r = get(&format!("{}/alerts", f.base));
    assert_eq!((r.status, r.body.as_str()), (404, "404 page not found\n"));
    let r = send(ureq::post(&format!("{}/graph", f.base)), Some(""));
    assert_eq!(r.status, 405);
    let r = send(ureq::delete(&format!("{}/api/v1/targets", f.base)), None);
    assert_eq!(r.status, 405);
    let r = send(ureq::head(&format!("{}/api/v1/targets", f.base)), None);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
}

#[test]
fn large_responses_are_gzipped_when_accepted() {
    let f = start();
    let url = format!("{}/api/v1/targets", f.base);
    let plain = get(&url).body;
    let response = ureq::get(&url)
        .set("Accept-Encoding", "gzip")
        .call()
        .expect("targets");
    assert_eq!(response.header("Content-Encoding"), Some("gzip"));
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(response.into_reader())
        .read_to_string(&mut unzipped)
        .expect("gunzip");
    // lastScrape is rendered per request and identical here; compare shapes.
    let a: Value = serde_json::from_str(&plain).unwrap();
    let b: Value = serde_json::from_str(&unzipped).unwrap();
    assert_eq!(a, b);
}
