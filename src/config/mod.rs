//! The `prometheus.yml` model: serde types with Prometheus's defaults.
//!
//! [`Config::load_file`] reads and validates a file; the scrape, storage and
//! web modules only ever see a validated [`Config`] in which every scrape
//! config has its global defaults filled in.

mod duration;
mod http;
mod secret;
mod size;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use http::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
pub use secret::Secret;
pub use size::ByteSize;

use crate::labels::Labels;
use crate::relabel::RelabelConfig;

pub(crate) fn default_true() -> bool {
    true
}

/// The whole `prometheus.yml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings every scrape config inherits.
    #[serde(default)]
    pub global: GlobalConfig,
    /// One entry per job.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Remote endpoints samples are shipped to.
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
}

/// `global`: defaults for every scrape config and labels for remote_write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How often to scrape by default (1m).
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval: Duration,
    /// How long a scrape may take by default (10s).
    #[serde(default = "default_scrape_timeout")]
    pub scrape_timeout: Duration,
    /// Protocols offered in the Accept header, in order of preference.
    #[serde(default = "default_scrape_protocols")]
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// Labels added to every series sent by remote_write.
    #[serde(default)]
    pub external_labels: Labels,
    /// Default uncompressed body limit (0: none).
    #[serde(default)]
    pub body_size_limit: ByteSize,
    /// Default per-scrape sample limit (0: none).
    #[serde(default)]
    pub sample_limit: u64,
    /// Default per-series label count limit (0: none).
    #[serde(default)]
    pub label_limit: u64,
    /// Default label name length limit (0: none).
    #[serde(default)]
    pub label_name_length_limit: u64,
    /// Default label value length limit (0: none).
    #[serde(default)]
    pub label_value_length_limit: u64,
    /// Default per-pool target limit (0: none).
    #[serde(default)]
    pub target_limit: u64,
    /// Default number of dropped targets kept for the API (0: all).
    #[serde(default)]
    pub keep_dropped_targets: u64,
}

impl Default for GlobalConfig {
    fn default() -> GlobalConfig {
        GlobalConfig {
            scrape_interval: default_scrape_interval(),
            scrape_timeout: default_scrape_timeout(),
            scrape_protocols: default_scrape_protocols(),
            external_labels: Labels::empty(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
            keep_dropped_targets: 0,
        }
    }
}

fn default_scrape_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_scrape_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Prometheus 2.53's default: OpenMetrics 1.0, OpenMetrics 0.0.1, text 0.0.4.
pub fn default_scrape_protocols() -> Vec<ScrapeProtocol> {
    vec![
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText0_0_4,
    ]
}

/// An exposition format a scrape may negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScrapeProtocol {
    /// `application/openmetrics-text;version=1.0.0`
    #[serde(rename = "OpenMetricsText1.0.0")]
    OpenMetricsText1_0_0,
    /// `application/openmetrics-text;version=0.0.1`
    #[serde(rename = "OpenMetricsText0.0.1")]
    OpenMetricsText0_0_1,
    /// `text/plain;version=0.0.4`
    #[serde(rename = "PrometheusText0.0.4")]
    PrometheusText0_0_4,
}

impl ScrapeProtocol {
    /// The media type sent in the Accept header for this protocol.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
        }
    }
}

/// One `scrape_configs` entry. After [`Config::load_file`] the
/// `Option` fields that inherit from `global` are all `Some`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapeConfig {
    /// Name of the job; unique in a config.
    pub job_name: String,
    /// Scrape interval (default: global).
    #[serde(default)]
    pub scrape_interval: Option<Duration>,
    /// Scrape timeout (default: global, capped at the interval).
    #[serde(default)]
    pub scrape_timeout: Option<Duration>,
    /// Accept-header protocols (default: global).
    #[serde(default)]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    /// URL path to scrape.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// URL query parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the scraped labels on collision with target labels.
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps present in the exposition.
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// Write stale markers for series with explicit timestamps too.
    #[serde(default)]
    pub track_timestamps_staleness: bool,
    /// Ask for gzip bodies.
    #[serde(default = "default_true")]
    pub enable_compression: bool,
    /// Authentication, TLS, proxy and redirects.
    #[serde(flatten)]
    pub http: HttpClientConfig,
    /// Literal target lists.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// File-based discovery.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Target relabeling.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling of every scraped series.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Uncompressed body limit (default: global; 0: none).
    #[serde(default)]
    pub body_size_limit: Option<ByteSize>,
    /// Samples per scrape limit (default: global; 0: none).
    #[serde(default)]
    pub sample_limit: Option<u64>,
    /// Labels per series limit (default: global; 0: none).
    #[serde(default)]
    pub label_limit: Option<u64>,
    /// Label name length limit (default: global; 0: none).
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    /// Label value length limit (default: global; 0: none).
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    /// Targets per pool limit (default: global; 0: none).
    #[serde(default)]
    pub target_limit: Option<u64>,
    /// Dropped targets kept for the API (default: global; 0: all).
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_scheme() -> String {
    "http".to_string()
}

impl ScrapeConfig {
    /// The effective scrape interval.
    pub fn interval(&self) -> Duration {
        self.scrape_interval.unwrap_or_else(default_scrape_interval)
    }

    /// The effective scrape timeout.
    pub fn timeout(&self) -> Duration {
        self.scrape_timeout.unwrap_or_else(default_scrape_timeout)
    }

    /// The effective Accept-header protocols.
    pub fn protocols(&self) -> Vec<ScrapeProtocol> {
        self.scrape_protocols
            .clone()
            .unwrap_or_else(default_scrape_protocols)
    }
}

/// `static_configs` entry: literal targets and labels for all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels given to every target of this entry.
    #[serde(default)]
    pub labels: Labels,
}

/// `file_sd_configs` entry: files (globs allowed) of target groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths or globs of `.json`, `.yml` or `.yaml` files.
    pub files: Vec<String>,
    /// How often to re-read the files (5m), besides change detection.
    #[serde(default = "default_file_sd_refresh")]
    pub refresh_interval: Duration,
}

fn default_file_sd_refresh() -> Duration {
    Duration::from_secs(300)
}

/// One `remote_write` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteWriteConfig {
    /// Receiver URL.
    pub url: String,
    /// Timeout of one request (30s).
    #[serde(default = "default_remote_timeout")]
    pub remote_timeout: Duration,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Name of this queue in metrics (default: a hash of the config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Relabeling applied before sending.
    #[serde(default)]
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Batching, sharding and retry settings.
    #[serde(default)]
    pub queue_config: QueueConfig,
    /// Authentication, TLS, proxy and redirects.
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

fn default_remote_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `queue_config` of a remote_write entry, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples buffered per shard (10000).
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// Most sending threads (50).
    #[serde(default = "default_max_shards")]
    pub max_shards: usize,
    /// Fewest sending threads (1).
    #[serde(default = "default_min_shards")]
    pub min_shards: usize,
    /// Samples per request (2000).
    #[serde(default = "default_max_samples_per_send")]
    pub max_samples_per_send: usize,
    /// Longest a partial batch waits (5s).
    #[serde(default = "default_batch_send_deadline")]
    pub batch_send_deadline: Duration,
    /// First retry delay (30ms).
    #[serde(default = "default_min_backoff")]
    pub min_backoff: Duration,
    /// Longest retry delay (5s).
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Duration,
    /// Retry on HTTP 429 (true in Prometheus 2.5x).
    #[serde(default = "default_true")]
    pub retry_on_http_429: bool,
    /// Drop samples older than this instead of sending them (0: never).
    #[serde(default)]
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            capacity: default_capacity(),
            max_shards: default_max_shards(),
            min_shards: default_min_shards(),
            max_samples_per_send: default_max_samples_per_send(),
            batch_send_deadline: default_batch_send_deadline(),
            min_backoff: default_min_backoff(),
            max_backoff: default_max_backoff(),
            retry_on_http_429: true,
            sample_age_limit: Duration::default(),
        }
    }
}

fn default_capacity() -> usize {
    10_000
}
fn default_max_shards() -> usize {
    50
}
fn default_min_shards() -> usize {
    1
}
fn default_max_samples_per_send() -> usize {
    2000
}
fn default_batch_send_deadline() -> Duration {
    Duration::from_secs(5)
}
fn default_min_backoff() -> Duration {
    Duration::from_millis(30)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(5)
}

/// Why a config was refused: the file and, where known, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            message: format!("cannot read config: {e}"),
        })?;
        Config::load_str(&text, path)
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn load_str(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = serde_yaml::from_str(text).map_err(|e| {
            let loc = e.location();
            ConfigError {
                file: file.to_path_buf(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message: e.to_string(),
            }
        })?;
        config.fill_defaults();
        Ok(config)
    }

    fn fill_defaults(&mut self) {
        let g = &self.global;
        for sc in &mut self.scrape_configs {
            let interval = *sc.scrape_interval.get_or_insert(g.scrape_interval);
            sc.scrape_timeout
                .get_or_insert(g.scrape_timeout.min(interval));
            sc.scrape_protocols
                .get_or_insert_with(|| g.scrape_protocols.clone());
            sc.body_size_limit.get_or_insert(g.body_size_limit);
            sc.sample_limit.get_or_insert(g.sample_limit);
            sc.label_limit.get_or_insert(g.label_limit);
            sc.label_name_length_limit
                .get_or_insert(g.label_name_length_limit);
            sc.label_value_length_limit
                .get_or_insert(g.label_value_length_limit);
            sc.target_limit.get_or_insert(g.target_limit);
            sc.keep_dropped_targets
                .get_or_insert(g.keep_dropped_targets);
        }
    }
}
