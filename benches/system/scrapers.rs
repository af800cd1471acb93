//! The scrapers under test and how each is configured and started: the
//! same targets, interval and remote_write sink for all, each with its own
//! data directory so `/proc/PID/io` tells their disk writes apart.

use std::path::Path;
use std::time::Duration;

use crate::peers::{free_port, wait_http_ok};
use crate::procs::Proc;

/// Which program.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Edgescrape,
    PrometheusAgent,
    Vmagent,
}

/// A scraper as named in `BENCH_SCRAPERS`: a kind and extra flags.
#[derive(Clone)]
pub struct Spec {
    /// The program.
    pub kind: Kind,
    /// Extra command-line flags, e.g. `--storage.fsync=1s`.
    pub extra_args: Vec<String>,
}

impl Spec {
    /// Parses `edgescrape`, `vmagent`, `prometheus-agent`, each optionally
    /// followed by `:FLAG FLAG...` (extra flags for that program).
    pub fn parse(text: &str) -> Result<Spec, String> {
        let (name, flags) = text.split_once(':').unwrap_or((text, ""));
        let kind = match name.trim() {
            "edgescrape" => Kind::Edgescrape,
            "prometheus-agent" => Kind::PrometheusAgent,
            "vmagent" => Kind::Vmagent,
            other => {
                return Err(format!(
                    "unknown scraper {other:?} in BENCH_SCRAPERS (edgescrape, vmagent, prometheus-agent)"
                ))
            }
        };
        Ok(Spec {
            kind,
            extra_args: flags.split_whitespace().map(String::from).collect(),
        })
    }

    /// Name in the tables: the program and its extra flags.
    pub fn label(&self) -> String {
        let program = match self.kind {
            Kind::Edgescrape => "edgescrape",
            Kind::PrometheusAgent => "prometheus-agent",
            Kind::Vmagent => "vmagent",
        };
        std::iter::once(program.to_string())
            .chain(self.extra_args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Report series the program adds to every scrape (`up`, `scrape_*`).
    pub fn report_series(&self) -> usize {
        match self.kind {
            Kind::Edgescrape | Kind::PrometheusAgent => 5,
            Kind::Vmagent => 6,
        }
    }

    /// Starts the program in `dir` with `scrape_configs`, writing to `sink`;
    /// returns once it answers its readiness endpoint.
    pub fn start(&self, index: usize, dir: &Path, scrape_configs: &str, sink: &str) -> Proc {
        let web = free_port();
        let global = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n";
        let config = dir.join(format!("scraper-{index}.yml"));
        let data = dir.join(format!("scraper-{index}-data"));
        let log = dir.join(format!("scraper-{index}.log"));
        let remote = format!("remote_write:\n  - url: {sink}\n");
        let (program, mut args, ready) = match self.kind {
            Kind::Edgescrape => {
                std::fs::write(&config, format!("{global}{remote}{scrape_configs}"))
                    .expect("write config");
                (
                    env!("CARGO_BIN_EXE_edgescrape"),
                    vec![
                        format!("--config.file={}", config.display()),
                        format!("--storage.path={}", data.display()),
                        format!("--web.listen-address=127.0.0.1:{web}"),
                    ],
                    "/-/ready",
                )
            }
            Kind::PrometheusAgent => {
                std::fs::write(&config, format!("{global}{remote}{scrape_configs}"))
                    .expect("write config");
                (
                    "/usr/bin/prometheus",
                    vec![
                        "--enable-feature=agent".into(),
                        format!("--config.file={}", config.display()),
                        format!("--storage.agent.path={}", data.display()),
                        format!("--web.listen-address=127.0.0.1:{web}"),
                    ],
                    "/-/ready",
                )
            }
            Kind::Vmagent => {
                std::fs::write(&config, format!("{global}{scrape_configs}")).expect("write config");
                (
                    "/usr/bin/vmagent",
                    vec![
                        format!("-promscrape.config={}", config.display()),
                        format!("-remoteWrite.url={sink}"),
                        format!("-remoteWrite.tmpDataPath={}", data.display()),
                        format!("-httpListenAddr=127.0.0.1:{web}"),
                        "-loggerLevel=WARN".into(),
                    ],
                    "/health",
                )
            }
        };
        args.extend(self.extra_args.iter().cloned());
        let proc = Proc::spawn(program, &args, &log);
        let url = format!("http://127.0.0.1:{web}{ready}");
        let became_ready = std::panic::catch_unwind(|| wait_http_ok(&url, Duration::from_secs(60)));
        if became_ready.is_err() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            panic!(
                "bench: {} did not become ready; its log ends:\n{tail}",
                self.label()
            );
        }
        proc
    }
}
