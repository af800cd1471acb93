//! Differential conformance against real Prometheus 2.42 in agent mode.
//!
//! A corpus of targets is served from loopback; Prometheus (agent mode) and
//! edgescrape scrape the same generated config and remote_write into one
//! receiver; then every series is compared: label sets, and value sequences
//! (with runs of equal values collapsed, stale markers bit-exact) including
//! report series. Timestamps are compared by order only. A difference fails
//! the test unless `docs/compat.md` lists it with a reason.

mod peers;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use peers::exposition::{ExpositionServer, Step};
use peers::receiver::Receiver;
use peers::{free_port, wait_http_ok, wait_until, ChildGuard};

const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// One corpus entry: a job with its own target path and extra config.
struct Case {
    name: &'static str,
    /// YAML lines added to the job (indented 4 spaces).
    extra: &'static str,
    steps: Vec<Step>,
}

fn case(name: &'static str, extra: &'static str, steps: Vec<Step>) -> Case {
    Case { name, extra, steps }
}

fn corpus() -> Vec<Case> {
    let basic = "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{code=\"200\"} 10\nrequests_total{code=\"500\"} 1\n# TYPE temp gauge\ntemp 21.5\nuntyped_thing 3\n";
    let basic2 = "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{code=\"200\"} 12\nrequests_total{code=\"500\"} 1\n# TYPE temp gauge\ntemp 22\nuntyped_thing 3\n";
    let histogram = "# TYPE rpc_seconds histogram\nrpc_seconds_bucket{le=\"0.1\"} 5\nrpc_seconds_bucket{le=\"1\"} 8\nrpc_seconds_bucket{le=\"+Inf\"} 9\nrpc_seconds_sum 3.5\nrpc_seconds_count 9\n# TYPE gc_seconds summary\ngc_seconds{quantile=\"0.5\"} 0.01\ngc_seconds{quantile=\"0.99\"} NaN\ngc_seconds_sum 1.5\ngc_seconds_count 40\n";
    let om = "# TYPE jobs counter\n# HELP jobs Jobs run.\njobs_total{kind=\"a\"} 3 # {trace_id=\"abc\"} 1.0 1700000000.000\njobs_created{kind=\"a\"} 1700000000.5\n# TYPE size gauge\n# UNIT size bytes\nsize_bytes 1024\n# TYPE state stateset\nstate{state=\"on\"} 1\nstate{state=\"off\"} 0\n# TYPE build info\nbuild_info{version=\"1.2\"} 1\n# EOF\n";
    let mut gz = Step::text(basic);
    gz.gzip = true;
    let mut slow = Step::text(basic);
    slow.delay = Duration::from_millis(700);
    let mut status500 = Step::text("oops\n");
    status500.status = 500;
    let relabel_target = r#"    relabel_configs:
      - {source_labels: [__address__], target_label: addr_copy}
      - {source_labels: [__address__], regex: "127\\.0\\.0\\.1:(\\d+)", target_label: port, replacement: "p$1"}
      - {source_labels: [__meta_none], regex: "", action: keep}
      - {source_labels: [__address__], regex: "nomatch.*", action: drop}
      - {source_labels: [__address__], target_label: shard, modulus: 7, action: hashmod}
      - {regex: "__address__", replacement: "from_$0", action: labelmap}
      - {source_labels: [__address__], target_label: upper, action: uppercase}
      - {source_labels: [upper], target_label: lower, action: lowercase}
      - {regex: "from___address__", action: labeldrop}
      - {source_labels: [upper], target_label: upper, action: keepequal}
      - {source_labels: [lower], target_label: upper, action: dropequal}
      - {regex: "__.*|job|instance|addr_copy|port|shard|upper|lower", action: labelkeep}
"#;
    let relabel_metric = r#"    metric_relabel_configs:
      - {source_labels: [__name__], regex: "temp", action: drop}
      - {source_labels: [code], regex: "5..", target_label: class, replacement: "server_error"}
      - {source_labels: [code], target_label: code_hash, modulus: 4, action: hashmod}
      - {regex: "(code)", replacement: "http_$1", action: labelmap}
      - {regex: "code", action: labeldrop}
      - {source_labels: [__name__], regex: "requests_total|untyped_thing|scrape_.*|up", action: keep}
      - {source_labels: [class], target_label: class_upper, action: uppercase}
      - {regex: "__name__|instance|job|class|class_upper|code_hash|http_code", action: labelkeep}
      - {source_labels: [class], target_label: class_upper, action: dropequal}
"#;
    vec![
        case("basic", "", vec![Step::text(basic), Step::text(basic2)]),
        case(
            "escapes",
            "",
            vec![Step::text(
                "# HELP esc Escapes \\\\ and \\n in help.\nesc{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 1\nesc{path=\"ü€\",quote=\"\",nl=\"\"} 2\nwith_colon:rate5m{a=\"b\",} 3\n",
            )],
        ),
        case(
            "timestamps_honored",
            "",
            vec![Step::text("with_ts 1 {{now_ms}}\nwithout_ts 2\n")],
        ),
        case(
            "old_timestamps",
            "",
            vec![Step::text("old_ts 1 1700000000000\nfresh 2\n")],
        ),
        case(
            "timestamps_ignored",
            "    honor_timestamps: false\n",
            vec![Step::text("with_ts 1 {{now_ms}}\nwithout_ts 2\n")],
        ),
        case(
            "special_values",
            "",
            vec![Step::text("v_nan NaN\nv_pinf +Inf\nv_ninf -Inf\nv_exp 1.5e-3\nv_neg -0\nv_big 1e308\nv_hex 0x1p3\n")],
        ),
        case("histogram_summary", "", vec![Step::text(histogram)]),
        case("openmetrics", "", vec![Step::openmetrics(om)]),
        case(
            "duplicate_series",
            "",
            vec![Step::text("dup{a=\"1\"} 1\ndup{a=\"1\"} 2\nother 3\n")],
        ),
        case("empty_body", "", vec![Step::text("")]),
        case(
            "malformed",
            "",
            vec![Step::text(basic), Step::text("good 1\nbad{ 2\n"), Step::text(basic)],
        ),
        case(
            "duplicate_label_name",
            "",
            vec![
                Step::text(basic),
                Step::text("ok 1\ndup_label{a=\"1\",a=\"2\"} 2\nafter 3\n"),
                Step::text(basic),
            ],
        ),
        case("gzip", "", vec![gz]),
        case("http_500", "", vec![Step::text(basic), status500, Step::text(basic)]),
        case(
            "honor_labels_true",
            "    honor_labels: true\n",
            vec![Step::text("m{job=\"inner\",instance=\"x\",other=\"y\"} 1\nn{job=\"\"} 2\n")],
        ),
        case(
            "honor_labels_false",
            "",
            vec![Step::text("m{job=\"inner\",instance=\"x\",exported_job=\"z\"} 1\nn{job=\"\"} 2\n")],
        ),
        case("relabel_target", relabel_target, vec![Step::text(basic)]),
        case("relabel_metric", relabel_metric, vec![Step::text(basic), Step::text(basic2)]),
        case(
            "sample_limit",
            "    sample_limit: 3\n",
            vec![Step::text("a 1\nb 2\n"), Step::text(basic), Step::text("a 1\nb 2\n")],
        ),
        case(
            "label_limit",
            "    label_limit: 4\n",
            vec![Step::text("a{x=\"1\"} 1\n"), Step::text("a{x=\"1\",y=\"2\",z=\"3\"} 1\n")],
        ),
        case(
            "body_size_limit",
            "    body_size_limit: 100B\n",
            vec![Step::text("a 1\n"), Step::text(&"b 1\n".repeat(40)), Step::text("a 1\n")],
        ),
        case(
            "timeout",
            "    scrape_timeout: 300ms\n",
            vec![Step::text(basic), slow, Step::text(basic)],
        ),
        case(
            "vanishing",
            "",
            vec![
                Step::text("keep 1\ngoes{a=\"1\"} 1\ngoes{a=\"2\"} 2\n"),
                Step::text("keep 2\ngoes{a=\"1\"} 1\n"),
                Step::text("keep 3\n"),
                Step::text("keep 4\ngoes{a=\"2\"} 5\n"),
            ],
        ),
        case("removed_by_reload", "", vec![Step::text(basic)]),
    ]
}

/// The scrape config both scrapers run; `without` leaves jobs out.
fn config(cases: &[Case], targets: &str, down_port: u16, remote: &str, without: &[&str]) -> String {
    let mut yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nremote_write:\n  - url: {remote}\n    queue_config: {{batch_send_deadline: 1s, max_samples_per_send: 500, min_backoff: 50ms, max_backoff: 1s}}\nscrape_configs:\n"
    );
    for c in cases.iter().filter(|c| !without.contains(&c.name)) {
        yaml.push_str(&format!(
            "  - job_name: {name}\n    metrics_path: /case/{name}\n    static_configs:\n      - targets: [\"{targets}\"]\n        labels: {{case: {name}}}\n{extra}",
            name = c.name,
            extra = c.extra
        ));
    }
    if !without.contains(&"target_down") {
        yaml.push_str(&format!(
            "  - job_name: target_down\n    static_configs:\n      - targets: [\"127.0.0.1:{down_port}\"]\n"
        ));
    }
    yaml
}

/// A value sequence with runs of equal values collapsed; NaNs other than
/// the stale marker are one value.
fn shape(samples: &[(i64, f64)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, v) in samples {
        let s = if v.to_bits() == STALE_NAN_BITS {
            "stale".to_string()
        } else if v.is_nan() {
            "NaN".to_string()
        } else {
            format!("{v:?}")
        };
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

/// Report series whose values are timings: compared by presence and stale
/// markers only.
fn is_timing(key: &str) -> bool {
    key.starts_with("scrape_duration_seconds{")
}

fn timing_shape(samples: &[(i64, f64)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, v) in samples {
        let s = if v.to_bits() == STALE_NAN_BITS {
            "stale"
        } else {
            "value"
        };
        if out.last().map(String::as_str) != Some(s) {
            out.push(s.to_string());
        }
    }
    out
}

/// Allowed differences from `docs/compat.md`: rows `| case | series regex | ... |`.
fn allowed_differences() -> Vec<(String, regex::Regex)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compat.md"))
            .expect("docs/compat.md exists");
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            // `\|` is a `|` inside a cell (Markdown's escape).
            let row = l.replace("\\|", "\u{0}");
            let cols: Vec<String> = row
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect();
            let case = cols.get(1)?.trim_matches('`').to_string();
            let re =
                regex::Regex::new(&format!("^(?:{})$", cols.get(2)?.trim_matches('`'))).ok()?;
            Some((case, re))
        })
        .collect()
}

fn case_of(key: &str) -> String {
    key.split("case=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .or_else(|| key.split("job=\"").nth(1).and_then(|s| s.split('"').next()))
        .unwrap_or("")
        .to_string()
}

/// Cases where Prometheus's last scrape failed without a body (`up` 0,
/// `scrape_samples_scraped` 0) after earlier successes, and edgescrape
/// recorded no failure at all. No case in the corpus scripts a transport
/// failure that lasts to the end (`http_500`, `timeout` and the limits
/// recover or fail with a body), but on a loaded machine the peer's last
/// scrape before the final reload sometimes fails; that says nothing about
/// edgescrape, so such a case is not compared.
fn peer_only_final_failures(
    prom: &BTreeMap<String, Vec<(i64, f64)>>,
    edge: &BTreeMap<String, Vec<(i64, f64)>>,
) -> BTreeSet<String> {
    let failed = |s: Option<&Vec<(i64, f64)>>| s.is_some_and(|s| s.iter().any(|&(_, v)| v == 0.0));
    let ends_in_empty_failure = |key: &str, up: &[(i64, f64)]| {
        let live = || up.iter().filter(|(_, v)| v.to_bits() != STALE_NAN_BITS);
        let Some(&(t, last)) = live().next_back() else {
            return false;
        };
        if last != 0.0 {
            return false;
        }
        let scraped_key = key.replacen("up{", "scrape_samples_scraped{", 1);
        let empty = prom
            .get(&scraped_key)
            .is_some_and(|s| s.iter().any(|&(st, n)| st == t && n == 0.0));
        empty && live().any(|&(_, v)| v == 1.0)
    };
    let cases: BTreeSet<String> = prom
        .iter()
        .filter(|(key, p)| {
            key.starts_with("up{") && !failed(edge.get(*key)) && ends_in_empty_failure(key, p)
        })
        .map(|(key, _)| case_of(key))
        .collect();
    for case in &cases {
        eprintln!(
            "differential: only Prometheus's last scrape failed in case {case}; not compared"
        );
    }
    cases
}

fn compare(
    prom: &BTreeMap<String, Vec<(i64, f64)>>,
    edge: &BTreeMap<String, Vec<(i64, f64)>>,
) -> Vec<String> {
    let allowed = allowed_differences();
    let flaky = peer_only_final_failures(prom, edge);
    let keys: BTreeSet<&String> = prom.keys().chain(edge.keys()).collect();
    let mut diffs = Vec::new();
    for key in keys {
        if flaky.contains(&case_of(key)) {
            continue;
        }
        let (p, e) = (prom.get(key), edge.get(key));
        let differs = match (p, e) {
            (Some(p), Some(e)) if is_timing(key) => timing_shape(p) != timing_shape(e),
            (Some(p), Some(e)) => shape(p) != shape(e),
            _ => true,
        };
        if !differs {
            continue;
        }
        let case = case_of(key);
        if allowed.iter().any(|(c, re)| c == &case && re.is_match(key)) {
            continue;
        }
        let show = |s: Option<&Vec<(i64, f64)>>| match s {
            None => "absent".to_string(),
            Some(s) if is_timing(key) => format!("{:?}", timing_shape(s)),
            Some(s) => format!("{:?}", shape(s)),
        };
        diffs.push(format!(
            "{key}\n    prometheus: {}\n    edgescrape: {}",
            show(p),
            show(e)
        ));
    }
    diffs
}

#[test]
fn edgescrape_stores_what_prometheus_agent_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = corpus();
    let paths: HashMap<String, Vec<Step>> = cases
        .iter()
        .map(|c| (format!("/case/{}", c.name), c.steps.clone()))
        .collect();
    let targets = ExpositionServer::start(paths);
    let receiver = Receiver::start();

    let down_port = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    let edge_cfg = dir.path().join("edgescrape.yml");
    let write_configs = |without: &[&str]| {
        let p = config(
            &cases,
            &targets.address,
            down_port,
            &format!("{}/prometheus", receiver.base_url),
            without,
        );
        let e = config(
            &cases,
            &targets.address,
            down_port,
            &format!("{}/edgescrape", receiver.base_url),
            without,
        );
        std::fs::write(&prom_cfg, p).expect("write prometheus config");
        std::fs::write(&edge_cfg, e).expect("write edgescrape config");
    };
    write_configs(&[]);

    let prom_port = free_port();
    let edge_port = free_port();
    let prom = ChildGuard::spawn(
        "/usr/bin/prometheus",
        &[
            "--enable-feature=agent".into(),
            format!("--config.file={}", prom_cfg.display()),
            format!(
                "--storage.agent.path={}",
                dir.path().join("agent").display()
            ),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &dir.path().join("prometheus.log"),
    );
    let edge = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_edgescrape"),
        &[
            format!("--config.file={}", edge_cfg.display()),
            format!("--storage.path={}", dir.path().join("edge").display()),
            format!("--web.listen-address=127.0.0.1:{edge_port}"),
        ],
        &dir.path().join("edgescrape.log"),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{prom_port}/-/ready"),
        Duration::from_secs(30),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{edge_port}/-/ready"),
        Duration::from_secs(30),
    );

    // Every step of every sequence is scraped (the longest has 4), then a
    // reload removes one job (end-of-run staleness), then one removes all.
    std::thread::sleep(Duration::from_secs(8));
    write_configs(&["removed_by_reload"]);
    prom.signal(1);
    edge.signal(1);
    std::thread::sleep(Duration::from_secs(5));
    let all: Vec<&str> = cases
        .iter()
        .map(|c| c.name)
        .chain(["target_down"])
        .collect();
    write_configs(&all);
    prom.signal(1);
    edge.signal(1);
    std::thread::sleep(Duration::from_secs(8));

    // Both have had time to write end-of-run markers and send them; on a
    // loaded machine a queue may still be draining, so look again for a
    // while before calling a difference a difference.
    let empty = BTreeMap::new();
    let mut diffs = Vec::new();
    let settled = wait_until(Duration::from_secs(20), || {
        let data = receiver.snapshot();
        let p = data.get("prometheus").unwrap_or(&empty);
        let e = data.get("edgescrape").unwrap_or(&empty);
        diffs = compare(p, e);
        p.len() > 50 && diffs.is_empty()
    });
    let sent = receiver
        .snapshot()
        .get("prometheus")
        .map_or(0, BTreeMap::len);
    assert!(
        sent > 50,
        "prometheus sent only {sent} series; see {}",
        dir.path().display()
    );
    if !settled {
        let report = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
        let _ = std::fs::create_dir_all(&report);
        let _ = std::fs::write(report.join("differential.txt"), diffs.join("\n"));
        let keep = dir.keep();
        panic!(
            "{} series differ (logs kept in {}):\n{}",
            diffs.len(),
            keep.display(),
            diffs.join("\n")
        );
    }
    drop((prom, edge));
}
