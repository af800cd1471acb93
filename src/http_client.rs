//! The HTTP client a scrape pool (or a remote_write queue) talks through,
//! built from an [`HttpClientConfig`] as Prometheus's
//! `common/config.NewClientFromConfig` builds its `http.Client`.
//!
//! [`HttpClient`] wraps a blocking [`ureq::Agent`] (connection pool, proxy,
//! redirects, TLS) and adds what ureq does not do by itself:
//!
//! - `basic_auth` and `authorization` headers whose secrets may live in
//!   files; a file is re-read when its modification time or length changes,
//!   so rotating a token needs no reload (Prometheus re-reads on every
//!   request; a `stat` per request is the cheaper equivalent);
//! - `oauth2` client credentials tokens, cached until shortly before they
//!   expire ([`oauth2`]);
//! - `http_headers` whose values may live in files, re-read the same way;
//! - a TLS client configuration (rustls) from `ca` / `ca_file`, `cert` /
//!   `cert_file`, `key` / `key_file`, `server_name`, `insecure_skip_verify`
//!   and `min_version` / `max_version`, rebuilt when one of its files
//!   changes.
//!
//! Concurrency: one `HttpClient` is shared (`Arc`) by all loops of a pool.
//! [`HttpClient::get`] takes a short internal lock only to compare file
//! stamps and clone the agent; no lock is held across I/O on the network.
//!
//! - the proxy of each request from `proxy_url`, `no_proxy` or the
//!   environment ([`proxy`]), one agent per proxy in use.
//!
//! - `proxy_connect_header` through a local forwarder ([`connect_adapter`]),
//!   as ureq 2 sends nothing but `Proxy-Authorization` with a CONNECT.
//!
//! Connections: an agent keeps its keep-alive connections idle between
//! requests, up to [`MAX_IDLE_CONNECTIONS`] per host, so a pool whose
//! targets all live on one host (one exporter per path, or a proxy) still
//! keeps one connection per target instead of ureq's default of one per
//! host. Every connection opened is counted on the thread that opened it
//! ([`connections_opened_on_this_thread`]; ureq is blocking, so that is the
//! thread that made the request), which is how a scrape loop attributes
//! connections to its target.
//!
//! Deliberately not done: HTTP/2 (ureq 2 speaks HTTP/1.1, as most exporters
//! do); `https://` proxies, as ureq 2 speaks plain HTTP to a proxy, so config
//! validation refuses them.

mod connect_adapter;
mod oauth2;
mod proxy;

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use self::proxy::ProxySelector;
use crate::config::{HttpClientConfig, Secret, TlsConfig, TlsVersion};

/// Redirects followed when `follow_redirects` is true, as Go's client (10).
const MAX_REDIRECTS: u32 = 10;

/// Idle keep-alive connections an agent keeps, per host and in all. A
/// connection is idle only between two requests of one caller, so the
/// number actually kept is bounded by the callers (targets of a pool,
/// shards of a queue); this only has to be above them.
pub const MAX_IDLE_CONNECTIONS: usize = 4096;

thread_local! {
    static CONNECTIONS_OPENED: Cell<u64> = const { Cell::new(0) };
}

/// Connections (TCP, with TLS on top where the URL asks for it) that
/// requests made on the calling thread have opened through any
/// [`HttpClient`] since the thread started. A request over a kept-alive
/// connection opens none.
pub fn connections_opened_on_this_thread() -> u64 {
    CONNECTIONS_OPENED.with(Cell::get)
}

/// ureq asks its resolver for addresses exactly when it is about to open
/// a new connection (to the target, or to the proxy): the place to count
/// them. Resolves as ureq's own resolver does.
fn resolve_counting(netloc: &str) -> io::Result<Vec<SocketAddr>> {
    CONNECTIONS_OPENED.with(|c| c.set(c.get() + 1));
    netloc.to_socket_addrs().map(Iterator::collect)
}

/// Why an HTTP client could not be built or could not authenticate.
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpClientError {
    /// A credential, certificate or key file could not be read.
    ReadFile {
        /// What the file holds (`password_file`, `ca_file`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A certificate or key file holds nothing usable, or rustls refused it.
    Tls {
        /// What was being loaded or built.
        what: &'static str,
        /// Why it failed.
        message: String,
    },
    /// The OAuth2 token could not be obtained.
    OAuth2 {
        /// Why, as Go's oauth2 package words it.
        message: String,
    },
    /// `proxy_url` is not a proxy ureq can use.
    Proxy {
        /// The configured URL.
        url: String,
        /// Why it failed.
        message: String,
    },
}

impl fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpClientError::ReadFile { what, path, source } => {
                write!(f, "unable to read {what} {}: {source}", path.display())
            }
            HttpClientError::Tls { what, message } => write!(f, "TLS {what}: {message}"),
            HttpClientError::OAuth2 { message } => f.write_str(message),
            HttpClientError::Proxy { url, message } => {
                write!(f, "invalid proxy_url {url:?}: {message}")
            }
        }
    }
}

impl std::error::Error for HttpClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpClientError::ReadFile { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Identity of a file's content as far as `stat` can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    fs::metadata(path).ok().map(|m| FileStamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, HttpClientError> {
    fs::read(path).map_err(|source| HttpClientError::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// A secret that is either inline or in a file re-read when it changes.
#[derive(Debug)]
enum SecretSource {
    Inline(String),
    File {
        what: &'static str,
        path: PathBuf,
        cached: Mutex<Option<(Option<FileStamp>, String)>>,
    },
}

impl SecretSource {
    /// The secret a config gives inline or as a file (`what` names the
    /// file's key); the file wins when both are set (config validation
    /// refuses that combination upstream).
    fn from_config(
        what: &'static str,
        inline: Option<&str>,
        file: Option<&Path>,
    ) -> Option<SecretSource> {
        match (inline, file) {
            (_, Some(path)) => Some(SecretSource::file(what, path)),
            (Some(value), None) => Some(SecretSource::Inline(value.to_string())),
            (None, None) => None,
        }
    }

    fn file(what: &'static str, path: &Path) -> SecretSource {
        SecretSource::File {
            what,
            path: path.to_path_buf(),
            cached: Mutex::new(None),
        }
    }

    /// The current value; file contents are trimmed of surrounding
    /// whitespace, as Prometheus does.
    fn value(&self) -> Result<String, HttpClientError> {
        match self {
            SecretSource::Inline(v) => Ok(v.clone()),
            SecretSource::File { what, path, cached } => {
                let now = stamp(path);
                if let Some((seen, value)) = &*cached.lock() {
                    if now.is_some() && *seen == now {
                        return Ok(value.clone());
                    }
                }
                let bytes = read_file(what, path)?;
                let value = String::from_utf8_lossy(&bytes).trim().to_string();
                *cached.lock() = Some((now, value.clone()));
                Ok(value)
            }
        }
    }
}

/// Builds the `Authorization` header value for each request.
#[derive(Debug)]
enum AuthHeader {
    Basic {
        username: Option<SecretSource>,
        password: Option<SecretSource>,
    },
    Credentials {
        kind: String,
        credentials: Option<SecretSource>,
    },
    OAuth2(Box<oauth2::TokenSource>),
}

impl AuthHeader {
    fn from_config(cfg: &HttpClientConfig) -> Result<Option<AuthHeader>, HttpClientError> {
        if let Some(o) = &cfg.oauth2 {
            let source = oauth2::TokenSource::new(o)?;
            return Ok(Some(AuthHeader::OAuth2(Box::new(source))));
        }
        Ok(Self::from_static_config(cfg))
    }

    fn from_static_config(cfg: &HttpClientConfig) -> Option<AuthHeader> {
        if let Some(basic) = &cfg.basic_auth {
            return Some(AuthHeader::Basic {
                username: SecretSource::from_config(
                    "username_file",
                    Some(basic.username.as_str()),
                    basic.username_file.as_deref(),
                ),
                password: SecretSource::from_config(
                    "password_file",
                    basic.password.as_ref().map(Secret::expose),
                    basic.password_file.as_deref(),
                ),
            });
        }
        cfg.authorization
            .as_ref()
            .map(|auth| AuthHeader::Credentials {
                kind: auth.kind.clone(),
                credentials: SecretSource::from_config(
                    "credentials_file",
                    auth.credentials.as_ref().map(Secret::expose),
                    auth.credentials_file.as_deref(),
                ),
            })
    }

    fn value(&self) -> Result<String, HttpClientError> {
        fn secret(source: &Option<SecretSource>) -> Result<String, HttpClientError> {
            source
                .as_ref()
                .map_or(Ok(String::new()), SecretSource::value)
        }
        match self {
            AuthHeader::Basic { username, password } => {
                let raw = format!("{}:{}", secret(username)?, secret(password)?);
                Ok(format!("Basic {}", BASE64.encode(raw.as_bytes())))
            }
            AuthHeader::Credentials { kind, credentials } => {
                Ok(format!("{kind} {}", secret(credentials)?))
            }
            AuthHeader::OAuth2(source) => source.header(),
        }
    }
}

/// One `http_headers` entry: its name and every value source, in
/// Prometheus's order (values, secrets, files).
#[derive(Debug)]
struct ExtraHeader {
    name: String,
    values: Vec<SecretSource>,
}

impl ExtraHeader {
    fn from_config(config: &HttpClientConfig) -> Vec<ExtraHeader> {
        config
            .http_headers
            .iter()
            .map(|(name, h)| {
                let inline = h.values.iter().map(String::as_str);
                let secrets = h.secrets.iter().map(Secret::expose);
                let mut values: Vec<SecretSource> = inline
                    .chain(secrets)
                    .map(|v| SecretSource::Inline(v.to_string()))
                    .collect();
                values.extend(
                    h.files
                        .iter()
                        .map(|f| SecretSource::file("headers file", f)),
                );
                ExtraHeader {
                    name: name.clone(),
                    values,
                }
            })
            .collect()
    }

    /// The header's value: Go sends one header line per value; the values
    /// are joined with `, ` here, which HTTP defines as the same thing.
    fn value(&self) -> Result<String, HttpClientError> {
        let values: Vec<String> = self
            .values
            .iter()
            .map(SecretSource::value)
            .collect::<Result<_, _>>()?;
        Ok(values.join(", "))
    }
}

/// The TLS configuration, the stamps of the files it was built from, and
/// one agent (connection pool) per proxy in use, built on first use.
struct AgentState {
    tls: Arc<rustls::ClientConfig>,
    tls_stamps: Vec<Option<FileStamp>>,
    /// The agent that talks to targets directly, once built.
    direct: Option<ureq::Agent>,
    /// The agents that talk through a proxy, keyed by its URL.
    proxied: HashMap<String, ureq::Agent>,
    /// With `proxy_connect_header`: the forwarder to each proxy in use,
    /// kept for the client's life (TLS rebuilds keep them).
    adapters: HashMap<String, connect_adapter::ConnectAdapter>,
}

/// An HTTP client built from an [`HttpClientConfig`]; see the module docs.
pub struct HttpClient {
    config: HttpClientConfig,
    auth: Option<AuthHeader>,
    headers: Vec<ExtraHeader>,
    proxy: ProxySelector,
    /// `proxy_connect_header` as `Name: value` lines, one per value.
    connect_headers: Arc<Vec<String>>,
    state: Mutex<AgentState>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds a client; fails when a TLS file or the proxy URL is unusable.
    /// Credential files are read lazily, on the first request. With
    /// `proxy_from_environment` the proxy variables are read now.
    pub fn new(config: &HttpClientConfig) -> Result<HttpClient, HttpClientError> {
        HttpClient::with_environment(config, |name| std::env::var(name).ok())
    }

    /// As [`HttpClient::new`], reading the proxy variables of
    /// `proxy_from_environment` through `var` instead of the process
    /// environment.
    pub fn with_environment(
        config: &HttpClientConfig,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<HttpClient, HttpClientError> {
        let proxy = if config.proxy_from_environment {
            ProxySelector::from_environment(var)
        } else {
            ProxySelector::from_url(config.proxy_url.as_deref(), config.no_proxy.as_deref())
        };
        let connect_headers: Vec<String> = config
            .proxy_connect_header
            .iter()
            .flat_map(|(name, values)| {
                values
                    .iter()
                    .map(move |v| format!("{name}: {}", v.expose()))
            })
            .collect();
        let client = HttpClient {
            config: config.clone(),
            auth: AuthHeader::from_config(config)?,
            headers: ExtraHeader::from_config(config),
            proxy,
            connect_headers: Arc::new(connect_headers),
            state: Mutex::new(AgentState {
                tls: build_tls(&config.tls_config)?,
                tls_stamps: tls_stamps(&config.tls_config),
                direct: None,
                proxied: HashMap::new(),
                adapters: HashMap::new(),
            }),
        };
        if let Some(url) = &config.proxy_url {
            // Refuse an unusable proxy now rather than at every request.
            client.agent_for(Some(url))?;
        }
        Ok(client)
    }

    /// A GET request for `url` through the current agent with the
    /// `Authorization` header set. Rebuilds the TLS configuration first if
    /// one of its files changed; if the rebuild fails the previous one stays
    /// and the error is returned.
    pub fn get(&self, url: &str) -> Result<ureq::Request, HttpClientError> {
        self.request("GET", url)
    }

    /// A request with any `method` for `url`, prepared as [`HttpClient::get`]
    /// prepares a GET, through the proxy the config picks for `url`.
    pub fn request(&self, method: &str, url: &str) -> Result<ureq::Request, HttpClientError> {
        let agent = self.agent_for(self.proxy.proxy_for(url))?;
        let mut request = agent.request(method, url);
        for header in &self.headers {
            request = request.set(&header.name, &header.value()?);
        }
        if let Some(auth) = &self.auth {
            request = request.set("Authorization", &auth.value()?);
        }
        Ok(request)
    }

    /// The agent of `proxy_url` (or the direct one without), rebuilt if a
    /// TLS file changed since it was built.
    pub fn agent(&self) -> Result<ureq::Agent, HttpClientError> {
        self.agent_for(self.config.proxy_url.as_deref())
    }

    /// The agent that talks through `proxy` (`None`: directly).
    fn agent_for(&self, proxy: Option<&str>) -> Result<ureq::Agent, HttpClientError> {
        let now = tls_stamps(&self.config.tls_config);
        let mut state = self.state.lock();
        if state.tls_stamps != now {
            state.tls = build_tls(&self.config.tls_config)?;
            state.direct = None;
            state.proxied.clear();
            state.tls_stamps = now;
            log::debug!("TLS files changed, client rebuilt");
        }
        // Looked up by `&str`: no copy of the proxy URL per request.
        let built = match proxy {
            None => state.direct.as_ref(),
            Some(url) => state.proxied.get(url),
        };
        if let Some(agent) = built {
            return Ok(agent.clone());
        }
        let adapted = |url: &str| !self.connect_headers.is_empty() || url.starts_with("https://");
        let via = match proxy {
            Some(url) if adapted(url) => Some(self.adapter_url(&mut state, url)?),
            _ => proxy.map(str::to_string),
        };
        let agent = build_agent(&self.config, &state.tls, via.as_deref())?;
        match proxy {
            None => state.direct = Some(agent.clone()),
            Some(url) => {
                state.proxied.insert(url.to_string(), agent.clone());
            }
        }
        Ok(agent)
    }

    /// The URL of the forwarder to `proxy` that adds the connect headers
    /// and speaks TLS to an `https://` proxy (started on first use), with
    /// the proxy URL's user info so ureq still sends `Proxy-Authorization`.
    fn adapter_url(&self, state: &mut AgentState, proxy: &str) -> Result<String, HttpClientError> {
        let invalid = |message: String| HttpClientError::Proxy {
            url: proxy.to_string(),
            message,
        };
        let parsed = url::Url::parse(proxy).map_err(|e| invalid(e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| invalid("no host".to_string()))?;
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| invalid("no port".to_string()))?;
        let tls = match parsed.scheme() {
            "http" => None,
            "https" => {
                let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                    .map_err(|e| invalid(e.to_string()))?;
                Some((Arc::clone(&state.tls), name))
            }
            other => return Err(invalid(format!("scheme {other:?} is not http or https"))),
        };
        if !state.adapters.contains_key(proxy) {
            let upstream = connect_adapter::Upstream {
                addr: format!("{host}:{port}"),
                tls,
            };
            let adapter =
                connect_adapter::ConnectAdapter::start(upstream, Arc::clone(&self.connect_headers))
                    .map_err(|e| invalid(format!("starting the proxy forwarder: {e}")))?;
            state.adapters.insert(proxy.to_string(), adapter);
        }
        let local = state.adapters[proxy].local_addr();
        let mut via =
            url::Url::parse(&format!("http://{local}")).map_err(|e| invalid(e.to_string()))?;
        // Setting user info on an http URL cannot fail.
        let _ = via.set_username(parsed.username());
        let _ = via.set_password(parsed.password());
        Ok(via.to_string())
    }
}

fn tls_stamps(tls: &TlsConfig) -> Vec<Option<FileStamp>> {
    [&tls.ca_file, &tls.cert_file, &tls.key_file]
        .into_iter()
        .flatten()
        .map(|p| stamp(p))
        .collect()
}

fn build_agent(
    config: &HttpClientConfig,
    tls: &Arc<rustls::ClientConfig>,
    proxy: Option<&str>,
) -> Result<ureq::Agent, HttpClientError> {
    let mut builder = ureq::AgentBuilder::new()
        .tls_config(Arc::clone(tls))
        .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost)
        .max_idle_connections(MAX_IDLE_CONNECTIONS)
        .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
        .resolver(resolve_counting);
    builder = if config.follow_redirects {
        builder.redirects(MAX_REDIRECTS)
    } else {
        builder.redirects(0)
    };
    if let Some(url) = proxy {
        let proxy = ureq::Proxy::new(url).map_err(|e| HttpClientError::Proxy {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        builder = builder.proxy(proxy);
    }
    Ok(builder.build())
}

fn tls_error(what: &'static str, e: impl fmt::Display) -> HttpClientError {
    HttpClientError::Tls {
        what,
        message: e.to_string(),
    }
}

/// Builds the rustls client configuration for `tls`. The default one
/// (built-in roots, no client certificate), which nearly every scrape
/// client uses, is built once and shared: a root store and session cache
/// of its own cost each client ~25 kB, 2.5 MB at 100 plain-HTTP targets.
pub fn build_tls(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, HttpClientError> {
    static DEFAULT: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if *tls != TlsConfig::default() {
        return build_tls_config(tls);
    }
    if let Some(shared) = DEFAULT.get() {
        return Ok(shared.clone());
    }
    let built = build_tls_config(tls)?;
    Ok(DEFAULT.get_or_init(|| built).clone())
}

/// Builds a fresh rustls client configuration for `tls`.
fn build_tls_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, HttpClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocol_versions(tls))
        .map_err(|e| tls_error("protocol versions", e))?;

    let webpki = if tls.insecure_skip_verify {
        None
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match Pem::from_config(("ca", "ca_file"), tls.ca.as_deref(), tls.ca_file.as_deref()) {
            Some(pem) => {
                for cert in pem.certs()? {
                    roots
                        .add(cert)
                        .map_err(|e| tls_error("CA certificate", e))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| tls_error("verifier", e))?;
        Some(webpki)
    };
    let server_name = match &tls.server_name {
        Some(name) if webpki.is_some() => {
            Some(ServerName::try_from(name.clone()).map_err(|e| tls_error("server_name", e))?)
        }
        _ => None,
    };
    let verifier = Arc::new(Verifier {
        webpki,
        server_name,
        provider,
    });
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cert = Pem::from_config(
        ("cert", "cert_file"),
        tls.cert.as_deref(),
        tls.cert_file.as_deref(),
    );
    let key = Pem::from_config(
        ("key", "key_file"),
        tls.key.as_ref().map(Secret::expose),
        tls.key_file.as_deref(),
    );
    let config = match (cert, key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(cert.certs()?, key.key()?)
            .map_err(|e| tls_error("client certificate", e))?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(HttpClientError::Tls {
                what: "client certificate",
                message: "a certificate and a key must be given together".to_string(),
            })
        }
    };
    Ok(Arc::new(config))
}

/// The TLS versions `min_version` and `max_version` allow; versions below
/// TLS 1.2 are refused by config validation, rustls having none.
fn protocol_versions(tls: &TlsConfig) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let min = tls.min_version.unwrap_or(TlsVersion::Tls12);
    let max = tls.max_version.unwrap_or(TlsVersion::Tls13);
    [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, rustls_version)| rustls_version)
    .collect()
}

/// A PEM block from a `tls_config`: inline (`ca`, `cert`, `key`) or a file
/// (`ca_file`, ...); the file wins if both are set (validation refuses that).
enum Pem<'a> {
    Inline(&'static str, &'a str),
    File(&'static str, &'a Path),
}

impl<'a> Pem<'a> {
    /// `names` are the inline and the file key (`("ca", "ca_file")`).
    fn from_config(
        names: (&'static str, &'static str),
        inline: Option<&'a str>,
        file: Option<&'a Path>,
    ) -> Option<Pem<'a>> {
        match (inline, file) {
            (_, Some(path)) => Some(Pem::File(names.1, path)),
            (Some(text), None) => Some(Pem::Inline(names.0, text)),
            (None, None) => None,
        }
    }

    /// The bytes and a description of where they came from, for errors.
    fn read(&self) -> Result<(Vec<u8>, String), HttpClientError> {
        match self {
            Pem::Inline(what, text) => Ok((text.as_bytes().to_vec(), format!("inline {what}"))),
            Pem::File(what, path) => Ok((read_file(what, path)?, path.display().to_string())),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Pem::Inline(what, _) | Pem::File(what, _) => what,
        }
    }

    fn certs(&self) -> Result<Vec<CertificateDer<'static>>, HttpClientError> {
        let (pem, origin) = self.read()?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| tls_error(self.what(), format!("{origin}: {e}")))?;
        if certs.is_empty() {
            return Err(tls_error(
                self.what(),
                format!("no PEM certificate in {origin}"),
            ));
        }
        Ok(certs)
    }

    fn key(&self) -> Result<PrivateKeyDer<'static>, HttpClientError> {
        let (pem, origin) = self.read()?;
        rustls_pemfile::private_key(&mut pem.as_slice())
            .map_err(|e| tls_error(self.what(), format!("{origin}: {e}")))?
            .ok_or_else(|| tls_error(self.what(), format!("no PEM private key in {origin}")))
    }
}

/// Checks the server's certificate as `tls_config` asks: the chain as
/// webpki does, against the configured `server_name` when set instead of the
/// host in the URL; or, with `insecure_skip_verify` (`webpki` is `None`), not
/// at all. The handshake signatures are checked in every case, so the
/// session is well-formed.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    server_name: Option<ServerName<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                self.server_name.as_ref().unwrap_or(server_name),
                ocsp_response,
                now,
            ),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_is_reread_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        fs::write(&path, "first\n").unwrap();
        let secret = SecretSource::file("credentials_file", &path);
        assert_eq!(secret.value().unwrap(), "first");
        fs::write(&path, "second-token\n").unwrap();
        assert_eq!(secret.value().unwrap(), "second-token");
        fs::remove_file(&path).unwrap();
        let err = secret.value().unwrap_err().to_string();
        assert!(err.contains("credentials_file"), "{err}");
    }
}
