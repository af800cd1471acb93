//! The web endpoints against real Prometheus 2.42: `/api/v1/targets` of
//! edgescrape and of Prometheus on the same config agree field by field,
//! and a Prometheus federating edgescrape's `/federate` gets the series
//! edgescrape scraped.

mod peers;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use peers::exposition::{ExpositionServer, Step};
use peers::{free_port, wait_http_ok, wait_until, ChildGuard};
use serde_json::Value;

fn get_json(url: &str) -> Value {
    ureq::get(url)
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn prometheus(dir: &Path, name: &str, config: &str) -> (ChildGuard, String) {
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(&cfg, config).expect("write prometheus config");
    let port = free_port();
    let guard = ChildGuard::spawn(
        "/usr/bin/prometheus",
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.join(name).display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.join(format!("{name}.log")),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    (guard, base)
}

/// The first active target, once it has been scraped.
fn scraped_target(base: &str) -> Option<Value> {
    let t = get_json(&format!("{base}/api/v1/targets"))["data"]["activeTargets"][0].clone();
    (t["health"] != "unknown" && !t.is_null()).then_some(t)
}

/// Series (as `{labels}` JSON strings, `instance` left out) of a query.
fn series(base: &str, query: &str) -> BTreeSet<String> {
    let url = format!(
        "{base}/api/v1/query?query={}",
        query
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace('=', "%3D")
    );
    get_json(&url)["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    let mut m = s["metric"].clone();
                    if let Some(o) = m.as_object_mut() {
                        o.remove("instance");
                    }
                    m.to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn targets_api_and_federation_agree_with_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = ExpositionServer::start(HashMap::from([(
        "/m".to_string(),
        vec![Step::text(
            "# TYPE demo_total counter\ndemo_total{a=\"1\"} 3\ndemo_total{a=\"2\"} 4\ndemo_gauge 1.5\n",
        )],
    )]));
    let job = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\nscrape_configs:\n  - job_name: demo\n    metrics_path: /m\n    params: {{x: [\"1\"]}}\n    static_configs:\n      - targets: [\"{}\"]\n        labels: {{site: s1}}\n",
        target.address
    );
    let edge_cfg = dir.path().join("edgescrape.yml");
    std::fs::write(&edge_cfg, &job).expect("write config");
    let port = free_port();
    let edge_base = format!("http://127.0.0.1:{port}");
    let _edge = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_edgescrape"),
        &[
            format!("--config.file={}", edge_cfg.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.path().join("edgescrape.log"),
    );
    wait_http_ok(&format!("{edge_base}/-/ready"), Duration::from_secs(30));
    let (_prom, prom_base) = prometheus(dir.path(), "prometheus", &job);

    let settle = Duration::from_secs(20);
    assert!(wait_until(settle, || scraped_target(&edge_base).is_some()));
    assert!(wait_until(settle, || scraped_target(&prom_base).is_some()));
    let (e, p) = (
        scraped_target(&edge_base).unwrap_or_default(),
        scraped_target(&prom_base).unwrap_or_default(),
    );
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(keys(&e), keys(&p), "field names and order");
    for field in [
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "health",
        "lastError",
        "scrapeInterval",
        "scrapeTimeout",
    ] {
        assert_eq!(e[field], p[field], "{field}");
    }
    for field in ["lastScrape", "lastScrapeDuration", "globalUrl"] {
        assert_eq!(e[field].is_null(), p[field].is_null(), "{field}");
    }

    // A Prometheus federating edgescrape gets every series edgescrape holds.
    let federate = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      \"match[]\": ['{{job=\"demo\"}}']\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n"
    );
    let (_fed, fed_base) = prometheus(dir.path(), "federating", &federate);
    let want = series(&edge_base, "{job=\"demo\"}");
    assert!(want.len() >= 8, "edgescrape holds {want:?}");
    assert!(
        wait_until(settle, || series(&fed_base, "{job=\"demo\"}") == want),
        "federated {:?}\nedgescrape {want:?}",
        series(&fed_base, "{job=\"demo\"}")
    );
}
