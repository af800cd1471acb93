//! The in-memory head: the latest sample of every live series, enough for
//! `/federate` and instant queries at "now", as Prometheus's `tsdb/head.go`
//! without chunks or blocks.
//!
//! The head keeps no window of raw samples: older samples are read back
//! from the WAL, which already holds them within retention
//! ([`crate::storage::fanout::Storage::select_range`]). A window of raw
//! `(i64, f64)` pairs cost about 8 KB per series at a 1 s interval, and
//! made memory grow for five minutes after start; the latest sample plus
//! the append-check state is a fixed ~100 bytes per series, and the labels
//! are the one allocation the scrape cache and the WAL's series table
//! share.
//!
//! A series with no sample within `window` of the newest sample the head
//! has seen is dropped (its ref is never reused; if it comes back it gets a
//! new one, as in Prometheus's head GC).
//!
//! Concurrency: any thread may call any method. Locks are taken in the
//! order index → shard → series and never across I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::labels::Labels;
use crate::storage::selector::{matches_all, Matcher};
use crate::storage::stats::StorageStats;
use crate::storage::wal::codec::RefMap;
use crate::storage::{is_stale_nan, AppendError, SeriesRef};

/// Shards of the ref → series map, to keep scrape loops off each other's locks.
const SHARDS: usize = 16;

/// Default time a series without samples stays in the head.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Default lookback of instant queries, as Prometheus's `--query.lookback-delta`.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One series in the head.
#[derive(Debug)]
pub struct MemSeries {
    series_ref: SeriesRef,
    labels: Labels,
    /// Timestamp (`i64::MIN` if none) and value bits of the newest
    /// committed sample: written under `data`'s lock, read by append checks
    /// without it and by queries under it.
    last_t: AtomicI64,
    last_bits: AtomicU64,
    /// The newest sample an uncommitted batch of appender `pending_owner`
    /// holds, so checks see the batch too; also keeps the series from GC.
    /// Plain stores: two appenders writing one series at once (two targets
    /// exposing the same series) may see a mixed marker, and then `apply`
    /// still drops what is not newer.
    pending_owner: AtomicU64,
    pending_t: AtomicI64,
    pending_bits: AtomicU64,
    data: Mutex<SeriesData>,
}

/// What the series lock guards besides the newest sample's atomics.
#[derive(Debug, Default)]
struct SeriesData {
    /// Dropped from the maps by GC.
    removed: bool,
}

impl MemSeries {
    fn new(series_ref: SeriesRef, labels: Labels) -> MemSeries {
        MemSeries {
            series_ref,
            labels,
            last_t: AtomicI64::new(i64::MIN),
            last_bits: AtomicU64::new(0),
            pending_owner: AtomicU64::new(0),
            pending_t: AtomicI64::new(i64::MIN),
            pending_bits: AtomicU64::new(0),
            data: Mutex::new(SeriesData::default()),
        }
    }

    /// The series' ref (as written to the WAL).
    pub fn series_ref(&self) -> SeriesRef {
        self.series_ref
    }

    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The newest committed sample, if any.
    fn last_sample(&self) -> Option<(i64, f64)> {
        let _d = self.data.lock();
        let t = self.last_t.load(Ordering::Relaxed);
        let v = f64::from_bits(self.last_bits.load(Ordering::Relaxed));
        (t != i64::MIN).then_some((t, v))
    }

    /// Whether GC may drop the series: nothing committed or pending at or
    /// after `cutoff`.
    fn is_dead(&self, cutoff: i64) -> bool {
        self.last_t.load(Ordering::Relaxed) < cutoff
            && self.pending_t.load(Ordering::Relaxed) < cutoff
    }
}

/// What an append check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendCheck {
    /// Newer than anything: add it to the batch.
    Add,
    /// Same timestamp and bit-identical value as the last: nothing to do.
    Same,
}

/// The in-memory head; see the module doc.
#[derive(Debug)]
pub struct Head {
    window_ms: i64,
    /// Ref → series. Refs are spread over shards in runs of 64, so a
    /// scrape's consecutive refs share a shard and a commit takes few locks.
    /// Replay may map a second ref to a series (see [`Head::replay_series`]).
    shards: Vec<RwLock<RefMap<Arc<MemSeries>>>>,
    /// Labels → the series' own ref.
    index: RwLock<HashMap<Labels, SeriesRef>>,
    next_ref: AtomicU64,
    next_owner: AtomicU64,
    max_t: AtomicI64,
    last_gc_t: AtomicI64,
    stats: Arc<StorageStats>,
}

impl Head {
    /// An empty head that drops series with no sample within `window`.
    pub fn new(window: Duration, stats: Arc<StorageStats>) -> Head {
        Head {
            window_ms: window.as_millis().clamp(1, i64::MAX as u128) as i64,
            shards: (0..SHARDS)
                .map(|_| RwLock::new(RefMap::default()))
                .collect(),
            index: RwLock::new(HashMap::new()),
            next_ref: AtomicU64::new(1),
            next_owner: AtomicU64::new(1),
            max_t: AtomicI64::new(i64::MIN),
            last_gc_t: AtomicI64::new(i64::MIN),
            stats,
        }
    }

    fn shard_index(series_ref: SeriesRef) -> usize {
        ((series_ref >> 6) % SHARDS as u64) as usize
    }

    fn shard(&self, series_ref: SeriesRef) -> &RwLock<RefMap<Arc<MemSeries>>> {
        &self.shards[Head::shard_index(series_ref)]
    }

    /// The series with this ref, if the head has it.
    pub fn by_ref(&self, series_ref: SeriesRef) -> Option<Arc<MemSeries>> {
        self.shard(series_ref).read().get(&series_ref).cloned()
    }

    /// The labels of the series with this ref, if the head has it.
    pub fn labels_of(&self, series_ref: SeriesRef) -> Option<Labels> {
        let shard = self.shard(series_ref).read();
        shard.get(&series_ref).map(|s| s.labels.clone())
    }

    /// The series with these labels, created (with a fresh ref) if absent.
    pub fn get_or_create(&self, labels: &Labels) -> Arc<MemSeries> {
        if let Some(&r) = self.index.read().get(labels) {
            if let Some(s) = self.by_ref(r) {
                return s;
            }
        }
        let mut index = self.index.write();
        if let Some(s) = index.get(labels).and_then(|&r| self.by_ref(r)) {
            return s;
        }
        let series_ref = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let series = Arc::new(MemSeries::new(series_ref, labels.clone()));
        self.shard(series_ref)
            .write()
            .insert(series_ref, series.clone());
        index.insert(labels.clone(), series_ref);
        StorageStats::add(&self.stats.head_series_created_total, 1);
        StorageStats::set(&self.stats.head_series, index.len() as u64);
        series
    }

    /// Defines a series read back from the WAL. If its labels already have
    /// another ref (the series was dropped and came back before the
    /// restart), both refs lead to the one series.
    pub fn replay_series(&self, series_ref: SeriesRef, labels: Labels) {
        self.next_ref.fetch_max(series_ref + 1, Ordering::Relaxed);
        if self.by_ref(series_ref).is_some() {
            return;
        }
        let mut index = self.index.write();
        let existing = index.get(&labels).and_then(|&r| self.by_ref(r));
        let series = match existing {
            Some(s) => s,
            None => {
                index.insert(labels.clone(), series_ref);
                StorageStats::add(&self.stats.head_series_created_total, 1);
                StorageStats::set(&self.stats.head_series, index.len() as u64);
                Arc::new(MemSeries::new(series_ref, labels))
            }
        };
        self.shard(series_ref).write().insert(series_ref, series);
    }

    /// Applies a sample read back from the WAL; unknown refs and samples out
    /// of order are skipped, as Prometheus's replay does.
    pub fn replay_sample(&self, series_ref: SeriesRef, t: i64, v: f64) {
        if self.apply(&[(series_ref, t, v)]) == 0 {
            log::debug!(series_ref = series_ref; "WAL replay sample for unknown series");
        }
    }

    /// Raises the next ref to at least `next`.
    pub fn set_min_next_ref(&self, next: SeriesRef) {
        self.next_ref.fetch_max(next, Ordering::Relaxed);
    }

    /// A fresh id for an appender's pending markers.
    pub(crate) fn new_owner(&self) -> u64 {
        self.next_owner.fetch_add(1, Ordering::Relaxed)
    }

    /// Finds (by ref, else by labels, creating it) the series of a sample
    /// and checks the sample, as [`Head::check`]; returns the series' ref.
    pub(crate) fn check_append(
        &self,
        series_ref: SeriesRef,
        labels: &Labels,
        owner: u64,
        t: i64,
        v: f64,
    ) -> Result<(SeriesRef, AppendCheck), AppendError> {
        if series_ref != 0 {
            // Under the shard lock, so GC cannot drop the series before
            // the pending marker keeps it.
            let shard = self.shard(series_ref).read();
            if let Some(s) = shard.get(&series_ref) {
                return Ok((s.series_ref, self.check(s, owner, t, v)?));
            }
        }
        loop {
            let created = self.get_or_create(labels);
            let shard = self.shard(created.series_ref).read();
            if let Some(s) = shard.get(&created.series_ref) {
                return Ok((s.series_ref, self.check(s, owner, t, v)?));
            }
        }
    }

    /// Checks a sample against the series' last committed sample and the
    /// newest one `owner`'s batch holds (as Prometheus's
    /// `memSeries.appendable`), and marks it pending for `owner`.
    pub(crate) fn check(
        &self,
        series: &MemSeries,
        owner: u64,
        t: i64,
        v: f64,
    ) -> Result<AppendCheck, AppendError> {
        let mut last = (
            series.last_t.load(Ordering::Relaxed),
            series.last_bits.load(Ordering::Relaxed),
        );
        if series.pending_owner.load(Ordering::Relaxed) == owner {
            let pending_t = series.pending_t.load(Ordering::Relaxed);
            if pending_t > last.0 {
                last = (pending_t, series.pending_bits.load(Ordering::Relaxed));
            }
        }
        let bits = v.to_bits();
        if last.0 != i64::MIN {
            if t < last.0 {
                StorageStats::add(&self.stats.out_of_order_total, 1);
                return Err(AppendError::OutOfOrderSample);
            }
            if t == last.0 {
                if last.1 == bits {
                    return Ok(AppendCheck::Same);
                }
                StorageStats::add(&self.stats.duplicate_total, 1);
                return Err(AppendError::DuplicateSampleForTimestamp);
            }
        }
        series.pending_owner.store(owner, Ordering::Relaxed);
        series.pending_t.store(t, Ordering::Relaxed);
        series.pending_bits.store(bits, Ordering::Relaxed);
        Ok(AppendCheck::Add)
    }

    /// Adds samples the WAL has accepted; returns how many were added. A
    /// sample not newer than its series' last (another appender got there
    /// first) or of a series no longer in the head is dropped.
    pub(crate) fn apply(&self, samples: &[(SeriesRef, i64, f64)]) -> usize {
        let mut added = 0;
        let mut batch_max = i64::MIN;
        let mut current: Option<(usize, parking_lot::RwLockReadGuard<'_, _>)> = None;
        for &(series_ref, t, v) in samples {
            let idx = Head::shard_index(series_ref);
            let shard = match &mut current {
                Some((i, guard)) if *i == idx => guard,
                _ => &mut current.insert((idx, self.shards[idx].read())).1,
            };
            let Some(series) = shard.get(&series_ref) else {
                continue;
            };
            if self.apply_one(series, t, v) {
                added += 1;
                batch_max = batch_max.max(t);
            }
        }
        drop(current);
        if batch_max > self.max_t.load(Ordering::Relaxed) {
            self.max_t.fetch_max(batch_max, Ordering::Relaxed);
        }
        added
    }

    fn apply_one(&self, series: &MemSeries, t: i64, v: f64) -> bool {
        let d = series.data.lock();
        if d.removed || t <= series.last_t.load(Ordering::Relaxed) {
            return false;
        }
        series.last_t.store(t, Ordering::Relaxed);
        series.last_bits.store(v.to_bits(), Ordering::Relaxed);
        true
    }

    /// Newest sample timestamp seen, `i64::MIN` if none.
    pub fn max_time(&self) -> i64 {
        self.max_t.load(Ordering::Relaxed)
    }

    /// Runs [`Head::gc`] if the newest timestamp moved half the window since
    /// the last run (so a dead series lives at most 1.5 windows).
    pub(crate) fn maybe_gc(&self) {
        let max_t = self.max_time();
        let last = self.last_gc_t.load(Ordering::Relaxed);
        if last == i64::MIN || max_t.saturating_sub(last) >= self.window_ms / 2 {
            self.last_gc_t.store(max_t, Ordering::Relaxed);
            self.gc();
        }
    }

    /// Drops series with nothing committed or pending within the window of
    /// the newest sample seen; returns how many.
    pub fn gc(&self) -> usize {
        let cutoff = self.max_time().saturating_sub(self.window_ms);
        let mut dead: Vec<Arc<MemSeries>> = Vec::new();
        for shard in &self.shards {
            dead.extend(shard.read().values().filter(|s| s.is_dead(cutoff)).cloned());
        }
        if dead.is_empty() {
            return 0;
        }
        let mut index = self.index.write();
        let mut removed = 0;
        for series in dead {
            let mut shard = self.shard(series.series_ref).write();
            let mut d = series.data.lock();
            if d.removed || !series.is_dead(cutoff) {
                continue;
            }
            d.removed = true;
            drop(d);
            shard.remove(&series.series_ref);
            if index.get(&series.labels) == Some(&series.series_ref) {
                index.remove(&series.labels);
            }
            removed += 1;
        }
        // Refs that replay mapped to a series with another ref.
        for shard in &self.shards {
            shard.write().retain(|_, s| !s.data.lock().removed);
        }
        StorageStats::add(&self.stats.head_series_removed_total, removed as u64);
        StorageStats::set(&self.stats.head_series, index.len() as u64);
        removed
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.index.read().len()
    }

    fn matching(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let refs: Vec<SeriesRef> = self
            .index
            .read()
            .iter()
            .filter(|(labels, _)| matches_all(matchers, labels))
            .map(|(_, &r)| r)
            .collect();
        let mut out: Vec<_> = refs.into_iter().filter_map(|r| self.by_ref(r)).collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The newest sample of every series matching all `matchers`, if it
    /// lies in `mint <= t <= maxt`, sorted by labels; stale markers
    /// included, bit-exact (test with [`crate::storage::is_stale_nan`]).
    /// Older samples are in the WAL:
    /// [`crate::storage::fanout::Storage::select_range`].
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<(i64, f64)>)> {
        self.matching(matchers)
            .into_iter()
            .filter_map(|s| {
                let (t, v) = s.last_sample()?;
                (t >= mint && t <= maxt).then(|| (s.labels.clone(), vec![(t, v)]))
            })
            .collect()
    }

    /// The instant vector at `at_ms`, as PromQL evaluates a plain selector,
    /// for `at_ms` at or after [`Head::max_time`]: per matching series its
    /// newest sample if `at_ms - lookback_ms <= t <= at_ms`, left out if
    /// that sample is a stale marker. Sorted by labels. A series whose
    /// newest sample is after `at_ms` is left out: past instants are
    /// answered from the WAL ([`crate::storage::fanout::Storage::instant`]).
    pub fn instant(
        &self,
        matchers: &[Matcher],
        at_ms: i64,
        lookback_ms: i64,
    ) -> Vec<(Labels, i64, f64)> {
        let mint = at_ms.saturating_sub(lookback_ms);
        self.matching(matchers)
            .into_iter()
            .filter_map(|s| {
                let (t, v) = s.last_sample()?;
                (t >= mint && t <= at_ms && !is_stale_nan(v)).then(|| (s.labels.clone(), t, v))
            })
            .collect()
    }

    /// Every series' ref and labels (unordered).
    pub fn series(&self) -> Vec<(SeriesRef, Labels)> {
        self.index
            .read()
            .iter()
            .map(|(l, &r)| (r, l.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::selector::parse_selector;
    use crate::storage::stale_nan;

    fn head() -> Head {
        Head::new(Duration::from_secs(60), Arc::new(StorageStats::new()))
    }

    fn add(h: &Head, name: &str, t: i64, v: f64) {
        let l = Labels::from_pairs([("__name__", name)]);
        if let Ok((r, AppendCheck::Add)) = h.check_append(0, &l, h.new_owner(), t, v) {
            h.apply(&[(r, t, v)]);
        }
    }

    #[test]
    fn checks_follow_prometheus() {
        let h = head();
        let s = h.get_or_create(&Labels::from_pairs([("__name__", "a")]));
        assert_eq!(h.check(&s, h.new_owner(), 100, 1.0), Ok(AppendCheck::Add));
        h.apply(&[(s.series_ref(), 100, 1.0)]);
        let o = h.new_owner();
        assert_eq!(h.check(&s, o, 99, 1.0), Err(AppendError::OutOfOrderSample));
        assert_eq!(
            h.check(&s, o, 100, 2.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert_eq!(h.check(&s, o, 100, 1.0), Ok(AppendCheck::Same));
        assert_eq!(h.check(&s, o, 110, 1.0), Ok(AppendCheck::Add));
        // The batch counts: same owner sees its pending sample.
        assert_eq!(h.check(&s, o, 105, 1.0), Err(AppendError::OutOfOrderSample));
        assert_eq!(
            h.check(&s, o, 110, 3.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        // Another appender does not.
        assert_eq!(h.check(&s, h.new_owner(), 105, 1.0), Ok(AppendCheck::Add));
        assert_eq!(StorageStats::get(&h.stats.out_of_order_total), 2);
        assert_eq!(StorageStats::get(&h.stats.duplicate_total), 2);
    }

    #[test]
    fn instant_omits_stale_and_old_series() {
        let h = head();
        add(&h, "live", 1000, 1.0);
        add(&h, "live", 2000, 2.0);
        add(&h, "gone", 1000, 5.0);
        add(&h, "gone", 2000, stale_nan());
        add(&h, "old", 100, 7.0);
        let all = parse_selector(r#"{__name__=~".+"}"#).unwrap();
        let got = h.instant(&all, 2000, 1000);
        assert_eq!(
            got,
            vec![(Labels::from_pairs([("__name__", "live")]), 2000, 2.0)]
        );
        // A later instant within the lookback still sees `live`.
        let got = h.instant(&all, 2900, 1000);
        assert_eq!(got.len(), 1);
        let raw = h.select(&parse_selector("gone").unwrap(), 0, 5000);
        assert!(is_stale_nan(raw[0].1[0].1));
    }

    #[test]
    fn head_keeps_the_newest_sample_and_gc_drops_quiet_series() {
        let h = head();
        for t in 0..200 {
            add(&h, "busy", t * 1000, t as f64);
        }
        add(&h, "quiet", 1000, 1.0);
        let busy = parse_selector("busy").unwrap();
        let kept = &h.select(&busy, i64::MIN, i64::MAX)[0].1;
        assert_eq!(kept, &vec![(199_000, 199.0)]);
        assert!(h.select(&busy, 0, 198_000).is_empty());
        assert_eq!(h.gc(), 1);
        assert_eq!(h.num_series(), 1);
        // A dropped series comes back with a new ref.
        add(&h, "quiet", 300_000, 1.0);
        assert_eq!(h.num_series(), 2);
    }
}
