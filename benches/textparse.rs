//! Throughput of the exposition parsers: every entry of a body read with
//! `next()` and every sample with `series()`, its series checks deferred
//! and never made, as the scrape loop does on a warm scrape cache; the same
//! with every sample checked; and with `labels()` on every sample too, the
//! cold-cache case.
//!
//! Before criterion's (wall-clock) figures it prints the on-CPU throughput
//! of the warm and the checked pass on each fixture, from the thread's
//! scheduler time, which a busy machine does not inflate.
//!
//! Fixtures: the node_exporter capture (`tests/fixtures/node_exporter.*`)
//! and the synthetic 10,000-series body (`tests/fixtures/synthetic.rs`), each
//! in the Prometheus text format and in OpenMetrics.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use edgescrape::labels::LabelsBuilder;
use edgescrape::textparse::{Entry, Parser};

#[path = "common/cpu.rs"]
mod cpu;
#[path = "../tests/fixtures/synthetic.rs"]
mod synthetic;

use cpu::thread_cpu_ns;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How much of each sample a pass reads.
#[derive(Clone, Copy, Debug)]
enum Pass {
    /// The raw series, its checks deferred and never made: what the
    /// scrape loop does for a series its cache knows.
    Warm,
    /// The raw series with its checks (valid UTF-8, no label name twice).
    Checked,
    /// Checks and the label set built: a cold scrape cache.
    Cold,
}

/// Reads every entry and every series; returns the number of series.
fn parse(buf: &[u8], content_type: &str, pass: Pass) -> usize {
    let mut p = Parser::new(buf, content_type);
    if let Pass::Warm = pass {
        p.defer_series_checks();
    }
    let mut builder = LabelsBuilder::default();
    let mut series = 0;
    while let Some(entry) = p.next() {
        match entry {
            Ok(Entry::Series) => {
                let (m, t, v) = p.series();
                black_box((m, t, v));
                if let Pass::Cold = pass {
                    black_box(p.labels(&mut builder));
                }
                series += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("fixture does not parse: {e}"),
        }
    }
    series
}

/// Prints the on-CPU MB/s of `rounds` passes of kind `pass` over `buf`.
fn on_cpu_throughput(name: &str, buf: &[u8], content_type: &str, pass: Pass, rounds: usize) {
    let start = thread_cpu_ns();
    for _ in 0..rounds {
        black_box(parse(black_box(buf), content_type, pass));
    }
    let bytes = (buf.len() * rounds) as f64;
    match (start, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => eprintln!(
            "textparse/{name}/{pass:?}: {:.0} MB/s on CPU over {rounds} passes",
            bytes / (b - a) as f64 * 1e3
        ),
        _ => eprintln!("textparse/{name}/{pass:?}: no thread CPU time measured"),
    }
}

fn bench_textparse(c: &mut Criterion) {
    let fixtures: [(&str, Vec<u8>, &str); 4] = [
        (
            "node_exporter/prom",
            include_bytes!("../tests/fixtures/node_exporter.prom").to_vec(),
            TEXT,
        ),
        (
            "node_exporter/openmetrics",
            include_bytes!("../tests/fixtures/node_exporter.om").to_vec(),
            OM,
        ),
        (
            "synthetic_10k/prom",
            synthetic::exposition(10_000, false),
            TEXT,
        ),
        (
            "synthetic_10k/openmetrics",
            synthetic::exposition(10_000, true),
            OM,
        ),
    ];
    // `cargo test --all-targets` runs this binary without `--bench`.
    let benching = std::env::args().any(|a| a == "--bench");
    for (name, buf, content_type) in &fixtures {
        let rounds = if benching { 200_000_000 / buf.len() } else { 1 };
        for pass in [Pass::Warm, Pass::Checked] {
            on_cpu_throughput(name, buf, content_type, pass, rounds);
        }
    }
    let mut group = c.benchmark_group("textparse");
    for (name, buf, content_type) in &fixtures {
        let series = parse(buf, content_type, Pass::Warm);
        eprintln!("{name}: {} bytes, {series} series", buf.len());
        group.throughput(Throughput::Bytes(buf.len() as u64));
        group.bench_function(format!("{name}/series"), |b| {
            b.iter(|| parse(black_box(buf), content_type, Pass::Warm))
        });
        group.bench_function(format!("{name}/series+checks"), |b| {
            b.iter(|| parse(black_box(buf), content_type, Pass::Checked))
        });
        group.bench_function(format!("{name}/series+labels"), |b| {
            b.iter(|| parse(black_box(buf), content_type, Pass::Cold))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_textparse);
criterion_main!(benches);
