//! What Prometheus's `config` package checks beyond types, plus the
//! refusal of every Prometheus field edgescrape does not implement.
//!
//! [`refusals`] runs on the YAML tree before the serde types see it, so an
//! unimplemented Prometheus field is refused by name (`not supported: oauth2`)
//! rather than as an unknown field. [`check`] runs on the typed config, fills
//! in the `global` defaults as Prometheus's `ScrapeConfig.Validate` does, and
//! points every refusal at the key or value in the tree.

mod http;

use std::collections::HashSet;

use self::http::check_http;
use super::yaml::{path_string, Node, Pos, Step};
use super::{
    Config, DnsSdConfig, GlobalConfig, HttpSdConfig, RemoteWriteConfig, ScrapeConfig,
    ScrapeProtocol,
};

/// A refused config: where, which field, and why.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) pos: Pos,
    pub(crate) field: String,
    pub(crate) message: String,
}

impl Refusal {
    /// Points at the key of the last step of `path`.
    fn at_key(root: &Node, path: &[Step], message: impl Into<String>) -> Refusal {
        Refusal {
            pos: root.key_pos(path),
            field: path_string(path),
            message: message.into(),
        }
    }

    /// Points at the value at `path`.
    fn at_value(root: &Node, path: &[Step], message: impl Into<String>) -> Refusal {
        Refusal {
            pos: root.value_pos(path),
            field: path_string(path),
            message: message.into(),
        }
    }
}

fn key(name: &str) -> Step {
    Step::Key(name.to_string())
}

fn sub(base: &[Step], more: &[Step]) -> Vec<Step> {
    base.iter().chain(more).cloned().collect()
}

/// Top-level sections of Prometheus that edgescrape has no part for.
const TOP_REFUSED: &[&str] = &[
    "rule_files",
    "alerting",
    "remote_read",
    "storage",
    "tracing",
    "runtime",
];
/// `global` fields that only matter to what edgescrape does not do (query
/// log, rule evaluation offsets).
const GLOBAL_REFUSED: &[&str] = &["query_log_file", "rule_query_offset"];
/// `oauth2` fields of Prometheus's JWT bearer grant and secret manager.
const OAUTH2_REFUSED: &[&str] = &[
    "client_secret_ref",
    "client_certificate_key",
    "client_certificate_key_file",
    "client_certificate_key_id",
    "client_certificate_key_ref",
    "signature_algorithm",
    "iss",
    "audience",
    "claims",
];
/// Native-histogram settings; edgescrape reads classic histograms only.
const SCRAPE_REFUSED: &[&str] = &[
    "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor",
];
/// Cloud authentication of remote_write.
const REMOTE_WRITE_REFUSED: &[&str] = &["sigv4", "azuread"];
/// The discovery mechanisms edgescrape has; every other `*_sd_configs` is
/// refused by name.
const SUPPORTED_SD: &[&str] = &[
    "static_configs",
    "file_sd_configs",
    "http_sd_configs",
    "dns_sd_configs",
];

/// Refuses Prometheus fields edgescrape does not implement, by name, and
/// null list entries, as Prometheus does.
pub(crate) fn refusals(root: &Node) -> Result<(), Refusal> {
    refuse_keys(root, &[], TOP_REFUSED, "")?;
    if let Some(global) = root.get("global") {
        refuse_keys(global, &[key("global")], GLOBAL_REFUSED, " (in global)")?;
    }
    scrape_config_refusals(root)?;
    if let Some(list) = root.get("remote_write") {
        for (i, rw) in list.items().iter().enumerate() {
            let path = [key("remote_write"), Step::Index(i)];
            if rw.is_null() {
                return Err(Refusal::at_value(
                    root,
                    &path,
                    "empty or null remote write config section",
                ));
            }
            let name = rw
                .get("name")
                .or_else(|| rw.get("url"))
                .and_then(Node::scalar)
                .unwrap_or("");
            let ctx = format!(" (in remote_write {name:?})");
            refuse_keys(rw, &path, REMOTE_WRITE_REFUSED, &ctx)?;
            refuse_http_keys(rw, &path, &ctx)?;
            only_false(rw, &path, "send_exemplars", &ctx)?;
            only_false(rw, &path, "send_native_histograms", &ctx)?;
            if let Some(meta) = rw.get("metadata_config").filter(|m| !m.is_null()) {
                let send = meta.get("send").and_then(Node::scalar);
                if send.and_then(super::de::yaml_bool) != Some(false) {
                    let path = sub(&path, &[key("metadata_config")]);
                    return Err(Refusal::at_key(
                        root,
                        &path,
                        format!(
                            "not supported: metadata_config with send: true{ctx}; \
                             edgescrape sends no metric metadata, write send: false"
                        ),
                    ));
                }
            }
            no_null_items(
                root,
                &path,
                "write_relabel_configs",
                "empty or null relabeling rule in remote write config",
            )?;
        }
    }
    Ok(())
}

/// The refusals of every `scrape_configs` entry of `root`, a main config or
/// a file of `scrape_config_files`.
pub(crate) fn scrape_config_refusals(root: &Node) -> Result<(), Refusal> {
    if let Some(list) = root.get("scrape_configs") {
        for (i, sc) in list.items().iter().enumerate() {
            let path = [key("scrape_configs"), Step::Index(i)];
            if sc.is_null() {
                return Err(Refusal::at_value(
                    root,
                    &path,
                    "empty or null scrape config section",
                ));
            }
            let job = sc.get("job_name").and_then(Node::scalar).unwrap_or("");
            let ctx = format!(" (in scrape config {job:?})");
            refuse_keys(sc, &path, SCRAPE_REFUSED, &ctx)?;
            refuse_http_keys(sc, &path, &ctx)?;
            for (j, sd) in sc
                .get("http_sd_configs")
                .map_or(&[][..], Node::items)
                .iter()
                .enumerate()
            {
                let sd_path = sub(&path, &[key("http_sd_configs"), Step::Index(j)]);
                refuse_http_keys(sd, &sd_path, &ctx)?;
            }
            for (k, _) in sc.entries() {
                let name = k.scalar().unwrap_or("");
                if name.ends_with("_sd_configs") && !SUPPORTED_SD.contains(&name) {
                    return Err(not_supported(k.pos, &path, name, &ctx));
                }
            }
            only_false(sc, &path, "scrape_classic_histograms", &ctx)?;
            for (list, what) in [
                ("static_configs", "empty or null section in static_configs"),
                (
                    "file_sd_configs",
                    "empty or null section in file_sd_configs",
                ),
                (
                    "http_sd_configs",
                    "empty or null section in http_sd_configs",
                ),
                ("dns_sd_configs", "empty or null section in dns_sd_configs"),
                (
                    "relabel_configs",
                    "empty or null target relabeling rule in scrape config",
                ),
                (
                    "metric_relabel_configs",
                    "empty or null metric relabeling rule in scrape config",
                ),
            ] {
                no_null_items(root, &path, list, what)?;
            }
        }
    }
    Ok(())
}

fn not_supported(pos: Pos, path: &[Step], name: &str, ctx: &str) -> Refusal {
    Refusal {
        pos,
        field: path_string(&sub(path, &[key(name)])),
        message: format!("not supported: {name}{ctx}"),
    }
}

fn refuse_keys(node: &Node, path: &[Step], refused: &[&str], ctx: &str) -> Result<(), Refusal> {
    for (k, _) in node.entries() {
        if let Some(name) = k.scalar().filter(|n| refused.contains(n)) {
            return Err(not_supported(k.pos, path, name, ctx));
        }
    }
    Ok(())
}

fn refuse_http_keys(node: &Node, path: &[Step], ctx: &str) -> Result<(), Refusal> {
    match node.get("oauth2") {
        Some(oauth2) => refuse_keys(oauth2, &sub(path, &[key("oauth2")]), OAUTH2_REFUSED, ctx),
        None => Ok(()),
    }
}

/// A boolean Prometheus field whose `false` is what edgescrape does.
fn only_false(node: &Node, path: &[Step], name: &str, ctx: &str) -> Result<(), Refusal> {
    if let Some((k, v)) = node.entry(name) {
        if v.scalar().and_then(super::de::yaml_bool) == Some(true) {
            return Err(Refusal {
                pos: k.pos,
                field: path_string(&sub(path, &[key(name)])),
                message: format!("not supported: {name}: true{ctx}"),
            });
        }
    }
    Ok(())
}

fn no_null_items(root: &Node, path: &[Step], list: &str, what: &str) -> Result<(), Refusal> {
    let list_path = sub(path, &[key(list)]);
    let Some(node) = root.at(&list_path) else {
        return Ok(());
    };
    match node.items().iter().position(Node::is_null) {
        Some(i) => Err(Refusal::at_value(
            root,
            &sub(&list_path, &[Step::Index(i)]),
            what,
        )),
        None => Ok(()),
    }
}

/// Validates the typed config and fills in the defaults scrape configs
/// inherit from `global`.
pub(crate) fn check(config: &mut Config, root: &Node) -> Result<(), Refusal> {
    check_global(&mut config.global, root)?;
    check_scrape_configs(&mut config.scrape_configs, &config.global, root)?;
    let mut names = HashSet::new();
    for (i, rw) in config.remote_write.iter_mut().enumerate() {
        let path = [key("remote_write"), Step::Index(i)];
        check_remote_write(rw, root, &path)?;
        if let Some(name) = &rw.name {
            if !names.insert(name.clone()) {
                return Err(Refusal::at_value(
                    root,
                    &sub(&path, &[key("name")]),
                    format!("found multiple remote write configs with name {name:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// Validates the `scrape_configs` of `root` (a main config or a file of
/// `scrape_config_files`), fills in their `global` defaults and refuses a
/// job name used twice in it.
pub(crate) fn check_scrape_configs(
    configs: &mut [ScrapeConfig],
    global: &GlobalConfig,
    root: &Node,
) -> Result<(), Refusal> {
    let mut jobs = HashSet::new();
    for (i, sc) in configs.iter_mut().enumerate() {
        let path = [key("scrape_configs"), Step::Index(i)];
        check_scrape(sc, global, root, &path)?;
        if !jobs.insert(sc.job_name.clone()) {
            return Err(Refusal::at_value(
                root,
                &sub(&path, &[key("job_name")]),
                format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                ),
            ));
        }
    }
    Ok(())
}

fn check_global(g: &mut GlobalConfig, root: &Node) -> Result<(), Refusal> {
    let path = [key("global")];
    // As Prometheus: a zero interval or timeout means "not set".
    if g.scrape_interval.0.is_zero() {
        g.scrape_interval = super::default_scrape_interval();
    }
    let timeout_set = root
        .at(&sub(&path, &[key("scrape_timeout")]))
        .is_some_and(|n| !n.is_null())
        && !g.scrape_timeout.0.is_zero();
    if timeout_set && g.scrape_timeout > g.scrape_interval {
        return Err(Refusal::at_value(
            root,
            &sub(&path, &[key("scrape_timeout")]),
            "global scrape timeout greater than scrape interval",
        ));
    }
    if !timeout_set {
        g.scrape_timeout = super::default_scrape_timeout().min(g.scrape_interval);
    }
    check_protocols(&g.scrape_protocols, " for global config")
        .map_err(|m| Refusal::at_key(root, &sub(&path, &[key("scrape_protocols")]), m))
}

fn check_protocols(protocols: &[ScrapeProtocol], suffix: &str) -> Result<(), String> {
    if protocols.is_empty() {
        return Err(format!("scrape_protocols cannot be empty{suffix}"));
    }
    let mut seen = HashSet::new();
    if protocols.iter().any(|p| !seen.insert(*p)) {
        let names: Vec<&str> = protocols.iter().map(|p| p.name()).collect();
        return Err(format!(
            "duplicated protocol in scrape_protocols, got [{}]{suffix}",
            names.join(" ")
        ));
    }
    Ok(())
}

fn check_scrape(
    sc: &mut ScrapeConfig,
    g: &GlobalConfig,
    root: &Node,
    path: &[Step],
) -> Result<(), Refusal> {
    let at = |more: &[&str]| -> Vec<Step> {
        let steps: Vec<Step> = more.iter().map(|s| key(s)).collect();
        sub(path, &steps)
    };
    if sc.job_name.is_empty() {
        return Err(Refusal::at_key(
            root,
            &at(&["job_name"]),
            "job_name is empty",
        ));
    }
    check_http(&mut sc.http, root, path)?;
    if sc.scheme != "http" && sc.scheme != "https" {
        return Err(Refusal::at_value(
            root,
            &at(&["scheme"]),
            format!("scheme must be \"http\" or \"https\", got {:?}", sc.scheme),
        ));
    }
    if sc
        .metrics_path
        .chars()
        .any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(Refusal::at_value(
            root,
            &at(&["metrics_path"]),
            format!(
                "metrics_path {:?} must be a bare URL path; query parameters go in params",
                sc.metrics_path
            ),
        ));
    }
    if !sc.metrics_path.starts_with('/') {
        // As Prometheus, whose URL building puts the slash in.
        sc.metrics_path.insert(0, '/');
    }
    // As Prometheus: relabeling may rewrite addresses, so they are only
    // checked when there is none.
    if sc.relabel_configs.is_empty() {
        for (j, st) in sc.static_configs.iter().enumerate() {
            for (t, target) in st.targets.iter().enumerate() {
                if let Err(message) = check_target_address(target) {
                    let target_path = sub(
                        path,
                        &[
                            key("static_configs"),
                            Step::Index(j),
                            key("targets"),
                            Step::Index(t),
                        ],
                    );
                    return Err(Refusal::at_value(root, &target_path, message));
                }
            }
        }
    }
    for (j, sd) in sc.http_sd_configs.iter_mut().enumerate() {
        let sd_path = sub(path, &[key("http_sd_configs"), Step::Index(j)]);
        check_http_sd(sd, root, &sd_path)?;
    }
    for (j, sd) in sc.dns_sd_configs.iter_mut().enumerate() {
        let sd_path = sub(path, &[key("dns_sd_configs"), Step::Index(j)]);
        check_dns_sd(sd, root, &sd_path)?;
    }
    for (j, sd) in sc.file_sd_configs.iter().enumerate() {
        let sd_path = sub(path, &[key("file_sd_configs"), Step::Index(j)]);
        if sd.files.is_empty() {
            return Err(Refusal::at_value(
                root,
                &sd_path,
                "file service discovery config must contain at least one path name",
            ));
        }
        for (f, pattern) in sd.files.iter().enumerate() {
            if !is_file_sd_pattern(pattern) {
                return Err(Refusal::at_value(
                    root,
                    &sub(&sd_path, &[key("files"), Step::Index(f)]),
                    format!("path name {pattern:?} is not valid for file discovery"),
                ));
            }
        }
    }

    let interval = match sc.scrape_interval {
        Some(d) if !d.0.is_zero() => d,
        _ => g.scrape_interval,
    };
    sc.scrape_interval = Some(interval);
    match sc.scrape_timeout {
        Some(t) if !t.0.is_zero() => {
            if t > interval {
                return Err(Refusal::at_value(
                    root,
                    &at(&["scrape_timeout"]),
                    format!(
                        "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                        sc.job_name
                    ),
                ));
            }
        }
        _ => sc.scrape_timeout = Some(g.scrape_timeout.min(interval)),
    }
    // As Prometheus: a zero limit inherits the global one.
    fn inherit(v: &mut Option<u64>, global: u64) {
        if v.unwrap_or(0) == 0 {
            *v = Some(global);
        }
    }
    if sc.body_size_limit.unwrap_or_default().0 == 0 {
        sc.body_size_limit = Some(g.body_size_limit);
    }
    inherit(&mut sc.sample_limit, g.sample_limit);
    inherit(&mut sc.label_limit, g.label_limit);
    inherit(&mut sc.label_name_length_limit, g.label_name_length_limit);
    inherit(&mut sc.label_value_length_limit, g.label_value_length_limit);
    inherit(&mut sc.target_limit, g.target_limit);
    inherit(&mut sc.keep_dropped_targets, g.keep_dropped_targets);
    if sc.scrape_failure_log_file.is_none() {
        sc.scrape_failure_log_file
            .clone_from(&g.scrape_failure_log_file);
    }
    let protocols = sc
        .scrape_protocols
        .get_or_insert_with(|| g.scrape_protocols.clone());
    let suffix = format!(" for scrape config with job name {:?}", sc.job_name);
    check_protocols(protocols, &suffix)
        .map_err(|m| Refusal::at_key(root, &at(&["scrape_protocols"]), m))
}

/// Prometheus's `http.SDConfig.UnmarshalYAML`: an http(s) URL with a host,
/// and a valid HTTP client config.
fn check_http_sd(sd: &mut HttpSdConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    let url_path = sub(path, &[key("url")]);
    if sd.url.is_empty() {
        return Err(Refusal::at_key(root, path, "URL is missing"));
    }
    let why = match url::Url::parse(&sd.url) {
        Err(e) => Some(e.to_string()),
        Ok(u) if u.scheme() != "http" && u.scheme() != "https" => {
            Some("URL scheme must be 'http' or 'https'".to_string())
        }
        Ok(u) if u.host_str().map_or(true, str::is_empty) => {
            Some("host is missing in URL".to_string())
        }
        Ok(_) => None,
    };
    if let Some(why) = why {
        return Err(Refusal::at_value(
            root,
            &url_path,
            format!("url {:?}: {why}", sd.url),
        ));
    }
    if sd.refresh_interval.0.is_zero() {
        return Err(Refusal::at_value(
            root,
            &sub(path, &[key("refresh_interval")]),
            "refresh_interval must be greater than zero",
        ));
    }
    check_http(&mut sd.http, root, path)
}

/// Prometheus's `dns.SDConfig.UnmarshalYAML`; the type is upper-cased.
fn check_dns_sd(sd: &mut DnsSdConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    if sd.names.is_empty() {
        return Err(Refusal::at_value(
            root,
            path,
            "DNS-SD config must contain at least one SRV record name",
        ));
    }
    sd.kind = sd.kind.to_ascii_uppercase();
    let type_path = sub(path, &[key("type")]);
    match sd.kind.as_str() {
        "SRV" => {}
        "A" | "AAAA" | "MX" | "NS" if sd.port == 0 => {
            return Err(Refusal::at_value(
                root,
                path,
                "a port is required in DNS-SD configs for all record types except SRV",
            ))
        }
        "A" | "AAAA" | "MX" | "NS" => {}
        other => {
            return Err(Refusal::at_value(
                root,
                &type_path,
                format!("invalid DNS-SD records type {other}"),
            ))
        }
    }
    if sd.refresh_interval.0.is_zero() {
        return Err(Refusal::at_value(
            root,
            &sub(path, &[key("refresh_interval")]),
            "refresh_interval must be greater than zero",
        ));
    }
    Ok(())
}

/// A static target must be `host` or `host:port`: Prometheus refuses a `/`
/// (a scheme or a path) in config; a port that is not a number would only
/// fail at every scrape, so it is refused here too.
fn check_target_address(addr: &str) -> Result<(), String> {
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => match port.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => ("", None),
            },
            None => ("", None),
        }
    } else {
        match addr.split_once(':') {
            Some((_, port)) if port.contains(':') => ("", None),
            Some((host, port)) => (host, Some(port)),
            None => (addr, None),
        }
    };
    let port_ok = port.map_or(true, |p| !p.is_empty() && p.parse::<u16>().is_ok());
    if host.is_empty() || host.chars().any(char::is_whitespace) || !port_ok {
        return Err(format!(
            "{addr:?} is not a valid target address; write host or host:port"
        ));
    }
    Ok(())
}

/// Prometheus's `patFileSDName`: `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn is_file_sd_pattern(pattern: &str) -> bool {
    let ext_ok = ["json", "yml", "yaml", "JSON", "YML", "YAML"]
        .iter()
        .any(|ext| pattern.strip_suffix(ext).is_some_and(|p| p.ends_with('.')));
    let glob_ok = match pattern.find('*') {
        Some(star) => !pattern[star..].contains('/'),
        None => true,
    };
    ext_ok && glob_ok
}

/// Headers Prometheus reserves for itself in remote_write (its
/// `reservedHeaders`); `authorization` has its own message.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn check_remote_write(
    rw: &mut RemoteWriteConfig,
    root: &Node,
    path: &[Step],
) -> Result<(), Refusal> {
    let url_path = sub(path, &[key("url")]);
    if rw.url.is_empty() {
        return Err(Refusal::at_key(
            root,
            &url_path,
            "url for remote_write is empty",
        ));
    }
    let ok = url::Url::parse(&rw.url)
        .map_err(|e| e.to_string())
        .and_then(|u| match u.scheme() {
            "http" | "https" if u.host().is_some() => Ok(()),
            "http" | "https" => Err("no host".to_string()),
            other => Err(format!("scheme {other:?} is not http or https")),
        });
    if let Err(why) = ok {
        return Err(Refusal::at_value(
            root,
            &url_path,
            format!("url {:?} is not a valid http(s) URL: {why}", rw.url),
        ));
    }
    for name in rw.headers.keys() {
        let lower = name.to_ascii_lowercase();
        let header_path = sub(path, &[key("headers"), key(name)]);
        if lower == "authorization" {
            return Err(Refusal::at_key(
                root,
                &header_path,
                "authorization header must be changed via the basic_auth or authorization parameter",
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Refusal::at_key(
                root,
                &header_path,
                format!("{name} is a reserved header. It must not be changed"),
            ));
        }
    }
    check_queue_counts(&rw.queue_config, root, path)?;
    check_http(&mut rw.http, root, path)
}

/// The largest `queue_config` counts edgescrape takes. Each sizes
/// something allocated or spawned when the queue starts (the shards'
/// channels and send buffers, a thread per shard), so a value a few zeros
/// too long would abort the process on a failed allocation or run it out
/// of threads. Prometheus has no bounds; the defaults
/// ([`super::QueueConfig::default`]) are far below these.
const QUEUE_COUNT_BOUNDS: [(&str, usize); 4] = [
    ("capacity", 1_000_000),
    ("max_samples_per_send", 100_000),
    ("min_shards", 64),
    ("max_shards", 10_000),
];

fn check_queue_counts(q: &super::QueueConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    let values = [
        q.capacity,
        q.max_samples_per_send,
        q.min_shards,
        q.max_shards,
    ];
    for ((field, bound), value) in QUEUE_COUNT_BOUNDS.into_iter().zip(values) {
        if value > bound {
            return Err(Refusal::at_value(
                root,
                &sub(path, &[key("queue_config"), key(field)]),
                format!("{value} is more than edgescrape allows ({bound})"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sd_patterns_follow_prometheus() {
        for ok in ["a.json", "dir/*.yml", "/etc/x/*.YAML", "a*b*.json", ".json"] {
            assert!(is_file_sd_pattern(ok), "{ok}");
        }
        for bad in ["a.txt", "*/a.json", "a.Json", "dir/*", "json"] {
            assert!(!is_file_sd_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn target_addresses() {
        for ok in [
            "localhost",
            "localhost:9100",
            "10.0.0.1:80",
            "[::1]:9100",
            "[::1]",
        ] {
            assert!(check_target_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://x:80",
            "x:80/metrics",
            "",
            ":80",
            "x:",
            "x:port",
            "x:99999",
            "::1",
            "[::1:80",
            "a b:80",
        ] {
            assert!(check_target_address(bad).is_err(), "{bad:?}");
        }
    }
}
