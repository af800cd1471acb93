//! Reading the WAL back: replay on open, and [`WalReader`] for tailing.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::storage::stats::StorageStats;
use crate::storage::SeriesRef;

use super::codec::{
    decode_series, parse_frame, Cursor, DecodeError, Frame, RefMap, SegmentDecoder,
    KIND_CHECKPOINT_META, KIND_SERIES,
};
use super::series::{seg32, SeriesEntry};
use super::{
    checkpoint_name, list_dir, segment_name, Position, Record, RefSample, SegmentInfo, WalError,
    Writer,
};
use crate::labels::Labels;

/// Where a scan of a byte buffer stopped.
pub(crate) struct ScanEnd {
    /// Offset just after the last whole, valid record.
    pub(crate) good: usize,
    /// Why the scan stopped before the end, if it did.
    pub(crate) damage: Option<&'static str>,
}

/// Walks the frames of `bytes` from `start`, calling `f(kind, payload, end)`
/// for each whole one; `f` returning an error counts as damage there.
pub(crate) fn scan_frames(
    bytes: &[u8],
    start: usize,
    mut f: impl FnMut(u8, &[u8], usize) -> Result<(), DecodeError>,
) -> ScanEnd {
    let mut offset = start;
    loop {
        match parse_frame(&bytes[offset..]) {
            Frame::Record { kind, payload, len } => {
                let end = offset + len;
                let payload = &bytes[offset + payload.start..offset + payload.end];
                if let Err(e) = f(kind, payload, end) {
                    return ScanEnd {
                        good: offset,
                        damage: Some(e.0),
                    };
                }
                offset = end;
            }
            Frame::Incomplete if offset == bytes.len() => {
                return ScanEnd {
                    good: offset,
                    damage: None,
                }
            }
            Frame::Incomplete => {
                return ScanEnd {
                    good: offset,
                    damage: Some("torn record at end of data"),
                }
            }
            Frame::Corrupt(reason) => {
                return ScanEnd {
                    good: offset,
                    damage: Some(reason),
                }
            }
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, WalError> {
    fs::read(path).map_err(|e| WalError::io("read", path, e))
}

/// The series and next ref held by a checkpoint file.
pub(crate) struct CheckpointContents {
    pub(crate) series: Vec<(SeriesRef, Labels)>,
    pub(crate) next_ref: SeriesRef,
    pub(crate) size: u64,
    pub(crate) damage: Option<(usize, usize, &'static str)>,
}

pub(crate) fn read_checkpoint(path: &Path) -> Result<CheckpointContents, WalError> {
    let bytes = read_file(path)?;
    let mut series = Vec::new();
    let mut next_ref = 1;
    let end = scan_frames(&bytes, 0, |kind, payload, _| {
        match kind {
            KIND_SERIES => series.extend(decode_series(payload)?),
            KIND_CHECKPOINT_META => next_ref = Cursor::new(payload).uvarint()?,
            _ => {}
        }
        Ok(())
    });
    Ok(CheckpointContents {
        series,
        next_ref,
        size: bytes.len() as u64,
        damage: end.damage.map(|d| (end.good, bytes.len() - end.good, d)),
    })
}

fn count_damage(stats: &StorageStats, path: &Path, good: usize, bad: usize, reason: &str) {
    StorageStats::add(&stats.wal_corrupt_records_total, 1);
    StorageStats::add(&stats.wal_truncated_bytes_total, bad as u64);
    log::warn!(
        path:% = path.display(), offset = good, bytes_dropped = bad, reason:% = reason;
        "WAL damage"
    );
}

/// What replay rebuilds as it goes.
struct ReplayState<'a> {
    stats: &'a StorageStats,
    table: RefMap<SeriesEntry>,
    next_ref: SeriesRef,
    max_t: i64,
    replay: &'a mut dyn FnMut(Record),
}

impl ReplayState<'_> {
    fn define(&mut self, series: Vec<(SeriesRef, Labels)>, seq: u64) {
        for (r, labels) in &series {
            self.next_ref = self.next_ref.max(r + 1);
            self.table.insert(
                *r,
                SeriesEntry {
                    labels: labels.clone(),
                    defined_in: seg32(seq),
                    last_seg: seg32(seq),
                },
            );
        }
        if !series.is_empty() {
            (self.replay)(Record::Series(series));
        }
    }

    /// Hands on the samples whose series is defined; counts and skips the
    /// others (their series record was lost to damage), so a sample is
    /// never attached to labels it does not belong to.
    fn samples(&mut self, mut samples: Vec<RefSample>) {
        let before = samples.len();
        for s in &samples {
            self.next_ref = self.next_ref.max(s.series_ref.saturating_add(1));
        }
        samples.retain(|s| self.table.contains_key(&s.series_ref));
        let unknown = (before - samples.len()) as u64;
        if unknown > 0 {
            StorageStats::add(&self.stats.wal_unknown_series_samples_total, unknown);
            log::warn!(samples = unknown; "WAL replay skipped samples of unknown series");
        }
        StorageStats::add(&self.stats.wal_replayed_samples_total, samples.len() as u64);
        if !samples.is_empty() {
            (self.replay)(Record::Samples(samples));
        }
    }
}

fn remove_quietly(path: &Path, what: &str) {
    if let Err(e) = fs::remove_file(path) {
        log::warn!(what = what, path:% = path.display(), err:% = e; "WAL could not remove file");
    }
}

/// Replays the checkpoint and every segment of `dir` into `replay`,
/// repairs the last segment's tail, and returns the writer state and the
/// series table.
pub(crate) fn replay_dir(
    dir: &Path,
    stats: &Arc<StorageStats>,
    replay: &mut dyn FnMut(Record),
) -> Result<(Writer, RefMap<SeriesEntry>), WalError> {
    let listing = list_dir(dir)?;
    for stale in &listing.stale {
        remove_quietly(stale, "stale file");
    }
    let mut state = ReplayState {
        stats,
        table: RefMap::default(),
        next_ref: 1,
        max_t: i64::MIN,
        replay,
    };
    let mut checkpoint = None;
    if let Some(cseq) = listing.checkpoint {
        let path = dir.join(checkpoint_name(cseq));
        let contents = read_checkpoint(&path)?;
        if let Some((good, bad, reason)) = contents.damage {
            count_damage(stats, &path, good, bad, reason);
        }
        state.next_ref = state.next_ref.max(contents.next_ref);
        state.define(contents.series, cseq);
        checkpoint = Some((cseq, contents.size));
    }
    let mut segments = Vec::new();
    let last = listing.segments.last().copied();
    for &seq in &listing.segments {
        if checkpoint.is_some_and(|(c, _)| seq <= c) {
            // Deleted by retention after the checkpoint, but the process
            // stopped before the file went.
            remove_quietly(&dir.join(segment_name(seq)), "old segment");
            continue;
        }
        segments.push(replay_segment(dir, seq, Some(seq) == last, &mut state)?);
    }
    let seq = last
        .map(|s| s + 1)
        .into_iter()
        .chain(checkpoint.map(|(c, _)| c + 1))
        .max()
        .unwrap_or(0);
    let writer = Writer::new(seq, segments, checkpoint, state.next_ref, state.max_t);
    Ok((writer, state.table))
}

/// Replays one segment; cuts a damaged tail if it is the last one.
fn replay_segment(
    dir: &Path,
    seq: u64,
    is_last: bool,
    state: &mut ReplayState<'_>,
) -> Result<SegmentInfo, WalError> {
    let path = dir.join(segment_name(seq));
    let bytes = read_file(&path)?;
    let mut dec = SegmentDecoder::default();
    let mut info = SegmentInfo {
        seq,
        size: 0,
        samples: 0,
        min_t: i64::MAX,
        max_t: i64::MIN,
    };
    let end = scan_frames(&bytes, 0, |kind, payload, _| {
        match dec.decode(kind, payload)? {
            Some(Record::Series(series)) => state.define(series, seq),
            Some(Record::Samples(samples)) => {
                info.samples += samples.len() as u64;
                if let Some((lo, hi)) = super::codec::time_bounds(&samples) {
                    info.min_t = info.min_t.min(lo);
                    info.max_t = info.max_t.max(hi);
                }
                state.samples(samples);
            }
            None => {}
        }
        Ok(())
    });
    for r in dec.refs() {
        if let Some(e) = state.table.get_mut(&r) {
            e.last_seg = seg32(seq);
        }
    }
    if let Some(reason) = end.damage {
        let bad = bytes.len() - end.good;
        count_damage(state.stats, &path, end.good, bad, reason);
        if is_last {
            let cut = OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(end.good as u64).and_then(|()| f.sync_all()));
            if let Err(e) = cut {
                log::warn!(path:% = path.display(), err:% = e; "WAL could not truncate");
            }
        }
    }
    info.size = end.good as u64;
    state.max_t = state.max_t.max(info.max_t);
    Ok(info)
}

/// Tails a WAL directory record by record, as Prometheus's WAL watcher.
///
/// Independent of the [`super::Wal`] that writes the directory (it only
/// reads files), so it may live on any thread; it is not `Sync`. When
/// it reaches the end of what is written, [`WalReader::next`] returns
/// `Ok(None)`; call it again later (after a [`super::Wal::subscribe`]
/// notification) and it continues, moving to new segments as they appear.
/// A damaged record in a segment that is no longer being written makes the
/// reader skip the rest of that segment (see [`WalReader::skipped_damage`]);
/// a segment deleted by retention under it is skipped the same way.
pub struct WalReader {
    dir: PathBuf,
    /// Segment being read.
    seq: u64,
    file: Option<File>,
    /// Bytes read from the file and not yet consumed; `buf[start]` is at
    /// segment offset `offset`.
    buf: Vec<u8>,
    start: usize,
    offset: u64,
    decoder: SegmentDecoder,
    /// Whether series records are decoded and returned.
    with_series: bool,
    pending: Option<(Record, Position)>,
    skipped: u64,
}

impl WalReader {
    /// Opens a reader that starts at `from` and returns series records too.
    ///
    /// A series record is written once, where the series first appears, so
    /// the series defined before `from` come first, as one
    /// [`Record::Series`]: the checkpoint's, then those of every segment
    /// before `from` (reading only their series records), with Position
    /// `from` (or the start of the oldest segment if `from` is before it).
    /// Every ref in the records after `from` then resolves, unless damage
    /// took its series record. Inside a segment, the part before `from` is
    /// read to rebuild the decoding state; the records after `from` follow,
    /// exactly.
    pub fn open(dir: &Path, from: Position) -> Result<WalReader, WalError> {
        let mut reader = WalReader::open_inner(dir, from, true)?;
        let listing = list_dir(dir)?;
        let mut series = Vec::new();
        if let Some(cseq) = listing.checkpoint {
            let contents = read_checkpoint(&dir.join(checkpoint_name(cseq)))?;
            if contents.damage.is_some() {
                reader.skipped += 1;
            }
            series = contents.series;
        }
        for &seq in listing.segments.iter().filter(|&&s| s < from.segment) {
            reader.series_of_segment(seq, &mut series)?;
        }
        if let Some((Record::Series(inside), _)) = reader.pending.take() {
            series.extend(inside);
        }
        if !series.is_empty() {
            let at = reader.position();
            reader.pending = Some((Record::Series(series), at));
        }
        Ok(reader)
    }

    /// Opens a reader that starts at `from` and skips series records
    /// without decoding them: for readers that resolve refs through
    /// [`super::Wal::series_labels`] (remote_write queues).
    pub fn open_samples_only(dir: &Path, from: Position) -> Result<WalReader, WalError> {
        WalReader::open_inner(dir, from, false)
    }

    fn open_inner(dir: &Path, from: Position, with_series: bool) -> Result<WalReader, WalError> {
        let mut reader = WalReader {
            dir: dir.to_path_buf(),
            seq: from.segment,
            file: None,
            buf: Vec::new(),
            start: 0,
            offset: 0,
            decoder: SegmentDecoder::default(),
            with_series,
            pending: None,
            skipped: 0,
        };
        let listing = list_dir(dir)?;
        let oldest = listing.segments.first().copied();
        let before_oldest = match oldest {
            Some(o) => from.segment < o,
            None => listing.checkpoint.is_some_and(|c| from.segment <= c),
        };
        if before_oldest {
            reader.seq = oldest
                .unwrap_or(0)
                .max(listing.checkpoint.map_or(0, |c| c + 1));
        } else if from.offset > 0 && listing.segments.contains(&from.segment) {
            reader.resume_inside(from)?;
        }
        Ok(reader)
    }

    /// Appends the series records of segment `seq` (up to any damage).
    fn series_of_segment(
        &mut self,
        seq: u64,
        out: &mut Vec<(SeriesRef, Labels)>,
    ) -> Result<(), WalError> {
        let path = self.dir.join(segment_name(seq));
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(WalError::io("read", &path, e)),
        };
        let end = scan_frames(&bytes, 0, |kind, payload, _| {
            if kind == KIND_SERIES {
                out.extend(decode_series(payload)?);
            }
            Ok(())
        });
        if end.damage.is_some() {
            self.skipped += 1;
        }
        Ok(())
    }

    /// Reads segment `from.segment` up to `from.offset`, keeping the decoder
    /// state and (if wanted) the series defined there.
    fn resume_inside(&mut self, from: Position) -> Result<(), WalError> {
        self.open_segment(from.segment)?;
        self.fill()?;
        let mut series = Vec::new();
        let limit = usize::try_from(from.offset).unwrap_or(usize::MAX);
        let decoder = &mut self.decoder;
        let with_series = self.with_series;
        let mut boundary = 0;
        let bytes = &self.buf[..];
        scan_frames(bytes, 0, |kind, payload, end| {
            if end > limit {
                // Not damage: the scan just ends at the saved position.
                return Err(DecodeError("reached the saved position"));
            }
            if kind != KIND_SERIES || with_series {
                if let Some(Record::Series(s)) = decoder.decode(kind, payload)? {
                    series.extend(s);
                }
            }
            boundary = end;
            Ok(())
        });
        self.start = boundary;
        self.offset = boundary as u64;
        if !series.is_empty() {
            let at = self.position();
            self.pending = Some((Record::Series(series), at));
        }
        Ok(())
    }

    fn open_segment(&mut self, seq: u64) -> Result<bool, WalError> {
        let path = self.dir.join(segment_name(seq));
        match File::open(&path) {
            Ok(f) => {
                self.file = Some(f);
                self.seq = seq;
                self.buf.clear();
                self.start = 0;
                self.offset = 0;
                self.decoder.reset();
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(WalError::io("open", &path, e)),
        }
    }

    /// Opens the first segment numbered `self.seq` or later, if any.
    fn open_next_existing(&mut self) -> Result<bool, WalError> {
        let listing = list_dir(&self.dir)?;
        let from = self.seq;
        for &seq in listing.segments.iter().filter(|&&s| s >= from) {
            if self.open_segment(seq)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn newer_segment_exists(&self) -> Result<bool, WalError> {
        let listing = list_dir(&self.dir)?;
        Ok(listing.segments.iter().any(|&s| s > self.seq))
    }

    /// Reads whatever the file has beyond what is buffered; returns the
    /// number of new bytes.
    fn fill(&mut self) -> Result<usize, WalError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let before = self.buf.len();
        file.read_to_end(&mut self.buf)
            .map_err(|e| WalError::io("read", &self.dir.join(segment_name(self.seq)), e))?;
        Ok(self.buf.len() - before)
    }

    fn skip_segment(&mut self) {
        self.skipped += 1;
        log::warn!(
            path:% = self.dir.join(segment_name(self.seq)).display(), offset = self.offset;
            "WAL reader skipping damaged rest of segment"
        );
        self.move_to_next_segment();
    }

    fn move_to_next_segment(&mut self) {
        self.file = None;
        self.seq += 1;
        self.offset = 0;
        self.buf.clear();
        self.start = 0;
    }

    /// The next record and the position just after it; `Ok(None)` when
    /// nothing more is written yet.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(Record, Position)>, WalError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        loop {
            if self.file.is_none() && !self.open_next_existing()? {
                return Ok(None);
            }
            match parse_frame(&self.buf[self.start..]) {
                Frame::Record { kind, payload, len } => {
                    let payload = &self.buf[self.start + payload.start..self.start + payload.end];
                    let decoded = if kind == KIND_SERIES && !self.with_series {
                        Ok(None)
                    } else {
                        self.decoder.decode(kind, payload)
                    };
                    match decoded {
                        Ok(rec) => {
                            self.start += len;
                            self.offset += len as u64;
                            if let Some(rec) = rec {
                                return Ok(Some((rec, self.position())));
                            }
                        }
                        Err(_) => self.skip_segment(),
                    }
                }
                Frame::Incomplete => {
                    if self.fill()? > 0 {
                        continue;
                    }
                    if !self.newer_segment_exists()? {
                        return Ok(None);
                    }
                    // The writer finished this segment before creating the
                    // next: read once more, then move on.
                    if self.fill()? > 0 {
                        continue;
                    }
                    if self.start < self.buf.len() {
                        self.skip_segment();
                    } else {
                        self.move_to_next_segment();
                    }
                }
                Frame::Corrupt(_) => {
                    if !self.newer_segment_exists()? {
                        return Ok(None);
                    }
                    self.skip_segment();
                }
            }
        }
    }

    /// Where the next record starts: just after the last one returned.
    pub fn position(&self) -> Position {
        Position {
            segment: self.seq,
            offset: self.offset,
        }
    }

    /// How many times this reader skipped a damaged segment tail or checkpoint.
    pub fn skipped_damage(&self) -> u64 {
        self.skipped
    }
}
