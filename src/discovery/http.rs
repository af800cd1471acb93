//! HTTP-based discovery, as Prometheus's `discovery/http`: a GET of a URL
//! answering with a JSON list of target groups, every `refresh_interval`,
//! through the HTTP client the config describes (auth, TLS, proxy, headers).
//!
//! Each group gets the source `<url>:<index>` and the label [`URL_LABEL`];
//! groups the previous answer had and this one lacks are sent empty. An
//! error, a status other than 200, a content type other than JSON or a body
//! that is not a list of groups keeps the last good groups, is logged, and
//! counts in `prometheus_sd_http_failures_total`.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::refresh::Refresh;
use super::targetgroup::{self, Format};
use super::{Metrics, TargetGroup};
use crate::config::HttpSdConfig;
use crate::http_client::{HttpClient, HttpClientError};

/// `__meta_url`: the URL a group was fetched from, on every group.
pub const URL_LABEL: &str = "__meta_url";

/// `User-Agent` of the requests.
const USER_AGENT: &str = concat!("edgescrape/", env!("CARGO_PKG_VERSION"));

/// One `http_sd_configs` entry; owned by its discoverer thread.
pub(crate) struct HttpDiscovery {
    url: String,
    client: HttpClient,
    refresh_interval: Duration,
    /// Groups in the last good answer, to clear the sources of the rest.
    last_len: usize,
    metrics: Arc<Metrics>,
}

impl HttpDiscovery {
    /// A discovery for `config`; fails when its HTTP client cannot be built.
    pub(crate) fn new(
        config: &HttpSdConfig,
        metrics: Arc<Metrics>,
    ) -> Result<HttpDiscovery, HttpClientError> {
        Ok(HttpDiscovery {
            url: config.url.clone(),
            client: HttpClient::new(&config.http)?,
            refresh_interval: config.refresh_interval.0,
            last_len: 0,
            metrics,
        })
    }

    /// One GET, as Prometheus's `Discovery.Refresh`; the request is bounded
    /// by the refresh interval, as Prometheus sets its client's timeout.
    fn fetch(&self) -> Result<Vec<TargetGroup>, String> {
        let request = self
            .client
            .get(&self.url)
            .map_err(|e| e.to_string())?
            .timeout(self.refresh_interval)
            .set("User-Agent", USER_AGENT)
            .set("Accept", "application/json")
            .set(
                "X-Prometheus-Refresh-Interval-Seconds",
                &self.refresh_interval.as_secs_f64().to_string(),
            );
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                return Err(format!(
                    "server returned HTTP status {code} {}",
                    r.status_text()
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
        if response.status() != 200 {
            return Err(format!(
                "server returned HTTP status {} {}",
                response.status(),
                response.status_text()
            ));
        }
        let content_type = response.header("Content-Type").unwrap_or("").trim();
        if !is_json(content_type) {
            return Err(format!("unsupported content type {content_type:?}"));
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the body: {e}"))?;
        targetgroup::parse(&body, Format::Json).map_err(|e| match (e.line, e.column) {
            (Some(line), Some(column)) => format!("{line}:{column}: {}", e.message),
            _ => e.message,
        })
    }
}

impl Refresh for HttpDiscovery {
    fn refresh(&mut self) -> Result<Vec<TargetGroup>, String> {
        let fetched = self.fetch();
        if fetched.is_err() {
            self.metrics.http_failures.fetch_add(1, Ordering::Relaxed);
        }
        let mut groups = fetched?;
        for (i, group) in groups.iter_mut().enumerate() {
            group.source = url_source(&self.url, i);
            group.labels = group.labels.builder().set(URL_LABEL, &self.url).labels();
        }
        let len = groups.len();
        groups.extend((len..self.last_len).map(|i| TargetGroup {
            source: url_source(&self.url, i),
            ..TargetGroup::default()
        }));
        self.last_len = len;
        Ok(groups)
    }
}

fn url_source(url: &str, i: usize) -> String {
    format!("{url}:{i}")
}

/// Prometheus's `matchContentType`:
/// `^(?i:application\/json(;\s*charset=("utf-8"|utf-8))?)$`.
fn is_json(content_type: &str) -> bool {
    let lower = content_type.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(param) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        param.trim_start_matches(char::is_whitespace),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_as_prometheus_matches_them() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/jsonx",
            "application/json; charset=latin1",
            "application/json, text/plain",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }
}
