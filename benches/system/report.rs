//! The Markdown report: conditions of the run, then per scenario a table of
//! the scrapers, their RSS curve, and the ratios edgescrape / vmagent.

use std::fmt::Write as _;

use crate::run::{ScenarioResult, CURVE_POINTS};
use crate::scrapers::Kind;
use crate::targets::Jitter;

const MB: f64 = 1e6;

/// Everything the report says about how it was measured.
pub struct Conditions {
    /// `make bench` and the BENCH_* variables set.
    pub command: String,
    /// UTC start time.
    pub started: String,
    /// Commit measured, `-dirty` when the tree had changes.
    pub commit: String,
    /// Kernel, cores, memory, load average at start.
    pub machine: String,
    /// A note when the data directories are not on a block device.
    pub disk_warning: Option<String>,
}

/// The whole report for the scenarios done so far.
pub fn render(conditions: &Conditions, results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# System benchmark\n\n\
         Measured by `make bench` (benches/system/): every scraper scrapes the same nginx targets at a 1 s \
         interval *at the same time*, each remote_writing to its own path of one sink that counts samples by \
         timestamp; each has its own data directory. CPU is utime+stime from `/proc/PID/stat`, disk is \
         `write_bytes` from `/proc/PID/io`, both over the window and divided by the samples delivered from it; \
         RSS is `VmRSS` sampled through the run, peak is `VmHWM`; fsyncs are fsync/fdatasync/sync_file_range/\
         syncfs/msync calls counted by `strace -f -c` for a sub-window right after the window; jitter is \
         |interval − 1 s| between consecutive scrapes of a target in nginx's access log.\n\n\
         - command: `{}`\n- started: {}\n- commit: {}\n- machine: {}\n",
        conditions.command, conditions.started, conditions.commit, conditions.machine
    );
    if let Some(warning) = &conditions.disk_warning {
        let _ = writeln!(out, "**{warning}**\n");
    }
    for result in results {
        scenario(&mut out, result);
    }
    out
}

fn scenario(out: &mut String, r: &ScenarioResult) {
    let _ = writeln!(
        out,
        "## {} × {}\n\n{} series per target plus the report series; window {} s → {} s after all scrapers \
         were ready ({} s); processes other than the benchmark's used {:.2} cores on average during the window.\n",
        r.n,
        r.payload_name,
        r.payload_series,
        r.warmup_seconds,
        r.warmup_seconds as i64 + r.window_seconds,
        r.window_seconds,
        r.other_cores
    );
    let _ = writeln!(
        out,
        "| scraper | CPU µs/sample | CPU % of a core | RSS steady MB | RSS peak MB | disk bytes/sample | fsyncs/s | \
         delivered/expected | jitter p50 / p99 ms | missed intervals | threads |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    for o in &r.outcomes {
        let delivered = o.delivered.max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.1} % ({}/{}) | {} | {} | {} |",
            o.spec.label(),
            o.cpu_seconds * 1e6 / delivered,
            100.0 * o.cpu_seconds / r.window_seconds.max(1) as f64,
            o.rss_steady as f64 / MB,
            o.rss_peak as f64 / MB,
            o.write_bytes as f64 / delivered,
            syncs(&o.syncs_per_second),
            100.0 * o.delivered as f64 / o.expected.max(1) as f64,
            o.delivered,
            o.expected,
            jitter(&o.jitter),
            o.jitter.missed,
            o.threads
        );
    }
    if r.outcomes
        .iter()
        .any(|o| o.delivered * 100 < o.expected * 99)
    {
        let _ = writeln!(
            out,
            "\nWhere less than 99 % was delivered, the per-sample figures divide by the samples delivered, \
             so they carry the work spent on samples that never arrived."
        );
    }
    if let Some(at) = r.targets_died_at {
        let _ = writeln!(
            out,
            "\n**nginx, serving the targets, exited {at:.0} s into the run: this scenario's figures are void.**"
        );
    }
    for o in r.outcomes.iter().filter(|o| o.died_at.is_some()) {
        let _ = writeln!(
            out,
            "\n**{} exited on its own {:.0} s into the run; its figures stop there.**",
            o.spec.label(),
            o.died_at.unwrap_or(0.0)
        );
    }
    for o in &r.outcomes {
        if let Err(why) = &o.syncs_per_second {
            let _ = writeln!(out, "\nfsyncs of {}: {why}", o.spec.label());
        }
    }
    rss_curve(out, r);
    ratios(out, r);
}

fn syncs(s: &Result<f64, String>) -> String {
    match s {
        Ok(v) => format!("{v:.1}"),
        Err(_) => "n/a".into(),
    }
}

fn jitter(j: &Jitter) -> String {
    if j.p50_ms.is_nan() {
        "n/a".into()
    } else {
        format!("{:.0} / {:.0}", j.p50_ms, j.p99_ms)
    }
}

fn rss_curve(out: &mut String, r: &ScenarioResult) {
    let points: Vec<u64> = CURVE_POINTS
        .iter()
        .copied()
        .filter(|&p| {
            r.outcomes
                .iter()
                .any(|o| o.rss_curve.iter().any(|&(q, _)| q == p))
        })
        .collect();
    let header: Vec<String> = points.iter().map(|&p| seconds_label(p)).collect();
    let _ = writeln!(
        out,
        "\nRSS over time, MB (seconds after all scrapers were ready):\n\n| scraper | {} |\n|---|{}",
        header.join(" | "),
        "---|".repeat(points.len())
    );
    for o in &r.outcomes {
        let values: Vec<String> = o
            .rss_curve
            .iter()
            .map(|&(_, rss)| format!("{:.1}", rss as f64 / MB))
            .collect();
        let _ = writeln!(out, "| {} | {} |", o.spec.label(), values.join(" | "));
    }
}

fn seconds_label(s: u64) -> String {
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min", s / 60)
    }
}

fn ratios(out: &mut String, r: &ScenarioResult) {
    let Some(vm) = r.outcomes.iter().find(|o| o.spec.kind == Kind::Vmagent) else {
        return;
    };
    let _ = writeln!(
        out,
        "\nRatios to vmagent in the same run:\n\n\
         | scraper / vmagent | CPU per sample | steady RSS | peak RSS | disk bytes per sample | delivered |\n\
         |---|---|---|---|---|---|"
    );
    let per_sample = |value: f64, delivered: u64| value / delivered.max(1) as f64;
    for o in r
        .outcomes
        .iter()
        .filter(|o| o.spec.kind == Kind::Edgescrape)
    {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            o.spec.label(),
            ratio(
                per_sample(o.cpu_seconds, o.delivered),
                per_sample(vm.cpu_seconds, vm.delivered)
            ),
            ratio(o.rss_steady as f64, vm.rss_steady as f64),
            ratio(o.rss_peak as f64, vm.rss_peak as f64),
            ratio(
                per_sample(o.write_bytes as f64, o.delivered),
                per_sample(vm.write_bytes as f64, vm.delivered)
            ),
            ratio(o.delivered as f64, vm.delivered as f64)
        );
    }
    let _ = writeln!(out);
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        format!("— (vmagent: 0, edgescrape: {a:.3})")
    }
}
