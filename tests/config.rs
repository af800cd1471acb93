//! prometheus.yml loading: Prometheus's example config, every refusal with
//! its position, secrets, YAML output, and `edgescrape check-config` run as
//! a real process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration as StdDuration;

use edgescrape::config::{ByteSize, Config, ConfigError, ScrapeProtocol};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::load_str(text, Path::new("test.yml"))
}

#[track_caller]
fn accepted(text: &str) -> Config {
    match load(text) {
        Ok(c) => c,
        Err(e) => panic!("refused: {e}\n{text}"),
    }
}

/// Asserts the refusal's line and column and that its text holds every
/// fragment.
#[track_caller]
fn refused(text: &str, line: usize, column: usize, fragments: &[&str]) {
    let err = match load(text) {
        Ok(c) => panic!("accepted: {c:?}\n{text}"),
        Err(e) => e,
    };
    let shown = err.to_string();
    assert_eq!(
        (err.line, err.column),
        (Some(line), Some(column)),
        "position of {shown}"
    );
    assert!(
        shown.starts_with(&format!("test.yml:{line}:{column}: ")),
        "{shown}"
    );
    for f in fragments {
        assert!(shown.contains(f), "{shown:?} lacks {f:?}");
    }
}

fn secs(s: u64) -> Option<edgescrape::config::Duration> {
    Some(edgescrape::config::Duration::from_secs(s))
}

#[test]
fn prometheus_example_config_loads_with_defaults() {
    let path = fixture("good.yml");
    let c = Config::load_file(&path).unwrap();
    let dir = path.parent().unwrap();
    assert_eq!(c.global.scrape_interval.0, StdDuration::from_secs(15));
    assert_eq!(c.global.scrape_timeout.0, StdDuration::from_secs(10));
    assert_eq!(c.global.evaluation_interval, secs(30));
    assert_eq!(c.global.body_size_limit, ByteSize(15 << 20));
    assert_eq!(
        c.global.external_labels.to_string(),
        r#"{foo="bar", monitor="codelab"}"#
    );

    let [prom, x, y] = &c.scrape_configs[..] else {
        panic!("{:?}", c.scrape_configs)
    };
    assert_eq!(prom.job_name, "prometheus");
    assert!(prom.honor_labels);
    assert_eq!(prom.scrape_interval, secs(15));
    assert_eq!(prom.scrape_timeout, secs(10));
    assert_eq!(prom.interval().0, StdDuration::from_secs(15));
    assert_eq!(prom.metrics_path, "/metrics");
    assert_eq!(prom.scheme, "http");
    assert_eq!(prom.sample_limit, Some(1500));
    assert_eq!(prom.body_size_limit, Some(ByteSize(15 << 20)));
    assert_eq!(
        prom.protocols(),
        edgescrape::config::default_scrape_protocols()
    );
    assert_eq!(
        prom.file_sd_configs[0].files[0],
        dir.join("foo/*.slow.json").to_str().unwrap()
    );
    assert_eq!(
        prom.file_sd_configs[0].refresh_interval.0,
        StdDuration::from_secs(600)
    );
    assert_eq!(
        prom.file_sd_configs[1].refresh_interval.0,
        StdDuration::from_secs(300)
    );
    assert_eq!(
        prom.static_configs[0].targets,
        ["localhost:9090", "localhost:9191"]
    );
    assert_eq!(prom.relabel_configs.len(), 5);
    let auth = prom.http.authorization.as_ref().unwrap();
    assert_eq!(auth.kind, "Bearer");
    assert_eq!(auth.credentials_file, Some(dir.join("valid_token_file")));
    assert!(prom.http.follow_redirects);

    assert_eq!(x.scrape_interval, secs(50));
    assert_eq!(x.scrape_timeout, secs(5));
    assert_eq!(x.protocols(), [ScrapeProtocol::PrometheusText0_0_4]);
    assert_eq!(x.scheme, "https");
    assert_eq!(x.metrics_path, "/my_path");
    assert_eq!(x.label_value_length_limit, Some(210));
    let basic = x.http.basic_auth.as_ref().unwrap();
    assert_eq!(basic.username, "admin_name");
    assert_eq!(
        basic.password.as_ref().unwrap().expose(),
        "multiline\nmysecret\ntest"
    );

    // The global timeout is capped at a shorter job interval.
    assert_eq!(y.scrape_timeout, secs(5));
    let bearer = y.http.authorization.as_ref().unwrap();
    assert_eq!(bearer.kind, "Bearer");
    assert_eq!(
        bearer.credentials.as_ref().unwrap().expose(),
        "bearer-s3cret-token"
    );
    assert_eq!(y.params["module"], ["http_2xx"]);
    assert_eq!(
        y.http.proxy_url.as_deref(),
        Some("http://proxy.example.com:3128")
    );
    assert!(!y.http.follow_redirects && !y.honor_timestamps);
    assert_eq!(y.enable_compression, Some(false));
    assert!(y.track_timestamps_staleness);
    assert_eq!(
        y.http.tls_config.server_name.as_deref(),
        Some("example.org")
    );

    let [rw1, rw2] = &c.remote_write[..] else {
        panic!("{:?}", c.remote_write)
    };
    assert_eq!(rw1.url, "http://remote1/push");
    assert_eq!(rw1.name.as_deref(), Some("drop_expensive"));
    assert_eq!(rw1.remote_timeout.0, StdDuration::from_secs(30));
    assert_eq!(rw1.queue_config.capacity, 10_000);
    assert_eq!(rw1.write_relabel_configs.len(), 1);
    assert_eq!(rw2.queue_config.capacity, 2500);
    assert_eq!(rw2.queue_config.max_shards, 4);
    assert_eq!(rw2.queue_config.min_shards, 1);
    assert_eq!(
        rw2.queue_config.batch_send_deadline.0,
        StdDuration::from_secs(10)
    );
    assert_eq!(rw2.headers["name"], "value");
    assert_eq!(
        rw2.http.tls_config.cert_file,
        Some(dir.join("valid_cert_file"))
    );
}

#[test]
fn defaults_of_an_empty_config_and_of_a_minimal_job() {
    for text in ["", "# nothing\n", "global:\n", "{}"] {
        let c = accepted(text);
        assert_eq!(c.global.scrape_interval.0, StdDuration::from_secs(60));
        assert_eq!(c.global.scrape_timeout.0, StdDuration::from_secs(10));
        assert!(c.scrape_configs.is_empty());
    }
    let c = accepted("scrape_configs:\n  - job_name: a\n");
    let a = &c.scrape_configs[0];
    assert_eq!(a.scrape_interval, secs(60));
    assert_eq!(a.scrape_timeout, secs(10));
    assert_eq!(a.sample_limit, Some(0));
    assert!(a.honor_timestamps && a.http.follow_redirects);
    assert_eq!(a.enable_compression, None);
    assert!(!a.honor_labels && !a.track_timestamps_staleness);

    // As Prometheus: a short global interval caps the default timeout.
    let c = accepted("global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: a\n");
    assert_eq!(c.global.scrape_timeout.0, StdDuration::from_secs(5));
    assert_eq!(c.scrape_configs[0].scrape_timeout, secs(5));
    // A zero limit on a job inherits the global one.
    let c = accepted(
        "global: {sample_limit: 7}\nscrape_configs:\n  - {job_name: a, sample_limit: 0}\n",
    );
    assert_eq!(c.scrape_configs[0].sample_limit, Some(7));
}

#[test]
fn enable_compression_keeps_whether_it_was_written() {
    for (written, want) in [
        ("", None),
        ("    enable_compression: true\n", Some(true)),
        ("    enable_compression: false\n", Some(false)),
        ("    enable_compression: yes\n", Some(true)),
    ] {
        let text = format!("scrape_configs:\n  - job_name: a\n{written}");
        let c = accepted(&text);
        assert_eq!(c.scrape_configs[0].enable_compression, want, "{text}");
        // Printed as written (unset stays unset), and loads back the same.
        let shown = c.to_yaml().expect("print");
        let line = want.map(|b| format!("enable_compression: {b}"));
        let printed = shown.lines().find(|l| l.contains("enable_compression"));
        assert_eq!(printed.map(str::trim), line.as_deref(), "{shown}");
        assert_eq!(accepted(&shown).scrape_configs[0].enable_compression, want);
    }
    refused(
        "scrape_configs:\n  - job_name: a\n    enable_compression: maybe\n",
        3,
        25,
        &["enable_compression"],
    );
}

#[test]
fn accepted_prometheus_spellings() {
    for text in [
        // YAML 1.1 booleans, flow style, quoted numbers as strings.
        "scrape_configs:\n  - {job_name: a, honor_labels: yes, static_configs: [{targets: ['h:1']}]}\n",
        // Anchors and aliases.
        "scrape_configs:\n  - job_name: a\n    static_configs: &t\n      - targets: [a:1]\n  - job_name: b\n    static_configs: *t\n",
        // Fields accepted for compatibility, with the value edgescrape honours.
        "scrape_configs:\n  - job_name: a\n    scrape_classic_histograms: false\n    enable_http2: true\n",
        "remote_write:\n  - url: http://r/w\n    send_exemplars: false\n    send_native_histograms: false\n    metadata_config: {send: false, send_interval: 1m}\n",
        // Relabeling may rewrite any address, so addresses are not checked.
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{target_label: x, replacement: y}]\n    static_configs: [{targets: ['http://x/y']}]\n",
        // Prometheus puts the slash in front of a relative metrics_path.
        "scrape_configs:\n  - {job_name: a, metrics_path: metrics}\n",
        "scrape_configs:\n  - {job_name: a, authorization: {type: ' Token ', credentials: x}}\n",
        "scrape_configs:\n  - {job_name: a, scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]}\n",
        "remote_write:\n  - {url: 'https://r:8428/api/v1/write', name: a}\n  - {url: 'https://r/w', name: b}\n  - {url: 'https://r/x'}\n  - {url: 'https://r/y'}\n",
    ] {
        accepted(text);
    }
    let c = accepted("scrape_configs:\n  - {job_name: a, metrics_path: metrics}\n");
    assert_eq!(c.scrape_configs[0].metrics_path, "/metrics");
    let c = accepted(
        "scrape_configs:\n  - {job_name: a, authorization: {type: ' Token ', credentials: x}}\n",
    );
    assert_eq!(
        c.scrape_configs[0]
            .http
            .authorization
            .as_ref()
            .unwrap()
            .kind,
        "Token"
    );
}

#[test]
fn semantic_refusals_point_at_the_field() {
    refused(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: x\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
        6,
        21,
        &[
            "scrape_configs[0].scrape_timeout",
            "scrape timeout greater than scrape interval for scrape config with job name \"x\"",
        ],
    );
    refused(
        "global:\n  scrape_interval: 15s\n  scrape_timeout: 20s\n",
        3,
        19,
        &["global scrape timeout greater than scrape interval"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
        4,
        15,
        &[
            "scrape_configs[2].job_name",
            "found multiple scrape configs with job name \"a\"",
        ],
    );
    refused(
        "scrape_configs:\n  - job_name: ''\n",
        2,
        5,
        &["job_name is empty"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
        3,
        13,
        &["scheme", "\"ftp\""],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    metrics_path: /m?x=1\n",
        3,
        19,
        &["metrics_path", "params"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets:\n          - ok:1\n          - http://bad\n",
        6,
        13,
        &[
            "scrape_configs[0].static_configs[0].targets[1]",
            "\"http://bad\" is not a valid hostname",
        ],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:port']}]\n",
        3,
        33,
        &["\"h:port\" is not a valid target address"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [a.json, targets.txt]\n",
        4,
        25,
        &["path name \"targets.txt\" is not valid for file discovery"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: []\n",
        4,
        9,
        &["at least one path name"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    scrape_protocols: []\n",
        3,
        5,
        &["scrape_protocols cannot be empty for scrape config with job name \"a\""],
    );
    refused(
        "global:\n  scrape_protocols: [PrometheusText0.0.4, PrometheusText0.0.4]\n",
        2,
        3,
        &["duplicated protocol in scrape_protocols, got [PrometheusText0.0.4 PrometheusText0.0.4] for global config"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusText]\n",
        3,
        24,
        &["unknown scrape protocol PrometheusText, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusText0.0.4]"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusProto]\n",
        3,
        24,
        &["not supported: scrape protocol PrometheusProto"],
    );
}

#[test]
fn http_client_refusals() {
    let job = |body: &str| format!("scrape_configs:\n  - job_name: a\n{body}");
    refused(
        &job("    basic_auth:\n      username: u\n      password: p\n      password_file: f\n"),
        6,
        7,
        &[
            "basic_auth.password_file",
            "at most one of basic_auth password & password_file",
        ],
    );
    refused(
        &job("    authorization:\n      credentials: c\n      credentials_file: f\n"),
        5,
        7,
        &["at most one of authorization credentials & credentials_file"],
    );
    refused(
        &job("    basic_auth: {username: u}\n    authorization: {credentials: c}\n"),
        4,
        5,
        &["at most one of basic_auth, oauth2 & authorization must be configured"],
    );
    refused(
        &job("    authorization:\n      type: Basic\n      credentials: c\n"),
        4,
        13,
        &["authorization type cannot be set to \"basic\", use \"basic_auth\" instead"],
    );
    refused(
        &job("    bearer_token: t\n    bearer_token_file: f\n"),
        4,
        5,
        &["at most one of bearer_token & bearer_token_file"],
    );
    refused(
        &job("    bearer_token: t\n    basic_auth: {username: u}\n"),
        4,
        5,
        &["at most one of basic_auth, oauth2, bearer_token & bearer_token_file"],
    );
    refused(
        &job("    bearer_token: t\n    authorization: {credentials: c}\n"),
        4,
        5,
        &["authorization is not compatible with bearer_token"],
    );
    refused(
        &job("    proxy_url: socks5://p:1080\n"),
        3,
        16,
        &["proxy_url", "only http:// and https:// proxies"],
    );
    refused(
        &job("    tls_config:\n      cert_file: c\n"),
        4,
        7,
        &["key_file must be configured"],
    );
    refused(
        &job("    basic_auth:\n      username: u\n      username_file: f\n"),
        5,
        7,
        &["at most one of basic_auth username & username_file"],
    );
    refused(
        &job("    tls_config:\n      ca: x\n      ca_file: f\n"),
        5,
        7,
        &["tls_config.ca_file", "at most one of ca & ca_file"],
    );
    refused(
        &job("    tls_config:\n      key: k\n"),
        4,
        7,
        &["cert or cert_file must be configured"],
    );
    refused(
        &job("    tls_config:\n      ca: not pem\n"),
        4,
        11,
        &["tls_config.ca", "ca holds no PEM certificate"],
    );
    refused(
        &job("    tls_config:\n      min_version: TLS11\n"),
        4,
        20,
        &["not supported: min_version TLS11", "TLS12 and TLS13 only"],
    );
    refused(
        &job("    tls_config:\n      min_version: TLS13\n      max_version: TLS12\n"),
        5,
        20,
        &["max_version TLS12 is below min_version TLS13"],
    );
    refused(
        &job("    tls_config:\n      max_version: SSL3\n"),
        4,
        20,
        &["unknown TLS version: SSL3"],
    );
    refused(
        &job("    http_headers:\n      user-agent:\n        values: [x]\n"),
        4,
        7,
        &[
            "http_headers.user-agent",
            "setting header \"User-Agent\" is not allowed",
        ],
    );
    refused(
        &job("    http_headers:\n      'X Bad':\n        values: [x]\n"),
        4,
        7,
        &["not a valid HTTP header name"],
    );
    refused(
        &job("    http_headers:\n      X-A:\n        value: [x]\n"),
        5,
        9,
        &["unknown field `value`"],
    );
}

#[test]
fn proxy_settings_as_prometheus_checks_them() {
    let job = |body: &str| format!("scrape_configs:\n  - job_name: a\n{body}");
    refused(
        &job("    no_proxy: localhost\n"),
        3,
        5,
        &["if no_proxy is configured, proxy_url must also be configured"],
    );
    refused(
        &job("    proxy_url: http://p:3128\n    proxy_from_environment: true\n"),
        4,
        5,
        &["if proxy_from_environment is configured, proxy_url must not be configured"],
    );
    refused(
        &job("    proxy_from_environment: true\n    no_proxy: x\n"),
        4,
        5,
        &["if proxy_from_environment is configured, no_proxy must not be configured"],
    );
    let c = accepted(&job("    proxy_url: https://p:3128\n"));
    assert_eq!(
        c.scrape_configs[0].http.proxy_url.as_deref(),
        Some("https://p:3128")
    );
    refused(
        &job("    proxy_connect_header: {X: [y]}\n"),
        3,
        5,
        &["if proxy_connect_header is configured, proxy_url or proxy_from_environment"],
    );
    refused(
        &job("    proxy_url: http://p:3128\n    proxy_connect_header: {'X Y': [y]}\n"),
        4,
        28,
        &["not a valid HTTP header name"],
    );
    let c = accepted(&job(
        "    proxy_url: http://p:3128\n    proxy_connect_header: {Proxy-Authorization: [hunter2-connect]}\n",
    ));
    let headers = &c.scrape_configs[0].http.proxy_connect_header;
    assert_eq!(
        headers["Proxy-Authorization"][0].expose(),
        "hunter2-connect"
    );
    assert!(!c.to_yaml().unwrap().contains("hunter2"));
    let c = accepted(&job("    proxy_url: http://p:3128\n    no_proxy: 10.0.0.0/8,.lan\n  - job_name: b\n    proxy_from_environment: true\n"));
    assert_eq!(
        c.scrape_configs[0].http.no_proxy.as_deref(),
        Some("10.0.0.0/8,.lan")
    );
    assert!(c.scrape_configs[1].http.proxy_from_environment);
}

#[test]
fn discovery_configs_as_prometheus_checks_them() {
    let job = |body: &str| format!("scrape_configs:\n  - job_name: a\n{body}");
    refused(
        &job("    dns_sd_configs:\n      - names: []\n"),
        4,
        9,
        &[
            "scrape_configs[0].dns_sd_configs[0]",
            "at least one SRV record name",
        ],
    );
    refused(
        &job("    dns_sd_configs:\n      - names: [x]\n        type: A\n"),
        4,
        9,
        &["a port is required in DNS-SD configs for all record types except SRV"],
    );
    refused(
        &job("    dns_sd_configs:\n      - names: [x]\n        type: TXT\n"),
        5,
        15,
        &["invalid DNS-SD records type TXT"],
    );
    refused(
        &job("    http_sd_configs:\n      - refresh_interval: 1m\n"),
        4,
        9,
        &["URL is missing"],
    );
    refused(
        &job("    http_sd_configs:\n      - url: ftp://sd/targets\n"),
        4,
        14,
        &["URL scheme must be 'http' or 'https'"],
    );
    refused(
        &job("    http_sd_configs:\n      - url: http://sd/\n        no_proxy: x\n"),
        5,
        9,
        &[
            "http_sd_configs[0].no_proxy",
            "proxy_url must also be configured",
        ],
    );
    let c = accepted(&job("    dns_sd_configs:\n      - names: [_m._tcp.x]\n      - names: [y]\n        type: aaaa\n        port: 9100\n    http_sd_configs:\n      - url: https://sd/targets\n        basic_auth: {username: u, password: hunter2-sd}\n"));
    let sc = &c.scrape_configs[0];
    assert_eq!(sc.dns_sd_configs[0].kind, "SRV");
    assert_eq!(sc.dns_sd_configs[0].refresh_interval, secs(30).unwrap());
    assert_eq!(sc.dns_sd_configs[1].kind, "AAAA");
    assert_eq!(sc.http_sd_configs[0].refresh_interval, secs(60).unwrap());
    assert!(!c.to_yaml().unwrap().contains("hunter2"));
}

#[test]
fn scrape_failure_log_file_is_inherited_and_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let main = write_file(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_failure_log_file: failures.log\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_failure_log_file: /var/log/b.log\n",
    );
    let c = Config::load_file(&main).unwrap();
    let a = c.scrape_configs[0].scrape_failure_log_file.clone();
    assert_eq!(a, Some(dir.path().join("failures.log")));
    let b = c.scrape_configs[1].scrape_failure_log_file.clone();
    assert_eq!(b, Some(PathBuf::from("/var/log/b.log")));
}

#[test]
fn fallback_scrape_protocol_names_a_text_protocol() {
    let job = |body: &str| format!("scrape_configs:\n  - job_name: a\n{body}");
    let c = accepted(&job("    fallback_scrape_protocol: OpenMetricsText1.0.0\n"));
    assert_eq!(
        c.scrape_configs[0].fallback_scrape_protocol,
        Some(ScrapeProtocol::OpenMetricsText1_0_0)
    );
    assert!(c
        .to_yaml()
        .unwrap()
        .contains("fallback_scrape_protocol: OpenMetricsText1.0.0"));
    refused(
        &job("    fallback_scrape_protocol: PrometheusProto\n"),
        3,
        31,
        &["not supported: scrape protocol PrometheusProto"],
    );
    refused(
        &job("    fallback_scrape_protocol: Text\n"),
        3,
        31,
        &["unknown scrape protocol Text"],
    );
}

#[test]
fn oauth2_refusals() {
    let job = |body: &str| format!("scrape_configs:\n  - job_name: a\n{body}");
    refused(
        &job("    oauth2:\n      token_url: http://t/token\n"),
        3,
        5,
        &[
            "scrape_configs[0].oauth2",
            "oauth2 client_id must be configured",
        ],
    );
    refused(
        &job("    oauth2: {client_id: c}\n"),
        3,
        5,
        &["oauth2 token_url must be configured"],
    );
    refused(
        &job("    oauth2: {client_id: c, token_url: 'ftp://t'}\n"),
        3,
        39,
        &["oauth2.token_url", "is not an http(s) URL"],
    );
    refused(
        &job("    oauth2:\n      client_id: c\n      token_url: http://t\n      client_secret: s\n      client_secret_file: f\n"),
        7,
        7,
        &["at most one of oauth2 client_secret & client_secret_file"],
    );
    refused(
        &job("    oauth2: {client_id: c, token_url: 'http://t'}\n    basic_auth: {username: u}\n"),
        3,
        5,
        &["at most one of basic_auth, oauth2 & authorization"],
    );
    refused(
        &job("    oauth2: {client_id: c, token_url: 'http://t'}\n    bearer_token: b\n"),
        3,
        5,
        &["at most one of basic_auth, oauth2, bearer_token"],
    );
    refused(
        &job("    oauth2:\n      client_id: c\n      token_url: http://t\n      grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\n"),
        6,
        19,
        &["not supported: oauth2 grant_type"],
    );
    refused(
        &job("    oauth2:\n      client_id: c\n      client_certificate_key_file: k\n"),
        5,
        7,
        &["not supported: client_certificate_key_file"],
    );
    refused(
        &job("    oauth2:\n      client_id: c\n      token_url: http://t\n      tls_config: {cert_file: c}\n"),
        6,
        20,
        &["oauth2.tls_config.cert_file", "key_file must be configured"],
    );
    let c = accepted(&job("    oauth2:\n      client_id: c\n      client_secret: hunter2-oauth\n      token_url: https://t/token\n      scopes: [a]\n      endpoint_params: {x: y}\n      tls_config: {ca_file: ca.pem}\n      proxy_url: http://proxy:3128\n"));
    let o = c.scrape_configs[0].http.oauth2.as_ref().unwrap();
    assert_eq!(o.client_secret.as_ref().unwrap().expose(), "hunter2-oauth");
    assert_eq!(o.endpoint_params["x"], "y");
    let yaml = c.to_yaml().unwrap();
    assert!(
        !yaml.contains("hunter2") && yaml.contains("oauth2:"),
        "{yaml}"
    );
}

#[test]
fn http_client_fields_of_prometheus_2_55_load() {
    let c = accepted(
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username_file: user, password_file: pw}\n    http_headers:\n      X-Scope-OrgID:\n        values: [t1]\n        secrets: [hunter2-header]\n        files: [tenant]\n    tls_config:\n      min_version: TLS12\n      max_version: TLS13\n",
    );
    let http = &c.scrape_configs[0].http;
    let basic = http.basic_auth.as_ref().unwrap();
    assert_eq!(basic.username_file.as_deref(), Some(Path::new("user")));
    let header = &http.http_headers["X-Scope-OrgID"];
    assert_eq!(header.values, ["t1"]);
    assert_eq!(header.secrets[0].expose(), "hunter2-header");
    assert_eq!(header.files, [PathBuf::from("tenant")]);
    let yaml = c.to_yaml().unwrap();
    assert!(!yaml.contains("hunter2"), "{yaml}");
    assert!(yaml.contains("min_version: TLS12"), "{yaml}");
}

#[test]
fn remote_write_refusals() {
    refused(
        "remote_write:\n  - name: a\n",
        2,
        5,
        &["remote_write[0].url", "url for remote_write is empty"],
    );
    refused(
        "remote_write:\n  - url: ftp://x/y\n",
        2,
        10,
        &["not a valid http(s) URL"],
    );
    refused(
        "remote_write:\n  - url: not a url\n",
        2,
        10,
        &["not a valid http(s) URL"],
    );
    refused(
        "remote_write:\n  - url: http://r/w\n    headers:\n      X-Prometheus-Remote-Write-Version: '2'\n",
        4,
        7,
        &["X-Prometheus-Remote-Write-Version is a reserved header. It must not be changed"],
    );
    refused(
        "remote_write:\n  - url: http://r/w\n    headers: {Authorization: x}\n",
        3,
        15,
        &["authorization header must be changed via the basic_auth or authorization parameter"],
    );
    refused(
        "remote_write:\n  - {url: 'http://r/w', name: q}\n  - {url: 'http://r/x', name: q}\n",
        3,
        31,
        &["found multiple remote write configs with name \"q\""],
    );
    refused(
        "remote_write:\n  - url: http://r/w\n    metadata_config: {send_interval: 1m}\n",
        3,
        5,
        &["not supported: metadata_config with send: true (in remote_write \"http://r/w\")"],
    );
    refused(
        "remote_write:\n  - url: http://r/w\n    send_exemplars: true\n",
        3,
        5,
        &["not supported: send_exemplars: true"],
    );
    refused(
        "remote_write:\n  - url: http://r/w\n    queue_config: {capacity: -1}\n",
        3,
        30,
        &["remote_write[0].queue_config.capacity", "\"-1\""],
    );
}

#[test]
fn unimplemented_prometheus_fields_are_refused_by_name() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("rule_files: [a.rules]\n", 1, 1, "not supported: rule_files"),
        ("alerting: {}\n", 1, 1, "not supported: alerting"),
        (
            "remote_read:\n  - url: http://r\n",
            1,
            1,
            "not supported: remote_read",
        ),
        ("storage: {}\n", 1, 1, "not supported: storage"),
        ("tracing: {}\n", 1, 1, "not supported: tracing"),
        (
            "global:\n  query_log_file: q.log\n",
            2,
            3,
            "not supported: query_log_file (in global)",
        ),
        (
            "scrape_configs:\n  - job_name: job\n    kubernetes_sd_configs: [{role: pod}]\n",
            3,
            5,
            "not supported: kubernetes_sd_configs (in scrape config \"job\")",
        ),
        (
            "scrape_configs:\n  - job_name: job\n    consul_sd_configs: []\n",
            3,
            5,
            "not supported: consul_sd_configs",
        ),
        (
            "scrape_configs:\n  - job_name: job\n    native_histogram_bucket_limit: 10\n",
            3,
            5,
            "not supported: native_histogram_bucket_limit",
        ),
        (
            "scrape_configs:\n  - job_name: job\n    scrape_classic_histograms: true\n",
            3,
            5,
            "not supported: scrape_classic_histograms: true",
        ),
        (
            "remote_write:\n  - url: http://r/w\n    sigv4: {region: x}\n",
            3,
            5,
            "not supported: sigv4 (in remote_write \"http://r/w\")",
        ),
        (
            "remote_write:\n  - url: http://r/w\n    name: n\n    azuread: {}\n",
            4,
            5,
            "not supported: azuread (in remote_write \"n\")",
        ),
    ];
    for (text, line, column, fragment) in cases {
        refused(text, *line, *column, &[fragment]);
    }
}

#[test]
fn syntax_and_type_refusals() {
    refused(
        "global:\n  bogus_field: 1\n",
        2,
        3,
        &["global", "unknown field `bogus_field`"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
        3,
        5,
        &["scrape_configs[0]", "unknown field `scrape_intervall`"],
    );
    refused(
        "remote_write:\n  - url: http://r\n    queue_config: {capacty: 1}\n",
        3,
        20,
        &["unknown field `capacty`"],
    );
    refused(
        "global:\n  scrape_interval: 15sec\n",
        2,
        20,
        &[
            "global.scrape_interval",
            "not a valid duration string: \"15sec\"",
        ],
    );
    refused(
        "global:\n  body_size_limit: 100\n",
        2,
        20,
        &["global.body_size_limit", "not a valid byte size"],
    );
    refused(
        "global:\n  sample_limit: many\n",
        2,
        17,
        &["global.sample_limit", "expected an integer"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n",
        3,
        19,
        &["honor_labels", "expected true or false"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - regex: '('\n        action: drop\n",
        4,
        16,
        &["metric_relabel_configs[0].regex", "invalid regex"],
    );
    refused(
        "global:\n  external_labels:\n    not$allowed: x\n",
        3,
        5,
        &["global.external_labels", "not$allowed"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\nscrape_configs: []\n",
        3,
        1,
        &["scrape_configs: key given twice"],
    );
    refused("global: [\n", 2, 1, &["test.yml:2:1"]);
    refused(
        "scrape_configs:\n  - job_name: a\n  -\n",
        3,
        3,
        &["scrape_configs[1]", "empty or null scrape config section"],
    );
    refused(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - ~\n",
        4,
        9,
        &["empty or null target relabeling rule in scrape config"],
    );
    refused(
        "scrape_configs: 3\n",
        1,
        17,
        &["scrape_configs", "expected a list"],
    );
}

#[test]
fn relabel_rule_refusals_point_at_the_rule() {
    let rule = |body: &str| {
        format!("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {body}\n")
    };
    for (body, fragment) in [
        (
            "{action: hashmod, target_label: x, source_labels: [a]}",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "{action: labelkeep, regex: a, target_label: x}",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            "{action: replace, source_labels: [a]}",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "{action: lowercase, target_label: 42lab}",
            "\"42lab\" is invalid 'target_label' for lowercase action",
        ),
    ] {
        refused(
            &rule(body),
            4,
            9,
            &["scrape_configs[0].relabel_configs[0]", fragment],
        );
    }
    refused(
        &rule("{action: explode}"),
        4,
        18,
        &[
            "relabel_configs[0].action",
            "unknown relabel action \"explode\"",
        ],
    );
    refused(
        "remote_write:\n  - url: http://r/w\n    write_relabel_configs:\n      - action: hashmod\n        target_label: x\n",
        4,
        9,
        &["remote_write[0].write_relabel_configs[0]", "non-zero modulus"],
    );
}

#[test]
fn secrets_never_show() {
    let text = "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: hunter2-pw}\n  - job_name: b\n    bearer_token: hunter2-token\nremote_write:\n  - url: http://r/w\n    authorization: {credentials: hunter2-cred}\n";
    let c = accepted(text);
    let shown = [format!("{c:?}"), c.to_string(), c.to_yaml().unwrap()];
    for s in &shown {
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("<secret>"), "{s}");
    }
}

#[test]
fn yaml_output_reads_back_as_the_same_config() {
    let text = "global:\n  scrape_interval: 15s\n  external_labels: {site: a}\nscrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p}\n    scrape_protocols: [PrometheusText0.0.4]\n    params: {module: [m]}\n    static_configs: [{targets: ['h:1'], labels: {x: y}}]\n    file_sd_configs: [{files: [t/*.json]}]\n    metric_relabel_configs:\n      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n  - job_name: b\n    bearer_token: t\n    scrape_interval: 5s\n    tls_config: {ca_file: ca.pem, insecure_skip_verify: true}\nremote_write:\n  - url: https://r/w\n    name: q\n    headers: {X-Site: a}\n    queue_config: {max_shards: 2}\n";
    let c = accepted(text);
    let yaml = c.to_yaml().unwrap();
    // The HTTP client fields are written inline, as Prometheus shows them.
    assert!(yaml.contains("\n  basic_auth:\n"), "{yaml}");
    assert!(!yaml.lines().any(|l| l.trim() == "http:"), "{yaml}");
    let back = load(&yaml).unwrap();
    // Secrets come back as the placeholder; nothing else changes.
    let mut expected = c.clone();
    let placeholder = Some(edgescrape::config::Secret::new("<secret>"));
    expected.scrape_configs[0]
        .http
        .basic_auth
        .as_mut()
        .unwrap()
        .password = placeholder.clone();
    expected.scrape_configs[1]
        .http
        .authorization
        .as_mut()
        .unwrap()
        .credentials = placeholder;
    assert_eq!(back, expected);
}

fn check_config(args: &[&Path]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgescrape"))
        .arg("check-config")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn check_config_command_reports_like_promtool() {
    let good = fixture("good.yml");
    let (code, stdout, _) = check_config(&[&good]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains(&format!(
        "SUCCESS: {} is valid prometheus config file syntax",
        good.display()
    )));

    let bad = fixture("bad-timeout.yml");
    let oauth = fixture("bad-oauth2.yml");
    let (code, stdout, stderr) = check_config(&[&good, &bad, &oauth]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("SUCCESS"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "FAILED: {}:7:21: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name \"slow\"",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "FAILED: {}:3:5: scrape_configs[0].oauth2: oauth2 token_url must be configured",
            oauth.display()
        )),
        "{stderr}"
    );

    let missing = fixture("no-such-file.yml");
    let (code, _, stderr) = check_config(&[&missing]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read config"), "{stderr}");
}

#[test]
fn check_config_flag_form_and_bad_flags() {
    let good = fixture("good.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_edgescrape"))
        .arg("check-config")
        .arg(format!("--config.file={}", good.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_edgescrape"))
        .arg("--log.level=loud")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--log.level"), "{stderr}");
}

#[test]
fn run_refuses_a_bad_config_with_its_position() {
    let out = Command::new(env!("CARGO_BIN_EXE_edgescrape"))
        .arg(format!(
            "--config.file={}",
            fixture("bad-oauth2.yml").display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("level=error"), "{stderr}");
    assert!(stderr.contains("bad-oauth2.yml:3:5"), "{stderr}");
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn scrape_config_files_add_jobs_relative_to_their_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    let main = write_file(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_interval: 7s\nscrape_config_files: ['jobs/*.yml', 'none/*.yml']\nscrape_configs:\n  - job_name: main\n",
    );
    write_file(
        dir.path(),
        "jobs/b.yml",
        "scrape_configs:\n  - job_name: b\n    file_sd_configs: [{files: [targets.json]}]\n",
    );
    write_file(
        dir.path(),
        "jobs/a.yml",
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 3s\n    basic_auth: {username: u, password_file: pw}\n",
    );
    let c = Config::load_file(&main).unwrap();
    let names: Vec<&str> = c
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(names, ["main", "a", "b"], "main first, then files by name");
    let a = &c.scrape_configs[1];
    assert_eq!(a.scrape_interval, secs(3));
    let pw = a.http.basic_auth.as_ref().unwrap().password_file.clone();
    assert_eq!(pw, Some(dir.path().join("jobs/pw")));
    let b = &c.scrape_configs[2];
    assert_eq!(b.scrape_interval, secs(7), "the main file's global applies");
    let sd = dir.path().join("jobs/targets.json");
    assert_eq!(b.file_sd_configs[0].files, [sd.to_string_lossy()]);

    // Loaded again (as a reload does), the files' changes are seen.
    write_file(
        dir.path(),
        "jobs/b.yml",
        "scrape_configs:\n  - job_name: b2\n",
    );
    std::fs::remove_file(dir.path().join("jobs/a.yml")).unwrap();
    let c = Config::load_file(&main).unwrap();
    let names: Vec<&str> = c
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(names, ["main", "b2"]);
}

#[test]
fn scrape_config_files_refusals_name_the_file_and_both_sites() {
    let dir = tempfile::tempdir().unwrap();
    let main = write_file(
        dir.path(),
        "prometheus.yml",
        "scrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - job_name: main\n",
    );
    let jobs = write_file(
        dir.path(),
        "jobs/a.yml",
        "scrape_configs:\n  - job_name: x\n  - job_name: main\n",
    );
    let err = Config::load_file(&main).unwrap_err();
    assert_eq!(err.file, jobs);
    assert_eq!((err.line, err.column), (Some(3), Some(15)));
    let shown = err.to_string();
    let first = format!("first found in {}:3:15", main.display());
    assert!(
        shown.contains("job name \"main\"") && shown.contains(&first),
        "{shown}"
    );

    write_file(
        dir.path(),
        "jobs/a.yml",
        "scrape_configs:\n  - job_name: x\n",
    );
    let other = write_file(dir.path(), "jobs/b.yml", "scrape_configs:\n- job_name: x\n");
    let err = Config::load_file(&main).unwrap_err();
    assert_eq!(err.file, other);
    let first = format!("first found in {}:2:15", jobs.display());
    assert!(err.to_string().contains(&first), "{err}");

    write_file(dir.path(), "jobs/b.yml", "global: {}\nscrape_configs: []\n");
    let err = Config::load_file(&main).unwrap_err();
    assert_eq!((err.file.clone(), err.line), (other.clone(), Some(1)));
    assert!(err.to_string().contains("unknown field `global`"), "{err}");

    write_file(
        dir.path(),
        "jobs/b.yml",
        "scrape_configs:\n  - job_name: y\n    scrape_timeout: 2m\n",
    );
    let err = Config::load_file(&main).unwrap_err();
    assert_eq!((err.file.clone(), err.line), (other, Some(3)));
    assert!(err.to_string().contains("scrape timeout greater"), "{err}");

    let bad_glob = write_file(dir.path(), "bad.yml", "scrape_config_files: ['[']\n");
    let err = Config::load_file(&bad_glob).unwrap_err();
    assert_eq!((err.line, err.column), (Some(1), Some(23)));
    assert!(
        err.to_string()
            .contains("error retrieving scrape config files"),
        "{err}"
    );
}
