//! [`ScrapePool`]: the targets and loops of one job, as Prometheus's
//! `scrapePool`.
//!
//! Concurrency: the manager calls `sync`, `reload` and `stop` (one at a
//! time: they serialise on the pool's main lock, which is held while loops
//! are stopped and started). The web reads targets through
//! [`ScrapePool::active_targets`] and friends, which only take the short
//! targets lock. Lock order: main lock, then targets lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use crate::config::ScrapeConfig;
use crate::discovery::TargetGroup;
use crate::http_client::HttpClient;
use crate::labels::LabelsBuilder;

use super::cache::ScrapeCache;
use super::failure_log::FailureLog;
use super::metrics::PoolMetrics;
use super::scrape_loop::{LoopEnv, LoopHandle, LoopSettings, LoopState, ScrapeLoop};
use super::scraper::{accept_header, TargetScraper};
use super::target::{targets_from_group, DroppedTarget, Target, TargetSnapshot};
use super::ScrapeError;

/// What a pool needs from its manager.
#[derive(Clone)]
pub(crate) struct PoolEnv {
    pub loop_env: LoopEnv,
    pub extra_metrics: bool,
    pub no_default_port: bool,
}

/// An active target with the interval and timeout its loop runs with.
struct ActiveTarget {
    target: Arc<Target>,
    interval: Duration,
    timeout: Duration,
}

#[derive(Default)]
struct Targets {
    /// Invariant: the same hashes as `Inner::loops`.
    active: HashMap<u64, ActiveTarget>,
    /// At most `keep_dropped_targets` (0: all).
    dropped: Vec<DroppedTarget>,
    /// All targets dropped at the last sync.
    dropped_count: usize,
}

struct Inner {
    config: Arc<ScrapeConfig>,
    client: Arc<HttpClient>,
    settings: Arc<LoopSettings>,
    accept: Arc<str>,
    loops: HashMap<u64, LoopHandle>,
    /// Stopped loops still waiting to write end-of-run stale markers.
    finishing: Vec<JoinHandle<ScrapeCache>>,
    /// The error every loop reports instead of scraping (target_limit).
    forced: Option<ScrapeError>,
    stopped: bool,
}

/// See the module documentation.
pub struct ScrapePool {
    job: String,
    env: PoolEnv,
    metrics: Arc<PoolMetrics>,
    inner: Mutex<Inner>,
    targets: Mutex<Targets>,
    /// Dropped to cancel every loop of the pool at once.
    cancel: Mutex<Option<Sender<()>>>,
    cancelled: Receiver<()>,
}

fn settings_from(cfg: &ScrapeConfig, extra_metrics: bool) -> Result<LoopSettings, ScrapeError> {
    let failure_log = match &cfg.scrape_failure_log_file {
        Some(path) => Some(Arc::new(FailureLog::open(path, &cfg.job_name).map_err(
            |e| ScrapeError::Pool {
                job: cfg.job_name.clone(),
                message: format!("can't create json logger {}: {e}", path.display()),
            },
        )?)),
        None => None,
    };
    Ok(LoopSettings {
        job: cfg.job_name.clone(),
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        track_timestamps_staleness: cfg.track_timestamps_staleness,
        sample_limit: cfg.sample_limit.unwrap_or(0),
        label_limit: cfg.label_limit.unwrap_or(0),
        label_name_length_limit: cfg.label_name_length_limit.unwrap_or(0),
        label_value_length_limit: cfg.label_value_length_limit.unwrap_or(0),
        metric_relabel: cfg.metric_relabel_configs.clone(),
        extra_metrics,
        fallback_media_type: cfg.fallback_scrape_protocol.map(|p| p.media_type()),
        failure_log,
    })
}

/// Whether a loop's cache stays valid under the new config: only settings
/// that change no series may differ (Prometheus's `reusableCache`).
fn reusable_cache(old: &ScrapeConfig, new: &ScrapeConfig) -> bool {
    let zero = |c: &ScrapeConfig| {
        let mut z = c.clone();
        z.scrape_interval = None;
        z.scrape_timeout = None;
        z.sample_limit = None;
        z.http = Default::default();
        z
    };
    zero(old) == zero(new)
}

impl ScrapePool {
    /// A pool for `cfg`; fails when its HTTP client cannot be built.
    pub(crate) fn new(cfg: Arc<ScrapeConfig>, env: PoolEnv) -> Result<ScrapePool, ScrapeError> {
        let client = HttpClient::new(&cfg.http).map_err(|e| ScrapeError::Pool {
            job: cfg.job_name.clone(),
            message: format!("error creating HTTP client: {e}"),
        })?;
        let settings = settings_from(&cfg, env.extra_metrics)?;
        let (cancel_tx, cancel_rx) = bounded(0);
        let metrics = Arc::new(PoolMetrics::default());
        metrics.target_limit.set(cfg.target_limit.unwrap_or(0));
        Ok(ScrapePool {
            job: cfg.job_name.clone(),
            metrics,
            inner: Mutex::new(Inner {
                settings: Arc::new(settings),
                accept: accept_header(&cfg.protocols()).into(),
                client: Arc::new(client),
                config: cfg,
                loops: HashMap::new(),
                finishing: Vec::new(),
                forced: None,
                stopped: false,
            }),
            env,
            targets: Mutex::new(Targets::default()),
            cancel: Mutex::new(Some(cancel_tx)),
            cancelled: cancel_rx,
        })
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The config the pool runs with.
    pub fn config(&self) -> Arc<ScrapeConfig> {
        Arc::clone(&self.inner.lock().config)
    }

    /// This pool's self-metrics.
    pub fn metrics(&self) -> Arc<PoolMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Snapshots of the active targets, sorted by URL.
    pub fn active_targets(&self) -> Vec<TargetSnapshot> {
        let targets = self.targets.lock();
        let mut out: Vec<_> = targets
            .active
            .values()
            .map(|a| a.target.snapshot(&self.job, a.interval, a.timeout))
            .collect();
        drop(targets);
        out.sort_by(|a, b| a.scrape_url.cmp(&b.scrape_url));
        out
    }

    /// The active targets themselves (for tests and the web's detail views).
    pub fn targets(&self) -> Vec<Arc<Target>> {
        let targets = self.targets.lock();
        targets
            .active
            .values()
            .map(|a| Arc::clone(&a.target))
            .collect()
    }

    /// Targets dropped by relabeling at the last sync, at most
    /// `keep_dropped_targets` of them.
    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        self.targets.lock().dropped.clone()
    }

    /// How many targets the last sync dropped, kept or not.
    pub fn dropped_targets_count(&self) -> usize {
        self.targets.lock().dropped_count
    }

    /// Turns target groups into targets and brings the loops in line:
    /// new targets get a loop, vanished ones are stopped (their loops write
    /// end-of-run stale markers later), duplicates share one loop.
    pub fn sync(&self, groups: &[TargetGroup]) {
        let mut inner = self.inner.lock();
        if inner.stopped {
            return;
        }
        let start = Instant::now();
        let cfg = Arc::clone(&inner.config);
        // Saturating: on a 32-bit box a huge limit must not wrap to 0 (all).
        let keep = usize::try_from(cfg.keep_dropped_targets.unwrap_or(0)).unwrap_or(usize::MAX);
        let mut all = Vec::new();
        let mut dropped = Vec::new();
        let mut dropped_count = 0;
        let mut lb = LabelsBuilder::default();
        for group in groups {
            let (targets, failures) =
                targets_from_group(group, &cfg, self.env.no_default_port, &mut lb);
            for e in &failures {
                log::error!(scrape_pool = self.job.as_str(), err:% = e; "Creating target failed");
            }
            self.metrics.sync_failed_total.add(failures.len() as u64);
            for t in targets {
                if !t.all_labels().is_empty() {
                    all.push(t);
                } else {
                    if keep == 0 || dropped.len() < keep {
                        dropped.push(DroppedTarget {
                            scrape_pool: self.job.clone(),
                            discovered_labels: t.discovered_labels(),
                        });
                    }
                    dropped_count += 1;
                }
            }
        }
        {
            let mut targets = self.targets.lock();
            targets.dropped = dropped;
            targets.dropped_count = dropped_count;
        }
        self.sync_targets(&mut inner, all);
        self.metrics
            .sync_length
            .observe(start.elapsed().as_secs_f64());
        self.metrics.sync_total.inc();
    }

    fn sync_targets(&self, inner: &mut Inner, targets: Vec<Target>) {
        let cfg = Arc::clone(&inner.config);
        let mut unique: HashSet<u64> = HashSet::new();
        let mut to_start = Vec::new();
        let mut to_stop = Vec::new();
        let active_count;
        {
            let mut active = self.targets.lock();
            for t in targets {
                let hash = t.hash();
                if let Some(existing) = active.active.get(&hash) {
                    // A duplicate, or a target still there: keep its loop
                    // and show the latest discovered labels.
                    existing.target.set_discovered_labels(t.discovered_labels());
                    unique.insert(hash);
                    continue;
                }
                let target = Arc::new(t);
                let (interval, timeout) =
                    target.interval_and_timeout(cfg.interval().get(), cfg.timeout().get());
                to_start.push((hash, self.new_loop(inner, &target, interval, timeout, None)));
                active.active.insert(
                    hash,
                    ActiveTarget {
                        target,
                        interval,
                        timeout,
                    },
                );
                unique.insert(hash);
            }
            active.active.retain(|hash, _| unique.contains(hash));
            active_count = active.active.len();
        }
        for hash in inner.loops.keys().copied().collect::<Vec<_>>() {
            if !unique.contains(&hash) {
                if let Some(handle) = inner.loops.remove(&hash) {
                    to_stop.push(handle);
                }
            }
        }
        self.metrics.targets.set(unique.len() as u64);

        let forced = self.target_limit_error(&cfg, active_count);
        for handle in inner.loops.values() {
            handle.set_forced_error(forced.clone());
        }
        inner.forced = forced.clone();
        for (hash, scrape_loop) in to_start {
            self.start_loop(inner, hash, scrape_loop, &forced);
        }
        // Stop vanished loops in parallel: signal all, then wait for each.
        for handle in &mut to_stop {
            handle.signal_stop();
        }
        for handle in to_stop {
            inner.finishing.push(handle.stop());
        }
        reap_finished(&mut inner.finishing);
    }

    fn new_loop(
        &self,
        inner: &Inner,
        target: &Arc<Target>,
        interval: Duration,
        timeout: Duration,
        cache: Option<ScrapeCache>,
    ) -> ScrapeLoop {
        let cfg = &inner.config;
        let metrics = &self.env.loop_env.metrics;
        let scraper = TargetScraper::new(
            Arc::clone(&inner.client),
            target.url(),
            Arc::clone(&inner.accept),
            target.asks_for_gzip(cfg),
            timeout,
            cfg.body_size_limit.map_or(0, |b| b.0),
            metrics.dialer_conn_attempted(&inner.settings.job),
        );
        let state = LoopState::new(
            Arc::clone(target),
            Arc::clone(&inner.settings),
            Arc::clone(metrics),
            timeout,
            cache.unwrap_or_default(),
        );
        ScrapeLoop::new(state, scraper, self.env.loop_env.clone(), interval)
    }

    /// Starts `scrape_loop` for the target `hash` with the pool's forced
    /// error; a target whose thread cannot start is no longer active.
    fn start_loop(
        &self,
        inner: &mut Inner,
        hash: u64,
        scrape_loop: ScrapeLoop,
        forced: &Option<ScrapeError>,
    ) {
        scrape_loop.shared.set_forced_error(forced.clone());
        match scrape_loop.spawn(self.cancelled.clone()) {
            Ok(handle) => {
                inner.loops.insert(hash, handle);
            }
            Err(e) => {
                let gone = self.targets.lock().active.remove(&hash);
                let target = gone.as_ref().map_or("", |a| a.target.url());
                log::error!(
                    job = self.job.as_str(), target = target, err:% = e;
                    "Cannot start scrape thread"
                );
            }
        }
    }

    fn target_limit_error(&self, cfg: &ScrapeConfig, active: usize) -> Option<ScrapeError> {
        let limit = cfg.target_limit.unwrap_or(0);
        if limit == 0 || active as u64 <= limit {
            return None;
        }
        self.env
            .loop_env
            .metrics
            .target_scrape_pool_exceeded_target_limit_total
            .inc();
        Some(ScrapeError::TargetLimit {
            targets: active,
            limit,
        })
    }

    /// Restarts every loop with `cfg`, keeping the targets. When only
    /// settings that change no series differ, each loop's cache goes to its
    /// successor (no false stale markers, no gap in `up`); otherwise the
    /// old loops end as if their targets vanished.
    pub fn reload(&self, cfg: Arc<ScrapeConfig>) -> Result<(), ScrapeError> {
        let mut inner = self.inner.lock();
        if inner.stopped {
            return Ok(());
        }
        let metrics = &self.env.loop_env.metrics;
        metrics.target_scrape_pool_reloads_total.inc();
        let start = Instant::now();
        let client = HttpClient::new(&cfg.http).map_err(|e| {
            metrics.target_scrape_pool_reloads_failed_total.inc();
            ScrapeError::Pool {
                job: self.job.clone(),
                message: format!("error creating HTTP client: {e}"),
            }
        })?;
        let settings = settings_from(&cfg, self.env.extra_metrics).inspect_err(|_| {
            metrics.target_scrape_pool_reloads_failed_total.inc();
        })?;
        let reuse = reusable_cache(&inner.config, &cfg);
        inner.client = Arc::new(client);
        inner.settings = Arc::new(settings);
        inner.accept = accept_header(&cfg.protocols()).into();
        inner.config = Arc::clone(&cfg);
        self.metrics.target_limit.set(cfg.target_limit.unwrap_or(0));

        let active_count = self.targets.lock().active.len();
        let forced = self.target_limit_error(&cfg, active_count);
        inner.forced = forced.clone();
        let mut old: Vec<(u64, LoopHandle)> = inner.loops.drain().collect();
        for (_, handle) in &mut old {
            if reuse {
                handle.disable_end_of_run_staleness();
            }
            handle.signal_stop();
        }
        for (hash, handle) in old {
            let cache = if reuse {
                handle.stop_and_join()
            } else {
                inner.finishing.push(handle.stop());
                None
            };
            let scrape_loop = {
                let mut targets = self.targets.lock();
                let Some(active) = targets.active.get_mut(&hash) else {
                    continue;
                };
                let (interval, timeout) = active
                    .target
                    .interval_and_timeout(cfg.interval().get(), cfg.timeout().get());
                active.interval = interval;
                active.timeout = timeout;
                self.new_loop(&inner, &active.target, interval, timeout, cache)
            };
            self.start_loop(&mut inner, hash, scrape_loop, &forced);
        }
        reap_finished(&mut inner.finishing);
        metrics
            .reload_length(&cfg.interval().to_string())
            .observe(start.elapsed().as_secs_f64());
        Ok(())
    }

    /// Starts afresh, with an empty cache, every loop whose thread
    /// panicked; returns how many. Called by the manager's reloader on
    /// each tick, so a target that panics on every scrape restarts at most
    /// once per tick. Prometheus has no counterpart: a panicking goroutine
    /// ends the whole process there; here one bad target keeps the others
    /// scraping.
    pub fn restart_panicked(&self) -> usize {
        let mut inner = self.inner.lock();
        if inner.stopped {
            return 0;
        }
        let panicked: Vec<u64> = inner
            .loops
            .iter()
            .filter(|(_, handle)| handle.panicked())
            .map(|(hash, _)| *hash)
            .collect();
        for &hash in &panicked {
            if let Some(handle) = inner.loops.remove(&hash) {
                // Ended already: joins at once.
                let _ = handle.stop_and_join();
            }
            let scrape_loop = {
                let targets = self.targets.lock();
                let Some(active) = targets.active.get(&hash) else {
                    continue;
                };
                log::warn!(
                    job = self.job.as_str(), target = active.target.url();
                    "Restarting scrape loop after a panic"
                );
                self.new_loop(
                    &inner,
                    &active.target,
                    active.interval,
                    active.timeout,
                    None,
                )
            };
            let forced = inner.forced.clone();
            self.start_loop(&mut inner, hash, scrape_loop, &forced);
        }
        panicked.len()
    }

    /// Cancels every loop (no end-of-run stale markers, as Prometheus on
    /// shutdown or when a job is removed) and joins all threads. Returns
    /// once no thread of the pool runs; a scrape in flight is waited for,
    /// bounded by its timeout.
    pub fn stop(&self) {
        let mut inner = self.inner.lock();
        inner.stopped = true;
        self.cancel.lock().take();
        let loops: Vec<LoopHandle> = inner.loops.drain().map(|(_, h)| h).collect();
        for handle in loops {
            let _ = handle.stop_and_join();
        }
        for thread in inner.finishing.drain(..) {
            let _ = thread.join();
        }
        let mut targets = self.targets.lock();
        targets.active.clear();
        self.metrics.targets.set(0);
    }
}

impl Drop for ScrapePool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Joins threads that have finished writing their end-of-run markers.
fn reap_finished(finishing: &mut Vec<JoinHandle<ScrapeCache>>) {
    let mut i = 0;
    while i < finishing.len() {
        if finishing[i].is_finished() {
            let _ = finishing.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}
