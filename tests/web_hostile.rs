//! Hostile clients against the web server over real sockets: hundreds of
//! idle connections, trickled heads, stalled and garbage TLS handshakes,
//! oversized and malformed heads, the connection cap. Through all of it
//! `/metrics` and `/-/healthy` answer every time on a new connection and
//! the process lives.
//!
//! Most tests run the real binary; the deadline tests run the server in
//! process with deadlines of a second. No assertion is timed: every client
//! read gives up after a few seconds, and giving up is the failure.

mod peers;
mod web_support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use edgescrape::web::{Limits, Metrics, WebOptions};
use peers::{free_port, wait_until, ChildGuard};
use web_support::{Fixture, TestLifecycle};

/// How long a client waits for any answer; waiting longer is the failure.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The real binary, scraping its own `/metrics` every second.
struct Edge {
    guard: ChildGuard,
    port: u16,
    base: String,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

/// A client that opens a new connection for every request.
fn fresh_agent(tls: Option<rustls::ClientConfig>) -> ureq::Agent {
    let builder = ureq::AgentBuilder::new()
        .timeout(CLIENT_TIMEOUT)
        .max_idle_connections(0);
    match tls {
        Some(config) => builder.tls_config(Arc::new(config)).build(),
        None => builder.build(),
    }
}

impl Edge {
    /// Starts the binary with `flags`; `tls`: serve TLS with a fresh
    /// self-signed certificate.
    fn start(flags: &[&str], tls: bool) -> Edge {
        raise_open_files_limit();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let scheme = if tls { "https" } else { "http" };
        let cfg = dir.path().join("prometheus.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: self\n    scheme: {scheme}\n    tls_config:\n      insecure_skip_verify: true\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n"
        );
        std::fs::write(&cfg, config).expect("write config");
        let mut args = vec![
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let client_tls = tls.then(|| {
            let der = write_cert(dir.path());
            args.push(format!(
                "--web.config.file={}",
                dir.path().join("web.yml").display()
            ));
            trusting(der)
        });
        args.extend(flags.iter().map(|f| f.to_string()));
        let guard = ChildGuard::spawn(
            env!("CARGO_BIN_EXE_edgescrape"),
            &args,
            &dir.path().join("edgescrape.log"),
        );
        let edge = Edge {
            guard,
            port,
            base: format!("{scheme}://127.0.0.1:{port}"),
            agent: fresh_agent(client_tls),
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(30), || {
            edge.get("/-/ready").is_ok_and(|(s, _)| s == 200)
        });
        assert!(ready, "edgescrape did not become ready on {}", edge.base);
        edge
    }

    /// Status and body, or why there was no response.
    fn get(&self, path: &str) -> Result<(u16, String), String> {
        let response = match self.agent.get(&format!("{}{path}", self.base)).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let status = response.status();
        Ok((status, response.into_string().unwrap_or_default()))
    }

    /// `/metrics` and `/-/healthy` answer 200 on new connections, and the
    /// process is alive.
    fn probe(&mut self, context: &str) {
        for path in ["/metrics", "/-/healthy"] {
            match self.get(path) {
                Ok((200, _)) => {}
                Ok((status, body)) => panic!("{path} {context}: {status} {body}"),
                Err(e) => panic!("{path} {context}: {e}"),
            }
        }
        self.assert_alive(context);
    }

    fn assert_alive(&mut self, context: &str) {
        let status = self.guard.child.try_wait().expect("wait for edgescrape");
        assert!(status.is_none(), "edgescrape exited {context}: {status:?}");
    }

    /// The value of a self-metric (OpenMetrics text), 0 when absent.
    fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics").expect("GET /metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    fn connect(&self) -> TcpStream {
        connect(self.port)
    }
}

/// As the binary does: many sockets need more than a soft limit of 1024.
fn raise_open_files_limit() {
    rlimit::increase_nofile_limit(u64::MAX).expect("raise RLIMIT_NOFILE");
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(CLIENT_TIMEOUT)).expect("timeout");
    s
}

/// Writes a self-signed certificate for 127.0.0.1, its key and a web config
/// naming them; returns the certificate in DER for clients to trust.
fn write_cert(dir: &Path) -> Vec<u8> {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("generate certificate");
    std::fs::write(dir.join("server.crt"), ck.cert.pem()).expect("write cert");
    std::fs::write(dir.join("server.key"), ck.key_pair.serialize_pem()).expect("write key");
    std::fs::write(
        dir.join("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .expect("write web config");
    ck.cert.der().to_vec()
}

fn trusting(cert_der: Vec<u8>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der))
        .expect("add root");
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Reads one response (head and `Content-Length` body): status and body.
fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            Ok(_) => panic!("closed mid-response: {:?}", String::from_utf8_lossy(&buf)),
            Err(e) => panic!("no response within {CLIENT_TIMEOUT:?}: {e}"),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).expect("read body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Whether the server closed `s` (EOF or reset) before the client timeout.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Sends `raw` on a new connection: the response, and whether the server
/// then closed the connection.
fn exchange(port: u16, raw: &[u8]) -> (u16, String, bool) {
    let mut s = connect(port);
    s.write_all(raw).expect("send");
    let (status, body) = read_response(&mut s);
    (status, body, closed_by_server(&mut s))
}

#[test]
fn hundreds_of_idle_connections_starve_nothing() {
    let mut edge = Edge::start(&[], false);
    let mut idle = Vec::new();
    for n in 1..=600 {
        idle.push(edge.connect());
        if n % 100 == 0 {
            edge.probe(&format!("with {n} idle connections open"));
        }
    }
    // Idle between requests, as a keep-alive client leaves them.
    for n in 1..=100 {
        let mut s = edge.connect();
        s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: edge\r\n\r\n")
            .expect("send");
        assert_eq!(read_response(&mut s).0, 200, "keep-alive client {n}");
        idle.push(s);
    }
    edge.probe("with 700 idle connections opened");
    // Over the cap of 512, the longest idle made room.
    assert!(edge.metric("edgescrape_web_connections_evicted_total") >= 188.0);
    assert!(edge.metric("edgescrape_web_connections_open") <= 512.0);
    assert_eq!(edge.metric("edgescrape_web_connections_refused_total"), 0.0);
}

#[test]
fn trickled_heads_get_their_answer_and_delay_no_one() {
    let mut edge = Edge::start(&[], false);
    let head = "GET /-/healthy HTTP/1.1\r\nHost: edge\r\nUser-Agent: trickle\r\nAccept: */*\r\nX-One: 1\r\nX-Two: 2\r\nX-Three: 3\r\n\r\n";
    let clients: Vec<_> = (0..48)
        .map(|n| {
            let mut s = edge.connect();
            std::thread::spawn(move || {
                // Half send a line at a time, half a byte at a time.
                let pieces: Vec<&str> = if n % 2 == 0 {
                    head.split_inclusive('\n').collect()
                } else {
                    (0..head.len()).map(|i| &head[i..i + 1]).collect()
                };
                let pause = Duration::from_millis(if n % 2 == 0 { 150 } else { 12 });
                for piece in pieces {
                    s.write_all(piece.as_bytes()).expect("trickle");
                    std::thread::sleep(pause);
                }
                read_response(&mut s)
            })
        })
        .collect();
    let mut probes = 0;
    while clients.iter().any(|c| !c.is_finished()) {
        edge.probe(&format!("while 48 clients trickle heads (probe {probes})"));
        probes += 1;
    }
    for (n, c) in clients.into_iter().enumerate() {
        let (status, body) = c.join().expect("trickling client");
        assert_eq!(
            (status, body.as_str()),
            (200, "edgescrape is Healthy.\n"),
            "client {n}"
        );
    }
    assert!(probes > 0);
}

#[test]
fn stalled_and_garbage_tls_handshakes_starve_nothing() {
    let mut edge = Edge::start(&[], true);
    let mut stalled = Vec::new();
    for _ in 0..100 {
        stalled.push(edge.connect());
    }
    edge.probe("with 100 silent TLS connections");
    // A ClientHello record header announcing 512 bytes, then nothing.
    for _ in 0..50 {
        let mut s = edge.connect();
        s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            .expect("send");
        stalled.push(s);
    }
    edge.probe("with 50 half-sent ClientHellos");
    let mut seed: u32 = 0x2545_f491;
    for n in 0..50 {
        let garbage: Vec<u8> = (0..1024)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let mut s = edge.connect();
        let _ = s.write_all(&garbage);
        assert!(closed_by_server(&mut s), "garbage handshake {n} left open");
    }
    edge.probe("after 50 garbage handshakes");
    for n in 0..20 {
        let mut s = edge.connect();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: edge\r\n\r\n")
            .expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .unwrap_or_else(|e| panic!("plain HTTP on TLS {n} left open: {e}"));
        assert_eq!(
            answer,
            "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        );
    }
    edge.probe("after plain HTTP on the TLS port");
}

/// One line per hostile head: what is sent, the status it gets.
const BAD_HEADS: &[(&str, &[u8], u16)] = &[
    ("no Host in HTTP/1.1", b"GET /metrics HTTP/1.1\r\n\r\n", 400),
    ("binary garbage", b"\x00\x01\x02\xff\xfe\r\n\r\n", 400),
    ("a TLS ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n", 400),
    ("a header without a colon", b"GET / HTTP/1.1\r\nHost: e\r\nNoColon\r\n\r\n", 400),
    ("a space in the target", b"GET /a b HTTP/1.1\r\nHost: e\r\n\r\n", 400),
    ("a target that is no path", b"GET metrics HTTP/1.1\r\nHost: e\r\n\r\n", 400),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: e\r\n\r\n", 505),
    ("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("a bad Content-Length", b"POST /-/reload HTTP/1.1\r\nHost: e\r\nContent-Length: 1x\r\n\r\n", 400),
    ("two Content-Lengths", b"POST /-/reload HTTP/1.1\r\nHost: e\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    ("a body over 1 MiB", b"POST /api/v1/query HTTP/1.1\r\nHost: e\r\nContent-Length: 1048577\r\n\r\n", 413),
    ("a huge Content-Length", b"POST / HTTP/1.1\r\nHost: e\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
    ("Transfer-Encoding gzip", b"POST / HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("Transfer-Encoding and Content-Length", b"POST / HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("a bad chunk size", b"POST / HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("a chunk over 1 MiB", b"POST / HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413),
    ("a chunk without its CRLF", b"POST / HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", 400),
];

#[test]
fn oversized_and_malformed_heads_are_refused_with_a_status() {
    let mut edge = Edge::start(&[], false);
    for (what, raw, want) in BAD_HEADS {
        let (status, body, closed) = exchange(edge.port, raw);
        assert_eq!(status, *want, "{what}: {body}");
        assert!(body.starts_with(&want.to_string()), "{what}: {body}");
        assert!(closed, "{what}: connection left open");
        edge.probe(&format!("after {what}"));
    }
    let big_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: e\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 << 10)
    );
    let many_headers = format!(
        "GET /metrics HTTP/1.1\r\nHost: e\r\n{}\r\n",
        "X-Many: 1\r\n".repeat(500)
    );
    let endless = "GET /metrics HTTP/1.1\r\nHost: e\r\n".to_string() + &"X: y\r\n".repeat(20_000);
    for (what, raw) in [
        ("a 70 KiB header", big_header),
        ("500 header lines", many_headers),
        ("a head that never ends", endless),
    ] {
        let mut s = edge.connect();
        // The server may answer and close before all of it is sent.
        let _ = s.write_all(raw.as_bytes());
        let (status, body) = read_response(&mut s);
        assert_eq!(status, 431, "{what}: {body}");
        edge.probe(&format!("after {what}"));
    }
    assert!(edge.get("/-/healthy").is_ok());
}

#[test]
fn well_formed_but_unusual_requests_are_served() {
    let edge = Edge::start(&["--web.enable-lifecycle"], false);
    let port = edge.port;
    // A chunked form body with a chunk extension and a trailer.
    let form = "query=up";
    let chunked = format!(
        "POST /api/v1/query HTTP/1.1\r\nHost: e\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;x=y\r\n{}\r\n{:x}\r\n{}\r\n0\r\nX-Trailer: t\r\n\r\n",
        &form[..3],
        form.len() - 3,
        &form[3..]
    );
    let (status, body, closed) = exchange(port, chunked.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"resultType\":\"vector\""), "{body}");
    assert!(closed, "Connection: close honoured");
    // Expect: 100-continue gets its interim answer before the body is sent.
    let mut s = connect(port);
    s.write_all(
        b"POST /-/reload HTTP/1.1\r\nHost: e\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    )
    .expect("send");
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"{}").expect("send body");
    assert_eq!(read_response(&mut s).0, 200);
    // Two pipelined requests in one write, then HEAD, on one connection.
    s.write_all(
        b"GET /-/healthy HTTP/1.1\r\nHost: e\r\n\r\nGET /-/ready HTTP/1.1\r\nHost: e\r\n\r\n",
    )
    .expect("send");
    assert_eq!(
        read_response(&mut s),
        (200, "edgescrape is Healthy.\n".into())
    );
    assert_eq!(
        read_response(&mut s),
        (200, "edgescrape is Ready.\n".into())
    );
    s.write_all(b"HEAD /-/healthy HTTP/1.1\r\nHost: e\r\n\r\n")
        .expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("HEAD response");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.contains("content-length: 23\r\n"), "{head}");
    // HTTP/1.0 closes unless asked to keep alive; a leading blank line is fine.
    let (status, _, closed) = exchange(port, b"\r\nGET /-/healthy HTTP/1.0\r\n\r\n");
    assert_eq!((status, closed), (200, true));
    let mut s = connect(port);
    for _ in 0..2 {
        s.write_all(b"GET /-/healthy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .expect("send");
        assert_eq!(read_response(&mut s).0, 200);
    }
    // An absolute-form target is served by its path.
    let (status, body, _) = exchange(
        port,
        b"GET http://edge:9099/-/healthy HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((status, body.as_str()), (200, "edgescrape is Healthy.\n"));
}

#[test]
fn at_the_connection_cap_idle_ones_make_room_and_busy_ones_mean_503() {
    let mut edge = Edge::start(&["--web.max-connections=8"], false);
    // Idle connections (no byte sent) are closed to make room.
    let idle: Vec<TcpStream> = (0..30).map(|_| edge.connect()).collect();
    edge.probe("with 30 idle connections and a cap of 8");
    drop(idle);
    // Connections in the middle of a head are busy: past the cap, a new
    // one gets a clear 503 instead of a hang.
    let mut holders = Vec::new();
    let refusal = (0..40).find_map(|_| {
        let mut h = edge.connect();
        h.write_all(b"GET /-/healthy HTTP/1.1\r\n").expect("send");
        holders.push(h);
        std::thread::sleep(Duration::from_millis(50));
        let (status, body, closed) = exchange(
            edge.port,
            b"GET /-/healthy HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
        );
        assert!(closed);
        (status == 503).then_some(body)
    });
    let body = refusal.expect("a connection over the cap is answered 503");
    assert!(body.contains("--web.max-connections=8"), "{body}");
    // A burst over the cap: every connection is answered 503 or closed.
    let burst: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = edge.connect();
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: e\r\n\r\n");
            s
        })
        .collect();
    for (n, mut s) in burst.into_iter().enumerate() {
        assert!(closed_by_server(&mut s), "burst connection {n} hangs");
    }
    edge.assert_alive("after a burst over the cap");
    drop(holders);
    assert!(
        wait_until(Duration::from_secs(10), || edge
            .get("/-/healthy")
            .is_ok_and(|(s, _)| s == 200)),
        "the server answers again once the busy connections are gone"
    );
    edge.probe("after the cap was reached");
    assert!(edge.metric("edgescrape_web_connections_refused_total") >= 1.0);
    assert!(edge.metric("edgescrape_web_connections_evicted_total") >= 1.0);
}

/// Deadlines of a second, on a server in this process.
fn short_deadlines(web_config: Option<std::path::PathBuf>) -> Fixture {
    let lifecycle = TestLifecycle::default();
    lifecycle.ready.store(true, Ordering::SeqCst);
    let limits = Limits {
        read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        tls_handshake_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let options = WebOptions {
        web_config_file: web_config,
        limits,
        ..WebOptions::default()
    };
    Fixture::start(options, lifecycle, Metrics::new())
}

fn port_of(f: &Fixture) -> u16 {
    f.server.as_ref().expect("server").local_addr().port()
}

/// Sends a header line every 200 ms: true once the server closes.
fn trickle_until_closed(s: &mut TcpStream) -> bool {
    s.write_all(b"GET /metrics HTTP/1.1\r\n").expect("send");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    for n in 0..50 {
        if s.write_all(format!("X-{n}: y\r\n").as_bytes()).is_err() {
            return true;
        }
        let mut sink = [0u8; 1024];
        match s.read(&mut sink) {
            Ok(_) => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn deadlines_close_slow_heads_idle_connections_and_stalled_handshakes() {
    let f = short_deadlines(None);
    let port = port_of(&f);
    let mut idle = connect(port);
    assert!(
        closed_by_server(&mut idle),
        "an idle connection outlived its timeout"
    );
    let mut kept = connect(port);
    kept.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: e\r\n\r\n")
        .expect("send");
    assert_eq!(read_response(&mut kept).0, 200);
    assert!(
        closed_by_server(&mut kept),
        "a keep-alive connection outlived its idle timeout"
    );
    let mut slow = connect(port);
    assert!(
        trickle_until_closed(&mut slow),
        "a head trickled for 10 s was not cut"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    write_cert(dir.path());
    let f = short_deadlines(Some(dir.path().join("web.yml")));
    let port = port_of(&f);
    let mut silent = connect(port);
    assert!(
        closed_by_server(&mut silent),
        "a silent TLS connection was kept"
    );
    let mut half = connect(port);
    half.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        .expect("send");
    assert!(
        closed_by_server(&mut half),
        "a stalled TLS handshake was kept"
    );
}

#[test]
fn a_client_that_never_reads_is_cut_at_the_write_deadline() {
    let lifecycle = TestLifecycle::default();
    lifecycle.ready.store(true, Ordering::SeqCst);
    let limits = Limits {
        write_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let options = WebOptions {
        limits,
        ..WebOptions::default()
    };
    let f = Fixture::start(options, lifecycle, Metrics::new());
    let mut s = connect(port_of(&f));
    // Far more responses than socket buffers hold (each is a few KiB).
    let requests = 10_000;
    let one = "GET /api/v1/targets HTTP/1.1\r\nHost: e\r\n\r\n";
    let _ = s.write_all(one.repeat(requests).as_bytes());
    // Not reading past the write deadline.
    std::thread::sleep(Duration::from_secs(3));
    let mut received = Vec::new();
    let closed = match s.read_to_end(&mut received) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    assert!(closed, "a connection whose client never reads was kept");
    let answered = String::from_utf8_lossy(&received)
        .matches("HTTP/1.1 200 OK")
        .count();
    assert!(answered < requests, "all {answered} responses were written");
    assert_eq!(
        web_support::get(&format!("{}/-/healthy", f.base)).status,
        200
    );
}
