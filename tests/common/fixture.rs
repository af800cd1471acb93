//! The node_exporter fixture: nine real `/metrics` bodies of
//! prometheus-node-exporter 1.5.0 taken 15 s apart, and the loop state the
//! scrape benchmark and allocation test run them through.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use edgescrape::labels::Labels;
use edgescrape::relabel::RelabelConfig;
use edgescrape::scrape::{LoopSettings, LoopState, ScrapeCache, ScrapeMetrics, Target};
use edgescrape::storage::Appender;

use super::memstore::Sink;

/// The content type node_exporter answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The nine bodies, in scrape order.
pub fn node_exporter_bodies() -> Vec<Vec<u8>> {
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/fixtures/node_exporter_9x15s.prom.gz"
    ))
    .expect("fixture present");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gzip text");
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("# edgescrape-fixture scrape") {
            bodies.push(Vec::new());
        } else if let Some(body) = bodies.last_mut() {
            body.extend_from_slice(line.as_bytes());
        }
    }
    bodies
}

/// A node_exporter target's loop state with `cache`: honor_timestamps, a
/// sample limit, and a metric relabel rule dropping the `go_gc_*` series
/// as a typical config would.
pub fn node_state(cache: ScrapeCache) -> LoopState {
    let target = Target::new(
        Labels::from_pairs([
            ("__address__", "127.0.0.1:9100"),
            ("__metrics_path__", "/metrics"),
            ("__scheme__", "http"),
            ("instance", "127.0.0.1:9100"),
            ("job", "node"),
        ]),
        Labels::empty(),
        &BTreeMap::new(),
    );
    let drop_go: Vec<RelabelConfig> =
        serde_yaml::from_str("- source_labels: [__name__]\n  regex: go_gc_.*\n  action: drop\n")
            .expect("relabel rule");
    let settings = LoopSettings {
        job: "node".to_string(),
        honor_timestamps: true,
        sample_limit: 10_000,
        metric_relabel: drop_go,
        ..LoopSettings::default()
    };
    LoopState::new(
        Arc::new(target),
        Arc::new(settings),
        Arc::new(ScrapeMetrics::default()),
        Duration::from_secs(10),
        cache,
    )
}

/// One scrape's loop body at `ts` into `sink`: append, report, commit.
/// Returns the samples in the body.
pub fn scrape(state: &mut LoopState, sink: &mut Sink, body: &[u8], ts: i64) -> u64 {
    let out = state.append(sink, body, CONTENT_TYPE, ts);
    assert_eq!(out.error, None);
    state
        .report(
            sink,
            ts,
            Duration::from_millis(3),
            &out,
            body.len() as i64,
            true,
        )
        .expect("report");
    sink.commit().expect("commit");
    out.total
}
