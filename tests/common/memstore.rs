//! A small real storage: every committed sample in memory, refusing out of
//! order and duplicate samples as Prometheus's head does (also within one
//! uncommitted batch). Shared by the scrape tests and benchmarks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use edgescrape::labels::Labels;
use edgescrape::storage::{AppendError, Appendable, Appender, Metadata, SeriesRef};
use parking_lot::Mutex;

#[derive(Default)]
struct Series {
    labels: Labels,
    samples: Vec<(i64, f64)>,
}

#[derive(Default)]
struct Store {
    by_labels: HashMap<Labels, SeriesRef>,
    series: HashMap<SeriesRef, Series>,
    next_ref: SeriesRef,
}

impl Store {
    fn get_or_create(&mut self, labels: &Labels) -> SeriesRef {
        if let Some(r) = self.by_labels.get(labels) {
            return *r;
        }
        self.next_ref += 1;
        let r = self.next_ref;
        self.by_labels.insert(labels.clone(), r);
        self.series.insert(
            r,
            Series {
                labels: labels.clone(),
                samples: Vec::new(),
            },
        );
        r
    }
}

/// See the module documentation.
#[derive(Default)]
pub struct MemStorage {
    store: Mutex<Store>,
    pub commits: AtomicU64,
    pub rollbacks: AtomicU64,
    /// When set, every append fails with this storage error.
    pub fail_appends: Mutex<Option<String>>,
}

/// A committed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

impl MemStorage {
    /// Every committed sample of series named `name`, in commit order per
    /// series, series in label order.
    pub fn samples(&self, name: &str) -> Vec<Sample> {
        let store = self.store.lock();
        let mut out: Vec<Sample> = Vec::new();
        let mut series: Vec<&Series> = store
            .series
            .values()
            .filter(|s| s.labels.metric_name() == Some(name))
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        for s in series {
            for &(t, v) in &s.samples {
                out.push(Sample {
                    labels: s.labels.clone(),
                    t,
                    v,
                });
            }
        }
        out
    }

    /// Values of the series with exactly these labels.
    pub fn values(&self, labels: &Labels) -> Vec<(i64, f64)> {
        let store = self.store.lock();
        store
            .by_labels
            .get(labels)
            .and_then(|r| store.series.get(r))
            .map(|s| s.samples.clone())
            .unwrap_or_default()
    }

    /// The last committed value of the first series named `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.samples(name).last().map(|s| s.v)
    }

    /// Label sets of all series with at least one sample.
    pub fn series(&self) -> Vec<Labels> {
        let store = self.store.lock();
        let mut out: Vec<Labels> = store
            .series
            .values()
            .filter(|s| !s.samples.is_empty())
            .map(|s| s.labels.clone())
            .collect();
        out.sort();
        out
    }

    /// Number of committed samples.
    pub fn sample_count(&self) -> usize {
        self.store
            .lock()
            .series
            .values()
            .map(|s| s.samples.len())
            .sum()
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            storage: self,
            pending: Vec::new(),
        })
    }
}

/// A batch of samples for one scrape.
pub struct MemAppender<'a> {
    storage: &'a MemStorage,
    pending: Vec<(SeriesRef, i64, f64)>,
}

impl Appender for MemAppender<'_> {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        if let Some(msg) = &*self.storage.fail_appends.lock() {
            return Err(AppendError::Storage(msg.clone()));
        }
        let mut store = self.storage.store.lock();
        let r = if series_ref != 0 && store.series.contains_key(&series_ref) {
            series_ref
        } else {
            store.get_or_create(labels)
        };
        let committed_last = store.series[&r].samples.last().copied();
        let pending_last = self
            .pending
            .iter()
            .rev()
            .find(|(pr, _, _)| *pr == r)
            .map(|&(_, t, v)| (t, v));
        if let Some((lt, lv)) = pending_last.or(committed_last) {
            if t < lt {
                return Err(AppendError::OutOfOrderSample);
            }
            if t == lt {
                if lv.to_bits() == v.to_bits() {
                    return Ok(r);
                }
                return Err(AppendError::DuplicateSampleForTimestamp);
            }
        }
        self.pending.push((r, t, v));
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
        let mut store = self.storage.store.lock();
        for (r, t, v) in self.pending.drain(..) {
            if let Some(s) = store.series.get_mut(&r) {
                // As the head at commit: a sample not after the last one
                // (another appender committed first) is dropped.
                if s.samples.last().map_or(true, |&(lt, _)| t > lt) {
                    s.samples.push((t, v));
                }
            }
        }
        self.storage.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn rollback(&mut self) {
        self.pending.clear();
        self.storage.rollbacks.fetch_add(1, Ordering::Relaxed);
    }
}
