//! Writing commits: encoding a batch, and group commit.
//!
//! Concurrent commits share one `write` and one `fdatasync`, leader and
//! followers as a database's group commit. A commit encodes its batch under
//! the writer lock and appends the frames to the pending buffer. If no
//! leader is writing, it becomes the leader: it takes the whole pending
//! buffer (its own frames and those of every commit that queued before it),
//! releases the lock, writes the buffer with one `write` call, fsyncs it
//! under [`FsyncPolicy::EveryCommit`], and takes the lock again to publish
//! the outcome to everyone in its group. Commits arriving meanwhile queue
//! their frames for the next leader and wait. No commit returns before its
//! own frames were written (and, under `EveryCommit`, synced), so the
//! durability guarantees of the module doc hold unchanged; fsyncs per
//! second follow the disk's latency, not the number of scrape loops.
//!
//! With a commit window ([`super::Wal::set_commit_window`]) the leader first waits until
//! that long after the first of its frames was queued (lock released) for
//! more commits to join, or until the group holds 64 KiB, as PostgreSQL's
//! `commit_delay`: every `fdatasync` writes back at least one 4 KiB page
//! (about 4.9 KB measured with its journal on this project's ext4 box), so
//! at 10–100 commits a second the fsyncs, not the samples, would decide
//! the bytes written per sample.
//!
//! A failed write or fsync fails the whole group and every commit queued
//! behind it (their frames were encoded against the failed ones), undoes
//! the encoder state and the series the failed frames defined, and cuts the
//! partial write off or abandons the segment as the module doc says.

use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::MutexGuard;

use crate::labels::Labels;
use crate::storage::stats::StorageStats;
use crate::storage::SeriesRef;

use super::codec::{self, put_series, put_uvarint, KIND_SERIES};
use super::series::{seg32, SeriesEntry, SeriesTable};
use super::{segment_name, FsyncPolicy, Position, RefSample, Wal, WalError, Writer};

/// The commits whose frames one leader writes; each waits for its outcome.
#[derive(Debug, Default)]
pub(crate) struct CommitGroup {
    outcome: OnceLock<Result<(), GroupError>>,
}

/// A failure shared by every commit of a group.
#[derive(Debug, Clone)]
struct GroupError {
    op: &'static str,
    path: PathBuf,
    kind: io::ErrorKind,
    message: String,
}

impl GroupError {
    fn new(op: &'static str, path: &Path, e: &io::Error) -> GroupError {
        GroupError {
            op,
            path: path.to_path_buf(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    fn to_wal_error(&self) -> WalError {
        WalError::io(
            self.op,
            &self.path,
            io::Error::new(self.kind, self.message.clone()),
        )
    }
}

/// Frames encoded but not written yet, with what the segment bookkeeping
/// needs once they are.
#[derive(Debug, Default)]
pub(crate) struct PendingFrames {
    bytes: Vec<u8>,
    samples: u64,
    min_t: i64,
    max_t: i64,
    /// Series these frames define (taken out of the table if they fail).
    new_refs: Vec<SeriesRef>,
    /// Where each commit's records end, for the feeds.
    batches: Vec<PendingBatch>,
    /// When the first of these frames was queued: the commit window runs
    /// from there, so a commit that waited behind a write does not wait a
    /// whole window again as the next leader.
    first_queued: Option<Instant>,
}

/// One commit's place in the pending frames.
#[derive(Debug)]
pub(crate) struct PendingBatch {
    pub(crate) series_end: Option<Position>,
    pub(crate) end: Position,
    /// The samples as encoded; `None` if no feed existed at encode time.
    pub(crate) samples: Option<Vec<RefSample>>,
}

impl PendingFrames {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Group-commit state, part of [`Writer`].
#[derive(Debug, Default)]
pub(crate) struct GroupState {
    /// Frames of the commits waiting for the next leader.
    pending: PendingFrames,
    /// The group those commits belong to.
    group: Arc<CommitGroup>,
    /// Bytes the active leader is writing, if one is.
    in_flight: Option<u64>,
    /// A cleared buffer kept for the next group.
    spare: Vec<u8>,
}

impl Writer {
    /// Offset in the open segment after every frame encoded so far.
    pub(crate) fn end(&self) -> u64 {
        self.size + self.group.in_flight.unwrap_or(0) + self.group.pending.bytes.len() as u64
    }
}

impl Wal {
    /// Writes one batch: a series record for each series the WAL does not
    /// hold yet (its labels from `labels_of`), then one samples record,
    /// written and fsynced together with the batches of concurrent commits
    /// (group commit, see `wal/commit.rs`). `samples` yields `(ref, t, v)` with
    /// non-zero refs, a ref always standing for the same labels. A sample
    /// whose ref neither the WAL nor `labels_of` knows is left out. Returns
    /// the position after the batch once it is written and, under
    /// [`FsyncPolicy::EveryCommit`], durable.
    pub fn log<I>(
        &self,
        samples: I,
        labels_of: &dyn Fn(SeriesRef) -> Option<Labels>,
    ) -> Result<Position, WalError>
    where
        I: IntoIterator<Item = (SeriesRef, i64, f64)>,
    {
        let mut w = self.writer.lock();
        self.make_room(&mut w)?;
        let seq = w.seq;
        let keep_samples = self.has_feeds.load(Ordering::Relaxed);
        encode_batch(&mut w, &self.series, samples, labels_of, keep_samples);
        if w.samples.count() == 0 {
            return Ok(Position {
                segment: seq,
                offset: w.end(),
            });
        }
        if self.opts.retention_size > 0 {
            let incoming = w.end() - w.size + w.buf.len() as u64;
            self.apply_retention(&mut w, incoming, true);
        }
        enqueue(&mut w, keep_samples);
        if w.group.in_flight == Some(0) && group_is_full(&w.group.pending) {
            // Wake the leader waiting out its window: the group is big enough.
            self.committed.notify_all();
        }
        let end = Position {
            segment: seq,
            offset: w.end(),
        };
        let group = w.group.group.clone();
        loop {
            if let Some(outcome) = group.outcome.get() {
                return outcome.as_ref().map(|()| end).map_err(|e| e.to_wal_error());
            }
            self.advance_queue(&mut w);
        }
    }

    /// Opens a new segment if there is none or the open one is full,
    /// after the frames queued for the full one are written (leading if no
    /// one is). A commit that finds another already cut goes on at once:
    /// waiting for the queue to empty instead, as [`Wal::drain`] does, kept
    /// the commits that arrived during a cut waiting behind every group of
    /// the new segment while others kept committing, and a busy WAL made
    /// their scrape loops miss intervals at each segment cut.
    fn make_room(&self, w: &mut MutexGuard<'_, Writer>) -> Result<(), WalError> {
        let segment_size = self.opts.effective_segment_size();
        while w.file.is_none() || w.end() >= segment_size {
            if !self.advance_queue(w) {
                self.cut(w)?;
            }
        }
        Ok(())
    }

    /// Waits until every queued frame is written (leading if no one is).
    pub(crate) fn drain(&self, w: &mut MutexGuard<'_, Writer>) {
        while self.advance_queue(w) {}
    }

    /// One step of the group-commit queue: waits for the group in flight,
    /// or writes the pending frames as leader. `false` if nothing was
    /// queued.
    fn advance_queue(&self, w: &mut MutexGuard<'_, Writer>) -> bool {
        if w.group.in_flight.is_some() {
            self.committed.wait(w);
        } else if !w.group.pending.is_empty() {
            self.lead(w);
        } else {
            return false;
        }
        true
    }

    /// Writes (and syncs) the pending frames as leader, releasing the lock
    /// meanwhile, and publishes the outcome to the group.
    fn lead(&self, w: &mut MutexGuard<'_, Writer>) {
        let window = self.commit_window();
        if !window.is_zero() && self.opts.fsync == FsyncPolicy::EveryCommit {
            // Leader from now on: commits arriving meanwhile queue and wait.
            w.group.in_flight = Some(0);
            let queued = w.group.pending.first_queued.unwrap_or_else(Instant::now);
            let deadline = queued + window;
            while !group_is_full(&w.group.pending)
                && !self.committed.wait_until(w, deadline).timed_out()
            {}
        }
        let spare = std::mem::take(&mut w.group.spare);
        let frames = std::mem::replace(
            &mut w.group.pending,
            PendingFrames {
                bytes: spare,
                min_t: i64::MAX,
                max_t: i64::MIN,
                ..PendingFrames::default()
            },
        );
        let group = std::mem::take(&mut w.group.group);
        let len = frames.bytes.len() as u64;
        w.group.in_flight = Some(len);
        let (seq, file, size) = (w.seq, w.file.clone(), w.size);
        let path = self.dir.join(segment_name(seq));
        let written = MutexGuard::unlocked(w, || {
            self.write_and_sync(file.as_deref(), &frames.bytes, &path)
        });
        w.group.in_flight = None;
        let mut frames = frames;
        let outcome = match written {
            Ok(()) => {
                self.account_written(w, &frames);
                self.publish(w, std::mem::take(&mut frames.batches));
                Ok(())
            }
            Err(e) => {
                self.undo_failed(w, &frames, size, &e);
                Err(e)
            }
        };
        let ok = outcome.is_ok();
        let _ = group.outcome.set(outcome);
        let mut bytes = frames.bytes;
        clear_for_reuse(&mut bytes);
        w.group.spare = bytes;
        self.committed.notify_all();
        if ok {
            self.notify();
        }
    }

    fn write_and_sync(
        &self,
        file: Option<&File>,
        bytes: &[u8],
        path: &Path,
    ) -> Result<(), GroupError> {
        let Some(mut file) = file else {
            let e = io::Error::other("no open segment");
            return Err(GroupError::new("write", path, &e));
        };
        if let Err(e) = file.write_all(bytes) {
            StorageStats::add(&self.stats.wal_write_errors_total, 1);
            return Err(GroupError::new("write", path, &e));
        }
        if self.opts.fsync == FsyncPolicy::EveryCommit {
            self.fsync(file)
                .map_err(|e| GroupError::new("fsync", path, &e))?;
        }
        Ok(())
    }

    /// Segment bookkeeping after a group's frames were written.
    fn account_written(&self, w: &mut Writer, frames: &PendingFrames) {
        let len = frames.bytes.len() as u64;
        w.size += len;
        w.dirty = self.opts.fsync != FsyncPolicy::EveryCommit;
        w.max_t = w.max_t.max(frames.max_t);
        let size = w.size;
        if let Some(seg) = w.segments.last_mut() {
            seg.size = size;
            seg.samples += frames.samples;
            seg.min_t = seg.min_t.min(frames.min_t);
            seg.max_t = seg.max_t.max(frames.max_t);
        }
        StorageStats::add(&self.stats.wal_bytes_written_total, len);
        self.update_gauges(w);
    }

    /// Undoes a failed group and fails the commits queued behind it.
    fn undo_failed(&self, w: &mut Writer, frames: &PendingFrames, size: u64, e: &GroupError) {
        let queued = std::mem::take(&mut w.group.pending);
        let queued_group = std::mem::take(&mut w.group.group);
        let _ = queued_group.outcome.set(Err(e.clone()));
        {
            let mut table = self.series.write();
            for r in frames.new_refs.iter().chain(&queued.new_refs) {
                table.remove(r);
            }
        }
        if e.op == "fsync" {
            self.abandon_segment(w);
        } else {
            // Cut the partial write off, so the segment stays a sequence
            // of whole records; the encoder forgets the lost values.
            w.encoder.reset();
            let cut = w.file.as_ref().map(|f| f.set_len(size));
            if !matches!(cut, Some(Ok(()))) {
                w.file = None;
            }
        }
        let mut bytes = queued.bytes;
        clear_for_reuse(&mut bytes);
        w.group.spare = bytes;
    }
}

/// Capacity a reused buffer always keeps.
const KEEP_BYTES: usize = 64 * 1024;

/// Clears `buf` for reuse, releasing capacity beyond twice what it held
/// (and beyond [`KEEP_BYTES`]): the series records of the start-up burst,
/// when every series is new at once, are not kept for the life of the
/// process (1.5 MB at 50,000 series).
fn clear_for_reuse(buf: &mut Vec<u8>) {
    let keep = buf.len().saturating_mul(2).max(KEEP_BYTES);
    buf.clear();
    buf.shrink_to(keep);
}

/// Whether a group holds enough bytes that its leader stops waiting for
/// more: past 64 KiB the page an fsync rewrites is a small part of what it
/// writes, and at high commit rates waiting out the window only holds the
/// scrape loops up (at 100 targets × 10,000 series, a 250 ms window that
/// always ran out delivered 37 % of the samples, a 100 ms one 78 %).
fn group_is_full(pending: &PendingFrames) -> bool {
    const ENOUGH: usize = 64 << 10;
    pending.bytes.len() >= ENOUGH
}

/// Moves the encoded batch into the pending frames.
fn enqueue(w: &mut Writer, keep_samples: bool) {
    let before = w.end();
    let segment = w.seq;
    let at = |len: usize| Position {
        segment,
        offset: before + len as u64,
    };
    let batch = PendingBatch {
        series_end: (w.series_frame_len > 0).then(|| at(w.series_frame_len)),
        end: at(w.buf.len()),
        samples: keep_samples.then(|| std::mem::take(&mut w.fed_samples)),
    };
    w.group.pending.batches.push(batch);
    let Writer {
        buf,
        group,
        samples,
        samples_min_t,
        samples_max_t,
        new_refs,
        ..
    } = w;
    let pending = &mut group.pending;
    if pending.bytes.is_empty() {
        pending.min_t = i64::MAX;
        pending.max_t = i64::MIN;
        pending.first_queued = Some(Instant::now());
    }
    pending.min_t = pending.min_t.min(*samples_min_t);
    pending.bytes.extend_from_slice(buf);
    pending.samples += samples.count();
    pending.max_t = pending.max_t.max(*samples_max_t);
    pending.new_refs.append(new_refs);
}

/// Encodes a batch into `w.buf`: a series record for refs the table does
/// not hold yet (added to it), then the samples record. A ref's first
/// sample in the segment marks the segment as its newest in the table.
fn encode_batch<I>(
    w: &mut Writer,
    table: &SeriesTable,
    samples: I,
    labels_of: &dyn Fn(SeriesRef) -> Option<Labels>,
    keep_samples: bool,
) where
    I: IntoIterator<Item = (SeriesRef, i64, f64)>,
{
    w.fed_samples.clear();
    clear_for_reuse(&mut w.series);
    w.series_count = 0;
    w.samples.clear();
    w.samples_min_t = i64::MAX;
    w.samples_max_t = i64::MIN;
    w.new_refs.clear();
    let seq = seg32(w.seq);
    let mut entries = None;
    let Writer {
        encoder,
        series,
        series_count,
        samples: rec,
        new_refs,
        next_ref,
        samples_min_t,
        samples_max_t,
        fed_samples,
        ..
    } = w;
    for (series_ref, t, v) in samples {
        let slot = encoder.slot(series_ref);
        if matches!(slot, Entry::Vacant(_)) {
            let map = entries.get_or_insert_with(|| table.write());
            match map.entry(series_ref) {
                Entry::Occupied(mut e) => e.get_mut().last_seg = seq,
                Entry::Vacant(e) => {
                    let Some(labels) = labels_of(series_ref) else {
                        log::debug!(
                            series_ref = series_ref;
                            "WAL sample for a series without labels left out"
                        );
                        continue;
                    };
                    put_series(series, series_ref, &labels);
                    *series_count += 1;
                    *next_ref = (*next_ref).max(series_ref + 1);
                    new_refs.push(series_ref);
                    e.insert(SeriesEntry {
                        labels,
                        defined_in: seq,
                        last_seg: seq,
                    });
                }
            }
        }
        rec.push(slot, t, v);
        if keep_samples {
            fed_samples.push(RefSample { series_ref, t, v });
        }
        *samples_min_t = (*samples_min_t).min(t);
        *samples_max_t = (*samples_max_t).max(t);
    }
    drop(entries);
    clear_for_reuse(&mut w.buf);
    w.series_frame_len = 0;
    if w.samples.count() == 0 {
        return;
    }
    if w.series_count > 0 {
        let mut head = Vec::with_capacity(10);
        put_uvarint(&mut head, w.series_count);
        codec::put_frame_parts(&mut w.buf, KIND_SERIES, &head, &w.series);
        w.series_frame_len = w.buf.len();
    }
    w.samples.frame_into(&mut w.buf);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::*;
    use crate::storage::wal::WalOptions;

    fn labels_of(r: SeriesRef) -> Option<Labels> {
        Some(Labels::from_pairs([("__name__", format!("s{r}"))]))
    }

    #[test]
    fn commits_queued_behind_a_leader_share_one_write_and_one_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(StorageStats::new());
        let wal = Wal::open(
            dir.path(),
            WalOptions::default(),
            stats.clone(),
            &mut |_| {},
        )
        .unwrap();
        wal.log([(1, 0, 1.0)], &labels_of).unwrap();
        let fsyncs = stats.wal_fsyncs_total.load(Ordering::Relaxed);
        let writes = stats.wal_bytes_written_total.load(Ordering::Relaxed);
        // A leader is busy: every commit from now on queues behind it.
        wal.writer.lock().group.in_flight = Some(0);
        let ends: Vec<Position> = std::thread::scope(|scope| {
            let handles: Vec<_> = (2..10u64)
                .map(|r| {
                    let wal = &wal;
                    scope.spawn(move || wal.log([(r, 1000, r as f64)], &labels_of).unwrap())
                })
                .collect();
            while wal.writer.lock().group.pending.samples < 8 {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(stats.wal_fsyncs_total.load(Ordering::Relaxed), fsyncs);
            wal.writer.lock().group.in_flight = None;
            wal.committed.notify_all();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(stats.wal_fsyncs_total.load(Ordering::Relaxed), fsyncs + 1);
        let written = stats.wal_bytes_written_total.load(Ordering::Relaxed) - writes;
        let mut offsets: Vec<u64> = ends.iter().map(|p| p.offset).collect();
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), 8, "each commit ends at its own offset");
        assert_eq!(offsets[7], writes + written, "the last ends the one write");
        let on_disk = std::fs::metadata(dir.path().join(segment_name(ends[0].segment))).unwrap();
        assert_eq!(on_disk.len(), offsets[7]);
    }

    #[test]
    fn a_commit_waiting_for_a_cut_goes_on_once_another_commit_has_cut() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(StorageStats::new());
        // Every commit fills its segment: the next one has to cut.
        let opts = WalOptions {
            segment_size: 1,
            ..WalOptions::default()
        };
        let wal = Wal::open(dir.path(), opts, stats, &mut |_| {}).unwrap();
        let full = wal.log([(1, 0, 1.0)], &labels_of).unwrap().segment;
        // A leader is busy with the full segment's last group.
        wal.writer.lock().group.in_flight = Some(0);
        let (queued, end) = std::thread::scope(|scope| {
            let probe = scope.spawn(|| wal.log([(2, 1000, 2.0)], &labels_of).unwrap());
            // Time for the probe to find the segment full and wait; were it
            // late, it would find the cut made and the test prove nothing.
            std::thread::sleep(Duration::from_millis(200));
            // Another commit cuts, and its group is in flight in the new
            // segment while the probe still waits.
            {
                let mut w = wal.writer.lock();
                w.group.in_flight = None;
                wal.cut(&mut w).unwrap();
                w.group.in_flight = Some(0);
            }
            wal.committed.notify_all();
            // The probe queues its batch behind that group, in the new
            // segment, instead of waiting for the queue to be empty.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let queued = loop {
                if wal.writer.lock().group.pending.samples > 0 {
                    break true;
                }
                if std::time::Instant::now() > deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            wal.writer.lock().group.in_flight = None;
            wal.committed.notify_all();
            (queued, probe.join().unwrap())
        });
        assert!(queued, "the commit waited for the new segment's groups");
        assert_eq!(end.segment, full + 1);
    }

    #[test]
    fn a_commit_window_gathers_commits_that_arrive_within_it() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(StorageStats::new());
        let opts = WalOptions {
            commit_window: Duration::from_secs(3),
            ..WalOptions::default()
        };
        let wal = Wal::open(dir.path(), opts, stats.clone(), &mut |_| {}).unwrap();
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|scope| {
            for r in 1..9u64 {
                let (wal, barrier) = (&wal, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    wal.log([(r, 1000, r as f64)], &labels_of).unwrap();
                });
            }
        });
        // One fsync for the eight commits, plus none for the segment (it
        // is created, not closed).
        assert_eq!(stats.wal_fsyncs_total.load(Ordering::Relaxed), 1);
        assert_eq!(wal.series().len(), 8);
    }

    #[test]
    fn a_group_of_64_kib_does_not_wait_out_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(StorageStats::new());
        let window = Duration::from_secs(120);
        let opts = WalOptions {
            commit_window: window,
            ..WalOptions::default()
        };
        let wal = Wal::open(dir.path(), opts, stats.clone(), &mut |_| {}).unwrap();
        let started = std::time::Instant::now();
        let samples = (1..=10_000u64).map(|r| (r, 1000, r as f64 * 1.7));
        wal.log(samples, &labels_of).unwrap();
        assert!(started.elapsed() < window / 2, "waited out the window");
        assert_eq!(stats.wal_fsyncs_total.load(Ordering::Relaxed), 1);
    }
}
