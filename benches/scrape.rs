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
//! Run: `cargo bench --bench scrape`. Besides criterion's figures it prints
//! nanoseconds per sample for each case, by the wall clock and on the CPU
//! (the thread's scheduler time, which a busy machine does not inflate).

use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use edgescrape::scrape::ScrapeCache;
use edgescrape::textparse::{Entry, Parser};

#[path = "../tests/common/fixture.rs"]
mod fixture;
#[path = "../tests/common/memstore.rs"]
mod memstore;

use fixture::{node_state as state, scrape, CONTENT_TYPE};

/// The parser's share: every entry read and every sample's series bytes,
/// timestamp and value taken, as the loop does on a warm cache.
fn parse_only(body: &[u8]) -> u64 {
    let mut parser = Parser::new(body, CONTENT_TYPE);
    let mut samples = 0;
    while let Some(entry) = parser.next() {
        if let Ok(Entry::Series) = entry {
            black_box(parser.series());
            samples += 1;
        }
    }
    samples
}

/// Nanoseconds this thread has spent on a CPU (the first field of
/// /proc/thread-self/schedstat), so the figure holds on a busy machine.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Nanoseconds per sample over `rounds` passes, wall clock and on-CPU,
/// printed for the notes.
fn ns_per_sample(name: &str, rounds: usize, mut pass: impl FnMut() -> u64) {
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let mut samples = 0;
    for _ in 0..rounds {
        samples += pass();
    }
    let wall = start.elapsed().as_nanos() as f64 / samples as f64;
    let cpu = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.1}", (b - a) as f64 / samples as f64),
        _ => "n/a".to_string(),
    };
    eprintln!(
        "scrape/{name}: {wall:.1} ns/sample wall, {cpu} ns/sample on CPU, over {samples} samples"
    );
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
