//! Reading samples back by labels and time: the past the head does not
//! keep in memory.

use std::fs;
use std::io::ErrorKind;

use crate::labels::Labels;
use crate::storage::selector::{matches_all, Matcher};

use super::codec::{RefMap, SegmentDecoder, KIND_SAMPLES};
use super::reader::scan_frames;
use super::series::SeriesTable;
use super::{segment_name, Position, RefSample, Wal, WalError};

/// One series of a range selection: its labels and samples in time order.
pub type RangeSeries = (Labels, Vec<(i64, f64)>);

impl Wal {
    /// Timestamp of the oldest sample in the segments on disk, if any.
    pub fn oldest_time_ms(&self) -> Option<i64> {
        self.oldest_time_from(0)
    }

    /// Timestamp of the oldest sample in segment `seq` and later ones: a
    /// bound (never newer) on the oldest sample from a position in `seq`.
    pub fn oldest_time_from(&self, seq: u64) -> Option<i64> {
        let w = self.writer.lock();
        w.segments
            .iter()
            .filter(|s| s.seq >= seq && s.samples > 0)
            .map(|s| s.min_t)
            .min()
    }

    /// Bytes of whole records on disk from `from` to the end of the WAL.
    pub fn bytes_after(&self, from: Position) -> u64 {
        let w = self.writer.lock();
        w.segments
            .iter()
            .filter(|s| s.seq >= from.segment)
            .map(|s| match s.seq == from.segment {
                true => s.size.saturating_sub(from.offset),
                false => s.size,
            })
            .sum()
    }

    /// Every sample with `mint <= t <= maxt` of the series matching all
    /// `matchers`, read from the segments on disk: series sorted by labels,
    /// samples by time, stale markers included bit-exact. What a commit
    /// wrote before this call started is included; what retention deletes
    /// meanwhile is left out. The writer lock is held only to list the
    /// segments, never across reading them.
    pub fn select_range(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<RangeSeries>, WalError> {
        let segments: Vec<(u64, u64)> = {
            let w = self.writer.lock();
            w.segments
                .iter()
                .filter(|s| s.samples > 0 && s.max_t >= mint && s.min_t <= maxt)
                .map(|s| (s.seq, s.size))
                .collect()
        };
        let mut found = RangeCollector::new(matchers, &self.series, mint, maxt);
        for (seq, size) in segments {
            let path = self.dir.join(segment_name(seq));
            let mut bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(WalError::io("read", &path, e)),
            };
            bytes.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            found.segment(&bytes);
        }
        Ok(found.finish())
    }
}

/// Collects the samples of matching series, segment by segment.
struct RangeCollector<'a> {
    matchers: &'a [Matcher],
    table: &'a SeriesTable,
    mint: i64,
    maxt: i64,
    /// Ref → index in `out`, or `None` if the series does not match (or
    /// the table does not know it).
    by_ref: RefMap<Option<usize>>,
    out: Vec<RangeSeries>,
    decoded: Vec<RefSample>,
}

impl<'a> RangeCollector<'a> {
    fn new(matchers: &'a [Matcher], table: &'a SeriesTable, mint: i64, maxt: i64) -> Self {
        RangeCollector {
            matchers,
            table,
            mint,
            maxt,
            by_ref: RefMap::default(),
            out: Vec::new(),
            decoded: Vec::new(),
        }
    }

    fn segment(&mut self, bytes: &[u8]) {
        let mut decoder = SegmentDecoder::default();
        // A damaged record ends the segment here, as for every reader.
        scan_frames(bytes, 0, |kind, payload, _| {
            if kind == KIND_SAMPLES {
                self.decoded.clear();
                decoder.decode_samples(payload, &mut self.decoded)?;
                for i in 0..self.decoded.len() {
                    let s = self.decoded[i];
                    if s.t >= self.mint && s.t <= self.maxt {
                        if let Some(k) = self.index_of(s.series_ref) {
                            self.out[k].1.push((s.t, s.v));
                        }
                    }
                }
            }
            Ok(())
        });
    }

    fn index_of(&mut self, series_ref: u64) -> Option<usize> {
        if let Some(&k) = self.by_ref.get(&series_ref) {
            return k;
        }
        let k = self
            .table
            .labels_of(series_ref)
            .filter(|l| matches_all(self.matchers, l))
            .map(|l| {
                self.out.push((l, Vec::new()));
                self.out.len() - 1
            });
        self.by_ref.insert(series_ref, k);
        k
    }

    fn finish(mut self) -> Vec<RangeSeries> {
        // Refs of one label set (a series dropped by head GC and back)
        // merge into one entry; the stable sorts keep, of samples with one
        // timestamp, the first read.
        self.out.sort_by(|a, b| a.0.cmp(&b.0));
        let mut merged: Vec<RangeSeries> = Vec::with_capacity(self.out.len());
        for (labels, samples) in self.out {
            match merged.last_mut() {
                Some((l, s)) if *l == labels => s.extend(samples),
                _ => merged.push((labels, samples)),
            }
        }
        for (_, samples) in &mut merged {
            samples.sort_by_key(|&(t, _)| t);
            samples.dedup_by_key(|&mut (t, _)| t);
        }
        merged.retain(|(_, s)| !s.is_empty());
        merged
    }
}
