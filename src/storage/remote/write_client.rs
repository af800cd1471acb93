//! [`WriteClient`]: sends one encoded write request, as Prometheus's
//! `storage/remote/client.go` `Client.Store`, and sorts failures into
//! retryable and final.

use std::fmt;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::RemoteWriteConfig;
use crate::http_client::{HttpClient, HttpClientError};

/// `User-Agent` of every remote_write request.
pub const USER_AGENT: &str = concat!("edgescrape/", env!("CARGO_PKG_VERSION"));

/// Longest part of an error response body kept in the error message.
const MAX_ERR_MSG_LEN: u64 = 1024;

/// Why a request was not accepted.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Worth retrying: a connection error, a 5xx, or a 429 when
    /// `retry_on_http_429` is set. `retry_after` is the receiver's
    /// `Retry-After`, when it sent a usable one.
    Recoverable {
        /// What happened.
        message: String,
        /// How long the receiver asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Final: the receiver refused the data (4xx), or the request could not
    /// be made at all.
    NonRecoverable {
        /// The HTTP status, if the receiver answered.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Recoverable { message, .. } => write!(f, "{message} (will retry)"),
            StoreError::NonRecoverable { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for StoreError {}

/// Posts remote_write bodies to one URL.
///
/// Shared by the shards of one queue; `store` takes `&self`.
#[derive(Debug, Clone)]
pub struct WriteClient {
    url: String,
    http: Arc<HttpClient>,
    /// Configured extra headers, sent on every request.
    headers: Vec<(String, String)>,
    retry_on_http_429: bool,
    timeout: Duration,
}

impl WriteClient {
    /// A client for `cfg.url` with the config's headers, auth, TLS and
    /// `remote_timeout`.
    pub fn new(cfg: &RemoteWriteConfig) -> Result<WriteClient, HttpClientError> {
        let timeout = cfg.remote_timeout.get();
        Ok(WriteClient {
            url: cfg.url.clone(),
            http: Arc::new(HttpClient::new(&cfg.http)?),
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            retry_on_http_429: cfg.queue_config.retry_on_http_429,
            timeout,
        })
    }

    /// The receiver URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The configured `remote_timeout`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Posts one snappy-compressed `WriteRequest`. `attempt` counts earlier
    /// tries of the same body (sent as `Retry-Attempt` when above 0, as
    /// Prometheus); `timeout` bounds this request and may be shorter than
    /// `remote_timeout` during shutdown.
    pub fn store(&self, body: &[u8], attempt: u32, timeout: Duration) -> Result<(), StoreError> {
        let mut req = self
            .http
            .request("POST", &self.url)
            .map_err(|e| StoreError::NonRecoverable {
                status: None,
                message: e.to_string(),
            })?
            .timeout(timeout);
        for (k, v) in &self.headers {
            req = req.set(k, v);
        }
        req = req
            .set("User-Agent", USER_AGENT)
            .set("Content-Encoding", "snappy")
            .set("Content-Type", "application/x-protobuf")
            .set("X-Prometheus-Remote-Write-Version", "0.1.0");
        if attempt > 0 {
            req = req.set("Retry-Attempt", &attempt.to_string());
        }
        match req.send_bytes(body) {
            Ok(resp) => {
                drain(resp);
                Ok(())
            }
            Err(ureq::Error::Status(status, resp)) => {
                let retry_after = resp.header("Retry-After").and_then(retry_after);
                let text = resp.status_text().to_string();
                let message = format!(
                    "server returned HTTP status {status} {text}: {}",
                    first_line(resp)
                );
                if status / 100 == 5 || (self.retry_on_http_429 && status == 429) {
                    Err(StoreError::Recoverable {
                        message,
                        retry_after,
                    })
                } else {
                    Err(StoreError::NonRecoverable {
                        status: Some(status),
                        message,
                    })
                }
            }
            Err(ureq::Error::Transport(t)) => Err(StoreError::Recoverable {
                message: t.to_string(),
                retry_after: None,
            }),
        }
    }
}

/// Reads what is left of a response so the connection can be reused.
fn drain(resp: ureq::Response) {
    let mut sink = [0u8; 512];
    let mut reader = resp.into_reader().take(64 * 1024);
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
}

fn first_line(resp: ureq::Response) -> String {
    let mut body = String::new();
    let _ = resp
        .into_reader()
        .take(MAX_ERR_MSG_LEN)
        .read_to_string(&mut body);
    body.lines().next().unwrap_or("").to_string()
}

/// The longest wait a receiver's `Retry-After` can ask for; longer ones
/// (`Retry-After: 18446744073709551615`, a date in year 9999) are cut to
/// this, so the wait and its doubling stay in range and a queue is parked
/// at most this long per attempt. Prometheus honours any value.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses `Retry-After`: delay-seconds or an HTTP date, at most
/// [`MAX_RETRY_AFTER`]. A date in the past, zero or garbage means "use the
/// normal backoff", as Prometheus.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Only digits: a parse can fail by overflow alone.
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(SystemTime::now()).ok()?
    };
    (!wait.is_zero()).then(|| wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(retry_after("0"), None);
        assert_eq!(retry_after("-3"), None);
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None, "past");
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
    }

    #[test]
    fn huge_retry_after_is_cut_to_the_bound() {
        for huge in [
            "3601",
            "18446744073709551615",
            "99999999999999999999999999",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(retry_after(huge), Some(MAX_RETRY_AFTER), "{huge}");
        }
        assert_eq!(retry_after("3600"), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("+5"), None, "not delay-seconds");
    }
}
