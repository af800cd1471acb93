//! The storage the scrape loops append to: [`Storage::open`] replays the
//! WAL into the head and hands out the [`Fanout`], whose appenders check
//! each sample against the head at `append()` (as Prometheus's head
//! appender), write a commit's batch to the WAL, and only then show it in
//! the head — so the head never holds data the WAL did not accept.
//! remote_write queues tail the WAL on their own (see [`super::wal::WalReader`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::labels::Labels;
use crate::storage::head::{AppendCheck, Head, DEFAULT_WINDOW};
use crate::storage::selector::Matcher;
use crate::storage::stats::StorageStats;
use crate::storage::wal::codec::RefMap;
use crate::storage::wal::{RangeSeries, Record, Wal, WalError, WalOptions};
use crate::storage::{is_stale_nan, AppendError, Appendable, Appender, Metadata, SeriesRef};

/// Batches kept for reuse; more appenders at once than this allocate.
const POOLED_BATCHES: usize = 64;

/// Settings of a [`Storage`].
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// WAL settings (`keep_window` is set to `head_window` by [`Storage::open`]).
    pub wal: WalOptions,
    /// How long a series without samples stays in the head; the WAL keeps
    /// at least this much of the past (unless a bound forces deletion).
    pub head_window: Duration,
}

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions {
            wal: WalOptions::default(),
            head_window: DEFAULT_WINDOW,
        }
    }
}

/// Why a storage could not be opened or closed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// The WAL failed; the error names the file.
    Wal(WalError),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Wal(e) => write!(f, "storage: {e}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Wal(e) => Some(e),
        }
    }
}

impl From<WalError> for StorageError {
    fn from(e: WalError) -> StorageError {
        StorageError::Wal(e)
    }
}

/// The storage under `--storage.path`: WAL on disk, head in memory.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    fanout: Arc<Fanout>,
}

impl Storage {
    /// Opens the storage in `dir` (the WAL lives in `dir/wal`), replaying
    /// the WAL into a fresh head. Damaged WAL data is cut off and counted,
    /// never fatal; only I/O errors fail.
    pub fn open(dir: &Path, mut options: StorageOptions) -> Result<Storage, StorageError> {
        options.wal.keep_window = options.head_window;
        let stats = Arc::new(StorageStats::new());
        let head = Arc::new(Head::new(options.head_window, stats.clone()));
        // Refs whose label set the head already keeps under another ref
        // (dropped and back before the restart) → that ref; only while
        // replaying, as new samples come under the head's own refs.
        let mut aliases: RefMap<SeriesRef> = RefMap::default();
        let mut replay = |rec: Record| match rec {
            Record::Series(series) => {
                for (r, labels) in series {
                    let kept = head.replay_series(r, labels);
                    if kept != r {
                        aliases.insert(r, kept);
                    }
                }
            }
            Record::Samples(samples) => {
                for s in samples {
                    let r = aliases.get(&s.series_ref).copied().unwrap_or(s.series_ref);
                    head.replay_sample(r, s.t, s.v);
                }
            }
        };
        let wal = Wal::open(&dir.join("wal"), options.wal, stats.clone(), &mut replay)?;
        head.set_min_next_ref(wal.next_ref());
        head.gc();
        log::info!(
            path:% = dir.display(),
            series = head.num_series(),
            replayed_samples = StorageStats::get(&stats.wal_replayed_samples_total);
            "Storage opened"
        );
        Ok(Storage {
            dir: dir.to_path_buf(),
            fanout: Arc::new(Fanout {
                head,
                wal,
                stats,
                pool: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The appendable the scrape loops share.
    pub fn fanout(&self) -> Arc<Fanout> {
        self.fanout.clone()
    }

    /// The head, for queries at "now".
    pub fn head(&self) -> &Arc<Head> {
        &self.fanout.head
    }

    /// Every sample with `mint_ms <= t <= maxt_ms` of the series matching
    /// all `matchers`: series sorted by labels, samples by time, stale
    /// markers included as the stale NaN (bit-exact). Read from the WAL on
    /// disk, so it reaches back as far as retention keeps; no storage lock
    /// is held while files are read. See [`Wal::select_range`].
    pub fn select_range(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<RangeSeries>, StorageError> {
        Ok(self.fanout.wal.select_range(matchers, mint_ms, maxt_ms)?)
    }

    /// The instant vector at `at_ms`, as PromQL evaluates a plain selector:
    /// per matching series its newest sample with
    /// `at_ms - lookback_ms <= t <= at_ms`, left out if that is a stale
    /// marker; sorted by labels. At or after the newest sample the head
    /// answers from memory; an earlier instant is read from the WAL.
    pub fn instant(
        &self,
        matchers: &[Matcher],
        at_ms: i64,
        lookback_ms: i64,
    ) -> Result<Vec<(Labels, i64, f64)>, StorageError> {
        let head = &self.fanout.head;
        if at_ms >= head.max_time() {
            return Ok(head.instant(matchers, at_ms, lookback_ms));
        }
        let range = self.select_range(matchers, at_ms.saturating_sub(lookback_ms), at_ms)?;
        Ok(range
            .into_iter()
            .filter_map(|(labels, samples)| {
                let &(t, v) = samples.last()?;
                (!is_stale_nan(v)).then_some((labels, t, v))
            })
            .collect())
    }

    /// The WAL, for remote_write queues.
    pub fn wal(&self) -> &Arc<Wal> {
        &self.fanout.wal
    }

    /// The figures for `/metrics`.
    pub fn stats(&self) -> &Arc<StorageStats> {
        &self.fanout.stats
    }

    /// The storage directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the WAL's background thread and fsyncs what was written.
    /// Call after the scrape loops stopped.
    pub fn close(&self) -> Result<(), StorageError> {
        self.fanout.wal.close()?;
        Ok(())
    }
}

/// One pending sample of a batch: series ref, timestamp, value.
type Pending = (SeriesRef, i64, f64);

/// Head plus WAL behind the [`Appendable`] trait; shared by all scrape loops.
pub struct Fanout {
    head: Arc<Head>,
    wal: Arc<Wal>,
    stats: Arc<StorageStats>,
    /// Batches of finished appenders, reused so a steady scrape allocates nothing.
    pool: Mutex<Vec<Vec<Pending>>>,
}

impl fmt::Debug for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fanout")
            .field("wal", &self.wal)
            .finish_non_exhaustive()
    }
}

impl Appendable for Fanout {
    fn appender(&self) -> Box<dyn Appender + '_> {
        let batch = self.pool.lock().pop().unwrap_or_default();
        Box::new(FanoutAppender {
            fanout: self,
            owner: self.head.new_owner(),
            batch,
        })
    }
}

/// The appender of one scrape: checks at `append`, writes at `commit`.
struct FanoutAppender<'a> {
    fanout: &'a Fanout,
    /// Marks this batch's pending samples in the head's series.
    owner: u64,
    batch: Vec<Pending>,
}

impl Appender for FanoutAppender<'_> {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let (r, check) = self
            .fanout
            .head
            .check_append(series_ref, labels, self.owner, t, v)?;
        if check == AppendCheck::Add {
            self.batch.push((r, t, v));
        }
        Ok(r)
    }

    fn update_metadata(
        &mut self,
        series_ref: SeriesRef,
        _labels: &Labels,
        _metadata: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        // Metadata is optional for a storage; this one keeps none.
        Ok(series_ref)
    }

    fn commit(&mut self) -> Result<(), AppendError> {
        let f = self.fanout;
        self.owner = f.head.new_owner();
        if self.batch.is_empty() {
            return Ok(());
        }
        let head = &f.head;
        let logged = f
            .wal
            .log(self.batch.iter().copied(), &|r| head.labels_of(r));
        if let Err(e) = logged {
            StorageStats::add(&f.stats.commit_errors_total, 1);
            log::warn!(samples = self.batch.len(), err:% = e; "Storage commit failed");
            self.batch.clear();
            return Err(AppendError::Storage(e.to_string()));
        }
        let added = f.head.apply(&self.batch);
        StorageStats::add(&f.stats.samples_appended_total, added as u64);
        f.stats
            .head_max_time_ms
            .store(f.head.max_time(), std::sync::atomic::Ordering::Relaxed);
        self.batch.clear();
        f.head.maybe_gc();
        Ok(())
    }

    fn rollback(&mut self) {
        self.owner = self.fanout.head.new_owner();
        self.batch.clear();
    }
}

impl Drop for FanoutAppender<'_> {
    fn drop(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let mut pool = self.fanout.pool.lock();
        if pool.len() < POOLED_BATCHES {
            pool.push(batch);
        }
    }
}
