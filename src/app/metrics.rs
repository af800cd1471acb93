//! Self-metrics of the running process for `/metrics`, under Prometheus's
//! own names where Prometheus has them: reloads, scrape pools and targets,
//! the WAL and head, and each remote_write queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use edgescrape::scrape::Summary;
use edgescrape::storage::remote::DropReason;
use edgescrape::web::{Metrics, MetricsWriter};

use super::App;

/// Registers every source of the process with `metrics`.
pub fn register(metrics: &Metrics, app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    metrics.add_source(move |out: &mut MetricsWriter| {
        if let Some(app) = weak.upgrade() {
            reload(&app, out);
            scrape(&app, out);
            storage(&app, out);
            remote(&app, out);
            discovery(&app, out);
        }
    });
}

fn discovery(app: &App, out: &mut MetricsWriter) {
    let Some(m) = app.discovery.lock().as_ref().map(|d| d.metrics()) else {
        return;
    };
    out.counter(
        "prometheus_sd_http_failures_total",
        "Number of HTTP service discovery refresh failures.",
        &[],
        m.http_failures.load(Ordering::Relaxed) as f64,
    );
    out.counter(
        "prometheus_sd_dns_lookups_total",
        "The number of DNS-SD lookups.",
        &[],
        m.dns_lookups.load(Ordering::Relaxed) as f64,
    );
    out.counter(
        "prometheus_sd_dns_lookup_failures_total",
        "The number of DNS-SD lookup failures.",
        &[],
        m.dns_lookup_failures.load(Ordering::Relaxed) as f64,
    );
}

fn reload(app: &App, out: &mut MetricsWriter) {
    let status = &app.reload_status;
    out.gauge(
        "prometheus_config_last_reload_successful",
        "Whether the last configuration reload attempt was successful.",
        &[],
        f64::from(u8::from(status.success.load(Ordering::Relaxed))),
    );
    out.gauge(
        "prometheus_config_last_reload_success_timestamp_seconds",
        "Timestamp of the last successful configuration reload.",
        &[],
        status.success_time.load(Ordering::Relaxed) as f64,
    );
}

/// A summary as Prometheus exposes it: one gauge per quantile plus
/// `_sum` and `_count`.
fn summary(out: &mut MetricsWriter, name: &str, help: &str, label: (&str, &str), s: &Summary) {
    for (q, v) in s.quantiles() {
        let q = q.to_string();
        out.gauge(name, help, &[label, ("quantile", &q)], v);
    }
    out.gauge(&format!("{name}_sum"), help, &[label], s.sum());
    out.gauge(&format!("{name}_count"), help, &[label], s.count() as f64);
}

fn scrape(app: &App, out: &mut MetricsWriter) {
    let m = app.scrape.metrics();
    for (interval, s) in m.interval_lengths() {
        summary(
            out,
            "prometheus_target_interval_length_seconds",
            "Actual intervals between scrapes.",
            ("interval", &interval),
            &s,
        );
    }
    for (interval, s) in m.reload_lengths() {
        summary(
            out,
            "prometheus_target_reload_length_seconds",
            "Actual interval to reload the scrape pool with a given configuration.",
            ("interval", &interval),
            &s,
        );
    }
    let counters = [
        ("prometheus_target_scrape_pools", "Total number of scrape pool creation attempts.", &m.target_scrape_pools_total),
        ("prometheus_target_scrape_pools_failed", "Total number of scrape pool creations that failed.", &m.target_scrape_pools_failed_total),
        ("prometheus_target_scrape_pool_reloads", "Total number of scrape pool reloads.", &m.target_scrape_pool_reloads_total),
        ("prometheus_target_scrape_pool_reloads_failed", "Total number of failed scrape pool reloads.", &m.target_scrape_pool_reloads_failed_total),
        ("prometheus_target_scrape_pool_exceeded_target_limit", "Total number of times scrape pools hit the target limit.", &m.target_scrape_pool_exceeded_target_limit_total),
        ("prometheus_target_scrape_pool_exceeded_label_limits", "Total number of times scrape pools hit the label limits.", &m.target_scrape_pool_exceeded_label_limits_total),
        ("prometheus_target_scrapes_exceeded_body_size_limit", "Total number of scrapes that hit the body size limit.", &m.target_scrapes_exceeded_body_size_limit_total),
        ("prometheus_target_scrapes_exceeded_sample_limit", "Total number of scrapes that hit the sample limit and were rejected.", &m.target_scrapes_exceeded_sample_limit_total),
        ("prometheus_target_scrapes_sample_duplicate_timestamp", "Total number of samples rejected due to duplicate timestamps but different values.", &m.target_scrapes_sample_duplicate_timestamp_total),
        ("prometheus_target_scrapes_sample_out_of_order", "Total number of samples rejected due to not being out of the expected order.", &m.target_scrapes_sample_out_of_order_total),
        ("prometheus_target_scrapes_sample_out_of_bounds", "Total number of samples rejected due to timestamp falling outside of the time bounds.", &m.target_scrapes_sample_out_of_bounds_total),
        ("prometheus_target_scrapes_cache_flush_forced", "How many times a scrape cache was flushed due to getting big while scrapes are failing.", &m.target_scrapes_cache_flush_forced_total),
    ];
    for (name, help, c) in counters {
        out.counter(name, help, &[], c.get() as f64);
    }
    for (job, c) in m.dialers_conn_attempted() {
        out.counter(
            "net_conntrack_dialer_conn_attempted",
            "Total number of connections attempted by the given dialer a given name.",
            &[("dialer_name", &job)],
            c.get() as f64,
        );
    }
    out.counter(
        "edgescrape_target_scrape_loop_panics",
        "Total number of scrape loops that panicked; each target was started again.",
        &[],
        m.target_scrape_loop_panics_total.get() as f64,
    );
    for (job, p) in app.scrape.pool_metrics() {
        let label = [("scrape_job", job.as_str())];
        out.gauge(
            "prometheus_target_scrape_pool_targets",
            "Current number of targets in this scrape pool.",
            &label,
            p.targets.get() as f64,
        );
        out.gauge(
            "prometheus_target_scrape_pool_target_limit",
            "Maximum number of targets allowed in this scrape pool.",
            &label,
            p.target_limit.get() as f64,
        );
        out.counter(
            "prometheus_target_scrape_pool_sync",
            "Total number of syncs that were executed on a scrape pool.",
            &label,
            p.sync_total.get() as f64,
        );
        summary(
            out,
            "prometheus_target_sync_length_seconds",
            "Actual interval to sync the scrape pool.",
            ("scrape_job", &job),
            &p.sync_length,
        );
    }
}

fn storage(app: &App, out: &mut MetricsWriter) {
    let s = app.storage.stats();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    out.gauge(
        "prometheus_tsdb_head_series",
        "Total number of series in the head block.",
        &[],
        get(&s.head_series),
    );
    out.counter(
        "prometheus_tsdb_head_samples_appended",
        "Total number of appended samples.",
        &[],
        get(&s.samples_appended_total),
    );
    out.counter(
        "prometheus_tsdb_head_series_created",
        "Total number of series created in the head.",
        &[],
        get(&s.head_series_created_total),
    );
    out.counter(
        "prometheus_tsdb_head_series_removed",
        "Total number of series removed in the head.",
        &[],
        get(&s.head_series_removed_total),
    );
    out.counter(
        "prometheus_tsdb_out_of_order_samples",
        "Total number of out of order samples ingestion failed attempts.",
        &[],
        get(&s.out_of_order_total),
    );
    out.counter(
        "prometheus_tsdb_wal_writes_failed",
        "Total number of WAL writes that failed.",
        &[],
        get(&s.wal_write_errors_total),
    );
    out.counter(
        "prometheus_tsdb_wal_corruptions",
        "Total number of WAL corruptions.",
        &[],
        get(&s.wal_corrupt_records_total),
    );
    out.counter(
        "prometheus_tsdb_wal_truncated_bytes",
        "Bytes cut from a torn or corrupt WAL tail at start-up.",
        &[],
        get(&s.wal_truncated_bytes_total),
    );
    out.counter(
        "edgescrape_wal_unknown_series_samples",
        "Samples skipped at start-up because damage took their series record.",
        &[],
        get(&s.wal_unknown_series_samples_total),
    );
    out.counter(
        "prometheus_tsdb_wal_fsyncs",
        "Total number of WAL fsyncs.",
        &[],
        get(&s.wal_fsyncs_total),
    );
    out.counter(
        "prometheus_tsdb_wal_fsync_duration_seconds",
        "Time spent in WAL fsyncs.",
        &[],
        get(&s.wal_fsync_nanos_total) / 1e9,
    );
    out.counter(
        "prometheus_tsdb_wal_checkpoint_creations",
        "Total number of checkpoint creations attempted.",
        &[],
        get(&s.wal_checkpoints_total),
    );
    out.gauge(
        "prometheus_tsdb_wal_segment_current",
        "Write log segment index that TSDB is currently writing to.",
        &[],
        get(&s.wal_current_segment),
    );
    out.gauge(
        "prometheus_tsdb_wal_storage_size_bytes",
        "Size of the write log directory.",
        &[],
        get(&s.wal_disk_bytes),
    );
    out.counter(
        "prometheus_tsdb_wal_segments_deleted_by_retention",
        "WAL segments deleted by retention.",
        &[],
        get(&s.retention_segments_deleted_total),
    );
    out.counter(
        "prometheus_tsdb_wal_segments_dropped_unread",
        "WAL segments deleted by a retention bound before every remote queue had read them.",
        &[],
        get(&s.retention_segments_dropped_unread_total),
    );
    out.counter(
        "prometheus_tsdb_wal_samples_dropped_unread",
        "Samples deleted by a retention bound before every remote queue had read them.",
        &[],
        get(&s.retention_samples_dropped_unread_total),
    );
}

fn remote(app: &App, out: &mut MetricsWriter) {
    for running in app.queues.lock().iter() {
        let name = running.queue.name().to_string();
        let url = running.config.url.clone();
        let labels = [("remote_name", name.as_str()), ("url", url.as_str())];
        let s = running.queue.stats();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        out.counter(
            "prometheus_remote_storage_samples",
            "Total number of samples sent to remote storage.",
            &labels,
            get(&s.samples_sent),
        );
        out.counter("prometheus_remote_storage_samples_failed", "Total number of samples which failed on send to remote storage, non-recoverable errors.", &labels, get(&s.samples_failed));
        out.counter("prometheus_remote_storage_samples_retried", "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.", &labels, get(&s.samples_retried));
        for reason in DropReason::ALL {
            let l = [labels[0], labels[1], ("reason", reason.as_str())];
            out.counter("prometheus_remote_storage_samples_dropped", "Total number of samples which were dropped after being read from the WAL before being sent via remote write.", &l, s.samples_dropped(reason) as f64);
        }
        out.gauge(
            "prometheus_remote_storage_samples_pending",
            "The number of samples pending in the queues shards to be sent to the remote storage.",
            &labels,
            s.samples_pending.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "prometheus_remote_storage_samples_in",
            "Samples read into remote storage.",
            &labels,
            get(&s.samples_in),
        );
        out.counter(
            "prometheus_remote_storage_bytes",
            "The total number of bytes of data (not metadata) sent by the queue after compression.",
            &labels,
            get(&s.bytes_sent),
        );
        out.gauge("prometheus_remote_storage_highest_timestamp_in_seconds", "Highest timestamp that has come into the remote storage via the WAL, in seconds since epoch.", &labels, s.highest_timestamp_in_ms.load(Ordering::Relaxed) as f64 / 1000.0);
        out.gauge("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.", &labels, s.highest_sent_timestamp_ms.load(Ordering::Relaxed) as f64 / 1000.0);
        out.gauge(
            "prometheus_remote_storage_shards",
            "The number of shards used for parallel sending to the remote storage.",
            &labels,
            get(&s.shards),
        );
        out.gauge(
            "edgescrape_remote_storage_lag_seconds",
            "Newest sample read from the WAL minus newest sample sent, in seconds.",
            &labels,
            s.lag_seconds(),
        );
        out.counter(
            "edgescrape_remote_storage_samples_from_memory",
            "Samples a caught-up queue received straight from the commit instead of reading the WAL.",
            &labels,
            get(&s.samples_from_memory),
        );
        out.counter(
            "edgescrape_remote_storage_positions_persisted",
            "Times the queue's progress file was written (fsynced at most once a second).",
            &labels,
            get(&s.positions_persisted),
        );
        out.counter(
            "edgescrape_remote_storage_feed_gaps",
            "Times a queue fell behind its in-memory feed and went back to reading the WAL.",
            &labels,
            get(&s.feed_gaps),
        );
    }
}
