//! [`QueueManager`]: one remote_write queue, as Prometheus's
//! `QueueManager` plus its WAL watcher.
//!
//! # Threads and channels
//!
//! ```text
//! Wal ──subscribe()──► watcher thread "remote <name> watcher"
//!                        WalReader::next() → series map / samples
//!                        routes each sample by series ref
//!                        ──bounded(capacity / max_samples_per_send) chunks──►
//!                      shard threads "remote <name> shard <k>"  ──► WriteClient
//!                        finish(k, n) on AckTracker ──finished(cap 1)──► watcher
//!                      watcher persists <storage>/remote/<name>.pos, tells
//!                        retention via ReaderHandle::set_read_up_to
//! ```
//!
//! The watcher wakes on a WAL notification, a shard's progress, stop, or a
//! one-second tick. When a shard's channel is full the watcher waits (it
//! never drops): the WAL is the buffer, bounded by retention.
//!
//! # Where reading starts
//!
//! The saved progress ([`super::progress`]) names, per shard, how far the
//! receiver has acknowledged. The reader opens at the oldest of those
//! positions; the WAL reader then first yields the series defined earlier
//! in that segment (segments are self-contained), so every ref resolves.
//! Samples a shard had already finished are skipped, exactly. With no saved
//! file (a new queue) the whole retained WAL is sent: nothing the box holds
//! is left out, and retention bounds how much that is.
//!
//! # Shards
//!
//! A fixed number of shards: `4`, raised to `min_shards` and capped by
//! `max_shards`. Prometheus grows and shrinks shards with throughput; an
//! edge box sending a few thousand samples a second is served by a few
//! connections, and a fixed count keeps every series on one shard for the
//! life of the process, which the exact per-shard progress relies on.
//!
//! # Series labels
//!
//! External labels are added where a series lacks that label (the series'
//! own value wins, as Prometheus's `processExternalLabels`), then
//! `write_relabel_configs` apply; a series they drop is remembered so its
//! samples are counted as dropped. What is kept is the labels' protobuf
//! encoding ([`EncodedLabels`]), built once per series and shared by every
//! sample of it that goes out. The map is cleared at every segment
//! change, since each segment defines its series again before using them;
//! this bounds it to the series of one segment under churn.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};
use parking_lot::Mutex;

use super::codec::EncodedLabels;
use super::progress::{shard_of, AckTracker, ProgressError, SavedProgress};
use super::shards::{self, Chunk, QueuedSample, ShardContext, StopSignal};
use super::stats::{store_max, DropReason, QueueStats};
use super::write_client::WriteClient;
use crate::config::RemoteWriteConfig;
use crate::http_client::HttpClientError;
use crate::labels::{Labels, LabelsBuilder};
use crate::relabel::RelabelConfig;
use crate::storage::wal::codec::RefMap;
use crate::storage::wal::{Position, ReaderHandle, Record, RefSample, Wal, WalError, WalReader};

/// Shards used unless `min_shards`/`max_shards` say otherwise.
const DEFAULT_SHARDS: usize = 4;
/// How often the watcher looks at the WAL without a notification.
const FALLBACK_TICK: Duration = Duration::from_secs(1);
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
        let n = DEFAULT_SHARDS.min(qc.max_shards).max(qc.min_shards).max(1);
        let tracker = Arc::new(Mutex::new(AckTracker::new(n, &saved)));
        let handle = wal.register_reader(&name);
        handle.set_read_up_to(tracker.lock().read_up_to());
        let reader =
            WalReader::open(wal.dir(), saved.start()).map_err(|error| QueueError::Wal {
                queue: name.clone(),
                error,
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
        });
        let chunks_per_shard = (qc.capacity / max_per_send).max(1);
        let mut shard_tx = Vec::with_capacity(n);
        let mut shard_threads = Vec::with_capacity(n);
        for k in 0..n {
            let (tx, rx) = crossbeam_channel::bounded(chunks_per_shard);
            shard_tx.push(tx);
            match shards::spawn(k, rx, ctx.clone()) {
                Ok(t) => shard_threads.push(t),
                Err(e) => {
                    stop.stop(Instant::now());
                    drop(shard_tx);
                    for t in shard_threads {
                        let _ = t.join();
                    }
                    return Err(io_err("spawn shard thread", e));
                }
            }
        }
        let watcher = Watcher {
            name: name.clone(),
            pos_path,
            reader,
            handle,
            notify: wal.subscribe(),
            finished: finished_rx,
            stop: stop.clone(),
            tracker,
            stats: stats.clone(),
            filter_end: saved.filter_end(),
            saved,
            series: RefMap::default(),
            external_labels: external_labels.clone(),
            write_relabel_configs: cfg.write_relabel_configs.clone(),
            builder: LabelsBuilder::default(),
            max_per_send,
            buffers: vec![Vec::with_capacity(max_per_send); n],
            counts: vec![0; n],
            shard_tx,
            shard_threads,
            last_end: Position::default(),
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
            "remote_write queue started queue={name} url={} shards={n}",
            cfg.url
        );
        Ok(QueueManager {
            name,
            stats,
            stop,
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
        self.stop.stop(Instant::now() + timeout);
        if watcher.join().is_err() {
            log::warn!("remote_write watcher panicked queue={}", self.name);
        }
        log::info!("remote_write queue stopped queue={}", self.name);
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
    finished: Receiver<()>,
    stop: Arc<StopSignal>,
    tracker: Arc<Mutex<AckTracker>>,
    stats: Arc<QueueStats>,
    /// Progress saved by the previous run: samples it finished are skipped.
    saved: SavedProgress,
    /// Records starting after this need no filtering.
    filter_end: Position,
    /// Series of the current segment: labels to send, or None if write
    /// relabeling dropped the series.
    series: RefMap<Option<EncodedLabels>>,
    external_labels: Labels,
    write_relabel_configs: Vec<RelabelConfig>,
    builder: LabelsBuilder,
    max_per_send: usize,
    /// Per shard, samples not yet handed over.
    buffers: Vec<Chunk>,
    /// Per shard, samples of the record being routed (reused).
    counts: Vec<u64>,
    shard_tx: Vec<Sender<Chunk>>,
    shard_threads: Vec<JoinHandle<()>>,
    /// End of the last record read: where the next one starts.
    last_end: Position,
}

/// The watcher must stop handing samples over.
struct Stopped;

impl Watcher {
    fn run(mut self) {
        self.last_end = self.saved.start();
        while !self.stop.is_stopped() {
            match self.reader.next() {
                Ok(Some((record, end))) => {
                    if self.process(record, end).is_err() {
                        break;
                    }
                    if self.finished.try_recv().is_ok() {
                        self.persist();
                    }
                }
                Ok(None) => {
                    if self.flush_all().is_err() {
                        break;
                    }
                    self.persist();
                    self.wait();
                }
                Err(e) => {
                    log::warn!(
                        "remote_write cannot read the WAL, retrying queue={} err=\"{e}\"",
                        self.name
                    );
                    if self.flush_all().is_err() {
                        break;
                    }
                    self.persist();
                    self.wait();
                }
            }
        }
        self.shutdown();
    }

    /// Waits for new WAL data, a shard's progress, stop or the tick.
    fn wait(&mut self) {
        crossbeam_channel::select! {
            recv(self.notify) -> _ => {}
            recv(self.finished) -> _ => self.persist(),
            recv(self.stop.channel()) -> _ => {}
            default(FALLBACK_TICK) => {}
        }
    }

    fn process(&mut self, record: Record, end: Position) -> Result<(), Stopped> {
        if end.segment != self.last_end.segment {
            // Each segment defines its series again before using them.
            self.series.clear();
        }
        let start = self.last_end;
        self.last_end = end;
        match record {
            Record::Series(series) => {
                for (series_ref, labels) in series {
                    let out = self.send_labels(&labels);
                    self.series.insert(series_ref, out);
                }
                self.counts.fill(0);
                self.tracker.lock().add_record(end, &self.counts);
                Ok(())
            }
            Record::Samples(samples) => self.route(&samples, start, end),
        }
    }

    /// External labels where missing, then write relabeling.
    fn send_labels(&mut self, labels: &Labels) -> Option<EncodedLabels> {
        self.builder.reset(labels);
        for l in &self.external_labels {
            if self.builder.get(l.name).is_empty() {
                self.builder.set(l.name, l.value);
            }
        }
        crate::relabel::process_builder(&mut self.builder, &self.write_relabel_configs)
            .then(|| EncodedLabels::new(&self.builder.labels()))
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
        for (i, s) in samples.iter().enumerate() {
            if filtering && self.saved.is_done(start, end, i, s.series_ref) {
                continue;
            }
            match self.series.get(&s.series_ref) {
                None => unknown += 1,
                Some(None) => dropped += 1,
                Some(Some(labels)) => {
                    let k = shard_of(s.series_ref, n);
                    self.buffers[k].push(QueuedSample {
                        labels: labels.clone(),
                        t: s.t,
                        v: s.v,
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                    });
                    self.counts[k] += 1;
                    highest = highest.max(s.t);
                }
            }
        }
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
                "remote_write samples of unknown series dropped queue={} samples={unknown} segment={}",
                self.name,
                end.segment
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
            match self.shard_tx[k].send_timeout(chunk, HANDOVER_WAIT) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(c)) => {
                    chunk = c;
                    self.persist();
                    if self.stop.past_deadline() {
                        return Err(Stopped);
                    }
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    log::warn!(
                        "remote_write shard exited early queue={} shard={k}",
                        self.name
                    );
                    return Err(Stopped);
                }
            }
        }
    }

    /// Saves progress if it changed and tells retention what is needed.
    fn persist(&mut self) {
        let (snapshot, up_to, finished) = {
            let mut t = self.tracker.lock();
            (t.snapshot(), t.read_up_to(), t.finished())
        };
        if let Some(snapshot) = snapshot {
            match snapshot.save(&self.pos_path) {
                Ok(()) => {
                    self.stats
                        .positions_persisted
                        .fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .samples_durable
                        .store(finished, Ordering::Relaxed);
                }
                Err(e) => {
                    log::warn!(
                        "remote_write cannot save progress queue={} err=\"{e}\"",
                        self.name
                    );
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
        self.shard_tx.clear();
        for t in std::mem::take(&mut self.shard_threads) {
            if t.join().is_err() {
                log::warn!("remote_write shard panicked queue={}", self.name);
            }
        }
        self.persist();
    }
}
