//! The scrape manager end to end: real HTTP targets on 127.0.0.1, real
//! threads, a real in-memory storage; ports of Prometheus's manager_test.go
//! and the run-loop tests of scrape_test.go, plus faults and a real
//! prometheus-node-exporter.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::storage::TestStorage;
use common::{closed_port, gzip, wait_until, Reply, SeenRequest, TestServer};
use crossbeam_channel::{unbounded, Sender};
use edgescrape::config::Config;
use edgescrape::discovery::TargetGroup;
use edgescrape::labels::Labels;
use edgescrape::scrape::{Manager, Options, TargetHealth, TargetSnapshot};
use edgescrape::storage::is_stale_nan;
use parking_lot::Mutex;

const WAIT: Duration = Duration::from_secs(20);

fn config(yaml: &str) -> Config {
    Config::load_str(yaml, Path::new("test.yml")).expect("test config")
}

fn options() -> Options {
    Options {
        skip_offset: true,
        reload_interval: Duration::from_millis(50),
        extra_scrape_metrics: true,
        ..Options::default()
    }
}

struct Running {
    manager: Manager,
    store: Arc<TestStorage>,
    tsets: Sender<HashMap<String, Vec<TargetGroup>>>,
}

fn start(yaml: &str) -> Running {
    let store = Arc::new(TestStorage::default());
    let manager = Manager::new(options(), store.clone());
    manager.apply_config(&config(yaml)).expect("apply");
    let (tx, rx) = unbounded();
    manager.run(rx).expect("run");
    Running {
        manager,
        store,
        tsets: tx,
    }
}

fn group(addrs: &[&str]) -> TargetGroup {
    TargetGroup {
        targets: addrs
            .iter()
            .map(|a| Labels::from_pairs([("__address__", *a)]))
            .collect(),
        labels: Labels::empty(),
        source: "0".to_string(),
    }
}

impl Running {
    fn send(&self, sets: &[(&str, &[&str])]) {
        let map = sets
            .iter()
            .map(|(job, addrs)| (job.to_string(), vec![group(addrs)]))
            .collect();
        self.tsets.send(map).expect("manager listens");
    }

    fn target(&self, job: &str, addr: &str) -> Option<TargetSnapshot> {
        self.manager
            .targets_active()
            .get(job)?
            .iter()
            .find(|t| t.labels.get("instance") == Some(addr))
            .cloned()
    }

    /// Values of `name` for one target.
    fn values(&self, name: &str, job: &str, addr: &str) -> Vec<(i64, f64)> {
        self.store.values(&Labels::from_pairs([
            ("__name__", name),
            ("job", job),
            ("instance", addr),
        ]))
    }

    fn wait_for_error(&self, job: &str, addr: &str, want: &str) -> TargetSnapshot {
        let mut last = None;
        let ok = wait_until(WAIT, || {
            last = self.target(job, addr);
            last.as_ref()
                .and_then(|t| t.last_error.clone())
                .is_some_and(|e| e.contains(want))
        });
        assert!(
            ok,
            "{job} {addr}: want error containing {want:?}, last {last:?}"
        );
        last.unwrap_or_else(|| unreachable!())
    }
}

fn job(name: &str, interval: &str, extra: &str) -> String {
    format!("  - job_name: {name}\n    scrape_interval: {interval}\n{extra}")
}

#[test]
fn scrapes_report_series_headers_and_health() {
    let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    const BODY: &str =
        "# HELP metric_a A.\n# TYPE metric_a gauge\nmetric_a 1\nmetric_b{x=\"y\"} 2\n";
    let server = TestServer::start(move |req| {
        seen2.lock().push(req.clone());
        Reply::text(BODY)
    });
    let addr = server.address();
    let r = start(&format!("scrape_configs:\n{}", job("app", "100ms", "")));
    r.send(&[("app", &[&addr])]);
    assert!(wait_until(WAIT, || r.values("up", "app", &addr).len() >= 3));

    let up = r.values("up", "app", &addr);
    assert!(up.iter().all(|&(_, v)| v == 1.0), "{up:?}");
    assert!(up.windows(2).all(|w| w[1].0 > w[0].0), "timestamps advance");
    assert_eq!(r.values("scrape_samples_scraped", "app", &addr)[0].1, 2.0);
    assert_eq!(
        r.values("scrape_samples_post_metric_relabeling", "app", &addr)[0].1,
        2.0
    );
    let added = r.values("scrape_series_added", "app", &addr);
    assert_eq!((added[0].1, added[1].1), (2.0, 0.0));
    assert_eq!(r.values("scrape_timeout_seconds", "app", &addr)[0].1, 0.1);
    assert_eq!(r.values("scrape_sample_limit", "app", &addr)[0].1, 0.0);
    assert_eq!(
        r.values("scrape_body_size_bytes", "app", &addr)[0].1,
        BODY.len() as f64
    );
    assert!(r.values("scrape_duration_seconds", "app", &addr)[0].1 > 0.0);
    let b = r.store.values(&Labels::from_pairs([
        ("__name__", "metric_b"),
        ("x", "y"),
        ("job", "app"),
        ("instance", addr.as_str()),
    ]));
    assert!(!b.is_empty() && b[0].1 == 2.0);
    // Sample and report timestamps are the same scrape time.
    assert_eq!(b[0].0, up[0].0);

    let t = r.target("app", &addr).expect("active target");
    assert_eq!(t.health, TargetHealth::Up);
    assert_eq!(t.last_error, None);
    assert_eq!(t.scrape_url, format!("http://{addr}/metrics"));
    assert_eq!(t.scrape_interval, Duration::from_millis(100));
    assert_eq!(t.discovered_labels.get("__address__"), Some(addr.as_str()));
    assert!(!t.history.is_empty() && t.last_scrape.is_some());

    let req = seen.lock()[0].clone();
    assert_eq!(req.url, "/metrics");
    assert_eq!(
        req.header("Accept"),
        Some("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
    );
    // A loopback target without a written enable_compression.
    assert_eq!(req.header("Accept-Encoding"), Some("identity"));
    assert_eq!(
        req.header("X-Prometheus-Scrape-Timeout-Seconds"),
        Some("0.1")
    );
    assert!(req
        .header("User-Agent")
        .is_some_and(|u| u.starts_with("edgescrape/")));
    r.manager.stop();
}

#[test]
fn loopback_targets_are_asked_for_identity_unless_compression_is_written() {
    let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    let server = TestServer::start(move |req| {
        seen2.lock().push(req.clone());
        Reply::text("metric_a 1\n")
    });
    let addr = server.address();
    let port = addr.rsplit(':').next().expect("port");
    let localhost = format!("localhost:{port}");
    let jobs = [
        ("unset", ""),
        ("written_true", "    enable_compression: true\n"),
        ("written_false", "    enable_compression: false\n"),
    ];
    let mut yaml = "scrape_configs:\n".to_string();
    for (name, extra) in jobs {
        yaml += &job(
            name,
            "100ms",
            &format!("{extra}    metrics_path: /{name}\n"),
        );
    }
    yaml += &job("by_name", "100ms", "    metrics_path: /by_name\n");
    let r = start(&yaml);
    r.send(&[
        ("unset", &[&addr]),
        ("written_true", &[&addr]),
        ("written_false", &[&addr]),
        ("by_name", &[&localhost]),
    ]);
    let encoding_of = |path: &str| {
        let seen = seen.lock();
        let req = seen.iter().find(|req| req.url == path)?;
        Some(req.header("Accept-Encoding").unwrap_or("none").to_string())
    };
    let paths = ["/unset", "/written_true", "/written_false", "/by_name"];
    assert!(wait_until(WAIT, || paths
        .iter()
        .all(|p| encoding_of(p).is_some())));
    assert_eq!(encoding_of("/unset").as_deref(), Some("identity"));
    assert_eq!(encoding_of("/written_true").as_deref(), Some("gzip"));
    assert_eq!(encoding_of("/written_false").as_deref(), Some("identity"));
    assert_eq!(encoding_of("/by_name").as_deref(), Some("identity"));
    r.manager.stop();
}

#[test]
fn failed_scrape_reports_down_and_marks_series_stale() {
    // TestScrapeLoopRunCreatesStaleMarkersOnFailedScrape.
    let failing = Arc::new(AtomicBool::new(false));
    let f2 = Arc::clone(&failing);
    let server = TestServer::start(move |_| {
        if f2.load(Ordering::SeqCst) {
            Reply::status(500)
        } else {
            Reply::text("metric_a 1\n")
        }
    });
    let addr = server.address();
    let r = start(&format!("scrape_configs:\n{}", job("app", "100ms", "")));
    r.send(&[("app", &[&addr])]);
    assert!(wait_until(WAIT, || !r
        .values("metric_a", "app", &addr)
        .is_empty()));
    failing.store(true, Ordering::SeqCst);
    let t = r.wait_for_error(
        "app",
        &addr,
        "server returned HTTP status 500 Internal Server Error",
    );
    assert_eq!(t.health, TargetHealth::Down);
    assert!(wait_until(WAIT, || r
        .values("up", "app", &addr)
        .last()
        .is_some_and(|s| s.1 == 0.0)));
    let a = r.values("metric_a", "app", &addr);
    let stale: Vec<_> = a.iter().filter(|s| is_stale_nan(s.1)).collect();
    assert_eq!(
        stale.len(),
        1,
        "one marker, at the first failed scrape: {a:?}"
    );
    assert_eq!(
        r.values("scrape_samples_scraped", "app", &addr)
            .last()
            .map(|s| s.1),
        Some(0.0)
    );

    failing.store(false, Ordering::SeqCst);
    assert!(wait_until(WAIT, || r
        .values("up", "app", &addr)
        .last()
        .is_some_and(|s| s.1 == 1.0)));
    assert!(wait_until(WAIT, || r
        .values("metric_a", "app", &addr)
        .last()
        .is_some_and(|s| s.1 == 1.0)));
    r.manager.stop();
}

#[test]
fn faulty_targets_are_down_with_the_right_error_and_others_keep_running() {
    let slow = TestServer::start(|_| Reply::text("slow 1\n").delayed(Duration::from_secs(3)));
    let huge = TestServer::start(|_| Reply::text(vec![b'#'; 10_000]));
    let bomb_body = gzip(&vec![b'#'; 50 << 20]);
    let bomb = TestServer::start(move |_| {
        Reply::text(bomb_body.clone()).header("Content-Encoding", "gzip")
    });
    let zipped =
        TestServer::start(|_| Reply::text(gzip(b"zipped 7\n")).header("Content-Encoding", "gzip"));
    let malformed = TestServer::start(|_| Reply::text("ok 1\nthis is { not metrics\n"));
    let flips = Arc::new(AtomicUsize::new(0));
    let flips2 = Arc::clone(&flips);
    let flapping = TestServer::start(move |_| {
        if flips2.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
            Reply::text("flap 1\n")
        } else {
            Reply::status(503)
        }
    });
    let healthy = TestServer::start(|_| Reply::text("fine 1\n"));
    let down = format!("127.0.0.1:{}", closed_port());

    let yaml = format!(
        "scrape_configs:\n{}{}{}",
        job(
            "limited",
            "300ms",
            "    scrape_timeout: 200ms\n    body_size_limit: 1MB\n"
        ),
        job("tiny", "300ms", "    body_size_limit: 1KB\n"),
        job("plain", "100ms", ""),
    );
    let r = start(&yaml);
    let (slow_a, bomb_a, huge_a) = (slow.address(), bomb.address(), huge.address());
    let (mal_a, flap_a, ok_a, zip_a) = (
        malformed.address(),
        flapping.address(),
        healthy.address(),
        zipped.address(),
    );
    r.send(&[
        ("limited", &[&slow_a, &bomb_a]),
        ("tiny", &[&huge_a]),
        ("plain", &[&mal_a, &flap_a, &ok_a, &down, &zip_a]),
    ]);

    let t = r.wait_for_error("limited", &slow_a, "context deadline exceeded");
    assert_eq!(t.health, TargetHealth::Down);
    r.wait_for_error("limited", &bomb_a, "body size limit exceeded");
    r.wait_for_error("tiny", &huge_a, "body size limit exceeded");
    assert!(wait_until(WAIT, || r
        .values("scrape_body_size_bytes", "tiny", &huge_a)
        .last()
        .is_some_and(|s| s.1 == -1.0)));
    r.wait_for_error("plain", &mal_a, "");
    let t = r.wait_for_error("plain", &down, "connection refused");
    assert!(t
        .last_error
        .unwrap()
        .starts_with(&format!("Get \"http://{down}/metrics\": ")));
    assert!(wait_until(WAIT, || {
        let up = r.values("up", "plain", &flap_a);
        up.iter().any(|s| s.1 == 1.0) && up.iter().any(|s| s.1 == 0.0)
    }));
    assert!(wait_until(WAIT, || r
        .values("zipped", "plain", &zip_a)
        .first()
        .is_some_and(|s| s.1 == 7.0)));
    assert!(
        r.values("ok", "plain", &mal_a).is_empty(),
        "a malformed scrape appends nothing"
    );
    for (job, addr) in [
        ("limited", &slow_a),
        ("limited", &bomb_a),
        ("tiny", &huge_a),
        ("plain", &mal_a),
        ("plain", &down),
    ] {
        assert!(
            r.values("up", job, addr).iter().all(|s| s.1 == 0.0),
            "{job} {addr}"
        );
    }
    assert_eq!(
        r.target("plain", &ok_a).map(|t| t.health),
        Some(TargetHealth::Up)
    );
    let m = r.manager.metrics();
    assert!(m.target_scrapes_exceeded_body_size_limit_total.get() >= 2);
    r.manager.stop();
}

#[test]
fn duplicate_targets_share_one_loop() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = Arc::clone(&hits);
    let server = TestServer::start(move |_| {
        h2.fetch_add(1, Ordering::SeqCst);
        Reply::text("m 1\n")
    });
    let addr = server.address();
    let r = start(&format!("scrape_configs:\n{}", job("app", "1m", "")));
    let map = HashMap::from([(
        "app".to_string(),
        vec![group(&[&addr, &addr]), group(&[&addr])],
    )]);
    r.tsets.send(map).unwrap();
    assert!(wait_until(WAIT, || hits.load(Ordering::SeqCst) >= 1));
    assert_eq!(r.manager.targets_active()["app"].len(), 1);
    assert_eq!(r.manager.pool_metrics()["app"].targets.get(), 1);
    r.manager.stop();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one loop, one scrape per minute"
    );
}

#[test]
fn vanished_target_gets_end_of_run_stale_markers() {
    // TestScrapeLoopStop / endOfRunStaleness: a target that goes away has
    // its series and report series marked stale about two intervals later.
    let server = TestServer::start(|_| Reply::text("metric_a 1\n"));
    let other = TestServer::start(|_| Reply::text("metric_b 1\n"));
    let (addr, keep) = (server.address(), other.address());
    let r = start(&format!("scrape_configs:\n{}", job("app", "100ms", "")));
    r.send(&[("app", &[&addr, &keep])]);
    assert!(wait_until(WAIT, || r
        .values("metric_a", "app", &addr)
        .len()
        >= 2));
    r.send(&[("app", &[&keep])]);
    assert!(wait_until(WAIT, || r
        .values("metric_a", "app", &addr)
        .last()
        .is_some_and(|s| is_stale_nan(s.1))));
    assert!(wait_until(WAIT, || r
        .values("up", "app", &addr)
        .last()
        .is_some_and(|s| is_stale_nan(s.1))));
    assert!(r.target("app", &addr).is_none());
    let last_up = r.values("up", "app", &addr);
    let n = last_up.len();
    assert!(
        last_up[n - 1].0 > last_up[n - 2].0,
        "marker after the last scrape"
    );
    assert!(r
        .values("metric_b", "app", &keep)
        .iter()
        .all(|s| s.1 == 1.0));
    r.manager.stop();
}

#[test]
fn shutdown_writes_no_stale_markers() {
    let server = TestServer::start(|_| Reply::text("metric_a 1\n"));
    let addr = server.address();
    let r = start(&format!("scrape_configs:\n{}", job("app", "100ms", "")));
    r.send(&[("app", &[&addr])]);
    assert!(wait_until(WAIT, || r
        .values("metric_a", "app", &addr)
        .len()
        >= 2));
    r.manager.stop();
    let before = r.store.sample_count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(r.store.sample_count(), before, "nothing after stop");
    assert!(r
        .values("metric_a", "app", &addr)
        .iter()
        .all(|s| !is_stale_nan(s.1)));
}

#[test]
fn reload_with_reusable_config_keeps_cache_and_writes_no_stale_markers() {
    // TestReuseScrapeCache / manager reload keeps targets.
    let server = TestServer::start(|_| Reply::text("metric_a 1\n"));
    let addr = server.address();
    let base = job("app", "100ms", "");
    let r = start(&format!("scrape_configs:\n{base}"));
    r.send(&[("app", &[&addr])]);
    assert!(wait_until(WAIT, || r.values("up", "app", &addr).len() >= 2));

    // Only the sample limit and interval change: caches are handed over.
    let changed = job("app", "200ms", "    sample_limit: 100\n");
    r.manager
        .apply_config(&config(&format!("scrape_configs:\n{changed}")))
        .unwrap();
    let n = r.values("up", "app", &addr).len();
    assert!(wait_until(WAIT, || r.values("up", "app", &addr).len() >= n + 3));
    assert_eq!(r.manager.targets_active()["app"].len(), 1, "target kept");
    // As Prometheus: the target keeps its __scrape_interval__ label until
    // discovery sends its groups again.
    assert_eq!(
        r.target("app", &addr).unwrap().scrape_interval,
        Duration::from_millis(100)
    );
    let a = r.values("metric_a", "app", &addr);
    assert!(
        a.iter().all(|s| s.1 == 1.0),
        "no stale marker on reload: {a:?}"
    );
    let added = r.values("scrape_series_added", "app", &addr);
    assert!(
        added[1..].iter().all(|s| s.1 == 0.0),
        "cache reused: {added:?}"
    );
    assert_eq!(
        r.values("scrape_sample_limit", "app", &addr)
            .last()
            .map(|s| s.1),
        Some(100.0)
    );
    assert_eq!(
        r.manager.metrics().target_scrape_pool_reloads_total.get(),
        1
    );

    // An unchanged config touches nothing.
    r.manager
        .apply_config(&config(&format!("scrape_configs:\n{changed}")))
        .unwrap();
    assert_eq!(
        r.manager.metrics().target_scrape_pool_reloads_total.get(),
        1
    );
    r.manager.stop();
}

#[test]
fn target_limit_fails_every_target_of_the_pool() {
    // TestScrapePoolTargetLimit.
    let a = TestServer::start(|_| Reply::text("m 1\n"));
    let b = TestServer::start(|_| Reply::text("m 1\n"));
    let (aa, ba) = (a.address(), b.address());
    let r = start(&format!(
        "scrape_configs:\n{}",
        job("app", "100ms", "    target_limit: 1\n")
    ));
    r.send(&[("app", &[&aa, &ba])]);
    for addr in [&aa, &ba] {
        r.wait_for_error(
            "app",
            addr,
            "target_limit exceeded (number of targets: 2, limit: 1)",
        );
        assert!(r.values("m", "app", addr).is_empty());
    }
    assert!(
        r.manager
            .metrics()
            .target_scrape_pool_exceeded_target_limit_total
            .get()
            >= 1
    );
    // Back under the limit: the remaining target scrapes again.
    r.send(&[("app", &[&aa])]);
    assert!(wait_until(WAIT, || !r.values("m", "app", &aa).is_empty()));
    r.manager.stop();
}

#[test]
fn sample_limit_over_http_reports_down() {
    let server = TestServer::start(|_| Reply::text("a 1\nb 1\nc 1\n"));
    let addr = server.address();
    let r = start(&format!(
        "scrape_configs:\n{}",
        job("app", "100ms", "    sample_limit: 2\n")
    ));
    r.send(&[("app", &[&addr])]);
    r.wait_for_error("app", &addr, "sample limit exceeded");
    assert!(wait_until(WAIT, || !r
        .values("scrape_samples_scraped", "app", &addr)
        .is_empty()));
    assert_eq!(r.values("scrape_samples_scraped", "app", &addr)[0].1, 3.0);
    assert_eq!(r.values("up", "app", &addr)[0].1, 0.0);
    assert!(r.values("a", "app", &addr).is_empty());
    r.manager.stop();
}

#[test]
fn removed_job_is_stopped_and_unknown_job_ignored() {
    // TestManagerApplyConfig, TestManagerScrapePools.
    let server = TestServer::start(|_| Reply::text("m 1\n"));
    let addr = server.address();
    let yaml = format!(
        "scrape_configs:\n{}{}",
        job("one", "100ms", ""),
        job("two", "100ms", "")
    );
    let r = start(&yaml);
    r.send(&[("one", &[&addr]), ("two", &[&addr]), ("nope", &[&addr])]);
    assert!(wait_until(WAIT, || !r.values("m", "two", &addr).is_empty()
        && !r.values("m", "one", &addr).is_empty()));
    assert_eq!(
        r.manager.pools().keys().cloned().collect::<Vec<_>>(),
        vec!["one", "two"]
    );
    r.manager
        .apply_config(&config(&format!(
            "scrape_configs:\n{}",
            job("one", "100ms", "")
        )))
        .unwrap();
    assert_eq!(
        r.manager.pools().keys().cloned().collect::<Vec<_>>(),
        vec!["one"]
    );
    let n = r.values("m", "two", &addr).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        r.values("m", "two", &addr).len(),
        n,
        "job two no longer scraped"
    );
    r.manager.stop();
}

#[test]
fn relabeled_interval_and_dropped_targets() {
    let server = TestServer::start(|_| Reply::text("m 1\n"));
    let addr = server.address();
    let extra = "    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'drop.*'\n        action: drop\n      - target_label: __scrape_interval__\n        replacement: 150ms\n      - target_label: __scrape_timeout__\n        replacement: 100ms\n";
    let r = start(&format!("scrape_configs:\n{}", job("app", "1s", extra)));
    r.send(&[("app", &[&addr, "drop-me:1", "drop-me-too:1"])]);
    assert!(wait_until(WAIT, || r.target("app", &addr).is_some()));
    let t = r.target("app", &addr).unwrap();
    assert_eq!(t.scrape_interval, Duration::from_millis(150));
    assert_eq!(t.scrape_timeout, Duration::from_millis(100));
    let dropped = &r.manager.targets_dropped()["app"];
    assert_eq!(dropped.len(), 2);
    assert_eq!(r.manager.targets_dropped_counts()["app"], 2);
    r.manager.stop();
}

/// A prometheus-node-exporter on a free loopback port, killed on drop.
struct NodeExporter {
    child: std::process::Child,
    addr: String,
}

impl NodeExporter {
    fn start() -> NodeExporter {
        let port = closed_port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new("/usr/bin/prometheus-node-exporter")
            .arg(format!("--web.listen-address={addr}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter is installed (make peers)");
        NodeExporter { child, addr }
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn node_exporter_end_to_end() {
    let exporter = NodeExporter::start();
    let addr = exporter.addr.clone();
    let r = start(&format!("scrape_configs:\n{}", job("node", "500ms", "")));
    r.send(&[("node", &[&addr])]);
    assert!(wait_until(WAIT, || r
        .values("up", "node", &addr)
        .iter()
        .any(|s| s.1 == 1.0)));
    let scraped = r.values("scrape_samples_scraped", "node", &addr);
    let n = scraped
        .iter()
        .find(|s| s.1 > 0.0)
        .map(|s| s.1)
        .unwrap_or(0.0);
    assert!(
        n > 300.0,
        "node_exporter exposes hundreds of samples, got {n}"
    );
    assert!(r
        .store
        .samples("node_cpu_seconds_total")
        .iter()
        .all(|s| s.labels.get("job") == Some("node")));
    assert!(!r.store.samples("node_cpu_seconds_total").is_empty());
    r.manager.stop();
}
