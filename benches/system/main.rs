//! System benchmark: edgescrape, vmagent and Prometheus 2.42 in agent mode
//! scraping the same targets side by side, in one run, so the machine's
//! noise hits them alike.
//!
//! Per scenario (N targets serving one payload at a 1 s interval) nginx
//! serves the targets, every scraper remote_writes to a counting sink, and
//! the benchmark records per scraper: CPU per sample, RSS over time (steady
//! and peak), bytes written to disk per sample, fsyncs per second, samples
//! delivered against expected and interval jitter. The Markdown report goes
//! to `bench/RESULTS.md` after every scenario (see `run` for the timeline,
//! `report` for the tables).
//!
//! Settings, all from the environment:
//! - `BENCH_SECONDS` (360): length of each scenario's run after all scrapers
//!   are ready; memory growth needs the full 6 minutes.
//! - `BENCH_WARMUP` (60, at most a quarter of the run): seconds before the
//!   measured window opens.
//! - `BENCH_SCENARIOS` (`node_exporter:10,node_exporter:100,10k-series:100`):
//!   `PAYLOAD:N` pairs; payloads are `node_exporter` (the committed capture,
//!   `tests/fixtures/node_exporter.prom`) and `10k-series`.
//! - `BENCH_SCRAPERS` (`edgescrape,vmagent,prometheus-agent`): each may carry
//!   extra flags after a colon, e.g. `edgescrape:--storage.fsync=1s`.
//! - `BENCH_SAMPLE_EVERY` (5): seconds between RSS samples.
//! - `BENCH_FSYNC_SECONDS` (20): the strace sub-window; 0 skips it.
//! - `BENCH_GZIP` (1): serve gzip to scrapers that accept it, as
//!   node_exporter does; 0 serves plain text.
//! - `BENCH_OUT` (`bench/RESULTS.md`): where the report goes.

#[path = "../../tests/peers/mod.rs"]
mod peers;
mod procs;
mod report;
mod run;
mod scrapers;
mod sink;
mod syscalls;
mod targets;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use run::Scenario;
use scrapers::Spec;

/// What to run, read from the `BENCH_*` variables.
pub struct Settings {
    /// Run length after all scrapers are ready.
    pub seconds: Duration,
    /// Start of the measured window.
    pub warmup: Duration,
    /// Time between RSS samples.
    pub sample_every: Duration,
    /// Length of the strace sub-window.
    pub fsync_window: Duration,
    /// Whether nginx offers gzip.
    pub gzip: bool,
    /// The scrapers, side by side.
    pub scrapers: Vec<Spec>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_seconds(name: &str, default: u64) -> Duration {
    let text = env_or(name, &default.to_string());
    let secs: u64 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("bench: {name}={text:?} is not a whole number of seconds"));
    Duration::from_secs(secs)
}

impl Settings {
    fn from_env() -> Settings {
        let seconds = env_seconds("BENCH_SECONDS", 360);
        let warmup = env_seconds("BENCH_WARMUP", (seconds.as_secs() / 4).min(60));
        assert!(
            warmup < seconds,
            "bench: BENCH_WARMUP ({warmup:?}) must be shorter than BENCH_SECONDS ({seconds:?})"
        );
        let scrapers: Vec<Spec> = env_or("BENCH_SCRAPERS", "edgescrape,vmagent,prometheus-agent")
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| Spec::parse(s).unwrap_or_else(|e| panic!("bench: {e}")))
            .collect();
        assert!(
            !scrapers.is_empty(),
            "bench: BENCH_SCRAPERS names no scraper"
        );
        Settings {
            seconds,
            warmup,
            sample_every: env_seconds("BENCH_SAMPLE_EVERY", 5).max(Duration::from_secs(1)),
            fsync_window: env_seconds("BENCH_FSYNC_SECONDS", 20),
            gzip: env_or("BENCH_GZIP", "1") != "0",
            scrapers,
        }
    }
}

fn scenarios() -> Vec<Scenario> {
    let text = env_or(
        "BENCH_SCENARIOS",
        "node_exporter:10,node_exporter:100,10k-series:100",
    );
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (payload_name, n) = item.trim().split_once(':').unwrap_or_else(|| {
                panic!("bench: BENCH_SCENARIOS item {item:?} is not PAYLOAD:N")
            });
            let n: usize = n
                .parse()
                .unwrap_or_else(|_| panic!("bench: BENCH_SCENARIOS item {item:?}: N is not a number"));
            let payload = match payload_name {
                "node_exporter" => node_exporter_payload(),
                "10k-series" => synthetic_payload(),
                other => panic!(
                    "bench: BENCH_SCENARIOS item {item:?}: unknown payload {other:?} (node_exporter, 10k-series)"
                ),
            };
            Scenario {
                payload_name: payload_name.to_string(),
                payload,
                n,
            }
        })
        .collect()
}

fn node_exporter_payload() -> String {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node_exporter.prom");
    std::fs::read_to_string(&fixture)
        .unwrap_or_else(|e| panic!("bench: cannot read {}: {e}", fixture.display()))
}

/// A 10,000-series payload: 100 gauge families of 100 series each.
fn synthetic_payload() -> String {
    let mut out = String::new();
    for f in 0..100 {
        let _ = writeln!(
            out,
            "# HELP bench_family_{f} Synthetic family {f}.\n# TYPE bench_family_{f} gauge"
        );
        for s in 0..100 {
            let _ = writeln!(
                out,
                "bench_family_{f}{{shard=\"{s}\",zone=\"z{}\"}} {}",
                s % 7,
                f * 1000 + s
            );
        }
    }
    out
}

/// Value at quantile `p` of sorted values (NaN when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn shell(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn conditions() -> report::Conditions {
    let vars: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("BENCH_"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let root = env!("CARGO_MANIFEST_DIR");
    let dirty = !shell("git", &["-C", root, "status", "--porcelain"]).is_empty();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    report::Conditions {
        command: format!("{} make bench", vars.join(" ")).trim().to_string(),
        started: shell("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]),
        commit: format!(
            "{}{}",
            shell("git", &["-C", root, "rev-parse", "--short", "HEAD"]),
            if dirty { "-dirty" } else { "" }
        ),
        machine: format!(
            "{}, {} cores, {}, load average at start {}",
            shell("uname", &["-sr"]),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory.split_whitespace().collect::<Vec<_>>().join(" "),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        ),
        disk_warning: (!run::on_block_device(tmp)).then(|| {
            format!(
                "{} is not on a block device: disk bytes per sample read 0 for every scraper",
                tmp.display()
            )
        }),
    }
}

fn out_path() -> PathBuf {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
    std::env::var_os("BENCH_OUT").map_or(default, PathBuf::from)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches without `--bench`: the
        // system benchmark takes many minutes, so it runs only under `cargo bench`.
        return;
    }
    procs::catch_interrupts();
    let settings = Settings::from_env();
    let scenarios = scenarios();
    let conditions = conditions();
    let out = out_path();
    let mut results = Vec::new();
    for scenario in &scenarios {
        eprintln!(
            "bench: {} × {}, {} s, scrapers: {}",
            scenario.n,
            scenario.payload_name,
            settings.seconds.as_secs(),
            settings
                .scrapers
                .iter()
                .map(Spec::label)
                .collect::<Vec<_>>()
                .join(", ")
        );
        results.push(run::run(scenario, &settings));
        let report = report::render(&conditions, &results);
        if let Err(e) = std::fs::write(&out, &report) {
            eprintln!("bench: cannot write {}: {e}", out.display());
        }
    }
    println!("{}", report::render(&conditions, &results));
    eprintln!("bench: report written to {}", out.display());
}
