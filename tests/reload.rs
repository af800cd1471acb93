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

/// A target serving `demo 1` at `/m`.
fn demo_target() -> ExpositionServer {
    ExpositionServer::start(HashMap::from([(
        "/m".to_string(),
        vec![Step::text("demo 1\n")],
    )]))
}

#[test]
fn sighup_and_post_reload_follow_the_config_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = demo_target();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&target.address, &[("a", "1s")])).expect("write config");
    let (edge, base, _log) = start_edge(dir.path(), &cfg);
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

/// Starts the binary on `cfg` with lifecycle endpoints; returns it, its
/// base URL and its log file.
fn start_edge(
    dir: &std::path::Path,
    cfg: &std::path::Path,
) -> (ChildGuard, String, std::path::PathBuf) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.join("edgescrape.log");
    let edge = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_edgescrape"),
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-lifecycle".into(),
        ],
        &log,
    );
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    (edge, base, log)
}

#[test]
fn a_failing_stage_does_not_keep_the_others_from_the_new_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = demo_target();
    let receiver = peers::receiver::Receiver::start();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&target.address, &[("a", "1s")])).expect("write config");
    let (_edge, base, log) = start_edge(dir.path(), &cfg);
    let settle = Duration::from_secs(30);
    assert!(wait_until(settle, || active(&base) == pairs(&[("a", "1s")])));

    // Job a's pool cannot rebuild its HTTP client (scrape fails), job b is
    // new (discovery and scrape), one remote_write queue is new and good,
    // another cannot build its client (remote_write fails).
    let missing_ca = dir.path().join("no-such-ca.pem");
    let mut yaml = config(&target.address, &[("a", "1s"), ("b", "2s")]);
    yaml = yaml.replacen(
        "    metrics_path: /m\n",
        &format!(
            "    metrics_path: /m\n    tls_config:\n      ca_file: {}\n",
            missing_ca.display()
        ),
        1,
    );
    yaml.push_str(&format!(
        "remote_write:\n  - url: {}/good\n  - url: {}/bad\n    tls_config:\n      ca_file: {}\n",
        receiver.base_url,
        receiver.base_url,
        missing_ca.display()
    ));
    std::fs::write(&cfg, yaml).expect("write");
    let answer = ureq::post(&format!("{base}/-/reload")).call();
    let body = match answer {
        Err(ureq::Error::Status(500, resp)) => resp.into_string().expect("body"),
        other => panic!("reload answered {other:?}"),
    };
    assert!(body.contains("scrape: "), "{body}");
    assert!(body.contains("remote_write: "), "{body}");
    assert!(body.contains("no-such-ca.pem"), "{body}");
    assert_eq!(reload_successful(&base), Some(0.0));

    // Every stage took what it could of the new config.
    assert!(
        wait_until(settle, || active(&base)
            == pairs(&[("a", "1s"), ("b", "2s")])),
        "{:?}",
        active(&base)
    );
    assert!(
        wait_until(settle, || receiver.sample_count("good") > 0),
        "the good remote_write queue never sent"
    );
    let text = std::fs::read_to_string(&log).expect("log");
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("msg=\"Error reloading config\""))
        .collect();
    assert_eq!(failures.len(), 1, "{text}");
    assert!(failures[0].contains("scrape: ") && failures[0].contains("remote_write: "));
}

#[test]
fn metrics_answer_while_a_reload_waits_for_a_remote_queue_to_drain() {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let target = demo_target();
    // A receiver that accepts connections and never answers: the queue's
    // sends hang, so stopping it takes the whole stop deadline (10 s).
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hole_addr = hole.local_addr().expect("addr");
    hole.set_nonblocking(true).expect("nonblocking");
    let done = Arc::new(AtomicBool::new(false));
    let holding = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Ok((conn, _)) = hole.accept() {
                    held.push(conn);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let cfg = dir.path().join("prometheus.yml");
    let with_queue = format!(
        "{}remote_write:\n  - url: http://{hole_addr}/write\n    remote_timeout: 12s\n",
        config(&target.address, &[("a", "1s")])
    );
    std::fs::write(&cfg, with_queue).expect("write config");
    let (_edge, base, log) = start_edge(dir.path(), &cfg);
    let pending = || {
        ureq::get(&format!("{base}/metrics"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .is_some_and(|t| {
                t.lines().any(|l| {
                    l.starts_with("prometheus_remote_storage_samples_pending{")
                        && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) > Some(0.0)
                })
            })
    };
    assert!(
        wait_until(Duration::from_secs(30), pending),
        "no samples pending"
    );

    std::fs::write(&cfg, config(&target.address, &[("a", "1s")])).expect("write");
    let reload = {
        let url = format!("{base}/-/reload");
        std::thread::spawn(move || {
            ureq::post(&url)
                .call()
                .map(|r| r.status())
                .map_err(|e| e.to_string())
        })
    };
    // The reload now waits for the queue; /metrics must still answer.
    std::thread::sleep(Duration::from_secs(1));
    let client = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(3))
        .build();
    let mut answered_during_reload = 0;
    while !reload.is_finished() {
        let metrics = client.get(&format!("{base}/metrics")).call();
        assert!(metrics.is_ok(), "/metrics during the reload: {metrics:?}");
        if !reload.is_finished() {
            answered_during_reload += 1;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = reload.join().expect("reload thread");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.expect("reload"), 200, "{log}");
    assert!(
        answered_during_reload >= 2,
        "the reload did not wait for the queue ({answered_during_reload} answers during it)\n{log}"
    );
    done.store(true, Ordering::Relaxed);
    holding.join().expect("hole thread");
}
