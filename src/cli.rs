//! Command-line flags, as Prometheus spells them (log output is set up by
//! [`crate::logging`]).
//!
//! Flags are parsed by hand: there are a dozen of them, all `--name=value`
//! or `--name value` in Prometheus's dotted style, and a parser crate would
//! cost more build time on an edge box than these lines do.
//!
//! ```text
//! edgescrape [FLAGS]                                  scrape (Command::Run)
//! edgescrape check-config [--config.file=F] [F...]    like `promtool check config`
//! edgescrape --version | --help
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::config::{ByteSize, Duration};
use crate::storage::wal::FsyncPolicy;

/// Every flag of the `run` command, with Prometheus's defaults where
/// Prometheus has the flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `--config.file`: the prometheus.yml to load (`conf/prometheus.yml`).
    pub config_file: PathBuf,
    /// `--storage.path`: folder of the WAL and other state (`data`).
    pub storage_path: PathBuf,
    /// `--storage.retention.size`: most bytes the WAL keeps on disk; the
    /// oldest segments go first. `None`: no size bound.
    pub retention_size: Option<ByteSize>,
    /// `--storage.retention.time`: oldest data kept. As Prometheus, 15d when
    /// neither retention flag is given; `None` when only a size is given.
    pub retention_time: Option<Duration>,
    /// `--storage.fsync`: when appended samples are synced to disk;
    /// `commit` (every commit, the default) or a non-zero duration such as
    /// `100ms` (at most that often: a power cut may lose up to that much of
    /// the most recent data, for fewer writes to flash).
    pub fsync: FsyncPolicy,
    /// `--web.listen-address`: where the web endpoints listen
    /// (`127.0.0.1:9099`).
    pub listen_address: String,
    /// `--web.enable-lifecycle`: allow `POST /-/reload` and `/-/quit`.
    pub enable_lifecycle: bool,
    /// `--web.config.file`: Prometheus exporter-toolkit web config (TLS,
    /// basic auth) for the web endpoints.
    pub web_config_file: Option<PathBuf>,
    /// `--web.max-connections`: most web connections open at once (512, as
    /// Prometheus); 0 means no cap.
    pub max_connections: usize,
    /// `--log.level`.
    pub log_level: LogLevel,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// `--enable-feature`: feature flags turned on, in the order given,
    /// without repeats.
    pub features: Vec<Feature>,
    /// `--query.timeout`: longest a query may run (2m).
    pub query_timeout: Duration,
    /// `--query.max-samples`: most samples one query may read (50000000).
    pub query_max_samples: usize,
    /// `--query.max-series`: most series one query may read (100000).
    pub query_max_series: usize,
    /// `--query.lookback-delta`: how far back an instant selector looks (5m).
    pub query_lookback_delta: Duration,
}

/// Prometheus's default time retention, used when no retention flag is set.
pub const DEFAULT_RETENTION_TIME: Duration = Duration::from_secs(15 * 24 * 3600);

impl Default for Flags {
    fn default() -> Flags {
        Flags {
            config_file: PathBuf::from("conf/prometheus.yml"),
            storage_path: PathBuf::from("data"),
            retention_size: None,
            retention_time: Some(DEFAULT_RETENTION_TIME),
            fsync: FsyncPolicy::EveryCommit,
            listen_address: "127.0.0.1:9099".to_string(),
            enable_lifecycle: false,
            web_config_file: None,
            max_connections: 512,
            log_level: LogLevel::Info,
            log_format: LogFormat::Logfmt,
            features: Vec::new(),
            query_timeout: Duration::from_secs(120),
            query_max_samples: 50_000_000,
            query_max_series: 100_000,
            query_lookback_delta: Duration::from_secs(300),
        }
    }
}

impl Flags {
    /// Whether `--enable-feature` turned `feature` on.
    pub fn has_feature(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }

    /// Every flag and its value, by name without the dashes, as
    /// Prometheus's `/api/v1/status/flags` shows them.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let fsync = match self.fsync {
            FsyncPolicy::EveryCommit => "commit".to_string(),
            FsyncPolicy::Interval(d) => Duration(d).to_string(),
        };
        let features: Vec<&str> = self.features.iter().map(|f| f.name()).collect();
        let opt = |v: Option<String>| v.unwrap_or_default();
        vec![
            ("config.file".into(), self.config_file.display().to_string()),
            (
                "storage.path".into(),
                self.storage_path.display().to_string(),
            ),
            (
                "storage.retention.size".into(),
                opt(self.retention_size.map(|s| s.to_string())),
            ),
            (
                "storage.retention.time".into(),
                opt(self.retention_time.map(|t| t.to_string())),
            ),
            ("storage.fsync".into(), fsync),
            ("web.listen-address".into(), self.listen_address.clone()),
            (
                "web.enable-lifecycle".into(),
                self.enable_lifecycle.to_string(),
            ),
            (
                "web.config.file".into(),
                opt(self
                    .web_config_file
                    .as_ref()
                    .map(|p| p.display().to_string())),
            ),
            (
                "web.max-connections".into(),
                self.max_connections.to_string(),
            ),
            ("log.level".into(), self.log_level.name().into()),
            ("log.format".into(), self.log_format.name().into()),
            ("enable-feature".into(), features.join(",")),
            ("query.timeout".into(), self.query_timeout.to_string()),
            (
                "query.max-samples".into(),
                self.query_max_samples.to_string(),
            ),
            ("query.max-series".into(), self.query_max_series.to_string()),
            (
                "query.lookback-delta".into(),
                self.query_lookback_delta.to_string(),
            ),
        ]
    }

    /// Parses the arguments after the program name.
    pub fn parse<I, S>(args: I) -> Result<Command, FlagError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        if args.first().map(String::as_str) == Some("check-config") {
            return parse_check_config(&args[1..]);
        }
        let mut flags = Flags::default();
        let mut retention_time_given = false;
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let Some(body) = arg.strip_prefix("--") else {
                if arg == "-h" {
                    return Ok(Command::Help);
                }
                return Err(FlagError::Unexpected(arg.clone()));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            match name {
                "help" => return Ok(Command::Help),
                "version" => return Ok(Command::Version),
                "web.enable-lifecycle" => flags.enable_lifecycle = bool_value(name, inline)?,
                "no-web.enable-lifecycle" => {
                    no_value(name, inline)?;
                    flags.enable_lifecycle = false;
                }
                _ if !VALUE_FLAGS.contains(&name) => return Err(FlagError::Unknown(arg.clone())),
                _ => {
                    let value = match inline {
                        Some(v) => v,
                        None => rest
                            .next()
                            .cloned()
                            .ok_or_else(|| FlagError::MissingValue(name.to_string()))?,
                    };
                    let bad = |why: String| FlagError::BadValue {
                        flag: name.to_string(),
                        value: value.clone(),
                        why,
                    };
                    match name {
                        "config.file" => flags.config_file = PathBuf::from(&value),
                        "storage.path" => flags.storage_path = PathBuf::from(&value),
                        "storage.retention.size" => {
                            let size = ByteSize::parse(&value).map_err(bad)?;
                            flags.retention_size = (size.0 > 0).then_some(size);
                        }
                        "storage.retention.time" => {
                            let d = Duration::parse(&value).map_err(bad)?;
                            retention_time_given = true;
                            flags.retention_time = (!d.0.is_zero()).then_some(d);
                        }
                        "storage.fsync" => flags.fsync = parse_fsync(&value).map_err(bad)?,
                        "web.listen-address" => {
                            check_listen_address(&value).map_err(bad)?;
                            flags.listen_address = value.clone();
                        }
                        "web.config.file" => flags.web_config_file = Some(PathBuf::from(&value)),
                        "query.timeout" => {
                            flags.query_timeout = positive_duration(&value).map_err(bad)?
                        }
                        "query.lookback-delta" => {
                            flags.query_lookback_delta = positive_duration(&value).map_err(bad)?;
                        }
                        "query.max-samples" => {
                            flags.query_max_samples = count(&value).map_err(bad)?
                        }
                        "query.max-series" => {
                            flags.query_max_series = count(&value).map_err(bad)?
                        }
                        "web.max-connections" => {
                            flags.max_connections = value.parse().map_err(|_| {
                                bad("expected a whole number of connections (0: no cap)".into())
                            })?;
                        }
                        "log.level" => {
                            flags.log_level = LogLevel::parse(&value).ok_or_else(|| {
                                bad(format!("expected {}", alternatives::<LogLevel>()))
                            })?;
                        }
                        "log.format" => {
                            flags.log_format = LogFormat::parse(&value).ok_or_else(|| {
                                bad(format!("expected {}", alternatives::<LogFormat>()))
                            })?;
                        }
                        "enable-feature" => {
                            for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                                let f = Feature::parse(part).ok_or_else(|| {
                                    bad(format!(
                                        "unknown feature {part:?}; edgescrape knows: {}",
                                        names::<Feature>().join(", ")
                                    ))
                                })?;
                                if !flags.features.contains(&f) {
                                    flags.features.push(f);
                                }
                            }
                        }
                        _ => return Err(FlagError::Unknown(arg.clone())),
                    }
                }
            }
        }
        // As Prometheus: a size bound alone turns the default time bound off.
        if flags.retention_size.is_some() && !retention_time_given {
            flags.retention_time = None;
        }
        Ok(Command::Run(flags))
    }
}

/// The flags that take a value.
const VALUE_FLAGS: &[&str] = &[
    "config.file",
    "storage.path",
    "storage.retention.size",
    "storage.retention.time",
    "storage.fsync",
    "web.listen-address",
    "web.config.file",
    "web.max-connections",
    "log.level",
    "log.format",
    "enable-feature",
    "query.timeout",
    "query.max-samples",
    "query.max-series",
    "query.lookback-delta",
];

/// A duration flag that must be above zero.
fn positive_duration(value: &str) -> Result<Duration, String> {
    let d = Duration::parse(value)?;
    if d.0.is_zero() {
        return Err("must be greater than 0".to_string());
    }
    Ok(d)
}

/// A count flag: a positive integer.
fn count(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a positive integer".to_string()),
    }
}

fn parse_check_config(args: &[String]) -> Result<Command, FlagError> {
    let mut files = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if let Some(v) = arg.strip_prefix("--config.file=") {
            files.push(PathBuf::from(v));
        } else if arg == "--config.file" {
            let v = rest
                .next()
                .ok_or_else(|| FlagError::MissingValue("config.file".to_string()))?;
            files.push(PathBuf::from(v));
        } else if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        } else if arg.starts_with('-') {
            return Err(FlagError::Unknown(arg.clone()));
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    if files.is_empty() {
        files.push(Flags::default().config_file);
    }
    Ok(Command::CheckConfig(files))
}

fn bool_value(name: &str, inline: Option<String>) -> Result<bool, FlagError> {
    match inline.as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(FlagError::BadValue {
            flag: name.to_string(),
            value: other.to_string(),
            why: "expected true or false".to_string(),
        }),
    }
}

fn no_value(name: &str, inline: Option<String>) -> Result<(), FlagError> {
    match inline {
        None => Ok(()),
        Some(v) => Err(FlagError::BadValue {
            flag: name.to_string(),
            value: v,
            why: "takes no value".to_string(),
        }),
    }
}

fn check_listen_address(addr: &str) -> Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err("expected host:port".to_string());
    };
    port.parse::<u16>()
        .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
    if host.contains(char::is_whitespace) {
        return Err("host contains whitespace".to_string());
    }
    Ok(())
}

/// What the command line asks for.
// Built once at start-up and matched once: boxing `Run` would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Scrape with these flags.
    Run(Flags),
    /// Check these config files and exit.
    CheckConfig(Vec<PathBuf>),
    /// Print the version and exit.
    Version,
    /// Print the usage and exit.
    Help,
}

/// A command line that cannot be run; the process exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagError {
    /// A `--flag` edgescrape does not have.
    Unknown(String),
    /// A flag given without its value at the end of the line.
    MissingValue(String),
    /// A value the flag does not take.
    BadValue {
        /// The flag, without dashes.
        flag: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        why: String,
    },
    /// A word that is not a flag or a command.
    Unexpected(String),
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Unknown(flag) => write!(f, "unknown flag {flag}"),
            FlagError::MissingValue(flag) => write!(f, "flag --{flag} needs a value"),
            FlagError::BadValue { flag, value, why } => {
                write!(f, "invalid value {value:?} for flag --{flag}: {why}")
            }
            FlagError::Unexpected(arg) => write!(f, "unexpected argument {arg:?}"),
        }
    }
}

impl std::error::Error for FlagError {}

/// Parses `--storage.fsync`: `commit` or a non-zero Prometheus duration.
fn parse_fsync(s: &str) -> Result<FsyncPolicy, String> {
    if s == "commit" {
        return Ok(FsyncPolicy::EveryCommit);
    }
    match Duration::parse(s) {
        Ok(d) if !d.0.is_zero() => Ok(FsyncPolicy::Interval(d.0)),
        _ => Err("expected \"commit\" or a duration such as 100ms".to_string()),
    }
}

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including routine per-target events.
    Debug,
    /// Start, stop, reloads. The default.
    Info,
    /// Failures that edgescrape rides out.
    Warn,
    /// Failures only.
    Error,
}

/// A flag whose values are a fixed set of names; one spelling per value
/// serves parsing, `/api/v1/status/flags` and error messages alike.
trait NamedValue: Copy + 'static {
    /// Every value, in the order messages list them.
    const ALL: &'static [Self];

    /// The value as written on the command line.
    fn name(self) -> &'static str;

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == s)
    }
}

/// The names of every value of `T`.
fn names<T: NamedValue>() -> Vec<&'static str> {
    T::ALL.iter().map(|v| v.name()).collect()
}

/// `a, b or c`: the names of every value of `T`.
fn alternatives<T: NamedValue>() -> String {
    let names = names::<T>();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

impl NamedValue for LogLevel {
    const ALL: &'static [LogLevel] = &[
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];

    fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `ts=2024-05-01T10:00:00.000Z level=info caller=scrape msg="..."`.
    Logfmt,
    /// One JSON object per line with the keys `ts`, `level`, `caller`, `msg`.
    Json,
}

impl NamedValue for LogFormat {
    const ALL: &'static [LogFormat] = &[LogFormat::Logfmt, LogFormat::Json];

    fn name(self) -> &'static str {
        match self {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        }
    }
}

/// `--enable-feature` values edgescrape knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `extra-scrape-metrics`: also report `scrape_timeout_seconds`,
    /// `scrape_sample_limit` and `scrape_body_size_bytes`, as Prometheus.
    ExtraScrapeMetrics,
}

impl NamedValue for Feature {
    const ALL: &'static [Feature] = &[Feature::ExtraScrapeMetrics];

    fn name(self) -> &'static str {
        match self {
            Feature::ExtraScrapeMetrics => "extra-scrape-metrics",
        }
    }
}

/// The `--help` text.
pub fn usage() -> String {
    let d = Flags::default();
    format!(
        "usage: edgescrape [FLAGS]
       edgescrape check-config [--config.file=FILE | FILE...]
       edgescrape --version | --help

A Prometheus-compatible scraper for edge and embedded boxes.

Flags (--flag=value or --flag value):
  --config.file=FILE             prometheus.yml to load ({config})
  --storage.path=DIR             WAL and state folder ({storage})
  --storage.retention.time=DUR   oldest data kept (15d unless only a size is given)
  --storage.retention.size=SIZE  most bytes kept on disk, e.g. 512MB (none)
  --storage.fsync=POLICY         commit: sync every scrape (default); or a
                                 duration such as 100ms: sync at most that often
  --web.listen-address=ADDR      web endpoints ({listen})
  --web.enable-lifecycle         allow POST /-/reload and /-/quit
  --web.config.file=FILE         web TLS and basic auth config
  --web.max-connections=N        most web connections open at once (512; 0: no cap)
  --log.level=LEVEL              debug, info, warn or error (info)
  --log.format=FORMAT            logfmt or json (logfmt)
  --enable-feature=NAME,...      extra-scrape-metrics
  --query.timeout=DUR            longest a query may run (2m)
  --query.max-samples=N          most samples one query may read (50000000)
  --query.max-series=N           most series one query may read (100000)
  --query.lookback-delta=DUR     how far back instant selectors look (5m)
  --version                      print the version
  --help                         print this text
",
        config = d.config_file.display(),
        storage = d.storage_path.display(),
        listen = d.listen_address,
    )
}

/// The `--version` text.
pub fn version() -> String {
    format!("edgescrape, version {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn run(args: &[&str]) -> Flags {
        match Flags::parse(args.iter().copied()) {
            Ok(Command::Run(f)) => f,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[track_caller]
    fn refused(args: &[&str], fragment: &str) {
        match Flags::parse(args.iter().copied()) {
            Err(e) => assert!(e.to_string().contains(fragment), "{args:?}: {e}"),
            Ok(c) => panic!("{args:?} accepted: {c:?}"),
        }
    }

    #[test]
    fn defaults_follow_prometheus() {
        let f = run(&[]);
        assert_eq!(f, Flags::default());
        assert_eq!(f.config_file, PathBuf::from("conf/prometheus.yml"));
        assert_eq!(f.storage_path, PathBuf::from("data"));
        assert_eq!(f.listen_address, "127.0.0.1:9099");
        assert_eq!(f.retention_time, Some(DEFAULT_RETENTION_TIME));
        assert_eq!(f.fsync, FsyncPolicy::EveryCommit);
        assert_eq!(f.max_connections, 512);
    }

    #[test]
    fn both_value_spellings() {
        let a = run(&["--config.file=x.yml", "--storage.path", "/var/lib/e"]);
        assert_eq!(a.config_file, PathBuf::from("x.yml"));
        assert_eq!(a.storage_path, PathBuf::from("/var/lib/e"));
        let f = run(&[
            "--storage.retention.size=512MB",
            "--web.listen-address",
            "0.0.0.0:9100",
            "--web.enable-lifecycle",
            "--web.config.file=web.yml",
            "--log.level=debug",
            "--log.format",
            "json",
            "--enable-feature=extra-scrape-metrics,extra-scrape-metrics",
            "--enable-feature",
            "extra-scrape-metrics",
            "--storage.fsync=100ms",
            "--web.max-connections=64",
        ]);
        assert_eq!(f.retention_size, Some(ByteSize(512 << 20)));
        assert_eq!(f.retention_time, None, "a size alone turns off 15d");
        assert_eq!(f.listen_address, "0.0.0.0:9100");
        assert!(f.enable_lifecycle);
        assert_eq!(f.web_config_file, Some(PathBuf::from("web.yml")));
        assert_eq!(f.max_connections, 64);
        assert_eq!(f.log_level, LogLevel::Debug);
        assert_eq!(f.log_format, LogFormat::Json);
        assert_eq!(f.features, vec![Feature::ExtraScrapeMetrics]);
        assert!(f.has_feature(Feature::ExtraScrapeMetrics));
        assert_eq!(
            f.fsync,
            FsyncPolicy::Interval(std::time::Duration::from_millis(100))
        );
        let both = run(&[
            "--storage.retention.size=1GB",
            "--storage.retention.time=2d",
        ]);
        assert_eq!(both.retention_time, Some(Duration::from_secs(2 * 86400)));
        assert!(!run(&["--web.enable-lifecycle=false"]).enable_lifecycle);
        assert!(!run(&["--web.enable-lifecycle", "--no-web.enable-lifecycle"]).enable_lifecycle);
    }

    #[test]
    fn commands() {
        let p = |a: &[&str]| Flags::parse(a.iter().copied());
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(p(&["--help"]), Ok(Command::Help));
        assert_eq!(p(&["-h"]), Ok(Command::Help));
        assert_eq!(
            p(&["check-config"]),
            Ok(Command::CheckConfig(vec![PathBuf::from(
                "conf/prometheus.yml"
            )]))
        );
        assert_eq!(
            p(&[
                "check-config",
                "--config.file=a.yml",
                "b.yml",
                "--config.file",
                "c.yml"
            ]),
            Ok(Command::CheckConfig(vec![
                PathBuf::from("a.yml"),
                PathBuf::from("b.yml"),
                PathBuf::from("c.yml")
            ]))
        );
    }

    #[test]
    fn refusals_name_the_flag() {
        refused(&["--bogus=1"], "unknown flag --bogus");
        refused(&["--bogus"], "unknown flag --bogus");
        refused(&["--bogus", "--config.file=x"], "unknown flag --bogus");
        refused(&["--config.file"], "--config.file needs a value");
        refused(&["--log.level=trace"], "--log.level");
        refused(&["--log.format=text"], "--log.format");
        refused(&["--storage.retention.size=10"], "--storage.retention.size");
        refused(
            &["--storage.retention.time=15x"],
            "--storage.retention.time",
        );
        refused(&["--storage.fsync=always"], "--storage.fsync");
        refused(&["--storage.fsync=0s"], "--storage.fsync");
        refused(&["--web.listen-address=9099"], "--web.listen-address");
        refused(&["--web.listen-address=:http"], "--web.listen-address");
        refused(&["--enable-feature=native-histograms"], "native-histograms");
        refused(&["--web.enable-lifecycle=yes"], "--web.enable-lifecycle");
        refused(&["--web.max-connections=-1"], "--web.max-connections");
        refused(&["serve"], "unexpected argument \"serve\"");
        refused(&["check-config", "--strict"], "unknown flag --strict");
    }

    #[test]
    fn one_spelling_for_parse_pairs_and_messages() {
        let f = run(&["--log.level=warn", "--log.format=json"]);
        let pairs = f.to_pairs();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("log.level"), Some("warn"));
        assert_eq!(get("log.format"), Some("json"));
        assert_eq!(get("storage.fsync"), Some("commit"));
        let f = run(&[
            "--enable-feature=extra-scrape-metrics",
            "--storage.fsync=1s",
        ]);
        let pairs = f.to_pairs();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("enable-feature"), Some("extra-scrape-metrics"));
        assert_eq!(get("storage.fsync"), Some("1s"));
        refused(
            &["--log.level=trace"],
            "expected debug, info, warn or error",
        );
        refused(&["--log.format=text"], "expected logfmt or json");
        refused(
            &["--enable-feature=x"],
            "unknown feature \"x\"; edgescrape knows: extra-scrape-metrics",
        );
    }
}
