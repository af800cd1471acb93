//! System benchmark: edgescrape against Prometheus 2.42 in agent mode and
//! vmagent, one after another on the same targets, config and sink.
//!
//! nginx serves N identical targets (a real node_exporter payload, or a
//! 10,000-series payload); each scraper scrapes them every second for the
//! same time and remote_writes to one sink that counts samples. Per scraper:
//! CPU per sample, resident memory (steady and peak), threads, samples
//! delivered against expected, and scrape interval jitter from nginx's
//! access log. The table is printed and written to `bench/RESULTS.md`.
//!
//! `BENCH_SECONDS` (default 30) sets the measured time of each run;
//! `BENCH_N` (default `1,10,100,500`) the target counts.

#[path = "../tests/peers/mod.rs"]
mod peers;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peers::{free_port, wait_http_ok, ChildGuard};

/// Warm-up before measuring: first scrapes, caches filled, WALs created.
const WARMUP: Duration = Duration::from_secs(5);
/// Time after the measured window for delivery of what was scraped in it.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq)]
enum Scraper {
    Edgescrape,
    PrometheusAgent,
    Vmagent,
}

impl Scraper {
    fn name(self) -> &'static str {
        match self {
            Scraper::Edgescrape => "edgescrape",
            Scraper::PrometheusAgent => "prometheus-agent",
            Scraper::Vmagent => "vmagent",
        }
    }

    /// Prefix of the User-Agent each sends, to attribute access-log lines.
    fn user_agent(self) -> &'static str {
        match self {
            Scraper::Edgescrape => "edgescrape/",
            Scraper::PrometheusAgent => "Prometheus/",
            Scraper::Vmagent => "vm_promscrape",
        }
    }
}

struct Row {
    scraper: Scraper,
    payload: &'static str,
    n: usize,
    series_per_target: usize,
    cpu_us_per_sample: f64,
    rss_steady_mb: f64,
    rss_peak_mb: f64,
    threads: u64,
    delivered: u64,
    expected: u64,
    jitter_p50_ms: f64,
    jitter_p99_ms: f64,
    missed: usize,
}

/// Counts samples in snappy-compressed remote_write requests without
/// decoding them into messages, so the sink is never the bottleneck.
struct Sink {
    url: String,
    samples: Arc<AtomicU64>,
    _server: Arc<tiny_http::Server>,
}

impl Sink {
    fn start() -> Sink {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind sink"));
        let port = server.server_addr().to_ip().map(|a| a.port()).expect("tcp");
        let samples = Arc::new(AtomicU64::new(0));
        for i in 0..2 {
            let server = Arc::clone(&server);
            let samples = Arc::clone(&samples);
            std::thread::Builder::new()
                .name(format!("bench sink {i}"))
                .spawn(move || {
                    let mut body = Vec::new();
                    let mut raw = Vec::new();
                    let mut decoder = snap::raw::Decoder::new();
                    for mut request in server.incoming_requests() {
                        body.clear();
                        let ok = std::io::Read::read_to_end(request.as_reader(), &mut body).is_ok()
                            && snap::raw::decompress_len(&body)
                                .map(|len| raw.resize(len, 0))
                                .is_ok()
                            && decoder.decompress(&body, &mut raw).is_ok();
                        let status = if ok {
                            samples.fetch_add(count_samples(&raw), Ordering::Relaxed);
                            204
                        } else {
                            400
                        };
                        let _ = request.respond(tiny_http::Response::empty(status));
                    }
                })
                .expect("spawn sink thread");
        }
        Sink {
            url: format!("http://127.0.0.1:{port}/write"),
            samples,
            _server: server,
        }
    }
}

/// Reads a protobuf varint at `*i`.
fn varint(buf: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*i)?;
        *i += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Number of `samples` (field 2) in the `timeseries` (field 1) of a WriteRequest.
fn count_samples(buf: &[u8]) -> u64 {
    let mut n = 0;
    let mut i = 0;
    while i < buf.len() {
        let Some(key) = varint(buf, &mut i) else {
            break;
        };
        match key & 7 {
            0 => {
                varint(buf, &mut i);
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let Some(len) = varint(buf, &mut i) else {
                    break;
                };
                let end = i + len as usize;
                if key >> 3 == 1 {
                    let mut j = i;
                    while j < end.min(buf.len()) {
                        let Some(k) = varint(buf, &mut j) else { break };
                        let Some(l) = (k & 7 == 2).then(|| varint(buf, &mut j)).flatten() else {
                            break;
                        };
                        if k >> 3 == 2 {
                            n += 1;
                        }
                        j += l as usize;
                    }
                }
                i = end;
            }
            _ => break,
        }
    }
    n
}

/// A 10,000-series payload: 100 families of 100 series each.
fn synthetic_payload() -> String {
    let mut out = String::new();
    for f in 0..100 {
        let _ = writeln!(
            out,
            "# HELP bench_family_{f} Synthetic family {f}.\n# TYPE bench_family_{f} gauge"
        );
        for s in 0..100 {
            let _ = writeln!(
                out,
                "bench_family_{f}{{shard=\"{s}\",zone=\"z{}\"}} {}",
                s % 7,
                f * 1000 + s
            );
        }
    }
    out
}

fn node_exporter_payload(dir: &Path) -> String {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node_exporter.prom");
    if let Ok(text) = std::fs::read_to_string(&fixture) {
        return text;
    }
    let port = free_port();
    let _exporter = ChildGuard::spawn(
        "/usr/bin/prometheus-node-exporter",
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &dir.join("node_exporter.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_http_ok(&url, Duration::from_secs(10));
    let response = ureq::get(&url).call().expect("scrape node_exporter");
    response.into_string().expect("read node_exporter body")
}

fn series_in(payload: &str) -> usize {
    payload
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count()
}

fn start_nginx(dir: &Path, payload: &str) -> (ChildGuard, u16, PathBuf) {
    let port = free_port();
    std::fs::write(dir.join("payload"), payload).expect("write payload");
    let log = dir.join("access.log");
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           log_format timing '$msec $request_uri \"$http_user_agent\"';\n\
           access_log {log} timing;\n\
           client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             location /t/ {{ default_type text/plain; rewrite ^/t/[0-9]+/metrics$ /payload break; root {d}; }}\n\
           }}\n\
         }}\n",
        d = dir.display(),
        log = log.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    let nginx = ChildGuard::spawn(
        "/usr/sbin/nginx",
        &[
            "-c".into(),
            conf_path.display().to_string(),
            "-e".into(),
            dir.join("error.log").display().to_string(),
        ],
        &dir.join("nginx.out"),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{port}/t/0/metrics"),
        Duration::from_secs(10),
    );
    (nginx, port, log)
}

fn scrape_config(n: usize, port: u16) -> String {
    let mut y = String::from("  - job_name: bench\n    relabel_configs:\n      - {source_labels: [replica], target_label: __metrics_path__, replacement: /t/$1/metrics}\n    static_configs:\n");
    for i in 0..n {
        let _ = writeln!(
            y,
            "      - {{targets: [\"127.0.0.1:{port}\"], labels: {{replica: \"{i}\"}}}}"
        );
    }
    y
}

fn start_scraper(
    scraper: Scraper,
    dir: &Path,
    n: usize,
    port: u16,
    sink: &str,
) -> (ChildGuard, u16) {
    let web = free_port();
    let global = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n";
    let scrape = format!("scrape_configs:\n{}", scrape_config(n, port));
    let remote = format!("remote_write:\n  - url: {sink}\n");
    let cfg = dir.join(format!("{}.yml", scraper.name()));
    let data = dir.join(format!("{}-data", scraper.name()));
    let log = dir.join(format!("{}.log", scraper.name()));
    let guard = match scraper {
        Scraper::Edgescrape => {
            std::fs::write(&cfg, format!("{global}{remote}{scrape}")).expect("write config");
            ChildGuard::spawn(
                env!("CARGO_BIN_EXE_edgescrape"),
                &[
                    format!("--config.file={}", cfg.display()),
                    format!("--storage.path={}", data.display()),
                    format!("--web.listen-address=127.0.0.1:{web}"),
                ],
                &log,
            )
        }
        Scraper::PrometheusAgent => {
            std::fs::write(&cfg, format!("{global}{remote}{scrape}")).expect("write config");
            ChildGuard::spawn(
                "/usr/bin/prometheus",
                &[
                    "--enable-feature=agent".into(),
                    format!("--config.file={}", cfg.display()),
                    format!("--storage.agent.path={}", data.display()),
                    format!("--web.listen-address=127.0.0.1:{web}"),
                ],
                &log,
            )
        }
        Scraper::Vmagent => {
            std::fs::write(&cfg, format!("{global}{scrape}")).expect("write config");
            ChildGuard::spawn(
                "/usr/bin/vmagent",
                &[
                    format!("-promscrape.config={}", cfg.display()),
                    format!("-remoteWrite.url={sink}"),
                    format!("-remoteWrite.tmpDataPath={}", data.display()),
                    format!("-httpListenAddr=127.0.0.1:{web}"),
                    "-loggerLevel=WARN".into(),
                ],
                &log,
            )
        }
    };
    (guard, web)
}

/// utime + stime of a process in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn status_field(pid: u32, name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Interval jitter (|interval − 1 s|, ms) and missed intervals from the access log,
/// for requests of `scraper` between `from` and `to` (unix seconds).
fn jitter(log: &Path, scraper: Scraper, from: f64, to: f64) -> (f64, f64, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut per_path: HashMap<&str, Vec<f64>> = HashMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(t), Some(path), Some(ua)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(t) = t.parse::<f64>() else { continue };
        if ua.trim_matches('"').starts_with(scraper.user_agent()) && t >= from && t <= to {
            per_path.entry(path).or_default().push(t);
        }
    }
    let mut dev = Vec::new();
    let mut missed = 0;
    for times in per_path.values_mut() {
        times.sort_by(f64::total_cmp);
        for w in times.windows(2) {
            let d = w[1] - w[0];
            if d > 1.5 {
                missed += (d - 0.5).floor() as usize;
            }
            dev.push(((d - 1.0).abs()) * 1000.0);
        }
    }
    dev.sort_by(f64::total_cmp);
    (percentile(&dev, 0.5), percentile(&dev, 0.99), missed)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn run_one(
    scraper: Scraper,
    payload_name: &'static str,
    payload: &str,
    n: usize,
    secs: u64,
) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nginx, port, access_log) = start_nginx(dir.path(), payload);
    let sink = Sink::start();
    let (mut child, web) = start_scraper(scraper, dir.path(), n, port, &sink.url);
    let ready = match scraper {
        Scraper::Vmagent => format!("http://127.0.0.1:{web}/health"),
        _ => format!("http://127.0.0.1:{web}/-/ready"),
    };
    wait_http_ok(&ready, Duration::from_secs(60));
    std::thread::sleep(WARMUP);
    let pid = child.pid();
    let (cpu0, delivered0, t0) = (
        cpu_seconds(pid),
        sink.samples.load(Ordering::Relaxed),
        unix_now(),
    );
    let start = Instant::now();
    let mut rss = Vec::new();
    let mut threads = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(status_field(pid, "VmRSS:") as f64 / 1024.0);
        threads = threads.max(status_field(pid, "Threads:"));
    }
    let (cpu1, t1) = (cpu_seconds(pid), unix_now());
    std::thread::sleep(DRAIN);
    let delivered1 = sink.samples.load(Ordering::Relaxed);
    let peak = status_field(pid, "VmHWM:") as f64 / 1024.0;
    let _ = child.terminate(Duration::from_secs(10));
    let series = series_in(payload) + 5;
    let expected = (n * series) as u64 * secs;
    let scraped_samples = expected as f64;
    let (p50, p99, missed) = jitter(&access_log, scraper, t0, t1);
    rss.sort_by(f64::total_cmp);
    Row {
        scraper,
        payload: payload_name,
        n,
        series_per_target: series,
        cpu_us_per_sample: (cpu1 - cpu0) * 1e6 / scraped_samples,
        rss_steady_mb: percentile(&rss, 0.5),
        rss_peak_mb: peak,
        threads,
        // Samples delivered in the window plus the drain, capped by what the
        // window offered: a scraper's backlog from the warm-up is not credit.
        delivered: (delivered1 - delivered0).min(expected),
        expected,
        jitter_p50_ms: p50,
        jitter_p99_ms: p99,
        missed,
    }
}

fn idle_rss(scraper: Scraper) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start();
    let (_nginx, port, _) = start_nginx(dir.path(), "idle 1\n");
    let (child, web) = start_scraper(scraper, dir.path(), 0, port, &sink.url);
    let ready = match scraper {
        Scraper::Vmagent => format!("http://127.0.0.1:{web}/health"),
        _ => format!("http://127.0.0.1:{web}/-/ready"),
    };
    wait_http_ok(&ready, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    status_field(child.pid(), "VmRSS:") as f64 / 1024.0
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches without `--bench`: the
        // system benchmark takes many minutes, so it runs only under `make bench`.
        return;
    }
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let ns: Vec<usize> = std::env::var("BENCH_N")
        .unwrap_or_else(|_| "1,10,100,500".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node_exporter_payload(dir.path());
    let synthetic = synthetic_payload();
    let scrapers = [
        Scraper::Edgescrape,
        Scraper::PrometheusAgent,
        Scraper::Vmagent,
    ];
    let mut rows = Vec::new();
    for &n in &ns {
        for &s in &scrapers {
            eprintln!("bench: {} node_exporter N={n}", s.name());
            rows.push(run_one(s, "node_exporter", &node, n, secs));
        }
    }
    for &s in &scrapers {
        eprintln!("bench: {} 10k-series N=100", s.name());
        rows.push(run_one(s, "10k-series", &synthetic, 100, secs));
    }
    let idle: Vec<(Scraper, f64)> = scrapers.iter().map(|&s| (s, idle_rss(s))).collect();
    let report = render(&rows, &idle, secs);
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
    if let Err(e) = std::fs::write(&out, &report) {
        eprintln!("bench: cannot write {}: {e}", out.display());
    }
}

fn render(rows: &[Row], idle: &[(Scraper, f64)], secs: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# System benchmark\n\nMeasured by `make bench` (benches/system.rs): {secs} s per run at a 1 s interval after a {} s warm-up, one scraper at a time, nginx serving the targets, one sink counting remote_write samples. Machine: {} cores.\n", WARMUP.as_secs(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    let _ = writeln!(out, "| scraper | payload | N | series/target | CPU µs/sample | RSS steady MB | RSS peak MB | threads | delivered/expected | jitter p50 ms | jitter p99 ms | missed intervals |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.1} | {:.1} | {} | {:.1} % ({}/{}) | {:.2} | {:.2} | {} |",
            r.scraper.name(), r.payload, r.n, r.series_per_target, r.cpu_us_per_sample, r.rss_steady_mb,
            r.rss_peak_mb, r.threads, 100.0 * r.delivered as f64 / r.expected.max(1) as f64, r.delivered,
            r.expected, r.jitter_p50_ms, r.jitter_p99_ms, r.missed
        );
    }
    let _ = writeln!(
        out,
        "\nIdle resident memory (no targets): {}\n",
        idle.iter()
            .map(|(s, m)| format!("{} {m:.1} MB", s.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "## Ratios edgescrape / vmagent\n\n| payload | N | CPU per sample | steady RSS |\n|---|---|---|---|");
    for r in rows.iter().filter(|r| r.scraper == Scraper::Edgescrape) {
        if let Some(vm) = rows
            .iter()
            .find(|v| v.scraper == Scraper::Vmagent && v.n == r.n && v.payload == r.payload)
        {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} |",
                r.payload,
                r.n,
                r.cpu_us_per_sample / vm.cpu_us_per_sample,
                r.rss_steady_mb / vm.rss_steady_mb
            );
        }
    }
    out
}
