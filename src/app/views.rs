//! The web's read-only views over the running process.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use edgescrape::config::Duration as PromDuration;
use edgescrape::labels::Labels;
use edgescrape::scrape::TargetHealth;
use edgescrape::storage::selector::Matcher;
use edgescrape::storage::wal::Wal;
use edgescrape::web::views::{ProcessStatus, QueueStatus, StatusReport, WalStatus};
use edgescrape::web::views::{Sample, SeriesSamples};
use edgescrape::web::{DroppedTargetInfo, Health, JobRelabelRules, TargetInfo};

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

    fn relabel_rules(&self) -> Vec<JobRelabelRules> {
        self.0
            .config
            .lock()
            .scrape_configs
            .iter()
            .map(|c| JobRelabelRules {
                job: c.job_name.clone(),
                relabel_configs: c.relabel_configs.clone(),
                metric_relabel_configs: c.metric_relabel_configs.clone(),
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

/// Reads of stored samples: the head at "now", the WAL for the past.
pub struct Series(pub Arc<App>);

impl edgescrape::web::SeriesView for Series {
    fn instant(&self, matchers: &[Matcher], at_ms: i64) -> Vec<Sample> {
        self.0
            .storage
            .instant(matchers, at_ms, LOOKBACK_MS)
            .unwrap_or_else(|e| {
                log::warn!(at_ms = at_ms, err:% = e; "Instant query failed");
                Vec::new()
            })
    }

    fn range(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesSamples>, String> {
        self.0
            .storage
            .select_range(matchers, mint_ms, maxt_ms)
            .map_err(|e| e.to_string())
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

    fn status(&self) -> StatusReport {
        let app = &self.0;
        StatusReport {
            queues: app
                .queues
                .lock()
                .iter()
                .map(|q| queue_status(q, app.storage.wal()))
                .collect(),
            wal: wal_status(app),
            process: ProcessStatus {
                version: env!("CARGO_PKG_VERSION").to_string(),
                config_file: app.flags.config_file.display().to_string(),
                last_reload_successful: app.reload_status.success.load(Ordering::Relaxed),
                last_reload_success: UNIX_EPOCH
                    + std::time::Duration::from_secs(
                        app.reload_status
                            .success_time
                            .load(Ordering::Relaxed)
                            .max(0) as u64,
                    ),
            },
        }
    }
}

/// A queue's figures from its counters, its position in the WAL and the
/// segments from there on.
fn queue_status(running: &super::RunningQueue, wal: &Wal) -> QueueStatus {
    let s = running.queue.stats();
    let position = running.queue.position();
    let pending = s.samples_pending.load(Ordering::Relaxed);
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let ts = |a: &std::sync::atomic::AtomicI64| Some(a.load(Ordering::Relaxed)).filter(|&t| t > 0);
    QueueStatus {
        name: running.queue.name().to_string(),
        url: running.config.url.clone(),
        samples_pending: pending,
        samples_sent: get(&s.samples_sent),
        samples_retried: get(&s.samples_retried),
        samples_failed: get(&s.samples_failed),
        samples_dropped: s.samples_dropped_total(),
        newest_read_ms: ts(&s.highest_timestamp_in_ms),
        newest_sent_ms: ts(&s.highest_sent_timestamp_ms),
        bytes_sent: get(&s.bytes_sent),
        retrying_since: s.retrying_since(),
        last_error: Some(s.last_error()),
        stopped: s.stopped(),
        oldest_unsent_ms: (pending > 0)
            .then(|| wal.oldest_time_from(position.segment))
            .flatten(),
        bytes_unsent: Some(wal.bytes_after(position)),
    }
}

fn wal_status(app: &App) -> WalStatus {
    let s = app.storage.stats();
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let newest = s.head_max_time_ms.load(Ordering::Relaxed);
    WalStatus {
        dir: app.storage.dir().display().to_string(),
        segments: get(&s.wal_segments),
        bytes: get(&s.wal_disk_bytes),
        bytes_written_total: get(&s.wal_bytes_written_total),
        series: get(&s.head_series),
        retention_bytes: app.flags.retention_size.map(|b| b.0),
        retention_time: app.flags.retention_time.map(|d| d.0),
        oldest_ms: app.storage.wal().oldest_time_ms(),
        newest_ms: (newest > 0).then_some(newest),
        recent_write_rate: app.write_rate.bytes_per_second(),
    }
}
