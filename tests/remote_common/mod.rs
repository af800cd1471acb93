//! Shared by the remote_write integration tests: real receivers started on
//! free 127.0.0.1 ports with temporary data, killed by PID when dropped, a
//! recording receiver, and a storage to append scrapes to.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edgescrape::config::RemoteWriteConfig;
use edgescrape::labels::Labels;
use edgescrape::storage::fanout::{Storage, StorageOptions};
use edgescrape::storage::remote::codec::decode_write_request;
use edgescrape::storage::Appendable;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Polls `f` every 50 ms until it is true; panics with `what` after `limit`.
#[track_caller]
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "gave up waiting: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A receiver process, killed (SIGKILL) and reaped when dropped.
pub struct Peer {
    child: Option<Child>,
    pub port: u16,
    pub data: PathBuf,
    args: Vec<String>,
    program: &'static str,
    ready_path: &'static str,
}

impl Peer {
    /// Prometheus 2.42 with the remote-write receiver, data under `data`.
    pub fn prometheus(data: &Path, port: u16) -> Peer {
        let config = data.join("prometheus.yml");
        std::fs::create_dir_all(data).unwrap();
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
        let mut p = Peer {
            child: None,
            port,
            data: data.to_path_buf(),
            args: vec![
                "--web.enable-remote-write-receiver".into(),
                format!("--storage.tsdb.path={}", data.join("tsdb").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                format!("--config.file={}", config.display()),
            ],
            program: "/usr/bin/prometheus",
            ready_path: "/-/ready",
        };
        p.start();
        p
    }

    /// VictoriaMetrics single-node, data under `data`.
    pub fn victoria_metrics(data: &Path, port: u16) -> Peer {
        let mut p = Peer {
            child: None,
            port,
            data: data.to_path_buf(),
            args: vec![
                format!("-storageDataPath={}", data.display()),
                format!("-httpListenAddr=127.0.0.1:{port}"),
                "-search.latencyOffset=0s".into(),
                "-search.disableCache".into(),
            ],
            program: "/usr/bin/victoria-metrics",
            ready_path: "/health",
        };
        p.start();
        p
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process and waits until it answers its ready path.
    pub fn start(&mut self) {
        assert!(self.child.is_none());
        std::fs::create_dir_all(&self.data).unwrap();
        let log = std::fs::File::create(self.data.join(format!("{}.log", self.port))).unwrap();
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program));
        self.child = Some(child);
        let url = format!("{}{}", self.base(), self.ready_path);
        wait_until(
            &format!("{} ready", self.program),
            Duration::from_secs(60),
            || ureq::get(&url).call().is_ok(),
        );
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `(labels as "name=value,..." without __name__, metric name) -> [(t, v)]`.
pub type Got = BTreeMap<String, Vec<(i64, f64)>>;

/// Series key used by every reader below: labels as `{a="1", b="2"}`.
pub fn key(labels: &Labels) -> String {
    labels.to_string()
}

/// Everything Prometheus holds for metrics matching `re`, raw samples.
pub fn prometheus_samples(peer: &Peer, re: &str, at_ms: i64) -> Got {
    let query = format!("{{__name__=~\"{re}\"}}[2h]");
    let resp: serde_json::Value = ureq::get(&format!("{}/api/v1/query", peer.base()))
        .query("query", &query)
        .query("time", &format!("{}", at_ms as f64 / 1000.0))
        .call()
        .unwrap()
        .into_string()
        .map(|b| serde_json::from_str(&b).unwrap())
        .unwrap();
    let mut out = Got::new();
    for series in resp["data"]["result"].as_array().unwrap() {
        let labels = Labels::from_pairs(
            series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
        );
        let values = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                (t, v)
            })
            .collect();
        out.insert(key(&labels), values);
    }
    out
}

/// Everything VictoriaMetrics holds for metrics matching `re`.
pub fn victoria_samples(peer: &Peer, re: &str) -> Got {
    ureq::get(&format!("{}/internal/force_flush", peer.base()))
        .call()
        .unwrap();
    let body = ureq::get(&format!("{}/api/v1/export", peer.base()))
        .query("match[]", &format!("{{__name__=~\"{re}\"}}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let mut out = Got::new();
    for line in body.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels = Labels::from_pairs(
            v["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
        );
        let mut pts: Vec<(i64, f64)> = v["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .zip(v["values"].as_array().unwrap())
            .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap()))
            .collect();
        pts.sort_by_key(|p| p.0);
        out.entry(key(&labels)).or_default().extend(pts);
    }
    out
}

/// A remote_write receiver in this process that decodes every request and
/// answers with what `respond` says for the n-th request (0-based).
pub struct Recorder {
    server: Arc<tiny_http::Server>,
    /// Every sample received, in arrival order, per series.
    pub got: Arc<Mutex<Got>>,
    /// Requests seen.
    pub requests: Arc<Mutex<u64>>,
    thread: Option<thread::JoinHandle<()>>,
}

pub type Respond = Box<dyn FnMut(u64) -> (u16, Option<String>) + Send>;

impl Recorder {
    pub fn start(port: u16, mut respond: Respond) -> Recorder {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let got = Arc::new(Mutex::new(Got::new()));
        let requests = Arc::new(Mutex::new(0));
        let (s, g, r) = (server.clone(), got.clone(), requests.clone());
        let thread = thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = Vec::new();
                req.as_reader().read_to_end(&mut body).unwrap();
                let n = {
                    let mut r = r.lock().unwrap();
                    *r += 1;
                    *r - 1
                };
                let (status, retry_after) = respond(n);
                if status / 100 == 2 {
                    let wr = decode_write_request(&body).unwrap();
                    let mut g = g.lock().unwrap();
                    for ts in wr.timeseries {
                        let labels =
                            Labels::from_pairs(ts.labels.iter().map(|l| (&l.name, &l.value)));
                        let e = g.entry(key(&labels)).or_default();
                        e.extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
                    }
                }
                let mut resp = tiny_http::Response::empty(status);
                if let Some(ra) = retry_after {
                    resp.add_header(tiny_http::Header::from_bytes("Retry-After", ra).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        Recorder {
            server,
            got,
            requests,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.server.server_addr())
    }

    pub fn got(&self) -> Got {
        self.got.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().values().map(Vec::len).sum()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A storage under `dir` (WAL in `dir/wal`).
pub fn open_storage(dir: &Path) -> Storage {
    Storage::open(dir, StorageOptions::default()).unwrap()
}

/// The series a "scrape" writes: `rw_test{instance="i<k>"}` for k in 0..n.
pub fn scrape_series(metric: &str, n: usize) -> Vec<Labels> {
    (0..n)
        .map(|k| {
            Labels::from_pairs([
                ("__name__", metric.to_string()),
                ("instance", format!("i{k}")),
                ("job", "edge".to_string()),
            ])
        })
        .collect()
}

/// Value of series `k` at scrape `i`.
pub fn value(i: usize, k: usize) -> f64 {
    (i * 10 + k) as f64 + 0.5
}

/// Commits one scrape: every series at `t` with [`value`].
pub fn scrape(storage: &Storage, series: &[Labels], i: usize, t: i64) {
    let fanout = storage.fanout();
    let mut app = fanout.appender();
    for (k, l) in series.iter().enumerate() {
        app.append(0, l, t, value(i, k)).unwrap();
    }
    app.commit().unwrap();
}

/// What a receiver must hold after scrapes `0..n` at `t0 + i * step`,
/// series labels with `extra` added.
pub fn expected(series: &[Labels], extra: &[(&str, &str)], n: usize, t0: i64, step: i64) -> Got {
    let mut out = Got::new();
    for (k, l) in series.iter().enumerate() {
        let mut b = l.builder();
        for (name, v) in extra {
            b.set(name, v);
        }
        out.insert(
            key(&b.labels()),
            (0..n)
                .map(|i| (t0 + i as i64 * step, value(i, k)))
                .collect(),
        );
    }
    out
}

/// A remote_write config for `url` with small batches and quick retries.
pub fn config(url: &str, extra: &str) -> RemoteWriteConfig {
    serde_yaml::from_str(&format!(
        "url: {url}\nname: test\nremote_timeout: 5s\nqueue_config:\n  max_samples_per_send: 10\n  batch_send_deadline: 100ms\n  min_backoff: 10ms\n  max_backoff: 200ms\n{extra}"
    ))
    .unwrap()
}
