//! The real storage (WAL plus head, as `edgescrape run` opens it) in a
//! temporary directory, with the queries the scrape tests assert on.

#![allow(dead_code)]

use std::sync::Arc;

use edgescrape::labels::Labels;
use edgescrape::storage::fanout::{Fanout, Storage, StorageOptions};
use edgescrape::storage::selector::{MatchKind, Matcher};
use edgescrape::storage::{Appendable, Appender};

/// A committed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// See the module documentation. The directory goes when this is dropped.
pub struct TestStorage {
    fanout: Arc<Fanout>,
    storage: Storage,
    _dir: tempfile::TempDir,
}

impl Default for TestStorage {
    fn default() -> TestStorage {
        let dir = tempfile::tempdir().expect("temporary directory");
        let storage = Storage::open(dir.path(), StorageOptions::default()).expect("open storage");
        TestStorage {
            fanout: storage.fanout(),
            storage,
            _dir: dir,
        }
    }
}

impl TestStorage {
    /// Every committed sample (stale markers included) of the series
    /// matching `matchers`, series in label order, samples in time order.
    fn select(&self, matchers: &[Matcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
        self.storage
            .select_range(matchers, i64::MIN, i64::MAX)
            .expect("read the WAL")
    }

    /// Every committed sample of series named `name`, in time order per
    /// series, series in label order.
    pub fn samples(&self, name: &str) -> Vec<Sample> {
        let by_name = Matcher::new(MatchKind::Equal, "__name__", name).expect("no regex");
        let mut out = Vec::new();
        for (labels, samples) in self.select(&[by_name]) {
            for (t, v) in samples {
                out.push(Sample {
                    labels: labels.clone(),
                    t,
                    v,
                });
            }
        }
        out
    }

    /// Values of the series with exactly these labels.
    pub fn values(&self, labels: &Labels) -> Vec<(i64, f64)> {
        self.select(&[])
            .into_iter()
            .find(|(l, _)| l == labels)
            .map(|(_, samples)| samples)
            .unwrap_or_default()
    }

    /// The last committed value of the first series named `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.samples(name).last().map(|s| s.v)
    }

    /// Label sets of all series with at least one committed sample.
    pub fn series(&self) -> Vec<Labels> {
        self.select(&[]).into_iter().map(|(l, _)| l).collect()
    }

    /// Number of committed samples.
    pub fn sample_count(&self) -> usize {
        self.select(&[]).iter().map(|(_, s)| s.len()).sum()
    }
}

impl Appendable for TestStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.fanout.appender()
    }
}

impl Drop for TestStorage {
    fn drop(&mut self) {
        // Stop the WAL's thread before the directory goes.
        let _ = self.storage.close();
    }
}
