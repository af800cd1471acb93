//! [`TargetScraper`]: one HTTP GET of a target's metrics into a buffer, as
//! Prometheus's `targetScraper`.
//!
//! Headers as Prometheus 2.53 sends them: `Accept` built from
//! `scrape_protocols` with descending q-values, `Accept-Encoding: gzip`
//! (or `identity` when the target is not to be asked for gzip, see
//! `Target::asks_for_gzip`),
//! `X-Prometheus-Scrape-Timeout-Seconds`, and a `User-Agent` naming
//! edgescrape. Prometheus 2.42 sent one fixed `Accept` header (it had no
//! `scrape_protocols`); the header only matters to content negotiation and
//! the 2.53 form with the default protocols selects the same formats.
//!
//! The body is decoded here (ureq's gzip feature is off): gzip with
//! flate2, and `body_size_limit` counted on the uncompressed bytes, so a
//! gzip bomb stops at the limit. The body overwrites the buffer's old
//! bytes in place (a pooled buffer holds the last body it read): reading
//! into spare capacity instead, as `read_to_end` does, zeroes it first, a
//! memset as long as the body on every scrape.
//!
//! Connections: the client keeps a target's connection alive between
//! scrapes (see [`crate::http_client`]); the scraper adds the connections
//! its scrapes had to open to its job's counter
//! (`net_conntrack_dialer_conn_attempted_total`), which shows that it
//! stays at one per target unless the target closes it.

use std::io::{ErrorKind, Read};
use std::sync::Arc;
use std::time::Duration;

use flate2::read::MultiGzDecoder;

use crate::config::ScrapeProtocol;
use crate::http_client::{connections_opened_on_this_thread, HttpClient};

use super::metrics::Counter;
use super::ScrapeError;

/// `User-Agent` of every scrape.
pub const USER_AGENT: &str = concat!("edgescrape/", env!("CARGO_PKG_VERSION"));

/// Media types Prometheus 2.53 knows (`config.ScrapeProtocolsHeaders`); the
/// q-values of the Accept header count down from this many plus one.
const KNOWN_PROTOCOLS: usize = 4;

/// The `Accept` header for `protocols`, as Prometheus's `acceptHeader`:
/// `<type>;q=0.5,<type>;q=0.4,...,*/*;q=0.N`.
pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
    let mut weight = KNOWN_PROTOCOLS + 1;
    let mut out = String::new();
    for p in protocols {
        out.push_str(p.media_type());
        out.push_str(&format!(";q=0.{weight},"));
        weight = weight.saturating_sub(1);
    }
    out.push_str(&format!("*/*;q=0.{weight}"));
    out
}

/// `Accept-Encoding` asking for gzip or not.
pub fn accept_encoding_header(gzip: bool) -> &'static str {
    if gzip {
        "gzip"
    } else {
        "identity"
    }
}

/// Scrapes one target; owned by its loop thread.
#[derive(Debug)]
pub struct TargetScraper {
    client: Arc<HttpClient>,
    url: String,
    accept: Arc<str>,
    accept_encoding: &'static str,
    timeout: Duration,
    timeout_header: String,
    /// Uncompressed body limit in bytes; 0 means none.
    body_size_limit: u64,
    /// Where the connections this scraper's requests open are counted.
    connections_opened: Arc<Counter>,
}

impl TargetScraper {
    /// A scraper for `url` through `client`, counting the connections it
    /// opens in `connections_opened`.
    pub fn new(
        client: Arc<HttpClient>,
        url: &str,
        accept: Arc<str>,
        gzip: bool,
        timeout: Duration,
        body_size_limit: u64,
        connections_opened: Arc<Counter>,
    ) -> TargetScraper {
        TargetScraper {
            client,
            url: url.to_string(),
            accept,
            accept_encoding: accept_encoding_header(gzip),
            timeout,
            timeout_header: format_seconds(timeout),
            body_size_limit,
            connections_opened,
        }
    }

    /// Fetches the body into `buf`, replacing what it held, and returns
    /// the response's Content-Type. On an error `buf` holds no body (old
    /// or partial bytes). The whole exchange is bounded by the timeout.
    pub fn scrape(&mut self, buf: &mut Vec<u8>) -> Result<String, ScrapeError> {
        let opened = connections_opened_on_this_thread();
        let result = self.fetch(buf);
        let now_opened = connections_opened_on_this_thread();
        if now_opened != opened {
            self.connections_opened.add(now_opened - opened);
        }
        result
    }

    fn fetch(&self, buf: &mut Vec<u8>) -> Result<String, ScrapeError> {
        let request = self
            .client
            .get(&self.url)
            .map_err(|e| ScrapeError::HttpClient(e.to_string()))?
            .timeout(self.timeout)
            .set("Accept", &self.accept)
            .set("Accept-Encoding", self.accept_encoding)
            .set("User-Agent", USER_AGENT)
            .set("X-Prometheus-Scrape-Timeout-Seconds", &self.timeout_header);
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                return Err(ScrapeError::HttpStatus(format!(
                    "{code} {}",
                    r.status_text()
                )))
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(transport_error(&self.url, &t));
            }
        };
        if response.status() != 200 {
            return Err(ScrapeError::HttpStatus(format!(
                "{} {}",
                response.status(),
                response.status_text()
            )));
        }
        let content_type = response.header("Content-Type").unwrap_or("").to_string();
        let gzip = response.header("Content-Encoding") == Some("gzip");
        let limit = if self.body_size_limit == 0 {
            u64::MAX
        } else {
            self.body_size_limit
        };
        let body = response.into_reader();
        let read = if gzip {
            read_body(&mut MultiGzDecoder::new(body).take(limit), buf)
        } else {
            read_body(&mut body.take(limit), buf)
        };
        let n = read.map_err(|e| read_error(&self.url, gzip, &e))?;
        // As Prometheus: reading `limit` bytes already counts as exceeding.
        if n as u64 >= limit {
            return Err(ScrapeError::BodySizeLimit);
        }
        Ok(content_type)
    }
}

/// Smallest step by which [`read_body`] grows a buffer.
const MIN_READ_STEP: usize = 4096;

/// Reads `body` to its end into `buf` from its start, overwriting the
/// bytes it holds, and leaves `buf` as long as the body. Only growth is
/// zeroed: steps of a sixteenth of the body so far (at least
/// [`MIN_READ_STEP`]), so a body as long as the last one costs one small
/// step to see its end.
fn read_body(body: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut filled = 0;
    let result = loop {
        if filled == buf.len() {
            buf.resize(filled + (filled / 16).max(MIN_READ_STEP), 0);
        }
        match body.read(&mut buf[filled..]) {
            Ok(0) => break Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(filled);
    result
}

/// Seconds as Go's `strconv.FormatFloat(s, 'f', -1, 64)`: shortest form.
fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

fn is_timeout(kind: std::io::ErrorKind) -> bool {
    matches!(
        kind,
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn transport_error(url: &str, t: &ureq::Transport) -> ScrapeError {
    use std::error::Error;
    let io_kind = t
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    let message = match io_kind {
        // Go's http client reports its deadline this way.
        Some(kind) if is_timeout(kind) => "context deadline exceeded".to_string(),
        Some(std::io::ErrorKind::ConnectionRefused) => "connect: connection refused".to_string(),
        _ => match t.message() {
            Some(m) => format!("{}: {m}", t.kind()),
            None => t.kind().to_string(),
        },
    };
    ScrapeError::Http {
        url: url.to_string(),
        message,
    }
}

fn read_error(url: &str, gzip: bool, e: &std::io::Error) -> ScrapeError {
    if is_timeout(e.kind()) {
        return ScrapeError::Http {
            url: url.to_string(),
            message: "context deadline exceeded".to_string(),
        };
    }
    if gzip {
        ScrapeError::Gzip(e.to_string())
    } else {
        ScrapeError::Http {
            url: url.to_string(),
            message: format!("reading body: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn read_over(old: &[u8], body: &[u8]) {
        let mut buf = old.to_vec();
        let n = read_body(&mut std::io::Cursor::new(body), &mut buf).expect("read");
        assert_eq!((n, buf.as_slice()), (body.len(), body));
    }

    #[test]
    fn a_body_replaces_the_old_bytes_whatever_their_length() {
        let long: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        read_over(b"", b"");
        read_over(b"old", b"");
        read_over(&long, b"short");
        read_over(b"short", &long);
        read_over(&long, &long);
        read_over(&long[..4096], &long[..4096]);
    }

    #[test]
    fn accept_header_matches_prometheus_2_53() {
        assert_eq!(
            accept_header(&crate::config::default_scrape_protocols()),
            "application/openmetrics-text;version=1.0.0;q=0.5,\
             application/openmetrics-text;version=0.0.1;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        assert_eq!(
            accept_header(&[ScrapeProtocol::PrometheusText0_0_4]),
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.4"
        );
    }

    #[test]
    fn timeout_header_is_the_shortest_decimal() {
        assert_eq!(format_seconds(Duration::from_secs(10)), "10");
        assert_eq!(format_seconds(Duration::from_millis(1500)), "1.5");
        assert_eq!(format_seconds(Duration::from_millis(250)), "0.25");
    }
}
