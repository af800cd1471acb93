//! The HTTP side of edgescrape, Prometheus's `web/` package: `/metrics`,
//! `/api/v1/targets`, `/api/v1/query`, `/api/v1/query_range`, `/federate`,
//! the status and lifecycle endpoints, and the pages of [`ui`]: targets at
//! `/`, `/graph`, `/status`, `/service-discovery` and `/relabel-debug`.
//!
//! [`Server::start`] binds the listener and starts the HTTP/1.1 server of
//! [`http`](self::http): an accept thread and one named thread per
//! connection, bounded by [`Limits`] (deadlines, sizes, and the connection
//! cap `--web.max-connections`); there is no async runtime.
//! [`Server::stop`] closes and joins them all. The server reads the rest
//! of the process only through the [`Views`] it is given: the
//! [`TargetsView`], [`SeriesView`] and [`Lifecycle`] traits and the
//! [`Metrics`] registry, all of which `main` implements over the real types.
//!
//! Basic auth and TLS come from a `--web.config.file` in the exporter-toolkit
//! format ([`auth::WebConfig`]).

pub mod api;
pub mod auth;
pub mod chart;
pub mod federate;
pub mod format;
pub mod graph;
mod http;
pub mod layout;
pub mod metrics;
pub mod page;
pub mod query;
pub mod relabel_debug;
pub mod selector;
mod server;
pub mod service_discovery;
pub mod status_page;
pub mod ui;
pub mod views;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use http::Limits;
pub use metrics::{Metrics, MetricsSource, MetricsWriter};
pub use server::Server;
pub use views::{
    DroppedTargetInfo, Health, JobRelabelRules, Lifecycle, SeriesView, StatusReport, TargetInfo,
    TargetsView,
};

/// How the server is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOptions {
    /// `host:port` to listen on (`--web.listen-address`); port 0 picks a free one.
    pub listen_address: String,
    /// Serve `/-/reload` and `/-/quit` (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// The exporter-toolkit web config (`--web.config.file`).
    pub web_config_file: Option<PathBuf>,
    /// The URL this server is reachable under from outside, used for
    /// targets' `globalUrl` as Prometheus's `--web.external-url`. Default:
    /// `http://<hostname>:<listen port>/`.
    pub external_url: Option<String>,
    /// Name shown in page titles and `/-/healthy` (`edgescrape`).
    pub app_name: String,
    /// Connection cap, deadlines and size limits of the HTTP server.
    pub limits: Limits,
    /// What one query of `/api/v1/query` and `/api/v1/query_range` may cost.
    pub query_limits: crate::promql::Limits,
}

impl Default for WebOptions {
    fn default() -> WebOptions {
        WebOptions {
            listen_address: "127.0.0.1:9099".to_string(),
            enable_lifecycle: false,
            web_config_file: None,
            external_url: None,
            app_name: "edgescrape".to_string(),
            limits: Limits::default(),
            query_limits: crate::promql::Limits::default(),
        }
    }
}

/// What the server reads; cheap to clone.
#[derive(Clone)]
pub struct Views {
    /// Active and dropped targets.
    pub targets: Arc<dyn TargetsView>,
    /// The in-memory head.
    pub series: Arc<dyn SeriesView>,
    /// Reload, quit, config, flags and readiness.
    pub lifecycle: Arc<dyn Lifecycle>,
    /// The self-metrics registry served at `/metrics`.
    pub metrics: Metrics,
}

impl fmt::Debug for Views {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Views").finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebError {
    /// The web config file is unreadable or invalid.
    WebConfig(auth::WebConfigError),
    /// A TLS certificate or key file could not be read.
    TlsFile(PathBuf, std::io::Error),
    /// A TLS certificate or key file holds no usable PEM.
    Tls(PathBuf, String),
    /// Binding the listen address (or setting up TLS on it) failed.
    Listen(String, String),
    /// The accept thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebError::WebConfig(e) => write!(f, "{e}"),
            WebError::TlsFile(p, e) => write!(f, "reading TLS file {}: {e}", p.display()),
            WebError::Tls(p, e) => write!(f, "TLS file {}: {e}", p.display()),
            WebError::Listen(addr, e) => write!(f, "listening on {addr}: {e}"),
            WebError::Spawn(e) => write!(f, "spawning the web accept thread: {e}"),
        }
    }
}

impl std::error::Error for WebError {}
