//! On-disk record framing and the series/samples encodings.
//!
//! A frame is `kind:u8 len:u32le crc:u32le payload[len]`, where `crc` is the
//! CRC32C (Castagnoli) of the first five header bytes followed by the
//! payload. Frames never span segments.
//!
//! Samples are encoded against per-segment state (the previous value of each
//! series in the same segment); see the module doc of [`super`] for the
//! layout.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::labels::Labels;
use crate::storage::SeriesRef;

use super::{Record, RefSample};

/// Bytes in a frame header.
pub(crate) const HEADER_LEN: usize = 9;
/// Largest payload a frame may claim; larger lengths are corruption.
pub(crate) const MAX_PAYLOAD: usize = 1 << 28;

/// Frame kind of a series record.
pub(crate) const KIND_SERIES: u8 = 1;
/// Frame kind of a samples record.
pub(crate) const KIND_SAMPLES: u8 = 2;
/// Frame kind of the checkpoint's header record (next series ref).
pub(crate) const KIND_CHECKPOINT_META: u8 = 3;

/// Control byte: the ref is the previous ref plus one.
const CTRL_REF_INC: u8 = 0x80;
/// Control byte: a zigzag varint timestamp delta against the batch's first timestamp follows.
const CTRL_TS_DELTA: u8 = 0x40;
/// Mask of the value code in the control byte.
const CTRL_VALUE: u8 = 0x3f;
/// Value code: the 8 bytes of the value follow, no previous value used.
const VALUE_ABSOLUTE: u8 = 63;

/// Hasher for series refs. A hash table places an entry by the hash's low
/// bits and filters probes by its top 7, so the low bits are the ref
/// itself: refs are dense and handed out in exposition order, so a
/// scrape's series sit side by side and the next one is usually in a
/// cache line already fetched. A multiply spreads the top bits.
#[derive(Default)]
pub(crate) struct RefHasher(u64);

impl Hasher for RefHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = dense_hash(n, n);
    }
}

/// The hash of a dense integer key whose neighbours should be stored side
/// by side: `position` in the low bits, and the top 7 bits of a `usize`
/// (what a hash table's probe filter reads) spread from `key` by a
/// multiply.
pub(crate) fn dense_hash(key: u64, position: u64) -> u64 {
    const TOP_7: u64 = 0x7f << (usize::BITS - 7);
    let spread = (key ^ (key >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (spread & TOP_7) | (position & !TOP_7)
}

/// A map keyed by series ref with the cheap ref hasher.
pub(crate) type RefMap<V> = HashMap<SeriesRef, V, BuildHasherDefault<RefHasher>>;

/// What a buffer holds at its start.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole, CRC-valid frame: its kind, payload bounds and total length.
    Record {
        kind: u8,
        payload: std::ops::Range<usize>,
        len: usize,
    },
    /// Not enough bytes yet for a whole frame.
    Incomplete,
    /// The bytes cannot be a frame.
    Corrupt(&'static str),
}

/// Looks at the frame at the start of `buf`.
pub(crate) fn parse_frame(buf: &[u8]) -> Frame {
    if buf.len() < HEADER_LEN {
        return Frame::Incomplete;
    }
    let kind = buf[0];
    if kind == 0 {
        return Frame::Corrupt("zero record kind");
    }
    let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Frame::Corrupt("record length out of range");
    }
    let want = u32::from_le_bytes([buf[5], buf[6], buf[7], buf[8]]);
    if buf.len() < HEADER_LEN + len {
        return Frame::Incomplete;
    }
    let payload = HEADER_LEN..HEADER_LEN + len;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[..5]), &buf[payload.clone()]);
    if crc != want {
        return Frame::Corrupt("checksum mismatch");
    }
    Frame::Record {
        kind,
        payload,
        len: HEADER_LEN + len,
    }
}

/// Appends a frame of `kind` holding `payload` to `out`.
pub(crate) fn put_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    put_frame_parts(out, kind, payload, &[]);
}

/// Appends a frame of `kind` whose payload is `first` followed by `second`.
pub(crate) fn put_frame_parts(out: &mut Vec<u8>, kind: u8, first: &[u8], second: &[u8]) {
    let mut header = [0u8; HEADER_LEN];
    header[0] = kind;
    header[1..5].copy_from_slice(&((first.len() + second.len()) as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[..5]), first);
    let crc = crc32c::crc32c_append(crc, second);
    header[5..9].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(first);
    out.extend_from_slice(second);
}

/// Appends `n` as an unsigned LEB128 varint.
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends `n` zigzag-encoded as a varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, n: i64) {
    put_uvarint(out, ((n << 1) ^ (n >> 63)) as u64);
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// A cursor over a payload.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or(DecodeError("unexpected end of record"))?;
        self.buf = rest;
        Ok(b)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError("unexpected end of record"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(DecodeError("varint overflow"))
    }

    fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.uvarint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError("string length out of range"))?;
        std::str::from_utf8(self.bytes(len)?).map_err(|_| DecodeError("label is not UTF-8"))
    }
}

/// Appends one series definition to a series payload under construction.
pub(crate) fn put_series(out: &mut Vec<u8>, series_ref: SeriesRef, labels: &Labels) {
    put_uvarint(out, series_ref);
    put_uvarint(out, labels.len() as u64);
    for label in labels {
        put_uvarint(out, label.name.len() as u64);
        out.extend_from_slice(label.name.as_bytes());
        put_uvarint(out, label.value.len() as u64);
        out.extend_from_slice(label.value.as_bytes());
    }
}

/// Decodes a series payload (`count` then the definitions).
pub(crate) fn decode_series(payload: &[u8]) -> Result<Vec<(SeriesRef, Labels)>, DecodeError> {
    let mut cur = Cursor::new(payload);
    let count = cur.uvarint()?;
    let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for _ in 0..count {
        let series_ref = cur.uvarint()?;
        let n = cur.uvarint()?;
        pairs.clear();
        for _ in 0..n {
            let name = cur.str()?;
            let value = cur.str()?;
            pairs.push((name, value));
        }
        out.push((series_ref, Labels::from_pairs(pairs.iter().copied())));
    }
    if !cur.is_empty() {
        return Err(DecodeError("trailing bytes in series record"));
    }
    Ok(out)
}

/// Encoder state for one segment: the last value bits written per series.
///
/// A series absent from the map has no series record in the segment yet;
/// its next sample is written whole, after a series record.
#[derive(Default)]
pub(crate) struct SegmentEncoder {
    prev: RefMap<u64>,
}

impl SegmentEncoder {
    /// Forgets everything: the next sample of every series is written whole.
    pub(crate) fn reset(&mut self) {
        self.prev.clear();
    }

    /// The state of `series_ref`, looked up once per sample: vacant if the
    /// series has no series record in the current segment yet.
    pub(crate) fn slot(&mut self, series_ref: SeriesRef) -> Entry<'_, SeriesRef, u64> {
        self.prev.entry(series_ref)
    }
}

/// One samples record under construction: a body plus the header fields.
///
/// Layout of the payload: `uvarint count`, `varint first_t`, then per
/// sample a control byte (bit 7: ref is the previous ref + 1; bit 6: a
/// timestamp delta follows; bits 0-5: value code), a zigzag varint ref
/// delta unless bit 7, a zigzag varint `t - first_t` if bit 6, and the
/// value bytes the code calls for.
#[derive(Default)]
pub(crate) struct SamplesRecord {
    body: Vec<u8>,
    first_t: i64,
    prev_ref: SeriesRef,
    count: u64,
}

impl SamplesRecord {
    /// Empties the record, keeping its buffer.
    pub(crate) fn clear(&mut self) {
        self.body.clear();
        self.first_t = 0;
        self.prev_ref = 0;
        self.count = 0;
    }

    /// Samples pushed since the last clear.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Encodes one sample against its series' segment state, `slot` (from
    /// [`SegmentEncoder::slot`]), and updates that state.
    pub(crate) fn push(&mut self, slot: Entry<'_, SeriesRef, u64>, t: i64, v: f64) {
        let series_ref = *slot.key();
        if self.count == 0 {
            self.first_t = t;
        }
        self.count += 1;
        let bits = v.to_bits();
        let mut ctrl = 0u8;
        if series_ref == self.prev_ref.wrapping_add(1) {
            ctrl |= CTRL_REF_INC;
        }
        if t != self.first_t {
            ctrl |= CTRL_TS_DELTA;
        }
        let (code, xor) = match slot {
            Entry::Occupied(mut prev) => value_code(bits ^ prev.insert(bits)),
            Entry::Vacant(slot) => {
                slot.insert(bits);
                (VALUE_ABSOLUTE, bits)
            }
        };
        self.body.push(ctrl | code);
        if ctrl & CTRL_REF_INC == 0 {
            put_varint(
                &mut self.body,
                series_ref.wrapping_sub(self.prev_ref) as i64,
            );
        }
        if ctrl & CTRL_TS_DELTA != 0 {
            put_varint(&mut self.body, t.wrapping_sub(self.first_t));
        }
        put_value_bytes(&mut self.body, code, xor);
        self.prev_ref = series_ref;
    }

    /// Appends the record as a frame to `out`.
    pub(crate) fn frame_into(&self, out: &mut Vec<u8>) {
        let mut head = Vec::with_capacity(20);
        put_uvarint(&mut head, self.count);
        put_varint(&mut head, self.first_t);
        put_frame_parts(out, KIND_SAMPLES, &head, &self.body);
    }
}

/// The value code for an XOR result: 0 for no change, otherwise
/// `1 + leading_zero_bytes * 8 + (significant_bytes - 1)`.
fn value_code(xor: u64) -> (u8, u64) {
    if xor == 0 {
        return (0, 0);
    }
    let lz = xor.leading_zeros() / 8;
    let tz = xor.trailing_zeros() / 8;
    let len = 8 - lz - tz;
    ((1 + lz * 8 + (len - 1)) as u8, xor)
}

fn put_value_bytes(out: &mut Vec<u8>, code: u8, xor: u64) {
    let bytes = xor.to_be_bytes();
    match code {
        0 => {}
        VALUE_ABSOLUTE => out.extend_from_slice(&bytes),
        _ => {
            let lz = usize::from((code - 1) / 8);
            let len = usize::from((code - 1) % 8) + 1;
            out.extend_from_slice(&bytes[lz..lz + len]);
        }
    }
}

/// Decoder state for one segment, the mirror of [`SegmentEncoder`].
#[derive(Default)]
pub(crate) struct SegmentDecoder {
    prev: RefMap<u64>,
}

impl SegmentDecoder {
    /// Forgets all state, as at the start of a segment.
    pub(crate) fn reset(&mut self) {
        self.prev.clear();
    }

    /// The refs with a sample decoded since the last reset.
    pub(crate) fn refs(&self) -> impl Iterator<Item = SeriesRef> + '_ {
        self.prev.keys().copied()
    }

    /// Decodes a samples payload, appending to `out`.
    pub(crate) fn decode_samples(
        &mut self,
        payload: &[u8],
        out: &mut Vec<RefSample>,
    ) -> Result<(), DecodeError> {
        let mut cur = Cursor::new(payload);
        let count = cur.uvarint()?;
        let first_t = cur.varint()?;
        out.reserve(count.min(1 << 20) as usize);
        let mut prev_ref: SeriesRef = 0;
        for _ in 0..count {
            let ctrl = cur.byte()?;
            let series_ref = if ctrl & CTRL_REF_INC != 0 {
                prev_ref.wrapping_add(1)
            } else {
                prev_ref.wrapping_add(cur.varint()? as u64)
            };
            let t = if ctrl & CTRL_TS_DELTA != 0 {
                first_t.wrapping_add(cur.varint()?)
            } else {
                first_t
            };
            let code = ctrl & CTRL_VALUE;
            let bits = if code == VALUE_ABSOLUTE {
                let raw = cur.bytes(8)?;
                let mut b = [0u8; 8];
                b.copy_from_slice(raw);
                u64::from_be_bytes(b)
            } else {
                let prev = *self.prev.get(&series_ref).ok_or(DecodeError(
                    "delta value for a series with no earlier value",
                ))?;
                if code == 0 {
                    prev
                } else {
                    let lz = usize::from((code - 1) / 8);
                    let len = usize::from((code - 1) % 8) + 1;
                    if lz + len > 8 {
                        return Err(DecodeError("bad value code"));
                    }
                    let mut b = [0u8; 8];
                    b[lz..lz + len].copy_from_slice(cur.bytes(len)?);
                    prev ^ u64::from_be_bytes(b)
                }
            };
            self.prev.insert(series_ref, bits);
            out.push(RefSample {
                series_ref,
                t,
                v: f64::from_bits(bits),
            });
            prev_ref = series_ref;
        }
        if !cur.is_empty() {
            return Err(DecodeError("trailing bytes in samples record"));
        }
        Ok(())
    }

    /// Decodes one frame's payload into a record; `None` for kinds readers
    /// skip (checkpoint header, kinds from newer versions).
    pub(crate) fn decode(
        &mut self,
        kind: u8,
        payload: &[u8],
    ) -> Result<Option<Record>, DecodeError> {
        match kind {
            KIND_SERIES => Ok(Some(Record::Series(decode_series(payload)?))),
            KIND_SAMPLES => {
                let mut samples = Vec::new();
                self.decode_samples(payload, &mut samples)?;
                Ok(Some(Record::Samples(samples)))
            }
            _ => Ok(None),
        }
    }
}

/// Number of samples a samples payload holds (its leading count).
pub(crate) fn samples_count(payload: &[u8]) -> u64 {
    Cursor::new(payload).uvarint().unwrap_or(0)
}

/// Smallest and largest timestamp of a decoded batch.
pub(crate) fn time_bounds(samples: &[RefSample]) -> Option<(i64, i64)> {
    samples.iter().fold(None, |acc, s| match acc {
        None => Some((s.t, s.t)),
        Some((lo, hi)) => Some((lo.min(s.t), hi.max(s.t))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{is_stale_nan, stale_nan};

    fn round_trip(batches: &[Vec<(SeriesRef, i64, f64)>]) -> (usize, Vec<Vec<RefSample>>) {
        let mut enc = SegmentEncoder::default();
        let mut dec = SegmentDecoder::default();
        let mut bytes = 0;
        let mut got = Vec::new();
        let mut buf = Vec::new();
        let mut rec = SamplesRecord::default();
        for batch in batches {
            rec.clear();
            for (r, t, v) in batch {
                rec.push(enc.slot(*r), *t, *v);
            }
            buf.clear();
            rec.frame_into(&mut buf);
            bytes += buf.len() - HEADER_LEN;
            let mut out = Vec::new();
            dec.decode_samples(&buf[HEADER_LEN..], &mut out).unwrap();
            got.push(out);
        }
        (bytes, got)
    }

    #[test]
    fn samples_round_trip_bit_exact() {
        let weird = [
            0.0,
            -0.0,
            f64::NAN,
            stale_nan(),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            1e308,
            123.456,
        ];
        let batches: Vec<Vec<_>> = (0..4)
            .map(|i| {
                weird
                    .iter()
                    .enumerate()
                    .map(|(j, _)| {
                        (
                            (j as u64 * 3) % 7 + 1 + (i % 2),
                            1000 + i as i64 * 15 - j as i64,
                            weird[(j + i as usize) % weird.len()],
                        )
                    })
                    .collect()
            })
            .collect();
        let (_, got) = round_trip(&batches);
        for (batch, out) in batches.iter().zip(&got) {
            assert_eq!(batch.len(), out.len());
            for (want, have) in batch.iter().zip(out) {
                assert_eq!(want.0, have.series_ref);
                assert_eq!(want.1, have.t);
                assert_eq!(want.2.to_bits(), have.v.to_bits());
            }
        }
        assert!(is_stale_nan(got[0][3].v));
    }

    #[test]
    fn dense_hashes_keep_neighbours_together_and_spread_the_probe_filter() {
        let top_7 = |h: u64| (h as usize) >> (usize::BITS - 7);
        let low = |h: u64| h & ((1 << (usize::BITS - 7)) - 1);
        let filters: std::collections::HashSet<usize> =
            (1..=256).map(|r| top_7(dense_hash(r, r))).collect();
        assert!(filters.len() > 64, "{} filter values", filters.len());
        for r in [1u64, 63, 64, 1 << 20] {
            assert_eq!(low(dense_hash(r, r)), r);
            assert_eq!(low(dense_hash(r + 1, r + 1)), r + 1);
        }
    }

    #[test]
    fn unchanged_consecutive_series_cost_one_byte() {
        let batch: Vec<_> = (1..=100).map(|r| (r, 5000, r as f64)).collect();
        let (first, _) = round_trip(std::slice::from_ref(&batch));
        let (both, _) = round_trip(&[
            batch.clone(),
            batch.iter().map(|s| (s.0, 20000, s.2)).collect(),
        ]);
        // Second batch: count, first_t, then one control byte per sample.
        assert_eq!(both - first, 1 + 3 + 100);
    }

    #[test]
    fn frames_detect_damage() {
        let mut buf = Vec::new();
        put_frame(&mut buf, KIND_SERIES, b"hello");
        assert!(matches!(
            parse_frame(&buf),
            Frame::Record {
                kind: KIND_SERIES,
                len: 14,
                ..
            }
        ));
        assert_eq!(parse_frame(&buf[..10]), Frame::Incomplete);
        let mut bad = buf.clone();
        bad[11] ^= 1;
        assert_eq!(parse_frame(&bad), Frame::Corrupt("checksum mismatch"));
        bad = buf.clone();
        bad[0] = 0;
        assert_eq!(parse_frame(&bad), Frame::Corrupt("zero record kind"));
    }

    #[test]
    fn series_round_trip() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "é")]);
        let mut p = Vec::new();
        put_uvarint(&mut p, 2);
        put_series(&mut p, 7, &l);
        put_series(&mut p, 1 << 40, &Labels::empty());
        assert_eq!(
            decode_series(&p).unwrap(),
            vec![(7, l), (1 << 40, Labels::empty())]
        );
        assert!(decode_series(&p[..p.len() - 1]).is_err());
    }
}
