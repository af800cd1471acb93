//! [`ScrapeCache`]: what a scrape loop remembers between scrapes, as
//! Prometheus's `scrapeCache`.
//!
//! Keyed by the raw series bytes the parser returns (`name{labels}` as
//! exposed), an entry gives the final label set and the storage reference,
//! so a series seen before costs one hash of its bytes, one probe and one
//! comparison, and no label parsing. Series dropped by metric relabeling
//! are remembered in the same map so they are skipped just as cheaply.
//!
//! The key is not the bytes but their 128-bit xxh3 hash ([`SeriesKey`]),
//! which keeps an entry's key at 16 bytes instead of a heap copy of the
//! series text. Two different series with the same hash would share an
//! entry (the second appended under the first's labels). For n series in
//! one target's cache the chance of any such pair is about n²/2^129:
//! 10^-27 for a million series. The hash is seeded at random per cache, so
//! an exposition cannot be crafted to collide, and since a cache belongs
//! to one target a collision could only mix up that target's own series.
//! The map stores the key as two `u64` halves and its scrape counters as
//! `u32` (compared for equality only; an entry unseen for 2^32 scrapes was
//! evicted long before), so an entry is 56 bytes rather than the 64 a
//! 16-byte-aligned `u128` key would pad it to. Label hashes of the series seen in
//! this scrape and the last one (Prometheus's `seriesCur`/`seriesPrev`,
//! kept here as one map with a generation per hash, so a series seen again
//! costs a probe and no label copy) give the series that vanished and need
//! a stale marker.
//!
//! Owned by one loop thread; handed to its successor on a pool reload.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use crate::labels::Labels;
use crate::storage::SeriesRef;

/// The cache key of a series: the seeded xxh3-128 hash of its raw bytes.
pub(crate) type SeriesKey = u128;

/// Keys that already are good hashes (series keys, label-set hashes) pass
/// through: the map needs no hashing of its own.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write_u128(&mut self, n: u128) {
        // Any 64 bits of the hash are as good as the others.
        self.0 = n as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type IdentityBuild = BuildHasherDefault<IdentityHasher>;

/// A [`SeriesKey`] as the series map stores it: two halves, 8-byte aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StoredKey([u64; 2]);

impl From<SeriesKey> for StoredKey {
    fn from(key: SeriesKey) -> StoredKey {
        StoredKey([key as u64, (key >> 64) as u64])
    }
}

impl Hash for StoredKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Any 64 bits of the hash are as good as the others.
        state.write_u64(self.0[0]);
    }
}

/// A scrape counter as an entry keeps it (see the module documentation).
fn stamp(counter: u64) -> u32 {
    counter as u32
}

/// A series the cache knows: its final labels and storage reference.
#[derive(Debug, Clone)]
pub(crate) struct CacheEntry {
    /// Reference returned by the storage; never 0.
    pub series_ref: SeriesRef,
    /// Hash of the labels as scraped (before target labels and relabeling).
    pub hash: u64,
    /// Final labels (target labels added, metric relabeling applied).
    pub labels: Labels,
}

#[derive(Debug)]
enum Slot {
    Kept {
        entry: CacheEntry,
        /// [`stamp`] of the iteration that last saw it.
        last_iter: u32,
        /// [`stamp`] of the scrape (see `ScrapeCache::scrape_seq`) that
        /// last saw it.
        last_seen: u32,
    },
    Dropped {
        last_iter: u32,
    },
}

/// Result of looking up a scraped series.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    /// Never seen (or evicted): parse its labels, then add it under `key`.
    Miss(SeriesKey),
    /// Dropped by metric relabeling before.
    Dropped,
    /// Known; `already_scraped` when it was seen earlier in this very
    /// scrape (attempt), failed or not.
    Hit {
        entry: &'a CacheEntry,
        already_scraped: bool,
        key: SeriesKey,
    },
}

/// See the module documentation.
#[derive(Debug)]
pub struct ScrapeCache {
    /// Current scrape iteration; advances only after successful scrapes.
    iter: u64,
    /// Counts scrape attempts, failed ones included, to recognise a series
    /// repeated within one exposition. (Prometheus 2.53 compares `iter`,
    /// which does not advance after a failed scrape, so a series seen in a
    /// failed scrape counts as a duplicate in the next one; 2.42 had no
    /// such check. This one flags repeats only.)
    scrape_seq: u64,
    /// Entries after the last successful scrape.
    successful_count: usize,
    /// Seed of the series keys.
    seed: u64,
    /// Series key to entry.
    series: HashMap<StoredKey, Slot, IdentityBuild>,
    /// Label hash to final labels and the staleness generation that last
    /// saw it: `generation` means this scrape (Prometheus's `seriesCur`),
    /// `generation - 1` the last one (`seriesPrev`). Older entries are
    /// removed at the end of each scrape.
    seen: HashMap<u64, (Labels, u64), IdentityBuild>,
    /// Advances at the end of each scrape; starts at 1, so no entry is
    /// of the "previous" generation before the first scrape ends.
    generation: u64,
}

impl Default for ScrapeCache {
    fn default() -> ScrapeCache {
        ScrapeCache {
            iter: 0,
            scrape_seq: 0,
            successful_count: 0,
            seed: RandomState::new().build_hasher().finish(),
            series: HashMap::default(),
            seen: HashMap::default(),
            generation: 1,
        }
    }
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> ScrapeCache {
        ScrapeCache::default()
    }

    /// Number of cached series (kept and dropped).
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Starts a scrape attempt (every call of the loop's append).
    pub(crate) fn begin_scrape(&mut self) {
        self.scrape_seq += 1;
    }

    /// The key of the series with raw bytes `met`.
    #[inline]
    pub(crate) fn key(&self, met: &[u8]) -> SeriesKey {
        xxhash_rust::xxh3::xxh3_128_with_seed(met, self.seed)
    }

    /// Looks `met` up and marks it seen in this iteration and attempt.
    #[inline]
    pub(crate) fn get(&mut self, met: &[u8]) -> Lookup<'_> {
        let (iter, seq) = (stamp(self.iter), stamp(self.scrape_seq));
        let key = self.key(met);
        match self.series.get_mut(&StoredKey::from(key)) {
            None => Lookup::Miss(key),
            Some(Slot::Dropped { last_iter }) => {
                *last_iter = iter;
                Lookup::Dropped
            }
            Some(Slot::Kept {
                entry,
                last_iter,
                last_seen,
            }) => {
                let already_scraped = *last_seen == seq;
                *last_iter = iter;
                *last_seen = seq;
                Lookup::Hit {
                    entry,
                    already_scraped,
                    key,
                }
            }
        }
    }

    /// Remembers a series appended with reference `series_ref` (0 is not
    /// remembered, as Prometheus).
    pub(crate) fn add_ref(
        &mut self,
        key: SeriesKey,
        series_ref: SeriesRef,
        labels: Labels,
        hash: u64,
    ) {
        if series_ref == 0 {
            return;
        }
        let slot = Slot::Kept {
            entry: CacheEntry {
                series_ref,
                hash,
                labels,
            },
            last_iter: stamp(self.iter),
            last_seen: stamp(self.scrape_seq),
        };
        self.series.insert(key.into(), slot);
    }

    /// Remembers a series dropped by metric relabeling.
    pub(crate) fn add_dropped(&mut self, key: SeriesKey) {
        let slot = Slot::Dropped {
            last_iter: stamp(self.iter),
        };
        self.series.insert(key.into(), slot);
    }

    /// Notes that a series with scraped-label hash `hash` and final
    /// `labels` was seen now.
    pub(crate) fn track_staleness(&mut self, hash: u64, labels: &Labels) {
        let generation = self.generation;
        self.seen
            .entry(hash)
            .and_modify(|e| e.1 = generation)
            .or_insert_with(|| (labels.clone(), generation));
    }

    /// As [`ScrapeCache::track_staleness`] for the cached series `key`: no
    /// label copy unless the hash is new to the staleness map.
    pub(crate) fn track_staleness_cached(&mut self, key: SeriesKey, hash: u64) {
        let generation = self.generation;
        if let Some(e) = self.seen.get_mut(&hash) {
            e.1 = generation;
            return;
        }
        if let Some(Slot::Kept { entry, .. }) = self.series.get(&StoredKey::from(key)) {
            self.seen.insert(hash, (entry.labels.clone(), generation));
        }
    }

    /// Calls `f` for each series seen in the last scrape but not in this
    /// one, until `f` returns false.
    pub(crate) fn for_each_stale(&self, mut f: impl FnMut(&Labels) -> bool) {
        let previous = self.generation - 1;
        for (labels, generation) in self.seen.values() {
            if *generation == previous && !f(labels) {
                break;
            }
        }
    }

    /// Ends a scrape. `flush` is true after a non-empty successful scrape:
    /// entries not seen in it are evicted and the iteration advances. A
    /// cache that doubled (plus 1000) since the last success while scrapes
    /// fail is flushed anyway; returns true when that happened.
    pub(crate) fn iter_done(&mut self, mut flush: bool) -> bool {
        let count = self.series.len();
        let mut forced = false;
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            flush = true;
            forced = true;
        }
        if flush {
            let iter = stamp(self.iter);
            self.series.retain(|_, slot| match slot {
                Slot::Kept { last_iter, .. } | Slot::Dropped { last_iter } => *last_iter == iter,
            });
            self.iter += 1;
        }
        // This scrape becomes the previous one; series older than that go.
        let finished = self.generation;
        self.generation = finished + 1;
        self.seen.retain(|_, e| e.1 == finished);
        forced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lset(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)])
    }

    #[test]
    fn hit_miss_dropped_and_duplicates() {
        let mut c = ScrapeCache::new();
        assert!(matches!(c.get(b"a"), Lookup::Miss(_)));
        c.add_ref(c.key(b"a"), 7, lset("a"), 1);
        c.add_dropped(c.key(b"b"));
        c.add_ref(c.key(b"z"), 0, lset("z"), 3);
        let key_a = c.key(b"a");
        match c.get(b"a") {
            Lookup::Hit {
                entry,
                already_scraped,
                key,
            } => {
                assert_eq!(key, key_a);
                assert_eq!(entry.series_ref, 7);
                assert!(already_scraped, "added in this iteration");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.get(b"b"), Lookup::Dropped));
        assert!(
            matches!(c.get(b"z"), Lookup::Miss(_)),
            "ref 0 is not cached"
        );
        c.iter_done(true);
        c.begin_scrape();
        match c.get(b"a") {
            Lookup::Hit {
                already_scraped, ..
            } => assert!(!already_scraped),
            other => panic!("{other:?}"),
        }
        // A failed scrape does not advance the iteration, but the next
        // attempt still sees no repeat.
        c.begin_scrape();
        assert!(matches!(
            c.get(b"a"),
            Lookup::Hit {
                already_scraped: false,
                ..
            }
        ));
    }

    #[test]
    fn an_entry_takes_56_bytes() {
        assert_eq!(std::mem::size_of::<(StoredKey, Slot)>(), 56);
        let key: SeriesKey = (7 << 64) | 9;
        assert_eq!(StoredKey::from(key), StoredKey([9, 7]));
    }

    #[test]
    fn flush_evicts_unseen_entries() {
        let mut c = ScrapeCache::new();
        c.add_ref(c.key(b"a"), 1, lset("a"), 1);
        c.add_ref(c.key(b"b"), 2, lset("b"), 2);
        c.iter_done(true);
        let _ = c.get(b"a");
        c.iter_done(true);
        assert_eq!(c.len(), 1);
        assert!(matches!(c.get(b"b"), Lookup::Miss(_)));
    }

    fn stale(c: &ScrapeCache) -> Vec<Labels> {
        let mut out = Vec::new();
        c.for_each_stale(|l| {
            out.push(l.clone());
            true
        });
        out.sort();
        out
    }

    #[test]
    fn stale_series_are_those_gone_since_last_scrape() {
        let mut c = ScrapeCache::new();
        assert!(stale(&c).is_empty());
        c.add_ref(c.key(b"a"), 1, lset("a"), 1);
        c.track_staleness(1, &lset("a"));
        c.track_staleness(2, &lset("b"));
        c.iter_done(true);
        c.track_staleness_cached(c.key(b"a"), 1);
        assert_eq!(stale(&c), vec![lset("b")]);
        c.iter_done(true);
        assert_eq!(
            stale(&c),
            vec![lset("a")],
            "b was marked once and forgotten"
        );
        c.iter_done(true);
        assert!(stale(&c).is_empty());
        // A cached series new to the staleness map takes its labels from
        // the cache entry.
        c.add_ref(c.key(b"a"), 1, lset("a"), 1);
        c.track_staleness_cached(c.key(b"a"), 1);
        c.iter_done(true);
        assert_eq!(stale(&c), vec![lset("a")]);
    }

    #[test]
    fn failing_scrapes_force_a_flush_when_the_cache_grows() {
        let mut c = ScrapeCache::new();
        for i in 0..1001u32 {
            c.add_dropped(c.key(&i.to_be_bytes()));
        }
        assert!(c.iter_done(false), "1001 > 0*2+1000");
        assert_eq!(c.len(), 1001, "all seen in the flushed iteration");
        assert!(c.iter_done(false), "still over the bound");
        assert!(c.is_empty(), "none seen in the second flushed iteration");
        assert!(!c.iter_done(false));
    }
}
