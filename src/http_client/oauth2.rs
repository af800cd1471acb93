//! OAuth2 client credentials (RFC 6749 4.4) for `oauth2`, as Prometheus's
//! `oauth2RoundTripper` over Go's `clientcredentials` package:
//!
//! - the token request is a form POST of `grant_type=client_credentials`,
//!   `scope` (space-separated) and `endpoint_params`, through a client of
//!   its own built from the section's `tls_config` and `proxy_url`;
//! - the client authenticates as Go's `AuthStyleAutoDetect` does: HTTP Basic
//!   with the URL-escaped id and secret first and, if that fails, the id and
//!   secret as form parameters; the style that worked is kept;
//! - a token is reused until ten seconds before it expires (Go's
//!   `expiryDelta`), or for ever without `expires_in`; a changed
//!   `client_secret_file` fetches a new one;
//! - a failed token request fails the request being prepared with its error;
//!   the next request tries again.
//!
//! Concurrency: shared by every loop of a pool. The cache is behind a short
//! lock that is never held during the token request, so at expiry a few
//! loops may each fetch a token; the last one stored wins.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use parking_lot::Mutex;

use super::{HttpClient, HttpClientError, SecretSource};
use crate::config::{HttpClientConfig, OAuth2, Secret};

/// How long before its expiry a token is replaced (Go's `expiryDelta`).
const EXPIRY_DELTA: Duration = Duration::from_secs(10);
/// Bound of one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest token response read (Go's oauth2 reads at most 1 MiB).
const MAX_RESPONSE: u64 = 1 << 20;

/// How the client id and secret travel (Go's `AuthStyle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthStyle {
    InHeader,
    InParams,
}

/// A token and when to stop using it.
#[derive(Debug)]
struct CachedToken {
    /// The `Authorization` header value: `<type> <access token>`.
    header: String,
    /// `None`: the server gave no `expires_in`.
    refresh_at: Option<Instant>,
    /// The client secret the token was fetched with.
    secret: String,
}

/// Fetches and caches the token of one `oauth2` section.
pub(super) struct TokenSource {
    config: OAuth2,
    secret: Option<SecretSource>,
    client: Box<HttpClient>,
    cached: Mutex<Option<CachedToken>>,
    style: Mutex<Option<AuthStyle>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.config.token_url)
            .finish_non_exhaustive()
    }
}

fn oauth2_error(message: impl Into<String>) -> HttpClientError {
    HttpClientError::OAuth2 {
        message: message.into(),
    }
}

impl TokenSource {
    /// A token source for `config`; fails when its TLS settings or proxy
    /// are unusable.
    pub(super) fn new(config: &OAuth2) -> Result<TokenSource, HttpClientError> {
        let client = HttpClient::new(&HttpClientConfig {
            tls_config: config.tls_config.clone(),
            proxy_url: config.proxy_url.clone(),
            no_proxy: config.no_proxy.clone(),
            proxy_from_environment: config.proxy_from_environment,
            proxy_connect_header: config.proxy_connect_header.clone(),
            ..HttpClientConfig::default()
        })?;
        Ok(TokenSource {
            config: config.clone(),
            secret: SecretSource::from_config(
                "client_secret_file",
                config.client_secret.as_ref().map(Secret::expose),
                config.client_secret_file.as_deref(),
            ),
            client: Box::new(client),
            cached: Mutex::new(None),
            style: Mutex::new(None),
        })
    }

    /// The `Authorization` header value: the cached token while it is
    /// fresh and was fetched with the current secret, else a new one.
    pub(super) fn header(&self) -> Result<String, HttpClientError> {
        let secret = match &self.secret {
            Some(s) => s
                .value()
                .map_err(|e| oauth2_error(format!("unable to read oauth2 client secret: {e}")))?,
            None => String::new(),
        };
        {
            let mut cached = self.cached.lock();
            if let Some(token) = &*cached {
                if token.secret != secret {
                    // As Prometheus: a new secret starts a new token source.
                    *cached = None;
                } else if token.refresh_at.map_or(true, |at| Instant::now() < at) {
                    return Ok(token.header.clone());
                }
            }
        }
        let token = self.fetch(secret)?;
        let header = token.header.clone();
        *self.cached.lock() = Some(token);
        Ok(header)
    }

    /// One token request, auto-detecting the auth style on first use.
    fn fetch(&self, secret: String) -> Result<CachedToken, HttpClientError> {
        let known = *self.style.lock();
        let result = match known {
            Some(style) => self.request(style, &secret),
            None => self
                .request(AuthStyle::InHeader, &secret)
                .map(|t| (t, AuthStyle::InHeader))
                .or_else(|_| {
                    self.request(AuthStyle::InParams, &secret)
                        .map(|t| (t, AuthStyle::InParams))
                })
                .map(|(token, style)| {
                    *self.style.lock() = Some(style);
                    token
                }),
        };
        let (header, expires_in) = result?;
        Ok(CachedToken {
            header,
            refresh_at: expires_in.map(|d| Instant::now() + d.saturating_sub(EXPIRY_DELTA)),
            secret,
        })
    }

    /// The form of the token request, as Go's `clientcredentials` builds it.
    fn form(&self, style: AuthStyle, secret: &str) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        let grant = self.config.endpoint_params.get("grant_type");
        form.append_pair(
            "grant_type",
            grant.map_or("client_credentials", String::as_str),
        );
        if !self.config.scopes.is_empty() {
            form.append_pair("scope", &self.config.scopes.join(" "));
        }
        for (k, v) in &self.config.endpoint_params {
            if k != "grant_type" {
                form.append_pair(k, v);
            }
        }
        if style == AuthStyle::InParams {
            form.append_pair("client_id", &self.config.client_id);
            if !secret.is_empty() {
                form.append_pair("client_secret", secret);
            }
        }
        form.finish()
    }

    /// POSTs the token request; returns the header value and `expires_in`.
    fn request(
        &self,
        style: AuthStyle,
        secret: &str,
    ) -> Result<(String, Option<Duration>), HttpClientError> {
        let mut request = self
            .client
            .request("POST", &self.config.token_url)?
            .timeout(TOKEN_TIMEOUT)
            .set("Content-Type", "application/x-www-form-urlencoded");
        if style == AuthStyle::InHeader {
            let escape =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", escape(&self.config.client_id), escape(secret));
            request = request.set("Authorization", &format!("Basic {}", BASE64.encode(pair)));
        }
        let response = match request.send_string(&self.form(style, secret)) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let status = format!("{code} {}", r.status_text());
                let body = read_body(r).unwrap_or_default();
                return Err(oauth2_error(format!(
                    "oauth2: cannot fetch token: {status}\nResponse: {}",
                    body.trim()
                )));
            }
            Err(e) => return Err(oauth2_error(format!("oauth2: cannot fetch token: {e}"))),
        };
        let content_type = response.content_type().to_string();
        let body = read_body(response)
            .map_err(|e| oauth2_error(format!("oauth2: cannot fetch token: {e}")))?;
        parse_token(&content_type, &body)
    }
}

fn read_body(response: ureq::Response) -> std::io::Result<String> {
    use std::io::Read;
    let mut body = String::new();
    response
        .into_reader()
        .take(MAX_RESPONSE)
        .read_to_string(&mut body)?;
    Ok(body)
}

/// A token response, JSON or form-encoded (as Go's oauth2 reads
/// `application/x-www-form-urlencoded` and `text/plain` answers).
fn parse_token(
    content_type: &str,
    body: &str,
) -> Result<(String, Option<Duration>), HttpClientError> {
    let (access, kind, expires_in) = match content_type {
        "application/x-www-form-urlencoded" | "text/plain" => {
            let mut fields = std::collections::HashMap::new();
            for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
                fields.insert(k.into_owned(), v.into_owned());
            }
            let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
            (get("access_token"), get("token_type"), get("expires_in"))
        }
        _ => {
            let json: serde_json::Value = serde_json::from_str(body)
                .map_err(|e| oauth2_error(format!("oauth2: cannot parse json: {e}")))?;
            let text = |k: &str| match &json[k] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            (text("access_token"), text("token_type"), text("expires_in"))
        }
    };
    if access.is_empty() {
        return Err(oauth2_error("oauth2: server response missing access_token"));
    }
    let expires_in = expires_in
        .parse::<u64>()
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs);
    Ok((format!("{} {access}", token_type(&kind)), expires_in))
}

/// Go's `Token.Type`: the scheme of the `Authorization` header.
fn token_type(kind: &str) -> &str {
    if kind.is_empty() || kind.eq_ignore_ascii_case("bearer") {
        "Bearer"
    } else if kind.eq_ignore_ascii_case("mac") {
        "MAC"
    } else if kind.eq_ignore_ascii_case("basic") {
        "Basic"
    } else {
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_parse_as_go_reads_them() {
        let (header, exp) = parse_token(
            "application/json",
            r#"{"access_token":"t1","token_type":"bearer","expires_in":3600}"#,
        )
        .unwrap();
        assert_eq!(header, "Bearer t1");
        assert_eq!(exp, Some(Duration::from_secs(3600)));
        let (header, exp) = parse_token(
            "application/json",
            r#"{"access_token":"t2","expires_in":"60"}"#,
        )
        .unwrap();
        assert_eq!(
            (header.as_str(), exp),
            ("Bearer t2", Some(Duration::from_secs(60)))
        );
        let (header, exp) = parse_token(
            "application/x-www-form-urlencoded",
            "access_token=t3&token_type=mac",
        )
        .unwrap();
        assert_eq!((header.as_str(), exp), ("MAC t3", None));
        let err = parse_token("application/json", r#"{"token_type":"bearer"}"#).unwrap_err();
        assert!(err.to_string().contains("missing access_token"), "{err}");
    }
}
