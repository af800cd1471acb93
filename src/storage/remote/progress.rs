//! What a queue has finished with, per shard, and its durable copy.
//!
//! # Why per shard
//!
//! Shards send in parallel, so when shard 0 has delivered up to record 120
//! shard 1 may still be retrying record 100. A single saved position would
//! have to say 100, and after a restart shard 0's series would be sent from
//! record 100 again — older than what the receiver already holds, which
//! Prometheus refuses as out of order, failing the *whole* request (new
//! samples included) with a 400. So progress is kept per shard: a
//! [`ShardPosition`] says "every record up to `through` is done for this
//! shard, and in the record right after it the shard's samples with an
//! index below `partial` are done too". A sample is skipped on restart if
//! the shard it was routed to had finished it; nothing a receiver
//! acknowledged is sent twice, nothing it did not is skipped.
//!
//! Routing depends on the shard count, so the saved file records one layer
//! per shard layout: after a change of `max_shards` the old layer keeps
//! filtering until every new shard has passed its furthest position.
//!
//! # When it is saved
//!
//! After every acknowledged batch, so a crash of the process (kill -9, OOM)
//! never sends an acknowledged sample again; fsynced at most once a second
//! ([`SavedProgress::save`]), so after a power loss or kernel crash the
//! samples acknowledged in the last second may be sent once more. A save
//! with fsync costs a 4 KiB page written back (measured with
//! `/proc/PID/io`); at 100 node_exporter targets the shards finish about
//! twenty batches a second, which fsynced each time made the progress file
//! write more than the WAL's samples did.
//!
//! "Done" means acknowledged by the receiver, refused for good (4xx), or
//! dropped by rule (relabeling, `sample_age_limit`): anything that will not
//! be sent again.

use std::collections::VecDeque;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::storage::wal::Position;
use crate::storage::SeriesRef;

/// The shard a series is routed to among `n`: a fixed mix of its ref (the
/// splitmix64 finaliser), stable across runs and builds because it is
/// saved implicitly in every [`ShardPosition`].
pub(crate) fn shard_of(series_ref: SeriesRef, n: usize) -> usize {
    let mut z = series_ref.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % n.max(1) as u64) as usize
}

/// How far one shard is done; see the module documentation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPosition {
    /// Every record ending at or before this position is done.
    pub through: Position,
    /// In the record that starts at `through`, samples of this shard with
    /// an index below this are done.
    pub partial: u32,
}

/// The content of a queue's position file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedProgress {
    /// One entry per shard layout, newest first; `layers[i].len()` is that
    /// layout's shard count.
    pub layers: Vec<Vec<ShardPosition>>,
}

impl SavedProgress {
    /// Where reading must start: the oldest position any shard needs.
    pub fn start(&self) -> Position {
        self.layers
            .iter()
            .flatten()
            .map(|p| p.through)
            .min()
            .unwrap_or_default()
    }

    /// Whether sample `index` of the record `(start, end]`, of series
    /// `series_ref`, was done in an earlier run.
    pub fn is_done(
        &self,
        start: Position,
        end: Position,
        index: usize,
        series_ref: SeriesRef,
    ) -> bool {
        self.layers.iter().any(|layer| {
            let p = layer[shard_of(series_ref, layer.len())];
            end <= p.through || (start == p.through && index < p.partial as usize)
        })
    }

    /// The newest position any saved shard reached: records that start
    /// after it hold nothing done before, so the filter can be skipped.
    pub fn filter_end(&self) -> Position {
        self.layers
            .iter()
            .flatten()
            .map(|p| p.through)
            .max()
            .unwrap_or_default()
    }

    /// Reads the file; a missing file is an empty progress (read from the
    /// start of the WAL).
    pub fn load(path: &Path) -> Result<SavedProgress, ProgressError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SavedProgress::default()),
            Err(e) => return Err(ProgressError::io("read", path, e)),
        };
        let saved: SavedProgress =
            serde_json::from_slice(&bytes).map_err(|e| ProgressError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        if saved.layers.iter().any(Vec::is_empty) {
            return Err(ProgressError::Corrupt {
                path: path.to_path_buf(),
                message: "a layer without shards".to_string(),
            });
        }
        Ok(saved)
    }

    /// Writes the file. With `sync`: a temporary file, fsynced, renamed
    /// over the old one, then the directory fsynced, so the new content
    /// survives a power loss whole. Without: the JSON is written in place
    /// over the old content, padded with spaces to its length (so no
    /// truncation, and no rename that would make ext4 write the file back
    /// at once); it survives a crash of the process, the kernel holding it.
    pub fn save(&self, path: &Path, sync: bool) -> Result<(), ProgressError> {
        let json = serde_json::to_vec(self).map_err(|e| ProgressError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !sync {
            return overwrite_padded(path, json);
        }
        let tmp = path.with_extension("pos.tmp");
        let mut f = fs::File::create(&tmp).map_err(|e| ProgressError::io("create", &tmp, e))?;
        f.write_all(&json)
            .map_err(|e| ProgressError::io("write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| ProgressError::io("fsync", &tmp, e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| ProgressError::io("rename", path, e))?;
        if let Some(dir) = path.parent() {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| ProgressError::io("fsync directory", dir, e))?;
        }
        Ok(())
    }
}

/// Writes `json` at the start of `path`, spaces after it up to the file's
/// old length (JSON allows trailing whitespace).
fn overwrite_padded(path: &Path, mut json: Vec<u8>) -> Result<(), ProgressError> {
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| ProgressError::io("open", path, e))?;
    let old = f
        .metadata()
        .map_err(|e| ProgressError::io("stat", path, e))?
        .len();
    let old = usize::try_from(old).unwrap_or(usize::MAX);
    if json.len() < old {
        json.resize(old, b' ');
    }
    f.write_all_at(&json, 0)
        .map_err(|e| ProgressError::io("write", path, e))
}

/// A position file that could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProgressError {
    /// A filesystem call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not a position file.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ProgressError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> ProgressError {
        ProgressError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for ProgressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgressError::Io { op, path, source } => {
                write!(f, "remote position file {}: {op}: {source}", path.display())
            }
            ProgressError::Corrupt { path, message } => {
                write!(f, "remote position file {}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for ProgressError {}

/// A record some of whose samples a shard still has to finish.
#[derive(Debug)]
struct InFlight {
    /// End of the record, extended over later records that gave the shard
    /// nothing.
    end: Position,
    /// Samples of the shard in it not done yet.
    remaining: u64,
}

#[derive(Debug, Default)]
struct ShardProgress {
    done: ShardPosition,
    in_flight: VecDeque<InFlight>,
}

/// Live progress of the current shard layout, plus older saved layers.
///
/// Shared by the watcher (which adds records in WAL order) and the shards
/// (which finish samples in the order they were given them) under one
/// short mutex; never held across I/O.
#[derive(Debug)]
pub(crate) struct AckTracker {
    shards: Vec<ShardProgress>,
    /// Layers of earlier shard layouts still needed as filters.
    older: Vec<Vec<ShardPosition>>,
    /// Changed since the last [`AckTracker::snapshot`].
    dirty: bool,
    /// Samples finished by all shards since the start.
    finished: u64,
}

impl AckTracker {
    /// Starts `n` shards from what was saved: the saved newest layer if it
    /// has `n` shards, else a new layer at the oldest saved position with
    /// the saved layers kept as filters.
    pub(crate) fn new(n: usize, saved: &SavedProgress) -> AckTracker {
        let (current, older) = match saved.layers.split_first() {
            Some((first, rest)) if first.len() == n => (first.clone(), rest.to_vec()),
            _ => {
                let start = ShardPosition {
                    through: saved.start(),
                    partial: 0,
                };
                (vec![start; n], saved.layers.clone())
            }
        };
        let mut t = AckTracker {
            shards: current
                .into_iter()
                .map(|done| ShardProgress {
                    done,
                    in_flight: VecDeque::new(),
                })
                .collect(),
            older,
            dirty: false,
            finished: 0,
        };
        t.prune_older();
        t
    }

    /// Records that the record ending at `end` gave shard `k` `counts[k]`
    /// samples to send. Must be called before those samples reach a shard.
    pub(crate) fn add_record(&mut self, end: Position, counts: &[u64]) {
        for (shard, &count) in self.shards.iter_mut().zip(counts) {
            if count > 0 {
                shard.in_flight.push_back(InFlight {
                    end,
                    remaining: count,
                });
            } else if let Some(last) = shard.in_flight.back_mut() {
                last.end = end;
            } else if shard.done.through < end {
                shard.done = ShardPosition {
                    through: end,
                    partial: 0,
                };
                self.dirty = true;
            }
        }
        self.prune_older();
    }

    /// Shard `k` finished its next `n` samples, the last of which had index
    /// `last_index` in its record.
    pub(crate) fn finish(&mut self, k: usize, mut n: u64, last_index: u32) {
        let Some(shard) = self.shards.get_mut(k) else {
            return;
        };
        self.finished += n;
        let mut partial = 0;
        while n > 0 {
            let Some(front) = shard.in_flight.front_mut() else {
                break;
            };
            let take = n.min(front.remaining);
            front.remaining -= take;
            n -= take;
            if front.remaining == 0 {
                shard.done.through = front.end;
                shard.in_flight.pop_front();
                partial = 0;
            } else {
                partial = last_index.saturating_add(1);
            }
        }
        shard.done.partial = partial;
        self.dirty = true;
        self.prune_older();
    }

    /// Replaces the layout with `n` shards that start where the current
    /// ones stand, if every sample handed to a shard is finished (then all
    /// are done through the same record, so the new layout needs no
    /// filter); false, changing nothing, if some are not.
    pub(crate) fn reshape(&mut self, n: usize) -> bool {
        if self.shards.iter().any(|s| !s.in_flight.is_empty()) {
            return false;
        }
        let Some(through) = self.shards.iter().map(|s| s.done.through).min() else {
            return false;
        };
        let done = ShardPosition {
            through,
            partial: 0,
        };
        self.shards = (0..n.max(1))
            .map(|_| ShardProgress {
                done,
                in_flight: VecDeque::new(),
            })
            .collect();
        self.dirty = true;
        self.prune_older();
        true
    }

    /// Drops older layers every current shard has passed.
    fn prune_older(&mut self) {
        let Some(min) = self.shards.iter().map(|s| s.done.through).min() else {
            return;
        };
        self.older.retain(|layer| {
            layer
                .iter()
                .any(|p| p.through > min || (p.through == min && p.partial > 0))
        });
    }

    /// The progress to save, if it changed since the last call.
    pub(crate) fn snapshot(&mut self) -> Option<SavedProgress> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let mut layers = Vec::with_capacity(1 + self.older.len());
        layers.push(self.shards.iter().map(|s| s.done).collect());
        layers.extend(self.older.iter().cloned());
        Some(SavedProgress { layers })
    }

    /// Samples finished since the start; after a snapshot is saved, this
    /// many are durably done.
    pub(crate) fn finished(&self) -> u64 {
        self.finished
    }

    /// Forces the next [`AckTracker::snapshot`] (after a failed save).
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The oldest position any shard or older layer still needs; retention
    /// may delete what lies before it.
    pub(crate) fn read_up_to(&self) -> Position {
        self.shards
            .iter()
            .map(|s| s.done.through)
            .chain(self.older.iter().flatten().map(|p| p.through))
            .min()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64) -> Position {
        Position { segment: 1, offset }
    }

    fn sp(offset: u64, partial: u32) -> ShardPosition {
        ShardPosition {
            through: pos(offset),
            partial,
        }
    }

    fn current(t: &mut AckTracker) -> Vec<ShardPosition> {
        t.dirty = true;
        t.snapshot().unwrap().layers[0].clone()
    }

    #[test]
    fn each_shard_advances_on_its_own() {
        let mut t = AckTracker::new(2, &SavedProgress::default());
        t.add_record(pos(10), &[2, 1]);
        t.add_record(pos(20), &[0, 3]);
        t.add_record(pos(30), &[1, 0]);
        assert_eq!(current(&mut t), vec![ShardPosition::default(); 2]);
        // Shard 1 finishes record 10 and two of record 20's three samples
        // (indexes 4 and 6); shard 0 is stuck.
        t.finish(1, 3, 6);
        assert_eq!(current(&mut t), vec![ShardPosition::default(), sp(10, 7)]);
        assert_eq!(t.read_up_to(), Position::default());
        t.finish(1, 1, 8);
        // Record 30 gave shard 1 nothing, so it is done through 30.
        assert_eq!(current(&mut t), vec![ShardPosition::default(), sp(30, 0)]);
        t.finish(0, 2, 1);
        assert_eq!(current(&mut t), vec![sp(20, 0), sp(30, 0)]);
        t.finish(0, 1, 0);
        assert_eq!(current(&mut t), vec![sp(30, 0), sp(30, 0)]);
        assert_eq!(t.read_up_to(), pos(30));
        t.add_record(pos(40), &[0, 0]);
        assert_eq!(current(&mut t), vec![sp(40, 0), sp(40, 0)]);
        assert!(t.snapshot().is_none(), "unchanged since the last snapshot");
    }

    #[test]
    fn saved_progress_filters_what_each_shard_finished() {
        let saved = SavedProgress {
            layers: vec![vec![sp(10, 0), sp(20, 2)]],
        };
        let (a, b) = (0..100)
            .map(|r| (r, shard_of(r, 2)))
            .partition::<Vec<_>, _>(|(_, s)| *s == 0);
        let (r0, r1) = (a[0].0, b[0].0);
        assert_eq!(saved.start(), pos(10));
        assert_eq!(saved.filter_end(), pos(20));
        // Record (10, 20]: done for shard 1, not for shard 0.
        assert!(!saved.is_done(pos(10), pos(20), 0, r0));
        assert!(saved.is_done(pos(10), pos(20), 0, r1));
        // Record (20, 30]: shard 1 had finished indexes 0 and 1.
        assert!(saved.is_done(pos(20), pos(30), 1, r1));
        assert!(!saved.is_done(pos(20), pos(30), 2, r1));
        assert!(!saved.is_done(pos(20), pos(30), 0, r0));
    }

    #[test]
    fn a_new_shard_count_keeps_the_old_layer_until_passed() {
        let saved = SavedProgress {
            layers: vec![vec![sp(10, 0), sp(20, 0)]],
        };
        let mut t = AckTracker::new(3, &saved);
        let snap = current(&mut t);
        assert_eq!(snap, vec![sp(10, 0); 3]);
        assert_eq!(t.older, saved.layers);
        t.add_record(pos(20), &[0, 0, 0]);
        assert_eq!(t.older.len(), 0, "every new shard passed 20");
        assert_eq!(t.snapshot().unwrap().layers.len(), 1);
    }

    #[test]
    fn reshaping_waits_for_every_shard_and_starts_where_they_stand() {
        let mut t = AckTracker::new(2, &SavedProgress::default());
        t.add_record(pos(10), &[2, 1]);
        t.add_record(pos(20), &[0, 1]);
        t.finish(0, 2, 1);
        assert!(!t.reshape(1), "shard 1 still holds two samples");
        assert_eq!(current(&mut t), vec![sp(20, 0), ShardPosition::default()]);
        t.finish(1, 2, 0);
        assert!(t.reshape(3));
        assert_eq!(current(&mut t), vec![sp(20, 0); 3]);
        assert!(t.older.is_empty(), "no filter layer");
        t.add_record(pos(30), &[0, 4, 0]);
        assert_eq!(t.read_up_to(), pos(20));
    }

    #[test]
    fn file_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.pos");
        assert_eq!(
            SavedProgress::load(&path).unwrap(),
            SavedProgress::default()
        );
        let saved = SavedProgress {
            layers: vec![vec![sp(10, 3), sp(20, 0)], vec![sp(5, 0)]],
        };
        saved.save(&path, true).unwrap();
        assert_eq!(SavedProgress::load(&path).unwrap(), saved);
        // Saved in place, shorter than before: the old tail is blanked.
        let shorter = SavedProgress {
            layers: vec![vec![sp(30, 0)]],
        };
        shorter.save(&path, false).unwrap();
        assert_eq!(SavedProgress::load(&path).unwrap(), shorter);
        saved.save(&path, false).unwrap();
        assert_eq!(SavedProgress::load(&path).unwrap(), saved);
        std::fs::write(&path, b"{\"layers\":[[]]}").unwrap();
        let err = SavedProgress::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("q.pos") && err.contains("without shards"),
            "{err}"
        );
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(
            SavedProgress::load(&path),
            Err(ProgressError::Corrupt { .. })
        ));
    }

    #[test]
    fn routing_is_stable_and_spread() {
        assert_eq!(shard_of(12345, 1), 0);
        let mut counts = [0; 4];
        for r in 1..4001 {
            counts[shard_of(r, 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        // Saved positions depend on this function: it must never change.
        assert_eq!(
            (0..8).map(|r| shard_of(r, 4)).collect::<Vec<_>>(),
            vec![3, 1, 2, 1, 2, 2, 0, 3]
        );
    }
}
