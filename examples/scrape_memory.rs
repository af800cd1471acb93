//! Resident memory of the scrape runtime with 100 node_exporter targets.
//!
//! One local HTTP server answers every target with the first body of the
//! node_exporter fixture (507 samples, ~60 kB); 100 targets (one label
//! apart) are scraped every second by 100 loop threads into a storage that
//! only counts, so the figures are the scraper's own: caches, label sets,
//! buffers, thread stacks. It prints VmRSS before and after, the threads,
//! and how much of each loop thread's stack was touched (from
//! /proc/self/smaps: resident pages of the stack mappings).
//!
//! Run: `cargo run --release --example scrape_memory`

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use edgescrape::config::Config;
use edgescrape::discovery::TargetGroup;
use edgescrape::labels::Labels;
use edgescrape::scrape::{Manager, Options, LOOP_STACK_SIZE};

#[path = "../tests/common/fixture.rs"]
mod fixture;
#[path = "../tests/common/memstore.rs"]
mod memstore;

const TARGETS: usize = 100;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_string())
        .unwrap_or_default()
}

/// Resident kB of every private read-write mapping as large as a loop
/// thread's stack (glibc puts the guard page inside the allocation).
fn stack_rss_kb() -> Vec<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let stack_kb = (LOOP_STACK_SIZE / 1024) as u64;
    let mut out = Vec::new();
    let mut header_ok = false;
    let mut size_ok = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let fields: Vec<&str> = line.split_whitespace().collect();
            header_ok = fields.get(1) == Some(&"rw-p") && fields.len() == 5;
            size_ok = false;
        } else if let Some(v) = line.strip_prefix("Size:") {
            let kb: u64 = v.trim().trim_end_matches(" kB").parse().unwrap_or(0);
            size_ok = kb == stack_kb || kb + 4 == stack_kb;
        } else if let Some(v) = line.strip_prefix("Rss:") {
            if header_ok && size_ok {
                out.push(v.trim().trim_end_matches(" kB").parse().unwrap_or(0));
            }
        }
    }
    out
}

fn main() {
    let body = fixture::node_exporter_bodies().swap_remove(0);
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
    let addr = server.server_addr().to_ip().expect("ip").to_string();
    for _ in 0..4 {
        let server = Arc::clone(&server);
        let body = body.clone();
        std::thread::spawn(move || {
            while let Ok(request) = server.recv() {
                let _ = request.respond(tiny_http::Response::from_data(body.clone()));
            }
        });
    }
    let baseline_rss = status("VmRSS:");
    let baseline_threads = status("Threads:");

    let yaml = "scrape_configs:\n  - job_name: node\n    scrape_interval: 1s\n";
    let cfg = Config::load_str(yaml, std::path::Path::new("memory.yml")).expect("config");
    let storage = Arc::new(memstore::CountingStorage::default());
    let manager = Manager::new(
        Options {
            reload_interval: Duration::from_millis(100),
            ..Options::default()
        },
        storage.clone(),
    );
    manager.apply_config(&cfg).expect("apply");
    let (tx, rx) = crossbeam_channel::unbounded();
    manager.run(rx).expect("run");
    let targets = (0..TARGETS)
        .map(|i| Labels::from_pairs([("__address__", addr.clone()), ("replica", i.to_string())]))
        .collect();
    let group = TargetGroup {
        targets,
        labels: Labels::empty(),
        source: "memory".to_string(),
    };
    tx.send(HashMap::from([("node".to_string(), vec![group])]))
        .expect("send");
    std::thread::sleep(Duration::from_secs(12));

    let active = &manager.targets_active()["node"];
    let up = active.iter().filter(|t| t.health.as_str() == "up").count();
    let stacks = stack_rss_kb();
    println!(
        "targets: {} active, {up} up; {} samples committed",
        active.len(),
        storage.samples.load(Ordering::Relaxed)
    );
    println!("VmRSS before: {baseline_rss} (threads {baseline_threads})");
    println!(
        "VmRSS with {TARGETS} targets: {} (peak {}, threads {})",
        status("VmRSS:"),
        status("VmHWM:"),
        status("Threads:")
    );
    println!(
        "scrape buffers idle: {} kB",
        manager.buffers().idle_bytes() / 1024
    );
    if let (Some(max), false) = (stacks.iter().max(), stacks.is_empty()) {
        let avg = stacks.iter().sum::<u64>() as f64 / stacks.len() as f64;
        println!(
            "loop thread stacks ({} of {} kB): resident max {max} kB, mean {avg:.1} kB",
            stacks.len(),
            LOOP_STACK_SIZE / 1024
        );
    }
    manager.stop();
}
