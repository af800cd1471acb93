//! Queue behaviour against a recording receiver on 127.0.0.1 that decodes
//! every request: refused batches are dropped and counted, failing ones
//! retried, a restart resends nothing, old samples are dropped by age.

mod remote_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use edgescrape::labels::Labels;
use edgescrape::storage::remote::{position_file, DropReason, QueueManager};
use remote_common::*;

const WAIT: Duration = Duration::from_secs(60);

fn sent(q: &QueueManager) -> u64 {
    q.stats().samples_sent.load(Ordering::Relaxed)
}

#[test]
fn a_4xx_batch_is_dropped_and_counted_the_rest_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open_storage(tmp.path());
    let rec = Recorder::start(
        0,
        Box::new(|n| if n == 0 { (400, None) } else { (204, None) }),
    );
    let series = scrape_series("q4xx", 1);
    let t0 = now_ms() - 60_000;
    for i in 0..30 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
    }
    let q = QueueManager::start(storage.wal(), &config(&rec.url(), ""), &Labels::empty()).unwrap();
    wait_until("all batches done", WAIT, || {
        q.stats().samples_pending.load(Ordering::Relaxed) == 0 && sent(&q) == 20
    });
    assert_eq!(q.stats().samples_failed.load(Ordering::Relaxed), 10);
    assert_eq!(q.stats().samples_retried.load(Ordering::Relaxed), 0);
    // The first batch (scrapes 0..10) is gone, the others arrived in order.
    let got = rec.got();
    let want = expected(&series, &[], 30, t0, 1000);
    let (k, all) = want.iter().next().unwrap();
    assert_eq!(&got[k], &all[10..].to_vec());
    q.stop(Duration::from_secs(1));
}

#[test]
fn http_5xx_and_429_are_retried_with_retry_after_until_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open_storage(tmp.path());
    let rec = Recorder::start(
        0,
        Box::new(|n| match n {
            0 | 1 => (503, None),
            2 => (429, Some("1".to_string())),
            3 => (500, Some("garbage".to_string())),
            _ => (204, None),
        }),
    );
    let series = scrape_series("q5xx", 2);
    let t0 = now_ms() - 60_000;
    for i in 0..5 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
    }
    // One shard: one batch of 10 meets every scripted failure.
    let cfg = config(&rec.url(), "  max_shards: 1\n");
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    wait_until("delivered", WAIT, || sent(&q) == 10);
    assert_eq!(rec.got(), expected(&series, &[], 5, t0, 1000));
    assert_eq!(q.stats().samples_retried.load(Ordering::Relaxed), 40);
    assert_eq!(q.stats().samples_failed.load(Ordering::Relaxed), 0);
    assert_eq!(*rec.requests.lock().unwrap(), 5);
    q.stop(Duration::from_secs(1));
}

#[test]
fn a_restart_sends_nothing_twice_and_continues_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open_storage(tmp.path());
    let rec = Recorder::start(0, Box::new(|_| (204, None)));
    let series = scrape_series("qrestart", 5);
    let t0 = now_ms() - 60_000;
    for i in 0..20 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
    }
    let cfg = config(&rec.url(), "");
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    wait_until("first run delivered", WAIT, || sent(&q) == 100);
    q.stop(Duration::from_secs(5));
    assert!(position_file(storage.wal().dir(), "test").exists());
    for i in 20..30 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
    }
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    wait_until("second run delivered", WAIT, || sent(&q) == 50);
    q.stop(Duration::from_secs(5));
    // Exactly once each, in order.
    assert_eq!(rec.got(), expected(&series, &[], 30, t0, 1000));
}

#[test]
fn samples_older_than_sample_age_limit_are_dropped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open_storage(tmp.path());
    let rec = Recorder::start(0, Box::new(|_| (204, None)));
    let old = scrape_series("qold", 2);
    let fresh = scrape_series("qfresh", 2);
    let now = now_ms();
    for i in 0..5 {
        scrape(&storage, &old, i, now - 3_600_000 + i as i64 * 1000);
        scrape(&storage, &fresh, i, now - 10_000 + i as i64 * 1000);
    }
    let cfg = config(&rec.url(), "  sample_age_limit: 10m\n");
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    wait_until("done", WAIT, || {
        q.stats().samples_pending.load(Ordering::Relaxed) == 0
            && q.stats().samples_in.load(Ordering::Relaxed) == 20
    });
    assert_eq!(q.stats().samples_dropped(DropReason::TooOld), 10);
    assert_eq!(sent(&q), 10);
    assert_eq!(rec.got(), expected(&fresh, &[], 5, now - 10_000, 1000));
    q.stop(Duration::from_secs(1));
}

#[test]
fn stop_during_an_outage_keeps_everything_for_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open_storage(tmp.path());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let series = scrape_series("qstop", 3);
    let t0 = now_ms() - 60_000;
    for i in 0..10 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
    }
    let cfg = config(&url, "");
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    wait_until("retrying", WAIT, || {
        q.stats().samples_retried.load(Ordering::Relaxed) > 0
    });
    q.stop(Duration::from_millis(300));
    let rec = Recorder::start(port, Box::new(|_| (204, None)));
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    wait_until("delivered after restart", WAIT, || sent(&q) == 30);
    assert_eq!(rec.got(), expected(&series, &[], 10, t0, 1000));
    q.stop(Duration::from_secs(1));
}

#[test]
fn a_caught_up_queue_is_fed_from_memory_and_a_gap_goes_back_to_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open_storage(tmp.path());
    let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let gate = open.clone();
    let rec = Recorder::start(
        0,
        Box::new(move |_| {
            if gate.load(Ordering::SeqCst) {
                (204, None)
            } else {
                (503, None)
            }
        }),
    );
    let series = scrape_series("qfeed", 5);
    let t0 = now_ms() - 60_000;
    for i in 0..10 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
    }
    // A feed of 20 samples, one shard with two chunks of 10 in flight.
    let cfg = config(&rec.url(), "  capacity: 20\n  max_shards: 1\n");
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    wait_until("backlog read from the files", WAIT, || sent(&q) == 50);
    assert_eq!(q.stats().samples_from_memory.load(Ordering::Relaxed), 0);

    // Caught up: every later commit arrives from memory.
    for i in 10..20 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
        wait_until("fed from memory", WAIT, || sent(&q) == 5 * (i as u64 + 1));
    }
    assert_eq!(q.stats().samples_from_memory.load(Ordering::Relaxed), 50);
    assert_eq!(q.stats().feed_gaps.load(Ordering::Relaxed), 0);

    // The receiver fails: the shard and its channel fill, the feed
    // overflows, and the queue reads what it missed from the files.
    open.store(false, Ordering::SeqCst);
    for i in 20..60 {
        scrape(&storage, &series, i, t0 + i as i64 * 1000);
    }
    open.store(true, Ordering::SeqCst);
    wait_until("everything delivered", WAIT, || sent(&q) == 300);
    assert!(q.stats().feed_gaps.load(Ordering::Relaxed) >= 1);
    assert_eq!(rec.got(), expected(&series, &[], 60, t0, 1000));
    q.stop(Duration::from_secs(1));
}

#[test]
fn a_busy_shard_is_resharded_and_every_sample_arrives_once() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open_storage(tmp.path());
    // 50 ms a request of 10 samples: one shard sends 200 samples a second.
    let rec = Recorder::start(
        0,
        Box::new(|_| {
            std::thread::sleep(Duration::from_millis(50));
            (204, None)
        }),
    );
    let series = scrape_series("qreshard", 10);
    let cfg = config(&rec.url(), "  min_shards: 1\n  max_shards: 4\n");
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    assert_eq!(q.stats().shards.load(Ordering::Relaxed), 1);
    // 250 samples a second keep the one shard busy until it reshards.
    let t0 = now_ms() - 3_600_000;
    let mut n = 0;
    while q.stats().shards.load(Ordering::Relaxed) < 2 {
        assert!(n < 2_000, "no reshard after {n} scrapes");
        scrape(&storage, &series, n, t0 + n as i64 * 1000);
        n += 1;
        std::thread::sleep(Duration::from_millis(40));
    }
    for _ in 0..20 {
        scrape(&storage, &series, n, t0 + n as i64 * 1000);
        n += 1;
    }
    wait_until("delivered", WAIT, || sent(&q) == n as u64 * 10);
    q.stop(Duration::from_secs(5));
    // A restart keeps the layout and still sends nothing twice.
    for _ in 0..5 {
        scrape(&storage, &series, n, t0 + n as i64 * 1000);
        n += 1;
    }
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    assert!(q.stats().shards.load(Ordering::Relaxed) >= 2);
    wait_until("second run delivered", WAIT, || sent(&q) == 50);
    q.stop(Duration::from_secs(5));
    assert_eq!(rec.got(), expected(&series, &[], n, t0, 1000));
}
