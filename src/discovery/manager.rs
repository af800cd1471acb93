//! The discovery manager, as Prometheus's `discovery/manager.go`: keeps the
//! providers of every job running, collects their groups and sends the full
//! `job_name -> groups` map on the sync channel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{at, bounded, never, select, Receiver, Sender, TrySendError};
use log::{debug, warn};
use parking_lot::Mutex;

use super::dns::resolver::ResolverConfig;
use super::dns::DnsDiscovery;
use super::file::FileDiscovery;
use super::http::HttpDiscovery;
use super::refresh::RefreshDiscovery;
use super::{Discoverer, Metrics, TargetGroup};
use crate::config::{DnsSdConfig, FileSdConfig, HttpSdConfig, ScrapeConfig, StaticConfig};

/// What the sync channel carries: every job's groups.
type SyncMap = HashMap<String, Vec<TargetGroup>>;

/// Identifies one provider of one job (Prometheus's `poolKey`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ProviderKey {
    /// The job (target set) the provider feeds.
    pub job: String,
    /// Unique over the manager's lifetime (Prometheus's `lastProvider`);
    /// orders a job's groups by provider age.
    pub id: u64,
    /// `static`, `file`, `http`, ...
    pub kind: &'static str,
}

impl fmt::Display for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

/// The groups of one provider, in the order they were first reported,
/// indexed by source.
#[derive(Default)]
struct GroupSet {
    groups: Vec<TargetGroup>,
    /// Position of each source in `groups`.
    index: HashMap<String, usize>,
}

impl GroupSet {
    /// Replaces groups with the same source, appends new ones; returns
    /// whether anything changed.
    fn merge(&mut self, groups: Vec<TargetGroup>) -> bool {
        let mut changed = false;
        for group in groups {
            match self.index.get(&group.source) {
                Some(&i) => {
                    if self.groups[i] != group {
                        self.groups[i] = group;
                        changed = true;
                    }
                }
                None => {
                    self.index.insert(group.source.clone(), self.groups.len());
                    self.groups.push(group);
                    changed = true;
                }
            }
        }
        changed
    }
}

/// Everything discovered, guarded by [`Shared::targets`].
#[derive(Default)]
struct Targets {
    /// Registered providers; `None` until the provider first reports.
    providers: BTreeMap<ProviderKey, Option<GroupSet>>,
    /// Jobs removed by a config since the last send; each is sent once with
    /// no groups so the scrape side drops its targets.
    removed_jobs: BTreeSet<String>,
}

impl Targets {
    /// The full map sent on the sync channel (Prometheus's `allGroups`).
    fn all_groups(&self) -> SyncMap {
        let mut all = SyncMap::new();
        for (key, set) in &self.providers {
            if let Some(set) = set {
                all.entry(key.job.clone())
                    .or_default()
                    .extend(set.groups.iter().cloned());
            }
        }
        for job in &self.removed_jobs {
            all.entry(job.clone()).or_default();
        }
        all
    }
}

/// State shared by the manager, its provider threads and the sender thread.
struct Shared {
    targets: Mutex<Targets>,
    /// Capacity 1: a pending send is recorded once (Prometheus's `triggerSend`).
    trigger: Sender<()>,
}

impl Shared {
    /// Stores the groups a provider reported, replacing groups of the same
    /// source, and asks for a send if anything changed. Reports of a provider
    /// that is no longer registered (being stopped) are ignored.
    fn update(&self, key: &ProviderKey, groups: Vec<TargetGroup>) {
        let changed = {
            let mut targets = self.targets.lock();
            match targets.providers.get_mut(key) {
                None => false,
                Some(slot) => {
                    let first = slot.is_none();
                    let merged = slot.get_or_insert_with(GroupSet::default).merge(groups);
                    first || merged
                }
            }
        };
        if changed {
            self.trigger_send();
        }
    }

    fn trigger_send(&self) {
        // Full means a send is already pending: nothing is lost.
        let _ = self.trigger.try_send(());
    }
}

/// What a provider was built from; equal configs keep their provider.
#[derive(Debug, Clone, PartialEq)]
enum ProviderConfig {
    /// All `static_configs` of a job form one provider, as in Prometheus.
    Static(Vec<StaticConfig>),
    /// One provider per `file_sd_configs` entry.
    File(FileSdConfig),
    /// One provider per `http_sd_configs` entry (boxed: it is large).
    Http(Box<HttpSdConfig>),
    /// One provider per `dns_sd_configs` entry.
    Dns(DnsSdConfig),
}

impl ProviderConfig {
    fn kind(&self) -> &'static str {
        match self {
            ProviderConfig::Static(_) => "static",
            ProviderConfig::File(_) => "file",
            ProviderConfig::Http(_) => "http",
            ProviderConfig::Dns(_) => "dns",
        }
    }

    /// The discoverer of a provider that runs on a thread; `None` for the
    /// static provider. Fails when it cannot be built (an unreadable TLS
    /// file, for one).
    fn discoverer(
        &self,
        job: &str,
        metrics: &Arc<Metrics>,
        resolver: &ResolverConfig,
    ) -> Result<Option<Box<dyn Discoverer>>, String> {
        Ok(Some(match self {
            ProviderConfig::Static(_) => return Ok(None),
            ProviderConfig::File(file) => Box::new(FileDiscovery::new(
                job.to_string(),
                &file.files,
                file.refresh_interval.0,
            )),
            ProviderConfig::Http(http) => Box::new(RefreshDiscovery {
                mechanism: "http",
                job: job.to_string(),
                interval: http.refresh_interval.0,
                refresher: HttpDiscovery::new(http, Arc::clone(metrics))
                    .map_err(|e| e.to_string())?,
            }),
            ProviderConfig::Dns(dns) => Box::new(RefreshDiscovery {
                mechanism: "dns",
                job: job.to_string(),
                interval: dns.refresh_interval.0,
                refresher: DnsDiscovery::new(job, dns, resolver.clone(), Arc::clone(metrics)),
            }),
        }))
    }
}

/// The configs of one job's providers, deduplicated.
fn job_providers(sc: &ScrapeConfig) -> Vec<ProviderConfig> {
    let mut configs = Vec::new();
    if !sc.static_configs.is_empty() {
        configs.push(ProviderConfig::Static(sc.static_configs.clone()));
    }
    let file = sc.file_sd_configs.iter().cloned().map(ProviderConfig::File);
    let http = sc
        .http_sd_configs
        .iter()
        .map(|h| ProviderConfig::Http(Box::new(h.clone())));
    let dns = sc.dns_sd_configs.iter().cloned().map(ProviderConfig::Dns);
    for config in file.chain(http).chain(dns) {
        if !configs.contains(&config) {
            configs.push(config);
        }
    }
    if configs.is_empty() {
        // As Prometheus: a job without discovery gets one empty static group,
        // so the scrape side learns it has no targets.
        configs.push(ProviderConfig::Static(vec![StaticConfig::default()]));
    }
    configs
}

/// The groups of a static provider: one per `static_configs` entry, source
/// `<index>`, as Prometheus's config loading sets them.
fn static_groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(i, sc)| TargetGroup::new(&sc.targets, sc.labels.clone(), i.to_string()))
        .collect()
}

/// A running provider and, for file providers, its thread.
struct Provider {
    key: ProviderKey,
    config: ProviderConfig,
    thread: Option<ProviderThread>,
}

struct ProviderThread {
    /// Never sent on: dropping it disconnects the channel, which stops the thread.
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

/// The providers, owned by whichever thread applies a config.
#[derive(Default)]
struct Providers {
    running: Vec<Provider>,
    /// Threads told to stop and not yet joined; `stop` joins them.
    retired: Vec<JoinHandle<()>>,
    /// Jobs of the config applied last.
    jobs: BTreeSet<String>,
    next_id: u64,
}

/// Prometheus's `discovery.Manager`: runs the providers of every job and
/// sends the full `job_name -> groups` map on a channel.
///
/// Concurrency: [`Manager::apply_config`] may be called from any thread (calls
/// are serialised) and never waits on I/O; provider threads and the sender
/// thread run until [`Manager::stop`], which joins them all. Nothing is sent
/// after `stop` returns.
pub struct Manager {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    /// The resolv.conf (and DNS port) of `dns_sd_configs`.
    resolver: ResolverConfig,
    providers: Mutex<Providers>,
    sync_rx: Receiver<SyncMap>,
    /// Never sent on: dropped to stop the sender thread.
    stop_sender: Sender<()>,
    sender: JoinHandle<()>,
}

impl Manager {
    /// A manager with no providers yet and its sender thread running.
    /// `update_interval` is the least time between two sends on the sync
    /// channel (Prometheus: 5s); tests pass a small one.
    pub fn new(update_interval: Duration) -> Manager {
        let (trigger_tx, trigger_rx) = bounded(1);
        let (stop_sender, stop_rx) = bounded(0);
        // One slot: the sender replaces an unread map with a newer one.
        let (sync_tx, sync_rx) = bounded(1);
        let shared = Arc::new(Shared {
            targets: Mutex::new(Targets::default()),
            trigger: trigger_tx,
        });
        let sender = SyncSender {
            shared: Arc::clone(&shared),
            trigger: trigger_rx,
            stop: stop_rx,
            sync_tx,
            sync_rx: sync_rx.clone(),
            interval: update_interval,
        };
        let sender = std::thread::Builder::new()
            .name("discovery sender".to_string())
            .spawn(move || sender.run())
            // As std::thread::spawn: no thread means the OS is out of resources.
            .expect("cannot spawn the discovery sender thread");
        Manager {
            shared,
            metrics: Arc::default(),
            resolver: ResolverConfig::default(),
            providers: Mutex::new(Providers::default()),
            sync_rx,
            stop_sender,
            sender,
        }
    }

    /// (Re)configures the providers from the scrape configs: one set per
    /// `job_name` from its `static_configs` and `file_sd_configs`.
    ///
    /// Providers whose config did not change keep running with their last
    /// groups; others are told to stop (and joined by [`Manager::stop`]) and
    /// their groups dropped; new ones start. A job no longer configured is
    /// sent once with no groups. As Prometheus, a send follows so the
    /// receiver gets the full state after every reload.
    pub fn apply_config(&self, scrape_configs: &[ScrapeConfig]) {
        let mut providers = self.providers.lock();
        providers.retired.retain(|h| !h.is_finished());

        let mut wanted: Vec<(String, ProviderConfig)> = Vec::new();
        for sc in scrape_configs {
            for config in job_providers(sc) {
                wanted.push((sc.job_name.clone(), config));
            }
        }

        // Keep providers whose job and config are still wanted; stop the rest.
        let mut kept = Vec::new();
        let mut stopped = Vec::new();
        for provider in std::mem::take(&mut providers.running) {
            let pos = wanted
                .iter()
                .position(|(job, config)| *job == provider.key.job && *config == provider.config);
            match pos {
                Some(pos) => {
                    wanted.swap_remove(pos);
                    kept.push(provider);
                }
                None => stopped.push(provider),
            }
        }

        let jobs: BTreeSet<String> = scrape_configs.iter().map(|s| s.job_name.clone()).collect();
        {
            let mut targets = self.shared.targets.lock();
            for provider in &stopped {
                targets.providers.remove(&provider.key);
            }
            for job in providers.jobs.difference(&jobs) {
                targets.removed_jobs.insert(job.clone());
            }
            for job in &jobs {
                targets.removed_jobs.remove(job);
            }
        }
        for provider in stopped {
            debug!(job = provider.key.job.as_str(), provider:% = provider.key; "Stopping provider");
            if let Some(thread) = provider.thread {
                drop(thread.stop);
                providers.retired.push(thread.handle);
            }
        }

        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        for (job, config) in wanted {
            let id = providers.next_id;
            providers.next_id += 1;
            if let Some(provider) = self.start_provider(job, config, id) {
                kept.push(provider);
            }
        }
        providers.running = kept;
        providers.jobs = jobs;
        drop(providers);
        self.shared.trigger_send();
    }

    /// Registers a provider and starts it: static groups are stored at once,
    /// a file provider gets its thread. `None` if the thread cannot start.
    fn start_provider(&self, job: String, config: ProviderConfig, id: u64) -> Option<Provider> {
        let key = ProviderKey {
            job,
            kind: config.kind(),
            id,
        };
        debug!(job = key.job.as_str(), provider:% = key; "Starting provider");
        self.shared
            .targets
            .lock()
            .providers
            .insert(key.clone(), None);
        if let ProviderConfig::Static(configs) = &config {
            self.shared.update(&key, static_groups(configs));
        }
        let thread = match config.discoverer(&key.job, &self.metrics, &self.resolver) {
            Ok(None) => None,
            Ok(Some(discoverer)) => match self.spawn_provider(&key, discoverer) {
                Ok(thread) => Some(thread),
                Err(e) => {
                    warn!(job = key.job.as_str(), provider:% = key, err:% = e; "Cannot start discovery");
                    self.shared.targets.lock().providers.remove(&key);
                    return None;
                }
            },
            Err(e) => {
                warn!(job = key.job.as_str(), provider:% = key, err:% = e; "Cannot create discovery");
                self.shared.targets.lock().providers.remove(&key);
                return None;
            }
        };
        Some(Provider {
            key,
            config,
            thread,
        })
    }

    /// Starts the provider's thread: it runs `discoverer` on a thread of
    /// its own and stores every update it sends (Prometheus's `updater`),
    /// until the discoverer stops and its channel disconnects.
    fn spawn_provider(
        &self,
        key: &ProviderKey,
        discoverer: Box<dyn Discoverer>,
    ) -> std::io::Result<ProviderThread> {
        let (stop, stop_rx) = bounded(0);
        let (up_tx, up_rx) = bounded(1);
        let name = format!("discovery {} {}", key.job, key.kind);
        let inner = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || discoverer.run(up_tx, stop_rx))?;
        let shared = Arc::clone(&self.shared);
        let key = key.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{name} up"))
            .spawn(move || {
                for groups in up_rx {
                    shared.update(&key, groups);
                }
                if inner.join().is_err() {
                    warn!(job = key.job.as_str(), provider:% = key; "Discoverer panicked");
                }
            });
        // If the second thread cannot start, dropping `stop` ends the first.
        let handle = spawned?;
        Ok(ProviderThread { stop, handle })
    }

    /// The manager with `dns_sd_configs` resolving through `resolver`
    /// instead of `/etc/resolv.conf` and port 53; applies to providers
    /// started after it.
    pub fn with_resolver(mut self, resolver: ResolverConfig) -> Manager {
        self.resolver = resolver;
        self
    }

    /// The counters of the discovery mechanisms.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The sync channel (Prometheus's `SyncCh`): each message is the full
    /// `job_name -> groups` map. A message not yet received is replaced by a
    /// newer one, so the receiver never reads a stale map.
    pub fn sync_receiver(&self) -> Receiver<SyncMap> {
        self.sync_rx.clone()
    }

    /// Stops every provider thread and the sender thread and joins them.
    pub fn stop(self) {
        drop(self.stop_sender);
        let providers = self.providers.into_inner();
        let mut handles = providers.retired;
        for provider in providers.running {
            if let Some(thread) = provider.thread {
                drop(thread.stop);
                handles.push(thread.handle);
            }
        }
        handles.push(self.sender);
        for handle in handles {
            if handle.join().is_err() {
                warn!("Discovery thread panicked");
            }
        }
        debug!("Discovery manager stopped");
    }
}

/// The sender thread's state (Prometheus's `sender`).
struct SyncSender {
    shared: Arc<Shared>,
    trigger: Receiver<()>,
    stop: Receiver<()>,
    sync_tx: Sender<SyncMap>,
    /// Used to take back an unread map before putting a newer one.
    sync_rx: Receiver<SyncMap>,
    interval: Duration,
}

impl SyncSender {
    /// Sends when triggered, at most once per interval: the first trigger
    /// after a quiet interval sends at once, later ones wait for the interval
    /// to end and are coalesced into one send.
    ///
    /// Prometheus only sends on a 5s tick; sending the first change at once
    /// gets targets scraped without waiting a tick at start and after reloads.
    /// Likewise a provider's first groups (a file provider reads its files
    /// just after the static groups went out) are sent at once, not after
    /// the interval: only changes to groups already sent are throttled.
    fn run(self) {
        let mut last_send: Option<Instant> = None;
        let mut pending = false;
        // Providers that had reported when the last map went out.
        let mut reported_at_send = 0;
        loop {
            let timer = match (pending, last_send) {
                (true, Some(sent)) => at(sent + self.interval),
                _ => never(),
            };
            select! {
                recv(self.stop) -> _ => break,
                recv(self.trigger) -> _ => pending = true,
                recv(timer) -> _ => {}
            }
            let first_groups = self.reported_providers() > reported_at_send;
            let due =
                first_groups || last_send.map_or(true, |sent| sent.elapsed() >= self.interval);
            if pending && due {
                reported_at_send = self.send();
                last_send = Some(Instant::now());
                pending = false;
            }
        }
        debug!("Discovery sender stopped");
    }

    fn reported_providers(&self) -> usize {
        reported_providers(&self.shared.targets.lock())
    }

    /// Sends the full map; returns how many providers it holds groups of.
    fn send(&self) -> usize {
        let (all, reported) = {
            let mut targets = self.shared.targets.lock();
            let all = targets.all_groups();
            targets.removed_jobs.clear();
            (all, reported_providers(&targets))
        };
        let groups: usize = all.values().map(Vec::len).sum();
        debug!(jobs = all.len(), groups = groups; "Sending target groups");
        if let Err(TrySendError::Full(mut all)) = self.sync_tx.try_send(all) {
            // The receiver has not taken the previous map: replace it, keeping
            // the once-only empty entries of jobs removed since.
            if let Ok(unread) = self.sync_rx.try_recv() {
                for job in unread.into_keys() {
                    all.entry(job).or_default();
                }
            }
            // Only this thread sends, so the slot is free now.
            let _ = self.sync_tx.try_send(all);
        }
        reported
    }
}

/// How many registered providers have reported groups.
fn reported_providers(targets: &Targets) -> usize {
    targets
        .providers
        .values()
        .filter(|set| set.is_some())
        .count()
}
