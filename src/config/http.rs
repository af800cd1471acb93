//! HTTP client settings shared by scrape configs and remote_write, as
//! Prometheus's `common/config.HTTPClientConfig` (the parts edgescrape has).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

/// `basic_auth`: a username or username file with a password or a
/// password file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// A file holding the user name, re-read when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<PathBuf>,
    /// The password, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password, re-read when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// `authorization`: an `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme, `Bearer` by default.
    #[serde(default = "default_auth_type", rename = "type")]
    pub kind: String,
    /// The credentials, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    /// A file holding the credentials, re-read when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

fn default_auth_type() -> String {
    "Bearer".to_string()
}

/// `tls_config`: CA, client certificate, server-name and version settings.
/// Each of the CA, certificate and key is given inline (PEM) or as a file,
/// never both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CAs to verify the server against, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// PEM file of CAs to verify the server against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM client key, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// PEM client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against (SNI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Lowest TLS version offered (default: TLS 1.2, as Go's client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version offered (default: TLS 1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
}

impl TlsConfig {
    /// Whether a client certificate is configured, inline or as a file.
    pub fn has_client_cert(&self) -> bool {
        self.cert.is_some() || self.cert_file.is_some()
    }

    /// Whether a client key is configured, inline or as a file.
    pub fn has_client_key(&self) -> bool {
        self.key.is_some() || self.key_file.is_some()
    }
}

/// A TLS protocol version as Prometheus names them (`TLS10` ... `TLS13`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.0
    Tls10,
    /// TLS 1.1
    Tls11,
    /// TLS 1.2
    Tls12,
    /// TLS 1.3
    Tls13,
}

impl TlsVersion {
    const NAMES: [(TlsVersion, &'static str); 4] = [
        (TlsVersion::Tls10, "TLS10"),
        (TlsVersion::Tls11, "TLS11"),
        (TlsVersion::Tls12, "TLS12"),
        (TlsVersion::Tls13, "TLS13"),
    ];

    /// Parses Prometheus's name of a version.
    pub fn parse(s: &str) -> Result<TlsVersion, String> {
        Self::NAMES
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(v, _)| *v)
            .ok_or_else(|| format!("unknown TLS version: {s}"))
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Self::NAMES.iter().find(|(v, _)| v == self).map(|(_, n)| *n);
        f.write_str(name.unwrap_or("?"))
    }
}

text_form!(TlsVersion);

/// One `http_headers` entry, as Prometheus 2.55: values sent as they are,
/// secret values, and files whose trimmed content is a value (re-read when
/// they change).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    /// Plain values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Values that never print.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// Files holding one value each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
}

/// `oauth2`: a token from the client credentials flow (RFC 6749 4.4),
/// sent as the `Authorization` header, as Prometheus's `OAuth2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// The client id.
    #[serde(default)]
    pub client_id: String,
    /// The client secret, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret, re-read when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for, sent space-separated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The token endpoint.
    #[serde(default)]
    pub token_url: String,
    /// Extra form parameters of the token request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS settings of the token endpoint's connection.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// HTTP proxy of the token endpoint's connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// As [`HttpClientConfig::no_proxy`], for the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// As [`HttpClientConfig::proxy_from_environment`], for the token endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proxy_from_environment: bool,
    /// As [`HttpClientConfig::proxy_connect_header`], for the token endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
    /// Only `client_credentials`, the default, is accepted (validation
    /// refuses the JWT bearer grant by name).
    #[serde(default, skip_serializing)]
    pub grant_type: Option<String>,
}

/// The HTTP client fields a scrape or remote_write config carries. They are
/// written inline in the YAML; the deprecated `bearer_token` and
/// `bearer_token_file` arrive here as an [`Authorization`] of type Bearer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HttpClientConfig {
    /// Basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Authorization header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// OAuth2 client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// TLS settings.
    pub tls_config: TlsConfig,
    /// HTTP proxy URL (`http://` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Hosts, domains and networks reached without `proxy_url`,
    /// comma-separated, as Go's `NO_PROXY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Take the proxy from `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proxy_from_environment: bool,
    /// Headers sent to the proxy with each CONNECT (https targets).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
    /// Follow HTTP 3xx redirects.
    pub follow_redirects: bool,
    /// Extra request headers, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, HttpHeader>,
}

impl Default for HttpClientConfig {
    fn default() -> HttpClientConfig {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            http_headers: BTreeMap::new(),
        }
    }
}
