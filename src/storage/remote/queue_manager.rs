//! [`QueueManager`]: one remote_write queue, as Prometheus's
//! `QueueManager` plus its WAL watcher.
//!
//! # Threads and channels
//!
//! ```text
//! Wal ──subscribe()──► watcher thread "remote <name> watcher"
//!     ──feed()───────►   catching up: WalReader::next() → samples
//!                        caught up: committed batches from memory
//!                        refs resolve in the WAL's series table
//!                        routes each sample by series ref
//!                        ──bounded(capacity / max_samples_per_send) chunks──►
//!                      shard threads "remote <name> shard <k>"  ──► WriteClient
//!                        finish(k, n) on AckTracker ──finished(cap 1)──► watcher
//!                      watcher persists <storage>/remote/<name>.pos, tells
//!                        retention via ReaderHandle::set_read_up_to
//! ```
//!
//! The watcher wakes on a WAL notification (or a batch from memory), a
//! shard's progress, stop, or a one-second tick. When a shard's channel is
//! full the watcher waits (it never drops): the WAL is the buffer, bounded
//! by retention.
//!
//! # Fed from memory
//!
//! Once the reader reaches the end of what is written, the watcher goes
//! live: each commit's samples reach it from memory through a
//! [`SampleFeed`] (holding at most `capacity` × shards samples) once they
//! are durable, with no file read and no decode. Each batch names where
//! the batch before it ended; a batch that does not follow the last record
//! handled, or a batch the full feed left out, sends the watcher back to
//! the files from its last position until it catches up again. Progress
//! is tracked by WAL position either way, so exactly-once across restarts
//! does not depend on where a sample came from.
//!
//! # Where reading starts
//!
//! The saved progress ([`super::progress`]) names, per shard, how far the
//! receiver has acknowledged. The reader opens at the oldest of those
//! positions (re-reading the start of that segment for the value
//! encoding's state). Refs resolve through the WAL's series table, which
//! holds every series a retained segment refers to, so the watcher never
//! decodes a series record. Samples a shard had already finished are
//! skipped, exactly. With no saved
//! file (a new queue) the whole retained WAL is sent: nothing the box holds
//! is left out, and retention bounds how much that is.
//!
//! # Shards
//!
//! A queue starts with the shard count of its last run (or `min_shards`)
//! and, as Prometheus's resharding, reconsiders it every
//! [`RESHARD_INTERVAL`] from the time its shards spent in accepted sends,
//! within `min_shards..=max_shards` ([`desired_shards`]). Each shard keeps
//! a request's protobuf and snappy buffers and up to `capacity` queued
//! samples, so an edge box sending a few thousand samples a second is
//! served by one, and a box sending a million gets the several it needs.
//! The exact per-shard progress needs every series on one shard within a
//! layout, so a reshard first lets the old shards send everything handed
//! to them, then starts the new layout at the record where all of them
//! stand ([`AckTracker::reshape`]): nothing is sent twice or skipped. A
//! window with retries or refusals is not used to decide: during an
//! outage the time spent measures the backoff, not the load.
//!
//! # Series labels
//!
//! External labels are added where a series lacks that label (the series'
//! own value wins, as Prometheus's `processExternalLabels`), then
//! `write_relabel_configs` apply; a series they drop is remembered so its
//! samples are counted as dropped. With neither configured, a sample's
//! labels are the WAL series table's own [`Labels`], looked up per record
//! and kept nowhere else. Otherwise the result is worked out once per
//! series, the first time one of its samples is read, and kept in a map
//! by ref (sharing the table's allocation where nothing changed); at each
//! segment change the map drops the series the WAL's table no longer
//! holds, so under churn it stays bounded by the retained WAL. Labels are
//! protobuf-encoded at send time ([`super::codec`]), not kept encoded.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError};
use parking_lot::Mutex;

use super::progress::{shard_of, AckTracker, ProgressError, SavedProgress};
use super::shards::{Chunk, QueuedSample, ShardContext, ShardSet, StopSignal};
use super::stats::{store_max, DropReason, QueueStats};
use super::write_client::WriteClient;
use crate::config::RemoteWriteConfig;
use crate::http_client::HttpClientError;
use crate::labels::{Labels, LabelsBuilder};
use crate::relabel::RelabelConfig;
use crate::storage::wal::codec::RefMap;
use crate::storage::wal::{
    FedBatch, Position, ReaderHandle, Record, RefSample, SampleFeed, SeriesEntry, SeriesTable, Wal,
    WalError, WalReader,
};
use crate::storage::SeriesRef;

/// Samples the feed from memory holds, in units of `capacity`; fixed, so
/// a queue with one shard is fed as well as before resharding existed.
const FEED_SHARDS: usize = 4;
/// How often the shard count is reconsidered, as Prometheus's
/// `shardUpdateDuration`.
const RESHARD_INTERVAL: Duration = Duration::from_secs(10);
/// Spare sending capacity a reshard aims for.
const RESHARD_HEADROOM: f64 = 0.3;
/// A desired count within this fraction of the current one is not worth a
/// reshard, as Prometheus's `shardToleranceFraction`.
const RESHARD_TOLERANCE: f64 = 0.3;
/// How often the watcher looks at the WAL without a notification.
const FALLBACK_TICK: Duration = Duration::from_secs(1);
/// How often saved progress is fsynced at most; see [`super::progress`].
const POSITION_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How long a blocked hand-over to a shard waits before the watcher
/// persists progress and checks for stop.
const HANDOVER_WAIT: Duration = Duration::from_millis(200);

/// Why a queue could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueError {
    /// The HTTP client could not be built from the config.
    Client {
        /// The queue.
        queue: String,
        /// Why.
        error: HttpClientError,
    },
    /// The saved position could not be read.
    Progress(ProgressError),
    /// The WAL could not be opened for reading.
    Wal {
        /// The queue.
        queue: String,
        /// Why.
        error: WalError,
    },
    /// A directory or thread could not be created.
    Io {
        /// The queue.
        queue: String,
        /// What was being done.
        op: String,
        /// The OS error.
        error: io::Error,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Client { queue, error } => write!(f, "remote_write queue {queue}: {error}"),
            QueueError::Progress(e) => e.fmt(f),
            QueueError::Wal { queue, error } => write!(f, "remote_write queue {queue}: {error}"),
            QueueError::Io { queue, op, error } => {
                write!(f, "remote_write queue {queue}: {op}: {error}")
            }
        }
    }
}

impl std::error::Error for QueueError {}

/// The name of a queue: `name` from the config, else the first 6 hex
/// digits of a hash of the URL. Prometheus hashes the whole config; the URL
/// alone keeps the saved position when only headers or auth change.
pub fn queue_name(cfg: &RemoteWriteConfig) -> String {
    match &cfg.name {
        Some(n) if !n.is_empty() => n.clone(),
        _ => format!("{:016x}", xxhash_rust::xxh64::xxh64(cfg.url.as_bytes(), 0))[..6].to_string(),
    }
}

/// Where a queue keeps its progress: `<wal dir>/../remote/<name>.pos`,
/// the name reduced to `[A-Za-z0-9._-]`.
pub fn position_file(wal_dir: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    wal_dir
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("remote")
        .join(format!("{safe}.pos"))
}

/// One remote_write queue: a watcher thread tailing the WAL and a fixed set
/// of shard threads. See the module documentation.
///
/// Owned by whoever started it; [`QueueManager::stop`] (or drop) stops and
/// joins every thread. Its [`QueueStats`] may be read from any thread.
pub struct QueueManager {
    name: String,
    stats: Arc<QueueStats>,
    stop: Arc<StopSignal>,
    tracker: Arc<Mutex<AckTracker>>,
    watcher: Option<JoinHandle<()>>,
}

impl fmt::Debug for QueueManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueManager")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl QueueManager {
    /// Starts the queue for `cfg`, resuming from its saved position.
    pub fn start(
        wal: &Wal,
        cfg: &RemoteWriteConfig,
        external_labels: &Labels,
    ) -> Result<QueueManager, QueueError> {
        let name = queue_name(cfg);
        let io_err = |op: &str, error| QueueError::Io {
            queue: name.clone(),
            op: op.to_string(),
            error,
        };
        let client = WriteClient::new(cfg).map_err(|error| QueueError::Client {
            queue: name.clone(),
            error,
        })?;
        let pos_path = position_file(wal.dir(), &name);
        if let Some(dir) = pos_path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| io_err(&format!("create {}", dir.display()), e))?;
        }
        let saved = SavedProgress::load(&pos_path).map_err(QueueError::Progress)?;
        let qc = &cfg.queue_config;
        let min_shards = qc.min_shards.max(1);
        let max_shards = qc.max_shards.max(min_shards);
        // The layout of the last run if it fits, so a restart neither
        // re-learns the rate nor needs a filter layer.
        let n = saved
            .layers
            .first()
            .map_or(min_shards, Vec::len)
            .clamp(min_shards, max_shards);
        let tracker = Arc::new(Mutex::new(AckTracker::new(n, &saved)));
        let handle = wal.register_reader(&name);
        handle.set_read_up_to(tracker.lock().read_up_to());
        let reader = WalReader::open_samples_only(wal.dir(), saved.start()).map_err(|error| {
            QueueError::Wal {
                queue: name.clone(),
                error,
            }
        })?;
        let stats = Arc::new(QueueStats::default());
        stats.shards.store(n as u64, Ordering::Relaxed);
        let stop = Arc::new(StopSignal::new());
        let (finished_tx, finished_rx) = crossbeam_channel::bounded(1);
        let max_per_send = qc.max_samples_per_send.max(1);
        let ctx = Arc::new(ShardContext {
            queue: name.clone(),
            client,
            stats: stats.clone(),
            tracker: tracker.clone(),
            finished: finished_tx,
            stop: stop.clone(),
            max_samples_per_send: max_per_send,
            batch_send_deadline: qc.batch_send_deadline.get(),
            min_backoff: qc.min_backoff.get(),
            max_backoff: qc.max_backoff.get(),
            sample_age_limit: qc.sample_age_limit.get(),
            send_busy_ns: AtomicU64::new(0),
        });
        let chunks_per_shard = (qc.capacity / max_per_send).max(1);
        let shards = ShardSet::spawn(n, chunks_per_shard, &ctx)
            .map_err(|e| io_err("spawn shard thread", e))?;
        let watcher = Watcher {
            name: name.clone(),
            pos_path,
            reader,
            handle,
            notify: wal.subscribe(),
            feed: wal.feed(qc.capacity.saturating_mul(FEED_SHARDS)),
            live: false,
            wal_dir: wal.dir().to_path_buf(),
            finished: finished_rx,
            stop: stop.clone(),
            tracker: tracker.clone(),
            stats: stats.clone(),
            filter_end: saved.filter_end(),
            saved,
            series: RefMap::default(),
            rewrites: !external_labels.is_empty() || !cfg.write_relabel_configs.is_empty(),
            table: wal.series().clone(),
            external_labels: external_labels.clone(),
            write_relabel_configs: cfg.write_relabel_configs.clone(),
            builder: LabelsBuilder::default(),
            max_per_send,
            buffers: vec![Vec::with_capacity(max_per_send); n],
            counts: vec![0; n],
            shards,
            ctx,
            chunks_per_shard,
            shard_range: (min_shards, max_shards),
            load_since: LoadMark::now(&stats, 0),
            last_end: Position::default(),
            synced_at: Instant::now(),
            unsynced: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("remote {name} watcher"))
            .spawn(move || watcher.run());
        let watcher = match thread {
            Ok(t) => t,
            Err(e) => {
                // The watcher (and with it every shard sender) was dropped:
                // the shards see their channels close and exit.
                stop.stop(Instant::now());
                return Err(io_err("spawn watcher thread", e));
            }
        };
        log::info!(
            queue = name.as_str(), url = cfg.url.as_str(), shards = n;
            "Remote_write queue started"
        );
        Ok(QueueManager {
            name,
            stats,
            stop,
            tracker,
            watcher: Some(watcher),
        })
    }

    /// The queue's name (its metrics label and position file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's counters.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// The oldest WAL position the queue still needs: everything from
    /// here on is not yet acknowledged by the receiver.
    pub fn position(&self) -> Position {
        self.tracker.lock().read_up_to()
    }

    /// Stops reading, gives the shards until `timeout` to deliver what they
    /// hold, saves the progress of what was acknowledged and joins every
    /// thread. What was not delivered stays in the WAL for the next start.
    /// A request in flight at the deadline is given at most its remaining
    /// time, so this returns shortly after `timeout`.
    pub fn stop(mut self, timeout: Duration) {
        self.shutdown(timeout);
    }

    fn shutdown(&mut self, timeout: Duration) {
        let Some(watcher) = self.watcher.take() else {
            return;
        };
        self.stats.record_stopped();
        self.stop.stop(Instant::now() + timeout);
        if watcher.join().is_err() {
            log::warn!(queue = self.name.as_str(); "Remote_write watcher panicked");
        }
        log::info!(queue = self.name.as_str(); "Remote_write queue stopped");
    }
}

impl Drop for QueueManager {
    /// Stops without a flush period: what is not acknowledged yet is sent
    /// after the next start.
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}

/// The watcher thread's state; see the module documentation.
struct Watcher {
    name: String,
    pos_path: PathBuf,
    reader: WalReader,
    handle: ReaderHandle,
    notify: Receiver<()>,
    /// Committed samples from memory, used while `live`.
    feed: SampleFeed,
    /// Caught up: samples come from `feed`, and `reader` lags behind
    /// `last_end` until a gap sends the watcher back to the files.
    live: bool,
    wal_dir: PathBuf,
    finished: Receiver<()>,
    stop: Arc<StopSignal>,
    tracker: Arc<Mutex<AckTracker>>,
    stats: Arc<QueueStats>,
    /// Progress saved by the previous run: samples it finished are skipped.
    saved: SavedProgress,
    /// Records starting after this need no filtering.
    filter_end: Position,
    /// Series seen: labels to send, or None if write relabeling dropped
    /// the series. Pruned to the WAL's series table at each segment change.
    /// Unused (empty) when there are no external labels and no write
    /// relabeling: the table's labels are sent as they are.
    series: RefMap<Option<Labels>>,
    /// Whether external labels or write relabeling may change labels.
    rewrites: bool,
    /// The WAL's series table, where refs resolve.
    table: Arc<SeriesTable>,
    external_labels: Labels,
    write_relabel_configs: Vec<RelabelConfig>,
    builder: LabelsBuilder,
    max_per_send: usize,
    /// Per shard, samples not yet handed over; one per shard of `shards`.
    buffers: Vec<Chunk>,
    /// Per shard, samples of the record being routed (reused).
    counts: Vec<u64>,
    shards: ShardSet,
    /// What every shard shares; new shards get it at a reshard.
    ctx: Arc<ShardContext>,
    chunks_per_shard: usize,
    /// `min_shards` and `max_shards`.
    shard_range: (usize, usize),
    /// The start of the window the next reshard decision measures.
    load_since: LoadMark,
    /// End of the last record read: where the next one starts.
    last_end: Position,
    /// When progress was last saved with fsync.
    synced_at: Instant,
    /// Progress was saved since then without fsync.
    unsynced: bool,
}

/// The watcher must stop handing samples over.
struct Stopped;

impl Watcher {
    fn run(mut self) {
        self.last_end = self.saved.start();
        while !self.stop.is_stopped() {
            if self.load_since.at.elapsed() >= RESHARD_INTERVAL && self.maybe_reshard().is_err() {
                break;
            }
            let step = if self.live {
                self.step_live()
            } else {
                self.step_wal()
            };
            match step {
                Ok(true) => {
                    if self.finished.try_recv().is_ok() {
                        self.persist();
                    }
                }
                Ok(false) => {
                    if self.flush_all().is_err() {
                        break;
                    }
                    self.persist();
                    if self.wait().is_err() {
                        break;
                    }
                }
                Err(Stopped) => break,
            }
        }
        self.shutdown();
    }

    /// Handles the next WAL record; `Ok(false)` when there is none yet.
    /// At the end of what is written the watcher goes live.
    fn step_wal(&mut self) -> Result<bool, Stopped> {
        match self.reader.next() {
            Ok(Some((record, end))) => self.process(record, end).map(|()| true),
            Ok(None) => {
                self.live = true;
                Ok(false)
            }
            Err(e) => {
                log::warn!(
                    queue = self.name.as_str(), err:% = e;
                    "Remote_write cannot read the WAL, retrying"
                );
                Ok(false)
            }
        }
    }

    /// Handles the next batch from memory; `Ok(false)` when there is none.
    fn step_live(&mut self) -> Result<bool, Stopped> {
        match self.feed.try_recv() {
            Some(batch) => self.fed(&batch).map(|()| true),
            None if self.feed.take_missed() => self.back_to_files().map(|()| true),
            None => Ok(false),
        }
    }

    /// Routes a batch from memory if it follows what was read; one already
    /// read from the files is skipped, and a gap (the feed was full, or the
    /// batch follows records never seen) sends the watcher back to the files.
    fn fed(&mut self, batch: &FedBatch) -> Result<(), Stopped> {
        if batch.end <= self.last_end {
            return Ok(());
        }
        if batch.prev_end != self.last_end {
            return self.back_to_files();
        }
        if let Some(series_end) = batch.series_end {
            self.advance(series_end);
            self.counts.fill(0);
            self.tracker.lock().add_record(series_end, &self.counts);
        }
        let start = self.advance(batch.end);
        self.stats
            .samples_from_memory
            .fetch_add(batch.samples.len() as u64, Ordering::Relaxed);
        self.route(&batch.samples, start, batch.end)
    }

    /// Reopens the WAL reader where the last record handled ended.
    fn back_to_files(&mut self) -> Result<(), Stopped> {
        self.stats.feed_gaps.fetch_add(1, Ordering::Relaxed);
        match WalReader::open_samples_only(&self.wal_dir, self.last_end) {
            Ok(reader) => {
                self.reader = reader;
                self.live = false;
            }
            Err(e) => log::warn!(
                queue = self.name.as_str(), err:% = e;
                "Remote_write cannot reopen the WAL"
            ),
        }
        Ok(())
    }

    /// Waits for new data, a shard's progress, stop or the tick; a batch
    /// from memory that arrives is handled at once.
    fn wait(&mut self) -> Result<(), Stopped> {
        if self.live {
            crossbeam_channel::select! {
                recv(self.feed.receiver()) -> batch => {
                    if let Ok(batch) = batch {
                        self.feed.taken(&batch);
                        return self.fed(&batch);
                    }
                }
                recv(self.finished) -> _ => self.persist(),
                recv(self.stop.channel()) -> _ => {}
                default(FALLBACK_TICK) => {}
            }
            return Ok(());
        }
        crossbeam_channel::select! {
            recv(self.notify) -> _ => {}
            recv(self.finished) -> _ => self.persist(),
            recv(self.stop.channel()) -> _ => {}
            default(FALLBACK_TICK) => {}
        }
        Ok(())
    }

    /// Moves `last_end` to `end` (pruning the series map at a segment
    /// change) and returns where the record ending at `end` started.
    fn advance(&mut self, end: Position) -> Position {
        if end.segment != self.last_end.segment {
            let table = &self.table;
            self.series.retain(|r, _| table.contains(*r));
        }
        std::mem::replace(&mut self.last_end, end)
    }

    fn process(&mut self, record: Record, end: Position) -> Result<(), Stopped> {
        let start = self.advance(end);
        match record {
            Record::Series(_) => {
                self.counts.fill(0);
                self.tracker.lock().add_record(end, &self.counts);
                Ok(())
            }
            Record::Samples(samples) => self.route(&samples, start, end),
        }
    }

    /// The labels to send for `series_ref`, worked out once per series
    /// from the WAL's series table: `None` if the table does not know the
    /// ref, `Some(None)` if write relabeling dropped the series.
    fn labels_for(
        &mut self,
        table: &RefMap<SeriesEntry>,
        series_ref: SeriesRef,
    ) -> Option<Option<Labels>> {
        if !self.rewrites {
            return table.get(&series_ref).map(|e| Some(e.labels.clone()));
        }
        if let Some(known) = self.series.get(&series_ref) {
            return Some(known.clone());
        }
        let labels = &table.get(&series_ref)?.labels;
        let out = self.send_labels(labels);
        self.series.insert(series_ref, out.clone());
        Some(out)
    }

    /// External labels where missing, then write relabeling; the input's
    /// own allocation if nothing changed.
    fn send_labels(&mut self, labels: &Labels) -> Option<Labels> {
        self.builder.reset(labels);
        for l in &self.external_labels {
            if self.builder.get(l.name).is_empty() {
                self.builder.set(l.name, l.value);
            }
        }
        if !crate::relabel::process_builder(&mut self.builder, &self.write_relabel_configs) {
            return None;
        }
        let out = self.builder.labels();
        Some(if out == *labels { labels.clone() } else { out })
    }

    fn route(
        &mut self,
        samples: &[RefSample],
        start: Position,
        end: Position,
    ) -> Result<(), Stopped> {
        let n = self.buffers.len();
        let filtering = start <= self.filter_end;
        self.counts.fill(0);
        let (mut unknown, mut dropped, mut highest) = (0, 0, i64::MIN);
        let table = self.table.clone();
        let table = table.read();
        for (i, s) in samples.iter().enumerate() {
            if filtering && self.saved.is_done(start, end, i, s.series_ref) {
                continue;
            }
            match self.labels_for(&table, s.series_ref) {
                None => unknown += 1,
                Some(None) => dropped += 1,
                Some(Some(labels)) => {
                    let k = shard_of(s.series_ref, n);
                    self.buffers[k].push(QueuedSample {
                        labels,
                        t: s.t,
                        v: s.v,
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                    });
                    self.counts[k] += 1;
                    highest = highest.max(s.t);
                }
            }
        }
        drop(table);
        let queued: u64 = self.counts.iter().sum();
        self.tracker.lock().add_record(end, &self.counts);
        self.stats.samples_in.fetch_add(queued, Ordering::Relaxed);
        self.stats
            .samples_pending
            .fetch_add(queued as i64, Ordering::Relaxed);
        store_max(&self.stats.highest_timestamp_in_ms, highest);
        if unknown > 0 {
            self.stats.add_dropped(DropReason::UnknownSeries, unknown);
            log::warn!(
                queue = self.name.as_str(), samples = unknown, segment = end.segment;
                "Remote_write samples of unknown series dropped"
            );
        }
        self.stats.add_dropped(DropReason::DroppedSeries, dropped);
        for k in 0..n {
            if self.buffers[k].len() >= self.max_per_send {
                self.hand_over(k)?;
            }
        }
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), Stopped> {
        for k in 0..self.buffers.len() {
            if !self.buffers[k].is_empty() {
                self.hand_over(k)?;
            }
        }
        Ok(())
    }

    /// Gives shard `k` its buffered samples, waiting while its channel is
    /// full (persisting progress meanwhile) until stop's deadline.
    fn hand_over(&mut self, k: usize) -> Result<(), Stopped> {
        let mut chunk =
            std::mem::replace(&mut self.buffers[k], Vec::with_capacity(self.max_per_send));
        loop {
            match self.shards.sender(k).send_timeout(chunk, HANDOVER_WAIT) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(c)) => {
                    chunk = c;
                    self.persist();
                    if self.stop.past_deadline() {
                        return Err(Stopped);
                    }
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    log::warn!(queue = self.name.as_str(), shard = k; "Remote_write shard exited early");
                    return Err(Stopped);
                }
            }
        }
    }

    /// Saves progress if it changed (fsynced if the last fsync is a second
    /// old, see [`super::progress`]) and tells retention what is needed.
    fn persist(&mut self) {
        self.save_progress(self.synced_at.elapsed() >= POSITION_SYNC_INTERVAL);
    }

    fn save_progress(&mut self, sync: bool) {
        let (snapshot, up_to, finished) = {
            let mut t = self.tracker.lock();
            if sync && self.unsynced {
                t.mark_dirty();
            }
            (t.snapshot(), t.read_up_to(), t.finished())
        };
        if let Some(snapshot) = snapshot {
            match snapshot.save(&self.pos_path, sync) {
                Ok(()) => {
                    self.stats
                        .positions_persisted
                        .fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .samples_durable
                        .store(finished, Ordering::Relaxed);
                    self.unsynced = !sync;
                    if sync {
                        self.synced_at = Instant::now();
                    }
                }
                Err(e) => {
                    log::warn!(queue = self.name.as_str(), err:% = e; "Remote_write cannot save progress");
                    self.tracker.lock().mark_dirty();
                }
            }
        }
        self.handle.set_read_up_to(up_to);
    }

    /// Hands over what is buffered, closes the shards' channels, waits for
    /// them (they stop by the deadline) and saves the final progress.
    fn shutdown(mut self) {
        if !self.stop.past_deadline() {
            let _ = self.flush_all();
        }
        std::mem::take(&mut self.shards).join(&self.name);
        self.save_progress(true);
    }

    /// Measures the last window's load and reshards if it calls for
    /// another shard count.
    fn maybe_reshard(&mut self) -> Result<(), Stopped> {
        let busy_ns = self.ctx.send_busy_ns.load(Ordering::Relaxed);
        let now = LoadMark::now(&self.stats, busy_ns);
        let was = std::mem::replace(&mut self.load_since, now);
        if now.troubled != was.troubled {
            // Retries or refusals: the time spent says nothing of the load.
            return Ok(());
        }
        let busy = Duration::from_nanos(busy_ns.saturating_sub(was.busy_ns));
        let elapsed = now.at.duration_since(was.at);
        let n = self.shards.len();
        let desired = desired_shards(busy, elapsed, n, self.shard_range);
        if desired == n {
            return Ok(());
        }
        self.reshard(desired)
    }

    /// Replaces the shards by `n` new ones once the old ones have sent
    /// everything handed to them, so per-shard progress carries over
    /// exactly: every old shard is then done through the same record.
    fn reshard(&mut self, n: usize) -> Result<(), Stopped> {
        let from = self.shards.len();
        self.flush_all()?;
        std::mem::take(&mut self.shards).join(&self.name);
        if self.stop.is_stopped() || !self.tracker.lock().reshape(n) {
            // Stopped while the old shards drained: what they did not
            // finish stays unacknowledged, and shutdown saves that.
            return Err(Stopped);
        }
        match ShardSet::spawn(n, self.chunks_per_shard, &self.ctx) {
            Ok(set) => self.shards = set,
            Err(e) => {
                log::warn!(queue = self.name.as_str(), err:% = e; "Remote_write cannot start shards, stopping the queue");
                return Err(Stopped);
            }
        }
        self.buffers = (0..n)
            .map(|_| Vec::with_capacity(self.max_per_send))
            .collect();
        self.counts = vec![0; n];
        self.stats.shards.store(n as u64, Ordering::Relaxed);
        log::info!(queue = self.name.as_str(), from = from, to = n; "Remote_write resharded");
        self.persist();
        Ok(())
    }
}

/// Where a reshard window starts: when, the shards' busy time so far, and
/// how many samples had been retried or refused.
#[derive(Debug, Clone, Copy)]
struct LoadMark {
    at: Instant,
    busy_ns: u64,
    troubled: u64,
}

impl LoadMark {
    fn now(stats: &QueueStats, busy_ns: u64) -> LoadMark {
        LoadMark {
            at: Instant::now(),
            busy_ns,
            troubled: stats.samples_retried.load(Ordering::Relaxed)
                + stats.samples_failed.load(Ordering::Relaxed),
        }
    }
}

/// The shard count for a window in which the shards spent `busy` sending
/// over `elapsed`, as Prometheus's `calculateDesiredShards` in spirit:
/// the shard-seconds needed per second, plus [`RESHARD_HEADROOM`], within
/// `range`; kept at `current` when within [`RESHARD_TOLERANCE`] of it.
/// Shards that cannot keep up are busy all the time, so the count grows
/// by the headroom each window until they can.
fn desired_shards(
    busy: Duration,
    elapsed: Duration,
    current: usize,
    range: (usize, usize),
) -> usize {
    let needed = busy.as_secs_f64() / elapsed.as_secs_f64().max(1e-3);
    let wanted = (needed * (1.0 + RESHARD_HEADROOM)).ceil() as usize;
    let desired = wanted.clamp(range.0, range.1);
    let cur = current as f64;
    let within = (desired as f64) >= cur * (1.0 - RESHARD_TOLERANCE)
        && (desired as f64) <= cur * (1.0 + RESHARD_TOLERANCE);
    if within && (range.0..=range.1).contains(&current) {
        current
    } else {
        desired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(busy_ms: u64, current: usize, range: (usize, usize), want: usize) {
        let got = desired_shards(
            Duration::from_millis(busy_ms),
            Duration::from_secs(10),
            current,
            range,
        );
        assert_eq!(got, want, "busy {busy_ms} ms in 10 s with {current} shards");
    }

    #[test]
    fn shards_follow_the_time_spent_sending() {
        check(0, 1, (1, 50), 1);
        check(500, 1, (1, 50), 1);
        check(9_000, 1, (1, 50), 2);
        // Saturated: grows by the headroom each window.
        check(20_000, 2, (1, 50), 3);
        check(30_000, 3, (1, 50), 4);
        // Idle shards go back to the minimum.
        check(100, 4, (1, 50), 1);
        check(100, 4, (2, 50), 2);
        // Within the tolerance: no reshard.
        check(14_000, 2, (1, 50), 2);
        check(20_000, 4, (1, 50), 4);
        // The range bounds it.
        check(900_000, 6, (1, 10), 10);
        check(0, 1, (3, 10), 3);
    }
}
