//! The fanout through real files: append, commit, rollback, replay, the
//! head's checks and queries.

use std::path::Path;
use std::time::Duration;

use edgescrape::labels::Labels;
use edgescrape::storage::fanout::{Storage, StorageOptions};
use edgescrape::storage::selector::parse_selector;
use edgescrape::storage::stats::StorageStats;
use edgescrape::storage::wal::{Position, Record, WalReader};
use edgescrape::storage::{is_stale_nan, stale_nan, AppendError, Appendable};

fn series(name: &str, instance: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("instance", instance), ("job", "node")])
}

fn open(dir: &Path) -> Storage {
    Storage::open(
        dir,
        StorageOptions {
            head_window: Duration::from_secs(3600),
            ..StorageOptions::default()
        },
    )
    .unwrap()
}

/// Every sample in the WAL, in order.
fn wal_samples(dir: &Path) -> Vec<(u64, i64, u64)> {
    let mut r = WalReader::open(&dir.join("wal"), Position::default()).unwrap();
    let mut out = Vec::new();
    while let Some((rec, _)) = r.next().unwrap() {
        if let Record::Samples(s) = rec {
            out.extend(s.iter().map(|s| (s.series_ref, s.t, s.v.to_bits())));
        }
    }
    out
}

#[test]
fn commit_shows_samples_and_rollback_leaves_no_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open(tmp.path());
    let fanout = storage.fanout();
    let a = series("up", "a");
    let b = series("up", "b");

    let mut app = fanout.appender();
    let ra = app.append(0, &a, 1000, 1.0).unwrap();
    let rb = app.append(0, &b, 1000, 0.0).unwrap();
    assert_ne!(ra, rb);
    assert!(storage
        .head()
        .instant(&parse_selector("up").unwrap(), 1000, 300_000)
        .is_empty());
    app.commit().unwrap();
    drop(app);
    let got = storage
        .head()
        .instant(&parse_selector("up").unwrap(), 1000, 300_000);
    assert_eq!(got, vec![(a.clone(), 1000, 1.0), (b.clone(), 1000, 0.0)]);

    let bytes = StorageStats::get(&storage.stats().wal_bytes_written_total);
    let mut app = fanout.appender();
    assert_eq!(app.append(ra, &a, 2000, 5.0).unwrap(), ra);
    app.rollback();
    drop(app);
    assert_eq!(
        StorageStats::get(&storage.stats().wal_bytes_written_total),
        bytes
    );
    let got = storage
        .head()
        .instant(&parse_selector("up").unwrap(), 2000, 300_000);
    assert_eq!(got[0], (a.clone(), 1000, 1.0));
    assert_eq!(wal_samples(tmp.path()).len(), 2);
    assert_eq!(
        StorageStats::get(&storage.stats().samples_appended_total),
        2
    );
}

#[test]
fn replay_after_drop_restores_head_and_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut refs = Vec::new();
    {
        let storage = open(tmp.path());
        let fanout = storage.fanout();
        for scrape in 0..20 {
            let mut app = fanout.appender();
            refs.clear();
            for i in 0..50 {
                let l = series("node_cpu_seconds_total", &format!("host{i}"));
                refs.push(
                    app.append(0, &l, scrape * 15_000, scrape as f64 * 1.5 + i as f64)
                        .unwrap(),
                );
            }
            app.commit().unwrap();
        }
        // Dropped without close: EveryCommit already synced every commit.
    }
    let storage = open(tmp.path());
    assert_eq!(storage.head().num_series(), 50);
    assert_eq!(
        StorageStats::get(&storage.stats().wal_replayed_samples_total),
        20 * 50
    );
    let got = storage
        .select_range(
            &parse_selector(r#"node_cpu_seconds_total{instance="host7"}"#).unwrap(),
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    let want: Vec<_> = (0..20)
        .map(|s| (s * 15_000, s as f64 * 1.5 + 7.0))
        .collect();
    assert_eq!(got, vec![(series("node_cpu_seconds_total", "host7"), want)]);

    // The same labels keep their refs; new series get fresh ones.
    let fanout = storage.fanout();
    let mut app = fanout.appender();
    for (i, r) in refs.iter().enumerate() {
        let l = series("node_cpu_seconds_total", &format!("host{i}"));
        assert_eq!(app.append(0, &l, 300_000, 0.0).unwrap(), *r);
    }
    let fresh = app.append(0, &series("new", "x"), 300_000, 0.0).unwrap();
    assert!(refs.iter().all(|r| *r < fresh));
    app.commit().unwrap();
}

#[test]
fn out_of_order_and_duplicates_are_refused_per_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = open(tmp.path());
    let fanout = storage.fanout();
    let a = series("x", "a");
    let mut app = fanout.appender();
    let r = app.append(0, &a, 10_000, 1.0).unwrap();
    app.commit().unwrap();

    let mut app = fanout.appender();
    assert_eq!(
        app.append(r, &a, 9_000, 1.0),
        Err(AppendError::OutOfOrderSample)
    );
    assert_eq!(
        app.append(r, &a, 10_000, 2.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    // Same timestamp and value: accepted silently, as Prometheus.
    assert_eq!(app.append(r, &a, 10_000, 1.0), Ok(r));
    // Within the batch too.
    assert_eq!(app.append(r, &a, 20_000, 3.0), Ok(r));
    assert_eq!(
        app.append(r, &a, 15_000, 3.0),
        Err(AppendError::OutOfOrderSample)
    );
    assert_eq!(
        app.append(r, &a, 20_000, 4.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    // The batch stays usable after refusals.
    let b = app.append(0, &series("x", "b"), 20_000, 1.0).unwrap();
    app.commit().unwrap();
    assert_ne!(b, r);
    assert_eq!(StorageStats::get(&storage.stats().out_of_order_total), 2);
    assert_eq!(StorageStats::get(&storage.stats().duplicate_total), 2);
    let got = storage
        .select_range(&parse_selector(r#"x{instance="a"}"#).unwrap(), 0, i64::MAX)
        .unwrap();
    assert_eq!(got[0].1, vec![(10_000, 1.0), (20_000, 3.0)]);
    assert_eq!(wal_samples(tmp.path()).len(), 3);
}

#[test]
fn stale_markers_survive_wal_and_replay_bit_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = series("node_load1", "gone");
    let live = series("node_load1", "live");
    let nan = f64::from_bits(0x7ff8_0000_0000_0001);
    {
        let storage = open(tmp.path());
        let fanout = storage.fanout();
        let mut app = fanout.appender();
        app.append(0, &gone, 1000, 0.5).unwrap();
        app.append(0, &live, 1000, nan).unwrap();
        app.commit().unwrap();
        let mut app = fanout.appender();
        app.append(0, &gone, 2000, stale_nan()).unwrap();
        app.append(0, &live, 2000, 0.25).unwrap();
        app.commit().unwrap();
        storage.close().unwrap();
    }
    let bits: Vec<u64> = wal_samples(tmp.path()).iter().map(|s| s.2).collect();
    assert_eq!(
        bits,
        [
            0.5f64.to_bits(),
            nan.to_bits(),
            stale_nan().to_bits(),
            0.25f64.to_bits()
        ]
    );
    let storage = open(tmp.path());
    let sel = parse_selector("node_load1").unwrap();
    let raw = storage.select_range(&sel, 0, i64::MAX).unwrap();
    assert_eq!(raw[0].0, gone);
    assert!(is_stale_nan(raw[0].1[1].1));
    assert_eq!(raw[1].1[0].1.to_bits(), nan.to_bits());
    // The stale series is gone from instant queries after its marker only;
    // the head answers "now", the WAL the instant before.
    assert_eq!(
        storage.instant(&sel, 2500, 300_000).unwrap(),
        vec![(live.clone(), 2000, 0.25)]
    );
    assert_eq!(
        storage.head().instant(&sel, 2500, 300_000),
        vec![(live.clone(), 2000, 0.25)]
    );
    let before = storage.instant(&sel, 1500, 300_000).unwrap();
    assert_eq!(before.len(), 2);
    assert_eq!(before[0], (gone.clone(), 1000, 0.5));
    // The head keeps only the newest sample of each series.
    let head = storage.head().select(&sel, 0, i64::MAX);
    assert!(head.iter().all(|(_, s)| s.len() == 1 && s[0].0 == 2000));
}

#[test]
fn replay_joins_two_refs_of_a_series_that_came_back() {
    let tmp = tempfile::tempdir().unwrap();
    let short = || StorageOptions {
        head_window: Duration::from_secs(10),
        ..StorageOptions::default()
    };
    let (a, b) = (series("up", "a"), series("up", "b"));
    let commit = |storage: &Storage, samples: &[(&Labels, i64, f64)]| {
        let fanout = storage.fanout();
        let mut app = fanout.appender();
        let refs: Vec<u64> = samples
            .iter()
            .map(|&(l, t, v)| app.append(0, l, t, v).unwrap())
            .collect();
        app.commit().unwrap();
        refs
    };
    let storage = Storage::open(tmp.path(), short()).unwrap();
    let first = commit(&storage, &[(&a, 1000, 1.0)])[0];
    commit(&storage, &[(&b, 20_000, 2.0)]);
    // `a` had no sample within the window: GC dropped it, it comes back
    // under a new ref.
    let second = commit(&storage, &[(&a, 21_000, 3.0), (&b, 22_000, 4.0)])[0];
    assert_ne!(first, second);
    storage.close().unwrap();
    drop(storage);

    let storage = Storage::open(tmp.path(), short()).unwrap();
    let up = parse_selector("up").unwrap();
    assert_eq!(
        storage.head().instant(&up, 22_000, 300_000),
        vec![(a.clone(), 21_000, 3.0), (b.clone(), 22_000, 4.0)]
    );
    assert_eq!(storage.head().num_series(), 2);
    // New samples of `a` go to the one series the head kept.
    commit(&storage, &[(&a, 23_000, 5.0)]);
    let a_now = storage.head().instant(
        &parse_selector(r#"up{instance="a"}"#).unwrap(),
        23_000,
        300_000,
    );
    assert_eq!(a_now, vec![(a.clone(), 23_000, 5.0)]);
    let range = storage.select_range(&up, 0, 30_000).unwrap();
    assert_eq!(
        range[0],
        (a, vec![(1000, 1.0), (21_000, 3.0), (23_000, 5.0)])
    );
}
