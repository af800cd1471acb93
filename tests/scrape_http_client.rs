//! The HTTP client against real servers: TLS (CA file, server name,
//! insecure, client certificates, certificate rotation) on a rustls server
//! thread, auth headers from rotating files, redirects and a proxy.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{Reply, SeenRequest, TestServer};
use edgescrape::config::{
    Authorization, BasicAuth, HttpClientConfig, HttpHeader, Secret, TlsConfig, TlsVersion,
};
use edgescrape::http_client::HttpClient;
use parking_lot::Mutex;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA and a certificate it signed, with PEM files on disk.
struct Pki {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

struct Leaf {
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        Pki { ca, ca_key }
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Leaf {
            der: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(leaf: &Leaf, client_ca: Option<&Pki>) -> Arc<rustls::ServerConfig> {
    server_config_with_versions(leaf, client_ca, rustls::DEFAULT_VERSIONS)
}

fn server_config_with_versions(
    leaf: &Leaf,
    client_ca: Option<&Pki>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(pki) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki.ca.der().clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let key = PrivateKeyDer::Pkcs8(leaf.key_der.clone().into());
    Arc::new(
        builder
            .with_single_cert(vec![leaf.der.clone()], key)
            .unwrap(),
    )
}

/// An HTTPS server answering every request with `body`; stops on drop.
struct TlsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    fn start(config: Arc<rustls::ServerConfig>, body: &'static str) -> TlsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                let complete = loop {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break false,
                        Ok(n) => {
                            request.extend_from_slice(&buf[..n]);
                            if request.windows(4).any(|w| w == b"\r\n\r\n") {
                                break true;
                            }
                        }
                    }
                };
                if complete {
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes());
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        TlsServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/metrics", self.addr.port())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn get(client: &HttpClient, url: &str) -> Result<String, String> {
    let request = client.get(url).map_err(|e| e.to_string())?;
    let response = request
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| e.to_string())?;
    response.into_string().map_err(|e| e.to_string())
}

fn tls(f: impl FnOnce(&mut TlsConfig)) -> HttpClientConfig {
    let mut cfg = HttpClientConfig::default();
    f(&mut cfg.tls_config);
    cfg
}

#[test]
fn tls_verifies_against_the_ca_file_server_name_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(
        &["scrape.example", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let server = TlsServer::start(server_config(&leaf, None), "up 1\n");
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem());

    let trusted = HttpClient::new(&tls(|t| t.ca_file = Some(ca.clone()))).unwrap();
    assert_eq!(get(&trusted, &server.url("127.0.0.1")).unwrap(), "up 1\n");

    let default_roots = HttpClient::new(&HttpClientConfig::default()).unwrap();
    let err = get(&default_roots, &server.url("127.0.0.1")).unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let insecure = HttpClient::new(&tls(|t| t.insecure_skip_verify = true)).unwrap();
    assert_eq!(get(&insecure, &server.url("127.0.0.1")).unwrap(), "up 1\n");

    // A certificate without the IP: only server_name makes it verify.
    let named = pki.leaf(&["scrape.example"], ExtendedKeyUsagePurpose::ServerAuth);
    let named_server = TlsServer::start(server_config(&named, None), "named 1\n");
    let err = get(&trusted, &named_server.url("127.0.0.1")).unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let with_name = HttpClient::new(&tls(|t| {
        t.ca_file = Some(ca.clone());
        t.server_name = Some("scrape.example".to_string());
    }))
    .unwrap();
    assert_eq!(
        get(&with_name, &named_server.url("127.0.0.1")).unwrap(),
        "named 1\n"
    );
}

#[test]
fn client_certificates_are_presented() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let server = TlsServer::start(server_config(&leaf, Some(&pki)), "mtls 1\n");
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem());
    let client_leaf = pki.leaf(&["scraper"], ExtendedKeyUsagePurpose::ClientAuth);
    let cert = write(dir.path(), "client.pem", &client_leaf.cert_pem);
    let key = write(dir.path(), "client.key", &client_leaf.key_pem);

    let anonymous = HttpClient::new(&tls(|t| t.ca_file = Some(ca.clone()))).unwrap();
    assert!(get(&anonymous, &server.url("127.0.0.1")).is_err());
    let with_cert = HttpClient::new(&tls(|t| {
        t.ca_file = Some(ca.clone());
        t.cert_file = Some(cert.clone());
        t.key_file = Some(key.clone());
    }))
    .unwrap();
    assert_eq!(
        get(&with_cert, &server.url("127.0.0.1")).unwrap(),
        "mtls 1\n"
    );

    let missing = tls(|t| {
        t.cert_file = Some(dir.path().join("nope.pem"));
        t.key_file = Some(key.clone());
    });
    let err = HttpClient::new(&missing).unwrap_err().to_string();
    assert!(
        err.contains("cert_file") && err.contains("nope.pem"),
        "{err}"
    );
}

#[test]
fn tls_files_are_reloaded_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Pki::new(), Pki::new());
    let leaf = new.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let server = TlsServer::start(server_config(&leaf, None), "rotated 1\n");
    let ca = write(dir.path(), "ca.pem", &old.ca_pem());
    let client = HttpClient::new(&tls(|t| t.ca_file = Some(ca.clone()))).unwrap();
    assert!(
        get(&client, &server.url("127.0.0.1")).is_err(),
        "signed by another CA"
    );
    // Rotate: same client, new CA file (longer, so the change is visible
    // even on coarse mtimes).
    write(
        dir.path(),
        "ca.pem",
        &format!("{}\n{}", new.ca_pem(), old.ca_pem()),
    );
    assert_eq!(
        get(&client, &server.url("127.0.0.1")).unwrap(),
        "rotated 1\n"
    );
}

fn recording_server() -> (TestServer, Arc<Mutex<Vec<SeenRequest>>>) {
    let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
    let s2 = Arc::clone(&seen);
    let server = TestServer::start(move |req| {
        s2.lock().push(req.clone());
        if req.url == "/redirect" {
            Reply::status(302).header("Location", "/metrics")
        } else {
            Reply::text("m 1\n")
        }
    });
    (server, seen)
}

fn last_auth(seen: &Mutex<Vec<SeenRequest>>) -> Option<String> {
    seen.lock()
        .last()
        .and_then(|r| r.header("Authorization").map(str::to_string))
}

#[test]
fn auth_headers_follow_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let (server, seen) = recording_server();
    let url = format!("http://{}/metrics", server.address());

    let password = write(dir.path(), "password", "s3cret\n");
    let basic = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "user".to_string(),
            password_file: Some(password.clone()),
            ..BasicAuth::default()
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&basic).unwrap();
    get(&client, &url).unwrap();
    assert_eq!(last_auth(&seen).as_deref(), Some("Basic dXNlcjpzM2NyZXQ="));
    write(dir.path(), "password", "changed-password");
    get(&client, &url).unwrap();
    assert_eq!(
        last_auth(&seen).as_deref(),
        Some("Basic dXNlcjpjaGFuZ2VkLXBhc3N3b3Jk")
    );

    let inline = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "user".to_string(),
            password: Some(Secret::new("pw")),
            ..BasicAuth::default()
        }),
        ..HttpClientConfig::default()
    };
    get(&HttpClient::new(&inline).unwrap(), &url).unwrap();
    assert_eq!(last_auth(&seen).as_deref(), Some("Basic dXNlcjpwdw=="));

    let username = write(dir.path(), "username", "file-user\n");
    let username_file = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username_file: Some(username.clone()),
            password: Some(Secret::new("pw")),
            ..BasicAuth::default()
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&username_file).unwrap();
    get(&client, &url).unwrap();
    // base64("file-user:pw")
    assert_eq!(last_auth(&seen).as_deref(), Some("Basic ZmlsZS11c2VyOnB3"));
    write(dir.path(), "username", "other");
    get(&client, &url).unwrap();
    // base64("other:pw")
    assert_eq!(last_auth(&seen).as_deref(), Some("Basic b3RoZXI6cHc="));

    let token = write(dir.path(), "token", "tok-1\n");
    let bearer = HttpClientConfig {
        authorization: Some(Authorization {
            kind: "Bearer".to_string(),
            credentials: None,
            credentials_file: Some(token.clone()),
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&bearer).unwrap();
    get(&client, &url).unwrap();
    assert_eq!(last_auth(&seen).as_deref(), Some("Bearer tok-1"));
    write(dir.path(), "token", "tok-22\n");
    get(&client, &url).unwrap();
    assert_eq!(last_auth(&seen).as_deref(), Some("Bearer tok-22"));
    std::fs::remove_file(&token).unwrap();
    let err = get(&client, &url).unwrap_err();
    assert!(err.contains("credentials_file"), "{err}");
}

#[test]
fn redirects_are_followed_only_when_enabled() {
    let (server, seen) = recording_server();
    let url = format!("http://{}/redirect", server.address());
    let follow = HttpClient::new(&HttpClientConfig::default()).unwrap();
    assert_eq!(get(&follow, &url).unwrap(), "m 1\n");
    assert_eq!(
        seen.lock().last().map(|r| r.url.clone()).as_deref(),
        Some("/metrics")
    );

    let no_follow = HttpClient::new(&HttpClientConfig {
        follow_redirects: false,
        ..HttpClientConfig::default()
    })
    .unwrap();
    let response = no_follow.get(&url).unwrap().call().unwrap();
    assert_eq!(
        response.status(),
        302,
        "the scraper reports it as a non-200 status"
    );
}

#[test]
fn proxy_url_routes_requests_through_the_proxy() {
    let (proxy, seen) = recording_server();
    let cfg = HttpClientConfig {
        proxy_url: Some(format!("http://{}", proxy.address())),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&cfg).unwrap();
    assert_eq!(
        get(&client, "http://target.invalid:9100/metrics").unwrap(),
        "m 1\n"
    );
    let req = seen.lock().last().cloned().unwrap();
    assert_eq!(
        req.url, "http://target.invalid:9100/metrics",
        "absolute URI to the proxy"
    );

    let bad = HttpClientConfig {
        proxy_url: Some("ftp://proxy.invalid:21".to_string()),
        ..HttpClientConfig::default()
    };
    assert!(HttpClient::new(&bad)
        .unwrap_err()
        .to_string()
        .contains("proxy_url"));
}

#[test]
fn manager_scrapes_https_targets_with_auth_on_loop_threads() {
    // The TLS handshake runs on the loop thread with its small stack.
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let server = TlsServer::start(server_config(&leaf, None), "secure_metric 3\n");
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem());
    let token = write(dir.path(), "token", "abc\n");
    let addr = format!("127.0.0.1:{}", server.addr.port());
    let yaml = format!(
        "scrape_configs:\n  - job_name: secure\n    scheme: https\n    scrape_interval: 100ms\n    authorization:\n      credentials_file: {}\n    tls_config:\n      ca_file: {}\n    static_configs:\n      - targets: ['{addr}']\n",
        token.display(),
        ca.display()
    );
    let (manager, store) = start_scraping(&yaml, "secure", &addr);
    assert!(common::wait_until(Duration::from_secs(20), || store
        .last("secure_metric")
        == Some(3.0)));
    assert_eq!(store.last("up"), Some(1.0));
    let t = &manager.targets_active()["secure"][0];
    assert_eq!(t.scrape_url, format!("https://{addr}/metrics"));
    manager.stop();
}

#[test]
fn tls_inline_pem_verifies_and_presents_a_client_certificate() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let server = TlsServer::start(server_config(&leaf, Some(&pki)), "inline 1\n");
    let client_leaf = pki.leaf(&["scraper"], ExtendedKeyUsagePurpose::ClientAuth);

    let ca_only = HttpClient::new(&tls(|t| t.ca = Some(pki.ca_pem()))).unwrap();
    assert!(
        get(&ca_only, &server.url("127.0.0.1")).is_err(),
        "the server asks for a client certificate"
    );
    let with_cert = HttpClient::new(&tls(|t| {
        t.ca = Some(pki.ca_pem());
        t.cert = Some(client_leaf.cert_pem.clone());
        t.key = Some(Secret::new(client_leaf.key_pem.clone()));
    }))
    .unwrap();
    assert_eq!(
        get(&with_cert, &server.url("127.0.0.1")).unwrap(),
        "inline 1\n"
    );
    let other_ca = HttpClient::new(&tls(|t| t.ca = Some(Pki::new().ca_pem()))).unwrap();
    let err = get(&other_ca, &server.url("127.0.0.1")).unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn tls_min_and_max_version_bound_the_handshake() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls12_only = TlsServer::start(
        server_config_with_versions(&leaf, None, &[&rustls::version::TLS12]),
        "tls12 1\n",
    );
    let tls13_only = TlsServer::start(
        server_config_with_versions(&leaf, None, &[&rustls::version::TLS13]),
        "tls13 1\n",
    );
    let client = |min, max| {
        HttpClient::new(&tls(|t| {
            t.ca = Some(pki.ca_pem());
            t.min_version = min;
            t.max_version = max;
        }))
        .unwrap()
    };
    let default = client(None, None);
    assert_eq!(
        get(&default, &tls12_only.url("127.0.0.1")).unwrap(),
        "tls12 1\n"
    );
    assert_eq!(
        get(&default, &tls13_only.url("127.0.0.1")).unwrap(),
        "tls13 1\n"
    );

    let min13 = client(Some(TlsVersion::Tls13), None);
    assert!(get(&min13, &tls12_only.url("127.0.0.1")).is_err());
    assert_eq!(
        get(&min13, &tls13_only.url("127.0.0.1")).unwrap(),
        "tls13 1\n"
    );

    let max12 = client(None, Some(TlsVersion::Tls12));
    assert_eq!(
        get(&max12, &tls12_only.url("127.0.0.1")).unwrap(),
        "tls12 1\n"
    );
    assert!(get(&max12, &tls13_only.url("127.0.0.1")).is_err());
}

#[test]
fn http_headers_send_values_secrets_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let (server, seen) = recording_server();
    let url = format!("http://{}/metrics", server.address());
    let tenant = write(dir.path(), "tenant", " from-file\n");
    let mut cfg = HttpClientConfig::default();
    cfg.http_headers.insert(
        "X-Scope-OrgID".to_string(),
        HttpHeader {
            values: vec!["a".to_string()],
            secrets: vec![Secret::new("s")],
            files: vec![tenant.clone()],
        },
    );
    cfg.http_headers.insert(
        "X-Other".to_string(),
        HttpHeader {
            values: vec!["only".to_string()],
            ..HttpHeader::default()
        },
    );
    let client = HttpClient::new(&cfg).unwrap();
    get(&client, &url).unwrap();
    let header = |name: &str| {
        seen.lock()
            .last()
            .and_then(|r| r.header(name).map(str::to_string))
    };
    assert_eq!(header("X-Scope-OrgID").as_deref(), Some("a, s, from-file"));
    assert_eq!(header("X-Other").as_deref(), Some("only"));

    write(dir.path(), "tenant", "rotated-tenant");
    get(&client, &url).unwrap();
    assert_eq!(
        header("X-Scope-OrgID").as_deref(),
        Some("a, s, rotated-tenant")
    );

    std::fs::remove_file(&tenant).unwrap();
    let err = get(&client, &url).unwrap_err();
    assert!(
        err.contains("headers file") && err.contains("tenant"),
        "{err}"
    );
}

/// A real OAuth2 token endpoint: client credentials in the Basic header
/// (`id` / `secret`) only, tokens `tok-<n>` that expire after `expires_in`
/// seconds, or an error status while `fail` holds. Records each form.
struct TokenServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    forms: Arc<Mutex<Vec<String>>>,
    fail: Arc<AtomicBool>,
}

impl TokenServer {
    fn start(expires_in: u64) -> TokenServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let forms: Arc<Mutex<Vec<String>>> = Arc::default();
        let fail = Arc::new(AtomicBool::new(false));
        let (srv, f, failing) = (Arc::clone(&server), Arc::clone(&forms), Arc::clone(&fail));
        let thread = std::thread::spawn(move || {
            while let Ok(mut request) = srv.recv() {
                let mut form = String::new();
                let _ = request.as_reader().read_to_string(&mut form);
                let auth = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.to_string());
                // base64("id:secret")
                let client_ok = auth.as_deref() == Some("Basic aWQ6c2VjcmV0");
                let n = {
                    let mut forms = f.lock();
                    forms.push(form);
                    forms.len()
                };
                let (status, body) = if failing.load(Ordering::SeqCst) {
                    (503, r#"{"error":"temporarily_unavailable"}"#.to_string())
                } else if !client_ok {
                    (401, r#"{"error":"invalid_client"}"#.to_string())
                } else {
                    (
                        200,
                        format!(
                            r#"{{"access_token":"tok-{n}","token_type":"bearer","expires_in":{expires_in}}}"#
                        ),
                    )
                };
                let header =
                    tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
                let response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(header);
                let _ = request.respond(response);
            }
        });
        TokenServer {
            server,
            thread: Some(thread),
            forms,
            fail,
        }
    }

    fn url(&self) -> String {
        format!(
            "http://{}/token",
            self.server.server_addr().to_ip().unwrap()
        )
    }

    fn requests(&self) -> usize {
        self.forms.lock().len()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A target that answers only requests bearing a token the token server
/// issued (`tok-<n>`), 401 otherwise.
fn token_guarded_target() -> (TestServer, Arc<Mutex<Vec<SeenRequest>>>) {
    let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
    let s2 = Arc::clone(&seen);
    let server = TestServer::start(move |req| {
        s2.lock().push(req.clone());
        match req.header("Authorization") {
            Some(a) if a.starts_with("Bearer tok-") => Reply::text("guarded 1\n"),
            _ => Reply::status(401),
        }
    });
    (server, seen)
}

fn oauth2_config(token_url: &str, secret_file: &Path) -> HttpClientConfig {
    let yaml = format!(
        "scrape_configs:\n  - job_name: a\n    oauth2:\n      client_id: id\n      client_secret_file: {}\n      token_url: {token_url}\n      scopes: [read, write]\n      endpoint_params: {{audience: edge}}\n",
        secret_file.display()
    );
    let cfg = edgescrape::config::Config::load_str(&yaml, Path::new("test.yml")).unwrap();
    cfg.scrape_configs[0].http.clone()
}

#[test]
fn oauth2_token_is_fetched_cached_and_sent() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", "secret\n");
    let tokens = TokenServer::start(3600);
    let (target, seen) = token_guarded_target();
    let url = format!("http://{}/metrics", target.address());
    let client = HttpClient::new(&oauth2_config(&tokens.url(), &secret)).unwrap();

    assert_eq!(get(&client, &url).unwrap(), "guarded 1\n");
    assert_eq!(get(&client, &url).unwrap(), "guarded 1\n");
    assert_eq!(tokens.requests(), 1, "the token is reused until it expires");
    let auths: Vec<Option<String>> = seen
        .lock()
        .iter()
        .map(|r| r.header("Authorization").map(str::to_string))
        .collect();
    assert_eq!(
        auths,
        [
            Some("Bearer tok-1".to_string()),
            Some("Bearer tok-1".to_string())
        ]
    );
    let form = tokens.forms.lock()[0].clone();
    assert_eq!(
        form,
        "grant_type=client_credentials&scope=read+write&audience=edge"
    );

    // A new client secret means a new token.
    write(dir.path(), "secret", "rotated-secret\n");
    let err = get(&client, &url).unwrap_err();
    assert!(err.contains("oauth2: cannot fetch token: 401"), "{err}");
    write(dir.path(), "secret", "secret");
    assert_eq!(get(&client, &url).unwrap(), "guarded 1\n");
    let last = seen
        .lock()
        .last()
        .and_then(|r| r.header("Authorization").map(str::to_string));
    assert_ne!(last.as_deref(), Some("Bearer tok-1"));
}

#[test]
fn oauth2_token_is_refreshed_before_expiry_and_failures_fail_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", "secret");
    // Ten seconds is Go's expiry delta: every request finds its token due.
    let tokens = TokenServer::start(10);
    let (target, _) = token_guarded_target();
    let url = format!("http://{}/metrics", target.address());
    let client = HttpClient::new(&oauth2_config(&tokens.url(), &secret)).unwrap();
    get(&client, &url).unwrap();
    get(&client, &url).unwrap();
    assert_eq!(tokens.requests(), 2);

    tokens.fail.store(true, Ordering::SeqCst);
    let err = get(&client, &url).unwrap_err();
    assert!(
        err.contains("oauth2: cannot fetch token: 503") && err.contains("temporarily_unavailable"),
        "{err}"
    );
    tokens.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        get(&client, &url).unwrap(),
        "guarded 1\n",
        "the next request tries again"
    );
}

/// A real tinyproxy (Debian's, installed by scripts/install-peers.sh) on
/// 127.0.0.1, logging every request; stopped by its PID when dropped.
struct Tinyproxy {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Tinyproxy {
    fn start() -> Tinyproxy {
        Tinyproxy::start_with("")
    }

    /// A tinyproxy with `extra` lines in its config.
    fn start_with(extra: &str) -> Tinyproxy {
        let binary = Path::new("/usr/bin/tinyproxy");
        assert!(
            binary.exists(),
            "tinyproxy is not installed: run scripts/install-peers.sh (make peers)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = common::closed_port();
        let conf = write(
            dir.path(),
            "tinyproxy.conf",
            &format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 10\nMaxClients 16\nAllow 127.0.0.1\nLogLevel Connect\nLogFile \"{}\"\nViaProxyName \"edgetest\"\n{extra}",
                dir.path().join("tinyproxy.log").display()
            ),
        );
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = std::process::Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tinyproxy");
        let proxy = Tinyproxy { child, port, dir };
        let up = common::wait_until(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "tinyproxy did not listen: {}", proxy.stderr());
        proxy
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn via(seen: &Mutex<Vec<SeenRequest>>) -> Option<String> {
    seen.lock()
        .last()
        .and_then(|r| r.header("Via").map(str::to_string))
}

#[test]
fn proxy_url_reaches_http_and_https_targets_through_tinyproxy() {
    let proxy = Tinyproxy::start();
    let (server, seen) = recording_server();
    let client = HttpClient::new(&HttpClientConfig {
        proxy_url: Some(proxy.url()),
        ..HttpClientConfig::default()
    })
    .unwrap();
    let url = format!("http://{}/metrics", server.address());
    assert_eq!(get(&client, &url).unwrap(), "m 1\n");
    let via_header = via(&seen).unwrap_or_default();
    assert!(via_header.contains("tinyproxy"), "{via_header:?}");

    // https: a CONNECT tunnel, TLS end to end with the target.
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls_server = TlsServer::start(server_config(&leaf, None), "tunnelled 1\n");
    let client = HttpClient::new(&HttpClientConfig {
        proxy_url: Some(proxy.url()),
        tls_config: TlsConfig {
            ca: Some(pki.ca_pem()),
            ..TlsConfig::default()
        },
        ..HttpClientConfig::default()
    })
    .unwrap();
    assert_eq!(
        get(&client, &tls_server.url("127.0.0.1")).unwrap(),
        "tunnelled 1\n"
    );
    let connect = format!("CONNECT 127.0.0.1:{}", tls_server.addr.port());
    assert!(proxy.log().contains(&connect), "{}", proxy.log());
}

#[test]
fn no_proxy_and_the_environment_choose_the_proxy_as_go_does() {
    let proxy = Tinyproxy::start();
    let (server, seen) = recording_server();
    let loopback = format!("http://{}/metrics", server.address());
    // Unresolvable: through the proxy it is the proxy's error status, direct
    // it is our own lookup failure.
    let remote = "http://target.invalid:9100/metrics";
    let proxied = |err: &str| err.contains("status code 5");

    let with_no_proxy = |no_proxy: &str| {
        HttpClient::new(&HttpClientConfig {
            proxy_url: Some(proxy.url()),
            no_proxy: Some(no_proxy.to_string()),
            ..HttpClientConfig::default()
        })
        .unwrap()
    };
    let client = with_no_proxy("other.example");
    let err = get(&client, remote).unwrap_err();
    assert!(proxied(&err), "{err}");
    assert_eq!(get(&client, &loopback).unwrap(), "m 1\n");
    assert_eq!(via(&seen), None, "loopback never goes through a proxy");
    let err = get(&with_no_proxy("other.example, .invalid"), remote).unwrap_err();
    assert!(!proxied(&err), "{err}");

    let from_env = |vars: Vec<(&'static str, String)>| {
        let cfg = HttpClientConfig {
            proxy_from_environment: true,
            ..HttpClientConfig::default()
        };
        HttpClient::with_environment(&cfg, move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    };
    let client = from_env(vec![("HTTP_PROXY", proxy.url())]);
    let err = get(&client, remote).unwrap_err();
    assert!(proxied(&err), "{err}");
    assert_eq!(get(&client, &loopback).unwrap(), "m 1\n");
    assert_eq!(via(&seen), None);
    let client = from_env(vec![
        ("http_proxy", proxy.url()),
        ("NO_PROXY", "target.invalid".to_string()),
    ]);
    assert!(!proxied(&get(&client, remote).unwrap_err()));
    let client = from_env(vec![("HTTPS_PROXY", format!("127.0.0.1:{}", proxy.port))]);
    assert!(
        !proxied(&get(&client, remote).unwrap_err()),
        "http is not https"
    );
    let _ = get(&client, "https://target.invalid:9443/metrics").unwrap_err();
    assert!(
        proxy.log().contains("CONNECT target.invalid:9443"),
        "{}",
        proxy.log()
    );
}

/// A real scrape manager running the config `yaml`, with `addr` sent as the
/// one target of `job` as discovery would send it.
fn start_scraping(
    yaml: &str,
    job: &str,
    addr: &str,
) -> (
    edgescrape::scrape::Manager,
    Arc<common::storage::TestStorage>,
) {
    let cfg = edgescrape::config::Config::load_str(yaml, Path::new("test.yml")).unwrap();
    let store = Arc::new(common::storage::TestStorage::default());
    let manager = edgescrape::scrape::Manager::new(
        edgescrape::scrape::Options {
            skip_offset: true,
            reload_interval: Duration::from_millis(50),
            ..Default::default()
        },
        store.clone(),
    );
    manager.apply_config(&cfg).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    manager.run(rx).unwrap();
    let group = edgescrape::discovery::TargetGroup {
        targets: vec![edgescrape::labels::Labels::from_pairs([(
            "__address__",
            addr,
        )])],
        labels: edgescrape::labels::Labels::empty(),
        source: "0".to_string(),
    };
    tx.send([(job.to_string(), vec![group])].into_iter().collect())
        .unwrap();
    (manager, store)
}

/// Scrapes the target at `addr` through a real scrape manager with the
/// job's extra YAML; returns the storage once `up` is known.
fn scrape_once(addr: &str, extra: &str) -> Arc<common::storage::TestStorage> {
    let yaml = format!(
        "scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n{extra}    static_configs:\n      - targets: ['{addr}']\n"
    );
    let (manager, store) = start_scraping(&yaml, "j", addr);
    assert!(common::wait_until(Duration::from_secs(20), || store
        .last("up")
        .is_some()));
    manager.stop();
    store
}

#[test]
fn fallback_scrape_protocol_parses_a_body_of_unknown_content_type() {
    // An OpenMetrics-only type: the text format refuses `info`.
    let body = "# TYPE build info\nbuild_info{version=\"1.2\"} 1\n# EOF\n";
    let server = TestServer::start(move |_| Reply {
        status: 200,
        headers: vec![("Content-Type".into(), "application/octet-stream".into())],
        body: body.into(),
        delay: Duration::ZERO,
    });
    let as_text = scrape_once(&server.address(), "");
    assert_eq!(as_text.last("up"), Some(0.0), "read as the text format");
    let fallback = scrape_once(
        &server.address(),
        "    fallback_scrape_protocol: OpenMetricsText1.0.0\n",
    );
    assert_eq!(fallback.last("up"), Some(1.0));
    assert_eq!(fallback.last("build_info"), Some(1.0));
}

#[test]
fn scrape_failure_log_file_gets_a_json_line_per_failed_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("failures.log");
    let addr = format!("127.0.0.1:{}", common::closed_port());
    let store = scrape_once(
        &addr,
        &format!("    scrape_failure_log_file: {}\n", log.display()),
    );
    assert_eq!(store.last("up"), Some(0.0));
    let text = std::fs::read_to_string(&log).unwrap();
    let first = text.lines().next().expect("a line per failed scrape");
    let line: serde_json::Value = serde_json::from_str(first).unwrap();
    let keys: Vec<&str> = line
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["err", "job_name", "target", "ts"]);
    assert_eq!(line["job_name"], "j");
    assert_eq!(line["target"], format!("http://{addr}/metrics"));
    assert!(line["err"].as_str().unwrap().contains("refused"), "{first}");
    let ts = line["ts"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == "2024-01-01T00:00:00.000Z".len(),
        "{ts}"
    );
    assert!(first.starts_with("{\"err\":"), "Go's key order: {first}");
}

#[test]
fn proxy_connect_header_reaches_tinyproxy_with_each_connect() {
    // tinyproxy lets only user edge (password s3cret) through.
    let proxy = Tinyproxy::start_with("BasicAuth edge s3cret\n");
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let target = TlsServer::start(server_config(&leaf, None), "behind 1\n");
    let url = target.url("127.0.0.1");
    let client = |proxy_url: String, headers: &[(&str, &str)]| {
        let mut cfg = HttpClientConfig {
            proxy_url: Some(proxy_url),
            tls_config: TlsConfig {
                ca: Some(pki.ca_pem()),
                ..TlsConfig::default()
            },
            ..HttpClientConfig::default()
        };
        for (name, value) in headers {
            cfg.proxy_connect_header
                .insert(name.to_string(), vec![Secret::new(*value)]);
        }
        HttpClient::new(&cfg).unwrap()
    };
    let err = get(&client(proxy.url(), &[]), &url).unwrap_err();
    assert!(
        err.contains("407") || err.to_lowercase().contains("proxy"),
        "{err}"
    );

    // base64("edge:s3cret")
    let with_header = client(
        proxy.url(),
        &[("Proxy-Authorization", "Basic ZWRnZTpzM2NyZXQ=")],
    );
    assert_eq!(get(&with_header, &url).unwrap(), "behind 1\n");
    assert_eq!(get(&with_header, &url).unwrap(), "behind 1\n");

    // Credentials in the proxy URL still reach it next to other headers.
    let with_user = client(
        format!("http://edge:s3cret@127.0.0.1:{}", proxy.port),
        &[("X-Edge-Trace", "abc")],
    );
    assert_eq!(get(&with_user, &url).unwrap(), "behind 1\n");
    let connect = format!("CONNECT 127.0.0.1:{}", target.addr.port());
    assert!(proxy.log().contains(&connect), "{}", proxy.log());
}

/// Debian's nginx with its stream module on 127.0.0.1, ending TLS (a
/// certificate of `pki` for 127.0.0.1) in front of `backend_port`: an
/// `https://` proxy when the backend is tinyproxy. Killed by PID on drop.
struct TlsFront {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    fn start(pki: &Pki, backend_port: u16) -> TlsFront {
        let module = Path::new("/usr/lib/nginx/modules/ngx_stream_module.so");
        assert!(
            module.exists(),
            "nginx's stream module is not installed: run scripts/install-peers.sh (make peers)"
        );
        let dir = tempfile::tempdir().unwrap();
        let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
        let cert = write(dir.path(), "cert.pem", &leaf.cert_pem);
        let key = write(dir.path(), "key.pem", &leaf.key_pem);
        let port = common::closed_port();
        let d = dir.path().display();
        let conf = write(
            dir.path(),
            "nginx.conf",
            &format!(
                "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nload_module {};\nevents {{}}\nstream {{\n  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    proxy_pass 127.0.0.1:{backend_port};\n  }}\n}}\n",
                module.display(),
                cert.display(),
                key.display()
            ),
        );
        let child = std::process::Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nginx");
        let front = TlsFront {
            child,
            port,
            _dir: dir,
        };
        let up = common::wait_until(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "nginx did not listen on {port}");
        front
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_proxy_is_reached_over_tls() {
    let pki = Pki::new();
    let proxy = Tinyproxy::start();
    let front = TlsFront::start(&pki, proxy.port);
    let cfg = HttpClientConfig {
        proxy_url: Some(format!("https://127.0.0.1:{}", front.port)),
        tls_config: TlsConfig {
            ca: Some(pki.ca_pem()),
            ..TlsConfig::default()
        },
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&cfg).unwrap();

    let (server, seen) = recording_server();
    let url = format!("http://{}/metrics", server.address());
    assert_eq!(get(&client, &url).unwrap(), "m 1\n");
    let via_header = via(&seen).unwrap_or_default();
    assert!(via_header.contains("tinyproxy"), "{via_header:?}");

    let leaf = pki.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let target = TlsServer::start(server_config(&leaf, None), "over tls 1\n");
    assert_eq!(
        get(&client, &target.url("127.0.0.1")).unwrap(),
        "over tls 1\n"
    );
    let connect = format!("CONNECT 127.0.0.1:{}", target.addr.port());
    assert!(proxy.log().contains(&connect), "{}", proxy.log());

    // A proxy whose certificate the client does not trust is refused.
    let untrusting = HttpClient::new(&HttpClientConfig {
        tls_config: TlsConfig {
            ca: Some(Pki::new().ca_pem()),
            ..TlsConfig::default()
        },
        ..cfg.clone()
    })
    .unwrap();
    assert!(get(&untrusting, &url).is_err());
}
