//! A connection's byte stream, plain or TLS, whose reads and writes run
//! against a deadline rather than a per-call timeout: a client that sends
//! one byte just before each timeout would otherwise hold the connection
//! for ever.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A TCP stream whose reads and writes fail with `TimedOut` once its
/// deadline has passed.
#[derive(Debug)]
pub(crate) struct DeadlineStream {
    tcp: TcpStream,
    deadline: Option<Instant>,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "deadline passed")
}

/// A socket timeout surfaces as `WouldBlock` on Unix: say what it is.
fn name_timeout(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        timed_out()
    } else {
        e
    }
}

impl DeadlineStream {
    pub(crate) fn new(tcp: TcpStream) -> DeadlineStream {
        DeadlineStream {
            tcp,
            deadline: None,
        }
    }

    /// Sets the deadline of every read and write from now on.
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Time left before the deadline; an error once it has passed.
    fn remaining(&self) -> io::Result<Option<std::time::Duration>> {
        match self.deadline {
            None => Ok(None),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(timed_out())
                } else {
                    Ok(Some(left))
                }
            }
        }
    }

    /// Waits, until the deadline, for the first bytes without consuming
    /// them: how many of `buf` were filled; 0 when the peer closed.
    pub(crate) fn peek_first(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(self.remaining()?)?;
        self.tcp.peek(buf).map_err(name_timeout)
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(self.remaining()?)?;
        self.tcp.read(buf).map_err(name_timeout)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(self.remaining()?)?;
        self.tcp.write(buf).map_err(name_timeout)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The bytes of one connection: straight from TCP, or through TLS.
pub(crate) enum Transport {
    Plain(DeadlineStream),
    Tls(Box<StreamOwned<ServerConnection, DeadlineStream>>),
}

impl Transport {
    /// Completes a TLS handshake on `tcp` before `deadline`.
    pub(crate) fn tls(
        tcp: DeadlineStream,
        config: Arc<ServerConfig>,
        deadline: Instant,
    ) -> io::Result<Transport> {
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let mut sock = tcp;
        sock.set_deadline(deadline);
        while conn.is_handshaking() {
            let (read, written) = conn.complete_io(&mut sock)?;
            if read == 0 && written == 0 && conn.is_handshaking() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(Transport::Tls(Box::new(StreamOwned::new(conn, sock))))
    }

    fn stream_mut(&mut self) -> &mut DeadlineStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &mut s.sock,
        }
    }

    /// Sets the deadline of every read and write from now on.
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.stream_mut().set_deadline(deadline);
    }

    /// Ends the connection politely: TLS `close_notify`, then the write
    /// side, then up to `linger` of reading (and dropping) what the client
    /// still sends, so that closing with unread input does not reset the
    /// connection before the client has read the last response (Go's
    /// `closeWriteAndWait`).
    pub(crate) fn close(mut self, linger: Instant) {
        if let Transport::Tls(s) = &mut self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let stream = self.stream_mut();
        let _ = stream.tcp.shutdown(std::net::Shutdown::Write);
        stream.set_deadline(linger);
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 << 10 {
            match stream.read(&mut sink) {
                Ok(n) if n > 0 => drained += n,
                _ => break,
            }
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}
