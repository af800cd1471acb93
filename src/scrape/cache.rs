//! [`ScrapeCache`]: what a scrape loop remembers between scrapes, as
//! Prometheus's `scrapeCache`.
//!
//! Keyed by the raw series bytes the parser returns (`name{labels}` as
//! exposed), an entry gives the final label set and the storage reference,
//! so a series seen before costs one hash of its bytes, one probe and one
//! comparison, and no label parsing. Series dropped by metric relabeling
//! are remembered the same way so they are skipped just as cheaply.
//!
//! The key is not the bytes but their seeded xxh3-128 hash ([`SeriesKey`])
//! with the top 8 bits cleared (an entry keeps its flags there), so 120
//! bits. Two different series with the same key would share an entry (the
//! second appended under the first's labels). For n series in one
//! target's cache the chance of any such pair is about n²/2^121: 10^-24
//! for a million series. The seed is random per cache, so an exposition
//! cannot be crafted to collide, and since a cache belongs to one target a
//! collision could only mix up that target's own series.
//!
//! Layout (as indexmap): the entries sit in a `Vec` in the order they were
//! first seen, and a hash table of `u32` positions finds one by its key,
//! so n series take n entries of 48 bytes plus one 5-byte slot per bucket
//! of the table. An evicted entry is swap-removed and the one moved into
//! its place has its position fixed.
//!
//! Staleness, as Prometheus's `seriesCur`/`seriesPrev`, is kept in the
//! entries: a series is tracked by the hash of its labels as scraped, and
//! two entries may share one (two spellings of a series: another label
//! order or quoting), which Prometheus counts once. So each tracked hash
//! has one *owner* entry, found by a second table of positions keyed by
//! that hash; the owner's flags say whether the hash was seen in this
//! scrape and in the last one, and its labels are the stale marker's. An
//! entry that tracks a hash it does not own takes the ownership over (one
//! extra probe; a series spelled one way only never does). A series
//! appended with reference 0 (refused at once) is not cached, as in
//! Prometheus, but when tracked it keeps a *pending* entry for its
//! staleness, which a lookup treats as a miss. Series with an explicit
//! timestamp are not tracked.
//!
//! The per-scrape state is in flag bits, reset by one pass over the
//! entries at the end of each scrape (stale markers, eviction and the
//! reset walk the entries anyway), so no entry needs scrape counters.
//!
//! Owned by one loop thread; handed to its successor on a pool reload.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;

use crate::labels::Labels;
use crate::storage::SeriesRef;

/// The cache key of a series: the seeded xxh3-128 hash of its raw bytes,
/// top 8 bits cleared.
pub(crate) type SeriesKey = u128;

/// Where an entry's flags sit in the high half of its key.
const FLAG_SHIFT: u32 = 56;
/// The key bits of the high half.
const KEY_HIGH_MASK: u64 = (1 << FLAG_SHIFT) - 1;

/// Entry flags.
mod flag {
    /// Dropped by metric relabeling: skipped when scraped.
    pub const DROPPED: u8 = 1;
    /// Seen in this scrape attempt (a repeat within one exposition).
    pub const SEEN_ATTEMPT: u8 = 1 << 1;
    /// Seen since the last flush; entries without it are evicted by one.
    pub const SEEN_ITER: u8 = 1 << 2;
    /// Holds the staleness state of its label hash (in `owners`).
    pub const OWNER: u8 = 1 << 3;
    /// Owner whose hash was seen in this scrape (`seriesCur`).
    pub const TRACKED_NOW: u8 = 1 << 4;
    /// Owner whose hash was seen in the last scrape (`seriesPrev`).
    pub const TRACKED_BEFORE: u8 = 1 << 5;
}

/// A series the cache knows.
#[derive(Debug)]
pub(crate) struct CacheEntry {
    /// The key's low half, then its high half with the flags in the top
    /// byte.
    key: [u64; 2],
    /// Reference returned by the storage; 0 for a pending or dropped entry.
    pub series_ref: SeriesRef,
    /// Hash of the labels as scraped (before target labels and
    /// relabeling): the staleness identity.
    hash: u64,
    /// Final labels (target labels added, metric relabeling applied);
    /// empty for a dropped series.
    pub labels: Labels,
}

impl CacheEntry {
    fn new(key: SeriesKey, series_ref: SeriesRef, hash: u64, labels: Labels) -> CacheEntry {
        CacheEntry {
            key: split(key),
            series_ref,
            hash,
            labels,
        }
    }

    #[inline]
    fn has(&self, flags: u8) -> bool {
        (self.key[1] >> FLAG_SHIFT) as u8 & flags == flags
    }

    #[inline]
    fn set(&mut self, flags: u8) {
        self.key[1] |= u64::from(flags) << FLAG_SHIFT;
    }

    #[inline]
    fn clear(&mut self, flags: u8) {
        self.key[1] &= !(u64::from(flags) << FLAG_SHIFT);
    }

    #[inline]
    fn has_key(&self, key: [u64; 2]) -> bool {
        self.key[0] == key[0] && self.key[1] & KEY_HIGH_MASK == key[1]
    }

    /// Tracked in the last scrape and not in this one: needs a stale marker.
    fn is_stale(&self) -> bool {
        self.has(flag::OWNER | flag::TRACKED_BEFORE) && !self.has(flag::TRACKED_NOW)
    }

    /// Appended with reference 0 and kept only for its staleness.
    fn is_pending(&self) -> bool {
        self.series_ref == 0 && !self.has(flag::DROPPED)
    }

    /// The end-of-scrape reset: this scrape's tracking becomes the last
    /// one's; after a flush, nothing counts as seen in the iteration.
    fn end_scrape(&mut self, flushed: bool) {
        let before = if self.has(flag::TRACKED_NOW) {
            flag::TRACKED_BEFORE
        } else {
            0
        };
        let iter = if flushed { flag::SEEN_ITER } else { 0 };
        self.clear(flag::SEEN_ATTEMPT | flag::TRACKED_NOW | flag::TRACKED_BEFORE | iter);
        self.set(before);
    }
}

/// A key as an entry stores it: low half, high half.
fn split(key: SeriesKey) -> [u64; 2] {
    [key as u64, (key >> 64) as u64]
}

/// An entry's position as the tables store it. A cache holds one entry per
/// series of one target, far fewer than 2^32 (that many would take 192 GB).
fn slot(position: usize) -> u32 {
    position as u32
}

/// Result of looking up a scraped series.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    /// Never seen (or evicted, or pending): parse its labels, then add it
    /// under `key`.
    Miss(SeriesKey),
    /// Dropped by metric relabeling before.
    Dropped,
    /// Known; `already_scraped` when it was seen earlier in this very
    /// scrape (attempt), failed or not. `position` is for
    /// [`ScrapeCache::track`].
    Hit {
        entry: &'a CacheEntry,
        already_scraped: bool,
        position: usize,
    },
}

/// See the module documentation.
#[derive(Debug)]
pub struct ScrapeCache {
    /// Seed of the series keys.
    seed: u64,
    /// The entries, in the order first seen (evictions move the last one
    /// into the gap).
    entries: Vec<CacheEntry>,
    /// Positions in `entries` by key (hashed by the key's low half).
    by_key: HashTable<u32>,
    /// Positions of the staleness owners by label hash: exactly the
    /// entries flagged `OWNER`, one per hash.
    owners: HashTable<u32>,
    /// Entries after the last successful scrape.
    successful_count: usize,
    /// Whether an attempt ended without [`ScrapeCache::iter_done`] (it
    /// failed), so its `SEEN_ATTEMPT` flags are still set. (Prometheus
    /// 2.53 compares iterations, which do not advance after a failed
    /// scrape, so a series seen in a failed scrape counts as a duplicate
    /// in the next one; 2.42 had no such check. This one flags repeats
    /// within one attempt only.)
    attempt_flags_left: bool,
    /// The labels of dropped entries (one shared empty set).
    no_labels: Labels,
}

impl Default for ScrapeCache {
    fn default() -> ScrapeCache {
        ScrapeCache {
            seed: RandomState::new().build_hasher().finish(),
            entries: Vec::new(),
            by_key: HashTable::new(),
            owners: HashTable::new(),
            successful_count: 0,
            attempt_flags_left: false,
            no_labels: Labels::empty(),
        }
    }
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> ScrapeCache {
        ScrapeCache::default()
    }

    /// Number of entries: cached series, kept and dropped, and pending
    /// ones.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Starts a scrape attempt (every call of the loop's append).
    pub(crate) fn begin_scrape(&mut self) {
        if self.attempt_flags_left {
            for entry in &mut self.entries {
                entry.clear(flag::SEEN_ATTEMPT);
            }
        }
        self.attempt_flags_left = true;
    }

    /// The key of the series with raw bytes `met`.
    #[inline]
    pub(crate) fn key(&self, met: &[u8]) -> SeriesKey {
        xxhash_rust::xxh3::xxh3_128_with_seed(met, self.seed) & !(0xff_u128 << (64 + FLAG_SHIFT))
    }

    /// Position of the entry with `key`.
    #[inline]
    fn position(&self, key: SeriesKey) -> Option<usize> {
        let key = split(key);
        let entries = &self.entries;
        self.by_key
            .find(key[0], |&p| entries[p as usize].has_key(key))
            .map(|&p| p as usize)
    }

    /// Looks `met` up and marks it seen in this iteration and attempt.
    #[inline]
    pub(crate) fn get(&mut self, met: &[u8]) -> Lookup<'_> {
        let key = self.key(met);
        let Some(position) = self.position(key) else {
            return Lookup::Miss(key);
        };
        let entry = &mut self.entries[position];
        if entry.has(flag::DROPPED) {
            entry.set(flag::SEEN_ITER);
            return Lookup::Dropped;
        }
        if entry.is_pending() {
            return Lookup::Miss(key);
        }
        let already_scraped = entry.has(flag::SEEN_ATTEMPT);
        entry.set(flag::SEEN_ATTEMPT | flag::SEEN_ITER);
        Lookup::Hit {
            entry,
            already_scraped,
            position,
        }
    }

    /// Remembers a series appended with reference `series_ref` and notes
    /// it seen for staleness when `track`. As Prometheus, reference 0 is
    /// not cached (a later lookup misses); it keeps a pending entry only
    /// when tracked.
    pub(crate) fn add(
        &mut self,
        key: SeriesKey,
        series_ref: SeriesRef,
        labels: Labels,
        hash: u64,
        track: bool,
    ) {
        if series_ref == 0 && !track {
            return;
        }
        let position = match self.position(key) {
            Some(p) => {
                // A pending entry: the same bytes give the same hash.
                let entry = &mut self.entries[p];
                entry.series_ref = series_ref;
                entry.labels = labels;
                entry.clear(flag::DROPPED);
                p
            }
            None => self.push(CacheEntry::new(key, series_ref, hash, labels)),
        };
        self.entries[position].set(flag::SEEN_ATTEMPT | flag::SEEN_ITER);
        if track {
            self.track(position);
        }
    }

    /// Remembers a series dropped by metric relabeling.
    pub(crate) fn add_dropped(&mut self, key: SeriesKey) {
        let position = match self.position(key) {
            Some(p) => p,
            None => self.push(CacheEntry::new(key, 0, 0, self.no_labels.clone())),
        };
        let entry = &mut self.entries[position];
        entry.series_ref = 0;
        entry.set(flag::DROPPED | flag::SEEN_ITER);
    }

    /// Appends `entry` and indexes it by key; returns its position.
    fn push(&mut self, entry: CacheEntry) -> usize {
        let position = self.entries.len();
        let low = entry.key[0];
        self.entries.push(entry);
        let entries = &self.entries;
        self.by_key
            .insert_unique(low, slot(position), |&p| entries[p as usize].key[0]);
        position
    }

    /// Notes that the series at `position` (from a hit or an add) was seen
    /// now, for staleness.
    #[inline]
    pub(crate) fn track(&mut self, position: usize) {
        let entry = &mut self.entries[position];
        if entry.has(flag::OWNER) {
            entry.set(flag::TRACKED_NOW);
        } else {
            self.take_ownership(position);
        }
    }

    /// Makes the entry at `position` the owner of its label hash, seen
    /// now. A former owner (another spelling) hands over: its state no
    /// longer matters, as the hash is seen in this scrape.
    #[cold]
    fn take_ownership(&mut self, position: usize) {
        let hash = self.entries[position].hash;
        let entries = &mut self.entries;
        match self
            .owners
            .find_mut(hash, |&p| entries[p as usize].hash == hash)
        {
            Some(owner) => {
                let former = &mut entries[*owner as usize];
                former.clear(flag::OWNER | flag::TRACKED_NOW | flag::TRACKED_BEFORE);
                *owner = slot(position);
            }
            None => {
                self.owners
                    .insert_unique(hash, slot(position), |&p| entries[p as usize].hash);
            }
        }
        entries[position].set(flag::OWNER | flag::TRACKED_NOW);
    }

    /// Calls `f` for each series seen in the last scrape but not in this
    /// one, until `f` returns false.
    pub(crate) fn for_each_stale(&self, mut f: impl FnMut(&Labels) -> bool) {
        for entry in &self.entries {
            if entry.is_stale() && !f(&entry.labels) {
                break;
            }
        }
    }

    /// Ends a scrape. `flush` is true after a non-empty successful scrape:
    /// entries not seen since the last flush are evicted. A cache that
    /// doubled (plus 1000) since the last success while scrapes fail is
    /// flushed anyway; returns true when that happened.
    pub(crate) fn iter_done(&mut self, mut flush: bool) -> bool {
        let count = self.entries.len();
        let mut forced = false;
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            flush = true;
            forced = true;
        }
        let mut position = 0;
        let mut evicted = false;
        while position < self.entries.len() {
            if flush && !self.entries[position].has(flag::SEEN_ITER) {
                self.evict(position);
                evicted = true;
                continue;
            }
            self.entries[position].end_scrape(flush);
            position += 1;
        }
        self.attempt_flags_left = false;
        self.shrink(evicted);
        forced
    }

    /// Removes the entry at `position` and its table slots; the last
    /// entry moves into its place.
    fn evict(&mut self, position: usize) {
        let entry = &self.entries[position];
        let (low, hash, owner) = (entry.key[0], entry.hash, entry.has(flag::OWNER));
        self.unindex(low, hash, owner, slot(position), None);
        let last = self.entries.len() - 1;
        self.entries.swap_remove(position);
        if position < last {
            let moved = &self.entries[position];
            let (low, hash, owner) = (moved.key[0], moved.hash, moved.has(flag::OWNER));
            self.unindex(low, hash, owner, slot(last), Some(slot(position)));
        }
    }

    /// Removes (`to` None) or moves (to `to`) the table slots holding
    /// position `from` for an entry with key low half `low` and label
    /// hash `hash`.
    fn unindex(&mut self, low: u64, hash: u64, owner: bool, from: u32, to: Option<u32>) {
        let tables = [
            (&mut self.by_key, low, true),
            (&mut self.owners, hash, owner),
        ];
        for (table, table_hash, indexed) in tables {
            if !indexed {
                continue;
            }
            if let Ok(found) = table.find_entry(table_hash, |&p| p == from) {
                match to {
                    Some(to) => *found.into_mut() = to,
                    None => {
                        found.remove();
                    }
                }
            }
        }
    }

    /// Gives back memory: the tables are resized for the entries left
    /// after evictions, and the vector keeps at most an eighth spare (it
    /// doubles as a first scrape fills it).
    fn shrink(&mut self, evicted: bool) {
        let entries = &self.entries;
        let len = entries.len();
        if evicted {
            let owners = self.owners.len();
            self.by_key.shrink_to(len, |&p| entries[p as usize].key[0]);
            self.owners.shrink_to(owners, |&p| entries[p as usize].hash);
        }
        if self.entries.capacity() > len + len / 8 {
            self.entries.shrink_to(len + len / 16);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lset(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)])
    }

    /// Adds the series `met` with reference `series_ref` and label hash
    /// `hash`, tracked.
    fn add(c: &mut ScrapeCache, met: &[u8], series_ref: SeriesRef, hash: u64) {
        let name = String::from_utf8_lossy(met).into_owned();
        c.add(c.key(met), series_ref, lset(&name), hash, true);
    }

    /// Scrapes `met` with label hash `hash` as a successful append does:
    /// tracked on a hit, added (reference 1) on a miss.
    fn scrape(c: &mut ScrapeCache, met: &[u8], hash: u64) {
        match c.get(met) {
            Lookup::Hit { position, .. } => c.track(position),
            Lookup::Miss(_) => add(c, met, 1, hash),
            Lookup::Dropped => {}
        }
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
    fn hit_miss_dropped_and_duplicates() {
        let mut c = ScrapeCache::new();
        c.begin_scrape();
        assert!(matches!(c.get(b"a"), Lookup::Miss(_)));
        add(&mut c, b"a", 7, 1);
        c.add_dropped(c.key(b"b"));
        c.add(c.key(b"z"), 0, lset("z"), 3, false);
        add(&mut c, b"y", 0, 4);
        match c.get(b"a") {
            Lookup::Hit {
                entry,
                already_scraped,
                ..
            } => {
                assert_eq!(entry.series_ref, 7);
                assert_eq!(entry.labels, lset("a"));
                assert!(already_scraped, "added in this attempt");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.get(b"b"), Lookup::Dropped));
        for met in [b"z", b"y"] {
            assert!(matches!(c.get(met), Lookup::Miss(_)), "ref 0 is not cached");
        }
        c.iter_done(true);
        c.begin_scrape();
        assert!(matches!(
            c.get(b"a"),
            Lookup::Hit {
                already_scraped: false,
                ..
            }
        ));
        // A failed attempt (no `iter_done`) does not make the next one see
        // a repeat.
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
    fn an_entry_takes_48_bytes_and_keeps_its_key_beside_its_flags() {
        assert_eq!(std::mem::size_of::<CacheEntry>(), 48);
        let c = ScrapeCache::new();
        let key = c.key(b"a");
        assert_eq!(key >> (64 + FLAG_SHIFT), 0, "top byte left for flags");
        let mut entry = CacheEntry::new(key, 1, 2, lset("a"));
        entry.set(0xff);
        assert!(entry.has_key(split(key)));
        entry.clear(0xff);
        assert_eq!(entry.key, split(key));
    }

    #[test]
    fn flush_evicts_unseen_entries() {
        let mut c = ScrapeCache::new();
        add(&mut c, b"a", 1, 1);
        add(&mut c, b"b", 2, 2);
        c.iter_done(true);
        let _ = c.get(b"a");
        c.iter_done(true);
        assert_eq!(c.len(), 1);
        assert!(matches!(c.get(b"b"), Lookup::Miss(_)));
    }

    #[test]
    fn eviction_keeps_every_other_entry_and_owner_findable() {
        let mut c = ScrapeCache::new();
        let met = |i: u32| format!("m{i}").into_bytes();
        for i in 0..300 {
            add(&mut c, &met(i), u64::from(i) + 1, u64::from(i));
        }
        c.iter_done(true);
        for i in (0..300).filter(|i| i % 3 == 0) {
            scrape(&mut c, &met(i), u64::from(i));
        }
        assert_eq!(stale(&c).len(), 200);
        c.iter_done(true);
        assert_eq!(c.len(), 100);
        assert_eq!(c.owners.len(), 100);
        for i in 0..300 {
            match c.get(&met(i)) {
                Lookup::Hit { entry, .. } => {
                    assert_eq!(i % 3, 0);
                    assert_eq!(entry.series_ref, u64::from(i) + 1);
                }
                _ => assert_ne!(i % 3, 0, "m{i} lost"),
            }
        }
        assert_eq!(stale(&c).len(), 100, "every kept owner still tracked");
    }

    #[test]
    fn stale_series_are_those_gone_since_last_scrape() {
        let mut c = ScrapeCache::new();
        assert!(stale(&c).is_empty());
        add(&mut c, b"a", 1, 1);
        add(&mut c, b"b", 0, 2);
        c.iter_done(true);
        scrape(&mut c, b"a", 1);
        assert_eq!(stale(&c), vec![lset("b")], "a pending entry is tracked");
        c.iter_done(true);
        assert_eq!(
            stale(&c),
            vec![lset("a")],
            "b was marked once and forgotten"
        );
        c.iter_done(true);
        assert!(stale(&c).is_empty());
    }

    #[test]
    fn two_spellings_of_one_series_are_tracked_once() {
        let mut c = ScrapeCache::new();
        add(&mut c, b"a{x=\"1\",y=\"2\"}", 1, 9);
        add(&mut c, b"a{y=\"2\",x=\"1\"}", 1, 9);
        c.iter_done(true);
        scrape(&mut c, b"a{y=\"2\",x=\"1\"}", 9);
        assert!(stale(&c).is_empty(), "seen under the other spelling");
        c.iter_done(true);
        scrape(&mut c, b"a{x=\"1\",y=\"2\"}", 9);
        assert!(stale(&c).is_empty(), "and back (evicted meanwhile)");
        c.iter_done(true);
        assert_eq!(stale(&c).len(), 1, "one marker when both are gone");
    }

    #[test]
    fn untracked_series_get_no_stale_marker() {
        let mut c = ScrapeCache::new();
        c.add(c.key(b"a"), 1, lset("a"), 1, false);
        c.iter_done(true);
        assert!(matches!(c.get(b"a"), Lookup::Hit { .. }), "cached");
        c.iter_done(true);
        assert!(stale(&c).is_empty());
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

    /// The cache as two maps, as Prometheus keeps it (`series` by raw
    /// bytes with scrape counters; `seriesCur`/`seriesPrev` as one map of
    /// label hash to labels and generation): the reference for the
    /// property below.
    #[derive(Default)]
    struct TwoMaps {
        series: std::collections::HashMap<Vec<u8>, ModelEntry>,
        seen: std::collections::HashMap<u64, (Labels, u64)>,
        iter: u64,
        seq: u64,
        generation: u64,
        successful: usize,
    }

    /// A series in the model: label hash and labels (None when dropped),
    /// last iteration and last attempt that saw it.
    type ModelEntry = (Option<(u64, Labels)>, u64, u64);

    /// What one scraped sample: spelling (pairs of spellings share a label
    /// hash; the last one is dropped by relabeling), explicit timestamp,
    /// refused by the storage.
    type Sample = (usize, bool, bool);

    /// What the scrape loop saw for a sample: miss, dropped, or hit and
    /// whether already scraped.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Miss,
        Dropped,
        Hit(bool),
    }

    const DROPPED_SPELLING: usize = 7;

    fn spelling(s: usize) -> (Vec<u8>, u64, Labels) {
        let hash = s as u64 / 2;
        (
            format!("m{s}").into_bytes(),
            hash,
            lset(&format!("h{hash}")),
        )
    }

    impl TwoMaps {
        fn sample(&mut self, (s, explicit, refused): Sample) -> Seen {
            let (met, hash, labels) = spelling(s);
            let (iter, seq, generation) = (self.iter, self.seq, self.generation);
            match self.series.get_mut(&met) {
                Some((None, last_iter, _)) => {
                    *last_iter = iter;
                    Seen::Dropped
                }
                Some((Some((hash, labels)), last_iter, last_seen)) => {
                    let already = *last_seen == seq;
                    (*last_iter, *last_seen) = (iter, seq);
                    // Appended unless a repeat or refused; tracked unless
                    // the timestamp is explicit.
                    if !already && !refused && !explicit {
                        let labels = labels.clone();
                        self.seen.entry(*hash).or_insert((labels, 0)).1 = generation;
                    }
                    Seen::Hit(already)
                }
                None if s == DROPPED_SPELLING => {
                    self.series.insert(met, (None, iter, seq));
                    Seen::Miss
                }
                None => {
                    if !explicit {
                        self.seen.entry(hash).or_insert((labels.clone(), 0)).1 = generation;
                    }
                    if !refused {
                        self.series.insert(met, (Some((hash, labels)), iter, seq));
                    }
                    Seen::Miss
                }
            }
        }

        fn stale(&self) -> Vec<Labels> {
            let mut out: Vec<Labels> = (self.seen.values())
                .filter(|(_, g)| *g + 1 == self.generation)
                .map(|(l, _)| l.clone())
                .collect();
            out.sort();
            out
        }

        fn iter_done(&mut self, mut flush: bool) -> bool {
            let forced = !flush && self.series.len() > self.successful * 2 + 1000;
            if flush {
                self.successful = self.series.len();
            }
            flush |= forced;
            if flush {
                let iter = self.iter;
                self.series.retain(|_, e| e.1 == iter);
                self.iter += 1;
            }
            let finished = self.generation;
            self.generation += 1;
            self.seen.retain(|_, e| e.1 == finished);
            forced
        }
    }

    /// The scrape loop's use of the cache for one sample.
    fn sample(c: &mut ScrapeCache, (s, explicit, refused): Sample) -> Seen {
        let (met, hash, labels) = spelling(s);
        match c.get(&met) {
            Lookup::Dropped => Seen::Dropped,
            Lookup::Hit {
                already_scraped,
                position,
                ..
            } => {
                if !already_scraped && !refused && !explicit {
                    c.track(position);
                }
                Seen::Hit(already_scraped)
            }
            Lookup::Miss(key) if s == DROPPED_SPELLING => {
                c.add_dropped(key);
                Seen::Miss
            }
            Lookup::Miss(key) => {
                let series_ref = if refused { 0 } else { hash + 1 };
                c.add(key, series_ref, labels, hash, !explicit);
                Seen::Miss
            }
        }
    }

    proptest::proptest! {
        /// Any run of scrapes (failed ones, empty ones, repeats, two
        /// spellings, explicit timestamps, refused appends) looks up,
        /// marks stale and flushes as the two maps do.
        #[test]
        fn same_as_two_maps(scrapes in proptest::collection::vec((
            proptest::collection::vec(
                (0..8usize, proptest::bool::weighted(0.15), proptest::bool::weighted(0.15)),
                0..12,
            ),
            proptest::bool::weighted(0.15),
            proptest::bool::weighted(0.8),
        ), 1..16)) {
            let (mut c, mut m) = (ScrapeCache::new(), TwoMaps::default());
            m.generation = 1;
            for (samples, fails, flush) in scrapes {
                c.begin_scrape();
                m.seq += 1;
                for &s in &samples {
                    proptest::prop_assert_eq!(sample(&mut c, s), m.sample(s));
                }
                if fails {
                    continue;
                }
                proptest::prop_assert_eq!(stale(&c), m.stale());
                proptest::prop_assert_eq!(c.iter_done(flush), m.iter_done(flush));
            }
        }
    }
}
