//! The scrape runtime, as Prometheus's `scrape/` package, in threads.
//!
//! ```text
//! discovery ──HashMap<job, Vec<TargetGroup>>──► Manager::run
//!     update thread ("scrape-update"): stores the target sets,
//!         try_send(new_job) when a configured job has no pool yet, else
//!         try_send(trigger_reload)  (capacity 1: bursts coalesce)
//!     reloader thread ("scrape-reloader"): select! { new_job → reload(),
//!         tick(5s) → restart panicked loops and arm, armed trigger →
//!         reload(), stop }
//! Manager::reload      one ScrapePool per job; pool syncs in parallel
//! ScrapePool::sync     targets_from_group + populate_labels, dedupe by hash,
//!                      a ScrapeLoop thread per new target, stop vanished
//! ScrapeLoop thread    "scrape <job> <instance>": offset, then every
//!                      interval on deadlines start + n·interval:
//!                      scrape → parse → ScrapeCache → relabel → limits →
//!                      stale markers → report series → commit/rollback
//! ```
//!
//! A loop thread that panics catches it: logged with job and target,
//! counted (`edgescrape_target_scrape_loop_panics_total`), and its pool
//! starts the target again with an empty cache at the reloader's next tick.
//! The other targets keep scraping. This needs `panic = "unwind"` (the
//! default); with `panic = "abort"` a panic ends the process, as a
//! panicking goroutine ends Prometheus.
//!
//! Principal types: [`Manager`] (owned by `main`, shared with the web for
//! its read-only views), [`ScrapePool`], [`Target`], [`ScrapeCache`],
//! [`TargetScraper`] and [`BufferPool`]. Storage is reached only through
//! [`crate::storage::Appendable`].
//!
//! Where Prometheus 2.42 and 2.53 differ in what a user can observe, 2.42
//! is followed and the place says so; `scrape_protocols` and
//! `keep_dropped_targets` (2.53 settings with no 2.42 counterpart) are
//! honoured.
//!
//! # Measured
//!
//! On the shared 2-core development machine, on-CPU time of the scraping
//! thread (`cargo bench --bench scrape`), node_exporter fixture (507
//! samples, 57.7 kB), warm scrape cache; the ranges are runs on different
//! days, the machine's speed drifts:
//!
//! - loop body per sample (parse, cache, relabel on misses, limits,
//!   staleness, append, report): 93–139 ns; the parser alone
//!   (`scrape/parse_only`) 89–95 ns, 1.2–1.3 GB/s; a cold cache costs
//!   1.4–1.7 µs;
//! - from the socket read to the appender over a kept-alive loopback
//!   connection: 233–440 ns with gzip (`scrape/http_gzip`; inflate with
//!   zlib-rs runs at 1.1–1.3 GB/s of output, about 100 ns a sample of
//!   this fixture), 126–240 ns without; the rest over the loop body is the
//!   request and the socket reads, with their wake-ups;
//! - allocations: none per sample in steady state
//!   (`tests/scrape_alloc.rs`).
//! - Memory (`cargo run --release --example scrape_memory`): 100 targets of
//!   the node_exporter body scraped every second: VmRSS 4.0–4.3 MB before,
//!   21.4–22.3 MB with the targets (about 175 kB per target: cache, label
//!   sets, buffers, stacks and malloc arenas; the cache is 69 bytes per
//!   series, see [`ScrapeCache`]). Each loop thread
//!   touches 24 kB of its 256 kB stack ([`LOOP_STACK_SIZE`]); an HTTPS
//!   scrape (rustls handshake) runs in it too (`tests/scrape_http_client.rs`).
//! - Connections: loops of a pool share their client's idle keep-alive
//!   connections, so a job never holds more than one per target
//!   (`tests/scrape_connections.rs`); 100 targets on one nginx took 3.

mod buffers;
mod cache;
mod failure_log;
mod manager;
mod metrics;
mod pool;
mod scrape_loop;
mod scraper;
mod target;

use std::fmt;

pub use buffers::BufferPool;
pub use cache::ScrapeCache;
pub use manager::{Manager, Options};
pub use metrics::{Counter, PoolMetrics, ScrapeMetrics, Summary, QUANTILES};
pub use pool::ScrapePool;
pub use scrape_loop::{
    AppendOutcome, LoopSettings, LoopState, LOOP_STACK_SIZE, SCRAPE_TIMESTAMP_TOLERANCE,
};
pub use scraper::{accept_encoding_header, accept_header, TargetScraper, USER_AGENT};
pub use target::{
    populate_labels, targets_from_group, DroppedTarget, Target, TargetError, TargetHealth,
    TargetSnapshot, HISTORY_LEN,
};

/// Why a scrape failed, a pool could not be built, or a config could not be
/// applied. The `Display` texts of scrape failures are Prometheus's, since
/// they show up as `lastError` on the targets page and API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScrapeError {
    /// Connecting, sending or receiving failed (includes the timeout).
    Http {
        /// The scrape URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The target answered with a status other than 200 (`"500 Internal
    /// Server Error"`).
    HttpStatus(String),
    /// The HTTP client could not authenticate (credential file unreadable).
    HttpClient(String),
    /// The body reached `body_size_limit` (uncompressed).
    BodySizeLimit,
    /// The gzip body could not be decoded.
    Gzip(String),
    /// The exposition could not be parsed (message names the line).
    Parse(String),
    /// More samples than `sample_limit` after metric relabeling.
    SampleLimit,
    /// A series broke `label_limit`, `label_name_length_limit` or
    /// `label_value_length_limit`; the message is Prometheus's.
    LabelLimit(String),
    /// A series without `__name__` after relabeling.
    MissingMetricName,
    /// A series whose metric or label names are invalid after relabeling.
    InvalidLabels(String),
    /// The pool has more targets than `target_limit`.
    TargetLimit {
        /// Active targets of the pool.
        targets: usize,
        /// The configured limit.
        limit: u64,
    },
    /// The storage refused the samples.
    Storage(String),
    /// A scrape pool could not be created or reloaded.
    Pool {
        /// The job.
        job: String,
        /// Why.
        message: String,
    },
    /// Some pools failed to take a new configuration: why, pool by pool.
    ApplyConfig(Vec<String>),
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::Http { url, message } => write!(f, "Get {url:?}: {message}"),
            ScrapeError::HttpStatus(status) => write!(f, "server returned HTTP status {status}"),
            ScrapeError::HttpClient(m) => write!(f, "HTTP client: {m}"),
            ScrapeError::BodySizeLimit => f.write_str("body size limit exceeded"),
            ScrapeError::Gzip(m) => write!(f, "gzip: {m}"),
            ScrapeError::Parse(m) => f.write_str(m),
            ScrapeError::SampleLimit => f.write_str("sample limit exceeded"),
            ScrapeError::LabelLimit(m) => f.write_str(m),
            ScrapeError::MissingMetricName => f.write_str("missing metric name (__name__ label)"),
            ScrapeError::InvalidLabels(l) => write!(f, "invalid metric name or label names: {l}"),
            ScrapeError::TargetLimit { targets, limit } => write!(
                f,
                "target_limit exceeded (number of targets: {targets}, limit: {limit})"
            ),
            ScrapeError::Storage(m) => write!(f, "storage: {m}"),
            ScrapeError::Pool { job, message } => write!(f, "scrape pool {job:?}: {message}"),
            ScrapeError::ApplyConfig(failures) => write!(
                f,
                "failed to apply the new configuration: {}",
                failures.join("; ")
            ),
        }
    }
}

impl std::error::Error for ScrapeError {}
