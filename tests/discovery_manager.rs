//! The discovery manager: static groups, reconfiguration and coalescing.

mod discovery_common;

use std::time::Duration;

use discovery_common::{addresses, group, recv_until, scrape_configs, write_file, yaml_group};
use edgescrape::discovery::Manager;

#[test]
fn static_groups_arrive_on_the_sync_channel() {
    let manager = Manager::new(Duration::from_millis(50));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs(
        "
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['a:9100', 'b:9100']
        labels: {env: prod}
      - targets: ['c:9100']
",
    ));
    let (map, _) = recv_until(&rx, |m| m.contains_key("node"));
    let groups = &map["node"];
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, "0");
    assert_eq!(groups[0].labels.get("env"), Some("prod"));
    assert_eq!(groups[0].targets.len(), 2);
    assert_eq!(groups[0].targets[0].get("__address__"), Some("a:9100"));
    assert_eq!(groups[0].targets[0].len(), 1);
    assert_eq!(groups[1].source, "1");
    assert!(groups[1].labels.is_empty());
    assert_eq!(addresses(&map, "node"), ["a:9100", "b:9100", "c:9100"]);
    manager.stop();
}

#[test]
fn job_without_discovery_gets_one_empty_group() {
    let manager = Manager::new(Duration::from_millis(50));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs("scrape_configs:\n  - job_name: lonely\n"));
    let (map, _) = recv_until(&rx, |m| m.contains_key("lonely"));
    assert_eq!(map["lonely"].len(), 1);
    assert!(map["lonely"][0].targets.is_empty());
    manager.stop();
}

#[test]
fn removed_job_is_sent_once_with_no_groups() {
    let manager = Manager::new(Duration::from_millis(50));
    let rx = manager.sync_receiver();
    let both = "
scrape_configs:
  - job_name: a
    static_configs: [{targets: ['a:1']}]
  - job_name: b
    static_configs: [{targets: ['b:1']}]
";
    manager.apply_config(&scrape_configs(both));
    recv_until(&rx, |m| m.contains_key("a") && m.contains_key("b"));

    let only_a = "
scrape_configs:
  - job_name: a
    static_configs: [{targets: ['a:1']}]
";
    manager.apply_config(&scrape_configs(only_a));
    let (map, _) = recv_until(&rx, |m| m.get("b").is_some_and(Vec::is_empty));
    assert_eq!(addresses(&map, "a"), ["a:1"]);

    // The next send no longer names the removed job.
    manager.apply_config(&scrape_configs(only_a));
    let (map, _) = recv_until(&rx, |_| true);
    assert!(!map.contains_key("b"), "{map:?}");
    assert_eq!(addresses(&map, "a"), ["a:1"]);
    manager.stop();
}

#[test]
fn unchanged_job_keeps_its_provider_and_last_targets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    write_file(&file, &yaml_group(&["x:1", "y:2"]));
    let config = format!(
        "
scrape_configs:
  - job_name: files
    file_sd_configs: [{{files: ['{}']}}]
",
        file.display()
    );
    let manager = Manager::new(Duration::from_millis(50));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs(&config));
    let (first, _) = recv_until(&rx, |m| addresses(m, "files").len() == 2);

    // A fresh provider would find no valid groups in this file; the running
    // one keeps the groups it read last.
    write_file(&file, "- targets: [unclosed\n");
    manager.apply_config(&scrape_configs(&config));
    let (map, _) = recv_until(&rx, |_| true);
    assert_eq!(map["files"], first["files"]);
    manager.stop();
}

#[test]
fn removed_file_sd_drops_its_groups_but_static_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    write_file(&file, r#"[{"targets": ["f:1"]}]"#);
    let with_file = format!(
        "
scrape_configs:
  - job_name: mixed
    static_configs: [{{targets: ['s:1']}}]
    file_sd_configs: [{{files: ['{}']}}]
",
        file.display()
    );
    let manager = Manager::new(Duration::from_millis(50));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs(&with_file));
    recv_until(&rx, |m| addresses(m, "mixed") == ["f:1", "s:1"]);

    manager.apply_config(&scrape_configs(
        "
scrape_configs:
  - job_name: mixed
    static_configs: [{targets: ['s:1']}]
",
    ));
    let (map, _) = recv_until(&rx, |m| addresses(m, "mixed") == ["s:1"]);
    assert_eq!(map["mixed"].len(), 1);
    assert!(group(&map, "mixed", "0").is_some());
    manager.stop();
}

#[test]
fn changed_static_config_replaces_the_groups() {
    let manager = Manager::new(Duration::from_millis(50));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs(
        "scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['old:1']}]\n",
    ));
    recv_until(&rx, |m| addresses(m, "j") == ["old:1"]);
    manager.apply_config(&scrape_configs(
        "scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['new:1']}]\n",
    ));
    let (map, _) = recv_until(&rx, |m| addresses(m, "j") == ["new:1"]);
    assert_eq!(map["j"].len(), 1);
    manager.stop();
}

#[test]
fn a_burst_of_reconfigurations_is_coalesced_into_few_sends() {
    // A long interval: the burst below is over long before it ends.
    let manager = Manager::new(Duration::from_secs(2));
    let rx = manager.sync_receiver();
    const CHANGES: usize = 50;
    for i in 0..CHANGES {
        manager.apply_config(&scrape_configs(&format!(
            "scrape_configs:\n  - job_name: j\n    static_configs: [{{targets: ['t:{i}']}}]\n"
        )));
    }
    let last = format!("t:{}", CHANGES - 1);
    let (_, received) = recv_until(&rx, |m| addresses(m, "j") == [last.as_str()]);
    // The first change goes out at once, the rest in one send an interval later.
    assert!(received <= 2, "{received} sends for {CHANGES} changes");
    manager.stop();
}
