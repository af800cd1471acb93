//! The running process, as Prometheus's `cmd/prometheus`: opens storage,
//! starts remote_write queues, discovery, the scrape manager and the web
//! server, applies config reloads, and shuts down in order.
//!
//! Threads: the caller's thread owns [`App`] and waits for signals and quit
//! requests; discovery, scrape, remote and web run their own named threads.
//! Reloads are serialized by a mutex, so SIGHUP and `POST /-/reload` never
//! apply two configs at once.

mod metrics;
mod views;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
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
                ..WalOptions::default()
            },
            ..StorageOptions::default()
        };
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
            flags,
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
        log::info!(
            "msg=\"edgescrape started\" version={} config={} listen={} storage={} jobs={} static_targets={}",
            env!("CARGO_PKG_VERSION"),
            app.flags.config_file.display(),
            server.local_addr(),
            app.flags.storage_path.display(),
            app.config.lock().scrape_configs.len(),
            targets
        );
        Ok((app, server))
    }

    /// Re-reads the config file and applies it. A refused config leaves the
    /// running one in place; the outcome is kept for `/metrics`.
    pub fn reload(&self) -> Result<(), String> {
        let _serial = self.reload_lock.lock();
        let result = self.apply(&self.flags.config_file);
        match &result {
            Ok(()) => {
                self.reload_status.success.store(true, Ordering::Relaxed);
                self.reload_status
                    .success_time
                    .store(unix_seconds(), Ordering::Relaxed);
                log::info!(
                    "msg=\"completed loading of configuration file\" file={}",
                    self.flags.config_file.display()
                );
            }
            Err(e) => {
                self.reload_status.success.store(false, Ordering::Relaxed);
                log::warn!("msg=\"error reloading config\" err={e:?}");
            }
        }
        result
    }

    fn apply(&self, file: &Path) -> Result<(), String> {
        let config = Config::load_file(file).map_err(|e| e.to_string())?;
        self.scrape
            .apply_config(&config)
            .map_err(|e| e.to_string())?;
        if let Some(d) = self.discovery.lock().as_ref() {
            d.apply_config(&config.scrape_configs);
        }
        self.apply_remote(&config)?;
        *self.config.lock() = config;
        Ok(())
    }

    /// Keeps queues whose config is unchanged; stops removed or changed
    /// ones (they keep their saved position) and starts new ones.
    fn apply_remote(&self, config: &Config) -> Result<(), String> {
        let mut queues = self.queues.lock();
        let mut kept = Vec::new();
        for running in queues.drain(..) {
            let unchanged = config.remote_write.contains(&running.config)
                && running.external_labels == config.global.external_labels;
            if unchanged {
                kept.push(running);
            } else {
                running.queue.stop(REMOTE_STOP_DEADLINE);
            }
        }
        // A queue that fails to start ends the loop, but the queues kept or
        // started so far stay in the list, so they keep running and are
        // stopped at shutdown.
        let mut result = Ok(());
        for rw in &config.remote_write {
            if kept.iter().any(|k| &k.config == rw) {
                continue;
            }
            match RunningQueue::start(self.storage.wal(), rw, &config.global.external_labels) {
                Ok(running) => kept.push(running),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        *queues = kept;
        result
    }

    /// Asks the main thread to shut down (`/-/quit`).
    pub fn quit(&self) {
        let _ = self.quit_tx.try_send(());
    }

    /// Stops discovery, then every scrape loop (joining them), then the
    /// remote queues, then flushes and closes storage.
    pub fn shutdown(&self) {
        self.ready.store(false, Ordering::Release);
        if let Some(d) = self.discovery.lock().take() {
            d.stop();
        }
        self.scrape.stop();
        for running in self.queues.lock().drain(..) {
            running.queue.stop(REMOTE_STOP_DEADLINE);
        }
        if let Err(e) = self.storage.close() {
            log::warn!("msg=\"closing storage\" err={e:?}");
        }
    }
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
