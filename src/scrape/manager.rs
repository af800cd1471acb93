//! [`Manager`]: the scrape pools of all jobs, fed by discovery, as
//! Prometheus's `scrape.Manager`.
//!
//! Threads: [`Manager::run`] starts "scrape-update", which stores every
//! target-set map discovery sends and does a non-blocking send on the
//! capacity-1 reload trigger, and "scrape-reloader", which on each tick
//! (5 s) reloads if triggered, so bursts of discovery updates cost one
//! reload. Target sets that name a configured job with no pool yet (the
//! first sets after start, a job added by a config reload) go on the
//! capacity-1 "new job" channel instead, which the reloader serves at
//! once: a restarted box scrapes again after each target's hash-spread
//! offset, not after the first tick (vmagent likewise scrapes at once;
//! prometheus/prometheus#14073). Changes to running jobs keep the tick's
//! throttle. [`Manager::reload`] syncs the pools in parallel on scoped
//! threads. [`Manager::apply_config`] is called by `main` on start and on
//! every config reload; [`Manager::stop`] by `main` on shutdown. The views
//! (`targets_active`, ...) may be called from any thread at any time.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, never, select, tick, Receiver, Sender};
use parking_lot::Mutex;

use crate::config::{Config, ScrapeConfig};
use crate::discovery::TargetGroup;
use crate::storage::Appendable;

use super::buffers::BufferPool;
use super::metrics::{PoolMetrics, ScrapeMetrics};
use super::pool::{PoolEnv, ScrapePool};
use super::scrape_loop::LoopEnv;
use super::target::{DroppedTarget, TargetSnapshot, FNV_OFFSET};
use super::ScrapeError;

/// Settings of a [`Manager`] that do not come from the config file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Append `scrape_timeout_seconds`, `scrape_sample_limit` and
    /// `scrape_body_size_bytes` (Prometheus's `extra-scrape-metrics` flag).
    pub extra_scrape_metrics: bool,
    /// Do not add a default port to addresses, and strip 80/443 when they
    /// match the scheme (Prometheus's `no-default-scrape-port` flag).
    pub no_default_port: bool,
    /// Start scraping at once instead of after the hash-spread offset
    /// (for tests).
    pub skip_offset: bool,
    /// How often the reloader looks for new target sets. Prometheus floors
    /// this at 5 s; it is configurable here so tests need not wait.
    pub reload_interval: Duration,
    /// Fixes the offset seed instead of deriving it from the hostname and
    /// external labels.
    pub offset_seed: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            extra_scrape_metrics: false,
            no_default_port: false,
            skip_offset: false,
            reload_interval: Duration::from_secs(5),
            offset_seed: None,
        }
    }
}

#[derive(Default)]
struct State {
    configs: HashMap<String, Arc<ScrapeConfig>>,
    pools: BTreeMap<String, Arc<ScrapePool>>,
    target_sets: HashMap<String, Vec<TargetGroup>>,
    stopped: bool,
}

struct Inner {
    options: Options,
    appendable: Arc<dyn Appendable>,
    buffers: Arc<BufferPool>,
    metrics: Arc<ScrapeMetrics>,
    offset_seed: AtomicU64,
    state: Mutex<State>,
    trigger_tx: Sender<()>,
    trigger_rx: Receiver<()>,
    /// Capacity 1: target sets name a job without a pool; reload at once.
    new_job_tx: Sender<()>,
    new_job_rx: Receiver<()>,
}

/// See the module documentation.
pub struct Manager {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Serialises `apply_config` calls.
    apply_lock: Mutex<()>,
    /// Dropped to stop the update and reloader threads.
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
}

impl Manager {
    /// A manager appending to `appendable`; no pools until
    /// [`Manager::apply_config`] and target sets arrive.
    pub fn new(options: Options, appendable: Arc<dyn Appendable>) -> Manager {
        let (trigger_tx, trigger_rx) = bounded(1);
        let (new_job_tx, new_job_rx) = bounded(1);
        let (stop_tx, stop_rx) = bounded(0);
        Manager {
            inner: Arc::new(Inner {
                offset_seed: AtomicU64::new(options.offset_seed.unwrap_or(0)),
                options,
                appendable,
                buffers: Arc::new(BufferPool::new()),
                metrics: Arc::new(ScrapeMetrics::default()),
                state: Mutex::new(State::default()),
                trigger_tx,
                trigger_rx,
                new_job_tx,
                new_job_rx,
            }),
            threads: Mutex::new(Vec::new()),
            apply_lock: Mutex::new(()),
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
        }
    }

    /// Starts the update and reloader threads reading target sets from
    /// `tsets` (discovery's sync channel) and returns.
    pub fn run(&self, tsets: Receiver<HashMap<String, Vec<TargetGroup>>>) -> std::io::Result<()> {
        let inner = Arc::clone(&self.inner);
        let stop = self.stop_rx.clone();
        let update = std::thread::Builder::new()
            .name("scrape-update".to_string())
            .spawn(move || loop {
                select! {
                    recv(tsets) -> msg => match msg {
                        Ok(sets) => inner.store_target_sets(sets),
                        Err(_) => return,
                    },
                    recv(stop) -> _ => return,
                }
            })?;
        let inner = Arc::clone(&self.inner);
        let stop = self.stop_rx.clone();
        let reloader = std::thread::Builder::new()
            .name("scrape-reloader".to_string())
            .spawn(move || {
                let ticker = tick(inner.options.reload_interval);
                // As Prometheus: after a tick, the next trigger (pending
                // or yet to come) reloads at once; then the next tick.
                let mut armed = false;
                loop {
                    let trigger = if armed {
                        inner.trigger_rx.clone()
                    } else {
                        never()
                    };
                    select! {
                        recv(stop) -> _ => return,
                        recv(inner.new_job_rx) -> _ => reload(&inner),
                        recv(ticker) -> _ => {
                            armed = true;
                            restart_panicked(&inner);
                        }
                        recv(trigger) -> _ => {
                            armed = false;
                            reload(&inner);
                        }
                    }
                }
            })?;
        let mut threads = self.threads.lock();
        threads.push(update);
        threads.push(reloader);
        Ok(())
    }

    /// Creates a pool for every job with target sets (logging an error for
    /// a job with no config) and syncs all pools in parallel.
    pub fn reload(&self) {
        reload(&self.inner);
    }

    /// Takes a new configuration: pools of removed jobs are stopped, pools
    /// whose config changed are reloaded, unchanged ones keep running
    /// untouched. New jobs get their pools at the next reload.
    pub fn apply_config(&self, cfg: &Config) -> Result<(), ScrapeError> {
        // Stopping and reloading pools waits for scrapes in flight: done
        // outside the state lock so the views stay responsive, and one
        // apply at a time.
        let _serialised = self.apply_lock.lock();
        let (removed, kept) = {
            let mut state = self.inner.state.lock();
            state.configs = cfg
                .scrape_configs
                .iter()
                .map(|sc| (sc.job_name.clone(), Arc::new(sc.clone())))
                .collect();
            if self.inner.options.offset_seed.is_none() {
                let seed = offset_seed(&hostname(), &cfg.global.external_labels.to_string());
                self.inner.offset_seed.store(seed, Ordering::Relaxed);
            }
            let State { configs, pools, .. } = &mut *state;
            let mut removed = Vec::new();
            let mut kept = Vec::new();
            pools.retain(|name, pool| match configs.get(name) {
                None => {
                    removed.push(Arc::clone(pool));
                    false
                }
                Some(new_cfg) => {
                    kept.push((Arc::clone(pool), Arc::clone(new_cfg)));
                    true
                }
            });
            (removed, kept)
        };
        for pool in removed {
            pool.stop();
        }
        let mut failed = Vec::new();
        for (pool, new_cfg) in kept {
            if *pool.config() == *new_cfg {
                continue;
            }
            if let Err(e) = pool.reload(new_cfg) {
                log::error!(scrape_pool = pool.job(), err:% = e; "Error reloading scrape pool");
                failed.push(e.to_string());
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ScrapeError::ApplyConfig(failed))
        }
    }

    /// Stops the threads, then every pool (joining all loop threads), as
    /// Prometheus's `Stop`: no end-of-run stale markers are written.
    pub fn stop(&self) {
        self.stop_tx.lock().take();
        for thread in self.threads.lock().drain(..) {
            let _ = thread.join();
        }
        let pools: Vec<Arc<ScrapePool>> = {
            let mut state = self.inner.state.lock();
            state.stopped = true;
            state.pools.values().cloned().collect()
        };
        for pool in pools {
            pool.stop();
        }
    }

    /// Active targets per job, each sorted by URL.
    pub fn targets_active(&self) -> BTreeMap<String, Vec<TargetSnapshot>> {
        self.pools()
            .into_iter()
            .map(|(job, pool)| (job, pool.active_targets()))
            .collect()
    }

    /// Dropped targets per job (at most `keep_dropped_targets` each).
    pub fn targets_dropped(&self) -> BTreeMap<String, Vec<DroppedTarget>> {
        self.pools()
            .into_iter()
            .map(|(job, pool)| (job, pool.dropped_targets()))
            .collect()
    }

    /// Number of targets dropped per job, kept or not.
    pub fn targets_dropped_counts(&self) -> BTreeMap<String, usize> {
        self.pools()
            .into_iter()
            .map(|(job, pool)| (job, pool.dropped_targets_count()))
            .collect()
    }

    /// The pools by job name.
    pub fn pools(&self) -> BTreeMap<String, Arc<ScrapePool>> {
        self.inner.state.lock().pools.clone()
    }

    /// Manager-wide self-metrics.
    pub fn metrics(&self) -> Arc<ScrapeMetrics> {
        Arc::clone(&self.inner.metrics)
    }

    /// Per-pool self-metrics by job name.
    pub fn pool_metrics(&self) -> BTreeMap<String, Arc<PoolMetrics>> {
        self.pools()
            .into_iter()
            .map(|(job, pool)| (job, pool.metrics()))
            .collect()
    }

    /// The scrape body buffers (for memory reporting).
    pub fn buffers(&self) -> Arc<BufferPool> {
        Arc::clone(&self.inner.buffers)
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    /// Keeps the latest target sets and asks the reloader for a reload:
    /// at once when they name a configured job that has no pool yet, at
    /// its next tick otherwise.
    fn store_target_sets(&self, sets: HashMap<String, Vec<TargetGroup>>) {
        let new_job = {
            let mut state = self.state.lock();
            let new_job = sets
                .keys()
                .any(|job| state.configs.contains_key(job) && !state.pools.contains_key(job));
            state.target_sets = sets;
            new_job
        };
        // A full channel means a reload is pending; it reads these sets.
        if new_job {
            let _ = self.new_job_tx.try_send(());
        } else {
            let _ = self.trigger_tx.try_send(());
        }
    }
}

fn reload(inner: &Inner) {
    let jobs: Vec<(Arc<ScrapePool>, Vec<TargetGroup>)> = {
        let mut guard = inner.state.lock();
        let state = &mut *guard;
        if state.stopped {
            return;
        }
        let mut jobs = Vec::new();
        for (name, groups) in &state.target_sets {
            if !state.pools.contains_key(name) {
                let Some(cfg) = state.configs.get(name) else {
                    log::error!(err = format!("invalid config id:{name}"); "Error reloading target set");
                    continue;
                };
                inner.metrics.target_scrape_pools_total.inc();
                match ScrapePool::new(Arc::clone(cfg), pool_env(inner)) {
                    Ok(pool) => {
                        state.pools.insert(name.clone(), Arc::new(pool));
                    }
                    Err(e) => {
                        inner.metrics.target_scrape_pools_failed_total.inc();
                        log::error!(
                            scrape_pool = name.as_str(), err:% = e;
                            "Error creating new scrape pool"
                        );
                        continue;
                    }
                }
            }
            if let Some(pool) = state.pools.get(name) {
                jobs.push((Arc::clone(pool), groups.clone()));
            }
        }
        jobs
    };
    // Syncs stop loops and may wait for scrapes: run them side by side.
    std::thread::scope(|s| {
        for (pool, groups) in &jobs {
            let spawned = std::thread::Builder::new()
                .name(format!("scrape-sync {}", pool.job()))
                .spawn_scoped(s, move || pool.sync(groups));
            if let Err(e) = spawned {
                log::warn!(
                    scrape_pool = pool.job(), err:% = e;
                    "Cannot start sync thread, syncing inline"
                );
                pool.sync(groups);
            }
        }
    });
}

/// Restarts the loops that panicked, pool by pool.
fn restart_panicked(inner: &Inner) {
    let pools: Vec<Arc<ScrapePool>> = inner.state.lock().pools.values().cloned().collect();
    for pool in pools {
        pool.restart_panicked();
    }
}

fn pool_env(inner: &Inner) -> PoolEnv {
    PoolEnv {
        loop_env: LoopEnv {
            appendable: Arc::clone(&inner.appendable),
            buffers: Arc::clone(&inner.buffers),
            metrics: Arc::clone(&inner.metrics),
            offset_seed: inner.offset_seed.load(Ordering::Relaxed),
            skip_offset: inner.options.skip_offset,
        },
        extra_metrics: inner.options.extra_scrape_metrics,
        no_default_port: inner.options.no_default_port,
    }
}

/// Spreads scrapes of several servers with the same targets apart:
/// FNV-1a of hostname and external labels, as Prometheus's `setOffsetSeed`.
fn offset_seed(hostname: &str, external_labels: &str) -> u64 {
    let mut h = FNV_OFFSET;
    for b in hostname.bytes().chain(external_labels.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The kernel's hostname. Prometheus asks for the FQDN through DNS; an edge
/// box often has no resolver, and the seed only needs to differ per host.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}
