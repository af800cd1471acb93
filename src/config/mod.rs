//! The `prometheus.yml` model: serde types with Prometheus's defaults.
//!
//! [`Config::load_file`] reads and validates a file; the scrape, storage and
//! web modules only ever see a validated [`Config`] in which every scrape
//! config has its global defaults filled in.

/// `Debug`, `Serialize` and `Deserialize` of a config value through its
/// Prometheus text form: its `Display` and its `parse(&str) -> Result<_, String>`.
macro_rules! text_form {
    ($ty:ident) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(deserializer)?;
                $ty::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

mod de;
mod duration;
mod http;
mod raw;
mod scrape_files;
mod secret;
mod size;
mod validate;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use http::{
    Authorization, BasicAuth, HttpClientConfig, HttpHeader, OAuth2, TlsConfig, TlsVersion,
};
pub use secret::Secret;
pub use size::ByteSize;
pub use yaml::emit::EmitError;

pub(crate) use de::from_str as from_yaml_str;
pub(crate) use yaml::emit::to_string as to_yaml_string;

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
    /// One entry per job. After [`Config::load_file`] the jobs of
    /// `scrape_config_files` follow those of the main file.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Globs of files holding more `scrape_configs`, relative to the main
    /// file. Not written by [`Config::to_yaml`], which shows their jobs in
    /// `scrape_configs`.
    #[serde(default, skip_serializing)]
    pub scrape_config_files: Vec<String>,
    /// Remote endpoints samples are shipped to.
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
}

/// `global`: defaults for every scrape config and labels for remote_write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalConfig {
    /// How often to scrape by default (1m).
    pub scrape_interval: Duration,
    /// How long a scrape may take by default (10s).
    pub scrape_timeout: Duration,
    /// Protocols offered in the Accept header, in order of preference.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// Accepted so that configs written for Prometheus load unchanged; it
    /// has no effect, since edgescrape evaluates no rules (`rule_files` is
    /// refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_interval: Option<Duration>,
    /// Labels added to every series sent by remote_write.
    pub external_labels: Labels,
    /// Default uncompressed body limit (0: none).
    pub body_size_limit: ByteSize,
    /// Default per-scrape sample limit (0: none).
    pub sample_limit: u64,
    /// Default per-series label count limit (0: none).
    pub label_limit: u64,
    /// Default label name length limit (0: none).
    pub label_name_length_limit: u64,
    /// Default label value length limit (0: none).
    pub label_value_length_limit: u64,
    /// Default per-pool target limit (0: none).
    pub target_limit: u64,
    /// Default number of dropped targets kept for the API (0: all).
    pub keep_dropped_targets: u64,
    /// Default file failed scrapes are logged to (none: not logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_failure_log_file: Option<PathBuf>,
}

impl Default for GlobalConfig {
    fn default() -> GlobalConfig {
        GlobalConfig {
            scrape_interval: default_scrape_interval(),
            scrape_timeout: default_scrape_timeout(),
            scrape_protocols: default_scrape_protocols(),
            evaluation_interval: None,
            external_labels: Labels::empty(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
            keep_dropped_targets: 0,
            scrape_failure_log_file: None,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `application/openmetrics-text;version=1.0.0`
    OpenMetricsText1_0_0,
    /// `application/openmetrics-text;version=0.0.1`
    OpenMetricsText0_0_1,
    /// `text/plain;version=0.0.4`
    PrometheusText0_0_4,
}

impl ScrapeProtocol {
    /// Every protocol, sorted by name as Prometheus lists them in errors.
    pub const ALL: [ScrapeProtocol; 3] = [
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    /// The name used in `scrape_protocols`.
    pub fn name(self) -> &'static str {
        match self {
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
        }
    }

    /// The media type sent in the Accept header for this protocol.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
        }
    }
}

impl std::fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ScrapeProtocol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ScrapeProtocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ScrapeProtocol, D::Error> {
        let name = String::deserialize(d)?;
        if let Some(p) = ScrapeProtocol::ALL.into_iter().find(|p| p.name() == name) {
            return Ok(p);
        }
        if name == "PrometheusProto" {
            return Err(serde::de::Error::custom(
                "not supported: scrape protocol PrometheusProto (edgescrape parses the text formats only)",
            ));
        }
        let supported: Vec<&str> = ScrapeProtocol::ALL.iter().map(|p| p.name()).collect();
        Err(serde::de::Error::custom(format!(
            "unknown scrape protocol {name}, supported: [{}]",
            supported.join(" ")
        )))
    }
}

/// One `scrape_configs` entry. After [`Config::load_file`] the
/// `Option` fields that inherit from `global` are all `Some`.
///
/// The HTTP client fields are written inline in the YAML, as in Prometheus,
/// and gathered in [`ScrapeConfig::http`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "raw::RawScrapeConfig")]
pub struct ScrapeConfig {
    /// Name of the job; unique in a config.
    pub job_name: String,
    /// Scrape interval (default: global).
    pub scrape_interval: Option<Duration>,
    /// Scrape timeout (default: global, capped at the interval).
    pub scrape_timeout: Option<Duration>,
    /// Accept-header protocols (default: global).
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    /// How to parse a body whose Content-Type is missing or unknown
    /// (default: as the text format, as Prometheus 2.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    /// URL path to scrape.
    pub metrics_path: String,
    /// `http` or `https`.
    pub scheme: String,
    /// URL query parameters.
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the scraped labels on collision with target labels.
    pub honor_labels: bool,
    /// Use timestamps present in the exposition.
    pub honor_timestamps: bool,
    /// Write stale markers for series with explicit timestamps too.
    pub track_timestamps_staleness: bool,
    /// Ask for gzip bodies: `Some(true)` from every target, `Some(false)`
    /// from none; unset (`None`), from every target but a loopback one
    /// reached without a proxy (see `Target::asks_for_gzip`). Serialized
    /// only when written, so a config printed and loaded again keeps its
    /// meaning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_compression: Option<bool>,
    /// Authentication, TLS, proxy and redirects.
    #[serde(flatten)]
    pub http: HttpClientConfig,
    /// Literal target lists.
    pub static_configs: Vec<StaticConfig>,
    /// File-based discovery.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// HTTP-based discovery.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// DNS-based discovery.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Target relabeling.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling of every scraped series.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Uncompressed body limit (default: global; 0: none).
    pub body_size_limit: Option<ByteSize>,
    /// Samples per scrape limit (default: global; 0: none).
    pub sample_limit: Option<u64>,
    /// Labels per series limit (default: global; 0: none).
    pub label_limit: Option<u64>,
    /// Label name length limit (default: global; 0: none).
    pub label_name_length_limit: Option<u64>,
    /// Label value length limit (default: global; 0: none).
    pub label_value_length_limit: Option<u64>,
    /// Targets per pool limit (default: global; 0: none).
    pub target_limit: Option<u64>,
    /// Dropped targets kept for the API (default: global; 0: all).
    pub keep_dropped_targets: Option<u64>,
    /// File failed scrapes are logged to (default: global).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_failure_log_file: Option<PathBuf>,
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

/// `http_sd_configs` entry: a URL answering with a JSON list of target
/// groups, fetched every `refresh_interval` through its own HTTP client
/// settings (written inline, as in Prometheus).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "raw::RawHttpSdConfig")]
pub struct HttpSdConfig {
    /// The `http` or `https` URL to GET.
    pub url: String,
    /// How often to GET it (1m); also the request timeout, as Prometheus.
    pub refresh_interval: Duration,
    /// Authentication, TLS, proxy, headers and redirects.
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

fn default_http_sd_refresh() -> Duration {
    Duration::from_secs(60)
}

/// `dns_sd_configs` entry: names whose SRV, A, AAAA, MX or NS records are
/// the targets, looked up every `refresh_interval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    /// The names to look up.
    #[serde(default)]
    pub names: Vec<String>,
    /// How often to look them up (30s).
    #[serde(default = "default_dns_sd_refresh")]
    pub refresh_interval: Duration,
    /// `SRV` (default), `A`, `AAAA`, `MX` or `NS`; upper-cased by
    /// validation.
    #[serde(default = "default_dns_sd_type", rename = "type")]
    pub kind: String,
    /// Port of the targets of every type but SRV, whose records carry theirs.
    #[serde(default)]
    pub port: u16,
}

fn default_dns_sd_refresh() -> Duration {
    Duration::from_secs(30)
}

fn default_dns_sd_type() -> String {
    "SRV".to_string()
}

/// One `remote_write` entry; the HTTP client fields are written inline, as
/// in Prometheus, and gathered in [`RemoteWriteConfig::http`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "raw::RawRemoteWriteConfig")]
pub struct RemoteWriteConfig {
    /// Receiver URL.
    pub url: String,
    /// Timeout of one request (30s).
    pub remote_timeout: Duration,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Name of this queue in metrics (default: a hash of the config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Relabeling applied before sending.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Batching, sharding and retry settings.
    pub queue_config: QueueConfig,
    /// Authentication, TLS, proxy and redirects.
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

fn default_remote_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `queue_config` of a remote_write entry, with Prometheus 2.44's defaults
/// (docs/compat.md says why not 2.42's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples buffered per shard (10000).
    pub capacity: usize,
    /// Most sending threads (50).
    pub max_shards: usize,
    /// Fewest sending threads (1).
    pub min_shards: usize,
    /// Samples per request (2000).
    pub max_samples_per_send: usize,
    /// Longest a partial batch waits (5s).
    pub batch_send_deadline: Duration,
    /// First retry delay (30ms).
    pub min_backoff: Duration,
    /// Longest retry delay (5s).
    pub max_backoff: Duration,
    /// Retry on HTTP 429 (true in Prometheus 2.5x).
    pub retry_on_http_429: bool,
    /// Drop samples older than this instead of sending them (0: never).
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
            sample_age_limit: Duration::default(),
        }
    }
}

/// Why a config was refused: the file and, where known, line, column and
/// the field concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Path of the field in the YAML (`scrape_configs[0].scrape_timeout`),
    /// empty for the document as a whole.
    pub field: String,
    /// What is wrong.
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
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn at(file: &Path, pos: Option<yaml::Pos>, field: String, message: String) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            field,
            message,
        }
    }
}

impl Config {
    /// Reads, parses and validates a config file and the files its
    /// `scrape_config_files` globs match. As Prometheus, relative file paths
    /// in a file (password and credentials files, TLS files, `file_sd_configs`
    /// patterns, the `scrape_config_files` globs) are taken relative to that
    /// file's folder.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let text = read_config(path)?;
        let (mut config, root) = Config::parse(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        config.set_directory(dir);
        scrape_files::load(&mut config, path, &root)?;
        Ok(config)
    }

    /// Parses and validates config text; `file` names it in errors. Scrape
    /// configs come back with their `global` defaults filled in; the
    /// `scrape_config_files` are not read (see [`Config::load_file`]).
    pub fn load_str(text: &str, file: &Path) -> Result<Config, ConfigError> {
        Config::parse(text, file).map(|(config, _)| config)
    }

    fn parse(text: &str, file: &Path) -> Result<(Config, yaml::Node), ConfigError> {
        let root = parse_yaml(text, file)?;
        let at = |pos, field, message| ConfigError::at(file, pos, field, message);
        validate::refusals(&root).map_err(|r| at(Some(r.pos), r.field, r.message))?;
        let mut config: Config = de::from_node(&root).map_err(|e| {
            let field = e.field();
            at(e.pos, field, e.message)
        })?;
        validate::check(&mut config, &root).map_err(|r| at(Some(r.pos), r.field, r.message))?;
        Ok((config, root))
    }

    /// The config as YAML, secrets shown as `<secret>`, for
    /// `/api/v1/status/config`.
    pub fn to_yaml(&self) -> Result<String, EmitError> {
        yaml::emit::to_string(self)
    }

    /// Joins relative file paths with `dir`, as Prometheus's `SetDirectory`.
    fn set_directory(&mut self, dir: &Path) {
        if let Some(p) = &mut self.global.scrape_failure_log_file {
            join_path(dir, p);
        }
        for sc in &mut self.scrape_configs {
            sc.set_directory(dir);
        }
        for rw in &mut self.remote_write {
            set_http_directory(&mut rw.http, dir);
        }
        for pattern in &mut self.scrape_config_files {
            *pattern = join_dir(dir, pattern);
        }
    }
}

impl ScrapeConfig {
    /// Joins relative file paths with `dir`, as Prometheus's `SetDirectory`.
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        set_http_directory(&mut self.http, dir);
        if let Some(p) = &mut self.scrape_failure_log_file {
            join_path(dir, p);
        }
        for sd in &mut self.http_sd_configs {
            set_http_directory(&mut sd.http, dir);
        }
        for sd in &mut self.file_sd_configs {
            for pattern in &mut sd.files {
                *pattern = join_dir(dir, pattern);
            }
        }
    }
}

/// `pattern` joined with `dir` when relative, as Prometheus's `JoinDir`.
fn join_dir(dir: &Path, pattern: &str) -> String {
    let mut p = PathBuf::from(pattern);
    join_path(dir, &mut p);
    p.to_string_lossy().into_owned()
}

fn join_path(dir: &Path, p: &mut PathBuf) {
    if !p.as_os_str().is_empty() && p.is_relative() {
        *p = dir.join(&*p);
    }
}

fn set_http_directory(h: &mut HttpClientConfig, dir: &Path) {
    let join = |p: &mut PathBuf| join_path(dir, p);
    if let Some(b) = &mut h.basic_auth {
        b.password_file.as_mut().map(join);
        b.username_file.as_mut().map(join);
    }
    for header in h.http_headers.values_mut() {
        header.files.iter_mut().for_each(join);
    }
    if let Some(a) = &mut h.authorization {
        a.credentials_file.as_mut().map(join);
    }
    set_tls_directory(&mut h.tls_config, dir);
    if let Some(o) = &mut h.oauth2 {
        o.client_secret_file.as_mut().map(join);
        set_tls_directory(&mut o.tls_config, dir);
    }
}

fn set_tls_directory(t: &mut TlsConfig, dir: &Path) {
    for p in [&mut t.ca_file, &mut t.cert_file, &mut t.key_file]
        .into_iter()
        .flatten()
    {
        join_path(dir, p);
    }
}

/// Reads a config file (the main one or a `scrape_config_files` one).
fn read_config(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::at(
            path,
            None,
            String::new(),
            format!("cannot read config: {e}"),
        )
    })
}

/// Parses YAML text into the position-carrying tree; an empty file is an
/// empty mapping, as in Prometheus.
fn parse_yaml(text: &str, file: &Path) -> Result<yaml::Node, ConfigError> {
    let root = yaml::parse(text)
        .map_err(|e| ConfigError::at(file, Some(e.pos), String::new(), e.message))?;
    Ok(root.unwrap_or_else(empty_root))
}

fn empty_root() -> yaml::Node {
    yaml::Node {
        value: yaml::Value::Map(Vec::new()),
        pos: yaml::Pos { line: 1, column: 1 },
    }
}

/// Prints the config as YAML, as Prometheus's `Config.String()`.
impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_yaml() {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "<error creating config string: {e}>"),
        }
    }
}
