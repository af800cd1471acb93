//! One connection's thread: read a request, answer it, and wait for the
//! next one while the client keeps the connection open.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::listener::Shared;
use super::request::{framing, parse_head, Framing, Head, Refusal, Request};
use super::response::{write_response, After, Response};
use super::stream::Transport;
use super::{Handler, Limits};

/// Longest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// How long a connection that is closed after a response keeps reading
/// what the client still sends, so it reads the response before a reset.
const LINGER: Duration = Duration::from_millis(500);

/// Why no request could be read.
enum ReadError {
    /// The client closed, went quiet past a deadline, or the connection
    /// was closed under it: nothing more to say.
    Gone(io::Error),
    /// The request is refused with an answer.
    Refused(Refusal),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Gone(e)
    }
}

impl From<Refusal> for ReadError {
    fn from(r: Refusal) -> ReadError {
        ReadError::Refused(r)
    }
}

/// A connection and the bytes read from it but not yet used.
pub(crate) struct Conn {
    pub(crate) transport: Transport,
    pub(crate) peer: SocketAddr,
    pub(crate) id: u64,
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: Arc<Handler>,
    pub(crate) limits: Limits,
    /// Answer one request, then close (a refused connection).
    pub(crate) one_shot: bool,
    pub(crate) buf: Vec<u8>,
}

impl Conn {
    /// Serves requests until the client closes, a deadline passes, a
    /// request is refused, or the server stops.
    pub(crate) fn run(mut self) {
        let linger = loop {
            match self.next_request() {
                Ok(request) => match self.respond(&request) {
                    Ok(true) => continue,
                    Ok(false) => break LINGER,
                    Err(e) => {
                        log::debug!(peer:% = self.peer, err:% = e; "Writing web response failed");
                        break Duration::ZERO;
                    }
                },
                Err(ReadError::Gone(e)) => {
                    if e.kind() != io::ErrorKind::UnexpectedEof {
                        log::debug!(peer:% = self.peer, err:% = e; "Web connection ended");
                    }
                    break Duration::ZERO;
                }
                Err(ReadError::Refused(refusal)) => {
                    let (status, body) = refusal.status_and_body();
                    log::debug!(peer:% = self.peer, status = status; "Web request refused");
                    let response = Response::text(status, body);
                    self.transport
                        .set_deadline(Instant::now() + self.limits.write_timeout);
                    let _ = write_response(&mut self.transport, &response, false, After::Close);
                    break LINGER;
                }
            }
        };
        self.transport.close(Instant::now() + linger);
    }

    /// Waits (idle) for a request's first byte, then reads its head and
    /// body before the read deadline.
    fn next_request(&mut self) -> Result<Request, ReadError> {
        if self.buf.is_empty() {
            self.shared.mark_idle(self.id);
            self.transport
                .set_deadline(Instant::now() + self.limits.idle_timeout);
            self.fill()?;
            if !self.shared.mark_busy(self.id) {
                return Err(io::Error::other("evicted to make room").into());
            }
        }
        self.transport
            .set_deadline(Instant::now() + self.limits.read_timeout);
        let head = self.read_head()?;
        let framing = framing(&head, self.limits.max_body_bytes)?;
        if framing != Framing::Length(0)
            && head.minor_version >= 1
            && head.has_token("Expect", "100-continue")
        {
            self.transport.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            self.transport.flush()?;
        }
        let body = match framing {
            Framing::Length(n) => self.take(n)?,
            Framing::Chunked => self.read_chunked()?,
        };
        Ok(Request { head, body })
    }

    /// Writes the handler's answer; `Ok(true)` when the connection stays open.
    fn respond(&mut self, request: &Request) -> io::Result<bool> {
        let answered = std::panic::catch_unwind(AssertUnwindSafe(|| (self.handler)(request)));
        let (response, healthy) = match answered {
            Ok(r) => (r, true),
            Err(_) => {
                log::error!(
                    method:% = request.method(), path = request.url(), peer:% = self.peer;
                    "Panic serving web request"
                );
                (Response::text(500, "500 Internal Server Error\n"), false)
            }
        };
        let keep =
            healthy && !self.one_shot && !self.shared.stopping() && request.head.wants_keep_alive();
        let after = if keep {
            After::KeepAlive {
                announce: request.head.minor_version == 0,
            }
        } else {
            After::Close
        };
        self.transport
            .set_deadline(Instant::now() + self.limits.write_timeout);
        let head_only = *request.method() == super::Method::Head;
        write_response(&mut self.transport, &response, head_only, after)?;
        Ok(keep)
    }

    /// Reads more bytes; an error at the end of the stream.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.transport.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until a whole head is buffered, parsing only when a line has
    /// ended (the request line, to refuse garbage early) or the blank line
    /// that ends a head has come, so a trickled head costs linear time.
    fn read_head(&mut self) -> Result<Head, ReadError> {
        let max = self.limits.max_header_bytes;
        let mut scanned = 0usize;
        let mut line_seen = false;
        loop {
            let from = scanned.saturating_sub(2);
            scanned = self.buf.len();
            let new = &self.buf[from..];
            let parse = if line_seen {
                ends_head(new)
            } else {
                line_seen = new.contains(&b'\n');
                line_seen
            };
            if parse {
                if let Some((head, len)) = parse_head(&self.buf)? {
                    if len > max {
                        return Err(too_large(max).into());
                    }
                    self.buf.drain(..len);
                    return Ok(head);
                }
            }
            if self.buf.len() > max {
                return Err(too_large(max).into());
            }
            self.fill()?;
        }
    }

    /// Takes the next `n` bytes, reading as needed.
    fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// A line without its line break, at most `max` bytes long.
    fn read_line(&mut self, max: usize) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(Refusal::BadRequest("chunked body line too long".to_string()).into());
            }
            self.fill()?;
        }
    }

    /// Decodes a `chunked` body (RFC 9112 §7.1); trailers are read and dropped.
    fn read_chunked(&mut self) -> Result<Vec<u8>, ReadError> {
        let max = self.limits.max_body_bytes;
        let mut body = Vec::new();
        loop {
            let line = self.read_line(MAX_CHUNK_LINE)?;
            let size = chunk_size(&line)?;
            if size == 0 {
                return self.skip_trailers().map(|()| body);
            }
            if size > max - body.len() {
                return Err(Refusal::BodyTooLarge(max).into());
            }
            let data = self.take(size + 2)?;
            if &data[size..] != b"\r\n" {
                let why = "chunk data not followed by CRLF".to_string();
                return Err(Refusal::BadRequest(why).into());
            }
            body.extend_from_slice(&data[..size]);
        }
    }

    fn skip_trailers(&mut self) -> Result<(), ReadError> {
        let max = self.limits.max_header_bytes;
        let mut total = 0;
        loop {
            let line = self.read_line(max)?;
            total += line.len() + 2;
            if line.is_empty() {
                return Ok(());
            }
            if total > max {
                return Err(too_large(max).into());
            }
        }
    }
}

fn too_large(max: usize) -> Refusal {
    Refusal::HeadTooLarge(format!("the request head is over {max} bytes"))
}

/// Whether `bytes` hold the blank line that ends a head.
fn ends_head(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\n\n") || bytes.windows(3).any(|w| w == b"\n\r\n")
}

/// The size on a chunk-size line: hex digits, then optional `;extensions`.
fn chunk_size(line: &[u8]) -> Result<usize, Refusal> {
    let text = String::from_utf8_lossy(line);
    let digits = text.split(';').next().unwrap_or("").trim();
    let bad = || Refusal::BadRequest(format!("bad chunk size {digits:?}"));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    usize::from_str_radix(digits, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_ends_and_chunk_sizes() {
        assert!(ends_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(ends_head(b"GET / HTTP/1.0\n\n"));
        assert!(!ends_head(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert_eq!(chunk_size(b"1a"), Ok(26));
        assert_eq!(chunk_size(b"0;name=value"), Ok(0));
        for bad in [&b""[..], b"+1", b"-1", b"zz", b"ffffffffffffffffffff"] {
            assert!(chunk_size(bad).is_err(), "{bad:?}");
        }
    }
}
