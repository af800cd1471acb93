//! `proxy_connect_header`: headers sent to an HTTP proxy with each CONNECT,
//! as Go's `Transport.ProxyConnectHeader`.
//!
//! ureq 2 writes the CONNECT itself and adds nothing but
//! `Proxy-Authorization`, so a client with connect headers talks to a small
//! forwarder of its own on 127.0.0.1 instead of the proxy: for each
//! connection the forwarder reads the request head, adds the headers when
//! it is a CONNECT, sends it to the real proxy and then copies bytes both
//! ways until either side closes. Requests that are not CONNECTs (plain
//! http targets) pass unchanged, as Go sends them.
//!
//! Threads: one accepting thread ("http proxy adapter") and two per
//! forwarded connection; they end when the client (and so the adapter) is
//! dropped and the connections close.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest request head read from ureq.
const MAX_HEAD: usize = 64 * 1024;
/// Connect timeout to the real proxy.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A forwarder to one proxy; stops accepting when dropped.
#[derive(Debug)]
pub(super) struct ConnectAdapter {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl ConnectAdapter {
    /// Starts a forwarder to the proxy at `proxy` (`host:port`) that adds
    /// `headers` (already `Name: value` lines without CRLF) to CONNECTs.
    pub(super) fn start(proxy: String, headers: Arc<Vec<String>>) -> io::Result<ConnectAdapter> {
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
                        log::warn!("msg=\"cannot start a proxy connection thread\" err={e:?}");
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
fn forward(mut client: TcpStream, proxy: &str, headers: &[String]) {
    let result = (|| -> io::Result<()> {
        let (head, rest) = read_head(&mut client)?;
        let head = with_connect_headers(&head, headers);
        let addr = proxy
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "proxy address"))?;
        let mut upstream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        upstream.write_all(&head)?;
        upstream.write_all(&rest)?;
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
    })();
    if let Err(e) = result {
        log::debug!("msg=\"proxy connection ended\" err={e:?}");
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
