//! The operator pages in real headless Chromium: `/status`,
//! `/service-discovery` and `/relabel-debug` over the web fixture, their
//! contents checked against the JSON APIs and the fixture's figures, none
//! needing JavaScript; and `/graph` over a real edgescrape scraping a
//! target, its chart, legend and table checked against `/api/v1/query_range`
//! and `/api/v1/query`. Screenshots go to tests/artifacts.

mod browser;
mod peers;
mod web_support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use browser::{assert_no_script, chromium, screenshot, unescape};
use edgescrape::web::{Metrics, WebOptions};
use peers::exposition::{ExpositionServer, Step};
use peers::receiver::Receiver;
use peers::{free_port, wait_http_ok, wait_until, ChildGuard};
use serde_json::Value;
use web_support::{get, Fixture, TestLifecycle};

fn fixture() -> Fixture {
    let lifecycle = TestLifecycle::default();
    lifecycle.ready.store(true, Ordering::SeqCst);
    Fixture::start(WebOptions::default(), lifecycle, Metrics::new())
}

/// Every capture of `re` in `dom`, unescaped.
fn all(dom: &str, re: &str) -> Vec<String> {
    let re = regex::Regex::new(re).expect("regex");
    re.captures_iter(dom).map(|c| unescape(&c[1])).collect()
}

#[test]
fn status_page_shows_shipping_wal_and_process() {
    let f = fixture();
    let profile = tempfile::tempdir().expect("tempdir");
    let url = format!("{}/status", f.base);
    assert_no_script(&url);
    let dom = chromium(profile.path(), &["--dump-dom"], &url);
    let want = web_support::sample_status(web_support::now_ms());
    let q = &want.queues[0];
    let queues = all(&dom, r#"<tr class="queue" data-queue="([^"]*)""#);
    assert_eq!(queues, std::slice::from_ref(&q.name));
    assert!(dom.contains(&format!("<td class=\"pending\">{}</td>", q.samples_pending)));
    assert!(
        dom.contains("<td class=\"state\">retrying since 1m 35s ago</td>"),
        "retry state"
    );
    // Oldest unsent sample: the newest sent one, 91 s ago.
    assert!(
        dom.contains("<td class=\"oldest-unsent\">1m 31s</td>"),
        "oldest unsent"
    );
    assert!(dom.contains("server returned HTTP status 503 &lt;Service Unavailable&gt;"));
    assert!(
        dom.contains("3.0 MiB of 8.0 MiB"),
        "WAL size against its bound"
    );
    assert!(
        dom.contains("<dd id=\"until-drops\">size bound in about"),
        "time until drops"
    );
    assert!(dom.contains("<dt>Last config reload</dt><dd>FAILED (last success 10m 0s ago)</dd>"));
    assert!(dom.contains("<dt>Resident memory</dt><dd>") && !dom.contains("<dd>unknown</dd>"));
    screenshot(profile.path(), &url, "status.png", 1200, 800);
}

#[test]
fn service_discovery_page_matches_the_targets_api() {
    let f = fixture();
    let profile = tempfile::tempdir().expect("tempdir");
    let url = format!("{}/service-discovery", f.base);
    assert_no_script(&url);
    let dom = chromium(profile.path(), &["--dump-dom"], &url);
    let api = get(&format!("{}/api/v1/targets", f.base)).json();
    let count = |key: &str, pool: &str| {
        api["data"][key].as_array().map_or(0, |a| {
            a.iter()
                .filter(|t| t["scrapePool"] == pool || t["discoveredLabels"]["job"] == pool)
                .count()
        })
    };
    for pool in ["demo", "node", "self"] {
        let heading = format!(
            "{pool} <span class=\"muted\">({} active, {} dropped)</span>",
            count("activeTargets", pool),
            count("droppedTargets", pool)
        );
        assert!(dom.contains(&heading), "missing {heading:?}");
    }
    assert_eq!(dom.matches("<tr class=\"sd-active\">").count(), 5);
    assert_eq!(dom.matches("<tr class=\"sd-dropped\">").count(), 2);
    // Each dropped target names the rule of its job that dropped it.
    assert_eq!(
        dom.matches("dropped by rule 1 of relabel_configs").count(),
        1
    );
    assert_eq!(
        dom.matches("dropped by rule 2 of relabel_configs").count(),
        1
    );
    assert!(
        dom.contains("regex: 10[.]0[.]0[.]9:.*"),
        "the node rule is shown"
    );
    assert!(
        !dom.contains("<script"),
        "a label's markup became a script element"
    );
    screenshot(profile.path(), &url, "service-discovery.png", 1200, 800);
}

#[test]
fn relabel_debug_page_walks_the_rules() {
    let f = fixture();
    let profile = tempfile::tempdir().expect("tempdir");
    let labels =
        "{__address__=\"10.0.0.9:9100\", __meta_filepath=\"/etc/sd/<b>.json\", job=\"node\"}";
    let url = format!(
        "{}/relabel-debug?job=node&kind=relabel_configs&labels={}",
        f.base,
        edgescrape::web::layout::url_encode(labels)
    );
    assert_no_script(&url);
    let dom = chromium(profile.path(), &["--dump-dom"], &url);
    assert_eq!(
        dom.matches("<tr class=\"step\">").count(),
        3,
        "input and two rules"
    );
    assert!(dom.contains("<span class=\"label added\">sd_file=\"/etc/sd/&lt;b&gt;.json\"</span>"));
    assert!(dom.contains("<span class=\"health down\">DROPPED</span>"));
    assert!(dom.contains("Dropped by rule 2."));
    assert!(!dom.contains("<b>"), "markup in a label became an element");
    screenshot(profile.path(), &url, "relabel-debug.png", 1200, 800);

    // metric_relabel_configs of another job; a bad label set is refused.
    let url = format!(
        "{}/relabel-debug?job=demo&kind=metric_relabel_configs&labels=go_goroutines",
        f.base
    );
    let dom = chromium(profile.path(), &["--dump-dom"], &url);
    assert!(dom.contains("Dropped by rule 1."));
    let url = format!(
        "{}/relabel-debug?job=demo&labels=%7Ba%3D~%22x%22%7D",
        f.base
    );
    let dom = chromium(profile.path(), &["--dump-dom"], &url);
    assert!(
        dom.contains("<div class=\"box bad\" id=\"relabel-error\">labels: a=~\"x\" is a matcher")
    );
}

/// One scrape of the graph target: two counters and a gauge.
fn exposition(i: u64) -> String {
    format!(
        "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n\
         # TYPE room_temperature_celsius gauge\nroom_temperature_celsius {}\n",
        i * 40 + (i * i) % 17,
        i * 3,
        21.0 + ((i * 7) % 5) as f64 * 0.3
    )
}

fn json(url: &str) -> Value {
    get(url).json()
}

#[test]
fn graph_page_matches_the_query_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps: Vec<Step> = (0..300).map(|i| Step::text(&exposition(i))).collect();
    let target = ExpositionServer::start(HashMap::from([("/m".to_string(), steps)]));
    let cfg = dir.path().join("edgescrape.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    metrics_path: /m\n    static_configs:\n      - targets: [\"{}\"]\n",
            target.address
        ),
    )
    .expect("write config");
    let port = free_port();
    let _edge = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_edgescrape"),
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.path().join("edgescrape.log"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    let scraped = || {
        json(&format!(
            "{base}/api/v1/query?query=count_over_time(up%5B1m%5D)"
        ))["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(wait_until(Duration::from_secs(60), || scraped() >= 25.0));

    let end = format!("{:.3}", web_support::now_ms() as f64 / 1000.0);
    let expr = "sum by (code) (rate(http_requests_total[10s]))";
    let query = edgescrape::web::layout::url_encode(expr);
    let page = format!("{base}/graph?expr={query}&range=1m&end={end}");
    assert_no_script(&page);
    let profile = tempfile::tempdir().expect("tempdir");
    let dom = chromium(profile.path(), &["--dump-dom"], &page);
    // The legend and the chart hold the series the API returns.
    let end_s: f64 = end.parse().expect("end");
    let api = json(&format!(
        "{base}/api/v1/query_range?query={query}&start={:.3}&end={end}&step=1",
        end_s - 60.0
    ));
    let series = api["data"]["result"].as_array().expect("matrix").clone();
    assert_eq!(series.len(), 2);
    assert_eq!(dom.matches("<li class=\"series\">").count(), series.len());
    assert_eq!(dom.matches("<g class=\"series\"").count(), series.len());
    for s in &series {
        let code = s["metric"]["code"].as_str().unwrap_or_default();
        assert!(
            dom.contains(&format!("code=\"{code}\"")),
            "legend lacks {code}"
        );
        // One hover point per value the API returns at this step.
        let points = s["values"].as_array().map_or(0, Vec::len);
        let title = format!("<title>{{code=\"{code}\"}}\n");
        assert_eq!(
            dom.matches(&title).count(),
            points,
            "hover points of {code}"
        );
    }
    screenshot(profile.path(), &page, "graph.png", 1200, 760);

    // The table tab is the instant query at the end of the range.
    let dom = chromium(
        profile.path(),
        &["--dump-dom"],
        &format!("{page}&tab=table"),
    );
    let instant = json(&format!("{base}/api/v1/query?query={query}&time={end}"));
    let want: Vec<String> = instant["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| s["value"][1].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(all(&dom, r#"<td class="value">([^<]*)</td>"#), want);

    // A query outside the subset is refused with Prometheus's message.
    let dom = chromium(
        profile.path(),
        &["--dump-dom"],
        &format!("{base}/graph?expr=topk(3%2Cup)"),
    );
    assert!(dom.contains(
        "<div class=\"box bad\" id=\"query-error\">1:1: parse error: aggregation \"topk\""
    ));
}

/// The cells of queue `name`'s row on `/status`: state, pending samples,
/// unsent bytes, oldest unsent and last error.
fn queue_cells(page: &str, name: &str) -> Option<[String; 5]> {
    let row = regex::Regex::new(&format!(
        r#"(?s)<tr class="queue" data-queue="{name}">.*?</tr>"#
    ))
    .expect("regex");
    let row = row.find(page)?.as_str();
    let cell = |class: &str| {
        let re = regex::Regex::new(&format!(r#"<td class="{class}">([^<]*)</td>"#)).expect("re");
        re.captures(row).map(|c| unescape(&c[1]))
    };
    Some([
        cell("state")?,
        cell("pending")?,
        cell("bytes-unsent")?,
        cell("oldest-unsent")?,
        cell("error")?,
    ])
}

#[test]
fn status_page_tells_a_retrying_queue_from_a_shipping_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps: Vec<Step> = (0..300).map(|i| Step::text(&exposition(i))).collect();
    let target = ExpositionServer::start(HashMap::from([("/m".to_string(), steps)]));
    let receiver = Receiver::start();
    // Nothing listens on this port once the probe is released.
    let closed = free_port();
    let cfg = dir.path().join("edgescrape.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    metrics_path: /m\n    static_configs:\n      - targets: [\"{}\"]\nremote_write:\n  - url: http://127.0.0.1:{closed}/write\n    name: down\n  - url: {}/up\n    name: up\n",
            target.address, receiver.base_url
        ),
    )
    .expect("write config");
    let port = free_port();
    let _edge = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_edgescrape"),
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.path().join("edgescrape.log"),
    );
    let url = format!("http://127.0.0.1:{port}/status");
    wait_http_ok(&url, Duration::from_secs(30));
    let settled = |page: &str| {
        let (Some(down), Some(up)) = (queue_cells(page, "down"), queue_cells(page, "up")) else {
            return false;
        };
        let pending: i64 = down[1].parse().unwrap_or(0);
        down[0].starts_with("retrying since") && pending > 0 && up[0] == "shipping"
    };
    assert!(
        wait_until(Duration::from_secs(60), || settled(&get(&url).body)
            && receiver.sample_count("up") > 0),
        "never settled: {}",
        get(&url).body
    );
    assert_no_script(&url);
    let profile = tempfile::tempdir().expect("tempdir");
    let dom = chromium(profile.path(), &["--dump-dom"], &url);
    let down = queue_cells(&dom, "down").expect("down row");
    assert!(down[0].starts_with("retrying since"), "{down:?}");
    assert!(down[1].parse::<i64>().unwrap_or(0) > 0, "{down:?}");
    assert!(
        !down[2].starts_with("0 ") && down[2] != "not reported",
        "{down:?}"
    );
    assert_ne!(down[3], "none", "{down:?}");
    assert!(
        down[4].to_lowercase().contains("connection refused"),
        "{down:?}"
    );
    let up = queue_cells(&dom, "up").expect("up row");
    assert_eq!(up[0], "shipping", "{up:?}");
    assert_eq!(up[4], "–", "{up:?}");
    assert!(!dom.contains("not reported"), "every figure is reported");
}
