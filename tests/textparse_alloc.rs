//! `next()` and `series()` allocate nothing per series: a counting global
//! allocator watches a whole pass over 10,000 series.
//!
//! The counting allocator (tests/common/counting_alloc.rs) needs `unsafe`,
//! which the library forbids; this test binary is its own crate.
#![allow(unsafe_code)]

use edgescrape::labels::LabelsBuilder;
use edgescrape::textparse::{Entry, Parser};

#[path = "fixtures/synthetic.rs"]
mod synthetic;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// Allocations made while reading every entry and every series of `buf`,
/// and the number of series.
fn pass(buf: &[u8], content_type: &str) -> (usize, usize) {
    let before = allocations();
    let mut p = Parser::new(buf, content_type);
    let mut series = 0;
    let mut bytes = 0;
    while let Some(entry) = p.next() {
        if let Ok(Entry::Series) = entry {
            let (m, _, _) = p.series();
            bytes += m.len();
            series += 1;
        } else {
            assert!(entry.is_ok(), "{entry:?}");
        }
    }
    assert!(bytes > 0);
    (allocations() - before, series)
}

#[test]
fn next_and_series_do_not_allocate_per_series() {
    let text = synthetic::exposition(10_000, false);
    let om = synthetic::exposition(10_000, true);
    for (buf, content_type) in [
        (&text[..], "text/plain; version=0.0.4"),
        (&om[..], "application/openmetrics-text; version=1.0.0"),
    ] {
        let (allocs, series) = pass(buf, content_type);
        assert_eq!(series, 10_000);
        // Only the parser's reused label-offset vector grows, a handful of
        // times per scrape, whatever the number of series.
        assert!(
            allocs <= 8,
            "{content_type}: {allocs} allocations for {series} series"
        );
    }
    // The counter does count: decoding labels allocates.
    let before = allocations();
    let mut p = Parser::new(b"a{b=\"c\"} 1\n", "");
    assert!(matches!(p.next(), Some(Ok(Entry::Series))));
    let lset = p.labels(&mut LabelsBuilder::default());
    assert!(allocations() > before, "labels() allocates: {lset}");
}
