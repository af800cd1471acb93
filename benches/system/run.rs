//! One scenario: nginx, the sink and every scraper started together on the
//! same targets, sampled through `/proc` for the whole run, then fsyncs
//! counted, delivery awaited and everything stopped.
//!
//! Timeline, from the moment the last scraper answered ready:
//! `0 ── warm-up ── t0 ══ measured window ══ t1 ── fsync count ── drain ── stop`.
//! RSS is sampled from 0 to t1; CPU, disk writes and samples delivered are
//! taken over [t0, t1); samples are credited by their timestamps, so the
//! window's samples delivered during the fsync count and the drain count,
//! and nothing scraped before t0 does.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::procs::{self, pause, Proc, Reading};
use crate::scrapers::Spec;
use crate::sink::Sink;
use crate::targets::{Jitter, Targets};
use crate::{percentile, syscalls, unix_now, Settings};

/// Time after the fsync count for delivery of the window's last samples.
const DRAIN: Duration = Duration::from_secs(10);
/// Points of the RSS curve, seconds after start.
pub const CURVE_POINTS: [u64; 7] = [30, 60, 120, 180, 240, 300, 360];
/// Steady RSS is the median over this last stretch of the run.
const STEADY_SPAN: f64 = 120.0;

/// What is scraped.
pub struct Scenario {
    /// Name of the payload in the tables.
    pub payload_name: String,
    /// The exposition every target serves.
    pub payload: String,
    /// Number of targets per scraper.
    pub n: usize,
}

/// What one scraper did in one scenario.
pub struct Outcome {
    /// The scraper.
    pub spec: Spec,
    /// utime + stime over the window, seconds.
    pub cpu_seconds: f64,
    /// Bytes written to the block layer over the window.
    pub write_bytes: u64,
    /// Samples with timestamps in the window that reached the sink (capped at `expected`).
    pub delivered: u64,
    /// Samples the window offered: targets × series per scrape × seconds.
    pub expected: u64,
    /// RSS (bytes) at each of [`CURVE_POINTS`] within the run.
    pub rss_curve: Vec<(u64, u64)>,
    /// Median RSS over the last two minutes (or the last half of a shorter run).
    pub rss_steady: u64,
    /// Highest RSS seen (VmHWM).
    pub rss_peak: u64,
    /// Most threads seen.
    pub threads: u64,
    /// fsync-family calls per second in the sub-window after t1.
    pub syncs_per_second: Result<f64, String>,
    /// Scrape interval jitter in the window.
    pub jitter: Jitter,
    /// Seconds after start at which the process exited on its own, if it did.
    pub died_at: Option<f64>,
}

/// The outcome of a scenario.
pub struct ScenarioResult {
    /// Payload name.
    pub payload_name: String,
    /// Targets per scraper.
    pub n: usize,
    /// Series per scrape, payload only.
    pub payload_series: usize,
    /// Length of the measured window, seconds.
    pub window_seconds: i64,
    /// Warm-up before the window, seconds.
    pub warmup_seconds: u64,
    /// CPU cores used on average by processes other than the benchmark's.
    pub other_cores: f64,
    /// Seconds after start at which nginx exited, if it did: the run is void.
    pub targets_died_at: Option<f64>,
    /// One per scraper, in `BENCH_SCRAPERS` order.
    pub outcomes: Vec<Outcome>,
}

/// Readings of one scraper over the run.
struct Trace {
    samples: Vec<(f64, Reading)>,
    died_at: Option<f64>,
}

impl Trace {
    fn take(&mut self, proc: &mut Proc, at: f64, label: &str) {
        if self.died_at.is_none() && proc.exited() {
            eprintln!("bench: {label} exited on its own {at:.0} s into the run");
            self.died_at = Some(at);
        }
        let reading = match (self.died_at, self.samples.last()) {
            (Some(_), Some(&(_, last))) => last,
            (Some(_), None) => Reading::default(),
            (None, _) => procs::read(proc.pid()),
        };
        self.samples.push((at, reading));
    }

    fn at(&self, t: f64) -> Reading {
        self.samples
            .iter()
            .rev()
            .find(|(at, _)| *at <= t + 1e-6)
            .map(|&(_, r)| r)
            .unwrap_or_default()
    }
}

/// Runs `scenario` with every scraper of `settings` side by side.
pub fn run(scenario: &Scenario, settings: &Settings) -> ScenarioResult {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let mut targets = Targets::start(dir.path(), &scenario.payload, settings.gzip);
    let sink = Sink::start(settings.scrapers.len(), unix_now() as i64 - 60);
    let mut scrapers: Vec<Proc> = settings
        .scrapers
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            spec.start(
                i,
                dir.path(),
                &targets.scrape_configs(i, scenario.n),
                &sink.url(i),
            )
        })
        .collect();
    let mut window = measure(&mut scrapers, &mut targets, settings);
    let traces = std::mem::take(&mut window.traces);
    let pids: Vec<u32> = scrapers.iter().map(Proc::pid).collect();
    let syncs = if settings.fsync_window.is_zero() {
        vec![Err("not counted (BENCH_FSYNC_SECONDS=0)".to_string()); pids.len()]
    } else {
        syscalls::syncs_per_second(&pids, settings.fsync_window, dir.path())
    };
    pause(DRAIN);
    let jitter = targets.jitter(scrapers.len(), 1.0, window.from as f64, window.to as f64);
    for scraper in &scrapers {
        scraper.signal(libc::SIGTERM);
    }
    drop(scrapers);
    let payload_series = series_in(&scenario.payload);
    let outcomes = settings
        .scrapers
        .iter()
        .zip(traces)
        .zip(syncs.into_iter().zip(jitter))
        .enumerate()
        .map(|(i, ((spec, trace), (syncs, jitter)))| {
            let expected = (scenario.n * (payload_series + spec.report_series())) as u64
                * (window.to - window.from) as u64;
            let delivered = sink.counts(i).between(window.from, window.to);
            eprintln!(
                "bench: {} delivered {delivered} samples of the window, {expected} expected",
                spec.label()
            );
            outcome(spec, &trace, &window, expected, delivered, syncs, jitter)
        })
        .collect();
    ScenarioResult {
        payload_name: scenario.payload_name.clone(),
        n: scenario.n,
        payload_series,
        window_seconds: window.to - window.from,
        warmup_seconds: settings.warmup.as_secs(),
        other_cores: window.other_cores,
        targets_died_at: window.targets_died_at,
        outcomes,
    }
}

/// The sampled run up to t1.
struct Window {
    traces: Vec<Trace>,
    /// Start and end of the window, seconds after start.
    start_offset: f64,
    end_offset: f64,
    /// The window in whole unix seconds, `[from, to)`.
    from: i64,
    to: i64,
    other_cores: f64,
    targets_died_at: Option<f64>,
}

fn measure(scrapers: &mut [Proc], targets: &mut Targets, settings: &Settings) -> Window {
    let total = settings.seconds.as_secs_f64();
    let warmup = settings.warmup.as_secs_f64();
    let every = settings.sample_every.as_secs_f64();
    let mut times: Vec<f64> = (0..)
        .map(|k| k as f64 * every)
        .take_while(|t| *t < total)
        .chain([warmup, total])
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let mut traces: Vec<Trace> = scrapers
        .iter()
        .map(|_| Trace {
            samples: Vec::new(),
            died_at: None,
        })
        .collect();
    let start = Instant::now();
    let (mut from, mut busy0, mut ours0) = (0, 0.0, 0.0);
    let mut targets_died_at = None;
    for t in times {
        pause(Duration::from_secs_f64(t).saturating_sub(start.elapsed()));
        if targets_died_at.is_none() && targets.exited() {
            eprintln!("bench: nginx (the targets) exited {t:.0} s into the run");
            targets_died_at = Some(t);
        }
        for ((trace, proc), spec) in traces
            .iter_mut()
            .zip(&mut *scrapers)
            .zip(&settings.scrapers)
        {
            trace.take(proc, t, &spec.label());
        }
        let ours = our_cpu(targets) + traces.iter().map(|tr| tr.at(t).cpu_seconds).sum::<f64>();
        if t == warmup {
            from = unix_now().ceil() as i64;
            (busy0, ours0) = (procs::machine_busy_seconds(), ours);
        }
        if t == total {
            let to = unix_now().floor() as i64;
            let busy = procs::machine_busy_seconds() - busy0;
            return Window {
                traces,
                start_offset: warmup,
                end_offset: total,
                from,
                to: to.max(from),
                other_cores: ((busy - (ours - ours0)) / (total - warmup)).max(0.0),
                targets_died_at,
            };
        }
    }
    unreachable!("the sample times end at the run's length")
}

/// CPU seconds of the benchmark itself (sink included) and nginx.
fn our_cpu(targets: &Targets) -> f64 {
    procs::cpu_seconds("/proc/self/stat")
        + procs::cpu_seconds(&format!("/proc/{}/stat", targets.pid()))
}

fn outcome(
    spec: &Spec,
    trace: &Trace,
    window: &Window,
    expected: u64,
    delivered: u64,
    syncs_per_second: Result<f64, String>,
    jitter: Jitter,
) -> Outcome {
    let (r0, r1) = (trace.at(window.start_offset), trace.at(window.end_offset));
    let rss_curve = CURVE_POINTS
        .iter()
        .filter(|&&p| p as f64 <= window.end_offset)
        .map(|&p| (p, trace.at(p as f64).rss))
        .collect();
    let steady_from = if window.end_offset >= 2.0 * STEADY_SPAN {
        window.end_offset - STEADY_SPAN
    } else {
        window.end_offset / 2.0
    };
    let mut steady: Vec<f64> = trace
        .samples
        .iter()
        .filter(|(t, _)| *t >= steady_from)
        .map(|(_, r)| r.rss as f64)
        .collect();
    steady.sort_by(f64::total_cmp);
    let peak = trace
        .samples
        .iter()
        .map(|(_, r)| r.rss.max(r.rss_peak))
        .max()
        .unwrap_or(0);
    Outcome {
        spec: spec.clone(),
        cpu_seconds: r1.cpu_seconds - r0.cpu_seconds,
        write_bytes: r1.write_bytes.saturating_sub(r0.write_bytes),
        delivered: delivered.min(expected),
        expected,
        rss_curve,
        rss_steady: percentile(&steady, 0.5) as u64,
        rss_peak: peak,
        threads: trace
            .samples
            .iter()
            .map(|(_, r)| r.threads)
            .max()
            .unwrap_or(0),
        syncs_per_second,
        jitter,
        died_at: trace.died_at,
    }
}

/// Series in an exposition: lines that are neither comments nor blank.
pub fn series_in(payload: &str) -> usize {
    payload
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count()
}

/// Whether `dir` sits on a filesystem whose writes reach a block device.
pub fn on_block_device(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, fstype) = (f.next()?, f.next()?, f.next()?);
            Some((point, fstype))
        })
        .filter(|(point, _)| dir.starts_with(point))
        .max_by_key(|(point, _)| point.len())
        .is_some_and(|(_, fstype)| !matches!(fstype, "tmpfs" | "ramfs"))
}
