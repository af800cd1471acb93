//! The scrape loop body per sample: parse, scrape-cache lookup, metric
//! relabeling (on misses), limits, stale-marker bookkeeping and append to
//! an in-memory appender, then the report series — `LoopState::append` and
//! `report` as every scrape runs them.
//!
//! Fixture: `benches/fixtures/node_exporter_9x15s.prom.gz` (nine real
//! node_exporter bodies, 507 samples each). `steady` walks the nine bodies
//! round-robin on a warm cache, as a long-running loop does; `cold` starts
//! from an empty cache every time (a new target, or a reload that changed
//! what the series look like); `parse_only` is the parser's share of
//! `steady` (entries and series read, nothing else). The appender only collects (storage cost is
//! in `benches/storage.rs`); a metric relabel rule drops the `go_gc_*`
//! series as a typical config would.
//!
//! Two more cases go through the network path: `inflate` decompresses the
//! first body gzipped as an exporter sends it (MB/s of uncompressed
//! output), and `http_gzip` runs the whole loop body of a warm target from
//! the socket read to the appender: a real HTTP request over a kept-alive
//! loopback connection to a server on other threads (not counted) that
//! answers with the nine bodies gzipped in turn, then inflate, parse,
//! cache, append and report.
//!
//! Run: `cargo bench --bench scrape`. Besides criterion's figures it prints
//! nanoseconds per sample for each case, by the wall clock and on the CPU
//! (the thread's scheduler time, which a busy machine does not inflate).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use edgescrape::config::HttpClientConfig;
use edgescrape::http_client::HttpClient;
use edgescrape::scrape::{Counter, ScrapeCache, TargetScraper};
use edgescrape::textparse::{Entry, Parser};

#[path = "common/cpu.rs"]
mod cpu;
#[path = "../tests/common/fixture.rs"]
mod fixture;
#[path = "../tests/common/memstore.rs"]
mod memstore;
#[path = "../tests/common/plain_http.rs"]
mod plain_http;

use cpu::thread_cpu_ns;
use fixture::{node_state as state, scrape, CONTENT_TYPE};

/// The parser's share: every entry read and every sample's series bytes,
/// timestamp and value taken, its series checks deferred and never made,
/// as the loop does on a warm cache.
fn parse_only(body: &[u8]) -> u64 {
    let mut parser = Parser::new(body, CONTENT_TYPE);
    parser.defer_series_checks();
    let mut samples = 0;
    while let Some(entry) = parser.next() {
        if let Ok(Entry::Series) = entry {
            black_box(parser.series());
            samples += 1;
        }
    }
    samples
}

/// Nanoseconds per unit (what `pass` returns) over `rounds` passes, by
/// the wall clock and on the CPU.
fn ns_per_unit(rounds: usize, mut pass: impl FnMut() -> u64) -> (f64, Option<f64>, u64) {
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let mut units = 0;
    for _ in 0..rounds {
        units += pass();
    }
    let wall = start.elapsed().as_nanos() as f64 / units as f64;
    let cpu = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some((b - a) as f64 / units as f64),
        _ => None,
    };
    (wall, cpu, units)
}

/// Nanoseconds per sample over `rounds` passes, wall clock and on-CPU,
/// printed for the notes.
fn ns_per_sample(name: &str, rounds: usize, pass: impl FnMut() -> u64) {
    let (wall, cpu, samples) = ns_per_unit(rounds, pass);
    let cpu = cpu.map_or("n/a".to_string(), |c| format!("{c:.1}"));
    eprintln!(
        "scrape/{name}: {wall:.1} ns/sample wall, {cpu} ns/sample on CPU, over {samples} samples"
    );
}

/// `body` gzipped at the default level, as exporters send it.
fn gzipped(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body).expect("gzip");
    enc.finish().expect("gzip")
}

/// Decompresses `gz` into `out` as the scraper does; returns the bytes.
fn inflate(gz: &[u8], out: &mut Vec<u8>) -> u64 {
    out.clear();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(out)
        .expect("gunzip") as u64
}

/// Serves the bodies in turn over HTTP/1.1 keep-alive on 127.0.0.1, from
/// threads of its own, with `Content-Encoding: gzip` when `gzip`; returns
/// the scrape URL.
fn serve(bodies: Vec<Vec<u8>>, gzip: bool) -> String {
    let mut headers = vec![("Content-Type".into(), fixture::CONTENT_TYPE.into())];
    if gzip {
        headers.push(("Content-Encoding".into(), "gzip".into()));
    }
    let answer = plain_http::Answer {
        headers,
        keep_alive: true,
        delay: Duration::ZERO,
    };
    let addr = plain_http::serve(bodies, answer, Default::default());
    format!("http://{addr}/metrics")
}

/// The loop body of a warm target from the socket read to the appender,
/// scraping `bodies` from a local server (gzipped when `gzip`).
fn bench_http(name: &str, bodies: Vec<Vec<u8>>, gzip: bool, rounds: usize) {
    let warm_up = 2 * bodies.len();
    let url = serve(bodies, gzip);
    let client = Arc::new(HttpClient::new(&HttpClientConfig::default()).expect("client"));
    let accept: Arc<str> = Arc::from("text/plain;version=0.0.4");
    let timeout = Duration::from_secs(10);
    let opened = Arc::new(Counter::default());
    let mut scraper =
        TargetScraper::new(client, &url, accept, gzip, timeout, 0, Arc::clone(&opened));
    let mut state = state(ScrapeCache::new());
    let mut sink = memstore::Sink::default();
    let mut buf = Vec::new();
    let mut ts = 0;
    let mut pass = || {
        scraper.scrape(&mut buf).expect("scrape the local server");
        ts += 15_000;
        scrape(&mut state, &mut sink, &buf, ts)
    };
    for _ in 0..warm_up {
        pass();
    }
    ns_per_sample(name, rounds, pass);
    eprintln!("scrape/{name}: {} connection(s) opened", opened.get());
}

/// The network cases: inflate alone, and the loop body from the socket
/// with and without gzip.
fn bench_network(bodies: &[Vec<u8>], rounds: impl Fn(usize) -> usize) {
    let gz: Vec<Vec<u8>> = bodies.iter().map(|b| gzipped(b)).collect();
    let mut out = Vec::new();
    let (wall, cpu, bytes) = ns_per_unit(rounds(3000), || inflate(&gz[0], &mut out));
    let mb_s = |ns_per_byte: f64| 1e3 / ns_per_byte;
    eprintln!(
        "scrape/inflate: {:.0} MB/s wall, {} MB/s on CPU ({} bytes gzipped to {}), over {bytes} bytes",
        mb_s(wall),
        cpu.map_or("n/a".to_string(), |c| format!("{:.0}", mb_s(c))),
        bodies[0].len(),
        gz[0].len()
    );
    bench_http("http_gzip", gz, true, rounds(3000));
    bench_http("http_identity", bodies.to_vec(), false, rounds(3000));
}

fn bench_scrape(c: &mut Criterion) {
    let bodies = fixture::node_exporter_bodies();
    let per_body = bodies.iter().map(|b| b.len()).sum::<usize>() / bodies.len();
    let mut warm = state(ScrapeCache::new());
    let mut sink = memstore::Sink::default();
    let mut ts = 0i64;
    let mut samples = 0;
    for body in bodies.iter().chain(bodies.iter()) {
        ts += 15_000;
        samples = scrape(&mut warm, &mut sink, body, ts);
    }
    eprintln!(
        "fixture: {} bodies, ~{per_body} bytes and {samples} samples each",
        bodies.len()
    );

    let mut i = 0;
    // `cargo test --all-targets` runs this binary without `--bench`:
    // criterion then runs each case once, and the long passes are skipped.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds = |n: usize| if benching { n } else { 1 };
    ns_per_sample("steady", rounds(6000), || {
        ts += 15_000;
        i = (i + 1) % bodies.len();
        scrape(&mut warm, &mut sink, &bodies[i], ts)
    });
    ns_per_sample("parse_only", rounds(6000), || {
        i = (i + 1) % bodies.len();
        parse_only(&bodies[i])
    });
    ns_per_sample("cold", rounds(600), || {
        let mut fresh = state(ScrapeCache::new());
        scrape(
            &mut fresh,
            &mut memstore::Sink::default(),
            &bodies[0],
            15_000,
        )
    });

    bench_network(&bodies, rounds);

    let mut group = c.benchmark_group("scrape");
    group.throughput(Throughput::Elements(samples));
    group.bench_function("steady", |b| {
        b.iter(|| {
            ts += 15_000;
            i = (i + 1) % bodies.len();
            black_box(scrape(&mut warm, &mut sink, &bodies[i], ts))
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            i = (i + 1) % bodies.len();
            black_box(parse_only(&bodies[i]))
        })
    });
    group.bench_function("cold", |b| {
        b.iter(|| {
            let mut fresh = state(ScrapeCache::new());
            black_box(scrape(
                &mut fresh,
                &mut memstore::Sink::default(),
                &bodies[0],
                15_000,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_scrape);
criterion_main!(benches);
