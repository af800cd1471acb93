//! Counters and summaries behind Prometheus's `prometheus_target_*`
//! self-metrics, as plain atomics for the web's `/metrics` to render.
//!
//! [`ScrapeMetrics`] is shared by the manager, its pools and their loops;
//! [`PoolMetrics`] belongs to one pool (the series Prometheus labels with
//! `scrape_job`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// Observations a [`Summary`] keeps for its quantiles.
const SUMMARY_WINDOW: usize = 512;

/// Quantiles Prometheus reports for its target summaries.
pub const QUANTILES: [f64; 5] = [0.01, 0.05, 0.5, 0.9, 0.99];

/// A summary of durations in seconds: count, sum and quantiles over the
/// last 512 observations (Prometheus uses a 10-minute
/// window; on the low target counts of an edge box the two agree closely).
#[derive(Debug, Default)]
pub struct Summary {
    inner: Mutex<SummaryInner>,
}

#[derive(Debug, Default)]
struct SummaryInner {
    count: u64,
    sum: f64,
    window: VecDeque<f64>,
}

impl Summary {
    /// Records one observation.
    pub fn observe(&self, seconds: f64) {
        let mut s = self.inner.lock();
        s.count += 1;
        s.sum += seconds;
        if s.window.len() == SUMMARY_WINDOW {
            s.window.pop_front();
        }
        s.window.push_back(seconds);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.inner.lock().count
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        self.inner.lock().sum
    }

    /// `(q, value)` for each of [`QUANTILES`]; NaN when nothing was observed.
    pub fn quantiles(&self) -> Vec<(f64, f64)> {
        let mut values: Vec<f64> = self.inner.lock().window.iter().copied().collect();
        values.sort_by(f64::total_cmp);
        QUANTILES
            .iter()
            .map(|&q| {
                let v = if values.is_empty() {
                    f64::NAN
                } else {
                    let rank = (q * (values.len() - 1) as f64).round() as usize;
                    values[rank.min(values.len() - 1)]
                };
                (q, v)
            })
            .collect()
    }
}

/// A counter; `inc`/`add` from any thread, `get` for rendering.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the value (for gauges).
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Manager-wide self-metrics; field names are the Prometheus metric names
/// without the `prometheus_` prefix.
#[derive(Debug, Default)]
pub struct ScrapeMetrics {
    /// `prometheus_target_scrape_pools_total`
    pub target_scrape_pools_total: Counter,
    /// `prometheus_target_scrape_pools_failed_total`
    pub target_scrape_pools_failed_total: Counter,
    /// `prometheus_target_scrape_pool_reloads_total`
    pub target_scrape_pool_reloads_total: Counter,
    /// `prometheus_target_scrape_pool_reloads_failed_total`
    pub target_scrape_pool_reloads_failed_total: Counter,
    /// `prometheus_target_scrape_pool_exceeded_target_limit_total`
    pub target_scrape_pool_exceeded_target_limit_total: Counter,
    /// `prometheus_target_scrape_pool_exceeded_label_limits_total`
    pub target_scrape_pool_exceeded_label_limits_total: Counter,
    /// `prometheus_target_scrapes_exceeded_body_size_limit_total`
    pub target_scrapes_exceeded_body_size_limit_total: Counter,
    /// `prometheus_target_scrapes_exceeded_sample_limit_total`
    pub target_scrapes_exceeded_sample_limit_total: Counter,
    /// `prometheus_target_scrapes_sample_duplicate_timestamp_total`
    pub target_scrapes_sample_duplicate_timestamp_total: Counter,
    /// `prometheus_target_scrapes_sample_out_of_order_total`
    pub target_scrapes_sample_out_of_order_total: Counter,
    /// `prometheus_target_scrapes_sample_out_of_bounds_total`
    pub target_scrapes_sample_out_of_bounds_total: Counter,
    /// `prometheus_target_scrapes_cache_flush_forced_total`
    pub target_scrapes_cache_flush_forced_total: Counter,
    /// `edgescrape_target_scrape_loop_panics_total`: scrape loops that
    /// panicked (each restarted by its pool).
    pub target_scrape_loop_panics_total: Counter,
    /// `prometheus_target_interval_length_seconds{interval}`
    interval_length: Mutex<BTreeMap<String, Arc<Summary>>>,
    /// `prometheus_target_reload_length_seconds{interval}`
    reload_length: Mutex<BTreeMap<String, Arc<Summary>>>,
    /// `net_conntrack_dialer_conn_attempted_total{dialer_name}`: connections
    /// opened by the scrapes of each job (Prometheus names its scrape
    /// dialers after the job).
    dialer_conn_attempted: Mutex<BTreeMap<String, Arc<Counter>>>,
}

impl ScrapeMetrics {
    /// The interval-length summary for loops with interval `interval`
    /// (Prometheus's label value, e.g. `15s`).
    pub fn interval_length(&self, interval: &str) -> Arc<Summary> {
        self.interval_length
            .lock()
            .entry(interval.to_string())
            .or_default()
            .clone()
    }

    /// The reload-length summary for pools with interval `interval`.
    pub fn reload_length(&self, interval: &str) -> Arc<Summary> {
        self.reload_length
            .lock()
            .entry(interval.to_string())
            .or_default()
            .clone()
    }

    /// The counter of connections opened for the scrapes of `job`.
    pub fn dialer_conn_attempted(&self, job: &str) -> Arc<Counter> {
        self.dialer_conn_attempted
            .lock()
            .entry(job.to_string())
            .or_default()
            .clone()
    }

    /// Every job with its count of connections opened.
    pub fn dialers_conn_attempted(&self) -> Vec<(String, Arc<Counter>)> {
        let m = self.dialer_conn_attempted.lock();
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Every `interval` label value with its interval-length summary.
    pub fn interval_lengths(&self) -> Vec<(String, Arc<Summary>)> {
        let m = self.interval_length.lock();
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Every `interval` label value with its reload-length summary.
    pub fn reload_lengths(&self) -> Vec<(String, Arc<Summary>)> {
        let m = self.reload_length.lock();
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Self-metrics of one pool (Prometheus labels them `scrape_job`).
#[derive(Debug, Default)]
pub struct PoolMetrics {
    /// `prometheus_target_scrape_pool_targets` (gauge)
    pub targets: Counter,
    /// `prometheus_target_scrape_pool_target_limit` (gauge)
    pub target_limit: Counter,
    /// `prometheus_target_scrape_pool_sync_total`
    pub sync_total: Counter,
    /// `prometheus_target_sync_failed_total`
    pub sync_failed_total: Counter,
    /// `prometheus_target_sync_length_seconds`
    pub sync_length: Summary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles_over_window() {
        let s = Summary::default();
        assert!(s.quantiles()[2].1.is_nan());
        for i in 1..=100 {
            s.observe(f64::from(i));
        }
        assert_eq!(s.count(), 100);
        assert_eq!(s.sum(), 5050.0);
        let q = s.quantiles();
        assert_eq!(q[2], (0.5, 51.0));
        assert_eq!(q[4], (0.99, 99.0));
    }
}
