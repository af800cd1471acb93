//! Sender threads of a queue, as Prometheus's `shards`: each owns the
//! series routed to it (so each series' samples go out in order), batches
//! up to `max_samples_per_send` or `batch_send_deadline`, and retries a
//! batch with exponential backoff until it is accepted or refused for good.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::codec::WriteRequestEncoder;
use super::progress::AckTracker;
use super::stats::{store_max, DropReason, QueueStats};
use super::write_client::{StoreError, WriteClient};
use crate::labels::Labels;

/// One sample on its way to a shard.
#[derive(Debug, Clone)]
pub(crate) struct QueuedSample {
    /// Labels after external labels and write relabeling: the WAL series
    /// table's own allocation when neither changes them.
    pub labels: Labels,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
    /// Index of the sample in its WAL record, for partial progress.
    pub index: u32,
}

/// What the watcher hands a shard at a time.
pub(crate) type Chunk = Vec<QueuedSample>;

/// Tells the threads of a queue to stop, and by when they must be done.
///
/// Closing `tx` wakes every `select!` on `rx`; the deadline is set first.
#[derive(Debug)]
pub(crate) struct StopSignal {
    tx: Mutex<Option<Sender<()>>>,
    rx: Receiver<()>,
    deadline: Mutex<Option<Instant>>,
}

impl StopSignal {
    pub(crate) fn new() -> StopSignal {
        let (tx, rx) = crossbeam_channel::bounded(0);
        StopSignal {
            tx: Mutex::new(Some(tx)),
            rx,
            deadline: Mutex::new(None),
        }
    }

    /// Asks everyone to stop; work may go on until `deadline`.
    pub(crate) fn stop(&self, deadline: Instant) {
        *self.deadline.lock() = Some(deadline);
        self.tx.lock().take();
    }

    /// The shutdown deadline, once stop was asked.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock()
    }

    /// Whether stop was asked.
    pub(crate) fn is_stopped(&self) -> bool {
        self.deadline().is_some()
    }

    /// Whether stop was asked and its deadline has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Becomes ready (disconnected) when stop is asked.
    pub(crate) fn channel(&self) -> &Receiver<()> {
        &self.rx
    }

    /// Waits `d`, cut short by the shutdown deadline. Returns false if the
    /// deadline has passed.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        if !self.is_stopped() {
            crossbeam_channel::select! {
                recv(self.rx) -> _ => {}
                default(d) => return true,
            }
        }
        if let Some(deadline) = self.deadline() {
            let until = end.min(deadline);
            thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        !self.past_deadline()
    }
}

/// What every shard of a queue shares.
#[derive(Debug)]
pub(crate) struct ShardContext {
    /// Queue name, for logs.
    pub queue: String,
    pub client: WriteClient,
    pub stats: Arc<QueueStats>,
    pub tracker: Arc<Mutex<AckTracker>>,
    /// Wakes the watcher to persist progress (capacity 1, coalesced).
    pub finished: Sender<()>,
    pub stop: Arc<StopSignal>,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Zero: never drop for age.
    pub sample_age_limit: Duration,
    /// Time spent in accepted sends (encoding and the HTTP request), in
    /// nanoseconds summed over shards; resharding reads it.
    pub send_busy_ns: AtomicU64,
}

/// One shard thread's state.
struct Shard {
    id: usize,
    ctx: Arc<ShardContext>,
    encoder: WriteRequestEncoder,
    batch: Vec<QueuedSample>,
}

/// The shard threads of one layout and their channels; shard `k` gets
/// the series [`super::progress::shard_of`] routes to `k` among
/// [`ShardSet::len`].
#[derive(Debug, Default)]
pub(crate) struct ShardSet {
    tx: Vec<Sender<Chunk>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl ShardSet {
    /// Starts `n` shard threads, each with a channel of `chunks` chunks.
    /// If one cannot start, those started are stopped (they hold nothing).
    pub(crate) fn spawn(
        n: usize,
        chunks: usize,
        ctx: &Arc<ShardContext>,
    ) -> std::io::Result<ShardSet> {
        let mut set = ShardSet::default();
        for id in 0..n {
            let (tx, rx) = crossbeam_channel::bounded(chunks);
            match spawn(id, rx, ctx.clone()) {
                Ok(t) => {
                    set.tx.push(tx);
                    set.threads.push(t);
                }
                Err(e) => {
                    set.join(&ctx.queue);
                    return Err(e);
                }
            }
        }
        Ok(set)
    }

    /// Number of shards.
    pub(crate) fn len(&self) -> usize {
        self.tx.len()
    }

    /// Shard `k`'s channel.
    pub(crate) fn sender(&self, k: usize) -> &Sender<Chunk> {
        &self.tx[k]
    }

    /// Closes the channels and waits for every shard to send what it holds
    /// (each stops early only when the shutdown deadline passes).
    pub(crate) fn join(self, queue: &str) {
        drop(self.tx);
        for t in self.threads {
            if t.join().is_err() {
                log::warn!(queue = queue; "Remote_write shard panicked");
            }
        }
    }
}

/// Starts shard `id`'s thread, which runs until `rx` is disconnected and
/// drained, or the shutdown deadline passes.
fn spawn(
    id: usize,
    rx: Receiver<Chunk>,
    ctx: Arc<ShardContext>,
) -> std::io::Result<thread::JoinHandle<()>> {
    let name = format!("remote {} shard {id}", ctx.queue);
    thread::Builder::new().name(name).spawn(move || {
        let batch = Vec::with_capacity(ctx.max_samples_per_send);
        Shard {
            id,
            ctx,
            encoder: WriteRequestEncoder::new(),
            batch,
        }
        .run(rx)
    })
}

impl Shard {
    fn run(mut self, rx: Receiver<Chunk>) {
        let mut batch_started: Option<Instant> = None;
        loop {
            let received = match batch_started {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t0) => rx.recv_deadline(t0 + self.ctx.batch_send_deadline),
            };
            match received {
                Ok(chunk) => {
                    for sample in chunk {
                        self.batch.push(sample);
                        batch_started.get_or_insert_with(Instant::now);
                        if self.batch.len() >= self.ctx.max_samples_per_send {
                            if !self.send_batch() {
                                return;
                            }
                            batch_started = None;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if !self.send_batch() {
                        return;
                    }
                    batch_started = None;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if !self.batch.is_empty() {
                        self.send_batch();
                    }
                    return;
                }
            }
        }
    }

    /// Sends the batch until it is done with; false if the shutdown
    /// deadline passed first (the batch stays unacknowledged, so it is sent
    /// again after a restart).
    fn send_batch(&mut self) -> bool {
        let ctx = self.ctx.clone();
        let total = self.batch.len() as u64;
        let mut backoff = ctx.min_backoff;
        let mut attempt = 0u32;
        loop {
            let limit_ms = if ctx.sample_age_limit.is_zero() {
                i64::MIN
            } else {
                unix_millis().saturating_sub(ctx.sample_age_limit.as_millis() as i64)
            };
            let kept = self.batch.iter().filter(|s| s.t >= limit_ms).count() as u64;
            let too_old = total - kept;
            if kept == 0 {
                ctx.stats.add_dropped(DropReason::TooOld, too_old);
                self.finish();
                return true;
            }
            let timeout = match ctx.stop.deadline() {
                None => ctx.client.timeout(),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    left.min(ctx.client.timeout())
                }
            };
            let started = Instant::now();
            let body = self.encoder.encode(
                self.batch
                    .iter()
                    .filter(|s| s.t >= limit_ms)
                    .map(|s| (&s.labels, s.t, s.v)),
            );
            let result = match body {
                Ok(body) => ctx
                    .client
                    .store(body, attempt, timeout)
                    .map(|()| body.len()),
                Err(e) => Err(StoreError::NonRecoverable {
                    status: None,
                    message: e.to_string(),
                }),
            };
            match result {
                Ok(bytes) => {
                    let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    ctx.send_busy_ns.fetch_add(busy, Ordering::Relaxed);
                    let highest = self.batch.iter().map(|s| s.t).max().unwrap_or(i64::MIN);
                    ctx.stats.samples_sent.fetch_add(kept, Ordering::Relaxed);
                    ctx.stats
                        .bytes_sent
                        .fetch_add(bytes as u64, Ordering::Relaxed);
                    store_max(&ctx.stats.highest_sent_timestamp_ms, highest);
                    ctx.stats.record_success();
                    ctx.stats.add_dropped(DropReason::TooOld, too_old);
                    self.finish();
                    return true;
                }
                Err(StoreError::NonRecoverable { status, message }) => {
                    log::warn!(
                        queue:% = ctx.queue,
                        url:% = ctx.client.url(),
                        samples = kept,
                        status:% = status.map_or("none".to_string(), |s| s.to_string()),
                        err:% = message;
                        "Remote_write batch refused, dropping it"
                    );
                    ctx.stats.record_error(&message, false, unix_millis());
                    ctx.stats.samples_failed.fetch_add(kept, Ordering::Relaxed);
                    ctx.stats.add_dropped(DropReason::TooOld, too_old);
                    self.finish();
                    return true;
                }
                Err(StoreError::Recoverable {
                    message,
                    retry_after,
                }) => {
                    ctx.stats.samples_retried.fetch_add(kept, Ordering::Relaxed);
                    ctx.stats.record_error(&message, true, unix_millis());
                    let sleep = retry_after.unwrap_or(backoff);
                    log::warn!(
                        queue:% = ctx.queue,
                        url:% = ctx.client.url(),
                        samples = kept,
                        attempt = attempt,
                        backoff:? = sleep,
                        err:% = message;
                        "Remote_write send failed, retrying"
                    );
                    if !ctx.stop.sleep(sleep) {
                        return false;
                    }
                    // As Prometheus: the next wait doubles the one just
                    // taken (a Retry-After included), up to max_backoff.
                    backoff = sleep.saturating_mul(2).min(ctx.max_backoff);
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    /// Marks the whole batch done and wakes the watcher to persist.
    fn finish(&mut self) {
        let n = self.batch.len() as u64;
        if let Some(last) = self.batch.last() {
            self.ctx.tracker.lock().finish(self.id, n, last.index);
        }
        self.ctx
            .stats
            .samples_pending
            .fetch_sub(n as i64, Ordering::Relaxed);
        let _ = self.ctx.finished.try_send(());
        self.batch.clear();
    }
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
