//! Config reloads of the real binary: SIGHUP and `POST /-/reload` add and
//! remove jobs and change intervals; a broken config is refused and
//! everything keeps running.

mod peers;

use std::collections::HashMap;
use std::time::Duration;

use peers::exposition::{ExpositionServer, Step};
use peers::{free_port, wait_http_ok, wait_until, ChildGuard};

fn config(target: &str, jobs: &[(&str, &str)]) -> String {
    let mut yaml =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n");
    for (job, interval) in jobs {
        yaml.push_str(&format!(
            "  - job_name: {job}\n    scrape_interval: {interval}\n    metrics_path: /m\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ));
    }
    yaml
}

/// `(pool, scrapeInterval)` of every active target.
fn active(base: &str) -> Vec<(String, String)> {
    let body: serde_json::Value = ureq::get(&format!("{base}/api/v1/targets"))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut out: Vec<(String, String)> = body["data"]["activeTargets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t["scrapePool"].as_str().unwrap_or("").to_string(),
                        t["scrapeInterval"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn reload_successful(base: &str) -> Option<f64> {
    let text = ureq::get(&format!("{base}/metrics"))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("prometheus_config_last_reload_successful "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn sighup_and_post_reload_follow_the_config_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = ExpositionServer::start(HashMap::from([(
        "/m".to_string(),
        vec![Step::text("demo 1\n")],
    )]));
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&target.address, &[("a", "1s")])).expect("write config");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let edge = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_edgescrape"),
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-lifecycle".into(),
        ],
        &dir.path().join("edgescrape.log"),
    );
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    let settle = Duration::from_secs(30);
    assert!(
        wait_until(settle, || active(&base) == pairs(&[("a", "1s")])),
        "{:?}",
        active(&base)
    );

    // SIGHUP: a job added.
    std::fs::write(&cfg, config(&target.address, &[("a", "1s"), ("b", "2s")])).expect("write");
    edge.signal(1);
    assert!(
        wait_until(settle, || active(&base)
            == pairs(&[("a", "1s"), ("b", "2s")])),
        "after adding b: {:?}",
        active(&base)
    );

    // POST /-/reload: a job removed and an interval changed.
    std::fs::write(&cfg, config(&target.address, &[("b", "3s")])).expect("write");
    let resp = ureq::post(&format!("{base}/-/reload"))
        .call()
        .expect("POST /-/reload");
    assert_eq!(resp.status(), 200);
    assert!(
        wait_until(settle, || active(&base) == pairs(&[("b", "3s")])),
        "after removing a: {:?}",
        active(&base)
    );
    assert_eq!(reload_successful(&base), Some(1.0));

    // A broken config: refused, the running one stays.
    std::fs::write(&cfg, "scrape_configs:\n  - job_name: [broken\n").expect("write");
    edge.signal(1);
    assert!(wait_until(settle, || reload_successful(&base) == Some(0.0)));
    let err = ureq::post(&format!("{base}/-/reload")).call();
    assert!(matches!(err, Err(ureq::Error::Status(500, _))), "{err:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(active(&base), pairs(&[("b", "3s")]));
    let up: serde_json::Value =
        ureq::get(&format!("{base}/api/v1/query?query=up%7Bjob%3D%22b%22%7D"))
            .call()
            .expect("query")
            .into_string()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .expect("json");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
}
