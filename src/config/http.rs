//! HTTP client settings shared by scrape configs and remote_write, as
//! Prometheus's `common/config.HTTPClientConfig` (the parts edgescrape has).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

/// `basic_auth`: username with a password or a password file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default)]
    pub username: String,
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

/// `tls_config`: CA, client certificate and server-name settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CAs to verify the server against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against (SNI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
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
    /// TLS settings.
    pub tls_config: TlsConfig,
    /// HTTP proxy URL (`http://` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Follow HTTP 3xx redirects.
    pub follow_redirects: bool,
}

impl Default for HttpClientConfig {
    fn default() -> HttpClientConfig {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            follow_redirects: true,
        }
    }
}
