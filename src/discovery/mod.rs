//! Target discovery, as Prometheus's `discovery/`: providers turn
//! `static_configs`, `file_sd_configs`, `http_sd_configs` and
//! `dns_sd_configs` into [`TargetGroup`]s.
//!
//! The [`Manager`] owns the providers of every job and one sender thread.
//! Static providers have no thread: their groups are fixed by the config and
//! stored when it is applied. Every other provider is a [`Discoverer`] run
//! on its own named thread (`discovery <job> <kind>`); as Prometheus's
//! `Discoverer`, it knows nothing of the manager and only sends its groups
//! on its update channel. The thread that started it receives them and
//! stores them for the manager. The sender thread ("discovery sender")
//! sends the full `job_name -> groups` map on the sync channel, at most once
//! per update interval, whenever a provider reported a change.
//!
//! ```text
//! apply_config ─► static groups ───────────────────────┐
//! discoverer thread ─► up channel ─► provider thread ───┼─► Targets (mutex) ─► trigger (cap 1) ─► sender ─► sync channel
//! discoverer thread ... ────────────────────────────────┘
//! ```

mod dns;
mod file;
mod http;
mod manager;
mod refresh;
mod targetgroup;

use std::sync::atomic::AtomicU64;

use crossbeam_channel::{Receiver, Sender};

use crate::labels::{Labels, ADDRESS};

pub use dns::resolver::ResolverConfig;
pub use dns::{MX_TARGET_LABEL, NAME_LABEL, NS_TARGET_LABEL, SRV_PORT_LABEL, SRV_TARGET_LABEL};
pub use file::{read_file, FileSdError, FILEPATH_LABEL};
pub use http::URL_LABEL;
pub use manager::Manager;

/// A source of target groups, as Prometheus's `discovery.Discoverer`.
///
/// [`Discoverer::run`] runs on the provider's own thread until `stop` is
/// disconnected (or `up` is). Each message on `up` holds the groups that
/// changed; a group replaces the earlier group with the same `source`, and
/// a group with no targets clears it. The first message should come as soon
/// as the provider knows its targets.
pub trait Discoverer: Send {
    /// Discovers until stopped, sending changes on `up`.
    fn run(self: Box<Self>, up: Sender<Vec<TargetGroup>>, stop: Receiver<()>);
}

/// Counters of the discovery mechanisms, shown on `/metrics` under
/// Prometheus's names. Shared by the manager and its discoverers.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `prometheus_sd_http_failures_total`: failed HTTP SD requests.
    pub http_failures: AtomicU64,
    /// `prometheus_sd_dns_lookups_total`: DNS SD lookups.
    pub dns_lookups: AtomicU64,
    /// `prometheus_sd_dns_lookup_failures_total`: DNS SD lookups that failed.
    pub dns_lookup_failures: AtomicU64,
}

/// A set of targets with labels shared by all of them, from one source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// One label set per target; each has at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels every target of the group gets unless it sets them itself.
    pub labels: Labels,
    /// Identifies the group within its provider (e.g. `file.yml:0`).
    pub source: String,
}

impl TargetGroup {
    /// A group of `targets`, each becoming a `{__address__: target}` set, as
    /// Prometheus's `targetgroup.Group` builds them for static and file SD.
    pub(crate) fn new(targets: &[String], labels: Labels, source: String) -> TargetGroup {
        TargetGroup {
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs([(ADDRESS, t.as_str())]))
                .collect(),
            labels,
            source,
        }
    }
}
