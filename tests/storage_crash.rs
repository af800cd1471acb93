//! Crashes and full disks, with a real child process: this test binary
//! re-runs itself in a child mode (the ignored `child_process` test), is
//! killed with SIGKILL or limited with `prlimit --fsize`, and the parent
//! reopens what it left on disk.

use std::env;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edgescrape::labels::Labels;
use edgescrape::storage::fanout::{Storage, StorageOptions};
use edgescrape::storage::selector::parse_selector;
use edgescrape::storage::stats::StorageStats;
use edgescrape::storage::wal::{FsyncPolicy, WalOptions};
use edgescrape::storage::{AppendError, Appendable};

const DIR_ENV: &str = "EDGESCRAPE_STORAGE_CHILD_DIR";
const MODE_ENV: &str = "EDGESCRAPE_STORAGE_CHILD_MODE";
const SERIES: usize = 50;
const STEP: i64 = 1000;

fn options(fsync: FsyncPolicy) -> StorageOptions {
    StorageOptions {
        wal: WalOptions {
            segment_size: 64 << 10,
            fsync,
            ..WalOptions::default()
        },
        head_window: Duration::from_secs(86_400),
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "node_cpu_seconds_total"),
        ("cpu", &i.to_string()),
        ("mode", "user"),
    ])
}

fn value(scrape: i64, i: usize) -> f64 {
    scrape as f64 * 0.37 + i as f64
}

fn commit_scrape(storage: &Storage, s: i64) -> Result<(), AppendError> {
    let fanout = storage.fanout();
    let mut app = fanout.appender();
    for i in 0..SERIES {
        app.append(0, &labels(i), s * STEP, value(s, i))?;
    }
    app.commit()
}

/// The scrapes the head holds completely and correctly, in order; panics
/// on a wrong value.
fn scrapes_in_head(storage: &Storage) -> Vec<i64> {
    let sel = parse_selector("node_cpu_seconds_total").unwrap();
    let got = storage.select_range(&sel, i64::MIN, i64::MAX).unwrap();
    let mut per_scrape = std::collections::BTreeMap::new();
    for (l, samples) in &got {
        let i: usize = l.get("cpu").unwrap().parse().unwrap();
        for &(t, v) in samples {
            assert_eq!(v.to_bits(), value(t / STEP, i).to_bits(), "{l} at {t}");
            *per_scrape.entry(t / STEP).or_insert(0) += 1;
        }
    }
    per_scrape
        .into_iter()
        .filter(|&(_, n)| n == SERIES)
        .map(|(s, _)| s)
        .collect()
}

/// Runs only when started by a test below, with the mode in the environment.
#[test]
#[ignore = "child process of the crash tests; runs only when they start it"]
fn child_process() {
    let (Ok(dir), Ok(mode)) = (env::var(DIR_ENV), env::var(MODE_ENV)) else {
        return;
    };
    let fsync = match mode.as_str() {
        "interval" => FsyncPolicy::Interval(Duration::from_millis(200)),
        _ => FsyncPolicy::EveryCommit,
    };
    let storage = Storage::open(Path::new(&dir), options(fsync)).unwrap();
    if mode == "diskfull" {
        disk_full_child(&storage);
        return;
    }
    if mode == "concurrent" {
        concurrent_child(&storage);
        return;
    }
    for s in 0.. {
        commit_scrape(&storage, s).unwrap();
        println!("committed {s}");
    }
}

/// Committers at once, for the group-commit crash test.
const THREADS: usize = 4;

fn thread_labels(k: usize, i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "group_commit_test"),
        ("thread", &k.to_string()),
        ("i", &i.to_string()),
    ])
}

fn concurrent_child(storage: &Storage) {
    std::thread::scope(|scope| {
        for k in 0..THREADS {
            scope.spawn(move || {
                let fanout = storage.fanout();
                for s in 0.. {
                    let mut app = fanout.appender();
                    for i in 0..SERIES {
                        app.append(0, &thread_labels(k, i), s * STEP, value(s, i))
                            .unwrap();
                    }
                    app.commit().unwrap();
                    println!("committed {k} {s}");
                }
            });
        }
    });
}

/// Per committer thread, the scrapes stored whole and correct.
fn thread_scrapes_on_disk(storage: &Storage) -> Vec<Vec<i64>> {
    let sel = parse_selector("group_commit_test").unwrap();
    let got = storage.select_range(&sel, i64::MIN, i64::MAX).unwrap();
    let mut counts = vec![std::collections::BTreeMap::new(); THREADS];
    for (l, samples) in &got {
        let k: usize = l.get("thread").unwrap().parse().unwrap();
        let i: usize = l.get("i").unwrap().parse().unwrap();
        for &(t, v) in samples {
            assert_eq!(v.to_bits(), value(t / STEP, i).to_bits(), "{l} at {t}");
            *counts[k].entry(t / STEP).or_insert(0) += 1;
        }
    }
    counts
        .into_iter()
        .map(|c| {
            c.into_iter()
                .filter(|&(_, n)| n == SERIES)
                .map(|(s, _)| s)
                .collect()
        })
        .collect()
}

fn disk_full_child(storage: &Storage) {
    let mut s = 0;
    let err = loop {
        match commit_scrape(storage, s) {
            Ok(()) => s += 1,
            Err(e) => break e,
        }
    };
    println!("committed-count {s}");
    println!("error {err}");
    // The head shows only what the WAL accepted.
    assert_eq!(scrapes_in_head(storage), (0..s).collect::<Vec<_>>());
    // Still running; later commits fail cleanly too.
    let again = commit_scrape(storage, s);
    assert!(matches!(again, Err(AppendError::Storage(_))), "{again:?}");
    assert_eq!(scrapes_in_head(storage), (0..s).collect::<Vec<_>>());
    let failed = StorageStats::get(&storage.stats().commit_errors_total);
    println!("alive commit_errors={failed}");
}

/// What follows `key` in a line of the child's output (libtest may print
/// its own text before it on the same line).
fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.find(key).map(|i| &line[i + key.len()..])
}

fn child(dir: &Path, mode: &str, fsize_limit: Option<u64>) -> Child {
    let exe = env::current_exe().unwrap();
    let args = [
        "--ignored",
        "--exact",
        "child_process",
        "--nocapture",
        "--test-threads=1",
    ];
    let mut cmd = match fsize_limit {
        None => Command::new(exe),
        Some(limit) => {
            // SIGXFSZ ignored, so writes past the limit fail with EFBIG
            // as on a full disk instead of killing the process.
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!(
                    "trap '' XFSZ; exec prlimit --fsize={limit} -- \"$0\" \"$@\""
                ))
                .arg(exe);
            c
        }
    };
    cmd.args(args)
        .env(DIR_ENV, dir)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Kills a child mid-run and checks every commit it reported survived.
fn kill_nine_keeps_every_commit(mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut proc = child(tmp.path(), mode, None);
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut last = None;
    for line in lines.by_ref() {
        if let Some(n) = after(&line.unwrap(), "committed ") {
            let n: i64 = n.parse().unwrap();
            last = Some(n);
            if n >= 400 {
                break;
            }
        }
    }
    proc.kill().unwrap(); // SIGKILL
    for line in lines {
        if let Some(n) = after(&line.unwrap(), "committed ") {
            last = last.max(Some(n.parse().unwrap()));
        }
    }
    let status = proc.wait().unwrap();
    assert!(!status.success());
    let last = last.expect("child committed something");

    let storage = Storage::open(tmp.path(), options(FsyncPolicy::EveryCommit)).unwrap();
    let kept = scrapes_in_head(&storage);
    assert!(
        kept.len() as i64 > last,
        "{} scrapes kept, {} committed",
        kept.len(),
        last + 1
    );
    assert_eq!(kept[..=last as usize], (0..=last).collect::<Vec<_>>()[..]);
    // The next start after a clean one finds nothing to repair.
    commit_scrape(&storage, kept.len() as i64).unwrap();
    storage.close().unwrap();
    drop(storage);
    let storage = Storage::open(tmp.path(), options(FsyncPolicy::EveryCommit)).unwrap();
    assert_eq!(
        StorageStats::get(&storage.stats().wal_corrupt_records_total),
        0
    );
    assert_eq!(scrapes_in_head(&storage).len(), kept.len() + 1);
}

#[test]
fn kill_9_loses_no_committed_sample_with_fsync_every_commit() {
    kill_nine_keeps_every_commit("every-commit");
}

#[test]
fn kill_9_loses_no_committed_sample_with_fsync_interval() {
    // A process crash leaves written data in the page cache.
    kill_nine_keeps_every_commit("interval");
}

#[test]
fn kill_9_during_concurrent_commits_loses_no_committed_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let mut proc = child(tmp.path(), "concurrent", None);
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut last = [-1i64; THREADS];
    let note = |line: &str, last: &mut [i64; THREADS]| {
        if let Some(rest) = after(line, "committed ") {
            let mut it = rest.split(' ').map(|x| x.parse::<i64>().unwrap());
            let (k, s) = (it.next().unwrap() as usize, it.next().unwrap());
            last[k] = last[k].max(s);
        }
    };
    for line in lines.by_ref() {
        note(&line.unwrap(), &mut last);
        if last.iter().all(|&s| s >= 100) {
            break;
        }
    }
    proc.kill().unwrap(); // SIGKILL
    for line in lines {
        note(&line.unwrap(), &mut last);
    }
    assert!(!proc.wait().unwrap().success());

    let storage = Storage::open(tmp.path(), options(FsyncPolicy::EveryCommit)).unwrap();
    let stored = thread_scrapes_on_disk(&storage);
    for (k, scrapes) in stored.iter().enumerate() {
        let want: Vec<i64> = (0..=last[k]).collect();
        assert_eq!(scrapes[..want.len()], want[..], "thread {k}");
    }
    // At most the group being written at the kill is torn.
    assert!(StorageStats::get(&storage.stats().wal_corrupt_records_total) <= 1);
}

#[test]
fn full_disk_fails_the_commit_and_keeps_head_and_wal_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let mut proc = child(tmp.path(), "diskfull", Some(20_000));
    let out = BufReader::new(proc.stdout.take().unwrap())
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(proc.wait().unwrap().success(), "{out:?}");
    let count: i64 = out
        .iter()
        .find_map(|l| after(l, "committed-count "))
        .expect("child reported")
        .parse()
        .unwrap();
    let err = out.iter().find_map(|l| after(l, "error ")).unwrap();
    assert!(
        err.contains("wal write") && err.contains("00000000"),
        "{err}"
    );
    assert!(err.contains("File too large"), "{err}");
    assert!(
        out.iter().any(|l| l.contains("alive commit_errors=2")),
        "{out:?}"
    );
    assert!(count > 0);

    // Without the limit: exactly the accepted scrapes, nothing to repair.
    let storage = Storage::open(tmp.path(), options(FsyncPolicy::EveryCommit)).unwrap();
    assert_eq!(
        StorageStats::get(&storage.stats().wal_corrupt_records_total),
        0
    );
    assert_eq!(scrapes_in_head(&storage), (0..count).collect::<Vec<_>>());
}
