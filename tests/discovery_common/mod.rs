//! Helpers shared by the discovery integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use edgescrape::config::{Config, ScrapeConfig};
use edgescrape::discovery::TargetGroup;

/// What the sync channel carries.
pub type SyncMap = HashMap<String, Vec<TargetGroup>>;

/// How long a test waits for discovery before it gives up (a hang guard,
/// not a measurement).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The scrape configs of a `prometheus.yml` text.
pub fn scrape_configs(yaml: &str) -> Vec<ScrapeConfig> {
    Config::load_str(yaml, Path::new("prometheus.yml"))
        .unwrap()
        .scrape_configs
}

/// Receives maps until `done` holds for one; returns it and how many maps
/// were received, that one included.
#[track_caller]
pub fn recv_until(rx: &Receiver<SyncMap>, done: impl Fn(&SyncMap) -> bool) -> (SyncMap, usize) {
    let deadline = Instant::now() + PATIENCE;
    let mut received = 0;
    let mut last = None;
    while let Ok(map) = rx.recv_deadline(deadline) {
        received += 1;
        if done(&map) {
            return (map, received);
        }
        last = Some(map);
    }
    panic!("no wanted map within {PATIENCE:?}; last received: {last:#?}");
}

/// The `__address__` of every target of a job's groups, sorted.
pub fn addresses(map: &SyncMap, job: &str) -> Vec<String> {
    let mut all: Vec<String> = map
        .get(job)
        .into_iter()
        .flatten()
        .flat_map(|g| &g.targets)
        .filter_map(|t| t.get("__address__").map(str::to_string))
        .collect();
    all.sort();
    all
}

/// The group with `source` in a job's groups.
pub fn group<'a>(map: &'a SyncMap, job: &str, source: &str) -> Option<&'a TargetGroup> {
    map.get(job)?.iter().find(|g| g.source == source)
}

/// Replaces a file at once (write aside, rename), so no reader sees half of it.
pub fn write_file(path: &Path, content: &str) {
    let aside = path.with_extension("partial");
    std::fs::write(&aside, content).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// A YAML file SD file with one group of `targets`.
pub fn yaml_group(targets: &[&str]) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!("- targets: [{}]\n", list.join(", "))
}
