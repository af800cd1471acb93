//! Target discovery, as Prometheus's `discovery/`: providers turn
//! `static_configs` and `file_sd_configs` into [`TargetGroup`]s.
//!
//! The [`Manager`] owns the providers of every job and one sender thread.
//! Static providers have no thread: their groups are fixed by the config and
//! stored when it is applied. Each file provider is one named thread
//! (`discovery <job> file`) that polls its files and stores what they hold.
//! The sender thread ("discovery sender") sends the full
//! `job_name -> groups` map on the sync channel, at most once per update
//! interval, whenever a provider reported a change.
//!
//! ```text
//! apply_config ─► static groups ─┐
//! file thread (poll, refresh) ───┼─► Targets (mutex) ─► trigger (cap 1) ─► sender ─► sync channel
//! file thread ...  ──────────────┘
//! ```

mod file;
mod manager;
mod targetgroup;

use crate::labels::{Labels, ADDRESS};

pub use file::{read_file, FileSdError, FILEPATH_LABEL};
pub use manager::Manager;

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
