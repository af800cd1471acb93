//! [`QueueStats`]: one queue's counters, named after Prometheus's
//! `prometheus_remote_storage_*` metrics. Plain atomics, written by the
//! queue's threads and read by whoever exports metrics.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Why samples read from the WAL were not sent
/// (`prometheus_remote_storage_samples_dropped_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Older than `sample_age_limit` when their batch was sent (`too_old`).
    TooOld,
    /// Their series was dropped by `write_relabel_configs` (`dropped_series`).
    DroppedSeries,
    /// No series record for their ref was ever read: a WAL inconsistency
    /// (`unintentionally_dropped_series`).
    UnknownSeries,
}

impl DropReason {
    /// Every reason, in the order of [`QueueStats::samples_dropped`].
    pub const ALL: [DropReason; 3] = [
        DropReason::TooOld,
        DropReason::DroppedSeries,
        DropReason::UnknownSeries,
    ];

    /// The `reason` label value Prometheus uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooOld => "too_old",
            DropReason::DroppedSeries => "dropped_series",
            DropReason::UnknownSeries => "unintentionally_dropped_series",
        }
    }

    fn index(self) -> usize {
        match self {
            DropReason::TooOld => 0,
            DropReason::DroppedSeries => 1,
            DropReason::UnknownSeries => 2,
        }
    }
}

/// Counters and gauges of one remote_write queue.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// `samples_total`: samples in requests the receiver accepted.
    pub samples_sent: AtomicU64,
    /// `samples_failed_total`: samples in requests refused for good (4xx).
    pub samples_failed: AtomicU64,
    /// `samples_retried_total`: samples in requests that failed and were
    /// tried again.
    pub samples_retried: AtomicU64,
    dropped: [AtomicU64; 3],
    /// `samples_pending`: read from the WAL, not yet acknowledged.
    pub samples_pending: AtomicI64,
    /// `samples_in_total`: samples read from the WAL for this queue.
    pub samples_in: AtomicU64,
    /// `bytes_total`: compressed request bytes accepted by the receiver.
    pub bytes_sent: AtomicU64,
    /// `highest_timestamp_in_seconds`: newest sample timestamp read from the WAL (ms).
    pub highest_timestamp_in_ms: AtomicI64,
    /// `queue_highest_sent_timestamp_seconds`: newest timestamp accepted (ms).
    pub highest_sent_timestamp_ms: AtomicI64,
    /// `shards`: sender threads running.
    pub shards: AtomicU64,
    /// Times the read position was written (fsynced at most once a second).
    pub positions_persisted: AtomicU64,
    /// Samples finished (sent, refused or dropped) this run whose progress
    /// is saved: a crash of the process now never sends them again.
    pub samples_durable: AtomicU64,
    /// Samples that reached the queue from memory, straight from the
    /// commit, rather than read back from the WAL files.
    pub samples_from_memory: AtomicU64,
    /// Times the in-memory feed had a gap (full, or not caught up) and the
    /// queue went back to reading the WAL files.
    pub feed_gaps: AtomicU64,
    /// Unix ms when sends started failing with no success since; 0 while
    /// the last send succeeded.
    retrying_since_ms: AtomicI64,
    /// The last send error; empty once a send succeeds.
    last_error: Mutex<String>,
    /// Whether the queue was asked to stop.
    stopped: AtomicBool,
}

impl QueueStats {
    /// `samples_dropped_total{reason}`.
    pub fn samples_dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()].load(Ordering::Relaxed)
    }

    /// Sum of `samples_dropped_total` over all reasons.
    pub fn samples_dropped_total(&self) -> u64 {
        DropReason::ALL
            .iter()
            .map(|r| self.samples_dropped(*r))
            .sum()
    }

    /// How far sending trails reading, in seconds: highest timestamp read
    /// minus highest timestamp sent (0 when caught up).
    pub fn lag_seconds(&self) -> f64 {
        let read = self.highest_timestamp_in_ms.load(Ordering::Relaxed);
        let sent = self.highest_sent_timestamp_ms.load(Ordering::Relaxed);
        (read.saturating_sub(sent)).max(0) as f64 / 1000.0
    }

    /// When sends started failing with no success since, if they are.
    pub fn retrying_since(&self) -> Option<SystemTime> {
        let ms = self.retrying_since_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| UNIX_EPOCH + std::time::Duration::from_millis(ms as u64))
    }

    /// The last send error; empty when the last send succeeded.
    pub fn last_error(&self) -> String {
        self.last_error.lock().clone()
    }

    /// Whether the queue was asked to stop.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Records an accepted request: the queue is shipping again.
    pub(crate) fn record_success(&self) {
        self.retrying_since_ms.store(0, Ordering::Relaxed);
        let mut last_error = self.last_error.lock();
        if !last_error.is_empty() {
            last_error.clear();
        }
    }

    /// Records a failed request; a recoverable one starts (or continues)
    /// the retrying period at `now_ms`, a refused one ends it (the
    /// receiver answered).
    pub(crate) fn record_error(&self, message: &str, recoverable: bool, now_ms: i64) {
        if recoverable {
            let _ = self.retrying_since_ms.compare_exchange(
                0,
                now_ms.max(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            self.retrying_since_ms.store(0, Ordering::Relaxed);
        }
        *self.last_error.lock() = message.to_string();
    }

    /// Marks the queue stopped.
    pub(crate) fn record_stopped(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped(&self, reason: DropReason, n: u64) {
        self.dropped[reason.index()].fetch_add(n, Ordering::Relaxed);
    }
}

/// Raises `cell` to `v` if `v` is larger.
pub(crate) fn store_max(cell: &AtomicI64, v: i64) {
    cell.fetch_max(v, Ordering::Relaxed);
}
