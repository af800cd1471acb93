//! The series table: every series the retained WAL refers to, by ref.
//!
//! A series record is written once, when a series first appears (or
//! reappears after its records were deleted); the table remembers which
//! series have one on disk and the newest segment holding a sample of
//! each. Retention keeps an entry while any retained segment holds its
//! samples and carries it into the checkpoint before deleting the segment
//! that defined it, so every sample left on disk resolves through the
//! checkpoint, the segments, or (at run time) this table.
//!
//! Shared by the writer (which adds and touches entries under its own lock)
//! and the readers that resolve refs without decoding series records
//! (remote_write queues, [`super::Wal::select_range`]). Labels are the
//! head's own [`Labels`] (one reference-counted allocation), so the table
//! holds no copy of a label set.

use parking_lot::RwLock;

use crate::labels::Labels;
use crate::storage::SeriesRef;

use super::codec::RefMap;
use super::MAX_SEGMENT;

/// One series with a series record on disk (24 bytes).
#[derive(Debug, Clone)]
pub(crate) struct SeriesEntry {
    pub(crate) labels: Labels,
    /// Segment whose series record defines it (the checkpoint's sequence
    /// number for series read from a checkpoint).
    pub(crate) defined_in: u32,
    /// Newest segment holding a sample of it.
    pub(crate) last_seg: u32,
}

/// A segment number as the table keeps it. Segment numbers never exceed
/// [`MAX_SEGMENT`] (`u32::MAX`): the WAL refuses to open a directory
/// holding a larger one and to create one past it, so the table stores
/// them in 4 bytes (8 bytes less per series).
pub(crate) fn seg32(seq: u64) -> u32 {
    debug_assert!(seq <= MAX_SEGMENT);
    u32::try_from(seq).unwrap_or(u32::MAX)
}

/// Ref → series entry; see the module doc. Shared by `Arc`.
#[derive(Debug, Default)]
pub struct SeriesTable {
    map: RwLock<RefMap<SeriesEntry>>,
}

impl SeriesTable {
    /// A table holding `map`.
    pub(crate) fn new(map: RefMap<SeriesEntry>) -> SeriesTable {
        SeriesTable {
            map: RwLock::new(map),
        }
    }

    /// The labels of `series_ref`, if a retained record defines it.
    pub fn labels_of(&self, series_ref: SeriesRef) -> Option<Labels> {
        self.map.read().get(&series_ref).map(|e| e.labels.clone())
    }

    /// Whether a retained record defines `series_ref`.
    pub fn contains(&self, series_ref: SeriesRef) -> bool {
        self.map.read().contains_key(&series_ref)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    /// The map, for the writer (under the writer lock) and retention.
    pub(crate) fn write(&self) -> parking_lot::RwLockWriteGuard<'_, RefMap<SeriesEntry>> {
        self.map.write()
    }

    /// The map, read-only.
    pub(crate) fn read(&self) -> parking_lot::RwLockReadGuard<'_, RefMap<SeriesEntry>> {
        self.map.read()
    }
}
