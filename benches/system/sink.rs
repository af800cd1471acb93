//! The remote_write sink: one HTTP server, one path per scraper, counting
//! samples by the second of their timestamp.
//!
//! Counting by timestamp lets the benchmark credit exactly the samples
//! scraped inside the measured window, however late they arrive, and none
//! of a warm-up backlog. Requests are snappy-decompressed and walked as raw
//! protobuf, never decoded into messages, so the sink stays cheap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How many seconds of timestamps each scraper's counters cover.
const SECONDS_KEPT: usize = 4 * 3600;
/// Threads answering remote_write requests.
const THREADS: usize = 4;

/// Samples received per scraper, by timestamp second since `base`.
pub struct Counts {
    base: i64,
    per_second: Vec<AtomicU64>,
    outside: AtomicU64,
}

impl Counts {
    fn new(base: i64) -> Counts {
        Counts {
            base,
            per_second: (0..SECONDS_KEPT).map(|_| AtomicU64::new(0)).collect(),
            outside: AtomicU64::new(0),
        }
    }

    fn add(&self, timestamp_ms: i64) {
        let slot = timestamp_ms.div_euclid(1000) - self.base;
        match usize::try_from(slot)
            .ok()
            .and_then(|s| self.per_second.get(s))
        {
            Some(counter) => counter.fetch_add(1, Ordering::Relaxed),
            None => self.outside.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Samples whose timestamps fall in `[from, to)` (unix seconds).
    pub fn between(&self, from: i64, to: i64) -> u64 {
        (from..to)
            .filter_map(|s| usize::try_from(s - self.base).ok())
            .filter_map(|s| self.per_second.get(s))
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

/// The running sink.
pub struct Sink {
    port: u16,
    counts: Arc<Vec<Counts>>,
    _server: Arc<tiny_http::Server>,
}

impl Sink {
    /// Starts a sink with one path per scraper, `/write/0` to `/write/{scrapers-1}`.
    pub fn start(scrapers: usize, base_unix_seconds: i64) -> Sink {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind sink"));
        let port = server.server_addr().to_ip().map(|a| a.port()).expect("tcp");
        let counts: Arc<Vec<Counts>> = Arc::new(
            (0..scrapers)
                .map(|_| Counts::new(base_unix_seconds))
                .collect(),
        );
        for i in 0..THREADS {
            let server = Arc::clone(&server);
            let counts = Arc::clone(&counts);
            std::thread::Builder::new()
                .name(format!("bench sink {i}"))
                .spawn(move || serve(&server, &counts))
                .expect("spawn sink thread");
        }
        Sink {
            port,
            counts,
            _server: server,
        }
    }

    /// The remote_write URL of scraper `index`.
    pub fn url(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}/write/{index}", self.port)
    }

    /// Counts of scraper `index`.
    pub fn counts(&self, index: usize) -> &Counts {
        &self.counts[index]
    }
}

fn serve(server: &tiny_http::Server, counts: &[Counts]) {
    let mut body = Vec::new();
    let mut raw = Vec::new();
    let mut decoder = snap::raw::Decoder::new();
    for mut request in server.incoming_requests() {
        let target = request
            .url()
            .strip_prefix("/write/")
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| counts.get(i));
        body.clear();
        let decoded = std::io::Read::read_to_end(request.as_reader(), &mut body).is_ok()
            && snap::raw::decompress_len(&body)
                .map(|len| raw.resize(len, 0))
                .is_ok()
            && decoder.decompress(&body, &mut raw).is_ok();
        let status = match target {
            Some(counts) if decoded => {
                for_each_sample_timestamp(&raw, |ts| counts.add(ts));
                204
            }
            Some(_) => 400,
            None => 404,
        };
        let _ = request.respond(tiny_http::Response::empty(status));
    }
}

/// Reads a protobuf varint at `*i`.
fn varint(buf: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*i)?;
        *i += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Walks the fields of one protobuf message in `buf`, calling `field(number,
/// bytes)` for each length-delimited field and `varint_field(number, value)`
/// for each varint; stops at the first malformed field.
fn walk(buf: &[u8], mut field: impl FnMut(u64, &[u8]), mut varint_field: impl FnMut(u64, u64)) {
    let mut i = 0;
    while i < buf.len() {
        let Some(key) = varint(buf, &mut i) else {
            return;
        };
        match key & 7 {
            0 => match varint(buf, &mut i) {
                Some(v) => varint_field(key >> 3, v),
                None => return,
            },
            1 => i += 8,
            5 => i += 4,
            2 => {
                let Some(len) = varint(buf, &mut i) else {
                    return;
                };
                let Some(bytes) = buf.get(i..i.saturating_add(len as usize)) else {
                    return;
                };
                field(key >> 3, bytes);
                i += bytes.len();
            }
            _ => return,
        }
    }
}

/// Calls `each` with the timestamp (ms) of every sample in a WriteRequest:
/// `timeseries` (field 1) → `samples` (field 2) → `timestamp` (field 2).
fn for_each_sample_timestamp(request: &[u8], mut each: impl FnMut(i64)) {
    walk(
        request,
        |number, series| {
            if number == 1 {
                walk(
                    series,
                    |number, sample| {
                        if number == 2 {
                            let mut ts = 0;
                            walk(
                                sample,
                                |_, _| {},
                                |n, v| ts = if n == 2 { v as i64 } else { ts },
                            );
                            each(ts);
                        }
                    },
                    |_, _| {},
                );
            }
        },
        |_, _| {},
    );
}
