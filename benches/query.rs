//! Query latency over one hour of ten node_exporter targets: the series of
//! tests/fixtures/node_exporter.prom under ten `instance`s, scraped every
//! 15 s for an hour (240 samples a series), queried as `/graph` asks for a
//! 1 h range (250 points, step 15 s). Samples are served from memory by a
//! select function that copies them out as the head's does, so the figure
//! is evaluation plus copying, without reading the WAL from disk.
//!
//! `cargo bench --bench query`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use edgescrape::labels::Labels;
use edgescrape::promql::{range_query, Limits};
use edgescrape::storage::selector::{matches_all, parse_selector, Matcher};

const TARGETS: usize = 10;
const INTERVAL_MS: i64 = 15_000;
const HOUR_MS: i64 = 3_600_000;
const END_MS: i64 = 1_700_000_000_000;

type Series = (Labels, Vec<(i64, f64)>);

/// One hour of every fixture series for each target.
fn hour_of_node_exporters() -> Vec<Series> {
    let text = include_str!("../tests/fixtures/node_exporter.prom");
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((metric, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(matchers) = parse_selector(metric) else {
            continue;
        };
        let base: f64 = value.parse().unwrap_or(0.0);
        for target in 0..TARGETS {
            let instance = format!("10.0.0.{target}:9100");
            let mut pairs: Vec<(&str, &str)> = matchers
                .iter()
                .map(|m| (m.name.as_str(), m.value.as_str()))
                .collect();
            pairs.extend([("instance", instance.as_str()), ("job", "node")]);
            let samples = (0..HOUR_MS / INTERVAL_MS)
                .map(|i| {
                    let t = END_MS - HOUR_MS + i * INTERVAL_MS;
                    (t, base + (i as f64) * (1.0 + target as f64 * 0.1))
                })
                .collect();
            out.push((Labels::from_pairs(pairs), samples));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let data = hour_of_node_exporters();
    let samples: usize = data.iter().map(|(_, s)| s.len()).sum();
    eprintln!("{} series, {samples} samples", data.len());
    let select = |m: &[Matcher], mint: i64, maxt: i64| -> Result<Vec<Series>, String> {
        Ok(data
            .iter()
            .filter(|(l, _)| matches_all(m, l))
            .map(|(l, s)| {
                let lo = s.partition_point(|&(t, _)| t < mint);
                let hi = s.partition_point(|&(t, _)| t <= maxt);
                (l.clone(), s[lo..hi].to_vec())
            })
            .collect())
    };
    let limits = Limits::default();
    let mut group = c.benchmark_group("query_range_1h_10_node_exporters");
    group.sample_size(20);
    for q in [
        "node_load1",
        "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))",
        "avg_over_time(node_memory_MemAvailable_bytes[5m]) / 1024 / 1024",
        "max by (instance) (irate(node_network_receive_bytes_total[1m]))",
        "count({__name__=~\"node_.+\"})",
    ] {
        group.bench_function(q, |b| {
            b.iter(|| {
                let r = range_query(q, END_MS - HOUR_MS, END_MS, INTERVAL_MS, &limits, &select);
                black_box(r.expect("query"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
