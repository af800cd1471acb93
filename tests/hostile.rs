//! The real binary against hostile input and misuse: a second process on
//! one storage path, configs built to exhaust memory or overflow
//! arithmetic, absurd query times and `Retry-After` headers, error texts
//! full of quotes in the logs; and the first scrape after a start, which
//! must not wait for a reload tick.

mod common;
mod peers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Reply, TestServer};
use parking_lot::Mutex;
use peers::{free_port, wait_http_ok, wait_until, ChildGuard};

const BIN: &str = env!("CARGO_BIN_EXE_edgescrape");
const SETTLE: Duration = Duration::from_secs(30);

/// A running binary with its base URL and log file.
struct Edge {
    child: ChildGuard,
    base: String,
    log: PathBuf,
}

impl Edge {
    /// Starts the binary on `config` with storage under `dir/data`.
    fn start(dir: &Path, config: &str, name: &str) -> Edge {
        let cfg = dir.join(format!("{name}.yml"));
        std::fs::write(&cfg, config).expect("write config");
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let child = ChildGuard::spawn(BIN, &args(dir, &cfg, port), &log);
        let base = format!("http://127.0.0.1:{port}");
        wait_http_ok(&format!("{base}/-/ready"), SETTLE);
        Edge { child, base, log }
    }

    /// The value of the first `/metrics` line starting with `prefix`.
    fn metric(&self, prefix: &str) -> Option<f64> {
        let text = ureq::get(&format!("{}/metrics", self.base))
            .call()
            .ok()?
            .into_string()
            .ok()?;
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn args(dir: &Path, cfg: &Path, port: u16) -> Vec<String> {
    vec![
        format!("--config.file={}", cfg.display()),
        format!("--storage.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ]
}

const EMPTY: &str = "scrape_configs: []\n";

#[test]
fn a_second_process_on_one_storage_path_refuses_to_start_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Edge::start(dir.path(), EMPTY, "first");

    let cfg = dir.path().join("first.yml");
    let second = Command::new(BIN)
        .args(args(dir.path(), &cfg, free_port()))
        .output()
        .expect("run second");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    let data = dir.path().join("data");
    assert!(
        stderr.contains(&format!(
            "storage path {} is in use by another process (pid {})",
            data.display(),
            first.child.pid()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("level=error"), "{stderr}");
    // The first one is untouched.
    wait_http_ok(&format!("{}/-/healthy", first.base), SETTLE);

    // Once the holder is gone, the path is free again.
    let status = first.child.terminate(SETTLE).expect("first exits");
    assert!(status.success(), "{status:?}");
    let _again = Edge::start(dir.path(), EMPTY, "again");
}

/// Seconds from the process's start (as it reports it) to the first
/// scrape of the target that `config` makes of its address.
fn first_scrape_after_start(config: impl Fn(&str, &Path) -> String) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let first_request: Arc<Mutex<Option<SystemTime>>> = Arc::default();
    let seen = Arc::clone(&first_request);
    let target = TestServer::start(move |_| {
        seen.lock().get_or_insert_with(SystemTime::now);
        Reply::text("demo 1\n")
    });
    let edge = Edge::start(dir.path(), &config(&target.address(), dir.path()), "edge");
    assert!(
        wait_until(SETTLE, || first_request.lock().is_some()),
        "never scraped"
    );
    let scraped = first_request.lock().expect("set");
    let scraped = scraped.duration_since(UNIX_EPOCH).expect("after 1970");
    let started = edge
        .metric("process_start_time_seconds")
        .expect("process_start_time_seconds");
    scraped.as_secs_f64() - started
}

#[test]
fn the_first_scrape_does_not_wait_for_the_reload_tick() {
    let static_job = |address: &str, _: &Path| {
        format!(
            "scrape_configs:\n  - job_name: fast\n    scrape_interval: 1s\n    \
             static_configs:\n      - targets: [\"{address}\"]\n"
        )
    };
    let file_job = |address: &str, dir: &Path| {
        let file = dir.join("targets.json");
        std::fs::write(&file, format!("[{{\"targets\": [\"{address}\"]}}]")).expect("write");
        format!(
            "scrape_configs:\n  - job_name: fast\n    scrape_interval: 1s\n    \
             file_sd_configs:\n      - files: [\"{}\"]\n",
            file.display()
        )
    };
    // Discovery sends on a 5 s throttle and the scrape manager's reloader
    // ticks every 5 s, so a first scrape that waited for either comes at
    // least 5 s after the start. Without the wait it comes after the
    // target's offset (under the 1 s interval) plus the start-up itself.
    for (kind, after_start) in [
        ("static_configs", first_scrape_after_start(static_job)),
        ("file_sd_configs", first_scrape_after_start(file_job)),
    ] {
        assert!(
            after_start < 5.0,
            "{kind}: first scrape {after_start:.2} s after the process started"
        );
    }
}

/// `edgescrape check-config` on `yaml`: exit code and output.
fn check_config(dir: &Path, name: &str, yaml: &str) -> (Option<i32>, String) {
    let file = dir.join(name);
    std::fs::write(&file, yaml).expect("write");
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run check-config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn configs_built_to_exhaust_memory_or_overflow_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let prev = format!("*a{}", i - 1);
        laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
    }
    laughs.push_str("scrape_configs: *a8\n");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "laughs.yml",
            laughs,
            "aliases expand to more than 100000 nodes",
        ),
        (
            "dashes.yml",
            format!("scrape_configs:\n{}1\n", "- ".repeat(500_000)),
            "nested deeper than 100 levels",
        ),
        (
            "years.yml",
            "global:\n  scrape_interval: 1000y\n".to_string(),
            "duration out of range: \"1000y\"",
        ),
        (
            "queue.yml",
            "remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n      \
             capacity: 100000000000000\n"
                .to_string(),
            "remote_write[0].queue_config.capacity: 100000000000000 is more than edgescrape \
             allows (1000000)",
        ),
        (
            "ms.yml",
            "global:\n  scrape_timeout: 99999999999999999999999ms\n".to_string(),
            "duration out of range",
        ),
    ];
    for (name, yaml, reason) in cases {
        let (code, text) = check_config(dir.path(), name, &yaml);
        assert_eq!(code, Some(1), "{name}: {text}");
        assert!(text.contains(reason), "{name}: {text}");
        assert!(text.contains(name), "{name} names the file: {text}");
    }
}

#[test]
fn absurd_query_times_are_bad_data_and_the_server_lives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), EMPTY, "edge");
    for time in [
        "1e300",
        "-1e300",
        "9223372036854775807",
        "1e19",
        "NaN",
        "Inf",
    ] {
        let url = format!("{}/api/v1/query?query=up&time={time}", edge.base);
        match ureq::get(&url).call() {
            Err(ureq::Error::Status(400, resp)) => {
                let body = resp.into_string().expect("body");
                assert!(
                    body.contains("\"errorType\":\"bad_data\""),
                    "{time}: {body}"
                );
                assert!(
                    body.contains("invalid parameter \\\"time\\\""),
                    "{time}: {body}"
                );
            }
            other => panic!("time={time}: {other:?}"),
        }
    }
    // Range queries over the whole accepted range: the point count and the
    // step loop saturate instead of overflowing (or wrapping into a loop
    // of two minutes in a release build).
    let (min, max) = ("-9223309901257974", "9223309901257974");
    for (start, end, step, status) in [(min, max, "1", 400), (max, max, "292y", 200)] {
        let url = format!(
            "{}/api/v1/query_range?query=up&start={start}&end={end}&step={step}",
            edge.base
        );
        let got = match ureq::get(&url).call() {
            Ok(resp) => resp.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{url}: {e}"),
        };
        assert_eq!(got, status, "{url}");
    }
    wait_http_ok(&format!("{}/-/healthy", edge.base), SETTLE);
    assert!(!edge.log_text().contains("panicked"), "{}", edge.log_text());
}

#[test]
fn a_huge_retry_after_is_bounded_and_the_process_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver =
        TestServer::start(|_| Reply::status(429).header("Retry-After", "18446744073709551615"));
    let target = TestServer::start(|_| Reply::text("demo 1\n"));
    let config = format!(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    \
         static_configs:\n      - targets: [\"{}\"]\n\
         remote_write:\n  - url: http://{}/write\n",
        target.address(),
        receiver.address()
    );
    let mut edge = Edge::start(dir.path(), &config, "edge");
    assert!(
        wait_until(SETTLE, || edge
            .metric("prometheus_remote_storage_samples_retried")
            .is_some_and(|v| v > 0.0)),
        "never retried; log:\n{}",
        edge.log_text()
    );
    // The queue now waits (an hour at most) instead of panicking on
    // Instant + 584 billion years; everything else goes on. On SIGTERM the
    // waiting shard gives up at the 10 s stop deadline.
    wait_http_ok(&format!("{}/-/healthy", edge.base), SETTLE);
    let status = edge.child.terminate(SETTLE).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}\n{}", edge.log_text());
    let log = edge.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("backoff=3600s"), "{log}");
}

/// Splits a logfmt line into pairs, undoing go-logfmt's quoting.
fn logfmt_pairs(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = line.trim_start();
    while let Some((key, after)) = rest.split_once('=') {
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        '\\' => match chars.next().map(|(_, e)| e) {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some(other) => value.push(other),
                            None => {}
                        },
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            }
            None => {
                let end = after.find(' ').unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            }
        };
        pairs.push((key.to_string(), value));
        rest = next.trim_start();
    }
    pairs
}

/// The first line of `log` containing `needle`, as fields: parsed as
/// JSON or as logfmt.
fn log_fields(log: &Path, needle: &str, json: bool) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text.lines().find(|l| l.contains(needle))?;
    let fields = if json {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
            .expect("one JSON object per line")
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or(v.to_string(), str::to_string)))
            .collect()
    } else {
        logfmt_pairs(line).into_iter().collect()
    };
    Some(fields)
}

#[test]
fn job_target_and_quoted_errors_stay_fields_in_logfmt_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Each scrape repeats a series: a warning naming job and target.
    let target = TestServer::start(|_| Reply::text("dup 1\ndup 2\n"));
    // A file_sd file that does not parse, and a port nobody listens on.
    let sd_file = dir.path().join("broken.json");
    std::fs::write(&sd_file, "[{\"targets\": ").expect("write sd file");
    let refused = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "scrape_configs:\n  - job_name: \"two words\"\n    scrape_interval: 1s\n    \
         static_configs:\n      - targets: [\"{}\"]\n  \
         - job_name: files\n    file_sd_configs:\n      - files: [\"{}\"]\n  \
         - job_name: refused\n    scrape_interval: 1s\n    \
         static_configs:\n      - targets: [\"{refused}\"]\n",
        target.address(),
        sd_file.display()
    );
    let cfg = dir.path().join("edge.yml");
    let url = format!("http://{}/metrics", target.address());
    for (format, json) in [("logfmt", false), ("json", true)] {
        std::fs::write(&cfg, &config).expect("write config");
        let log = dir.path().join(format!("{format}.log"));
        let port = free_port();
        let mut a = args(dir.path(), &cfg, port);
        a.push(format!("--log.format={format}"));
        a.push("--log.level=debug".to_string());
        let mut child = ChildGuard::spawn(BIN, &a, &log);
        let web = format!("127.0.0.1:{port}");
        let expect = Converted {
            log: &log,
            json,
            format,
        };
        expect.web_server_line(&web);
        expect.discovery_line(&sd_file);
        expect.scrape_loop_line(&format!("http://{refused}/metrics"));
        let dup = "same timestamp";
        assert!(
            wait_until(SETTLE, || log_fields(&log, dup, json).is_some()),
            "{format}: no scrape"
        );
        let fields = log_fields(&log, dup, json).expect("line");
        assert_eq!(fields["level"], "warn", "{fields:?}");
        assert!(
            fields["msg"].starts_with("Error on ingesting samples"),
            "{fields:?}"
        );
        assert!(
            fields["caller"].starts_with("scrape/scrape_loop.rs:"),
            "{fields:?}"
        );
        assert_eq!(fields["job"], "two words", "{fields:?}");
        assert_eq!(fields["target"], url, "{fields:?}");
        assert_eq!(fields["num_dropped"], "1", "{fields:?}");
        assert!(!fields["ts"].is_empty(), "{fields:?}");

        // A refused reload: the error text holds quotes and spaces.
        std::fs::write(&cfg, "global:\n  scrape_interval: \"1 x\"\n").expect("write");
        child.signal(1);
        let refused = "Error reloading config";
        assert!(
            wait_until(SETTLE, || log_fields(&log, refused, json).is_some()),
            "{format}: no reload error"
        );
        let fields = log_fields(&log, refused, json).expect("line");
        assert_eq!(fields["level"], "error", "{fields:?}");
        assert!(
            fields["err"].ends_with("global.scrape_interval: not a valid duration string: \"1 x\""),
            "{fields:?}"
        );
        child.child.kill().expect("kill");
        child.child.wait().expect("reap");
        if json {
            let text = std::fs::read_to_string(&log).expect("log");
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).expect("every line is JSON");
                assert!(v["ts"].is_string() && v["level"].is_string() && v["msg"].is_string());
            }
        }
        std::fs::remove_dir_all(dir.path().join("data")).expect("storage");
    }
}

/// The log of one run, checked for lines converted to key-value pairs:
/// one from the web server, one from discovery, one from the scrape loop.
struct Converted<'a> {
    log: &'a Path,
    json: bool,
    format: &'a str,
}

impl Converted<'_> {
    /// Waits for the line whose `msg` is `msg`; checks level and caller.
    fn line(&self, msg: &str, level: &str, caller: &str) -> HashMap<String, String> {
        let (log, json) = (self.log, self.json);
        let needle = if json {
            format!("\"msg\":\"{msg}\"")
        } else {
            format!("msg=\"{msg}\"")
        };
        assert!(
            wait_until(SETTLE, || log_fields(log, &needle, json).is_some()),
            "{}: no line {msg:?}",
            self.format
        );
        let fields = log_fields(log, &needle, json).expect("line");
        assert_eq!(fields["msg"], msg, "{fields:?}");
        assert_eq!(fields["level"], level, "{fields:?}");
        assert!(fields["caller"].starts_with(caller), "{fields:?}");
        fields
    }

    fn web_server_line(&self, address: &str) {
        let f = self.line("Web server listening", "info", "web/server.rs:");
        assert_eq!(f["address"], address, "{f:?}");
        assert_eq!(f["tls"], "false", "{f:?}");
        assert_eq!(f["basic_auth"], "false", "{f:?}");
        assert_eq!(f["lifecycle"], "false", "{f:?}");
        assert!(f["max_connections"].parse::<u64>().is_ok(), "{f:?}");
    }

    fn discovery_line(&self, file: &Path) {
        let msg = "Cannot read target groups, keeping the last good ones";
        let f = self.line(msg, "warn", "discovery/file.rs:");
        assert_eq!(f["job"], "files", "{f:?}");
        assert_eq!(f["file"], file.display().to_string(), "{f:?}");
        assert!(!f["err"].is_empty() && !f["err"].contains("msg="), "{f:?}");
    }

    fn scrape_loop_line(&self, target: &str) {
        let f = self.line("Scrape failed", "debug", "scrape/scrape_loop.rs:");
        assert_eq!(f["job"], "refused", "{f:?}");
        assert_eq!(f["target"], target, "{f:?}");
        assert!(!f["err"].is_empty() && !f["err"].contains("job="), "{f:?}");
    }
}
