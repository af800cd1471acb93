//! The scrape targets: one nginx serving one payload at a path per scraper
//! and target (`/t/<scraper>/<target>/metrics`), with an access log that
//! gives each scraper's scrape times.
//!
//! With gzip on, nginx serves a pre-compressed copy to clients that accept
//! gzip, as node_exporter compresses its answer, at no CPU cost to nginx.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::peers::{free_port, wait_http_ok};
use crate::procs::Proc;

/// A running nginx.
pub struct Targets {
    nginx: Proc,
    /// Port on 127.0.0.1.
    pub port: u16,
    access_log: PathBuf,
}

impl Targets {
    /// Starts nginx in `dir` serving `payload` (gzipped too when `gzip`).
    pub fn start(dir: &Path, payload: &str, gzip: bool) -> Targets {
        let port = free_port();
        std::fs::write(dir.join("payload"), payload).expect("write payload");
        if gzip {
            let file = std::fs::File::create(dir.join("payload.gz")).expect("create payload.gz");
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            gz.write_all(payload.as_bytes()).expect("gzip payload");
            gz.finish().expect("finish payload.gz");
        }
        let access_log = dir.join("access.log");
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, nginx_conf(dir, port, &access_log, gzip))
            .expect("write nginx.conf");
        let nginx = Proc::spawn(
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
            &format!("http://127.0.0.1:{port}/t/0/0/metrics"),
            Duration::from_secs(10),
        );
        Targets {
            nginx,
            port,
            access_log,
        }
    }

    /// Whether nginx has exited (the targets are gone).
    pub fn exited(&mut self) -> bool {
        self.nginx.exited()
    }

    /// nginx's process id.
    pub fn pid(&self) -> u32 {
        self.nginx.pid()
    }

    /// The scrape configuration of `n` targets for scraper `scraper`.
    pub fn scrape_configs(&self, scraper: usize, n: usize) -> String {
        let mut y = format!(
            "scrape_configs:\n  - job_name: bench\n    metrics_path: /t/{scraper}/0/metrics\n    relabel_configs:\n      \
             - {{source_labels: [replica], target_label: __metrics_path__, replacement: /t/{scraper}/$1/metrics}}\n    \
             static_configs:\n"
        );
        for i in 0..n {
            let _ = writeln!(
                y,
                "      - {{targets: [\"127.0.0.1:{}\"], labels: {{replica: \"{i}\"}}}}",
                self.port
            );
        }
        y
    }

    /// Scrape interval jitter of each scraper between `from` and `to` (unix seconds).
    pub fn jitter(&self, scrapers: usize, interval: f64, from: f64, to: f64) -> Vec<Jitter> {
        let text = std::fs::read_to_string(&self.access_log).unwrap_or_default();
        let mut times: Vec<HashMap<&str, Vec<f64>>> = vec![HashMap::new(); scrapers];
        for line in text.lines() {
            let Some((t, path)) = line.split_once(' ') else {
                continue;
            };
            let Ok(t) = t.parse::<f64>() else { continue };
            let scraper = path.split('/').nth(2).and_then(|s| s.parse::<usize>().ok());
            if let Some(per_path) = scraper.and_then(|s| times.get_mut(s)) {
                if t >= from && t < to {
                    per_path.entry(path).or_default().push(t);
                }
            }
        }
        times
            .into_iter()
            .map(|per_path| Jitter::of(per_path.into_values(), interval))
            .collect()
    }
}

fn nginx_conf(dir: &Path, port: u16, access_log: &Path, gzip: bool) -> String {
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           log_format timing '$msec $request_uri';\n\
           access_log {log} timing buffer=64k flush=1s;\n\
           client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           keepalive_requests 1000000;\n\
           keepalive_timeout 120s;\n\
           gzip_static {gz};\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             location /t/ {{ default_type text/plain; rewrite ^/t/[0-9]+/[0-9]+/metrics$ /payload break; root {d}; }}\n\
           }}\n\
         }}\n",
        d = dir.display(),
        log = access_log.display(),
        gz = if gzip { "on" } else { "off" },
    )
}

/// Deviation of scrape intervals from the configured one.
#[derive(Clone, Copy)]
pub struct Jitter {
    /// Median |interval − configured|, ms.
    pub p50_ms: f64,
    /// 99th percentile |interval − configured|, ms.
    pub p99_ms: f64,
    /// Intervals with no scrape at all.
    pub missed: u64,
}

impl Jitter {
    fn of(per_target: impl Iterator<Item = Vec<f64>>, interval: f64) -> Jitter {
        let mut deviations = Vec::new();
        let mut missed = 0;
        for mut times in per_target {
            times.sort_by(f64::total_cmp);
            for pair in times.windows(2) {
                let gap = pair[1] - pair[0];
                if gap > 1.5 * interval {
                    missed += (gap / interval - 0.5).floor() as u64;
                }
                deviations.push((gap - interval).abs() * 1000.0);
            }
        }
        deviations.sort_by(f64::total_cmp);
        Jitter {
            p50_ms: crate::percentile(&deviations, 0.5),
            p99_ms: crate::percentile(&deviations, 0.99),
            missed,
        }
    }
}
