//! The WAL on real files: damage, retention, checkpoints and readers.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use edgescrape::labels::Labels;
use edgescrape::storage::fanout::{Storage, StorageOptions};
use edgescrape::storage::selector::parse_selector;
use edgescrape::storage::stats::StorageStats;
use edgescrape::storage::wal::{Position, Record, WalOptions, WalReader};
use edgescrape::storage::{Appendable, SeriesRef};

const SERIES: usize = 40;
const STEP: i64 = 15_000;

fn options(segment_size: u64, retention_size: u64) -> StorageOptions {
    StorageOptions {
        wal: WalOptions {
            segment_size,
            retention_size,
            retention_check_interval: Duration::from_secs(3600),
            ..WalOptions::default()
        },
        head_window: Duration::from_secs(3600),
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "node_network_receive_bytes_total"),
        ("device", &format!("eth{i}")),
        ("instance", "box:9100"),
        ("job", "node"),
    ])
}

fn value(scrape: i64, i: usize) -> f64 {
    (scrape * 1500 + i as i64 * 7) as f64
}

/// Commits scrapes `from..to`, each `SERIES` samples at `scrape * STEP`.
fn scrape(storage: &Storage, from: i64, to: i64) {
    let fanout = storage.fanout();
    for s in from..to {
        let mut app = fanout.appender();
        for i in 0..SERIES {
            app.append(0, &labels(i), s * STEP, value(s, i)).unwrap();
        }
        app.commit().unwrap();
    }
}

fn wal_dir(dir: &Path) -> PathBuf {
    dir.join("wal")
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = fs::read_dir(wal_dir(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .collect();
    out.sort();
    out
}

fn disk_bytes(dir: &Path) -> u64 {
    fs::read_dir(wal_dir(dir))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// The scrapes whose samples the head holds for series 0.
fn scrapes_in_head(storage: &Storage) -> Vec<i64> {
    let sel = parse_selector(r#"node_network_receive_bytes_total{device="eth0"}"#).unwrap();
    let got = storage.select_range(&sel, i64::MIN, i64::MAX).unwrap();
    got.first()
        .map(|(_, s)| s.iter().map(|(t, _)| t / STEP).collect())
        .unwrap_or_default()
}

/// Every record a fresh reader from `from` returns, with positions.
fn read_all(dir: &Path, from: Position) -> Vec<(Record, Position)> {
    let mut r = WalReader::open(&wal_dir(dir), from).unwrap();
    let mut out = Vec::new();
    while let Some(x) = r.next().unwrap() {
        out.push(x);
    }
    out
}

/// The samples of `records`, each resolved to its labels through the
/// series records seen before it.
fn resolved(records: &[(Record, Position)]) -> Vec<(Labels, i64, u64)> {
    let mut names: HashMap<SeriesRef, Labels> = HashMap::new();
    let mut out = Vec::new();
    for (rec, _) in records {
        match rec {
            Record::Series(s) => names.extend(s.iter().cloned()),
            Record::Samples(s) => {
                for x in s {
                    let l = names
                        .get(&x.series_ref)
                        .unwrap_or_else(|| panic!("unresolved ref {}", x.series_ref));
                    out.push((l.clone(), x.t, x.v.to_bits()));
                }
            }
        }
    }
    out
}

#[test]
fn truncated_last_segment_is_cut_at_last_whole_record() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let storage = Storage::open(tmp.path(), options(4 << 20, 0)).unwrap();
        scrape(&storage, 0, 10);
        storage.close().unwrap();
    }
    let last = segments(tmp.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let storage = Storage::open(tmp.path(), options(4 << 20, 0)).unwrap();
    let stats = storage.stats();
    assert_eq!(StorageStats::get(&stats.wal_corrupt_records_total), 1);
    let cut = StorageStats::get(&stats.wal_truncated_bytes_total);
    assert!(cut > 0);
    assert_eq!(fs::metadata(&last).unwrap().len(), len - 5 - cut);
    assert_eq!(scrapes_in_head(&storage), (0..9).collect::<Vec<_>>());
    // Writing goes on, in a new segment.
    scrape(&storage, 10, 11);
    drop(storage);
    let storage = Storage::open(tmp.path(), options(4 << 20, 0)).unwrap();
    assert_eq!(
        StorageStats::get(&storage.stats().wal_corrupt_records_total),
        0
    );
    assert_eq!(scrapes_in_head(&storage), [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]);
}

#[test]
fn flipped_bytes_in_last_segment_cut_from_there() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let storage = Storage::open(tmp.path(), options(4 << 20, 0)).unwrap();
        scrape(&storage, 0, 10);
    }
    let last = segments(tmp.path()).pop().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    // Inside the last samples record.
    let at = bytes.len() - 30;
    bytes[at] ^= 0xff;
    bytes[at + 1] ^= 0x55;
    fs::write(&last, &bytes).unwrap();

    let storage = Storage::open(tmp.path(), options(4 << 20, 0)).unwrap();
    assert_eq!(
        StorageStats::get(&storage.stats().wal_corrupt_records_total),
        1
    );
    assert!(StorageStats::get(&storage.stats().wal_truncated_bytes_total) > 0);
    assert_eq!(scrapes_in_head(&storage), (0..9).collect::<Vec<_>>());
}

#[test]
fn damage_in_an_older_segment_skips_only_its_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(16 << 10, 0);
    opts.head_window = Duration::from_secs(86_400);
    {
        let storage = Storage::open(tmp.path(), opts.clone()).unwrap();
        scrape(&storage, 0, 400);
    }
    let segs = segments(tmp.path());
    assert!(segs.len() >= 4, "{segs:?}");
    let victim = &segs[1];
    let mut bytes = fs::read(victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(victim, &bytes).unwrap();

    let storage = Storage::open(tmp.path(), opts).unwrap();
    assert_eq!(
        StorageStats::get(&storage.stats().wal_corrupt_records_total),
        1
    );
    // The damaged segment is left as it was on disk.
    assert_eq!(fs::read(victim).unwrap(), bytes);
    let kept = scrapes_in_head(&storage);
    let missing: Vec<i64> = (0..400).filter(|s| !kept.contains(s)).collect();
    assert!(!missing.is_empty());
    // Only a stretch inside the damaged segment is missing; everything
    // after it (its series were defined before the damage) is back.
    let (lo, hi) = (missing[0], missing[missing.len() - 1]);
    assert_eq!(missing, (lo..=hi).collect::<Vec<_>>());
    assert!(kept.contains(&399) && kept.contains(&0));

    // A reader skips the same stretch and goes on.
    let mut r = WalReader::open(&wal_dir(tmp.path()), Position::default()).unwrap();
    let mut records = Vec::new();
    while let Some(x) = r.next().unwrap() {
        records.push(x);
    }
    assert_eq!(r.skipped_damage(), 1);
    let eth0 = labels(0);
    let read: Vec<i64> = resolved(&records)
        .iter()
        .filter(|(l, _, _)| *l == eth0)
        .map(|(_, t, _)| t / STEP)
        .collect();
    assert_eq!(read, kept);
}

/// Offsets of the frames of kind `kind` in a segment file.
fn frames_of_kind(bytes: &[u8], kind: u8) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        if bytes[at] == kind {
            out.push(at);
        }
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        at += 9 + len;
    }
    out
}

#[test]
fn lost_series_record_skips_its_samples_and_never_mislabels() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(16 << 10, 0);
    opts.head_window = Duration::from_secs(86_400);
    let late = Labels::from_pairs([("__name__", "late"), ("job", "node")]);
    let late_ref;
    {
        let storage = Storage::open(tmp.path(), opts.clone()).unwrap();
        scrape(&storage, 0, 150);
        let first = storage.wal().head_position().segment;
        assert!(first >= 1, "scrapes 0..150 fill more than one segment");
        // A series that first appears now: its one series record is in
        // this segment, every later segment refers to it by ref only.
        let fanout = storage.fanout();
        let mut app = fanout.appender();
        late_ref = app.append(0, &late, 150 * STEP, 1.0).unwrap();
        app.commit().unwrap();
        drop(app);
        for s in 151..400 {
            let mut app = fanout.appender();
            for i in 0..SERIES {
                app.append(0, &labels(i), s * STEP, value(s, i)).unwrap();
            }
            app.append(late_ref, &late, s * STEP, s as f64).unwrap();
            app.commit().unwrap();
        }
        assert!(storage.wal().head_position().segment > first + 1);
    }
    let segs = segments(tmp.path());
    let victim = segs
        .iter()
        .find(|p| {
            let b = fs::read(p).unwrap();
            frames_of_kind(&b, 1).iter().any(|&at| {
                let body = &b[at + 9..];
                body.windows(4).take(64).any(|w| w == b"late")
            })
        })
        .expect("a segment holding the series record of `late`")
        .clone();
    let mut bytes = fs::read(&victim).unwrap();
    let at = frames_of_kind(&bytes, 1)
        .into_iter()
        .find(|&at| bytes[at + 9..].windows(4).take(64).any(|w| w == b"late"))
        .unwrap();
    bytes[at + 12] ^= 0x20;
    fs::write(&victim, &bytes).unwrap();

    let storage = Storage::open(tmp.path(), opts).unwrap();
    let stats = storage.stats();
    assert_eq!(StorageStats::get(&stats.wal_corrupt_records_total), 1);
    let unknown = StorageStats::get(&stats.wal_unknown_series_samples_total);
    assert!(
        unknown > 100,
        "samples of `late` after the damage: {unknown}"
    );
    // No sample reached any series under the lost ref.
    let got = storage
        .select_range(
            &parse_selector(r#"{__name__=~".+"}"#).unwrap(),
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    assert!(got.iter().all(|(l, _)| *l != late), "late has no labels");
    assert_eq!(got.len(), SERIES);
    // The series comes back under a new ref.
    let fanout = storage.fanout();
    let mut app = fanout.appender();
    let again = app.append(0, &late, 400 * STEP, 400.0).unwrap();
    app.commit().unwrap();
    assert!(again > late_ref, "{again} <= {late_ref}");
}

#[test]
fn size_bound_holds_and_counts_what_an_idle_reader_loses() {
    let tmp = tempfile::tempdir().unwrap();
    let bound = 64 << 10;
    let storage = Storage::open(tmp.path(), options(4 << 20, bound)).unwrap();
    let reader = storage.wal().register_reader("remote-down");
    let fanout = storage.fanout();
    for s in 0..600 {
        let mut app = fanout.appender();
        for i in 0..SERIES {
            app.append(0, &labels(i), s * STEP, value(s, i)).unwrap();
        }
        app.commit().unwrap();
        let used = disk_bytes(tmp.path());
        assert!(
            used <= bound,
            "scrape {s}: {used} bytes on disk, bound {bound}"
        );
    }
    let stats = storage.stats();
    assert!(StorageStats::get(&stats.retention_segments_dropped_unread_total) > 0);
    let dropped = StorageStats::get(&stats.retention_samples_dropped_unread_total);
    assert!(dropped > 0 && dropped % SERIES as u64 == 0, "{dropped}");
    assert_eq!(reader.read_up_to(), Position::default());
    // What remains still reads from the start: checkpoint first.
    let records = read_all(tmp.path(), Position::default());
    assert!(matches!(records[0].0, Record::Series(_)));
    let samples = resolved(&records);
    assert_eq!(samples.len() as u64 + dropped, 600 * SERIES as u64);
    assert_eq!(samples.last().map(|s| s.1), Some(599 * STEP));
}

#[test]
fn retention_waits_for_readers_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(16 << 10, 0);
    opts.head_window = Duration::from_secs(60);
    let storage = Storage::open(tmp.path(), opts).unwrap();
    let reader = storage.wal().register_reader("remote");
    scrape(&storage, 0, 600);
    let before = segments(tmp.path()).len();
    assert!(before >= 5);
    storage.wal().truncate();
    assert_eq!(segments(tmp.path()).len(), before);

    // The reader reads half and says so.
    let records = read_all(tmp.path(), Position::default());
    let half = records[records.len() / 2].1;
    reader.set_read_up_to(half);
    storage.wal().truncate();
    let left = segments(tmp.path());
    let first_left: u64 = left[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first_left, half.segment);
    let stats = storage.stats();
    assert!(StorageStats::get(&stats.retention_segments_deleted_total) > 0);
    assert_eq!(
        StorageStats::get(&stats.retention_segments_dropped_unread_total),
        0
    );
    assert!(wal_dir(tmp.path())
        .join(format!("checkpoint.{:08}", half.segment - 1))
        .exists());

    // A reader gone from the WAL no longer holds anything back; the head
    // window still does (the last 60s of samples stay).
    drop(reader);
    storage.wal().truncate();
    let left = segments(tmp.path());
    assert!(left.len() < 4, "{left:?}");
    assert_eq!(
        StorageStats::get(&stats.retention_segments_dropped_unread_total),
        0
    );
}

#[test]
fn time_bound_forces_deletion_and_counts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(16 << 10, 0);
    opts.wal.retention_time = Some(Duration::from_secs(3600));
    let storage = Storage::open(tmp.path(), opts).unwrap();
    let _reader = storage.wal().register_reader("remote-down");
    // Timestamps from 1970: every closed segment is past the bound.
    scrape(&storage, 0, 100);
    let before = segments(tmp.path()).len();
    storage.wal().truncate();
    assert_eq!(segments(tmp.path()).len(), 1);
    let stats = storage.stats();
    assert_eq!(
        StorageStats::get(&stats.retention_segments_dropped_unread_total),
        before as u64 - 1
    );
}

#[test]
fn checkpoint_keeps_series_resolvable_and_refs_unique() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(16 << 10, 0);
    opts.head_window = Duration::from_secs(60);
    let old_ref;
    {
        let storage = Storage::open(tmp.path(), opts.clone()).unwrap();
        // A series seen once, early, with the highest ref so far.
        let fanout = storage.fanout();
        scrape(&storage, 0, 1);
        let mut app = fanout.appender();
        old_ref = app
            .append(0, &Labels::from_pairs([("__name__", "once")]), 0, 1.0)
            .unwrap();
        app.commit().unwrap();
        drop(app);
        scrape(&storage, 1, 400);
        storage.wal().truncate();
        storage.close().unwrap();
    }
    assert!(!wal_dir(tmp.path()).join("00000000").exists());
    let records = read_all(tmp.path(), Position::default());
    let Record::Series(first) = &records[0].0 else {
        panic!("checkpoint series first, got {:?}", records[0].0)
    };
    assert!(first.iter().any(|(_, l)| *l == labels(0)));
    assert!(!first.iter().any(|(r, _)| *r == old_ref));
    resolved(&records);

    let storage = Storage::open(tmp.path(), opts).unwrap();
    let fanout = storage.fanout();
    let mut app = fanout.appender();
    let fresh = app
        .append(
            0,
            &Labels::from_pairs([("__name__", "newer")]),
            400 * STEP,
            1.0,
        )
        .unwrap();
    assert!(fresh > old_ref, "{fresh} <= {old_ref}");
}

#[test]
fn reader_resumes_at_saved_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path(), options(16 << 10, 0)).unwrap();
    scrape(&storage, 0, 250);
    let all = read_all(tmp.path(), Position::default());
    let everything = resolved(&all);
    assert_eq!(everything.len(), 250 * SERIES);
    for k in [
        1,
        all.len() / 3,
        all.len() / 2 + 1,
        all.len() - 2,
        all.len() - 1,
    ] {
        let saved = all[k - 1].1;
        let after: Vec<_> = all[k..].to_vec();
        let resumed = read_all(tmp.path(), saved);
        let want = samples_only(&after);
        assert_eq!(samples_only(&resumed), want, "resume at {saved:?}");
        // The series preamble makes every ref resolvable.
        assert_eq!(resolved(&resumed).len(), want.len());
        if saved.offset > 0 {
            assert!(matches!(&resumed[0], (Record::Series(_), p) if *p == saved));
        }
    }
    // The start of a segment needs nothing before it.
    let start = Position {
        segment: 2,
        offset: 0,
    };
    let resumed = read_all(tmp.path(), start);
    assert!(matches!(resumed[0].0, Record::Series(_)));
    assert_eq!(resolved(&resumed).last(), everything.last());
}

fn samples_only(records: &[(Record, Position)]) -> Vec<(u64, i64, u64)> {
    records
        .iter()
        .filter_map(|(r, _)| match r {
            Record::Samples(s) => Some(s.iter().map(|x| (x.series_ref, x.t, x.v.to_bits()))),
            Record::Series(_) => None,
        })
        .flatten()
        .collect()
}

#[test]
fn reader_tails_commits_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path(), options(4 << 10, 0)).unwrap();
    let notified = storage.wal().subscribe();
    let mut reader = WalReader::open(&wal_dir(tmp.path()), Position::default()).unwrap();
    assert!(reader.next().unwrap().is_none());
    let mut seen = 0;
    for s in 0..300 {
        scrape(&storage, s, s + 1);
        notified
            .recv_timeout(Duration::from_secs(30))
            .expect("commit notification");
        let mut got_samples = false;
        while let Some((rec, pos)) = reader.next().unwrap() {
            assert_eq!(pos, reader.position());
            if let Record::Samples(x) = rec {
                assert!(x.iter().all(|x| x.t == s * STEP));
                seen += x.len();
                got_samples = true;
            }
        }
        assert!(got_samples, "scrape {s}");
    }
    assert_eq!(seen, 300 * SERIES);
    assert!(reader.position().segment >= 3);
    assert_eq!(reader.position(), storage.wal().head_position());
}

#[test]
fn select_range_reads_the_past_from_the_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(16 << 10, 0);
    opts.head_window = Duration::from_secs(86_400);
    let want = |i: usize| -> Vec<(i64, f64)> {
        (100..200)
            .map(|s| (s * STEP, value(s, i)))
            .collect::<Vec<_>>()
    };
    let all = parse_selector(r#"node_network_receive_bytes_total{device=~"eth.*"}"#).unwrap();
    {
        let storage = Storage::open(tmp.path(), opts.clone()).unwrap();
        scrape(&storage, 0, 400);
        assert!(segments(tmp.path()).len() > 3);
        let got = storage.select_range(&all, 100 * STEP, 199 * STEP).unwrap();
        assert_eq!(got.len(), SERIES);
        let mut names: Vec<Labels> = (0..SERIES).map(labels).collect();
        names.sort();
        for (k, (l, samples)) in got.iter().enumerate() {
            assert_eq!(*l, names[k], "sorted by labels");
            let i: usize = l.get("device").unwrap()[3..].parse().unwrap();
            assert_eq!(*samples, want(i), "{l}");
        }
    }
    // After a restart, from the replayed series table.
    let storage = Storage::open(tmp.path(), opts).unwrap();
    let eth3 = parse_selector(r#"node_network_receive_bytes_total{device="eth3"}"#).unwrap();
    let got = storage.select_range(&eth3, 100 * STEP, 199 * STEP).unwrap();
    assert_eq!(got, vec![(labels(3), want(3))]);
    assert!(storage.select_range(&eth3, -10, -1).unwrap().is_empty());
}

#[test]
fn a_segment_number_past_u32_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_dir(dir.path());
    fs::create_dir_all(&wal).unwrap();
    fs::write(wal.join("4294967296"), b"").unwrap();
    let err = Storage::open(dir.path(), options(1 << 20, 0)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("4294967296"), "{msg}");
    assert!(msg.contains("segment number above 4294967295"), "{msg}");
    fs::remove_file(wal.join("4294967296")).unwrap();
    fs::write(wal.join("checkpoint.4294967296"), b"").unwrap();
    let msg = Storage::open(dir.path(), options(1 << 20, 0))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("checkpoint.4294967296"), "{msg}");
    // The largest number is accepted.
    fs::remove_file(wal.join("checkpoint.4294967296")).unwrap();
    fs::write(wal.join("4294967295"), b"").unwrap();
    let storage = Storage::open(dir.path(), options(1 << 20, 0)).unwrap();
    storage.close().unwrap();
}
