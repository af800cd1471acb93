//! The accept thread, the table of open connections with the connection
//! cap, and stopping.
//!
//! Concurrency: the accept thread admits connections and spawns their
//! threads while holding the table's lock, so a connection thread, which
//! takes the lock to leave the table, always finds itself there. The lock is
//! never held across I/O: closing an evicted connection is a `shutdown`
//! call, which does not block.

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use rustls::ServerConfig;

use super::conn::Conn;
use super::stream::{DeadlineStream, Transport};
use super::{Handler, Limits, Response};

/// Most connections being refused at once (each answered 503 on a thread of
/// its own); past this a connection over the cap is closed unanswered.
const MAX_REFUSING: usize = 32;

/// How long a refused connection may take to send its request (and to
/// finish a TLS handshake) before it is closed unanswered.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Stack of a connection thread: handlers keep their data on the heap.
const CONN_STACK: usize = 512 << 10;

/// Pause after a failed `accept` (such as running out of file descriptors),
/// so the accept thread does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a connection thread is doing, as the table knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a request's first byte since then: may be evicted.
    Idle(Instant),
    /// Reading, serving or writing a request.
    Busy,
    /// Over the cap: being answered 503.
    Refusing,
    /// Closed to make room; its thread is on its way out.
    Evicted,
}

struct Slot {
    /// A handle on the connection's socket, to close it from outside.
    tcp: TcpStream,
    state: State,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Table {
    slots: HashMap<u64, Slot>,
    next_id: u64,
    /// Slots `Idle` or `Busy`: what the cap counts.
    serving: usize,
    refusing: usize,
}

impl Table {
    /// Closes the connection idle the longest; false when none is idle.
    fn evict_oldest_idle(&mut self) -> bool {
        let oldest = self
            .slots
            .iter()
            .filter_map(|(id, s)| match s.state {
                State::Idle(since) => Some((since, *id)),
                _ => None,
            })
            .min();
        let Some((_, id)) = oldest else {
            return false;
        };
        if let Some(slot) = self.slots.get_mut(&id) {
            let _ = slot.tcp.shutdown(Shutdown::Both);
            slot.state = State::Evicted;
            self.serving -= 1;
        }
        true
    }

    fn insert(&mut self, id: u64, tcp: TcpStream, state: State, thread: JoinHandle<()>) {
        match state {
            State::Idle(_) | State::Busy => self.serving += 1,
            State::Refusing => self.refusing += 1,
            State::Evicted => {}
        }
        let thread = Some(thread);
        self.slots.insert(id, Slot { tcp, state, thread });
    }

    fn remove(&mut self, id: u64) {
        if let Some(slot) = self.slots.remove(&id) {
            match slot.state {
                State::Idle(_) | State::Busy => self.serving -= 1,
                State::Refusing => self.refusing -= 1,
                State::Evicted => {}
            }
        }
    }
}

/// Counts of what the listener did, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ListenerStats {
    /// Connections open now (counted by the cap; refusals are not).
    pub(crate) open: AtomicUsize,
    /// Connections accepted and served.
    pub(crate) accepted: AtomicU64,
    /// Connections over the cap, answered 503 or closed unanswered.
    pub(crate) refused: AtomicU64,
    /// Idle connections closed to make room for new ones.
    pub(crate) evicted: AtomicU64,
}

/// State shared by the accept thread and the connection threads.
pub(crate) struct Shared {
    table: Mutex<Table>,
    limits: Limits,
    tls: Option<Arc<ServerConfig>>,
    handler: Arc<Handler>,
    refusal: Arc<Handler>,
    stopping: AtomicBool,
    stats: Arc<ListenerStats>,
    /// Disconnected when the server stops; cuts the accept back-off short.
    stop_rx: Receiver<()>,
}

impl Shared {
    /// Marks connection `id` as waiting for its next request.
    pub(crate) fn mark_idle(&self, id: u64) {
        let mut table = self.table.lock();
        if let Some(slot) = table.slots.get_mut(&id) {
            if slot.state == State::Busy {
                slot.state = State::Idle(Instant::now());
            }
        }
    }

    /// Marks connection `id` as reading a request; false if it was evicted
    /// meanwhile and must close.
    pub(crate) fn mark_busy(&self, id: u64) -> bool {
        let mut table = self.table.lock();
        match table.slots.get_mut(&id) {
            Some(slot) => match slot.state {
                State::Idle(_) => {
                    slot.state = State::Busy;
                    true
                }
                State::Busy | State::Refusing => true,
                State::Evicted => false,
            },
            None => false,
        }
    }

    /// Whether the server is stopping (no more keep-alive).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            let accepted = listener.accept();
            if self.stopping() {
                return;
            }
            match accepted {
                Ok((tcp, peer)) => self.admit(tcp, peer),
                Err(e) => {
                    log::warn!(err:% = e; "Accepting a web connection failed");
                    if self.stop_rx.recv_timeout(ACCEPT_BACKOFF).is_err() && self.stopping() {
                        return;
                    }
                }
            }
        }
    }

    /// Gives a new connection its thread, making room or refusing it at
    /// the cap.
    fn admit(self: &Arc<Self>, tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let handle = match tcp.try_clone() {
            Ok(h) => h,
            Err(e) => {
                log::warn!(peer:% = peer, err:% = e; "Web connection dropped");
                return;
            }
        };
        let mut table = self.table.lock();
        let max = self.limits.max_connections;
        let at_cap = max > 0 && table.serving >= max;
        let refuse = at_cap && !table.evict_oldest_idle();
        if at_cap && !refuse {
            self.stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
        if refuse {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            if table.refusing >= MAX_REFUSING {
                log::debug!(peer:% = peer; "Web connection over the cap closed");
                return;
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let (name, state) = if refuse {
            (format!("web refuse {peer}"), State::Refusing)
        } else {
            (format!("web conn {peer}"), State::Idle(Instant::now()))
        };
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(name)
            .stack_size(CONN_STACK)
            .spawn(move || shared.serve(id, tcp, peer, refuse));
        match spawned {
            Ok(thread) => {
                table.insert(id, handle, state, thread);
                if !refuse {
                    self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => log::warn!(peer:% = peer, err:% = e; "No thread for a web connection"),
        }
        self.stats.open.store(table.serving, Ordering::Relaxed);
    }

    /// The body of a connection thread.
    fn serve(self: Arc<Self>, id: u64, tcp: TcpStream, peer: SocketAddr, refuse: bool) {
        let _leave = LeaveTable { shared: &self, id };
        let mut limits = self.limits;
        if refuse {
            limits.read_timeout = REFUSAL_TIMEOUT;
            limits.idle_timeout = REFUSAL_TIMEOUT;
            limits.tls_handshake_timeout = REFUSAL_TIMEOUT;
            limits.write_timeout = REFUSAL_TIMEOUT;
        }
        let Some(transport) = self.transport(id, tcp, peer, &limits) else {
            return;
        };
        let handler = if refuse { &self.refusal } else { &self.handler };
        Conn {
            transport,
            peer,
            id,
            shared: Arc::clone(&self),
            handler: Arc::clone(handler),
            limits,
            one_shot: refuse,
            buf: Vec::new(),
        }
        .run();
    }

    /// The connection's transport: plain, or TLS once the handshake is
    /// done. The wait for the handshake's first byte counts as idle.
    fn transport(
        &self,
        id: u64,
        tcp: TcpStream,
        peer: SocketAddr,
        limits: &Limits,
    ) -> Option<Transport> {
        let mut stream = DeadlineStream::new(tcp);
        let Some(config) = &self.tls else {
            return Some(Transport::Plain(stream));
        };
        let deadline = Instant::now() + limits.tls_handshake_timeout;
        stream.set_deadline(deadline);
        let mut first = [0u8; 5];
        if !matches!(stream.peek_first(&mut first), Ok(1..)) || !self.mark_busy(id) {
            return None;
        }
        if looks_like_http(&first) {
            log::debug!(peer:% = peer; "Plain HTTP on the TLS port");
            let _ = stream.write_all(PLAIN_HTTP_ON_TLS);
            Transport::Plain(stream).close(Instant::now() + REFUSAL_TIMEOUT);
            return None;
        }
        match Transport::tls(stream, Arc::clone(config), deadline) {
            Ok(t) => Some(t),
            Err(e) => {
                log::debug!(peer:% = peer, err:% = e; "TLS handshake failed");
                None
            }
        }
    }
}

/// Go's answer to plain HTTP on a TLS port.
const PLAIN_HTTP_ON_TLS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Go's `tlsRecordHeaderLooksLikeHTTP`: where a TLS record header should
/// be, the start of an HTTP request.
fn looks_like_http(first: &[u8; 5]) -> bool {
    matches!(first, b"GET /" | b"HEAD " | b"POST " | b"PUT /" | b"OPTIO")
}

/// Takes a connection out of the table when its thread ends, however it
/// ends.
struct LeaveTable<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for LeaveTable<'_> {
    fn drop(&mut self) {
        let mut table = self.shared.table.lock();
        table.remove(self.id);
        self.shared
            .stats
            .open
            .store(table.serving, Ordering::Relaxed);
    }
}

/// A listening socket with its accept thread; see the module doc.
pub(crate) struct Listener {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    stop_tx: Option<Sender<()>>,
}

impl Listener {
    /// Starts the accept thread on a bound `listener`. `tls`: serve TLS
    /// with this config.
    pub(crate) fn start(
        listener: TcpListener,
        tls: Option<Arc<ServerConfig>>,
        limits: Limits,
        handler: Arc<Handler>,
    ) -> std::io::Result<Listener> {
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let refusal_body = format!(
            "503 Service Unavailable: too many open connections (--web.max-connections={})\n",
            limits.max_connections
        );
        let refusal: Arc<Handler> =
            Arc::new(move |_: &super::Request| Response::text(503, refusal_body.clone()));
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::default()),
            limits,
            tls,
            handler,
            refusal,
            stopping: AtomicBool::new(false),
            stats: Arc::new(ListenerStats::default()),
            stop_rx,
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("web accept".to_string())
            .spawn(move || accept_shared.accept_loop(listener))?;
        Ok(Listener {
            addr,
            shared,
            accept: Some(accept),
            stop_tx: Some(stop_tx),
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the listener has done so far.
    pub(crate) fn stats(&self) -> Arc<ListenerStats> {
        Arc::clone(&self.shared.stats)
    }

    /// Stops accepting, lets each connection finish the request it is
    /// answering (no keep-alive), closes idle ones, and joins every thread.
    pub(crate) fn stop(mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.stop_tx.take();
        // Wake the accept thread out of `accept`.
        let wake = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            a => a,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            if accept.join().is_err() {
                log::warn!("Web accept thread panicked");
            }
        }
        let threads: Vec<JoinHandle<()>> = {
            let mut table = self.shared.table.lock();
            table
                .slots
                .values_mut()
                .filter_map(|slot| {
                    let _ = slot.tcp.shutdown(Shutdown::Read);
                    slot.thread.take()
                })
                .collect()
        };
        for t in threads {
            if t.join().is_err() {
                log::warn!("Web connection thread panicked");
            }
        }
    }
}
