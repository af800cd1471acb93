//! The YAML shape of scrape, remote_write and HTTP SD configs: the HTTP client fields
//! inline, as Prometheus writes them, each one a named field so unknown keys
//! are refused with their position. They are gathered into
//! [`HttpClientConfig`] on the way in.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::{
    default_true, Authorization, BasicAuth, ByteSize, DnsSdConfig, Duration, FileSdConfig,
    HttpClientConfig, HttpHeader, HttpSdConfig, OAuth2, QueueConfig, RemoteWriteConfig,
    ScrapeConfig, ScrapeProtocol, Secret, StaticConfig, TlsConfig,
};
use crate::relabel::RelabelConfig;

/// Checks that a field edgescrape accepts but has no use for is of the type
/// Prometheus gives it; the value is not kept.
fn inert<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    T::deserialize(d).map(drop)
}

/// The HTTP client keys a scrape, remote_write or HTTP SD config may carry
/// inline. The refusals in `validate` have checked the combinations before
/// these are gathered.
#[derive(Default)]
struct InlineHttp {
    basic_auth: Option<BasicAuth>,
    authorization: Option<Authorization>,
    oauth2: Option<OAuth2>,
    bearer_token: Option<Secret>,
    bearer_token_file: Option<PathBuf>,
    tls_config: TlsConfig,
    proxy_url: Option<String>,
    no_proxy: Option<String>,
    proxy_from_environment: bool,
    proxy_connect_header: BTreeMap<String, Vec<Secret>>,
    follow_redirects: bool,
    http_headers: BTreeMap<String, HttpHeader>,
}

/// Declares a raw config struct with the inline HTTP client keys after the
/// given fields, and its `take_http` that moves them out as an
/// [`HttpClientConfig`].
macro_rules! with_inline_http {
    (
        $(#[$meta:meta])*
        struct $name:ident { $($fields:tt)* }
    ) => {
        $(#[$meta])*
        pub(super) struct $name {
            $($fields)*
            #[serde(default)]
            basic_auth: Option<BasicAuth>,
            #[serde(default)]
            authorization: Option<Authorization>,
            #[serde(default)]
            oauth2: Option<OAuth2>,
            #[serde(default)]
            bearer_token: Option<Secret>,
            #[serde(default)]
            bearer_token_file: Option<PathBuf>,
            #[serde(default)]
            tls_config: TlsConfig,
            #[serde(default)]
            proxy_url: Option<String>,
            #[serde(default)]
            no_proxy: Option<String>,
            #[serde(default)]
            proxy_from_environment: bool,
            #[serde(default)]
            proxy_connect_header: BTreeMap<String, Vec<Secret>>,
            #[serde(default = "default_true")]
            follow_redirects: bool,
            #[serde(default)]
            http_headers: BTreeMap<String, HttpHeader>,
            /// Read for its type only: edgescrape speaks HTTP/1.1, which both
            /// values allow (`true` permits HTTP/2, it does not demand it).
            #[serde(default, deserialize_with = "inert::<bool, _>")]
            enable_http2: (),
        }

        impl $name {
            fn take_http(&mut self) -> HttpClientConfig {
                InlineHttp {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    oauth2: self.oauth2.take(),
                    bearer_token: self.bearer_token.take(),
                    bearer_token_file: self.bearer_token_file.take(),
                    tls_config: std::mem::take(&mut self.tls_config),
                    proxy_url: self.proxy_url.take(),
                    no_proxy: self.no_proxy.take(),
                    proxy_from_environment: self.proxy_from_environment,
                    proxy_connect_header: std::mem::take(&mut self.proxy_connect_header),
                    follow_redirects: self.follow_redirects,
                    http_headers: std::mem::take(&mut self.http_headers),
                }
                .gather()
            }
        }
    };
}

impl InlineHttp {
    /// As Prometheus: the deprecated `bearer_token` and `bearer_token_file`
    /// become an `authorization` of type Bearer.
    fn gather(self) -> HttpClientConfig {
        let authorization = match (
            self.authorization,
            self.bearer_token,
            self.bearer_token_file,
        ) {
            (Some(a), _, _) => Some(a),
            (None, Some(token), _) if !token.is_empty() => Some(Authorization {
                kind: "Bearer".to_string(),
                credentials: Some(token),
                credentials_file: None,
            }),
            (None, _, Some(file)) if !file.as_os_str().is_empty() => Some(Authorization {
                kind: "Bearer".to_string(),
                credentials: None,
                credentials_file: Some(file),
            }),
            (None, _, _) => None,
        };
        HttpClientConfig {
            basic_auth: self.basic_auth,
            authorization,
            oauth2: self.oauth2,
            tls_config: self.tls_config,
            proxy_url: self.proxy_url.filter(|u| !u.is_empty()),
            no_proxy: self.no_proxy.filter(|n| !n.is_empty()),
            proxy_from_environment: self.proxy_from_environment,
            proxy_connect_header: self.proxy_connect_header,
            follow_redirects: self.follow_redirects,
            http_headers: self.http_headers,
        }
    }
}

with_inline_http! {
    /// `scrape_configs` entry as written.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawScrapeConfig {
        #[serde(default)]
        job_name: String,
        #[serde(default)]
        scrape_interval: Option<Duration>,
        #[serde(default)]
        scrape_timeout: Option<Duration>,
        #[serde(default)]
        scrape_protocols: Option<Vec<ScrapeProtocol>>,
        #[serde(default)]
        fallback_scrape_protocol: Option<ScrapeProtocol>,
        /// Only `false` gets here (validate refuses `true`): edgescrape reads
        /// classic histograms only, which is what `false` asks for.
        #[serde(default, deserialize_with = "inert::<bool, _>")]
        scrape_classic_histograms: (),
        #[serde(default = "super::default_metrics_path")]
        metrics_path: String,
        #[serde(default = "super::default_scheme")]
        scheme: String,
        #[serde(default)]
        params: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        honor_labels: bool,
        #[serde(default = "default_true")]
        honor_timestamps: bool,
        #[serde(default)]
        track_timestamps_staleness: bool,
        #[serde(default)]
        enable_compression: Option<bool>,
        #[serde(default)]
        static_configs: Vec<StaticConfig>,
        #[serde(default)]
        file_sd_configs: Vec<FileSdConfig>,
        #[serde(default)]
        http_sd_configs: Vec<HttpSdConfig>,
        #[serde(default)]
        dns_sd_configs: Vec<DnsSdConfig>,
        #[serde(default)]
        relabel_configs: Vec<RelabelConfig>,
        #[serde(default)]
        metric_relabel_configs: Vec<RelabelConfig>,
        #[serde(default)]
        body_size_limit: Option<ByteSize>,
        #[serde(default)]
        sample_limit: Option<u64>,
        #[serde(default)]
        label_limit: Option<u64>,
        #[serde(default)]
        label_name_length_limit: Option<u64>,
        #[serde(default)]
        label_value_length_limit: Option<u64>,
        #[serde(default)]
        target_limit: Option<u64>,
        #[serde(default)]
        keep_dropped_targets: Option<u64>,
        #[serde(default)]
        scrape_failure_log_file: Option<PathBuf>,
    }
}

impl From<RawScrapeConfig> for ScrapeConfig {
    fn from(mut r: RawScrapeConfig) -> ScrapeConfig {
        let http = r.take_http();
        // Fields accepted for compatibility carry nothing.
        let RawScrapeConfig {
            scrape_classic_histograms: (),
            enable_http2: (),
            ..
        } = r;
        ScrapeConfig {
            job_name: r.job_name,
            scrape_interval: r.scrape_interval,
            scrape_timeout: r.scrape_timeout,
            scrape_protocols: r.scrape_protocols,
            fallback_scrape_protocol: r.fallback_scrape_protocol,
            metrics_path: r.metrics_path,
            scheme: r.scheme,
            params: r.params,
            honor_labels: r.honor_labels,
            honor_timestamps: r.honor_timestamps,
            track_timestamps_staleness: r.track_timestamps_staleness,
            enable_compression: r.enable_compression,
            http,
            static_configs: r.static_configs,
            file_sd_configs: r.file_sd_configs,
            http_sd_configs: r.http_sd_configs,
            dns_sd_configs: r.dns_sd_configs,
            relabel_configs: r.relabel_configs,
            metric_relabel_configs: r.metric_relabel_configs,
            body_size_limit: r.body_size_limit,
            sample_limit: r.sample_limit,
            label_limit: r.label_limit,
            label_name_length_limit: r.label_name_length_limit,
            label_value_length_limit: r.label_value_length_limit,
            target_limit: r.target_limit,
            keep_dropped_targets: r.keep_dropped_targets,
            scrape_failure_log_file: r
                .scrape_failure_log_file
                .filter(|p| !p.as_os_str().is_empty()),
        }
    }
}

with_inline_http! {
    /// `http_sd_configs` entry as written.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawHttpSdConfig {
        #[serde(default)]
        url: String,
        #[serde(default = "super::default_http_sd_refresh")]
        refresh_interval: Duration,
    }
}

impl From<RawHttpSdConfig> for HttpSdConfig {
    fn from(mut r: RawHttpSdConfig) -> HttpSdConfig {
        let http = r.take_http();
        let RawHttpSdConfig {
            enable_http2: (), ..
        } = r;
        HttpSdConfig {
            url: r.url,
            refresh_interval: r.refresh_interval,
            http,
        }
    }
}

/// `metadata_config` of a remote_write entry. edgescrape sends no metric
/// metadata; validate lets this through only with `send: false`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadataConfig {
    #[serde(default, deserialize_with = "inert::<bool, _>")]
    send: (),
    #[serde(default, deserialize_with = "inert::<Duration, _>")]
    send_interval: (),
    #[serde(default, deserialize_with = "inert::<u64, _>")]
    max_samples_per_send: (),
}

/// Checks a `metadata_config` section's shape; its `send: false` has been
/// checked by validate.
fn metadata_off<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    let RawMetadataConfig {
        send: (),
        send_interval: (),
        max_samples_per_send: (),
    } = RawMetadataConfig::deserialize(d)?;
    Ok(())
}

with_inline_http! {
    /// `remote_write` entry as written.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawRemoteWriteConfig {
        #[serde(default)]
        url: String,
        #[serde(default = "super::default_remote_timeout")]
        remote_timeout: Duration,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        write_relabel_configs: Vec<RelabelConfig>,
        #[serde(default)]
        queue_config: QueueConfig,
        /// Only `false` gets here: edgescrape stores no exemplars.
        #[serde(default, deserialize_with = "inert::<bool, _>")]
        send_exemplars: (),
        /// Only `false` gets here: edgescrape stores no native histograms.
        #[serde(default, deserialize_with = "inert::<bool, _>")]
        send_native_histograms: (),
        #[serde(default, deserialize_with = "metadata_off")]
        metadata_config: (),
    }
}

impl From<RawRemoteWriteConfig> for RemoteWriteConfig {
    fn from(mut r: RawRemoteWriteConfig) -> RemoteWriteConfig {
        let http = r.take_http();
        // Fields accepted for compatibility carry nothing.
        let RawRemoteWriteConfig {
            send_exemplars: (),
            send_native_histograms: (),
            metadata_config: (),
            enable_http2: (),
            ..
        } = r;
        RemoteWriteConfig {
            url: r.url,
            remote_timeout: r.remote_timeout,
            headers: r.headers,
            name: r.name.filter(|n| !n.is_empty()),
            write_relabel_configs: r.write_relabel_configs,
            queue_config: r.queue_config,
            http,
        }
    }
}
