//! `--web.config.file`: basic auth and TLS, over real HTTP(S).

mod web_support;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::Engine;
use edgescrape::web::{Metrics, WebError, WebOptions};
use web_support::{send, Fixture, TestLifecycle};

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn ready() -> TestLifecycle {
    let l = TestLifecycle::default();
    l.ready.store(true, Ordering::SeqCst);
    l
}

fn start_with_config(dir: &Path, yaml: &str) -> Fixture {
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).expect("write web config");
    let options = WebOptions {
        web_config_file: Some(path),
        ..WebOptions::default()
    };
    Fixture::start(options, ready(), Metrics::new())
}

/// Writes a self-signed certificate for 127.0.0.1 and its key; returns the
/// certificate in DER for clients to trust.
fn write_cert(dir: &Path) -> Vec<u8> {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("generate certificate");
    std::fs::write(dir.join("server.crt"), ck.cert.pem()).expect("write cert");
    std::fs::write(dir.join("server.key"), ck.key_pair.serialize_pem()).expect("write key");
    ck.cert.der().to_vec()
}

fn trusting_agent(cert_der: Vec<u8>) -> ureq::Agent {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der))
        .expect("add root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .build()
}

#[test]
fn basic_auth_refuses_missing_and_wrong_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = bcrypt::hash("correct horse", 4).expect("hash");
    let f = start_with_config(dir.path(), &format!("basic_auth_users:\n  alice: {hash}\n"));
    for path in [
        "/",
        "/metrics",
        "/api/v1/targets",
        "/-/healthy",
        "/-/reload",
    ] {
        let url = format!("{}{path}", f.base);
        let cases = [
            (None, 401),
            (Some(basic("alice", "wrong")), 401),
            (Some(basic("mallory", "correct horse")), 401),
            (Some("Bearer correct horse".to_string()), 401),
            (
                Some(basic("alice", "correct horse")),
                if path == "/-/reload" { 405 } else { 200 },
            ),
        ];
        for (auth, want) in cases {
            let mut req = ureq::get(&url);
            if let Some(a) = &auth {
                req = req.set("Authorization", a);
            }
            let r = send(req, None);
            assert_eq!(r.status, want, "{path} with {auth:?}: {}", r.body);
            if want == 401 {
                assert_eq!(r.header("WWW-Authenticate"), Some("Basic"), "{path}");
                assert_eq!(r.body, "Unauthorized\n");
            }
        }
    }
}

#[test]
fn tls_serves_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let der = write_cert(dir.path());
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    // Relative paths are resolved against the web config's directory.
    let f = start_with_config(
        dir.path(),
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  bob: {hash}\n"
        ),
    );
    assert!(f.base.starts_with("https://"), "{}", f.base);
    let agent = trusting_agent(der);
    let url = format!("{}/api/v1/targets", f.base);

    let r = send(
        agent
            .get(&url)
            .set("Authorization", &basic("bob", "s3cret")),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["data"]["activeTargets"].as_array().map(Vec::len),
        Some(5)
    );
    let r = send(agent.get(&url), None);
    assert_eq!(r.status, 401);

    // A client that does not trust the certificate fails the handshake, and
    // plain HTTP is refused with a 400, as Go does.
    assert!(ureq::get(&url).call().is_err());
    let plain = url.replacen("https://", "http://", 1);
    assert!(ureq::get(&plain).call().is_err());
}

#[test]
fn bad_web_configs_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |yaml: &str| -> String {
        let path = dir.path().join("web.yml");
        std::fs::write(&path, yaml).expect("write");
        let options = WebOptions {
            listen_address: "127.0.0.1:0".to_string(),
            web_config_file: Some(path),
            ..WebOptions::default()
        };
        let views = edgescrape::web::Views {
            targets: Arc::new(web_support::FixedTargets::default()),
            series: Arc::new(web_support::sample_series(0)),
            lifecycle: Arc::new(TestLifecycle::default()),
            metrics: Metrics::new(),
        };
        match edgescrape::web::Server::start(options, views) {
            Ok(s) => {
                s.stop();
                panic!("started with {yaml:?}")
            }
            Err(e) => {
                assert!(!matches!(e, WebError::Spawn(_)));
                e.to_string()
            }
        }
    };
    let e = start("basic_auth_users:\n  alice: hunter2\n");
    assert!(
        e.contains("basic_auth_users.alice is not a bcrypt hash"),
        "{e}"
    );
    let e = start("basic_auth_user:\n  alice: x\n");
    assert!(e.contains("web.yml") && e.contains("unknown field"), "{e}");
    let e = start("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n");
    assert!(e.contains("missing.crt"), "{e}");

    write_cert(dir.path());
    std::fs::write(
        dir.path().join("sec1.key"),
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYr\n-----END EC PRIVATE KEY-----\n",
    )
    .expect("write");
    let e = start("tls_server_config:\n  cert_file: server.crt\n  key_file: sec1.key\n");
    assert!(e.contains("sec1.key") && e.contains("PKCS#8"), "{e}");
    let e = start("tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n");
    assert!(e.contains("no PEM certificate"), "{e}");
}
