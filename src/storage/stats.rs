//! Counters and gauges of the storage, shared by the WAL, the head and the
//! fanout, read by `/metrics`.
//!
//! Every field is an atomic updated with `Relaxed` ordering: each is an
//! independent figure, never used to synchronise anything.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Storage figures; one instance per [`super::fanout::Storage`], shared by `Arc`.
#[derive(Debug, Default)]
pub struct StorageStats {
    /// Samples accepted by commits (WAL written and head updated).
    pub samples_appended_total: AtomicU64,
    /// Appends refused as out of order.
    pub out_of_order_total: AtomicU64,
    /// Appends refused as a different value for an existing timestamp.
    pub duplicate_total: AtomicU64,
    /// Commits that failed because the WAL could not write.
    pub commit_errors_total: AtomicU64,
    /// Series in the head now (gauge).
    pub head_series: AtomicU64,
    /// Series created in the head since start.
    pub head_series_created_total: AtomicU64,
    /// Series dropped from the head for having no sample in its window.
    pub head_series_removed_total: AtomicU64,
    /// Bytes written to WAL segments since start.
    pub wal_bytes_written_total: AtomicU64,
    /// Bytes the WAL directory holds now: segments plus checkpoint (gauge).
    pub wal_disk_bytes: AtomicU64,
    /// Segment files on disk now (gauge).
    pub wal_segments: AtomicU64,
    /// Sequence number of the segment being written (gauge).
    pub wal_current_segment: AtomicU64,
    /// Segment files created since start.
    pub wal_segments_created_total: AtomicU64,
    /// Writes to the WAL that failed (disk full, I/O error).
    pub wal_write_errors_total: AtomicU64,
    /// `fsync` calls on WAL segments.
    pub wal_fsyncs_total: AtomicU64,
    /// Time spent in those calls, in nanoseconds.
    pub wal_fsync_nanos_total: AtomicU64,
    /// `fsync` calls that failed.
    pub wal_fsync_errors_total: AtomicU64,
    /// Corrupt or torn records found when the WAL was opened.
    pub wal_corrupt_records_total: AtomicU64,
    /// Bytes cut off or skipped at open because they followed a corrupt record.
    pub wal_truncated_bytes_total: AtomicU64,
    /// Samples found on replay whose series record was lost (damage): skipped.
    pub wal_unknown_series_samples_total: AtomicU64,
    /// Samples replayed into the head on start.
    pub wal_replayed_samples_total: AtomicU64,
    /// Checkpoints written.
    pub wal_checkpoints_total: AtomicU64,
    /// Segments deleted by retention, for any reason.
    pub retention_segments_deleted_total: AtomicU64,
    /// Segments deleted by a size or time bound before every reader had read them.
    pub retention_segments_dropped_unread_total: AtomicU64,
    /// Samples in those segments that some reader had not read.
    pub retention_samples_dropped_unread_total: AtomicU64,
    /// Newest sample timestamp accepted, in milliseconds (gauge; `i64::MIN` when none).
    pub head_max_time_ms: AtomicI64,
}

impl StorageStats {
    /// A zeroed set of figures.
    pub fn new() -> StorageStats {
        StorageStats {
            head_max_time_ms: AtomicI64::new(i64::MIN),
            ..StorageStats::default()
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, n: u64) {
        gauge.store(n, Ordering::Relaxed);
    }

    /// Reads one figure.
    pub fn get(figure: &AtomicU64) -> u64 {
        figure.load(Ordering::Relaxed)
    }
}
