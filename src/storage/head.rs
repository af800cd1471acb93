//! The in-memory head: the latest sample of every live series, enough for
//! `/federate` and instant queries at "now", as Prometheus's `tsdb/head.go`
//! without chunks or blocks.
//!
//! The head keeps no window of raw samples: older samples are read back
//! from the WAL, which already holds them within retention
//! ([`crate::storage::fanout::Storage::select_range`]). A window of raw
//! `(i64, f64)` pairs cost about 8 KB per series at a 1 s interval, and
//! made memory grow for five minutes after start. Each series is one
//! 64-byte entry stored inline in its shard's table (ref, the labels, the
//! newest sample and the append-check state; no `Arc`, no lock of its
//! own), and the label index holds only refs, keyed by the label set's
//! hash and compared through the series: about 95 bytes per series in
//! all at 50,000 series, where an `Arc`'d series, a second map of `Arc`s
//! and an index keyed by a copy of the labels took about 145. The labels
//! are the one allocation the scrape cache and the WAL's series table
//! share.
//!
//! A series with no sample within `window` of the newest sample the head
//! has seen is dropped (its ref is never reused; if it comes back it gets a
//! new one, as in Prometheus's head GC).
//!
//! Concurrency: any thread may call any method. Locks are taken in the
//! order index → shard, at most one shard at a time, and never across
//! I/O. The newest sample is written under its shard's write lock (by
//! [`Head::apply`], one shard at a time) and read under its read lock; the
//! pending markers are atomics, set by checks under the read lock.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::labels::Labels;
use crate::storage::selector::{matches_all, Matcher};
use crate::storage::stats::StorageStats;
use crate::storage::wal::codec::dense_hash;
use crate::storage::{is_stale_nan, AppendError, SeriesRef};

/// Shards of the ref → series table, to keep scrape loops off each other's locks.
const SHARDS: usize = 16;

/// Default time a series without samples stays in the head.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Default lookback of instant queries, as Prometheus's `--query.lookback-delta`.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One series in the head, stored inline in its shard's table (64 bytes).
#[derive(Debug)]
struct MemSeries {
    series_ref: SeriesRef,
    labels: Labels,
    /// Timestamp (`i64::MIN` if none) and value bits of the newest
    /// committed sample: written under the shard's write lock, so readers
    /// under its read lock see both of one sample.
    last_t: i64,
    last_bits: u64,
    /// The newest sample an uncommitted batch of appender `pending_owner`
    /// holds, so checks see the batch too; also keeps the series from GC.
    /// Plain stores: two appenders writing one series at once (two targets
    /// exposing the same series) may see a mixed marker, and then `apply`
    /// still drops what is not newer.
    pending_owner: AtomicU64,
    pending_t: AtomicI64,
    pending_bits: AtomicU64,
}

impl MemSeries {
    fn new(series_ref: SeriesRef, labels: Labels) -> MemSeries {
        MemSeries {
            series_ref,
            labels,
            last_t: i64::MIN,
            last_bits: 0,
            pending_owner: AtomicU64::new(0),
            pending_t: AtomicI64::new(i64::MIN),
            pending_bits: AtomicU64::new(0),
        }
    }

    /// The newest committed sample, if any.
    fn last_sample(&self) -> Option<(i64, f64)> {
        (self.last_t != i64::MIN).then(|| (self.last_t, f64::from_bits(self.last_bits)))
    }

    /// Whether GC may drop the series: nothing committed or pending at or
    /// after `cutoff`.
    fn is_dead(&self, cutoff: i64) -> bool {
        self.last_t < cutoff && self.pending_t.load(Ordering::Relaxed) < cutoff
    }

    /// Makes `(t, v)` the newest sample if it is newer than the last.
    fn apply(&mut self, t: i64, v: f64) -> bool {
        if t <= self.last_t {
            return false;
        }
        self.last_t = t;
        self.last_bits = v.to_bits();
        true
    }
}

/// The hash a series is stored under in its shard: its position among
/// the shard's refs (a shard holds runs of 64) in the low bits, so a
/// scrape's series sit side by side (see [`dense_hash`]).
fn ref_hash(series_ref: SeriesRef) -> u64 {
    let run = series_ref >> 6;
    let in_shard = (run / SHARDS as u64) << 6 | (series_ref & 63);
    dense_hash(series_ref, in_shard)
}

/// One shard: the series whose refs fall in it, keyed by ref.
type Shard = HashTable<MemSeries>;

/// The series with ref `series_ref` in `shard`.
fn find(shard: &Shard, series_ref: SeriesRef) -> Option<&MemSeries> {
    shard.find(ref_hash(series_ref), |s| s.series_ref == series_ref)
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
    /// Ref → series, each series stored once, inline. Refs are spread over
    /// shards in runs of 64, so a scrape's consecutive refs share a shard
    /// and a commit takes few locks.
    shards: Vec<RwLock<Shard>>,
    /// Refs by the hash of their series' labels. The labels are compared
    /// through the series, so the index holds no copy of them: 8 bytes
    /// (plus a control byte) per bucket.
    index: RwLock<HashTable<SeriesRef>>,
    /// Keys the label hashes (random per process, as `HashMap`'s, since
    /// label sets come from scraped targets).
    label_hasher: RandomState,
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
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            index: RwLock::new(HashTable::new()),
            label_hasher: RandomState::new(),
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

    fn shard(&self, series_ref: SeriesRef) -> &RwLock<Shard> {
        &self.shards[Head::shard_index(series_ref)]
    }

    /// The labels of the series with this ref, if the head has it.
    pub fn labels_of(&self, series_ref: SeriesRef) -> Option<Labels> {
        find(&self.shard(series_ref).read(), series_ref).map(|s| s.labels.clone())
    }

    fn label_hash(&self, labels: &Labels) -> u64 {
        self.label_hasher.hash_one(labels)
    }

    /// The index hash of the series `series_ref` (when the index grows).
    /// Every ref in the index is in its shard while the index lock is held.
    fn label_hash_of(&self, series_ref: SeriesRef) -> u64 {
        let shard = self.shard(series_ref).read();
        find(&shard, series_ref).map_or(0, |s| self.label_hash(&s.labels))
    }

    /// The ref of the series with `labels` (of hash `hash`) in `index`.
    fn lookup(
        &self,
        index: &HashTable<SeriesRef>,
        hash: u64,
        labels: &Labels,
    ) -> Option<SeriesRef> {
        let has_labels = |&r: &SeriesRef| {
            let shard = self.shard(r).read();
            find(&shard, r).is_some_and(|s| s.labels == *labels)
        };
        index.find(hash, has_labels).copied()
    }

    /// Adds `series` to its shard and to `index` (held for writing).
    fn insert(&self, index: &mut HashTable<SeriesRef>, hash: u64, series: MemSeries) {
        let series_ref = series.series_ref;
        self.shard(series_ref)
            .write()
            .insert_unique(ref_hash(series_ref), series, |s| ref_hash(s.series_ref));
        index.insert_unique(hash, series_ref, |&r| self.label_hash_of(r));
        StorageStats::add(&self.stats.head_series_created_total, 1);
        StorageStats::set(&self.stats.head_series, index.len() as u64);
    }

    /// The ref of the series with these labels, created (with a fresh ref)
    /// if absent.
    fn get_or_create(&self, labels: &Labels) -> SeriesRef {
        let hash = self.label_hash(labels);
        if let Some(r) = self.lookup(&self.index.read(), hash, labels) {
            return r;
        }
        let mut index = self.index.write();
        if let Some(r) = self.lookup(&index, hash, labels) {
            return r;
        }
        let series_ref = self.next_ref.fetch_add(1, Ordering::Relaxed);
        self.insert(&mut index, hash, MemSeries::new(series_ref, labels.clone()));
        series_ref
    }

    /// Defines a series read back from the WAL and returns the ref the head
    /// keeps it under: `series_ref`, or the ref its labels already have
    /// (the series was dropped and came back before the restart); replay
    /// then applies the samples of both refs to that one series.
    pub fn replay_series(&self, series_ref: SeriesRef, labels: Labels) -> SeriesRef {
        self.next_ref.fetch_max(series_ref + 1, Ordering::Relaxed);
        if find(&self.shard(series_ref).read(), series_ref).is_some() {
            return series_ref;
        }
        let hash = self.label_hash(&labels);
        let mut index = self.index.write();
        if let Some(existing) = self.lookup(&index, hash, &labels) {
            return existing;
        }
        self.insert(&mut index, hash, MemSeries::new(series_ref, labels));
        series_ref
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
        // Checked under the shard lock, so GC cannot drop the series
        // before the pending marker keeps it.
        if series_ref != 0 {
            if let Some(s) = find(&self.shard(series_ref).read(), series_ref) {
                return Ok((series_ref, self.check(s, owner, t, v)?));
            }
        }
        loop {
            let created = self.get_or_create(labels);
            if let Some(s) = find(&self.shard(created).read(), created) {
                return Ok((created, self.check(s, owner, t, v)?));
            }
        }
    }

    /// Checks a sample against the series' last committed sample and the
    /// newest one `owner`'s batch holds (as Prometheus's
    /// `memSeries.appendable`), and marks it pending for `owner`.
    fn check(
        &self,
        series: &MemSeries,
        owner: u64,
        t: i64,
        v: f64,
    ) -> Result<AppendCheck, AppendError> {
        let mut last = (series.last_t, series.last_bits);
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
    /// first) or of a series no longer in the head is dropped. Takes one
    /// shard's write lock at a time.
    pub(crate) fn apply(&self, samples: &[(SeriesRef, i64, f64)]) -> usize {
        let mut added = 0;
        let mut batch_max = i64::MIN;
        let mut current: Option<(usize, parking_lot::RwLockWriteGuard<'_, Shard>)> = None;
        for &(series_ref, t, v) in samples {
            let idx = Head::shard_index(series_ref);
            if !matches!(current, Some((i, _)) if i == idx) {
                // One write lock at a time: release before taking the next.
                drop(current.take());
                current = Some((idx, self.shards[idx].write()));
            }
            let Some((_, shard)) = current.as_mut() else {
                continue;
            };
            let found = shard.find_mut(ref_hash(series_ref), |s| s.series_ref == series_ref);
            if found.is_some_and(|series| series.apply(t, v)) {
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
        let mut dead: Vec<SeriesRef> = Vec::new();
        for shard in &self.shards {
            let shard = shard.read();
            dead.extend(
                shard
                    .iter()
                    .filter(|s| s.is_dead(cutoff))
                    .map(|s| s.series_ref),
            );
        }
        if dead.is_empty() {
            return 0;
        }
        let mut index = self.index.write();
        let mut removed = 0;
        for series_ref in dead {
            let mut shard = self.shard(series_ref).write();
            let Ok(entry) = shard.find_entry(ref_hash(series_ref), |s| s.series_ref == series_ref)
            else {
                continue;
            };
            if !entry.get().is_dead(cutoff) {
                continue;
            }
            let (series, _) = entry.remove();
            let hash = self.label_hash(&series.labels);
            if let Ok(e) = index.find_entry(hash, |&r| r == series_ref) {
                e.remove();
            }
            removed += 1;
        }
        StorageStats::add(&self.stats.head_series_removed_total, removed as u64);
        StorageStats::set(&self.stats.head_series, index.len() as u64);
        removed
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.index.read().len()
    }

    /// The labels and newest sample of every series matching all
    /// `matchers` that has one, sorted by labels.
    fn newest_matching(&self, matchers: &[Matcher]) -> Vec<(Labels, i64, f64)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let shard = shard.read();
            out.extend(
                shard
                    .iter()
                    .filter(|s| matches_all(matchers, &s.labels))
                    .filter_map(|s| {
                        let (t, v) = s.last_sample()?;
                        Some((s.labels.clone(), t, v))
                    }),
            );
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
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
        self.newest_matching(matchers)
            .into_iter()
            .filter(|&(_, t, _)| t >= mint && t <= maxt)
            .map(|(labels, t, v)| (labels, vec![(t, v)]))
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
        self.newest_matching(matchers)
            .into_iter()
            .filter(|&(_, t, v)| t >= mint && t <= at_ms && !is_stale_nan(v))
            .collect()
    }

    /// Every series' ref and labels (unordered).
    pub fn series(&self) -> Vec<(SeriesRef, Labels)> {
        let mut out = Vec::with_capacity(self.num_series());
        for shard in &self.shards {
            let shard = shard.read();
            out.extend(shard.iter().map(|s| (s.series_ref, s.labels.clone())));
        }
        out
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
        let l = Labels::from_pairs([("__name__", "a")]);
        let check = |o, t, v| h.check_append(0, &l, o, t, v).map(|(_, c)| c);
        assert_eq!(check(h.new_owner(), 100, 1.0), Ok(AppendCheck::Add));
        let (r, _) = h.check_append(0, &l, h.new_owner(), 100, 1.0).unwrap();
        h.apply(&[(r, 100, 1.0)]);
        let o = h.new_owner();
        assert_eq!(check(o, 99, 1.0), Err(AppendError::OutOfOrderSample));
        assert_eq!(
            check(o, 100, 2.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert_eq!(check(o, 100, 1.0), Ok(AppendCheck::Same));
        assert_eq!(check(o, 110, 1.0), Ok(AppendCheck::Add));
        // The batch counts: same owner sees its pending sample.
        assert_eq!(check(o, 105, 1.0), Err(AppendError::OutOfOrderSample));
        assert_eq!(
            check(o, 110, 3.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        // Another appender does not.
        assert_eq!(check(h.new_owner(), 105, 1.0), Ok(AppendCheck::Add));
        assert_eq!(StorageStats::get(&h.stats.out_of_order_total), 2);
        assert_eq!(StorageStats::get(&h.stats.duplicate_total), 2);
    }

    #[test]
    fn the_label_index_finds_every_series_after_growing_and_gc() {
        let h = head();
        let labels = |i: usize| Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
        let refs: Vec<SeriesRef> = (0..3000).map(|i| h.get_or_create(&labels(i))).collect();
        for (i, &r) in refs.iter().enumerate() {
            assert_eq!(h.get_or_create(&labels(i)), r);
            assert_eq!(h.labels_of(r), Some(labels(i)));
        }
        assert_eq!(h.num_series(), 3000);
        // Only even series get a sample; GC drops the odd ones everywhere.
        let samples: Vec<_> = refs.iter().step_by(2).map(|&r| (r, 400_000, 1.0)).collect();
        assert_eq!(h.apply(&samples), 1500);
        assert_eq!(h.gc(), 1500);
        assert_eq!(h.num_series(), 1500);
        assert_eq!(h.labels_of(refs[1]), None);
        assert_eq!(h.get_or_create(&labels(0)), refs[0]);
        assert!(h.get_or_create(&labels(1)) > refs[2999]);
    }

    #[test]
    fn replay_keeps_one_series_for_two_refs_of_one_label_set() {
        let h = head();
        let l = Labels::from_pairs([("__name__", "back")]);
        assert_eq!(h.replay_series(5, l.clone()), 5);
        assert_eq!(h.replay_series(9, l.clone()), 5);
        assert_eq!(h.replay_series(5, l.clone()), 5);
        assert_eq!(h.num_series(), 1);
        assert_eq!(h.labels_of(9), None);
        assert_eq!(h.get_or_create(&l), 5);
        assert_eq!(
            h.get_or_create(&Labels::from_pairs([("__name__", "new")])),
            10
        );
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
