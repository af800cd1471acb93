//! The web's read-only views over the running process.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use edgescrape::config::Duration as PromDuration;
use edgescrape::labels::Labels;
use edgescrape::scrape::TargetHealth;
use edgescrape::storage::selector::Matcher;
use edgescrape::web::views::{Sample, SeriesSamples};
use edgescrape::web::{DroppedTargetInfo, Health, TargetInfo};

use super::App;

/// PromQL's default lookback for instant selectors.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Active and dropped targets from the scrape manager.
pub struct Targets(pub Arc<App>);

impl edgescrape::web::TargetsView for Targets {
    fn active(&self) -> Vec<TargetInfo> {
        self.0
            .scrape
            .targets_active()
            .into_values()
            .flatten()
            .map(|t| TargetInfo {
                scrape_pool: t.scrape_pool,
                scrape_url: t.scrape_url,
                discovered_labels: t.discovered_labels,
                labels: t.labels,
                health: match t.health {
                    TargetHealth::Unknown => Health::Unknown,
                    TargetHealth::Up => Health::Up,
                    TargetHealth::Down => Health::Down,
                },
                last_error: t.last_error.unwrap_or_default(),
                last_scrape: t.last_scrape.unwrap_or(UNIX_EPOCH),
                last_scrape_duration: t.last_scrape_duration,
                scrape_interval: PromDuration(t.scrape_interval).to_string(),
                scrape_timeout: PromDuration(t.scrape_timeout).to_string(),
                recent_durations: t.history,
            })
            .collect()
    }

    fn dropped(&self) -> Vec<DroppedTargetInfo> {
        self.0
            .scrape
            .targets_dropped()
            .into_values()
            .flatten()
            .map(|t| DroppedTargetInfo {
                scrape_pool: t.scrape_pool,
                discovered_labels: t.discovered_labels,
            })
            .collect()
    }
}

/// Instant reads from the in-memory head.
pub struct Series(pub Arc<App>);

impl edgescrape::web::SeriesView for Series {
    fn instant(&self, matchers: &[Matcher], at_ms: i64) -> Vec<Sample> {
        self.0.storage.head().instant(matchers, at_ms, LOOKBACK_MS)
    }

    fn range(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesSamples>, String> {
        Ok(self.0.storage.head().select(matchers, mint_ms, maxt_ms))
    }
}

/// Reload, quit, config, flags and readiness.
pub struct Lifecycle(pub Arc<App>);

impl edgescrape::web::Lifecycle for Lifecycle {
    fn reload(&self) -> Result<(), String> {
        self.0.reload()
    }

    fn quit(&self) {
        self.0.quit();
    }

    fn config_yaml(&self) -> String {
        self.0
            .config
            .lock()
            .to_yaml()
            .unwrap_or_else(|e| format!("# config cannot be shown: {e}\n"))
    }

    fn flags(&self) -> Vec<(String, String)> {
        self.0.flags.to_pairs()
    }

    fn external_labels(&self) -> Labels {
        self.0.config.lock().global.external_labels.clone()
    }

    fn ready(&self) -> bool {
        self.0.ready.load(Ordering::Acquire)
    }
}
