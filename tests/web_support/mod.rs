//! Shared by the web tests: small real implementations of the web views,
//! filled with data shaped like a running edgescrape's, and an HTTP helper.

#![allow(dead_code)] // each test crate uses a different part

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgescrape::labels::Labels;
use edgescrape::relabel::RelabelConfig;
use edgescrape::storage::is_stale_nan;
use edgescrape::storage::selector::{matches_all, Matcher};
use edgescrape::web::views::{ProcessStatus, QueueStatus, WalStatus};
use edgescrape::web::{
    DroppedTargetInfo, Health, JobRelabelRules, Lifecycle, Metrics, SeriesView, StatusReport,
    TargetInfo, TargetsView, Views, WebOptions,
};

/// Targets the test sets.
#[derive(Default)]
pub struct FixedTargets {
    pub active: Mutex<Vec<TargetInfo>>,
    pub dropped: Mutex<Vec<DroppedTargetInfo>>,
}

impl TargetsView for FixedTargets {
    fn active(&self) -> Vec<TargetInfo> {
        self.active.lock().clone()
    }
    fn dropped(&self) -> Vec<DroppedTargetInfo> {
        self.dropped.lock().clone()
    }
    fn relabel_rules(&self) -> Vec<JobRelabelRules> {
        sample_relabel_rules()
    }
}

/// The rules of the sample jobs: `node` copies the file path into
/// `sd_file` and drops 10.0.0.9; `demo` drops targets on port 1.
pub fn sample_relabel_rules() -> Vec<JobRelabelRules> {
    let rules = |yaml: &str| -> Vec<RelabelConfig> {
        serde_yaml::from_str(yaml).expect("sample relabel rules")
    };
    vec![
        JobRelabelRules {
            job: "demo".to_string(),
            relabel_configs: rules("- {source_labels: [__address__], regex: '.*:1', action: drop}"),
            metric_relabel_configs: rules(
                "- {source_labels: [__name__], regex: 'go_.*', action: drop}",
            ),
        },
        JobRelabelRules {
            job: "node".to_string(),
            relabel_configs: rules(
                "- {source_labels: [__meta_filepath], target_label: sd_file}\n\
                 - {source_labels: [__address__], regex: '10[.]0[.]0[.]9:.*', action: drop}",
            ),
            metric_relabel_configs: Vec::new(),
        },
    ]
}

/// PromQL's default lookback.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// An in-memory head: every series with its samples in time order.
pub struct MemSeries {
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl SeriesView for MemSeries {
    fn instant(&self, matchers: &[Matcher], at_ms: i64) -> Vec<(Labels, i64, f64)> {
        self.series
            .iter()
            .filter(|(l, _)| matches_all(matchers, l))
            .filter_map(|(l, samples)| {
                let (t, v) = samples
                    .iter()
                    .rev()
                    .find(|(t, _)| *t <= at_ms && *t > at_ms - LOOKBACK_MS)?;
                (!is_stale_nan(*v)).then(|| (l.clone(), *t, *v))
            })
            .collect()
    }

    fn range(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<(Labels, Vec<(i64, f64)>)>, String> {
        Ok(self
            .series
            .iter()
            .filter(|(l, _)| matches_all(matchers, l))
            .map(|(l, s)| {
                let s = s.iter().filter(|(t, _)| (mint_ms..=maxt_ms).contains(t));
                (l.clone(), s.copied().collect())
            })
            .collect())
    }
}

/// Lifecycle whose readiness and reload outcome the test sets.
#[derive(Default)]
pub struct TestLifecycle {
    pub ready: AtomicBool,
    pub reloads: AtomicUsize,
    pub quits: AtomicUsize,
    pub fail_reload: AtomicBool,
    pub external_labels: Labels,
}

impl Lifecycle for TestLifecycle {
    fn reload(&self) -> Result<(), String> {
        self.reloads.fetch_add(1, Ordering::SeqCst);
        if self.fail_reload.load(Ordering::SeqCst) {
            Err("conf/prometheus.yml:3: field scrape_intervall not found".to_string())
        } else {
            Ok(())
        }
    }
    fn quit(&self) {
        self.quits.fetch_add(1, Ordering::SeqCst);
    }
    fn config_yaml(&self) -> String {
        "global:\n  scrape_interval: 15s\nremote_write:\n- url: http://central:9090/api/v1/write\n  basic_auth:\n    username: edge\n    password: <secret>\n".to_string()
    }
    fn flags(&self) -> Vec<(String, String)> {
        vec![
            ("web.listen-address".to_string(), "127.0.0.1:0".to_string()),
            ("config.file".to_string(), "conf/prometheus.yml".to_string()),
        ]
    }
    fn external_labels(&self) -> Labels {
        self.external_labels.clone()
    }
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    fn status(&self) -> StatusReport {
        sample_status(now_ms())
    }
}

/// A box whose one queue is 90 s behind with an error, 3 of 8 MiB of WAL
/// used. `now`: the time of the test, in ms.
pub fn sample_status(now: i64) -> StatusReport {
    StatusReport {
        queues: vec![QueueStatus {
            name: "central".to_string(),
            url: "http://central:9090/api/v1/write".to_string(),
            samples_pending: 1234,
            samples_sent: 50_000,
            samples_retried: 300,
            newest_read_ms: Some(now - 1_000),
            newest_sent_ms: Some(now - 91_000),
            bytes_sent: 2_000_000,
            retrying_since: Some(SystemTime::now() - Duration::from_secs(95)),
            last_error: Some("server returned HTTP status 503 <Service Unavailable>".to_string()),
            ..QueueStatus::default()
        }],
        wal: WalStatus {
            dir: "data/wal".to_string(),
            segments: 3,
            bytes: 3 << 20,
            bytes_written_total: 3 << 20,
            series: 420,
            retention_bytes: Some(8 << 20),
            retention_time: Some(Duration::from_secs(15 * 86_400)),
            oldest_ms: Some(now - 3_600_000),
            newest_ms: Some(now - 1_000),
            recent_write_rate: None,
        },
        process: ProcessStatus {
            version: "0.1.0".to_string(),
            config_file: "conf/prometheus.yml".to_string(),
            last_reload_successful: false,
            last_reload_success: SystemTime::now() - Duration::from_secs(600),
        },
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Three pools: a healthy self-scrape, a node pool with one target down and
/// one not scraped yet, and a demo pool whose labels hold markup.
pub fn sample_targets(port: u16) -> (Vec<TargetInfo>, Vec<DroppedTargetInfo>) {
    let now = SystemTime::now();
    let self_addr = format!("localhost:{port}");
    let target = |pool: &str, addr: &str, extra: &[(&str, &str)]| {
        let mut discovered = vec![
            ("__address__", addr),
            ("__metrics_path__", "/metrics"),
            ("__scheme__", "http"),
            ("__scrape_interval__", "15s"),
            ("__scrape_timeout__", "10s"),
            ("job", pool),
        ];
        discovered.extend_from_slice(extra);
        TargetInfo {
            scrape_pool: pool.to_string(),
            scrape_url: format!("http://{addr}/metrics"),
            discovered_labels: labels(&discovered),
            labels: labels(&[("instance", addr), ("job", pool)]),
            health: Health::Up,
            last_error: String::new(),
            last_scrape: now - Duration::from_millis(3_200),
            last_scrape_duration: Duration::from_micros(4_321),
            scrape_interval: "15s".to_string(),
            scrape_timeout: "10s".to_string(),
            recent_durations: vec![0.004, 0.0051, 0.0039, 0.0062, 0.0043],
        }
    };
    let mut down = target(
        "node",
        "10.0.0.7:9100",
        &[("__meta_filepath", "/etc/sd/node.json")],
    );
    down.health = Health::Down;
    down.last_error =
        "Get \"http://10.0.0.7:9100/metrics\": dial tcp 10.0.0.7:9100: connect: connection refused"
            .to_string();
    down.last_scrape_duration = Duration::from_millis(1_002);
    let mut unknown = target("node", "10.0.0.8:9100", &[]);
    unknown.health = Health::Unknown;
    unknown.last_scrape = UNIX_EPOCH;
    unknown.last_scrape_duration = Duration::ZERO;
    unknown.recent_durations.clear();
    let mut evil = target("demo", "127.0.0.1:9999", &[]);
    evil.labels = labels(&[
        ("instance", "127.0.0.1:9999"),
        ("job", "demo"),
        ("owner", "<script>alert('x')</script>"),
    ]);
    (
        vec![
            target("self", &self_addr, &[]),
            down,
            unknown,
            target("node", "10.0.0.6:9100", &[]),
            evil,
        ],
        vec![
            DroppedTargetInfo {
                scrape_pool: "node".to_string(),
                discovered_labels: labels(&[
                    ("__address__", "10.0.0.9:9100"),
                    ("__meta_filepath", "/etc/sd/node.json"),
                    ("job", "node"),
                ]),
            },
            DroppedTargetInfo {
                scrape_pool: "demo".to_string(),
                discovered_labels: labels(&[("__address__", "127.0.0.1:1"), ("job", "demo")]),
            },
        ],
    )
}

/// Series as a scrape of the sample targets would leave in the head.
/// `now`: the time of the test's start, in ms.
pub fn sample_series(now: i64) -> MemSeries {
    let s = |pairs: &[(&str, &str)], samples: Vec<(i64, f64)>| (labels(pairs), samples);
    MemSeries {
        series: vec![
            s(
                &[
                    ("__name__", "up"),
                    ("instance", "10.0.0.6:9100"),
                    ("job", "node"),
                ],
                vec![(now - 30_000, 0.0), (now - 15_000, 1.0)],
            ),
            s(
                &[
                    ("__name__", "up"),
                    ("instance", "10.0.0.7:9100"),
                    ("job", "node"),
                ],
                vec![(now - 15_000, 0.0)],
            ),
            s(
                &[
                    ("__name__", "node_load1"),
                    ("instance", "10.0.0.6:9100"),
                    ("job", "node"),
                ],
                vec![(now - 15_000, 0.25)],
            ),
            s(
                &[
                    ("__name__", "node_filesystem_avail_bytes"),
                    ("instance", "10.0.0.6:9100"),
                    ("job", "node"),
                    ("mountpoint", "/"),
                ],
                vec![(now - 15_000, 1.2345678e10)],
            ),
            s(
                &[("__name__", "weird"), ("job", "demo"), ("kind", "nan")],
                vec![(now - 15_000, f64::NAN)],
            ),
            s(
                &[("__name__", "weird"), ("job", "demo"), ("kind", "inf")],
                vec![(now - 15_000, f64::INFINITY)],
            ),
            s(
                &[("__name__", "weird"), ("job", "demo"), ("kind", "tiny")],
                vec![(now - 15_000, 1e-7)],
            ),
            s(
                &[("__name__", "gone"), ("job", "node")],
                vec![
                    (now - 30_000, 1.0),
                    (now - 15_000, edgescrape::storage::stale_nan()),
                ],
            ),
            s(
                &[("__name__", "old"), ("job", "node")],
                vec![(now - 600_000, 1.0)],
            ),
        ],
    }
}

/// A started server and what it reads.
pub struct Fixture {
    pub server: Option<edgescrape::web::Server>,
    pub targets: Arc<FixedTargets>,
    /// The "now" the sample series were written relative to, in ms.
    pub t0: i64,
    pub lifecycle: Arc<TestLifecycle>,
    pub base: String,
}

impl Fixture {
    /// Starts on a free port; the targets (one of which scrapes the server
    /// itself) are filled in once the port is known.
    pub fn start(options: WebOptions, lifecycle: TestLifecycle, metrics: Metrics) -> Fixture {
        let lifecycle = Arc::new(lifecycle);
        let targets = Arc::new(FixedTargets::default());
        let t0 = now_ms();
        let views = Views {
            targets: targets.clone(),
            series: Arc::new(sample_series(t0)),
            lifecycle: lifecycle.clone(),
            metrics,
        };
        let options = WebOptions {
            listen_address: "127.0.0.1:0".to_string(),
            ..options
        };
        let server = edgescrape::web::Server::start(options, views).expect("start web server");
        let port = server.local_addr().port();
        let (active, dropped) = sample_targets(port);
        *targets.active.lock() = active;
        *targets.dropped.lock() = dropped;
        let scheme = if server.is_tls() { "https" } else { "http" };
        let base = format!("{scheme}://127.0.0.1:{port}");
        Fixture {
            server: Some(server),
            targets,
            t0,
            lifecycle,
            base,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

/// Status, headers and body of a response, whatever its status.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub fn send(request: ureq::Request, body: Option<&str>) -> Reply {
    let result = match body {
        Some(b) => request.send_string(b),
        None => request.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = response.status();
    let content_type = response.header("Content-Type").unwrap_or("").to_string();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect();
    let body = response.into_string().expect("read body");
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

pub fn get(url: &str) -> Reply {
    send(ureq::get(url), None)
}
