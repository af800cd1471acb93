//! The loop body allocates nothing per sample in steady state: a counting
//! global allocator watches `LoopState::append` and `report` over the
//! node_exporter fixture once the scrape cache is warm.
//!
//! The counting allocator (tests/common/counting_alloc.rs) needs `unsafe`,
//! which the library forbids; this test binary is its own crate.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use edgescrape::labels::Labels;
use edgescrape::relabel::RelabelConfig;
use edgescrape::scrape::{LoopSettings, LoopState, ScrapeCache, ScrapeMetrics, Target};
use edgescrape::storage::Appender;

#[path = "common/fixture.rs"]
mod fixture;
#[path = "common/memstore.rs"]
mod memstore;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn steady_state_scrapes_allocate_nothing_per_sample() {
    let bodies = fixture::node_exporter_bodies();
    assert_eq!(bodies.len(), 9);
    let target = Target::new(
        Labels::from_pairs([
            ("__address__", "127.0.0.1:9100"),
            ("instance", "127.0.0.1:9100"),
            ("job", "node"),
        ]),
        Labels::empty(),
        &BTreeMap::new(),
    );
    let drop_go: Vec<RelabelConfig> =
        serde_yaml::from_str("- source_labels: [__name__]\n  regex: go_gc_.*\n  action: drop\n")
            .unwrap();
    let settings = LoopSettings {
        job: "node".to_string(),
        honor_timestamps: true,
        sample_limit: 10_000,
        metric_relabel: drop_go,
        ..LoopSettings::default()
    };
    let mut state = LoopState::new(
        Arc::new(target),
        Arc::new(settings),
        Arc::new(ScrapeMetrics::default()),
        Duration::from_secs(10),
        ScrapeCache::new(),
    );
    let mut sink = memstore::Sink::default();
    let mut ts = 0;
    let mut scrape = |state: &mut LoopState, body: &[u8], sink: &mut memstore::Sink| {
        ts += 15_000;
        let out = state.append(sink, body, "text/plain; version=0.0.4", ts);
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
            .unwrap();
        sink.commit().unwrap();
        out.total
    };
    // Warm up: every series and both staleness sets seen, buffers grown.
    for body in bodies.iter().chain(bodies.iter()) {
        scrape(&mut state, body, &mut sink);
    }
    let before = allocations();
    let mut samples = 0;
    let scrapes = 2 * bodies.len();
    for body in bodies.iter().chain(bodies.iter()) {
        samples += scrape(&mut state, body, &mut sink);
    }
    let allocated = allocations() - before;
    assert!(
        samples > 18 * 500,
        "node_exporter scrapes have ~507 samples each"
    );
    // A few per scrape remain: the parser's own set-up (measured: 6 per
    // body, whatever its size), none per sample.
    assert!(
        allocated <= 8 * scrapes,
        "{allocated} allocations over {scrapes} scrapes of {samples} samples"
    );
}
