//! Storage benchmarks: append + commit through the fanout (WAL + head) with
//! node_exporter-sized scrapes, and the WAL's bytes per sample on disk.
//!
//! Fixture: `benches/fixtures/node_exporter_9x15s.prom.gz`, nine real
//! `/metrics` bodies of the Debian `prometheus-node-exporter` 1.5.0 taken
//! 15 s apart (507 samples each, about 28% of them changing between
//! scrapes), separated by `# edgescrape-fixture scrape N` lines.
//!
//! Run: `cargo bench --bench storage`. Besides criterion's timings it prints
//! the bytes per sample the WAL wrote (a) for the eight real scrapes after
//! the first and (b) for a long run that walks the nine scrapes forth and
//! back, segment cuts (whole values again) and checkpoints included.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use edgescrape::labels::Labels;
use edgescrape::storage::fanout::{Storage, StorageOptions};
use edgescrape::storage::stats::StorageStats;
use edgescrape::storage::wal::{FsyncPolicy, WalOptions};
use edgescrape::storage::{Appendable, SeriesRef};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/fixtures/node_exporter_9x15s.prom.gz"
);
const INTERVAL_MS: i64 = 15_000;

/// One scrape: labels (with job and instance added) and values, in the
/// first scrape's series order.
struct Scrapes {
    labels: Vec<Labels>,
    values: Vec<Vec<f64>>,
}

fn load() -> Scrapes {
    let gz = std::fs::read(FIXTURE).expect("fixture present");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("fixture is gzip text");
    let mut bodies: Vec<Vec<(String, f64)>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("# edgescrape-fixture scrape") {
            bodies.push(Vec::new());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let v = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().expect("float"),
            };
            bodies
                .last_mut()
                .expect("separator first")
                .push((series.to_string(), v));
        }
    }
    let order: Vec<&str> = bodies[0].iter().map(|(s, _)| s.as_str()).collect();
    let labels = order.iter().map(|s| parse_series(s)).collect();
    let values = bodies
        .iter()
        .map(|body| {
            let by_name: std::collections::HashMap<&str, f64> =
                body.iter().map(|(s, v)| (s.as_str(), *v)).collect();
            order
                .iter()
                .map(|s| by_name.get(s).copied().unwrap_or(0.0))
                .collect()
        })
        .collect();
    Scrapes { labels, values }
}

/// `name{a="b",...}` as node_exporter writes it, plus target labels.
fn parse_series(s: &str) -> Labels {
    let mut pairs = vec![
        ("job".to_string(), "node".to_string()),
        ("instance".to_string(), "edge-box-1:9100".to_string()),
    ];
    let (name, rest) = s.split_once('{').unwrap_or((s, ""));
    pairs.push(("__name__".to_string(), name.to_string()));
    let mut chars = rest.trim_end_matches('}').chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        chars.next(); // opening quote
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => {}
                },
                c => value.push(c),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        pairs.push((key.trim().to_string(), value));
    }
    Labels::from_pairs(pairs)
}

fn open(dir: &Path, fsync: FsyncPolicy) -> Storage {
    Storage::open(
        dir,
        StorageOptions {
            wal: WalOptions {
                fsync,
                ..WalOptions::default()
            },
            ..StorageOptions::default()
        },
    )
    .expect("storage opens")
}

/// Appends and commits scrape `k` (values walk the fixture forth and back).
fn scrape(storage: &Storage, data: &Scrapes, refs: &mut [SeriesRef], k: i64) {
    let n = data.values.len() as i64;
    let period = 2 * (n - 1);
    let phase = k % period;
    let idx = if phase < n { phase } else { period - phase } as usize;
    let values = &data.values[idx];
    let t = 1_700_000_000_000 + k * INTERVAL_MS;
    let fanout = storage.fanout();
    let mut app = fanout.appender();
    for ((labels, r), v) in data.labels.iter().zip(refs.iter_mut()).zip(values) {
        *r = app.append(*r, labels, t, *v).expect("in order");
    }
    app.commit().expect("commit");
}

fn bytes_per_sample(data: &Scrapes) {
    let samples_per_scrape = data.labels.len() as f64;
    // (a) The real scrapes only.
    let tmp = tempfile::tempdir().expect("tempdir");
    let storage = open(tmp.path(), FsyncPolicy::Interval(Duration::from_secs(1)));
    let mut refs = vec![0; data.labels.len()];
    let stats = storage.stats().clone();
    scrape(&storage, data, &mut refs, 0);
    let first = StorageStats::get(&stats.wal_bytes_written_total);
    for k in 1..data.values.len() as i64 {
        scrape(&storage, data, &mut refs, k);
    }
    let rest = StorageStats::get(&stats.wal_bytes_written_total) - first;
    let real = rest as f64 / ((data.values.len() - 1) as f64 * samples_per_scrape);
    println!(
        "wal bytes/sample, real scrapes 2..9: {real:.2} (first scrape: {:.2}, series records and whole values)",
        first as f64 / samples_per_scrape
    );
    // (b) A long steady state: 20,000 scrapes (3.5 days at 15 s), disk use
    // measured on the directory, segment cuts included.
    drop(storage);
    let tmp = tempfile::tempdir().expect("tempdir");
    let storage = open(tmp.path(), FsyncPolicy::Interval(Duration::from_secs(1)));
    let _reader = storage.wal().register_reader("bench");
    let mut refs = vec![0; data.labels.len()];
    let scrapes = 20_000;
    for k in 0..scrapes {
        scrape(&storage, data, &mut refs, k);
    }
    storage.close().expect("close");
    let disk: u64 = std::fs::read_dir(tmp.path().join("wal"))
        .expect("wal dir")
        .map(|e| e.and_then(|e| e.metadata()).map_or(0, |m| m.len()))
        .sum();
    println!(
        "wal bytes/sample, {scrapes} scrapes forth and back over the fixture: {:.2} ({} segments, {disk} bytes)",
        disk as f64 / (scrapes as f64 * samples_per_scrape),
        StorageStats::get(&storage.stats().wal_segments),
    );
}

/// A clock a benchmark measures with.
type Clock = fn() -> Duration;

/// Time since an arbitrary fixed instant, by the monotonic clock.
fn wall() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// CPU time this thread has used, from `/proc/thread-self/schedstat`
/// (Linux); the machine running the bench may be shared, so CPU time is
/// the figure that does not depend on other load.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn append_commit(c: &mut Criterion) {
    let data = load();
    bytes_per_sample(&data);
    let mut group = c.benchmark_group("fanout_node_exporter_scrape");
    group.throughput(Throughput::Elements(data.labels.len() as u64));
    let runs: [(&str, FsyncPolicy, Clock); 3] = [
        (
            "fsync_interval_1s_thread_cpu",
            FsyncPolicy::Interval(Duration::from_secs(1)),
            thread_cpu,
        ),
        (
            "fsync_interval_1s_wall",
            FsyncPolicy::Interval(Duration::from_secs(1)),
            wall,
        ),
        ("fsync_every_commit_wall", FsyncPolicy::EveryCommit, wall),
    ];
    for (name, fsync, clock) in runs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let storage = open(tmp.path(), fsync);
        let mut refs = vec![0; data.labels.len()];
        let mut k = 0;
        scrape(&storage, &data, &mut refs, k);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = clock();
                for _ in 0..iters {
                    k += 1;
                    scrape(&storage, &data, &mut refs, k);
                }
                clock() - start
            })
        });
        storage.close().expect("close");
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(8));
    targets = append_commit
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
