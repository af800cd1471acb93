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
//! - a TLS client configuration (rustls) from `ca_file`, `cert_file` /
//!   `key_file`, `server_name` and `insecure_skip_verify`, rebuilt when any
//!   of those files changes.
//!
//! Concurrency: one `HttpClient` is shared (`Arc`) by all loops of a pool.
//! [`HttpClient::get`] takes a short internal lock only to compare file
//! stamps and clone the agent; no lock is held across I/O on the network.
//!
//! Deliberately not done: HTTP/2 (ureq 2 speaks HTTP/1.1, as most exporters
//! do), OAuth2, and proxy settings from the environment.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::{HttpClientConfig, Secret, TlsConfig};

/// Redirects followed when `follow_redirects` is true, as Go's client (10).
const MAX_REDIRECTS: u32 = 10;

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
        inline: Option<&Secret>,
        file: Option<&Path>,
    ) -> Option<SecretSource> {
        match (inline, file) {
            (_, Some(path)) => Some(SecretSource::file(what, path)),
            (Some(secret), None) => Some(SecretSource::Inline(secret.expose().to_string())),
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
        username: String,
        password: Option<SecretSource>,
    },
    Credentials {
        kind: String,
        credentials: Option<SecretSource>,
    },
}

impl AuthHeader {
    fn from_config(cfg: &HttpClientConfig) -> Option<AuthHeader> {
        if let Some(basic) = &cfg.basic_auth {
            return Some(AuthHeader::Basic {
                username: basic.username.clone(),
                password: SecretSource::from_config(
                    "password_file",
                    basic.password.as_ref(),
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
                    auth.credentials.as_ref(),
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
                let raw = format!("{username}:{}", secret(password)?);
                Ok(format!("Basic {}", BASE64.encode(raw.as_bytes())))
            }
            AuthHeader::Credentials { kind, credentials } => {
                Ok(format!("{kind} {}", secret(credentials)?))
            }
        }
    }
}

/// The agent and the stamps of the TLS files it was built from.
struct AgentState {
    agent: ureq::Agent,
    tls_stamps: Vec<Option<FileStamp>>,
}

/// An HTTP client built from an [`HttpClientConfig`]; see the module docs.
pub struct HttpClient {
    config: HttpClientConfig,
    auth: Option<AuthHeader>,
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
    /// Credential files are read lazily, on the first request.
    pub fn new(config: &HttpClientConfig) -> Result<HttpClient, HttpClientError> {
        let agent = build_agent(config)?;
        Ok(HttpClient {
            config: config.clone(),
            auth: AuthHeader::from_config(config),
            state: Mutex::new(AgentState {
                agent,
                tls_stamps: tls_stamps(&config.tls_config),
            }),
        })
    }

    /// A GET request for `url` through the current agent with the
    /// `Authorization` header set. Rebuilds the TLS configuration first if
    /// one of its files changed; if the rebuild fails the previous one stays
    /// and the error is returned.
    pub fn get(&self, url: &str) -> Result<ureq::Request, HttpClientError> {
        self.request("GET", url)
    }

    /// A request with any `method` for `url`, prepared as [`HttpClient::get`]
    /// prepares a GET.
    pub fn request(&self, method: &str, url: &str) -> Result<ureq::Request, HttpClientError> {
        let agent = self.agent()?;
        let mut request = agent.request(method, url);
        if let Some(auth) = &self.auth {
            request = request.set("Authorization", &auth.value()?);
        }
        Ok(request)
    }

    /// The current agent, rebuilt if a TLS file changed since it was built.
    pub fn agent(&self) -> Result<ureq::Agent, HttpClientError> {
        let now = tls_stamps(&self.config.tls_config);
        let mut state = self.state.lock();
        if state.tls_stamps != now {
            state.agent = build_agent(&self.config)?;
            state.tls_stamps = now;
            log::debug!("TLS files changed, client rebuilt");
        }
        Ok(state.agent.clone())
    }
}

fn tls_stamps(tls: &TlsConfig) -> Vec<Option<FileStamp>> {
    [&tls.ca_file, &tls.cert_file, &tls.key_file]
        .into_iter()
        .flatten()
        .map(|p| stamp(p))
        .collect()
}

fn build_agent(config: &HttpClientConfig) -> Result<ureq::Agent, HttpClientError> {
    let mut builder = ureq::AgentBuilder::new()
        .tls_config(build_tls(&config.tls_config)?)
        .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost);
    builder = if config.follow_redirects {
        builder.redirects(MAX_REDIRECTS)
    } else {
        builder.redirects(0)
    };
    if let Some(url) = &config.proxy_url {
        let proxy = ureq::Proxy::new(url).map_err(|e| HttpClientError::Proxy {
            url: url.clone(),
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

/// Builds the rustls client configuration for `tls`.
pub fn build_tls(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, HttpClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", e))?;

    let webpki = if tls.insecure_skip_verify {
        None
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &tls.ca_file {
            Some(path) => {
                let certs = load_certs("ca_file", path)?;
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| tls_error("ca_file certificate", e))?;
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
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let certs = load_certs("cert_file", cert)?;
            let key = load_key(key)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_error("client certificate", e))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(HttpClientError::Tls {
                what: "client certificate",
                message: "cert_file and key_file must be given together".to_string(),
            })
        }
    };
    Ok(Arc::new(config))
}

fn load_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, HttpClientError> {
    let pem = read_file(what, path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| HttpClientError::ReadFile {
            what,
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(HttpClientError::Tls {
            what,
            message: format!("no PEM certificate in {}", path.display()),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, HttpClientError> {
    let pem = read_file("key_file", path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| HttpClientError::ReadFile {
            what: "key_file",
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| HttpClientError::Tls {
            what: "key_file",
            message: format!("no PEM private key in {}", path.display()),
        })
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
