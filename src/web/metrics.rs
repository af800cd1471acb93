//! Self-monitoring for `/metrics`, in the OpenMetrics text format.
//!
//! [`Metrics`] holds no values of its own. Other parts of the process feed
//! it through [`MetricsSource`]s: callbacks run at every scrape of
//! `/metrics` that write the current values, which live elsewhere (scrape
//! pool target counts, reload status, WAL and remote-write counters), into a
//! [`MetricsWriter`], which encodes them family by family in name order.
//!
//! `process_*` (read from `/proc/self`) and `prometheus_build_info` are
//! always there. Names follow Prometheus's own self-metrics; counters are
//! given without `_total`, which the encoder appends. Label values and help
//! texts are escaped as OpenMetrics asks (`\\`, `\"`, `\n`).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use parking_lot::Mutex;

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Something that reports metrics it keeps itself, at scrape time.
///
/// Called on a web worker thread for every scrape of `/metrics`; must be
/// quick and must not block on I/O.
pub trait MetricsSource: Send + Sync {
    /// Writes the current values.
    fn collect(&self, out: &mut MetricsWriter);
}

impl<F> MetricsSource for F
where
    F: Fn(&mut MetricsWriter) + Send + Sync,
{
    fn collect(&self, out: &mut MetricsWriter) {
        self(out)
    }
}

/// The values of one metric family gathered from a [`MetricsSource`].
#[derive(Debug, Clone, PartialEq)]
enum Points {
    Counter(Vec<(Vec<(String, String)>, f64)>),
    Gauge(Vec<(Vec<(String, String)>, f64)>),
}

#[derive(Debug, Clone, PartialEq)]
struct FamilyData {
    help: String,
    points: Points,
}

/// Collects the values a [`MetricsSource`] reports. Series of one family
/// (same name) are grouped however often the name is written; writing a name
/// again with a different type is ignored with a warning.
#[derive(Debug, Default)]
pub struct MetricsWriter {
    families: BTreeMap<String, FamilyData>,
}

impl MetricsWriter {
    /// A counter (give the name without `_total`).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.push(name, help, Points::Counter(vec![(own(labels), value)]));
    }

    /// A gauge.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.push(name, help, Points::Gauge(vec![(own(labels), value)]));
    }

    fn push(&mut self, name: &str, help: &str, points: Points) {
        let Some(family) = self.families.get_mut(name) else {
            self.families.insert(
                name.to_string(),
                FamilyData {
                    help: help.to_string(),
                    points,
                },
            );
            return;
        };
        match (&mut family.points, points) {
            (Points::Counter(have), Points::Counter(new)) => have.extend(new),
            (Points::Gauge(have), Points::Gauge(new)) => have.extend(new),
            _ => log::warn!(metric = name; "Metric written with two types; second ignored"),
        }
    }

    /// Appends every family: `# HELP`, `# TYPE`, then one line a point.
    fn encode(&self, out: &mut String) -> fmt::Result {
        for (name, family) in &self.families {
            let (metric_type, suffix, points) = match &family.points {
                Points::Counter(points) => ("counter", "_total", points),
                Points::Gauge(points) => ("gauge", "", points),
            };
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            push_escaped(out, &family.help, false);
            writeln!(out, "\n# TYPE {name} {metric_type}")?;
            for (labels, value) in points {
                out.push_str(name);
                out.push_str(suffix);
                push_labels(out, labels);
                out.push(' ');
                push_value(out, *value)?;
                out.push('\n');
            }
        }
        Ok(())
    }
}

/// `{a="1",b="2"}`, or nothing for no labels.
fn push_labels(out: &mut String, labels: &[(String, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        push_escaped(out, value, true);
        out.push('"');
    }
    out.push('}');
}

/// Appends `text` with `\\` and newlines escaped, and `"` too in a label
/// value.
fn push_escaped(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A sample value: `3.0`, `0.25`, `1e20`, `NaN`, `+Inf`, `-Inf`.
fn push_value(out: &mut String, value: f64) -> fmt::Result {
    match value {
        v if v.is_nan() => out.push_str("NaN"),
        f64::INFINITY => out.push_str("+Inf"),
        f64::NEG_INFINITY => out.push_str("-Inf"),
        v => write!(out, "{v:?}")?,
    }
    Ok(())
}

fn own(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The process's self-metrics registry. Cheap to clone; every clone is the
/// same registry.
#[derive(Clone)]
pub struct Metrics {
    sources: Arc<Mutex<Vec<Box<dyn MetricsSource>>>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("sources", &self.sources.lock().len())
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry holding `process_*` and `prometheus_build_info`.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            sources: Arc::default(),
        };
        metrics.add_source(collect_build_info);
        metrics.add_source(collect_process);
        metrics
    }

    /// Adds a source run at every scrape of `/metrics`.
    pub fn add_source(&self, source: impl MetricsSource + 'static) {
        self.sources.lock().push(Box::new(source));
    }

    /// Everything in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut writer = MetricsWriter::default();
        for source in self.sources.lock().iter() {
            source.collect(&mut writer);
        }
        let mut out = String::with_capacity(8 * 1024);
        writer.encode(&mut out)?;
        out.push_str("# EOF\n");
        Ok(out)
    }
}

fn collect_build_info(out: &mut MetricsWriter) {
    out.gauge(
        "prometheus_build_info",
        "A metric with a constant '1' value labeled by version, revision and branch from which edgescrape was built.",
        &[
            ("branch", option_env!("EDGESCRAPE_BRANCH").unwrap_or("")),
            ("revision", option_env!("EDGESCRAPE_REVISION").unwrap_or("")),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
}

/// `/proc` reports CPU time in clock ticks of `USER_HZ`, which Linux fixes at
/// 100 for every architecture it exposes to user space.
const USER_HZ: f64 = 100.0;

fn collect_process(out: &mut MetricsWriter) {
    match ProcessStats::read() {
        Ok(p) => p.write(out),
        Err(e) => log::debug!(err:% = e; "Cannot read process stats"),
    }
}

/// What the `process_*` metrics report, read from `/proc/self`.
#[derive(Debug, Clone, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    start_time_seconds: f64,
    resident_memory_bytes: f64,
    virtual_memory_bytes: f64,
    threads: f64,
    open_fds: f64,
    max_fds: Option<f64>,
}

impl ProcessStats {
    fn read() -> Result<ProcessStats, String> {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .map_err(|e| format!("/proc/self/stat: {e}"))?;
        let status = std::fs::read_to_string("/proc/self/status")
            .map_err(|e| format!("/proc/self/status: {e}"))?;
        let sys_stat =
            std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map_err(|e| format!("/proc/self/fd: {e}"))?
            .count() as f64;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        parse_process_stats(&stat, &status, &sys_stat, &limits, open_fds)
    }

    fn write(&self, out: &mut MetricsWriter) {
        out.counter(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            &[],
            self.cpu_seconds,
        );
        out.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            &[],
            self.start_time_seconds,
        );
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            &[],
            self.resident_memory_bytes,
        );
        out.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            &[],
            self.virtual_memory_bytes,
        );
        out.gauge(
            "process_threads",
            "Number of OS threads in the process.",
            &[],
            self.threads,
        );
        out.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            &[],
            self.open_fds,
        );
        if let Some(max) = self.max_fds {
            out.gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                &[],
                max,
            );
        }
    }
}

/// Parses the `/proc` files; split from the reading so tests can feed text.
fn parse_process_stats(
    stat: &str,
    status: &str,
    sys_stat: &str,
    limits: &str,
    open_fds: f64,
) -> Result<ProcessStats, String> {
    // The command name (field 2) may hold spaces and parentheses; fields
    // after the last ')' are space separated, starting with field 3 (state).
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("/proc/self/stat: no ')' after the command name")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Result<f64, String> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| format!("/proc/self/stat: field {n} missing or not a number"))
    };
    let utime = field(14)?;
    let stime = field(15)?;
    let threads = field(20)?;
    let start_ticks = field(22)?;
    let vsize = field(23)?;
    let btime = sys_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or("/proc/stat: no btime line")?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let max_fds = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    Ok(ProcessStats {
        cpu_seconds: (utime + stime) / USER_HZ,
        start_time_seconds: btime + start_ticks / USER_HZ,
        resident_memory_bytes: rss_kb * 1024.0,
        virtual_memory_bytes: vsize,
        threads,
        open_fds,
        max_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 7 0 1000 123456789 900 18446744073709551615";
        let status = "Name:\tx\nVmRSS:\t    2048 kB\nThreads:\t7\n";
        let sys = "cpu  1 2 3\nbtime 1700000000\n";
        let limits = "Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 524288               files\n";
        let p = parse_process_stats(stat, status, sys, limits, 9.0).unwrap();
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.threads, 7.0);
        assert_eq!(p.start_time_seconds, 1_700_000_010.0);
        assert_eq!(p.virtual_memory_bytes, 123_456_789.0);
        assert_eq!(p.resident_memory_bytes, 2048.0 * 1024.0);
        assert_eq!(p.max_fds, Some(1024.0));
        assert_eq!(p.open_fds, 9.0);
        assert!(parse_process_stats("garbage", status, sys, limits, 1.0).is_err());
    }

    #[test]
    fn sources_are_encoded() {
        let m = Metrics::new();
        m.add_source(|out: &mut MetricsWriter| {
            out.gauge(
                "prometheus_target_scrape_pool_targets",
                "Current number of targets in this scrape pool.",
                &[("scrape_job", "node")],
                3.0,
            );
            out.gauge(
                "prometheus_target_scrape_pool_targets",
                "Current number of targets in this scrape pool.",
                &[("scrape_job", "self")],
                1.0,
            );
            out.counter(
                "prometheus_target_scrapes_exceeded_sample_limit",
                "Total number of scrapes that hit the sample limit and were rejected.",
                &[],
                2.0,
            );
        });
        let text = m.encode().unwrap();
        for want in [
            "prometheus_target_scrape_pool_targets{scrape_job=\"node\"} 3.0\n",
            "prometheus_target_scrape_pool_targets{scrape_job=\"self\"} 1.0\n",
            "# TYPE prometheus_target_scrapes_exceeded_sample_limit counter\n",
            "prometheus_target_scrapes_exceeded_sample_limit_total 2.0\n",
            "# TYPE process_cpu_seconds counter\n",
            "process_resident_memory_bytes ",
            "prometheus_build_info{branch=\"\",revision=\"\",version=\"",
            "# EOF\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn labels_help_and_values_are_escaped_as_openmetrics() {
        let mut writer = MetricsWriter::default();
        writer.gauge(
            "odd",
            "Back\\slash and\nnewline \"kept\".",
            &[("path", "C:\\x\n\"y\"")],
            f64::NAN,
        );
        writer.gauge("odd", "", &[("path", "up")], f64::INFINITY);
        writer.gauge("odd", "", &[("path", "down")], f64::NEG_INFINITY);
        writer.counter("big", "Large.", &[], 1e20);
        writer.counter("big", "Large.", &[("k", "v")], 0.25);
        let mut out = String::new();
        writer.encode(&mut out).unwrap();
        assert_eq!(
            out,
            "# HELP big Large.\n\
             # TYPE big counter\n\
             big_total 1e20\n\
             big_total{k=\"v\"} 0.25\n\
             # HELP odd Back\\\\slash and\\nnewline \"kept\".\n\
             # TYPE odd gauge\n\
             odd{path=\"C:\\\\x\\n\\\"y\\\"\"} NaN\n\
             odd{path=\"up\"} +Inf\n\
             odd{path=\"down\"} -Inf\n"
        );
    }
}
