//! The node_exporter fixture shared with the storage bench: nine real
//! `/metrics` bodies of prometheus-node-exporter 1.5.0 taken 15 s apart.

#![allow(dead_code)]

use std::io::Read;

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
