//! Target discovery, as Prometheus's `discovery/`: providers turn
//! `static_configs` and `file_sd_configs` into [`TargetGroup`]s.

use crate::labels::Labels;

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
