//! Appenders that only count or collect, to measure the scrape loop
//! without a storage's cost (tests that assert on what was stored use the
//! real storage, `storage.rs`). Shared by the scrape allocation test, the
//! benchmark and the memory example, each of which uses part of it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use edgescrape::labels::Labels;
use edgescrape::storage::{AppendError, Appendable, Appender, Metadata, SeriesRef};

/// An appender that only collects: new series get the next reference,
/// known references are returned as given, and nothing is checked. It
/// measures the scrape loop without a storage's cost (which
/// `benches/storage.rs` measures); `samples` keeps its capacity between
/// scrapes, so it allocates nothing in steady state.
#[derive(Default)]
pub struct Sink {
    pub samples: Vec<(SeriesRef, i64, f64)>,
    pub committed: u64,
    next_ref: SeriesRef,
}

impl Appender for Sink {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        _labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let r = if series_ref == 0 {
            self.next_ref += 1;
            self.next_ref
        } else {
            series_ref
        };
        self.samples.push((r, t, v));
        Ok(r)
    }

    fn update_metadata(
        &mut self,
        series_ref: SeriesRef,
        _labels: &Labels,
        _metadata: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series_ref)
    }

    fn commit(&mut self) -> Result<(), AppendError> {
        self.committed += self.samples.len() as u64;
        self.samples.clear();
        Ok(())
    }

    fn rollback(&mut self) {
        self.samples.clear();
    }
}

/// A storage whose appenders only count what is committed.
#[derive(Default)]
pub struct CountingStorage {
    pub samples: AtomicU64,
    next_ref: AtomicU64,
}

/// The appender of [`CountingStorage`].
pub struct CountingAppender<'a> {
    storage: &'a CountingStorage,
    pending: u64,
}

impl Appendable for CountingStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(CountingAppender {
            storage: self,
            pending: 0,
        })
    }
}

impl Appender for CountingAppender<'_> {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        _labels: &Labels,
        _t: i64,
        _v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.pending += 1;
        if series_ref != 0 {
            return Ok(series_ref);
        }
        Ok(self.storage.next_ref.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn update_metadata(
        &mut self,
        series_ref: SeriesRef,
        _labels: &Labels,
        _metadata: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series_ref)
    }

    fn commit(&mut self) -> Result<(), AppendError> {
        self.storage
            .samples
            .fetch_add(self.pending, Ordering::Relaxed);
        self.pending = 0;
        Ok(())
    }

    fn rollback(&mut self) {
        self.pending = 0;
    }
}
