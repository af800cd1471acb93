//! The remote_write client against a real HTTP server on 127.0.0.1: request
//! headers, authentication from inline secrets and rotated files, and how
//! each kind of answer is classified.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use edgescrape::config::{Authorization, BasicAuth, RemoteWriteConfig, Secret};
use edgescrape::labels::Labels;
use edgescrape::storage::remote::codec::{decode_write_request, WriteRequestEncoder};
use edgescrape::storage::remote::{StoreError, WriteClient, USER_AGENT};

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A tiny_http server answering each request with the next scripted
/// `(status, extra header)`, then 204 once the script runs out.
struct Server {
    server: Arc<tiny_http::Server>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(script: Vec<(u16, Option<(&'static str, String)>)>) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (server.clone(), seen.clone());
        let thread = thread::spawn(move || {
            let mut script = script.into_iter();
            for mut req in s.incoming_requests() {
                let mut body = Vec::new();
                req.as_reader().read_to_end(&mut body).unwrap();
                let headers = req
                    .headers()
                    .iter()
                    .map(|h| (h.field.to_string().to_lowercase(), h.value.to_string()))
                    .collect();
                log.lock().unwrap().push(Seen { headers, body });
                let (status, header) = script.next().unwrap_or((204, None));
                let mut resp = tiny_http::Response::from_string("refused: bad sample\nmore")
                    .with_status_code(status);
                if let Some((k, v)) = header {
                    resp.add_header(tiny_http::Header::from_bytes(k, v.as_bytes()).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        Server {
            server,
            seen,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.server.server_addr())
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn config(url: &str) -> RemoteWriteConfig {
    serde_yaml::from_str(&format!("url: {url}\nheaders:\n  X-Scope-OrgID: edge-7\n")).unwrap()
}

fn body() -> Vec<u8> {
    let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
    WriteRequestEncoder::new()
        .encode([(&l, 1_000, 1.0)])
        .unwrap()
        .to_vec()
}

#[test]
fn request_carries_remote_write_headers_and_body() {
    let server = Server::start(vec![]);
    let client = WriteClient::new(&config(&server.url())).unwrap();
    client.store(&body(), 0, Duration::from_secs(5)).unwrap();
    client.store(&body(), 3, Duration::from_secs(5)).unwrap();
    let seen = server.seen();
    let h = &seen[0].headers;
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(h["user-agent"], USER_AGENT);
    assert_eq!(h["x-scope-orgid"], "edge-7");
    assert!(!h.contains_key("retry-attempt"));
    assert!(!h.contains_key("authorization"));
    assert_eq!(seen[1].headers["retry-attempt"], "3");
    let req = decode_write_request(&seen[0].body).unwrap();
    assert_eq!(req.timeseries.len(), 1);
    assert_eq!(req.timeseries[0].labels[0].value, "up");
    assert_eq!(req.timeseries[0].samples[0].timestamp, 1_000);
}

#[test]
fn basic_auth_password_file_is_reread_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, "first\n").unwrap();
    let server = Server::start(vec![]);
    let mut cfg = config(&server.url());
    cfg.http.basic_auth = Some(BasicAuth {
        username: "edge".to_string(),
        password_file: Some(file.clone()),
        ..BasicAuth::default()
    });
    let client = WriteClient::new(&cfg).unwrap();
    client.store(&body(), 0, Duration::from_secs(5)).unwrap();
    std::fs::write(&file, "second-and-longer").unwrap();
    client.store(&body(), 0, Duration::from_secs(5)).unwrap();
    let seen = server.seen();
    // base64("edge:first"), base64("edge:second-and-longer")
    assert_eq!(seen[0].headers["authorization"], "Basic ZWRnZTpmaXJzdA==");
    assert_eq!(
        seen[1].headers["authorization"],
        "Basic ZWRnZTpzZWNvbmQtYW5kLWxvbmdlcg=="
    );
}

#[test]
fn authorization_inline_and_missing_file() {
    let server = Server::start(vec![]);
    let mut cfg = config(&server.url());
    cfg.http.authorization = Some(Authorization {
        kind: "Bearer".to_string(),
        credentials: Some(Secret::new("tok3n")),
        credentials_file: None,
    });
    WriteClient::new(&cfg)
        .unwrap()
        .store(&body(), 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!(server.seen()[0].headers["authorization"], "Bearer tok3n");

    let dir = tempfile::tempdir().unwrap();
    cfg.http.authorization = Some(Authorization {
        kind: "Bearer".to_string(),
        credentials: None,
        credentials_file: Some(dir.path().join("absent")),
    });
    let err = WriteClient::new(&cfg)
        .unwrap()
        .store(&body(), 0, Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NonRecoverable { status: None, message } if message.contains("absent")),
        "{err}"
    );
}

#[track_caller]
fn classify(status: u16, retry_on_429: bool, retry_after: Option<&str>) -> StoreError {
    let server = Server::start(vec![(
        status,
        retry_after.map(|v| ("Retry-After", v.to_string())),
    )]);
    let mut cfg = config(&server.url());
    cfg.queue_config.retry_on_http_429 = retry_on_429;
    WriteClient::new(&cfg)
        .unwrap()
        .store(&body(), 0, Duration::from_secs(5))
        .unwrap_err()
}

#[test]
fn answers_are_classified_as_prometheus_does() {
    match classify(500, true, Some("3")) {
        StoreError::Recoverable {
            retry_after,
            message,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)));
            assert!(message.contains("500"), "{message}");
            assert!(message.contains("refused: bad sample"), "{message}");
            assert!(!message.contains("more"), "first line only: {message}");
        }
        other => panic!("500 must be retried: {other}"),
    }
    assert!(matches!(
        classify(503, true, None),
        StoreError::Recoverable {
            retry_after: None,
            ..
        }
    ));
    assert!(matches!(
        classify(429, true, Some("1")),
        StoreError::Recoverable { .. }
    ));
    assert!(matches!(
        classify(429, false, None),
        StoreError::NonRecoverable {
            status: Some(429),
            ..
        }
    ));
    assert!(matches!(
        classify(400, true, None),
        StoreError::NonRecoverable {
            status: Some(400),
            ..
        }
    ));
    assert!(matches!(
        classify(404, true, None),
        StoreError::NonRecoverable {
            status: Some(404),
            ..
        }
    ));
}

#[test]
fn connection_refused_is_retried() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = config(&format!("http://127.0.0.1:{port}/api/v1/write"));
    let err = WriteClient::new(&cfg)
        .unwrap()
        .store(&body(), 0, Duration::from_secs(5))
        .unwrap_err();
    assert!(matches!(err, StoreError::Recoverable { .. }), "{err}");
}

#[test]
fn tls_files_that_do_not_hold_pem_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let mut cfg = config("https://127.0.0.1:1/api/v1/write");
    cfg.http.tls_config.ca_file = Some(ca);
    let err = WriteClient::new(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("ca.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
}
