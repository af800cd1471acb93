//! The loop body allocates nothing per sample in steady state: a counting
//! global allocator watches `LoopState::append` and `report` over the
//! node_exporter fixture once the scrape cache is warm.
//!
//! The library forbids `unsafe`; a `GlobalAlloc` implementation needs it,
//! and this test binary is its own crate, so the counting allocator lives
//! here and nowhere else.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
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

thread_local! {
    /// Allocations made by this thread; const-initialised, so reading it
    /// never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// thread-local counter is a plain `Cell` that needs no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

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
