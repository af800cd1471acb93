//! `Manager::stop` joins every discovery thread. Alone in its binary so the
//! thread count is not disturbed by other tests.

mod discovery_common;

use std::time::{Duration, Instant};

use discovery_common::{addresses, recv_until, scrape_configs, write_file, yaml_group};
use edgescrape::discovery::Manager;

/// Threads of this process whose name starts with `discovery ` (Linux
/// truncates names to 15 bytes, which keeps the prefix).
fn discovery_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .filter(|name| name.starts_with("discovery "))
        .collect()
}

#[test]
fn stop_joins_every_provider_and_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("a.yml"), &yaml_group(&["a:1"]));
    write_file(&dir.path().join("b.json"), r#"[{"targets": ["b:1"]}]"#);
    let yml = dir.path().join("*.yml").display().to_string();
    let json = dir.path().join("*.json").display().to_string();
    let manager = Manager::new(Duration::from_millis(50));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs(&format!(
        "
scrape_configs:
  - job_name: a
    file_sd_configs: [{{files: ['{yml}']}}]
  - job_name: b
    file_sd_configs: [{{files: ['{json}']}}, {{files: ['{yml}'], refresh_interval: 1s}}]
  - job_name: s
    static_configs: [{{targets: ['s:1']}}]
"
    )));
    recv_until(&rx, |m| addresses(m, "b") == ["a:1", "b:1"]);
    // Three file providers, each a discoverer thread and the provider thread
    // that stores its updates, and the sender. A thread names itself when it
    // starts running, so a provider whose update has not arrived yet may
    // still carry its parent's name for a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while discovery_threads().len() != 7 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(discovery_threads().len(), 7, "{:?}", discovery_threads());

    // Job a goes away: its thread is told to stop now and joined by stop().
    manager.apply_config(&scrape_configs(&format!(
        "
scrape_configs:
  - job_name: b
    file_sd_configs: [{{files: ['{json}']}}, {{files: ['{yml}'], refresh_interval: 1s}}]
"
    )));
    recv_until(&rx, |m| m.get("a").is_some_and(Vec::is_empty));

    manager.stop();
    assert_eq!(discovery_threads(), Vec::<String>::new());
}
