//! The scrape loop: one named OS thread per target, as Prometheus's
//! `scrapeLoop`.
//!
//! [`LoopState`] is what the loop keeps between scrapes (cache, label
//! builder) together with the immutable [`LoopSettings`] of its pool; its
//! [`LoopState::append`] is Prometheus's `scrapeLoop.append` and
//! [`LoopState::report`] its `report`. [`ScrapeLoop`] adds the scraper and
//! the timing, and runs on its own thread until stopped.
//!
//! Stopping: the pool holds a per-loop stop sender and a pool-wide cancel
//! sender; dropping one disconnects the channel, which every `select!` in
//! the loop watches. A stopped loop (target gone) finishes its scrape,
//! signals `stopped`, then writes end-of-run stale markers about two
//! intervals later unless the pool was cancelled meanwhile, as Prometheus
//! (which writes none on shutdown, expecting to restart where it was).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{after, at, bounded, select, Receiver, Sender, TryRecvError};
use parking_lot::Mutex;

use crate::labels::{Labels, LabelsBuilder, METRIC_NAME};
use crate::relabel::{self, RelabelConfig};
use crate::storage::{stale_nan, AppendError, Appendable, Appender, SeriesRef};
use crate::textparse::{self, Entry, Parser};

use super::buffers::BufferPool;
use super::cache::{Lookup, ScrapeCache, SeriesKey};
use super::failure_log::FailureLog;
use super::metrics::{ScrapeMetrics, Summary};
use super::scraper::TargetScraper;
use super::target::Target;
use super::ScrapeError;

/// Stack of a loop thread. A scrape needs the HTTP client (ureq, rustls
/// handshakes), the parser and relabeling regexes; measured peak use is
/// well under this (see the crate's memory note).
pub const LOOP_STACK_SIZE: usize = 256 * 1024;

/// Tolerance within which a scrape timestamp is moved onto the ideal grid
/// so the storage compresses it better (Prometheus's
/// `ScrapeTimestampTolerance`).
pub const SCRAPE_TIMESTAMP_TOLERANCE: Duration = Duration::from_millis(2);

/// Samples more than this far in the future are out of bounds
/// (Prometheus's `maxAheadTime`).
const MAX_AHEAD: Duration = Duration::from_secs(600);

/// The `exported_` prefix given to scraped labels that collide with
/// target labels.
const EXPORTED_PREFIX: &str = "exported_";

/// The report series, as Prometheus names them: the first
/// [`REPORT_BASIC`] always, the rest with `extra_metrics`
/// (`--enable-feature=extra-scrape-metrics`).
const REPORT_NAMES: [&str; 8] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
];

/// How many of [`REPORT_NAMES`] every scrape reports.
const REPORT_BASIC: usize = 5;

/// The settings of a pool that its loops share; replaced (not changed) on
/// a pool reload.
#[derive(Debug, Clone, Default)]
pub struct LoopSettings {
    /// The job name.
    pub job: String,
    /// Keep scraped labels that collide with target labels.
    pub honor_labels: bool,
    /// Use timestamps from the exposition.
    pub honor_timestamps: bool,
    /// Write stale markers for series with explicit timestamps too.
    pub track_timestamps_staleness: bool,
    /// Samples allowed per scrape after relabeling (0: no limit).
    pub sample_limit: u64,
    /// Labels allowed per series (0: no limit).
    pub label_limit: u64,
    /// Longest label name (0: no limit).
    pub label_name_length_limit: u64,
    /// Longest label value (0: no limit).
    pub label_value_length_limit: u64,
    /// `metric_relabel_configs`.
    pub metric_relabel: Vec<RelabelConfig>,
    /// Append the extra report series (`--enable-feature=extra-scrape-metrics`).
    pub extra_metrics: bool,
    /// Media type of `fallback_scrape_protocol`: how a body with a missing
    /// or unknown Content-Type is parsed (`None`: as the text format).
    pub fallback_media_type: Option<&'static str>,
    /// `scrape_failure_log_file`, opened.
    pub failure_log: Option<Arc<FailureLog>>,
}

/// Counts of one [`LoopState::append`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Samples in the exposition (`scrape_samples_scraped`).
    pub total: u64,
    /// Samples after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: u64,
    /// Series new to the cache (`scrape_series_added`).
    pub series_added: u64,
    /// Samples refused as out of order.
    pub out_of_order: u64,
    /// Samples refused as duplicates for their timestamp.
    pub duplicates: u64,
    /// Samples refused as out of bounds.
    pub out_of_bounds: u64,
    /// Why the scrape's samples must be rolled back, if they must.
    pub error: Option<ScrapeError>,
}

/// The mutable state a loop keeps between scrapes, plus what it needs to
/// turn an exposition into appends. Owned by one thread.
#[derive(Debug)]
pub struct LoopState {
    target: Arc<Target>,
    settings: Arc<LoopSettings>,
    metrics: Arc<ScrapeMetrics>,
    timeout: Duration,
    cache: ScrapeCache,
    builder: LabelsBuilder,
    /// The report series in [`REPORT_NAMES`] order with their storage
    /// references (0 until known); labels built at the first report.
    report_series: Vec<(Labels, SeriesRef)>,
}

/// One sample as the loop appends it.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Timestamp (ms): the exposition's when honoured, else the scrape's.
    t: i64,
    value: f64,
    /// Whether the exposition gave the timestamp (and it is honoured).
    explicit_ts: bool,
}

/// What one [`LoopState::append`] keeps while it walks an exposition.
struct ScrapeBatch {
    out: AppendOutcome,
    /// The scrape's timestamp (ms).
    ts: i64,
    /// Samples after this (ms) are out of bounds.
    max_time: i64,
    sample_limit: u64,
    /// Samples counted against the sample limit so far.
    limit_count: u64,
    sample_limit_hit: bool,
}

impl ScrapeBatch {
    /// Prometheus's `limitAppender` over its `timeLimitAppender`: the
    /// sample limit counts every non-stale append after relabeling, then
    /// samples too far in the future are out of bounds.
    #[inline]
    fn append(
        &mut self,
        app: &mut dyn Appender,
        series_ref: SeriesRef,
        labels: &Labels,
        sample: Sample,
    ) -> Result<SeriesRef, LimitedError> {
        if self.sample_limit > 0 && !crate::storage::is_stale_nan(sample.value) {
            self.limit_count += 1;
            if self.limit_count > self.sample_limit {
                return Err(LimitedError::SampleLimit);
            }
        }
        if sample.t > self.max_time {
            return Err(LimitedError::Append(AppendError::OutOfBounds));
        }
        app.append(series_ref, labels, sample.t, sample.value)
            .map_err(LimitedError::Append)
    }
}

impl LoopState {
    /// State for `target` with `cache` (a predecessor's, or a new one).
    pub fn new(
        target: Arc<Target>,
        settings: Arc<LoopSettings>,
        metrics: Arc<ScrapeMetrics>,
        timeout: Duration,
        cache: ScrapeCache,
    ) -> LoopState {
        LoopState {
            target,
            settings,
            metrics,
            timeout,
            cache,
            builder: LabelsBuilder::default(),
            report_series: Vec::new(),
        }
    }

    /// The cache, e.g. to hand it to a successor.
    pub fn into_cache(self) -> ScrapeCache {
        self.cache
    }

    /// Parses `body` and appends its samples at `ts` (ms), then stale
    /// markers for series gone since the last scrape. An empty body (a
    /// failed scrape) marks every series of the last scrape stale.
    ///
    /// Follows Prometheus's `scrapeLoop.append`: cached series skip label
    /// parsing; new ones get target labels (honor_labels / `exported_`),
    /// metric relabeling and the label limits; the sample limit is counted
    /// after relabeling and, when exceeded, parsing goes on so the totals
    /// are right but the scrape fails. Out-of-order, duplicate and
    /// out-of-bounds samples are counted and skipped.
    pub fn append(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        content_type: &str,
        ts: i64,
    ) -> AppendOutcome {
        let mut batch = ScrapeBatch {
            out: AppendOutcome::default(),
            ts,
            max_time: unix_ms(SystemTime::now() + MAX_AHEAD),
            sample_limit: self.settings.sample_limit,
            limit_count: 0,
            sample_limit_hit: false,
        };
        let content_type =
            textparse::content_type_or_fallback(content_type, self.settings.fallback_media_type);
        let mut parser = Parser::new(body, content_type);
        parser.defer_series_checks();
        self.cache.begin_scrape();
        while let Some(entry) = parser.next() {
            let appended = match entry {
                Ok(Entry::Series) => self.append_sample(app, &mut parser, &mut batch),
                Ok(_) => continue,
                Err(e) => {
                    // As Prometheus 2.42, which counts a sample it then fails to append.
                    batch.out.total += u64::from(e.counted_as_sample);
                    Err(ScrapeError::Parse(e.to_string()))
                }
            };
            if let Err(e) = appended {
                batch.out.error = Some(e);
                break;
            }
        }
        self.end_scrape(app, batch, !body.is_empty())
    }

    /// The per-sample path: a series the cache knows costs one hash of its
    /// bytes and one lookup; only a new one is checked (UTF-8, duplicate
    /// label names: the cache keys are bytes that passed) and has its
    /// labels parsed.
    #[inline]
    fn append_sample(
        &mut self,
        app: &mut dyn Appender,
        parser: &mut Parser<'_>,
        batch: &mut ScrapeBatch,
    ) -> Result<(), ScrapeError> {
        batch.out.total += 1;
        let (met, parsed_ts, value) = parser.series();
        let parsed_ts = parsed_ts.filter(|_| self.settings.honor_timestamps);
        let sample = Sample {
            t: parsed_ts.unwrap_or(batch.ts),
            value,
            explicit_ts: parsed_ts.is_some(),
        };
        let track = !sample.explicit_ts || self.settings.track_timestamps_staleness;
        match self.cache.get(met) {
            Lookup::Dropped => return Ok(()),
            Lookup::Hit {
                entry,
                already_scraped,
                position,
            } => {
                // A series repeated within one exposition keeps its first
                // sample, as in Prometheus 2.42 where the head dropped the
                // rest at commit; detected here so the outcome does not
                // depend on the storage (2.55 likewise exempts explicit
                // timestamps).
                let result = if already_scraped && !sample.explicit_ts {
                    Err(LimitedError::Append(
                        AppendError::DuplicateSampleForTimestamp,
                    ))
                } else {
                    batch.append(app, entry.series_ref, &entry.labels, sample)
                };
                if self.classify(result, batch)?.is_some() && track {
                    self.cache.track(position);
                }
            }
            Lookup::Miss(key) => {
                if let Err(e) = parser.check_series() {
                    // Counted above; Prometheus 2.42 counts only some of these.
                    batch.out.total -= u64::from(!e.counted_as_sample);
                    return Err(ScrapeError::Parse(e.to_string()));
                }
                if !self.append_new_series(app, parser, key, sample, track, batch)? {
                    return Ok(());
                }
            }
        }
        // Counted even when the sample was refused: this is the number of
        // series exposed after relabeling.
        batch.out.added += 1;
        Ok(())
    }

    /// A series new to the cache: its labels parsed, target labels added,
    /// metric relabeling and the label checks applied, then appended and
    /// cached. Returns false when relabeling dropped it.
    fn append_new_series(
        &mut self,
        app: &mut dyn Appender,
        parser: &Parser<'_>,
        key: SeriesKey,
        sample: Sample,
        track: bool,
        batch: &mut ScrapeBatch,
    ) -> Result<bool, ScrapeError> {
        let scraped = parser.labels(&mut self.builder);
        let Some(labels) = mutate_sample_labels(
            &scraped,
            &|name: &str| parser.exposes_label(name),
            self.target.labels(),
            self.settings.honor_labels,
            &self.settings.metric_relabel,
            &mut self.builder,
        ) else {
            self.cache.add_dropped(key);
            return Ok(false);
        };
        let hash = scraped.stable_hash();
        if let Err(e) = check_series(&labels, &self.settings) {
            if matches!(e, ScrapeError::LabelLimit(_)) {
                self.metrics
                    .target_scrape_pool_exceeded_label_limits_total
                    .inc();
            }
            return Err(e);
        }
        let result = batch.append(app, 0, &labels, sample);
        let series_ref = self.classify(result, batch)?;
        if series_ref.is_some() && !batch.sample_limit_hit {
            batch.out.series_added += 1;
        }
        // As Prometheus: tracked even when the sample was refused.
        self.cache
            .add(key, series_ref.unwrap_or(0), labels, hash, track);
        Ok(true)
    }

    /// After the last sample: the sample limit verdict, stale markers for
    /// the series gone since the last scrape, and the cache's iteration.
    fn end_scrape(
        &mut self,
        app: &mut dyn Appender,
        mut batch: ScrapeBatch,
        non_empty: bool,
    ) -> AppendOutcome {
        if batch.sample_limit_hit {
            batch.out.error.get_or_insert(ScrapeError::SampleLimit);
            self.metrics
                .target_scrapes_exceeded_sample_limit_total
                .inc();
        }
        self.log_refused(&batch.out);
        if batch.out.error.is_none() {
            batch.out.error = self.append_stale_markers(app, batch.ts).err();
        }
        if batch.out.error.is_none() && self.cache.iter_done(non_empty) {
            self.metrics.target_scrapes_cache_flush_forced_total.inc();
        }
        batch.out
    }

    /// StaleNaN at `ts` for every series of the last scrape missing from
    /// this one; markers the storage already has a newer sample for are
    /// skipped.
    fn append_stale_markers(&self, app: &mut dyn Appender, ts: i64) -> Result<(), ScrapeError> {
        let mut result = Ok(());
        self.cache
            .for_each_stale(|labels| match app.append(0, labels, ts, stale_nan()) {
                Ok(_)
                | Err(AppendError::OutOfOrderSample)
                | Err(AppendError::DuplicateSampleForTimestamp) => true,
                Err(e) => {
                    result = Err(ScrapeError::Storage(e.to_string()));
                    false
                }
            });
        result
    }

    /// Sorts an append's result as Prometheus's `checkAddError`: the new
    /// reference when appended, `None` when refused and counted, an error
    /// when the scrape must fail.
    #[inline]
    fn classify(
        &self,
        result: Result<SeriesRef, LimitedError>,
        batch: &mut ScrapeBatch,
    ) -> Result<Option<SeriesRef>, ScrapeError> {
        let out = &mut batch.out;
        match result {
            Ok(r) => return Ok(Some(r)),
            // Parsing goes on so the totals are right; the scrape fails.
            Err(LimitedError::SampleLimit) => batch.sample_limit_hit = true,
            Err(LimitedError::Append(AppendError::OutOfOrderSample)) => {
                out.out_of_order += 1;
                self.metrics.target_scrapes_sample_out_of_order_total.inc();
            }
            Err(LimitedError::Append(AppendError::DuplicateSampleForTimestamp)) => {
                out.duplicates += 1;
                self.metrics
                    .target_scrapes_sample_duplicate_timestamp_total
                    .inc();
            }
            Err(LimitedError::Append(AppendError::OutOfBounds)) => {
                out.out_of_bounds += 1;
                self.metrics.target_scrapes_sample_out_of_bounds_total.inc();
            }
            Err(LimitedError::Append(e)) => return Err(ScrapeError::Storage(e.to_string())),
        }
        Ok(None)
    }

    fn log_refused(&self, out: &AppendOutcome) {
        let (job, target) = (self.settings.job.as_str(), self.target.url());
        if out.out_of_order > 0 {
            log::warn!(job = job, target = target, num_dropped = out.out_of_order; "Error on ingesting out-of-order samples");
        }
        if out.duplicates > 0 {
            log::warn!(job = job, target = target, num_dropped = out.duplicates; "Error on ingesting samples with different value but same timestamp");
        }
        if out.out_of_bounds > 0 {
            log::warn!(job = job, target = target, num_dropped = out.out_of_bounds; "Error on ingesting samples that are too old or are too far into the future");
        }
    }

    /// Appends the report series at `ts`, as Prometheus's `report`.
    /// `bytes` is the body size, -1 when it hit the limit.
    pub fn report(
        &mut self,
        app: &mut dyn Appender,
        ts: i64,
        duration: Duration,
        outcome: &AppendOutcome,
        bytes: i64,
        healthy: bool,
    ) -> Result<(), AppendError> {
        // In REPORT_NAMES order.
        let values = [
            if healthy { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            outcome.total as f64,
            outcome.added as f64,
            outcome.series_added as f64,
            self.timeout.as_secs_f64(),
            self.settings.sample_limit as f64,
            bytes as f64,
        ];
        self.append_report(app, ts, values)
    }

    /// Appends StaleNaN to every report series at `ts`.
    pub fn report_stale(&mut self, app: &mut dyn Appender, ts: i64) -> Result<(), AppendError> {
        self.append_report(app, ts, [stale_nan(); REPORT_NAMES.len()])
    }

    /// Appends `values` to the report series (the extra ones only with
    /// `extra_metrics`); their labels are built on the first call.
    fn append_report(
        &mut self,
        app: &mut dyn Appender,
        ts: i64,
        values: [f64; REPORT_NAMES.len()],
    ) -> Result<(), AppendError> {
        if self.report_series.is_empty() {
            let target = self.target.labels();
            let builder = &mut self.builder;
            self.report_series = REPORT_NAMES
                .iter()
                .map(|name| {
                    let series = Labels::from_pairs([(METRIC_NAME, *name)]);
                    (mutate_report_sample_labels(&series, target, builder), 0)
                })
                .collect();
        }
        let count = if self.settings.extra_metrics {
            REPORT_NAMES.len()
        } else {
            REPORT_BASIC
        };
        for ((labels, series_ref), value) in self.report_series.iter_mut().zip(values).take(count) {
            match app.append(*series_ref, labels, ts, value) {
                Ok(r) => *series_ref = r,
                // Expected when a target goes away and comes back with a
                // new loop.
                Err(AppendError::OutOfOrderSample)
                | Err(AppendError::DuplicateSampleForTimestamp) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Why [`ScrapeBatch::append`] refused a sample.
enum LimitedError {
    SampleLimit,
    Append(AppendError),
}

/// Adds the target labels to scraped labels and applies metric relabeling,
/// as Prometheus's `mutateSampleLabels`. `None` means dropped.
///
/// With `honor_labels` scraped values win; otherwise target values win and
/// each colliding scraped label is kept as `exported_<name>` (more
/// `exported_` prefixes until the name is free, shortest names first).
/// `exposed` tells whether the exposition named a label, even with an
/// empty value: as Prometheus, `honor_labels` then does not add the target's.
pub(crate) fn mutate_sample_labels(
    scraped: &Labels,
    exposed: &dyn Fn(&str) -> bool,
    target: &Labels,
    honor: bool,
    metric_relabel: &[RelabelConfig],
    lb: &mut LabelsBuilder,
) -> Option<Labels> {
    lb.reset(scraped);
    if honor {
        for l in target.iter() {
            if !scraped.has(l.name) && !exposed(l.name) {
                lb.set(l.name, l.value);
            }
        }
    } else {
        let mut conflicts: Vec<(&str, &str)> = Vec::new();
        for l in target.iter() {
            if let Some(existing) = scraped.get(l.name) {
                conflicts.push((l.name, existing));
            }
            lb.set(l.name, l.value);
        }
        conflicts.sort_by_key(|(name, _)| name.len());
        for (name, value) in conflicts {
            let mut new_name = name.to_string();
            loop {
                new_name.insert_str(0, EXPORTED_PREFIX);
                if lb.get(&new_name).is_empty() {
                    lb.set(&new_name, value);
                    break;
                }
            }
        }
    }
    if !metric_relabel.is_empty() && !relabel::process_builder(lb, metric_relabel) {
        return None;
    }
    if lb.is_empty() {
        return None;
    }
    Some(lb.labels())
}

/// Target labels on a report series, as Prometheus's
/// `mutateReportSampleLabels`: target values win, colliding ones are kept
/// once as `exported_<name>`.
fn mutate_report_sample_labels(series: &Labels, target: &Labels, lb: &mut LabelsBuilder) -> Labels {
    lb.reset(series);
    for l in target.iter() {
        let exported = format!("{EXPORTED_PREFIX}{}", l.name);
        lb.set(&exported, series.get(l.name).unwrap_or(""));
        lb.set(l.name, l.value);
    }
    lb.labels()
}

/// Go's `%.50s`: at most 50 characters.
fn trunc50(s: &str) -> &str {
    match s.char_indices().nth(50) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The checks Prometheus makes on a new series after relabeling: a metric
/// name, valid names, then the label limits.
fn check_series(labels: &Labels, settings: &LoopSettings) -> Result<(), ScrapeError> {
    let Some(metric) = labels.get(METRIC_NAME) else {
        return Err(ScrapeError::MissingMetricName);
    };
    if labels.validate().is_err() {
        return Err(ScrapeError::InvalidLabels(labels.to_string()));
    }
    let metric = trunc50(metric);
    if settings.label_limit > 0 {
        let n = labels.len() as u64;
        if n > settings.label_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_limit exceeded (metric: {metric}, number of labels: {n}, limit: {})",
                settings.label_limit
            )));
        }
    }
    let (name_limit, value_limit) = (
        settings.label_name_length_limit,
        settings.label_value_length_limit,
    );
    if name_limit == 0 && value_limit == 0 {
        return Ok(());
    }
    for l in labels.iter() {
        let name_len = l.name.len() as u64;
        if name_limit > 0 && name_len > name_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {name_len}, limit: {name_limit})",
                trunc50(l.name)
            )));
        }
        let value_len = l.value.len() as u64;
        if value_limit > 0 && value_len > value_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {:?}, length: {value_len}, limit: {value_limit})",
                trunc50(l.name),
                trunc50(l.value)
            )));
        }
    }
    Ok(())
}

/// Milliseconds since the epoch, as Prometheus's `timestamp.FromTime`.
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Flags the pool sets on a running loop.
#[derive(Debug, Default)]
pub(crate) struct LoopShared {
    forced_error: Mutex<Option<ScrapeError>>,
    end_of_run_disabled: AtomicBool,
    /// Set when the loop thread panicked; its pool restarts the target.
    panicked: AtomicBool,
}

impl LoopShared {
    pub(crate) fn set_forced_error(&self, err: Option<ScrapeError>) {
        *self.forced_error.lock() = err;
    }

    fn forced_error(&self) -> Option<ScrapeError> {
        self.forced_error.lock().clone()
    }
}

/// Everything a loop thread needs from its manager.
#[derive(Clone)]
pub(crate) struct LoopEnv {
    pub appendable: Arc<dyn Appendable>,
    pub buffers: Arc<BufferPool>,
    pub metrics: Arc<ScrapeMetrics>,
    pub offset_seed: u64,
    pub skip_offset: bool,
}

/// A loop not yet started: one target with its scraper and state.
pub(crate) struct ScrapeLoop {
    pub state: LoopState,
    pub scraper: TargetScraper,
    pub env: LoopEnv,
    pub interval: Duration,
    pub shared: Arc<LoopShared>,
    last_scrape_size: usize,
    interval_length: Arc<Summary>,
    last_start: Option<Instant>,
}

/// A running loop as its pool holds it.
pub(crate) struct LoopHandle {
    stop: Option<Sender<()>>,
    stopped: Receiver<()>,
    shared: Arc<LoopShared>,
    thread: JoinHandle<ScrapeCache>,
}

impl LoopHandle {
    pub(crate) fn set_forced_error(&self, err: Option<ScrapeError>) {
        self.shared.set_forced_error(err);
    }

    /// Whether the loop thread panicked and has ended.
    pub(crate) fn panicked(&self) -> bool {
        self.shared.panicked.load(Ordering::Acquire)
    }

    /// Keeps the loop from writing end-of-run stale markers (its cache
    /// goes to a successor).
    pub(crate) fn disable_end_of_run_staleness(&self) {
        self.shared
            .end_of_run_disabled
            .store(true, Ordering::Release);
    }

    /// Asks the loop to stop after its current scrape; returns at once.
    pub(crate) fn signal_stop(&mut self) {
        self.stop = None;
    }

    /// Signals stop, waits until the loop scrapes no more, and returns the
    /// thread, which may still be waiting to write end-of-run markers.
    pub(crate) fn stop(mut self) -> JoinHandle<ScrapeCache> {
        self.signal_stop();
        // Disconnected when the scraping part of the thread has ended.
        let _ = self.stopped.recv();
        self.thread
    }

    /// Signals stop and joins the thread, returning its cache.
    pub(crate) fn stop_and_join(self) -> Option<ScrapeCache> {
        self.stop().join().ok()
    }
}

/// Whether a stop-style channel has fired (a message or a disconnect).
fn fired(rx: &Receiver<()>) -> bool {
    !matches!(rx.try_recv(), Err(TryRecvError::Empty))
}

/// Why the main loop ended.
enum Exit {
    /// The target went away: stale markers may follow.
    Stopped,
    /// The pool was cancelled (shutdown or job removed): no markers.
    Cancelled,
}

impl ScrapeLoop {
    pub(crate) fn new(
        state: LoopState,
        scraper: TargetScraper,
        env: LoopEnv,
        interval: Duration,
    ) -> ScrapeLoop {
        let interval_length = env
            .metrics
            .interval_length(&crate::config::Duration(interval).to_string());
        ScrapeLoop {
            state,
            scraper,
            env,
            interval,
            shared: Arc::new(LoopShared::default()),
            last_scrape_size: 0,
            interval_length,
            last_start: None,
        }
    }

    /// Starts the loop on its own thread; `cancel` is the pool's.
    pub(crate) fn spawn(self, cancel: Receiver<()>) -> io::Result<LoopHandle> {
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let (stopped_tx, stopped_rx) = bounded::<()>(0);
        let shared = Arc::clone(&self.shared);
        let name = format!(
            "scrape {} {}",
            self.state.settings.job,
            self.state.target.instance()
        );
        let thread = std::thread::Builder::new()
            .name(name)
            .stack_size(LOOP_STACK_SIZE)
            .spawn(move || self.run_catching_panics(stop_rx, cancel, stopped_tx))?;
        Ok(LoopHandle {
            stop: Some(stop_tx),
            stopped: stopped_rx,
            shared,
            thread,
        })
    }

    /// [`ScrapeLoop::run`], with a panic caught: it is logged with job and
    /// target, counted, and flagged for the pool, which starts the target
    /// afresh (see `ScrapePool::restart_panicked`). The panic's own line
    /// comes from the process's panic hook. The stop channels go with the
    /// unwinding, so a pool stopping this loop never waits for it.
    fn run_catching_panics(
        self,
        stop: Receiver<()>,
        cancel: Receiver<()>,
        stopped: Sender<()>,
    ) -> ScrapeCache {
        let job = self.state.settings.job.clone();
        let target = self.state.target.url().to_string();
        let shared = Arc::clone(&self.shared);
        let metrics = Arc::clone(&self.env.metrics);
        match catch_unwind(AssertUnwindSafe(move || self.run(stop, cancel, stopped))) {
            Ok(cache) => cache,
            Err(_) => {
                metrics.target_scrape_loop_panics_total.inc();
                log::error!(
                    job = job.as_str(), target = target.as_str();
                    "Scrape loop panicked; the target restarts with an empty cache"
                );
                shared.panicked.store(true, Ordering::Release);
                ScrapeCache::default()
            }
        }
    }

    fn run(mut self, stop: Receiver<()>, cancel: Receiver<()>, stopped: Sender<()>) -> ScrapeCache {
        if !self.env.skip_offset {
            let offset = self
                .state
                .target
                .offset(self.interval, self.env.offset_seed);
            select! {
                recv(stop) -> _ => return self.state.into_cache(),
                recv(cancel) -> _ => return self.state.into_cache(),
                recv(after(offset)) -> _ => {}
            }
        }
        let start = Instant::now();
        let mut aligned = SystemTime::now();
        let mut last_scrape: Option<SystemTime> = None;
        let mut next = start;
        let exit = loop {
            if fired(&cancel) {
                break Exit::Cancelled;
            }
            if fired(&stop) {
                break Exit::Stopped;
            }
            let scrape_time = self.align(SystemTime::now(), &mut aligned);
            self.scrape_and_report(scrape_time);
            last_scrape = Some(scrape_time);

            next = next_deadline(start, self.interval, next, Instant::now());
            select! {
                recv(cancel) -> _ => break Exit::Cancelled,
                recv(stop) -> _ => break Exit::Stopped,
                recv(at(next)) -> _ => {}
            }
        };
        drop(stopped);
        if let (Exit::Stopped, Some(_)) = (exit, last_scrape) {
            if !self.shared.end_of_run_disabled.load(Ordering::Acquire) {
                self.end_of_run_staleness(start, next, &cancel);
            }
        }
        self.state.into_cache()
    }

    /// Moves `now` onto the ideal grid when within the tolerance, as
    /// Prometheus 2.42 (`AlignScrapeTimestamps`, only for intervals over
    /// 100 × tolerance; 2.53 instead clamps the tolerance to 1% of the
    /// interval).
    fn align(&self, now: SystemTime, aligned: &mut SystemTime) -> SystemTime {
        align_timestamp(self.interval, now, aligned)
    }

    /// One scrape: fetch, append, report, commit — or roll back and
    /// report the failure, as Prometheus's `scrapeAndReport`.
    ///
    /// The request goes out before anything shared with other loops or
    /// with the storage is touched (Prometheus takes its appender first,
    /// which costs nothing there): a loop that wakes on its tick never
    /// waits behind another loop's lock or commit to start its scrape.
    fn scrape_and_report(&mut self, append_time: SystemTime) {
        let start = Instant::now();
        let ts = unix_ms(append_time);
        let mut buf = self.env.buffers.get(self.last_scrape_size);
        let fetch = match self.shared.forced_error() {
            Some(forced) => Fetch::Forced(forced),
            None => {
                let (fetched, bytes) = self.fetch(&mut buf);
                Fetch::Done(fetched, bytes)
            }
        };
        if let Some(last) = self.last_start.replace(start) {
            self.interval_length
                .observe(start.duration_since(last).as_secs_f64());
        }
        let appendable = Arc::clone(&self.env.appendable);
        let mut app = appendable.appender();
        let scraped = match fetch {
            // Forced error (target_limit): still mark the series stale.
            Fetch::Forced(forced) => {
                self.mark_all_stale(appendable.as_ref(), &mut app, ts, "Append failed");
                Scraped {
                    error: Some(forced),
                    outcome: AppendOutcome::default(),
                    bytes: 0,
                }
            }
            Fetch::Done(fetched, bytes) => {
                let body = (buf.as_slice(), fetched, bytes);
                self.append_fetched(appendable.as_ref(), &mut app, body, ts)
            }
        };
        self.env.buffers.put(buf);
        let duration = start.elapsed();
        let healthy = scraped.error.is_none();
        let error = scraped.error.as_ref().map(ToString::to_string);
        self.state.target.report(append_time, duration, error);
        let (outcome, bytes) = (&scraped.outcome, scraped.bytes);
        let report = self
            .state
            .report(app.as_mut(), ts, duration, outcome, bytes, healthy);
        self.commit_report(
            app,
            report,
            ["Appending scrape report failed", "Scrape commit failed"],
        );
    }

    /// Appends what a fetch gave: `(body, content type or error, size)`.
    /// As Prometheus, a failed fetch is an empty scrape, which marks every
    /// series stale, and a failed append is rolled back and followed by
    /// those stale markers.
    fn append_fetched<'a>(
        &mut self,
        appendable: &'a dyn Appendable,
        app: &mut Box<dyn Appender + 'a>,
        (body, fetched, bytes): (&[u8], Result<String, ScrapeError>, i64),
        ts: i64,
    ) -> Scraped {
        let content_type = fetched.as_deref().unwrap_or("");
        let mut outcome = self.state.append(app.as_mut(), body, content_type, ts);
        let append_error = outcome.error.take();
        if let Some(e) = &append_error {
            start_over(appendable, app);
            self.log(log::Level::Debug, "Append failed", e);
            self.mark_all_stale(appendable, app, ts, "Append failed");
        }
        Scraped {
            error: fetched.err().or(append_error),
            outcome,
            bytes,
        }
    }

    /// Scrapes into `buf` (left empty on failure): the content type or
    /// the error, and the body size for the report (-1 when it hit the
    /// limit). Keeps the buffer size estimate and the count of body-limit
    /// hits.
    fn fetch(&mut self, buf: &mut Vec<u8>) -> (Result<String, ScrapeError>, i64) {
        let fetched = self.scraper.scrape(buf);
        match &fetched {
            // Empty bodies do not shrink the buffer estimate.
            Ok(_) if !buf.is_empty() => self.last_scrape_size = buf.len(),
            Ok(_) => {}
            Err(e) => {
                self.log(log::Level::Debug, "Scrape failed", e);
                if let Some(failure_log) = &self.state.settings.failure_log {
                    failure_log.log(self.state.target.url(), &e.to_string());
                }
                buf.clear();
            }
        }
        let bytes = match &fetched {
            Ok(_) => buf.len() as i64,
            Err(ScrapeError::BodySizeLimit) => {
                self.env
                    .metrics
                    .target_scrapes_exceeded_body_size_limit_total
                    .inc();
                -1
            }
            Err(_) => 0,
        };
        (fetched, bytes)
    }

    /// Appends a stale marker for every series of the last scrape (an
    /// empty scrape); when that fails, starts `app` over so the report
    /// series still go in.
    fn mark_all_stale<'a>(
        &mut self,
        appendable: &'a dyn Appendable,
        app: &mut Box<dyn Appender + 'a>,
        ts: i64,
        failed: &str,
    ) {
        if let Some(e) = self.state.append(app.as_mut(), &[], "", ts).error {
            start_over(appendable, app);
            self.log(log::Level::Warn, failed, &e);
        }
    }

    /// Commits `app` when the report series went in, else rolls it back;
    /// `[report_failed, commit_failed]` are the log messages.
    fn commit_report(
        &self,
        mut app: Box<dyn Appender + '_>,
        report: Result<(), AppendError>,
        [report_failed, commit_failed]: [&str; 2],
    ) {
        let error = match report {
            Ok(()) => app.commit().err().map(|e| (commit_failed, e)),
            Err(e) => {
                app.rollback();
                Some((report_failed, e))
            }
        };
        if let Some((msg, e)) = error {
            self.log(log::Level::Warn, msg, &ScrapeError::Storage(e.to_string()));
        }
    }

    fn log(&self, level: log::Level, msg: &str, e: &ScrapeError) {
        log::log!(
            level,
            job = self.state.settings.job.as_str(),
            target = self.state.target.url(),
            err:% = e;
            "{msg}"
        );
    }

    /// After a stop: wait for when the next scrape would have been (its
    /// time is the markers' timestamp), one more interval and a tenth, then
    /// mark every series and the report series stale, unless the pool is
    /// cancelled meanwhile. If the target came back in a new loop its
    /// samples are newer and the markers are refused as out of order.
    fn end_of_run_staleness(&mut self, start: Instant, next: Instant, cancel: &Receiver<()>) {
        // The tick the loop was waiting for when stopped, if still ahead.
        let now = Instant::now();
        let first = if now < next {
            next
        } else {
            next_deadline(start, self.interval, next, now)
        };
        select! {
            recv(cancel) -> _ => return,
            recv(at(first)) -> _ => {}
        }
        let stale_time = SystemTime::now();
        let second = first + self.interval;
        select! {
            recv(cancel) -> _ => return,
            recv(at(second + self.interval / 10)) -> _ => {}
        }
        let ts = unix_ms(stale_time);
        let appendable = Arc::clone(&self.env.appendable);
        let mut app = appendable.appender();
        self.mark_all_stale(appendable.as_ref(), &mut app, ts, "Stale append failed");
        let report = self.state.report_stale(app.as_mut(), ts);
        self.commit_report(app, report, ["Stale report failed", "Stale commit failed"]);
    }
}

/// What the fetch of one scrape gave.
enum Fetch {
    /// The pool forced an error (target_limit): no request was made.
    Forced(ScrapeError),
    /// The content type or the error, and the body size for the report
    /// (-1 when it hit the limit).
    Done(Result<String, ScrapeError>, i64),
}

/// What one scrape attempt produced, for the report.
struct Scraped {
    /// Why the scrape failed, if it did.
    error: Option<ScrapeError>,
    outcome: AppendOutcome,
    /// Body size, -1 when it hit the limit.
    bytes: i64,
}

/// Rolls back what `app` holds and starts a fresh appender in its place.
fn start_over<'a>(appendable: &'a dyn Appendable, app: &mut Box<dyn Appender + 'a>) {
    app.rollback();
    *app = appendable.appender();
}

/// See [`ScrapeLoop::align`]: `aligned` is the ideal grid point, advanced
/// by whole intervals up to `now`.
pub(crate) fn align_timestamp(
    interval: Duration,
    now: SystemTime,
    aligned: &mut SystemTime,
) -> SystemTime {
    if interval <= SCRAPE_TIMESTAMP_TOLERANCE * 100 {
        return now;
    }
    while now.duration_since(*aligned).is_ok_and(|d| d >= interval) {
        *aligned += interval;
    }
    match now.duration_since(*aligned) {
        Ok(d) if d <= SCRAPE_TIMESTAMP_TOLERANCE => *aligned,
        _ => now,
    }
}

/// The next scrape's deadline after the one served at `prev`, as Go's
/// ticker paces Prometheus's loop: the next point `start + n·interval`
/// after `prev`, or `now` if that point passed while the scrape ran (the
/// ticker holds one missed tick, so an overrunning scrape is followed at
/// once by a late one; further missed ticks are dropped). Scrapes stay on
/// their phase.
pub(crate) fn next_deadline(
    start: Instant,
    interval: Duration,
    prev: Instant,
    now: Instant,
) -> Instant {
    let elapsed = prev.saturating_duration_since(start);
    let interval_ns = interval.as_nanos().max(1);
    let n = elapsed.as_nanos() / interval_ns + 1;
    let tick = start + Duration::from_nanos((n * interval_ns) as u64);
    tick.max(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_keep_phase_and_catch_up_one_missed_tick() {
        let start = Instant::now();
        let i = Duration::from_secs(10);
        let s = Duration::from_secs;
        assert_eq!(next_deadline(start, i, start, start), start + i);
        assert_eq!(
            next_deadline(start, i, start + i, start + s(13)),
            start + 2 * i
        );
        // The scrape served at 10 s ended at 25 s: the tick of 20 s is
        // served at once, then the grid resumes at 30 s (not 35 s).
        let late = start + s(25);
        assert_eq!(next_deadline(start, i, start + i, late), late);
        assert_eq!(next_deadline(start, i, late, late + s(1)), start + 3 * i);
        // Overrunning by several intervals still catches up only once.
        let very_late = start + s(47);
        assert_eq!(next_deadline(start, i, start + i, very_late), very_late);
        assert_eq!(next_deadline(start, i, very_late, very_late), start + 5 * i);
        let exact = start + 2 * i;
        assert_eq!(next_deadline(start, i, start + i, exact), exact);
    }

    #[test]
    fn timestamps_align_within_tolerance_as_prometheus_2_42() {
        let base = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ms = Duration::from_millis;
        let i = Duration::from_secs(10);
        let mut aligned = base;
        assert_eq!(align_timestamp(i, base + i + ms(1), &mut aligned), base + i);
        assert_eq!(
            align_timestamp(i, base + 2 * i + ms(2), &mut aligned),
            base + 2 * i
        );
        assert_eq!(
            align_timestamp(i, base + 3 * i + ms(3), &mut aligned),
            base + 3 * i + ms(3)
        );
        // A skipped tick: the grid catches up.
        assert_eq!(align_timestamp(i, base + 6 * i, &mut aligned), base + 6 * i);
        // Intervals up to 100 × tolerance are never aligned (2.42).
        let mut aligned = base;
        let short = ms(200);
        assert_eq!(
            align_timestamp(short, base + short + ms(1), &mut aligned),
            base + short + ms(1)
        );
    }

    #[track_caller]
    fn mutate(
        scraped: &[(&str, &str)],
        target: &[(&str, &str)],
        honor: bool,
        want: &[(&str, &str)],
    ) {
        let mut lb = LabelsBuilder::default();
        let exposed = |name: &str| scraped.iter().any(|(n, _)| *n == name);
        let got = mutate_sample_labels(
            &Labels::from_pairs(scraped.iter().copied()),
            &exposed,
            &Labels::from_pairs(target.iter().copied()),
            honor,
            &[],
            &mut lb,
        );
        assert_eq!(got, Some(Labels::from_pairs(want.iter().copied())));
    }

    #[test]
    fn honor_labels_and_exported_prefix() {
        let target = [("job", "j"), ("instance", "i")];
        // Prometheus: an exposed empty `job=""` counts as present under
        // honor_labels, so the series ends up without a job label.
        mutate(
            &[("__name__", "m"), ("job", "")],
            &target,
            true,
            &[("__name__", "m"), ("instance", "i")],
        );
        mutate(
            &[("__name__", "m"), ("job", "x")],
            &target,
            true,
            &[("__name__", "m"), ("job", "x"), ("instance", "i")],
        );
        mutate(
            &[("__name__", "m"), ("job", "x")],
            &target,
            false,
            &[
                ("__name__", "m"),
                ("job", "j"),
                ("instance", "i"),
                ("exported_job", "x"),
            ],
        );
        // From Prometheus's TestScrapeLoopAppend...ExportedLabels cases.
        mutate(
            &[("__name__", "m"), ("job", "x"), ("exported_job", "y")],
            &target,
            false,
            &[
                ("__name__", "m"),
                ("job", "j"),
                ("instance", "i"),
                ("exported_job", "y"),
                ("exported_exported_job", "x"),
            ],
        );
        mutate(
            &[("__name__", "m"), ("instance", "a"), ("job", "b")],
            &[("job", "j"), ("instance", "i"), ("exported_job", "t")],
            false,
            &[
                ("__name__", "m"),
                ("job", "j"),
                ("instance", "i"),
                ("exported_job", "t"),
                ("exported_exported_job", "b"),
                ("exported_instance", "a"),
            ],
        );
    }

    #[test]
    fn label_limit_messages_are_prometheus() {
        let labels = Labels::from_pairs([("__name__", "metric"), ("a", "xxxxxxxx")]);
        let settings = LoopSettings {
            label_limit: 1,
            ..LoopSettings::default()
        };
        assert_eq!(
            check_series(&labels, &settings).unwrap_err().to_string(),
            "label_limit exceeded (metric: metric, number of labels: 2, limit: 1)"
        );
        let settings = LoopSettings {
            label_value_length_limit: 7,
            ..LoopSettings::default()
        };
        assert_eq!(
            check_series(&labels, &settings).unwrap_err().to_string(),
            "label_value_length_limit exceeded (metric: metric, label name: a, value: \"xxxxxxxx\", length: 8, limit: 7)"
        );
        assert_eq!(
            check_series(&Labels::from_pairs([("a", "b")]), &LoopSettings::default()),
            Err(ScrapeError::MissingMetricName)
        );
    }
}
