//! The read-only views the web server reads the rest of the process through.
//!
//! The server never holds a scrape manager, a head or a config: it holds
//! these traits, which `main` implements over the real types. Every method is
//! called on a web worker thread while a request is served, so it must be
//! cheap, must not block on I/O and must take its locks only briefly.

use std::time::{Duration, SystemTime};

use crate::labels::Labels;
use crate::relabel::RelabelConfig;
use crate::storage::selector::Matcher;

/// Health of a target after its last scrape, as Prometheus's `TargetHealth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// The string Prometheus uses: `up`, `down` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// One active target as `/api/v1/targets` and the targets page show it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetInfo {
    /// The scrape pool (job name) the target belongs to.
    pub scrape_pool: String,
    /// The URL scraped, with query parameters. (`globalUrl` is derived from
    /// it by the server, from the external URL, as Prometheus does.)
    pub scrape_url: String,
    /// Labels before relabeling, `__meta_*` included.
    pub discovered_labels: Labels,
    /// Labels after relabeling: the ones attached to every scraped series.
    pub labels: Labels,
    /// Health after the last scrape.
    pub health: Health,
    /// Error of the last scrape; empty when it succeeded.
    pub last_error: String,
    /// Start of the last scrape; `UNIX_EPOCH` when never scraped.
    pub last_scrape: SystemTime,
    /// How long the last scrape took.
    pub last_scrape_duration: Duration,
    /// The target's `__scrape_interval__` label value (`15s`).
    pub scrape_interval: String,
    /// The target's `__scrape_timeout__` label value (`10s`).
    pub scrape_timeout: String,
    /// Durations of the most recent scrapes in seconds, oldest first (for
    /// the sparkline on the targets page; not part of the API).
    pub recent_durations: Vec<f64>,
}

/// One target dropped by relabeling.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTargetInfo {
    /// The scrape pool (job name) that dropped it.
    pub scrape_pool: String,
    /// Labels before relabeling.
    pub discovered_labels: Labels,
}

/// The scrape manager's targets. Order inside a pool is kept as given; pools
/// are sorted by name by the server, as Prometheus does.
pub trait TargetsView: Send + Sync {
    /// Every target currently scraped.
    fn active(&self) -> Vec<TargetInfo>;
    /// Targets dropped by relabeling (as many as `keep_dropped_targets` keeps).
    fn dropped(&self) -> Vec<DroppedTargetInfo>;
    /// Each job's relabeling rules in the running config, in config order.
    fn relabel_rules(&self) -> Vec<JobRelabelRules>;
}

/// The relabeling rules of one scrape job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRelabelRules {
    /// The job name.
    pub job: String,
    /// `relabel_configs`: applied to discovered targets.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `metric_relabel_configs`: applied to scraped series.
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

/// What `/status` shows: shipping, the WAL and the process. Figures the
/// storage does not report are `None` and shown as such.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusReport {
    /// One entry per remote_write queue, in config order.
    pub queues: Vec<QueueStatus>,
    /// The write-ahead log.
    pub wal: WalStatus,
    /// The running process.
    pub process: ProcessStatus,
}

/// How a remote_write queue is doing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueStatus {
    /// The queue's name (`remote_name`).
    pub name: String,
    /// The endpoint URL.
    pub url: String,
    /// Samples read from the WAL and not yet sent.
    pub samples_pending: i64,
    /// Samples sent successfully, in total.
    pub samples_sent: u64,
    /// Samples retried after a recoverable error, in total.
    pub samples_retried: u64,
    /// Samples refused by the endpoint for good, in total.
    pub samples_failed: u64,
    /// Samples dropped before sending (relabeling, age, retention), in total.
    pub samples_dropped: u64,
    /// Timestamp (ms) of the newest sample read from the WAL, if any.
    pub newest_read_ms: Option<i64>,
    /// Timestamp (ms) of the newest sample sent, if any.
    pub newest_sent_ms: Option<i64>,
    /// Compressed bytes sent, in total.
    pub bytes_sent: u64,
    /// When the queue started retrying without success, if it is.
    pub retrying_since: Option<SystemTime>,
    /// The last send error: empty when the last send succeeded, `None`
    /// when the queue does not report errors.
    pub last_error: Option<String>,
    /// Whether the queue has been stopped.
    pub stopped: bool,
    /// Timestamp (ms) of the oldest sample not yet acknowledged, or a bound
    /// never newer than it; `None` when nothing is pending or unreported.
    pub oldest_unsent_ms: Option<i64>,
    /// WAL bytes from the queue's position to the end, `None` if unreported.
    pub bytes_unsent: Option<u64>,
}

/// The write-ahead log on disk.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WalStatus {
    /// The WAL folder.
    pub dir: String,
    /// Segment files on disk.
    pub segments: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes written since start.
    pub bytes_written_total: u64,
    /// Series held in memory.
    pub series: u64,
    /// `--storage.retention.size`, if set.
    pub retention_bytes: Option<u64>,
    /// `--storage.retention.time`, if set.
    pub retention_time: Option<Duration>,
    /// Timestamp (ms) of the oldest sample kept, when the storage reports it.
    pub oldest_ms: Option<i64>,
    /// Timestamp (ms) of the newest sample appended, if any.
    pub newest_ms: Option<i64>,
    /// WAL bytes written per second over the last minute, if measured.
    pub recent_write_rate: Option<f64>,
}

/// The running process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStatus {
    /// The program version.
    pub version: String,
    /// The config file in use.
    pub config_file: String,
    /// Whether the last config (re)load succeeded.
    pub last_reload_successful: bool,
    /// When the config was last loaded successfully.
    pub last_reload_success: SystemTime,
}

impl Default for ProcessStatus {
    fn default() -> ProcessStatus {
        ProcessStatus {
            version: String::new(),
            config_file: String::new(),
            last_reload_successful: true,
            last_reload_success: SystemTime::UNIX_EPOCH,
        }
    }
}

/// One sample of one series: labels (with `__name__`), timestamp in
/// milliseconds since the epoch, value.
pub type Sample = (Labels, i64, f64);

/// One series and its raw samples `(ms, value)`, sorted by time.
pub type SeriesSamples = (Labels, Vec<(i64, f64)>);

/// The stored samples, as `/federate` and the query API read them.
pub trait SeriesView: Send + Sync {
    /// For every series matching all of `matchers`, its latest sample at or
    /// before `at_ms` and within the 5 minute lookback window, stale markers
    /// excluded — a PromQL instant vector selector evaluated at `at_ms`.
    fn instant(&self, matchers: &[Matcher], at_ms: i64) -> Vec<Sample>;

    /// Every series matching all of `matchers` with its samples in
    /// `[mint_ms, maxt_ms]`, sorted by time, stale markers included as the
    /// stale NaN; series without such samples may be left out. Must copy
    /// the samples out rather than hold a storage lock while the caller
    /// uses them. `Err` says why the samples could not be read.
    fn range(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesSamples>, String>;
}

/// Process-level control and status.
pub trait Lifecycle: Send + Sync {
    /// Reloads the config file; `Err` carries why the new config was refused
    /// (the old one keeps running). Called on a web worker; may block until
    /// the reload is applied.
    fn reload(&self) -> Result<(), String>;
    /// Asks the process to shut down; returns at once. The server calls it at
    /// most once.
    fn quit(&self);
    /// The running config as YAML, every secret shown as `<secret>`.
    fn config_yaml(&self) -> String;
    /// Command-line flags and their values (defaults included), by name
    /// without the leading dashes.
    fn flags(&self) -> Vec<(String, String)>;
    /// The running config's `global.external_labels`, which `/federate`
    /// attaches to every series that lacks them.
    fn external_labels(&self) -> Labels;
    /// Whether start-up is complete: the WAL replayed and the first config
    /// applied. Until then `/-/ready`, `/federate` and `/api/v1/*` answer 503.
    fn ready(&self) -> bool;
    /// Shipping, WAL and process figures for `/status`; reads counters only.
    fn status(&self) -> StatusReport;
}
