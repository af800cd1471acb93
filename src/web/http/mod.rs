//! A blocking HTTP/1.1 server on std threads, the part of Go's `net/http`
//! server that Prometheus's `web` package stands on.
//!
//! Threads: one accept thread (`web accept`) takes connections from the
//! listener and gives each its own named thread (`web conn <peer>`), as Go
//! gives each connection a goroutine. A connection thread reads a request
//! head (parsed by `httparse`) and body, calls the handler, writes the
//! response, and waits for the next request on a keep-alive connection. No
//! thread pool is shared between connections, so a slow or idle client holds
//! only its own thread and never delays another client's answer.
//!
//! What a hostile client can take is bounded by [`Limits`]:
//! - every read of a request head and body runs against one deadline from
//!   the request's first byte (slowloris), every response write against
//!   another, a TLS handshake against a third, and a keep-alive connection
//!   is closed when idle too long;
//! - heads over [`Limits::max_header_bytes`] get 431, bodies over
//!   [`Limits::max_body_bytes`] get 413, malformed heads 400;
//! - at most [`Limits::max_connections`] connections are open
//!   (`--web.max-connections`). When a new one comes at the cap, the
//!   connection idle the longest (waiting for its next request) is closed
//!   to make room; when none is idle, the new one is answered
//!   `503 Service Unavailable` and closed. Prometheus's `LimitListener`
//!   instead stops accepting, so that a client at the cap hangs until a
//!   slot frees: on an edge box a monitoring probe must rather get an
//!   answer, and idle keep-alive connections must not lock it out.
//!
//! TLS is rustls 0.23 over the same `ring` provider the HTTP client uses.
//! HTTP/2 and `Upgrade` are not offered: the endpoints are small request and
//! response exchanges that HTTP/1.1 serves well.

mod conn;
mod listener;
mod request;
mod response;
mod stream;
pub(crate) mod tls;

use std::time::Duration;

pub(crate) use listener::{Listener, ListenerStats};
pub use request::{Method, Request};
pub use response::Response;

/// What serves requests: called on the connection's thread, once per request.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Bounds on connections and requests. The defaults suit an edge box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once (`--web.max-connections`, 512 as
    /// Prometheus); 0 means no cap, as Prometheus.
    pub max_connections: usize,
    /// Deadline for reading a whole request, head and body, from its first
    /// byte (30 s; Prometheus's `--web.read-timeout` is 5 m, too long for a
    /// box a few hundred trickling clients could otherwise hold).
    pub read_timeout: Duration,
    /// How long a connection may wait for its next request (5 m, as
    /// Prometheus's read timeout closes idle connections).
    pub idle_timeout: Duration,
    /// Deadline for a TLS handshake from the connection's accept (10 s).
    pub tls_handshake_timeout: Duration,
    /// Deadline for writing one response (30 s).
    pub write_timeout: Duration,
    /// Largest request head, request line and headers (64 KiB).
    pub max_header_bytes: usize,
    /// Largest request body (1 MiB; the only bodies are form POSTs).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            tls_handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
            max_body_bytes: 1 << 20,
        }
    }
}
