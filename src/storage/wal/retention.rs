//! Deleting old segments, and the checkpoint written before.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::storage::stats::StorageStats;

use super::codec::{put_frame, put_frame_parts, put_series, put_uvarint, samples_count};
use super::codec::{KIND_CHECKPOINT_META, KIND_SAMPLES, KIND_SERIES};
use super::reader::scan_frames;
use super::series::seg32;
use super::{
    checkpoint_name, now_ms, segment_name, sync_dir, Position, SegmentInfo, Wal, WalError, Writer,
};

/// Series per series record in a checkpoint.
const CHECKPOINT_CHUNK: usize = 1000;

impl Wal {
    /// Deletes the closed segments retention allows or forces, oldest first,
    /// after writing a checkpoint. `incoming` bytes are about to be written
    /// and count against the size bound. With `forced_only`, only the size
    /// bound is applied (the commit path).
    pub(super) fn apply_retention(&self, w: &mut Writer, incoming: u64, forced_only: bool) {
        let readers = self.reader_positions();
        let now = now_ms();
        let closed = w.closed_segments();
        let mut remaining = w.disk_bytes() + incoming;
        let mut plan: Vec<(usize, bool)> = Vec::new();
        for seg in &w.segments[..closed] {
            let read_by_all = readers.iter().all(|(_, p)| read_past(p, seg));
            let over_size = self.opts.retention_size > 0 && remaining > self.opts.retention_size;
            let too_old = !forced_only
                && self
                    .opts
                    .retention_time
                    .is_some_and(|rt| seg.max_t < now.saturating_sub(rt.as_millis() as i64));
            let keep_window = self.opts.keep_window.as_millis() as i64;
            let released = !forced_only
                && read_by_all
                && (seg.max_t == i64::MIN || seg.max_t < w.max_t.saturating_sub(keep_window));
            if !(over_size || too_old || released) {
                break;
            }
            plan.push((plan.len(), read_by_all));
            remaining = remaining.saturating_sub(seg.size);
        }
        if plan.is_empty() {
            return;
        }
        let doomed: Vec<SegmentInfo> = w.segments[..plan.len()].to_vec();
        let last = doomed[doomed.len() - 1].seq;
        for (seg, (_, read_by_all)) in doomed.iter().zip(&plan) {
            if !read_by_all {
                self.count_unread(seg, &readers);
            }
        }
        if let Err(e) = self.write_checkpoint(w, last) {
            // The table still holds every live series: the running process
            // resolves every ref. A restart before the next checkpoint
            // counts and skips the samples of series defined only in the
            // deleted segments.
            log::warn!(err:% = e; "WAL checkpoint failed");
        }
        for seg in &doomed {
            let path = self.dir.join(segment_name(seg.seq));
            if let Err(e) = fs::remove_file(&path) {
                log::warn!(path:% = path.display(), err:% = e; "WAL could not delete segment");
            }
            StorageStats::add(&self.stats.retention_segments_deleted_total, 1);
            log::debug!(path:% = path.display(); "WAL segment deleted");
        }
        if let Err(e) = sync_dir(&self.dir) {
            log::warn!(err:% = e; "WAL directory sync failed");
        }
        w.segments.drain(..doomed.len());
        let last32 = seg32(last);
        self.series.write().retain(|_, e| {
            e.defined_in = e.defined_in.max(last32);
            e.last_seg > last32
        });
        self.update_gauges(w);
    }

    fn count_unread(&self, seg: &SegmentInfo, readers: &[(String, Position)]) {
        let mut unread = 0;
        let mut names = Vec::new();
        for (name, pos) in readers {
            let n = if pos.segment < seg.seq {
                seg.samples
            } else if pos.segment == seg.seq {
                self.samples_after(seg.seq, pos.offset)
            } else {
                0
            };
            if n > 0 || !read_past(pos, seg) {
                names.push(name.as_str());
            }
            unread = unread.max(n);
        }
        StorageStats::add(&self.stats.retention_segments_dropped_unread_total, 1);
        StorageStats::add(&self.stats.retention_samples_dropped_unread_total, unread);
        log::warn!(
            path:% = self.dir.join(segment_name(seg.seq)).display(),
            samples = unread,
            readers:? = names;
            "WAL retention dropped unread segment"
        );
    }

    /// Samples in segment `seq` at or after `offset`.
    fn samples_after(&self, seq: u64, offset: u64) -> u64 {
        let path = self.dir.join(segment_name(seq));
        let Ok(bytes) = fs::read(&path) else { return 0 };
        let mut n = 0;
        scan_frames(&bytes, 0, |kind, payload, end| {
            if kind == KIND_SAMPLES && end as u64 > offset {
                n += samples_count(payload);
            }
            Ok(())
        });
        n
    }

    /// Writes `checkpoint.<last>`: the next ref and the series with a sample
    /// in a segment after `last` (as Prometheus's checkpoint keeps the
    /// series still in the head); then removes the previous checkpoint.
    fn write_checkpoint(&self, w: &mut Writer, last: u64) -> Result<(), WalError> {
        let mut buf = Vec::new();
        let mut meta = Vec::new();
        put_uvarint(&mut meta, w.next_ref);
        put_frame(&mut buf, KIND_CHECKPOINT_META, &meta);
        let mut live: Vec<_> = self
            .series
            .read()
            .iter()
            .filter(|(_, e)| u64::from(e.last_seg) > last)
            .map(|(r, e)| (*r, e.labels.clone()))
            .collect();
        live.sort_unstable_by_key(|(r, _)| *r);
        for chunk in live.chunks(CHECKPOINT_CHUNK) {
            let mut body = Vec::new();
            for (r, labels) in chunk {
                put_series(&mut body, *r, labels);
            }
            let mut head = Vec::new();
            put_uvarint(&mut head, chunk.len() as u64);
            put_frame_parts(&mut buf, KIND_SERIES, &head, &body);
        }
        let name = checkpoint_name(last);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let path = self.dir.join(&name);
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(WalError::io("write checkpoint", &tmp, e));
        }
        fs::rename(&tmp, &path).map_err(|e| WalError::io("rename checkpoint", &path, e))?;
        sync_dir(&self.dir)?;
        if let Some((old, _)) = w.checkpoint.replace((last, buf.len() as u64)) {
            if old != last {
                remove_quietly(&self.dir.join(checkpoint_name(old)));
            }
        }
        StorageStats::add(&self.stats.wal_checkpoints_total, 1);
        log::debug!(path:% = path.display(), series = live.len(); "WAL checkpoint written");
        Ok(())
    }
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        log::warn!(path:% = path.display(), err:% = e; "WAL could not delete");
    }
}

/// Whether a reader at `pos` has read all of closed segment `seg`.
fn read_past(pos: &Position, seg: &SegmentInfo) -> bool {
    pos.segment > seg.seq || (pos.segment == seg.seq && pos.offset >= seg.size)
}
