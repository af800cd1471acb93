//! File-based discovery on real files: formats, globs, changes, errors.

mod discovery_common;
mod log_pairs;

use std::path::Path;
use std::time::{Duration, Instant};

use discovery_common::{
    addresses, group, recv_until, scrape_configs, write_file, yaml_group, PATIENCE,
};
use edgescrape::discovery::{read_file, Manager, FILEPATH_LABEL};

/// Every log line of this test binary so far, as `LEVEL message key=value…`.
fn log_lines() -> Vec<String> {
    log_pairs::captured()
        .into_iter()
        .map(|r| {
            let mut line = format!("{} {}", r.level, r.msg);
            for (key, value) in &r.pairs {
                line.push_str(&format!(" {key}={value}"));
            }
            line
        })
        .collect()
}

/// Waits for a log line containing every one of `parts`; returns it.
#[track_caller]
fn wait_for_log(parts: &[&str]) -> String {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let found = log_lines()
            .into_iter()
            .find(|l| parts.iter().all(|p| l.contains(p)));
        if let Some(line) = found {
            return line;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no log line with {parts:?}");
}

/// A manager running one job `files` over the given file SD globs.
fn file_sd(globs: &[&Path]) -> Manager {
    log_pairs::capture();
    let files: Vec<String> = globs.iter().map(|g| format!("'{}'", g.display())).collect();
    let config = format!(
        "
scrape_configs:
  - job_name: files
    file_sd_configs:
      - files: [{}]
",
        files.join(", ")
    );
    let manager = Manager::new(Duration::from_millis(50));
    manager.apply_config(&scrape_configs(&config));
    manager
}

#[test]
fn yaml_groups_have_their_source_and_filepath() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nodes.yml");
    write_file(
        &file,
        "- targets: ['a:1', 'b:2']\n  labels: {rack: r1}\n- targets: ['c:3']\n",
    );
    let manager = file_sd(&[&file]);
    let (map, _) = recv_until(&manager.sync_receiver(), |m| {
        addresses(m, "files").len() == 3
    });
    let name = file.display().to_string();
    let first = group(&map, "files", &format!("{name}:0")).unwrap();
    assert_eq!(first.labels.get("rack"), Some("r1"));
    assert_eq!(first.labels.get(FILEPATH_LABEL), Some(name.as_str()));
    assert_eq!(first.targets[1].get("__address__"), Some("b:2"));
    let second = group(&map, "files", &format!("{name}:1")).unwrap();
    assert_eq!(second.labels.get(FILEPATH_LABEL), Some(name.as_str()));
    manager.stop();
}

#[test]
fn json_groups_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nodes.JSON");
    write_file(
        &file,
        r#"[{"targets": ["j:1"], "labels": {"team": "edge"}}, {"targets": ["k:2"]}]"#,
    );
    let manager = file_sd(&[&file]);
    let (map, _) = recv_until(&manager.sync_receiver(), |m| {
        addresses(m, "files").len() == 2
    });
    assert_eq!(addresses(&map, "files"), ["j:1", "k:2"]);
    let name = file.display().to_string();
    let first = group(&map, "files", &format!("{name}:0")).unwrap();
    assert_eq!(first.labels.get("team"), Some("edge"));
    manager.stop();
}

#[test]
fn glob_matches_every_file_and_files_created_later() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("a.yml"), &yaml_group(&["a:1"]));
    write_file(&dir.path().join("b.yaml"), &yaml_group(&["b:1"]));
    write_file(&dir.path().join("c.json"), r#"[{"targets": ["c:1"]}]"#);
    write_file(&dir.path().join("ignored.txt"), "not a target file");
    let manager = file_sd(&[&dir.path().join("*.yml"), &dir.path().join("*.json")]);
    let rx = manager.sync_receiver();
    recv_until(&rx, |m| addresses(m, "files") == ["a:1", "c:1"]);

    write_file(&dir.path().join("d.yml"), &yaml_group(&["d:1"]));
    recv_until(&rx, |m| addresses(m, "files") == ["a:1", "c:1", "d:1"]);
    manager.stop();
}

#[test]
fn changed_file_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yml");
    write_file(&file, &yaml_group(&["old:1"]));
    let manager = file_sd(&[&file]);
    let rx = manager.sync_receiver();
    recv_until(&rx, |m| addresses(m, "files") == ["old:1"]);

    // Written in place, not renamed: the size and mtime tell.
    std::fs::write(&file, yaml_group(&["new:1", "new:2"])).unwrap();
    recv_until(&rx, |m| addresses(m, "files") == ["new:1", "new:2"]);
    manager.stop();
}

#[test]
fn file_with_a_syntax_error_keeps_its_last_good_targets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yml");
    write_file(&file, &yaml_group(&["good:1"]));
    let manager = file_sd(&[&dir.path().join("*.yml")]);
    let rx = manager.sync_receiver();
    recv_until(&rx, |m| addresses(m, "files") == ["good:1"]);

    write_file(&file, "- targets: ['good:1'\n  labels: {}\n");
    let name = file.display().to_string();
    let line = wait_for_log(&["WARN", &name, "job=files"]);
    assert!(
        line.contains(&format!("{name}:2:")),
        "no line/column: {line}"
    );

    // Another file changes: the broken one still contributes its last groups.
    write_file(&dir.path().join("other.yml"), &yaml_group(&["other:1"]));
    let (map, _) = recv_until(&rx, |m| {
        addresses(m, "files").contains(&"other:1".to_string())
    });
    assert_eq!(addresses(&map, "files"), ["good:1", "other:1"]);
    manager.stop();
}

#[test]
fn deleted_file_clears_its_targets() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone.yml");
    write_file(&gone, "- targets: ['g:1']\n- targets: ['g:2']\n");
    write_file(&dir.path().join("stays.yml"), &yaml_group(&["s:1"]));
    let manager = file_sd(&[&dir.path().join("*.yml")]);
    let rx = manager.sync_receiver();
    recv_until(&rx, |m| addresses(m, "files") == ["g:1", "g:2", "s:1"]);

    std::fs::remove_file(&gone).unwrap();
    let (map, _) = recv_until(&rx, |m| addresses(m, "files") == ["s:1"]);
    // As Prometheus: the vanished sources are sent with no targets.
    let name = gone.display().to_string();
    for i in 0..2 {
        let cleared = group(&map, "files", &format!("{name}:{i}")).unwrap();
        assert!(cleared.targets.is_empty());
    }
    manager.stop();
}

#[test]
fn shrunk_file_clears_the_groups_it_no_longer_has() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    write_file(&file, r#"[{"targets": ["a:1"]}, {"targets": ["b:1"]}]"#);
    let manager = file_sd(&[&file]);
    let rx = manager.sync_receiver();
    recv_until(&rx, |m| addresses(m, "files") == ["a:1", "b:1"]);

    write_file(&file, r#"[{"targets": ["a:1"]}]"#);
    let (map, _) = recv_until(&rx, |m| addresses(m, "files") == ["a:1"]);
    let name = file.display().to_string();
    assert!(group(&map, "files", &format!("{name}:1"))
        .unwrap()
        .targets
        .is_empty());
    manager.stop();
}

#[test]
fn bad_label_name_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    write_file(&bad, "- targets: ['a:1']\n  labels: {bad-name: x}\n");
    write_file(&dir.path().join("good.yml"), &yaml_group(&["ok:1"]));

    let err = read_file(&bad).unwrap_err();
    assert_eq!(err.file, bad);
    assert!(err.to_string().contains("bad-name"), "{err}");

    let manager = file_sd(&[&dir.path().join("*.yml")]);
    let (map, _) = recv_until(&manager.sync_receiver(), |m| {
        !addresses(m, "files").is_empty()
    });
    assert_eq!(addresses(&map, "files"), ["ok:1"]);
    wait_for_log(&["WARN", &bad.display().to_string(), "bad-name"]);
    manager.stop();
}

#[test]
fn read_file_refuses_what_prometheus_refuses() {
    let dir = tempfile::tempdir().unwrap();
    #[track_caller]
    fn refused(dir: &Path, name: &str, content: &str, wanted: &str) {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let err = read_file(&path).unwrap_err();
        assert_eq!(err.file, path);
        assert!(err.to_string().contains(wanted), "{err} lacks {wanted:?}");
    }
    refused(dir.path(), "t.txt", "[]", "unsupported file extension");
    refused(
        dir.path(),
        "t.yml",
        "- targets: ['']\n",
        "empty __address__",
    );
    refused(dir.path(), "u.yml", "- targets: []\n  extra: 1\n", "extra");
    refused(dir.path(), "t.json", r#"[null]"#, "invalid type");
    let missing = dir.path().join("missing.yml");
    assert!(read_file(&missing)
        .unwrap_err()
        .message
        .contains("cannot read file"));
}

#[test]
fn a_burst_of_file_changes_is_coalesced_into_few_sends() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("t0.yml"), &yaml_group(&["start:0"]));
    log_pairs::capture();
    let manager = Manager::new(Duration::from_secs(2));
    manager.apply_config(&scrape_configs(&format!(
        "scrape_configs:\n  - job_name: files\n    file_sd_configs: [{{files: ['{}']}}]\n",
        dir.path().join("*.yml").display()
    )));
    let rx = manager.sync_receiver();
    recv_until(&rx, |m| addresses(m, "files") == ["start:0"]);

    const FILES: usize = 40;
    for i in 0..FILES {
        write_file(
            &dir.path().join(format!("t{i}.yml")),
            &yaml_group(&[&format!("burst:{i}")]),
        );
    }
    let (_, received) = recv_until(&rx, |m| addresses(m, "files").len() == FILES);
    assert!(received <= 3, "{received} sends for {FILES} changed files");
    manager.stop();
}
