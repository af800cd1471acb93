//! Storage as the scrape loop sees it: [`Appendable`] hands out an
//! [`Appender`] per scrape, which collects samples and writes them all on
//! `commit()` or none on `rollback()`, as Prometheus's `storage.Appender`.

pub mod fanout;
pub mod head;
pub mod selector;
pub mod stats;
pub mod wal;

use std::fmt;

use crate::labels::Labels;
use crate::textparse::MetricType;

/// Identifies a series inside one storage; 0 means "not known yet".
pub type SeriesRef = u64;

/// Bit pattern of Prometheus's staleness marker (a NaN no exposition can send).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as an `f64`; compare with [`is_stale_nan`], never `==`.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is exactly the staleness marker.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Type, help and unit of a metric family, as scraped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// The family's type.
    pub metric_type: MetricType,
    /// The HELP text.
    pub help: String,
    /// The UNIT (OpenMetrics).
    pub unit: String,
}

/// Why an append or commit was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendError {
    /// Older than the series' last sample.
    OutOfOrderSample,
    /// Same timestamp as the series' last sample, different value.
    DuplicateSampleForTimestamp,
    /// Outside the time range the storage accepts.
    OutOfBounds,
    /// The storage failed to persist (disk full, I/O error); the message says where.
    Storage(String),
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::OutOfOrderSample => f.write_str("out of order sample"),
            AppendError::DuplicateSampleForTimestamp => {
                f.write_str("duplicate sample for timestamp")
            }
            AppendError::OutOfBounds => f.write_str("out of bounds"),
            AppendError::Storage(msg) => write!(f, "storage: {msg}"),
        }
    }
}

impl std::error::Error for AppendError {}

/// Collects one scrape's samples; nothing is visible until [`Appender::commit`].
///
/// Owned by one scrape loop thread for one scrape; never shared.
pub trait Appender: Send {
    /// Adds a sample. `series_ref` is what an earlier append of the same
    /// labels returned, or 0; the returned ref may be cached by the caller.
    /// Per-sample errors (out of order, duplicate) leave the batch usable.
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError>;

    /// Records metadata for a series (optional for a storage to keep).
    fn update_metadata(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        metadata: &Metadata,
    ) -> Result<SeriesRef, AppendError>;

    /// Makes every appended sample durable and visible, all or nothing.
    fn commit(&mut self) -> Result<(), AppendError>;

    /// Discards every sample appended since the last commit.
    fn rollback(&mut self);
}

/// Something scrape loops can append to; shared by all loops.
pub trait Appendable: Send + Sync {
    /// A fresh appender for one scrape.
    fn appender(&self) -> Box<dyn Appender + '_>;
}
