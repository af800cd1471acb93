//! The remote_write 1.0 body: a protobuf `WriteRequest` compressed with
//! snappy's block format (not the framed stream format), as Prometheus's
//! `storage/remote/codec.go`.
//!
//! [`WriteRequestEncoder`] writes each `TimeSeries` straight from the
//! series' shared [`Labels`] (the one allocation the head and the WAL's
//! series table hold), into buffers it keeps between requests, so a shard
//! allocates nothing per sample in steady state. A protobuf copy of every
//! series' labels kept per queue cost about 130 bytes per series; encoding
//! at send time costs a walk over a few labels per sample instead. Like
//! Prometheus it sends one `TimeSeries` per sample. Both `Sample` fields are always
//! written, even when zero: a decoder reads the same values, and every NaN
//! (stale markers) keeps its exact bit pattern; `-0.0` is sent as `+0.0`,
//! which is what a receiver reads from Prometheus.

use std::fmt;

use prost::Message;

use super::prompb::WriteRequest;
use crate::labels::{Label, Labels};
use crate::storage::wal::codec::put_uvarint;

/// Wire type of length-delimited fields.
const LEN: u8 = 2;
/// Wire type of 64-bit fixed fields.
const FIXED64: u8 = 1;
/// Wire type of varint fields.
const VARINT: u8 = 0;

const fn key(field: u8, wire_type: u8) -> u8 {
    (field << 3) | wire_type
}

/// Encodes and compresses write requests, reusing its buffers.
///
/// Owned by one shard thread; not shared.
pub struct WriteRequestEncoder {
    /// The uncompressed protobuf of the last request.
    proto: Vec<u8>,
    /// The snappy block of the last request.
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl fmt::Debug for WriteRequestEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteRequestEncoder")
            .field("proto_capacity", &self.proto.capacity())
            .field("compressed_capacity", &self.compressed.capacity())
            .finish()
    }
}

/// Why a request body could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// Snappy refused the input (larger than its 4 GiB block limit).
    Compress(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Compress(e) => write!(f, "snappy compression of write request: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {}

impl Default for WriteRequestEncoder {
    fn default() -> WriteRequestEncoder {
        WriteRequestEncoder::new()
    }
}

impl WriteRequestEncoder {
    /// An encoder with empty buffers; they grow to the largest request seen.
    pub fn new() -> WriteRequestEncoder {
        WriteRequestEncoder {
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// Builds the compressed body of a request holding one `TimeSeries` per
    /// `(labels, timestamp_ms, value)`, in the given order. The returned
    /// slice lives until the next call.
    pub fn encode<'a, I>(&mut self, samples: I) -> Result<&[u8], EncodeError>
    where
        I: IntoIterator<Item = (&'a Labels, i64, f64)>,
    {
        self.proto.clear();
        for (labels, t, v) in samples {
            put_time_series(&mut self.proto, labels, t, v);
        }
        let max = snap::raw::max_compress_len(self.proto.len());
        if max == 0 && !self.proto.is_empty() {
            return Err(EncodeError::Compress(format!(
                "{} bytes exceed the block limit",
                self.proto.len()
            )));
        }
        self.compressed.resize(max, 0);
        let n = self
            .snappy
            .compress(&self.proto, &mut self.compressed)
            .map_err(|e| EncodeError::Compress(e.to_string()))?;
        self.compressed.truncate(n);
        Ok(&self.compressed)
    }

    /// Size of the last request before compression.
    pub fn uncompressed_len(&self) -> usize {
        self.proto.len()
    }
}

/// Bytes kept for a `TimeSeries` length before its length is known: two
/// varint bytes hold up to 16 KiB, more than any series but a huge one.
const SERIES_LEN_GUESS: usize = 2;

/// Writes one `TimeSeries` in one pass over the labels: the length prefix
/// is written after the body, which moves only if its varint is not
/// [`SERIES_LEN_GUESS`] bytes long.
fn put_time_series(buf: &mut Vec<u8>, labels: &Labels, t: i64, v: f64) {
    buf.push(key(1, LEN));
    let len_at = buf.len();
    buf.resize(len_at + SERIES_LEN_GUESS, 0);
    let body_at = buf.len();
    for l in labels {
        buf.push(key(1, LEN));
        put_uvarint(buf, label_len(l) as u64);
        put_string_field(buf, 1, l.name);
        put_string_field(buf, 2, l.value);
    }
    let sample_len = 1 + 8 + 1 + varint_len(t as u64);
    buf.push(key(2, LEN));
    put_uvarint(buf, sample_len as u64);
    buf.push(key(1, FIXED64));
    buf.extend_from_slice(&prometheus_wire_value(v).to_bits().to_le_bytes());
    buf.push(key(2, VARINT));
    put_uvarint(buf, t as u64);

    let mut prefix = [0u8; 10];
    let n = varint_into(&mut prefix, (buf.len() - body_at) as u64);
    if n == SERIES_LEN_GUESS {
        buf[len_at..body_at].copy_from_slice(&prefix[..n]);
    } else {
        buf.splice(len_at..body_at, prefix[..n].iter().copied());
    }
}

/// Writes `x` as a protobuf varint at the start of `out`; returns its length.
fn varint_into(out: &mut [u8; 10], mut x: u64) -> usize {
    let mut n = 0;
    while x >= 0x80 {
        out[n] = (x as u8) | 0x80;
        x >>= 7;
        n += 1;
    }
    out[n] = x as u8;
    n + 1
}

/// The value as Prometheus's encoder delivers it: gogo protobuf leaves a
/// zero value out and the receiver reads +0, so `-0` arrives as `+0`.
fn prometheus_wire_value(v: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else {
        v
    }
}

/// Length of a `Label` message's body.
fn label_len(l: Label<'_>) -> usize {
    string_field_len(l.name) + string_field_len(l.value)
}

fn string_field_len(s: &str) -> usize {
    1 + varint_len(s.len() as u64) + s.len()
}

#[inline]
fn put_string_field(buf: &mut Vec<u8>, field: u8, s: &str) {
    buf.push(key(field, LEN));
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not a snappy block.
    Snappy(String),
    /// The decompressed bytes are not a `WriteRequest`.
    Protobuf(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Snappy(e) => write!(f, "write request body is not snappy: {e}"),
            DecodeError::Protobuf(e) => write!(f, "write request is not valid protobuf: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decompresses and decodes a remote_write body, as a receiver does
/// (Prometheus's `DecodeWriteRequest`).
pub fn decode_write_request(body: &[u8]) -> Result<WriteRequest, DecodeError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::prompb::{Label, Sample, TimeSeries};
    use super::*;
    use crate::storage::stale_nan;
    use proptest::prelude::*;

    fn expected(samples: &[(Labels, i64, f64)]) -> WriteRequest {
        WriteRequest {
            timeseries: samples
                .iter()
                .map(|(l, t, v)| TimeSeries {
                    labels: l
                        .iter()
                        .map(|l| Label {
                            name: l.name.to_string(),
                            value: l.value.to_string(),
                        })
                        .collect(),
                    samples: vec![Sample {
                        value: prometheus_wire_value(*v),
                        timestamp: *t,
                    }],
                })
                .collect(),
            metadata: Vec::new(),
        }
    }

    #[track_caller]
    fn round_trip(samples: &[(Labels, i64, f64)]) {
        let mut enc = WriteRequestEncoder::new();
        let body = enc
            .encode(samples.iter().map(|(l, t, v)| (l, *t, *v)))
            .unwrap()
            .to_vec();
        let got = decode_write_request(&body).unwrap();
        let want = expected(samples);
        assert_eq!(got.timeseries.len(), want.timeseries.len());
        for (g, w) in got.timeseries.iter().zip(&want.timeseries) {
            assert_eq!(g.labels, w.labels);
            assert_eq!(g.samples.len(), 1);
            assert_eq!(g.samples[0].timestamp, w.samples[0].timestamp);
            assert_eq!(g.samples[0].value.to_bits(), w.samples[0].value.to_bits());
        }
        // Where prost writes every field (no zero value or timestamp, which
        // proto3 leaves out), its bytes and ours are the same.
        if samples.iter().all(|(_, t, v)| *t != 0 && *v != 0.0) {
            let ours = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
            assert_eq!(ours, want.encode_to_vec());
        }
    }

    #[test]
    fn negative_zero_arrives_as_positive_zero_as_from_prometheus() {
        let l = Labels::from_pairs([("__name__", "v_neg")]);
        let mut enc = WriteRequestEncoder::new();
        let body = enc.encode([(&l, 1, -0.0)]).unwrap().to_vec();
        let got = decode_write_request(&body).unwrap();
        assert_eq!(
            got.timeseries[0].samples[0].value.to_bits(),
            0.0f64.to_bits()
        );
    }

    #[test]
    fn edge_values_keep_their_bits() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        round_trip(&[
            (l.clone(), 0, 0.0),
            (l.clone(), -1, -0.0),
            (l.clone(), i64::MIN, f64::INFINITY),
            (l.clone(), i64::MAX, stale_nan()),
            (l.clone(), 1, 2.0),
            (l.clone(), 1_700_000_000_000, f64::NAN),
            (Labels::empty(), 5, 1.5),
            // A length prefix of three varint bytes.
            (Labels::from_pairs([("big", "x".repeat(20_000))]), 7, 1.0),
        ]);
    }

    #[test]
    fn buffers_are_reused_and_an_empty_request_is_valid() {
        let mut enc = WriteRequestEncoder::new();
        let l = Labels::from_pairs([("a", "b".repeat(300))]);
        enc.encode([(&l, 1, 2.0)]).unwrap();
        let cap = enc.proto.capacity();
        enc.encode([(&l, 3, 4.0)]).unwrap();
        assert_eq!(enc.proto.capacity(), cap);
        let body = enc.encode(std::iter::empty()).unwrap().to_vec();
        assert_eq!(
            decode_write_request(&body).unwrap(),
            WriteRequest::default()
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(matches!(
            decode_write_request(b"not snappy at all"),
            Err(DecodeError::Snappy(_))
        ));
        let body = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 0xff])
            .unwrap();
        assert!(matches!(
            decode_write_request(&body),
            Err(DecodeError::Protobuf(_))
        ));
    }

    proptest! {
        #[test]
        fn matches_prost(
            series in proptest::collection::vec(
                (
                    proptest::collection::btree_map("[a-z_][a-z0-9_]{0,20}", "\\PC{1,200}", 0..8),
                    any::<i64>(),
                    any::<f64>(),
                ),
                0..20,
            )
        ) {
            let samples: Vec<(Labels, i64, f64)> = series
                .into_iter()
                .map(|(m, t, v)| (Labels::from_pairs(m), t, v))
                .collect();
            round_trip(&samples);
        }
    }
}
