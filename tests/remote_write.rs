//! remote_write into real receivers: Prometheus 2.42 and VictoriaMetrics,
//! through a real WAL, across an outage and across a `kill -9`.

mod remote_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use edgescrape::labels::Labels;
use edgescrape::storage::remote::{DropReason, QueueManager};
use edgescrape::storage::Appendable;
use remote_common::*;

const WAIT: Duration = Duration::from_secs(90);

#[test]
fn prometheus_and_victoria_metrics_receive_what_was_scraped() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = Peer::prometheus(&tmp.path().join("prom"), free_port());
    let vm = Peer::victoria_metrics(&tmp.path().join("vm"), free_port());
    let storage = open_storage(&tmp.path().join("edge"));
    let series = scrape_series("rw_real", 4);
    // One series carries its own `site`: the external label must not win.
    let own_site = Labels::from_pairs([("__name__", "rw_real_site"), ("site", "own")]);
    let dropped = Labels::from_pairs([("__name__", "rw_real_dropped")]);
    let (n, step) = (30, 1000);
    let t0 = now_ms() - 60_000;
    for i in 0..n {
        scrape(&storage, &series, i, t0 + i as i64 * step);
        let fanout = storage.fanout();
        let mut app = fanout.appender();
        app.append(0, &own_site, t0 + i as i64 * step, i as f64)
            .unwrap();
        app.append(0, &dropped, t0 + i as i64 * step, 1.0).unwrap();
        app.commit().unwrap();
    }
    let external = Labels::from_pairs([("site", "edge-1")]);
    let relabel = "write_relabel_configs:\n  - source_labels: [__name__]\n    regex: rw_real_dropped\n    action: drop\n";
    let queues: Vec<QueueManager> = [
        format!("{}/api/v1/write", prom.base()),
        format!("{}/api/v1/write", vm.base()),
    ]
    .iter()
    .enumerate()
    .map(|(i, url)| {
        let mut cfg = config(url, relabel);
        cfg.name = Some(format!("q{i}"));
        QueueManager::start(storage.wal(), &cfg, &external).unwrap()
    })
    .collect();
    for q in &queues {
        wait_until("every sample sent", WAIT, || {
            q.stats().samples_sent.load(Ordering::Relaxed) == (n * 5) as u64
        });
        assert_eq!(
            q.stats().samples_dropped(DropReason::DroppedSeries),
            n as u64
        );
        assert_eq!(q.stats().samples_failed.load(Ordering::Relaxed), 0);
        assert_eq!(q.stats().samples_pending.load(Ordering::Relaxed), 0);
        assert_eq!(
            q.stats().highest_sent_timestamp_ms.load(Ordering::Relaxed),
            t0 + (n as i64 - 1) * step
        );
    }
    let mut want = expected(&series, &[("site", "edge-1")], n, t0, step);
    want.insert(
        key(&own_site),
        (0..n).map(|i| (t0 + i as i64 * step, i as f64)).collect(),
    );
    assert_eq!(prometheus_samples(&prom, "rw_real.*", now_ms()), want);
    assert_eq!(victoria_samples(&vm, "rw_real.*"), want);
    for q in queues {
        q.stop(Duration::from_secs(5));
    }
}

#[test]
fn outage_longer_than_many_batches_then_every_sample_arrives_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut prom = Peer::prometheus(&tmp.path().join("prom"), free_port());
    let storage = open_storage(&tmp.path().join("edge"));
    let series = scrape_series("rw_outage", 3);
    let cfg = config(&format!("{}/api/v1/write", prom.base()), "");
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    let (n, step) = (60, 1000);
    let t0 = now_ms() - 120_000;
    for i in 0..10 {
        scrape(&storage, &series, i, t0 + i as i64 * step);
    }
    wait_until("first scrapes sent", WAIT, || {
        q.stats().samples_sent.load(Ordering::Relaxed) == 30
    });
    prom.kill();
    // 50 scrapes × 3 series = 150 samples: 15 batches of 10 while down.
    for i in 10..n {
        scrape(&storage, &series, i, t0 + i as i64 * step);
    }
    wait_until("retries during the outage", WAIT, || {
        q.stats().samples_retried.load(Ordering::Relaxed) >= 50
    });
    assert_eq!(q.stats().samples_sent.load(Ordering::Relaxed), 30);
    prom.start();
    wait_until("backlog sent", WAIT, || {
        q.stats().samples_sent.load(Ordering::Relaxed) == (n * 3) as u64
    });
    assert_eq!(q.stats().samples_failed.load(Ordering::Relaxed), 0);
    assert_eq!(
        prometheus_samples(&prom, "rw_outage", now_ms()),
        expected(&series, &[], n, t0, step)
    );
    q.stop(Duration::from_secs(5));
}

/// Run as a child process by `kill_9_during_an_outage_loses_no_committed_sample`:
/// commits scrapes with the queue running against `EDGE_URL` and reports
/// each commit on stdout, then waits to be killed.
#[test]
#[ignore = "child process of kill_9_during_an_outage_loses_no_committed_sample"]
fn crash_child() {
    let dir = std::env::var("EDGE_DIR").unwrap();
    let url = std::env::var("EDGE_URL").unwrap();
    let t0: i64 = std::env::var("EDGE_T0").unwrap().parse().unwrap();
    let (from, to): (usize, usize) = (
        std::env::var("EDGE_FROM").unwrap().parse().unwrap(),
        std::env::var("EDGE_TO").unwrap().parse().unwrap(),
    );
    let storage = open_storage(std::path::Path::new(&dir));
    let series = scrape_series("rw_crash", 3);
    let _q = QueueManager::start(storage.wal(), &config(&url, ""), &Labels::empty()).unwrap();
    for i in from..to {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
        println!("committed {i}");
    }
    let mut durable = 0;
    loop {
        let now = _q.stats().samples_durable.load(Ordering::Relaxed);
        if now != durable {
            durable = now;
            println!("durable {durable}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawns [`crash_child`] for scrapes `from..to`, waits until it prints
/// `until`, then kills it with SIGKILL.
fn run_child_and_kill(
    dir: &std::path::Path,
    url: &str,
    t0: i64,
    from: usize,
    to: usize,
    until: &str,
) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EDGE_DIR", dir)
        .env("EDGE_URL", url)
        .env("EDGE_T0", t0.to_string())
        .env("EDGE_FROM", from.to_string())
        .env("EDGE_TO", to.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let seen = out.lines().map_while(Result::ok).any(|l| l == until);
    assert!(seen, "child exited before printing {until:?}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn kill_9_during_an_outage_loses_no_committed_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let edge = tmp.path().join("edge");
    let port = free_port();
    let mut prom = Peer::prometheus(&tmp.path().join("prom"), port);
    let url = format!("{}/api/v1/write", prom.base());
    let series = scrape_series("rw_crash", 3);
    let t0 = now_ms() - 120_000;
    // First life: 10 scrapes delivered, then the receiver goes away.
    run_child_and_kill(&edge, &url, t0, 0, 10, "durable 30");
    prom.kill();
    // Second life: 15 one-second scrapes during the outage, then kill -9.
    run_child_and_kill(&edge, &url, t0, 10, 25, "committed 24");
    // Third life: the receiver is back.
    prom.start();
    let storage = open_storage(&edge);
    let q = QueueManager::start(storage.wal(), &config(&url, ""), &Labels::empty()).unwrap();
    wait_until("outage backlog delivered", WAIT, || {
        q.stats().samples_sent.load(Ordering::Relaxed) >= 45
    });
    wait_until("queue idle", WAIT, || {
        q.stats().samples_pending.load(Ordering::Relaxed) == 0
    });
    assert_eq!(q.stats().samples_failed.load(Ordering::Relaxed), 0);
    assert_eq!(
        prometheus_samples(&prom, "rw_crash", now_ms()),
        expected(&series, &[], 25, t0, 1000)
    );
    // Nothing acknowledged in the first life was sent again.
    assert_eq!(q.stats().samples_sent.load(Ordering::Relaxed), 45);
    q.stop(Duration::from_secs(5));
}
