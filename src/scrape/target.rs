//! [`Target`]: one scraped endpoint, and the turning of discovered target
//! groups into targets ([`targets_from_group`], [`populate_labels`]), as
//! Prometheus's `scrape/target.go`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

use crate::config::{Duration as PromDuration, ScrapeConfig};
use crate::discovery::TargetGroup;
use crate::labels::{self, Labels, LabelsBuilder};
use crate::relabel;

/// How many recent scrape durations a target keeps for the web sparkline.
pub const HISTORY_LEN: usize = 30;

/// The health of a target after its last scrape, as Prometheus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealth {
    /// Not scraped yet.
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl TargetHealth {
    /// `up`, `down` or `unknown`, as in Prometheus's API.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Unknown => "unknown",
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
        }
    }
}

/// What the last scrapes of a target left behind; written by its loop
/// thread, read by the web through [`Target::snapshot`].
#[derive(Debug, Clone)]
struct Health {
    health: TargetHealth,
    last_error: Option<String>,
    last_scrape: Option<SystemTime>,
    last_duration: Duration,
    /// Durations of the last scrapes in seconds, oldest first, at most
    /// [`HISTORY_LEN`].
    history: VecDeque<f64>,
}

/// One HTTP(S) endpoint of a scrape pool.
///
/// The label set and URL never change after construction; the discovered
/// labels may be replaced by a later sync (same target, new metadata) and
/// the health is updated by the target's loop after every scrape.
#[derive(Debug)]
pub struct Target {
    /// All labels after relabeling, `__`-prefixed ones included; sorted.
    all_labels: Labels,
    /// `all_labels` without the `__`-prefixed ones: what series get.
    labels: Labels,
    /// The scrape URL, as Go's `url.URL.String()` prints it.
    url: String,
    /// Identifies the target within its pool (labels and URL).
    hash: u64,
    discovered: Mutex<Labels>,
    health: Mutex<Health>,
}

/// A point-in-time copy of a target for the web: `/api/v1/targets` and the
/// targets page.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSnapshot {
    /// The pool (job name) the target belongs to.
    pub scrape_pool: String,
    /// Labels as discovered, before relabeling.
    pub discovered_labels: Labels,
    /// Labels after relabeling, without `__`-prefixed ones.
    pub labels: Labels,
    /// The URL scraped.
    pub scrape_url: String,
    /// Health after the last scrape.
    pub health: TargetHealth,
    /// Error of the last scrape, if it failed.
    pub last_error: Option<String>,
    /// Wall-clock time of the last scrape (its sample timestamp).
    #[serde(skip)]
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took.
    #[serde(skip)]
    pub last_scrape_duration: Duration,
    /// The target's scrape interval.
    #[serde(skip)]
    pub scrape_interval: Duration,
    /// The target's scrape timeout.
    #[serde(skip)]
    pub scrape_timeout: Duration,
    /// Durations in seconds of the last scrapes, oldest first.
    pub history: Vec<f64>,
}

/// A target dropped by relabeling, kept for the web's dropped list.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedTarget {
    /// The pool (job name) that dropped it.
    pub scrape_pool: String,
    /// Its labels before relabeling.
    pub discovered_labels: Labels,
}

impl Target {
    /// A target with labels after relabeling and its discovered labels.
    /// `params` are the scrape config's URL parameters; `__param_*` labels
    /// override their first value.
    pub fn new(
        labels: Labels,
        discovered: Labels,
        params: &BTreeMap<String, Vec<String>>,
    ) -> Target {
        let url = target_url(&labels, params);
        let hash = target_hash(&labels, &url);
        let public = Labels::from_pairs(
            labels
                .iter()
                .filter(|l| !l.name.starts_with(labels::RESERVED_PREFIX))
                .map(|l| (l.name, l.value)),
        );
        Target {
            all_labels: labels,
            labels: public,
            url,
            hash,
            discovered: Mutex::new(discovered),
            health: Mutex::new(Health {
                health: TargetHealth::Unknown,
                last_error: None,
                last_scrape: None,
                last_duration: Duration::ZERO,
                history: VecDeque::with_capacity(HISTORY_LEN),
            }),
        }
    }

    /// All labels, `__`-prefixed ones included.
    pub fn all_labels(&self) -> &Labels {
        &self.all_labels
    }

    /// The labels every series of this target gets (no `__` labels).
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Labels before relabeling.
    pub fn discovered_labels(&self) -> Labels {
        self.discovered.lock().clone()
    }

    /// Replaces the discovered labels (a later sync found the same target).
    pub fn set_discovered_labels(&self, labels: Labels) {
        *self.discovered.lock() = labels;
    }

    /// The scrape URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether scrapes of this target ask for gzip (`Accept-Encoding`).
    /// An `enable_compression` written in `config` decides, as in
    /// Prometheus; unset, every target is asked for gzip except a loopback
    /// one reached without a proxy: there compression costs CPU on both
    /// ends and saves nothing on the wire.
    pub fn asks_for_gzip(&self, config: &ScrapeConfig) -> bool {
        let proxied = config.http.proxy_url.is_some() || config.http.proxy_from_environment;
        config
            .enable_compression
            .unwrap_or_else(|| proxied || !is_loopback_url(&self.url))
    }

    /// Identifies the target within a pool, as Prometheus's `Target.hash`:
    /// FNV-1a over the label hash (16 decimal digits) and the URL.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The `instance` label (or the address when it has none).
    pub fn instance(&self) -> &str {
        self.all_labels
            .get(labels::INSTANCE)
            .or_else(|| self.all_labels.get(labels::ADDRESS))
            .unwrap_or("")
    }

    /// The last known health.
    pub fn health(&self) -> TargetHealth {
        self.health.lock().health
    }

    /// The last scrape's error, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.health.lock().last_error.clone()
    }

    /// Records the outcome of a scrape that started (was timestamped) at
    /// `start` and took `duration`.
    pub fn report(&self, start: SystemTime, duration: Duration, error: Option<String>) {
        let mut h = self.health.lock();
        h.health = if error.is_none() {
            TargetHealth::Up
        } else {
            TargetHealth::Down
        };
        h.last_error = error;
        h.last_scrape = Some(start);
        h.last_duration = duration;
        if h.history.len() == HISTORY_LEN {
            h.history.pop_front();
        }
        h.history.push_back(duration.as_secs_f64());
    }

    /// Interval and timeout from the `__scrape_interval__` and
    /// `__scrape_timeout__` labels, or the defaults when either is absent
    /// or does not parse (as Prometheus's `intervalAndTimeout`; targets
    /// from discovery had both validated when their labels were built).
    pub fn interval_and_timeout(
        &self,
        default_interval: Duration,
        default_timeout: Duration,
    ) -> (Duration, Duration) {
        let parse = |name: &str| {
            PromDuration::parse(self.all_labels.get(name).unwrap_or("")).map(PromDuration::get)
        };
        match (
            parse(labels::SCRAPE_INTERVAL),
            parse(labels::SCRAPE_TIMEOUT),
        ) {
            (Ok(interval), Ok(timeout)) => (interval, timeout),
            _ => (default_interval, default_timeout),
        }
    }

    /// How long to wait before the first scrape so that targets spread over
    /// the interval, pinned to absolute time (Prometheus's `offset`).
    pub fn offset(&self, interval: Duration, offset_seed: u64) -> Duration {
        let interval_ns = interval.as_nanos() as u64;
        if interval_ns == 0 {
            return Duration::ZERO;
        }
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let base = interval_ns - now_ns % interval_ns;
        let offset = (self.hash ^ offset_seed) % interval_ns;
        let mut next = base + offset;
        if next > interval_ns {
            next -= interval_ns;
        }
        Duration::from_nanos(next)
    }

    /// A copy for the web.
    pub fn snapshot(
        &self,
        scrape_pool: &str,
        interval: Duration,
        timeout: Duration,
    ) -> TargetSnapshot {
        let h = self.health.lock().clone();
        TargetSnapshot {
            scrape_pool: scrape_pool.to_string(),
            discovered_labels: self.discovered_labels(),
            labels: self.labels.clone(),
            scrape_url: self.url.clone(),
            health: h.health,
            last_error: h.last_error,
            last_scrape: h.last_scrape,
            last_scrape_duration: h.last_duration,
            scrape_interval: interval,
            scrape_timeout: timeout,
            history: h.history.into_iter().collect(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// FNV-1a 64 over `bytes`, continuing from `h`.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV-1a 64 offset basis.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn target_hash(labels: &Labels, url: &str) -> u64 {
    let h = fnv1a(
        FNV_OFFSET,
        format!("{:016}", labels.stable_hash()).as_bytes(),
    );
    fnv1a(h, url.as_bytes())
}

/// The scrape URL as Go's `url.URL{Scheme, Host, Path, RawQuery}.String()`
/// prints it, with `params` overridden by `__param_*` labels.
fn target_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut params = params.clone();
    for l in labels.iter() {
        if let Some(key) = l.name.strip_prefix(labels::PARAM_PREFIX) {
            let values = params.entry(key.to_string()).or_default();
            match values.first_mut() {
                Some(first) => *first = l.value.to_string(),
                None => values.push(l.value.to_string()),
            }
        }
    }
    let scheme = labels.get(labels::SCHEME).unwrap_or("");
    let host = labels.get(labels::ADDRESS).unwrap_or("");
    let path = labels.get(labels::METRICS_PATH).unwrap_or("");
    let mut url = String::with_capacity(scheme.len() + host.len() + path.len() + 16);
    if !scheme.is_empty() {
        url.push_str(scheme);
        url.push(':');
    }
    if !scheme.is_empty() || !host.is_empty() {
        url.push_str("//");
        url.push_str(host);
    }
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        url.push('/');
    }
    escape_into(&mut url, path, Escape::Path);
    let mut first = true;
    for (key, values) in &params {
        for value in values {
            url.push(if first { '?' } else { '&' });
            first = false;
            escape_into(&mut url, key, Escape::QueryComponent);
            url.push('=');
            escape_into(&mut url, value, Escape::QueryComponent);
        }
    }
    url
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    Path,
    QueryComponent,
}

/// Percent-encoding as Go's `net/url` `escape` for paths and query parts.
fn escape_into(out: &mut String, s: &str, mode: Escape) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s.as_bytes() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'.' | b'~')
            || (mode == Escape::Path
                && matches!(
                    c,
                    b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
                ));
        if keep {
            out.push(c as char);
        } else if c == b' ' && mode == Escape::QueryComponent {
            out.push('+');
        } else {
            out.push('%');
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 15) as usize] as char);
        }
    }
}

/// Whether `url`'s host is a loopback address (127.0.0.0/8, `::1`, an
/// IPv4-mapped 127.x) or the name `localhost`, as the HTTP client will read
/// the host (so `127.1` counts); a URL that does not parse is not loopback.
fn is_loopback_url(url: &str) -> bool {
    match url::Url::parse(url).ok().as_ref().and_then(url::Url::host) {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(url::Host::Domain(name)) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            name.eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

/// Go's `net.SplitHostPort`: `(host, port)` or why the address has no port.
pub(crate) fn split_host_port(hostport: &str) -> Result<(&str, &str), &'static str> {
    const MISSING_PORT: &str = "missing port in address";
    const TOO_MANY_COLONS: &str = "too many colons in address";
    let i = hostport.rfind(':').ok_or(MISSING_PORT)?;
    let (host, j, k);
    if hostport.starts_with('[') {
        let end = hostport.find(']').ok_or("missing ']' in address")?;
        if end + 1 == hostport.len() {
            return Err(MISSING_PORT);
        } else if end + 1 != i {
            if hostport.as_bytes()[end + 1] == b':' {
                return Err(TOO_MANY_COLONS);
            }
            return Err(MISSING_PORT);
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return Err(TOO_MANY_COLONS);
        }
        j = 0;
        k = 0;
    }
    if hostport[j..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hostport[k..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host, &hostport[i + 1..]))
}

/// Why a discovered target could not become a scrape target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

fn terr(msg: impl Into<String>) -> Result<(Labels, Labels), TargetError> {
    Err(TargetError(msg.into()))
}

/// Builds a target's labels from discovered labels in `lb` and the scrape
/// config, exactly as Prometheus's `PopulateLabels` (identical in 2.42 and
/// 2.53): job, interval, timeout, metrics path and scheme are filled in
/// when missing, `params` become `__param_*`, `relabel_configs` run, a
/// missing port is defaulted from the scheme (80/443; with
/// `no_default_port` a default port is removed instead), interval and
/// timeout labels are validated, `__meta_*` labels are removed and
/// `instance` defaults to the address.
///
/// Returns `(labels, discovered)`: both non-empty for a kept target,
/// `labels` empty and `discovered` set for a target dropped by relabeling,
/// and an error (with both empty) for an invalid one.
pub fn populate_labels(
    lb: &mut LabelsBuilder,
    cfg: &ScrapeConfig,
    no_default_port: bool,
) -> Result<(Labels, Labels), TargetError> {
    let interval = cfg.interval().to_string();
    let timeout = cfg.timeout().to_string();
    let defaults = [
        (labels::JOB, cfg.job_name.as_str()),
        (labels::SCRAPE_INTERVAL, interval.as_str()),
        (labels::SCRAPE_TIMEOUT, timeout.as_str()),
        (labels::METRICS_PATH, cfg.metrics_path.as_str()),
        (labels::SCHEME, cfg.scheme.as_str()),
    ];
    for (name, value) in defaults {
        if lb.get(name).is_empty() {
            lb.set(name, value);
        }
    }
    for (key, values) in &cfg.params {
        if let Some(first) = values.first() {
            lb.set(&format!("{}{key}", labels::PARAM_PREFIX), first);
        }
    }

    let pre_relabel = lb.labels();
    if !relabel::process_builder(lb, &cfg.relabel_configs) {
        return Ok((Labels::empty(), pre_relabel));
    }
    let mut addr = lb.get(labels::ADDRESS).to_string();
    if addr.is_empty() {
        return terr("no address");
    }

    // A port is added when splitting fails but would succeed with one.
    let (host, port, add_port) = match split_host_port(&addr) {
        Ok((h, p)) => (h.to_string(), p.to_string(), false),
        Err(_) => (
            String::new(),
            String::new(),
            split_host_port(&format!("{addr}:1234")).is_ok(),
        ),
    };
    let scheme = lb.get(labels::SCHEME).to_string();
    if !no_default_port && add_port {
        match scheme.as_str() {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            // As Prometheus: the message names the config's scheme.
            _ => return terr(format!("invalid scheme: {:?}", cfg.scheme)),
        }
        lb.set(labels::ADDRESS, &addr);
    }
    if no_default_port
        && ((port == "80" && scheme == "http") || (port == "443" && scheme == "https"))
    {
        lb.set(labels::ADDRESS, &host);
    }

    if addr.contains('/') {
        return terr(format!("{addr:?} is not a valid hostname"));
    }

    let interval = lb.get(labels::SCRAPE_INTERVAL).to_string();
    let interval_d = match PromDuration::parse(&interval) {
        Ok(d) => d,
        Err(e) => return terr(format!("error parsing scrape interval: {e}")),
    };
    if interval_d.get().is_zero() {
        return terr("scrape interval cannot be 0");
    }
    let timeout = lb.get(labels::SCRAPE_TIMEOUT).to_string();
    let timeout_d = match PromDuration::parse(&timeout) {
        Ok(d) => d,
        Err(e) => return terr(format!("error parsing scrape timeout: {e}")),
    };
    if timeout_d.get().is_zero() {
        return terr("scrape timeout cannot be 0");
    }
    if timeout_d > interval_d {
        return terr(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout:?} > {interval:?})"
        ));
    }

    lb.retain(|name, _| !name.starts_with(labels::META_PREFIX));
    if lb.get(labels::INSTANCE).is_empty() {
        lb.set(labels::INSTANCE, &addr);
    }
    // Label values are Rust strings and so always valid UTF-8: Prometheus's
    // final value check cannot fail here.
    Ok((lb.labels(), pre_relabel))
}

/// Turns one target group into targets (kept and dropped) and the errors
/// of those that were invalid, as Prometheus's `TargetsFromGroup`.
pub fn targets_from_group(
    group: &TargetGroup,
    cfg: &ScrapeConfig,
    no_default_port: bool,
    lb: &mut LabelsBuilder,
) -> (Vec<Target>, Vec<TargetError>) {
    let mut targets = Vec::with_capacity(group.targets.len());
    let mut failures = Vec::new();
    for (i, target_labels) in group.targets.iter().enumerate() {
        lb.reset(target_labels);
        for l in group.labels.iter() {
            if !target_labels.has(l.name) {
                lb.set(l.name, l.value);
            }
        }
        match populate_labels(lb, cfg, no_default_port) {
            Ok((labels, discovered)) => {
                if !labels.is_empty() || !discovered.is_empty() {
                    targets.push(Target::new(labels, discovered, &cfg.params));
                }
            }
            Err(e) => failures.push(TargetError(format!(
                "instance {i} in group {}: {e}",
                group.source
            ))),
        }
    }
    (targets, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn split(input: &str, want: Result<(&str, &str), &str>) {
        assert_eq!(split_host_port(input), want, "{input}");
    }

    #[test]
    fn split_host_port_matches_go() {
        split("localhost:80", Ok(("localhost", "80")));
        split("[::1]:80", Ok(("::1", "80")));
        split("host:", Ok(("host", "")));
        split("localhost", Err("missing port in address"));
        split("::1", Err("too many colons in address"));
        split("[::1]", Err("missing port in address"));
        split("[::1]x:80", Err("missing port in address"));
        split("[::1]:80:90", Err("too many colons in address"));
        split("[::1:80", Err("missing ']' in address"));
        split("a[b:80", Err("unexpected '[' in address"));
        split("ab]:80", Err("unexpected ']' in address"));
    }

    #[test]
    fn url_escapes_like_go() {
        let labels = Labels::from_pairs([
            ("__address__", "example.com:9100"),
            ("__scheme__", "https"),
            ("__metrics_path__", "/probe path"),
            ("__param_target", "a b&c"),
        ]);
        let mut params = BTreeMap::new();
        params.insert(
            "module".to_string(),
            vec!["http_2xx".to_string(), "x".to_string()],
        );
        assert_eq!(
            target_url(&labels, &params),
            "https://example.com:9100/probe%20path?module=http_2xx&module=x&target=a+b%26c"
        );
    }

    #[test]
    fn offset_is_within_the_interval() {
        let t = Target::new(
            Labels::from_pairs([("__address__", "a:1"), ("__scheme__", "http")]),
            Labels::empty(),
            &BTreeMap::new(),
        );
        let interval = Duration::from_secs(15);
        for seed in [0, 1, u64::MAX] {
            assert!(t.offset(interval, seed) <= interval);
        }
    }

    #[test]
    fn loopback_urls_are_told_from_the_others() {
        for url in [
            "http://127.0.0.1:9100/metrics",
            "http://127.255.3.4:80/",
            "http://127.1:9100/metrics",
            "http://[::1]:9100/metrics",
            "https://[::ffff:127.0.0.1]:443/metrics",
            "http://localhost:9100/metrics",
            "http://LocalHost.:9100/metrics",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "http://128.0.0.1:9100/metrics",
            "http://10.0.0.1:9100/metrics",
            "http://[::2]:9100/metrics",
            "http://[::ffff:10.0.0.1]:9100/metrics",
            "http://node.example.com:9100/metrics",
            "http://localhost.example.com:9100/metrics",
            "http://mylocalhost:9100/metrics",
            "not a url",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    fn target_at(address: &str) -> Target {
        Target::new(
            Labels::from_pairs([
                ("__address__", address),
                ("__scheme__", "http"),
                ("__metrics_path__", "/metrics"),
            ]),
            Labels::empty(),
            &BTreeMap::new(),
        )
    }

    #[test]
    fn gzip_is_asked_of_loopback_targets_only_when_written_or_proxied() {
        let local = target_at("127.0.0.1:9100");
        let remote = target_at("node.example.com:9100");
        let mut config: ScrapeConfig = serde_yaml::from_str("job_name: node").expect("config");
        let asks = |c: &ScrapeConfig| (local.asks_for_gzip(c), remote.asks_for_gzip(c));
        assert_eq!(asks(&config), (false, true));
        config.enable_compression = Some(true);
        assert_eq!(asks(&config), (true, true));
        config.enable_compression = Some(false);
        assert_eq!(asks(&config), (false, false));
        config.enable_compression = None;
        config.http.proxy_url = Some("http://proxy.example.com:3128".to_string());
        assert_eq!(asks(&config), (true, true));
    }
}
