//! The running process, as Prometheus's `cmd/prometheus`: opens storage,
//! starts remote_write queues, discovery, the scrape manager and the web
//! server, applies config reloads, and shuts down in order.
//!
//! Threads: the caller's thread owns [`App`] and waits for signals and quit
//! requests; discovery, scrape, remote and web run their own named threads.
//! Reloads are serialized by a mutex, so SIGHUP and `POST /-/reload` never
//! apply two configs at once.

mod dir_lock;
mod metrics;
mod views;
mod write_rate;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;

use dir_lock::DirLock;
use parking_lot::Mutex;

use edgescrape::cli::{Feature, Flags};
use edgescrape::config::{Config, RemoteWriteConfig};
use edgescrape::discovery;
use edgescrape::labels::Labels;
use edgescrape::scrape;
use edgescrape::storage::fanout::{Storage, StorageOptions};
use edgescrape::storage::remote::QueueManager;
use edgescrape::storage::wal::{Wal, WalOptions};
use edgescrape::storage::Appendable;
use edgescrape::web::{self, Server, Views, WebOptions};

/// How long shutdown waits for remote queues to send what they hold.
const REMOTE_STOP_DEADLINE: Duration = Duration::from_secs(10);
/// The longest a group commit waits for more scrapes to share its fsync
/// under `--storage.fsync=commit`. At 10 targets and a 1 s interval, 100
/// ms gave ~6 fsyncs a second and 7.8 bytes written per sample, 250 ms
/// ~2 and 4.4 (each fsync rewrites at least one 4 KiB page).
const MAX_COMMIT_WINDOW: Duration = Duration::from_millis(250);

/// The group-commit window for `config`: [`MAX_COMMIT_WINDOW`], or a
/// quarter of the shortest scrape interval if that is less, so a commit
/// never holds a loop past its next tick.
fn commit_window(config: &Config) -> Duration {
    config
        .scrape_configs
        .iter()
        .map(|sc| sc.interval().0 / 4)
        .fold(MAX_COMMIT_WINDOW, Duration::min)
}

/// Outcome of the last config reload, for `/metrics`.
#[derive(Debug, Default)]
pub struct ReloadStatus {
    /// Whether the last reload succeeded.
    pub success: AtomicBool,
    /// Unix seconds of the last successful reload (or start).
    pub success_time: AtomicI64,
}

/// A remote_write queue with the config it was started from.
struct RunningQueue {
    config: RemoteWriteConfig,
    external_labels: Labels,
    queue: QueueManager,
}

impl RunningQueue {
    /// Starts the queue for `config`, reading `wal`.
    fn start(
        wal: &Wal,
        config: &RemoteWriteConfig,
        external_labels: &Labels,
    ) -> Result<RunningQueue, String> {
        let queue = QueueManager::start(wal, config, external_labels)
            .map_err(|e| format!("starting remote_write to {}: {e}", config.url))?;
        Ok(RunningQueue {
            config: config.clone(),
            external_labels: external_labels.clone(),
            queue,
        })
    }
}

/// Everything started by [`App::start`]; shared with the web's lifecycle view.
pub struct App {
    flags: Flags,
    storage: Storage,
    scrape: scrape::Manager,
    discovery: Mutex<Option<discovery::Manager>>,
    queues: Mutex<Vec<RunningQueue>>,
    config: Mutex<Config>,
    reload_lock: Mutex<()>,
    reload_status: ReloadStatus,
    ready: AtomicBool,
    quit_tx: Sender<()>,
    write_rate: write_rate::WriteRate,
    /// Held while the process runs; released when the app is dropped.
    _storage_lock: DirLock,
}

/// Why the process could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl App {
    /// Opens storage (replaying the WAL), starts remote_write queues,
    /// scraping, discovery and the web server. `quit_tx` receives one
    /// message when `/-/quit` is called.
    pub fn start(
        flags: Flags,
        config: Config,
        quit_tx: Sender<()>,
    ) -> Result<(Arc<App>, Server), StartError> {
        let options = StorageOptions {
            wal: WalOptions {
                fsync: flags.fsync,
                retention_size: flags.retention_size.map(|s| s.0).unwrap_or(0),
                retention_time: flags.retention_time.map(|d| d.0),
                commit_window: commit_window(&config),
                ..WalOptions::default()
            },
            ..StorageOptions::default()
        };
        let storage_lock =
            DirLock::acquire(&flags.storage_path).map_err(|e| StartError(e.to_string()))?;
        let storage = Storage::open(&flags.storage_path, options).map_err(|e| {
            StartError(format!(
                "opening storage at {}: {e}",
                flags.storage_path.display()
            ))
        })?;
        let queues = config
            .remote_write
            .iter()
            .map(|rw| RunningQueue::start(storage.wal(), rw, &config.global.external_labels))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StartError)?;

        let appendable: Arc<dyn Appendable> = storage.fanout();
        let scrape = scrape::Manager::new(
            scrape::Options {
                extra_scrape_metrics: flags.has_feature(Feature::ExtraScrapeMetrics),
                ..scrape::Options::default()
            },
            appendable,
        );
        scrape
            .apply_config(&config)
            .map_err(|e| StartError(format!("applying config: {e}")))?;
        let discovery = discovery::Manager::new(Duration::from_secs(5));
        discovery.apply_config(&config.scrape_configs);
        scrape
            .run(discovery.sync_receiver())
            .map_err(|e| StartError(format!("starting scrape threads: {e}")))?;

        let targets: usize = config
            .scrape_configs
            .iter()
            .map(|sc| {
                sc.static_configs
                    .iter()
                    .map(|s| s.targets.len())
                    .sum::<usize>()
            })
            .sum();
        let write_rate = write_rate::WriteRate::start(storage.stats().clone())
            .map_err(|e| StartError(format!("starting the WAL write-rate thread: {e}")))?;
        let app = Arc::new(App {
            storage,
            scrape,
            discovery: Mutex::new(Some(discovery)),
            queues: Mutex::new(queues),
            config: Mutex::new(config),
            reload_lock: Mutex::new(()),
            reload_status: ReloadStatus {
                success: AtomicBool::new(true),
                success_time: AtomicI64::new(unix_seconds()),
            },
            ready: AtomicBool::new(false),
            quit_tx,
            write_rate,
            flags,
            _storage_lock: storage_lock,
        });

        let metrics = web::Metrics::new();
        metrics::register(&metrics, &app);
        let views = Views {
            targets: Arc::new(views::Targets(Arc::clone(&app))),
            series: Arc::new(views::Series(Arc::clone(&app))),
            lifecycle: Arc::new(views::Lifecycle(Arc::clone(&app))),
            metrics,
        };
        let server = Server::start(
            WebOptions {
                listen_address: app.flags.listen_address.clone(),
                enable_lifecycle: app.flags.enable_lifecycle,
                web_config_file: app.flags.web_config_file.clone(),
                query_limits: edgescrape::promql::Limits {
                    max_samples: app.flags.query_max_samples,
                    max_series: app.flags.query_max_series,
                    timeout: app.flags.query_timeout.0,
                    lookback: app.flags.query_lookback_delta.0,
                },
                limits: web::Limits {
                    max_connections: app.flags.max_connections,
                    ..web::Limits::default()
                },
                ..WebOptions::default()
            },
            views,
        )
        .map_err(|e| StartError(format!("starting web server: {e}")))?;
        app.ready.store(true, Ordering::Release);
        let jobs = app.config.lock().scrape_configs.len();
        log::info!(
            version = env!("CARGO_PKG_VERSION"),
            config:% = app.flags.config_file.display(),
            listen:% = server.local_addr(),
            storage:% = app.flags.storage_path.display(),
            jobs = jobs,
            static_targets = targets;
            "Edgescrape started"
        );
        Ok((app, server))
    }

    /// Re-reads the config file and applies it. A config that cannot be
    /// loaded leaves the running one in place. A loaded one is applied to
    /// every stage, as Prometheus's `reloadConfig`: a stage that fails does
    /// not keep the others from taking the new config, and every failure
    /// is reported in the one error (and logged, and kept for `/metrics`).
    pub fn reload(&self) -> Result<(), String> {
        let _serial = self.reload_lock.lock();
        let file = self.flags.config_file.display().to_string();
        let result = match Config::load_file(&self.flags.config_file) {
            Ok(config) => self.apply(config),
            Err(e) => Err(e.to_string()),
        };
        match &result {
            Ok(()) => {
                self.reload_status.success.store(true, Ordering::Relaxed);
                self.reload_status
                    .success_time
                    .store(unix_seconds(), Ordering::Relaxed);
                log::info!(file = file.as_str(); "Completed loading of configuration file");
            }
            Err(e) => {
                self.reload_status.success.store(false, Ordering::Relaxed);
                log::error!(file = file.as_str(), err = e.as_str(); "Error reloading config");
            }
        }
        result
    }

    /// Applies `config` to scraping, discovery and remote_write, each even
    /// when one before it failed; the error names every stage that failed.
    fn apply(&self, config: Config) -> Result<(), String> {
        let mut failures = Vec::new();
        self.storage.wal().set_commit_window(commit_window(&config));
        if let Err(e) = self.scrape.apply_config(&config) {
            failures.push(format!("scrape: {e}"));
        }
        if let Some(d) = self.discovery.lock().as_ref() {
            d.apply_config(&config.scrape_configs);
        }
        failures.extend(
            self.apply_remote(&config)
                .into_iter()
                .map(|e| format!("remote_write: {e}")),
        );
        *self.config.lock() = config;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "one or more errors occurred while applying the new configuration: {}",
                failures.join("; ")
            ))
        }
    }

    /// Keeps queues whose config is unchanged; stops removed or changed
    /// ones (they keep their saved position) and starts new ones. Returns
    /// the queues that failed to start; the others run.
    ///
    /// Stopping a queue waits up to [`REMOTE_STOP_DEADLINE`] for it to
    /// send what it holds, and starting one reads its saved position: both
    /// happen outside the queues lock, which `/metrics` takes, so the
    /// process's own metrics answer throughout a reload.
    fn apply_remote(&self, config: &Config) -> Vec<String> {
        let unchanged = |running: &RunningQueue| {
            config.remote_write.contains(&running.config)
                && running.external_labels == config.global.external_labels
        };
        let (stopping, running_configs): (Vec<RunningQueue>, Vec<RemoteWriteConfig>) = {
            let mut queues = self.queues.lock();
            let (kept, stopping): (Vec<_>, Vec<_>) = queues.drain(..).partition(unchanged);
            *queues = kept;
            let configs = queues.iter().map(|q| q.config.clone()).collect();
            (stopping, configs)
        };
        for running in stopping {
            running.queue.stop(REMOTE_STOP_DEADLINE);
        }
        let mut failures = Vec::new();
        for rw in &config.remote_write {
            if running_configs.contains(rw) {
                continue;
            }
            match RunningQueue::start(self.storage.wal(), rw, &config.global.external_labels) {
                Ok(running) => self.queues.lock().push(running),
                Err(e) => failures.push(e),
            }
        }
        failures
    }

    /// Asks the main thread to shut down (`/-/quit`).
    pub fn quit(&self) {
        let _ = self.quit_tx.try_send(());
    }

    /// Stops discovery, then every scrape loop (joining them), then the
    /// remote queues, then flushes and closes storage.
    pub fn shutdown(&self) {
        // A reload in flight finishes first, so no queue it starts is missed.
        let _serial = self.reload_lock.lock();
        self.ready.store(false, Ordering::Release);
        if let Some(d) = self.discovery.lock().take() {
            d.stop();
        }
        self.scrape.stop();
        for running in self.queues.lock().drain(..) {
            running.queue.stop(REMOTE_STOP_DEADLINE);
        }
        self.write_rate.stop();
        if let Err(e) = self.storage.close() {
            log::warn!(err:% = e; "Closing storage failed");
        }
    }
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn window_of(yaml: &str) -> Duration {
        commit_window(&Config::load_str(yaml, Path::new("test.yml")).unwrap())
    }

    #[test]
    fn the_commit_window_is_a_quarter_of_the_shortest_interval_at_most() {
        assert_eq!(window_of(""), MAX_COMMIT_WINDOW);
        let jobs = "scrape_configs:\n  - job_name: a\n    scrape_interval: 15s\n  - job_name: b\n    scrape_interval: 100ms\n";
        assert_eq!(window_of(jobs), Duration::from_millis(25));
        let global = "global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: a\n";
        assert_eq!(window_of(global), Duration::from_millis(50));
        let slow = "scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n";
        assert_eq!(window_of(slow), MAX_COMMIT_WINDOW);
    }
}
