//! An HTTP client built from an [`HttpClientConfig`], as Prometheus's
//! `common/config.NewClientFromConfig`: basic auth, `authorization`, TLS
//! (CA, client certificate, server name, skip-verify), proxy and redirects.
//!
//! [`HttpClient`] wraps a blocking `ureq` agent. Secrets given as files
//! (`password_file`, `credentials_file`) are checked before every request
//! and re-read when their modification time or size changed, so a rotated
//! token is picked up without a reload; as Prometheus, surrounding
//! whitespace is trimmed. CA and certificate files are read once, when the
//! client is built.
//!
//! Only HTTP/1.1: `ureq` 2 speaks nothing else, and an edge box sending a
//! few requests a second gains nothing from HTTP/2's multiplexing.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::{HttpClientConfig, Secret, TlsConfig};

/// Why an HTTP client could not be built or a request prepared.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// A TLS file could not be read or holds no usable PEM item.
    TlsFile {
        /// The file named in `tls_config`.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The TLS settings are inconsistent or refused by rustls.
    Tls(String),
    /// A secret file could not be read.
    SecretFile {
        /// The `password_file` or `credentials_file`.
        path: PathBuf,
        /// The read error.
        error: io::Error,
    },
    /// `proxy_url` is not a proxy ureq understands.
    Proxy {
        /// The configured URL.
        url: String,
        /// ureq's reason.
        message: String,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::TlsFile { path, message } => {
                write!(f, "tls_config file {}: {message}", path.display())
            }
            ClientError::Tls(message) => write!(f, "tls_config: {message}"),
            ClientError::SecretFile { path, error } => {
                write!(f, "reading secret file {}: {error}", path.display())
            }
            ClientError::Proxy { url, message } => write!(f, "proxy_url {url:?}: {message}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A blocking HTTP client with authentication and TLS from the config.
///
/// Cheap to share: `Clone` shares the connection pool and the secret-file
/// caches, and every method takes `&self`, so sender threads call it
/// concurrently.
#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    auth: Option<Arc<AuthHeader>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("auth", &self.auth.as_ref().map(|a| a.scheme()))
            .finish()
    }
}

impl HttpClient {
    /// Builds a client whose requests time out after `timeout` (connect,
    /// send and receive together) and carry `User-Agent: user_agent`.
    pub fn new(
        cfg: &HttpClientConfig,
        timeout: Duration,
        user_agent: &str,
    ) -> Result<HttpClient, ClientError> {
        let mut builder = ureq::AgentBuilder::new()
            .timeout(timeout)
            .user_agent(user_agent)
            .tls_config(tls_client_config(&cfg.tls_config)?);
        if !cfg.follow_redirects {
            builder = builder.redirects(0);
        }
        if let Some(url) = &cfg.proxy_url {
            let proxy = ureq::Proxy::new(url).map_err(|e| ClientError::Proxy {
                url: url.clone(),
                message: e.to_string(),
            })?;
            builder = builder.proxy(proxy);
        }
        let auth = if let Some(basic) = &cfg.basic_auth {
            Some(AuthHeader::Basic {
                username: basic.username.clone(),
                password: SecretSource::new(basic.password.as_ref(), basic.password_file.as_ref()),
            })
        } else {
            cfg.authorization
                .as_ref()
                .map(|a| AuthHeader::Authorization {
                    kind: a.kind.clone(),
                    credentials: SecretSource::new(
                        a.credentials.as_ref(),
                        a.credentials_file.as_ref(),
                    ),
                })
        };
        Ok(HttpClient {
            agent: builder.build(),
            auth: auth.map(Arc::new),
        })
    }

    /// A request with the `Authorization` header set from the config,
    /// reading a secret file if it changed since the last request.
    pub fn request(&self, method: &str, url: &str) -> Result<ureq::Request, ClientError> {
        let req = self.agent.request(method, url);
        match &self.auth {
            None => Ok(req),
            Some(auth) => Ok(req.set("Authorization", &auth.value()?)),
        }
    }
}

/// The `Authorization` header a config asks for.
enum AuthHeader {
    /// `basic_auth`.
    Basic {
        username: String,
        password: SecretSource,
    },
    /// `authorization` with its scheme (`Bearer` by default).
    Authorization {
        kind: String,
        credentials: SecretSource,
    },
}

impl AuthHeader {
    fn scheme(&self) -> &str {
        match self {
            AuthHeader::Basic { .. } => "Basic",
            AuthHeader::Authorization { kind, .. } => kind,
        }
    }

    fn value(&self) -> Result<String, ClientError> {
        match self {
            AuthHeader::Basic { username, password } => {
                let pair = format!("{username}:{}", password.get()?);
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            AuthHeader::Authorization { kind, credentials } => {
                Ok(format!("{kind} {}", credentials.get()?))
            }
        }
    }
}

/// A secret given inline or as a file; the file wins when both are set
/// (config validation refuses that combination upstream).
enum SecretSource {
    Inline(String),
    File(FileSecret),
}

impl SecretSource {
    fn new(inline: Option<&Secret>, file: Option<&PathBuf>) -> SecretSource {
        match (file, inline) {
            (Some(path), _) => SecretSource::File(FileSecret {
                path: path.clone(),
                cache: Mutex::new(None),
            }),
            (None, Some(secret)) => SecretSource::Inline(secret.expose().to_string()),
            (None, None) => SecretSource::Inline(String::new()),
        }
    }

    fn get(&self) -> Result<String, ClientError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(f) => f.get(),
        }
    }
}

/// A secret file and the last content read, keyed by modification time
/// and size.
struct FileSecret {
    path: PathBuf,
    cache: Mutex<Option<CachedSecret>>,
}

struct CachedSecret {
    modified: Option<SystemTime>,
    len: u64,
    value: String,
}

impl FileSecret {
    fn get(&self) -> Result<String, ClientError> {
        let err = |error| ClientError::SecretFile {
            path: self.path.clone(),
            error,
        };
        let meta = fs::metadata(&self.path).map_err(err)?;
        let modified = meta.modified().ok();
        if let Some(c) = self.cache.lock().as_ref() {
            if c.modified == modified && c.len == meta.len() && modified.is_some() {
                return Ok(c.value.clone());
            }
        }
        let value = fs::read_to_string(&self.path)
            .map_err(err)?
            .trim()
            .to_string();
        *self.cache.lock() = Some(CachedSecret {
            modified,
            len: meta.len(),
            value: value.clone(),
        });
        Ok(value)
    }
}

/// Builds the rustls configuration for a `tls_config`, with the ring
/// provider: CAs from `ca_file` (else the Mozilla roots of `webpki-roots`),
/// a client certificate from `cert_file` + `key_file`, verification against
/// `server_name` instead of the URL's host when set, and no verification at
/// all with `insecure_skip_verify`.
pub fn tls_client_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| ClientError::TlsFile {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(NoVerification {
            algorithms: provider.signature_verification_algorithms,
        })
    } else {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        match &tls.server_name {
            Some(name) => Arc::new(ServerNameOverride {
                name: ServerName::try_from(name.clone())
                    .map_err(|e| ClientError::Tls(format!("server_name {name:?}: {e}")))?,
                inner: webpki,
            }),
            None => webpki,
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| ClientError::Tls(format!("client certificate: {e}")))?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(ClientError::Tls(
                "cert_file and key_file must be given together".to_string(),
            ))
        }
    };
    Ok(Arc::new(config))
}

fn open_pem(path: &Path) -> Result<io::BufReader<fs::File>, ClientError> {
    fs::File::open(path)
        .map(io::BufReader::new)
        .map_err(|e| ClientError::TlsFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = rustls_pemfile::certs(&mut open_pem(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::TlsFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ClientError::TlsFile {
            path: path.to_path_buf(),
            message: "no PEM certificate found".to_string(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ClientError> {
    rustls_pemfile::private_key(&mut open_pem(path)?)
        .map_err(|e| ClientError::TlsFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .ok_or_else(|| ClientError::TlsFile {
            path: path.to_path_buf(),
            message: "no PEM private key found".to_string(),
        })
}

/// Verifies the chain as usual but against the configured `server_name`
/// rather than the host the URL names.
#[derive(Debug)]
struct ServerNameOverride {
    name: ServerName<'static>,
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ServerNameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: accepts any certificate, but still checks that
/// the handshake signatures are made with the certificate's key.
#[derive(Debug)]
struct NoVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
