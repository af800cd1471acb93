//! The loop body allocates nothing per sample in steady state: a counting
//! global allocator watches `LoopState::append` and `report` over the
//! node_exporter fixture once the scrape cache is warm.
//!
//! The counting allocator (tests/common/counting_alloc.rs) needs `unsafe`,
//! which the library forbids; this test binary is its own crate.
#![allow(unsafe_code)]

use edgescrape::scrape::{LoopState, ScrapeCache};

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
    let mut state = fixture::node_state(ScrapeCache::new());
    let mut sink = memstore::Sink::default();
    let mut ts = 0;
    let mut scrape = |state: &mut LoopState, body: &[u8], sink: &mut memstore::Sink| {
        ts += 15_000;
        fixture::scrape(state, sink, body, ts)
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
