//! `https://` proxies and `proxy_connect_header` (headers sent to the proxy
//! with each CONNECT), as Go's `Transport` does them.
//!
//! ureq 2 speaks plain HTTP to its proxy and writes the CONNECT itself with
//! nothing but `Proxy-Authorization`, so such a client talks to a small
//! forwarder of its own on 127.0.0.1 instead: for each connection the
//! forwarder reads the request head, adds the headers when it is a CONNECT,
//! sends it to the real proxy (over TLS for an `https://` proxy, with the
//! client's TLS settings and the proxy's host name, as Go) and then copies
//! bytes both ways until either side closes. Requests that are not CONNECTs
//! (plain http targets) pass unchanged, as Go sends them.
//!
//! Threads: one accepting thread ("http proxy adapter") and two per
//! forwarded connection; they end when the client (and so the adapter) is
//! dropped and the connections close. Over TLS the two threads share the
//! connection's TLS state behind a lock, which is held while a TLS record
//! is written to the socket (records must go out in order) but never while
//! waiting to read.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::pki_types::ServerName;

/// Longest request head read from ureq.
const MAX_HEAD: usize = 64 * 1024;
/// Connect timeout to the real proxy.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The real proxy: `host:port`, and TLS settings for an `https://` one.
#[derive(Clone)]
pub(super) struct Upstream {
    pub(super) addr: String,
    pub(super) tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

/// A forwarder to one proxy; stops accepting when dropped.
#[derive(Debug)]
pub(super) struct ConnectAdapter {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl ConnectAdapter {
    /// Starts a forwarder to `proxy` that adds `headers` (already
    /// `Name: value` lines without CRLF) to CONNECTs.
    pub(super) fn start(proxy: Upstream, headers: Arc<Vec<String>>) -> io::Result<ConnectAdapter> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let acceptor = std::thread::Builder::new()
            .name("http proxy adapter".to_string())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let (proxy, headers) = (proxy.clone(), Arc::clone(&headers));
                    let spawned = std::thread::Builder::new()
                        .name("http proxy conn".to_string())
                        .spawn(move || forward(client, &proxy, &headers));
                    if let Err(e) = spawned {
                        log::warn!(err:% = e; "Cannot start a proxy connection thread");
                    }
                }
            })?;
        Ok(ConnectAdapter {
            local,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The address ureq is told the proxy is at.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for ConnectAdapter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.local);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Forwards one connection; errors just close it (ureq reports them).
fn forward(mut client: TcpStream, proxy: &Upstream, headers: &[String]) {
    let result = (|| -> io::Result<()> {
        let (head, rest) = read_head(&mut client)?;
        let mut first = with_connect_headers(&head, headers);
        first.extend_from_slice(&rest);
        let addr = proxy
            .addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "proxy address"))?;
        let upstream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        match &proxy.tls {
            None => pipe_plain(client, upstream, &first),
            Some((config, name)) => pipe_tls(client, upstream, config, name, &first),
        }
    })();
    if let Err(e) = result {
        log::debug!(err:% = e; "Proxy connection ended");
    }
}

/// Copies both ways between `client` and a plain proxy connection.
fn pipe_plain(mut client: TcpStream, mut upstream: TcpStream, first: &[u8]) -> io::Result<()> {
    upstream.write_all(first)?;
    let (mut up_read, mut client_write) = (upstream.try_clone()?, client.try_clone()?);
    let back = std::thread::Builder::new()
        .name("http proxy conn".to_string())
        .spawn(move || {
            let _ = io::copy(&mut up_read, &mut client_write);
            let _ = client_write.shutdown(Shutdown::Write);
        })?;
    let _ = io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

fn tls_io(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Copies both ways between `client` and a TLS connection to the proxy.
fn pipe_tls(
    mut client: TcpStream,
    mut tcp: TcpStream,
    config: &Arc<rustls::ClientConfig>,
    name: &ServerName<'static>,
    first: &[u8],
) -> io::Result<()> {
    let mut conn =
        rustls::ClientConnection::new(Arc::clone(config), name.clone()).map_err(tls_io)?;
    tcp.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    tcp.set_read_timeout(None)?;
    conn.writer().write_all(first)?;
    while conn.wants_write() {
        conn.write_tls(&mut tcp)?;
    }
    let conn = Arc::new(Mutex::new(conn));
    let (tcp_read, tcp_write) = (tcp.try_clone()?, tcp.try_clone()?);
    let client_write = client.try_clone()?;
    let shared = Arc::clone(&conn);
    let back = std::thread::Builder::new()
        .name("http proxy conn".to_string())
        .spawn(move || {
            let _ = tls_to_client(&shared, tcp_read, tcp_write, client_write);
        })?;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = client.read(&mut buf)?;
        let mut c = conn.lock();
        if n == 0 {
            c.send_close_notify();
        } else {
            c.writer().write_all(&buf[..n])?;
        }
        while c.wants_write() {
            c.write_tls(&mut tcp)?;
        }
        if n == 0 {
            break;
        }
    }
    let _ = back.join();
    Ok(())
}

/// The proxy-to-client half over TLS: raw records are read without the
/// lock, decrypted under it, and the plaintext written to the client.
fn tls_to_client(
    conn: &Mutex<rustls::ClientConnection>,
    mut tcp_read: TcpStream,
    mut tcp_write: TcpStream,
    mut client: TcpStream,
) -> io::Result<()> {
    let mut raw = [0u8; 16 * 1024];
    let mut plain = Vec::new();
    loop {
        let n = tcp_read.read(&mut raw)?;
        let mut closed = n == 0;
        plain.clear();
        {
            let mut c = conn.lock();
            let mut records = &raw[..n];
            while !records.is_empty() {
                c.read_tls(&mut records)?;
                c.process_new_packets().map_err(tls_io)?;
            }
            match c.reader().read_to_end(&mut plain) {
                Ok(_) => closed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            while c.wants_write() {
                c.write_tls(&mut tcp_write)?;
            }
        }
        client.write_all(&plain)?;
        if closed {
            let _ = client.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// The request head (through the blank line) and any bytes read past it.
fn read_head(client: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `head` with `headers` added before its blank line when it is a CONNECT.
fn with_connect_headers(head: &[u8], headers: &[String]) -> Vec<u8> {
    if !head.starts_with(b"CONNECT ") {
        return head.to_vec();
    }
    let mut out = head[..head.len() - 2].to_vec();
    for header in headers {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_go_into_connects_only() {
        let headers = vec![
            "X-A: 1".to_string(),
            "Proxy-Authorization: Basic eA==".to_string(),
        ];
        let connect = b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n";
        assert_eq!(
            with_connect_headers(connect, &headers),
            b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nX-A: 1\r\nProxy-Authorization: Basic eA==\r\n\r\n"
        );
        let get = b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(with_connect_headers(get, &headers), get.to_vec());
    }
}
