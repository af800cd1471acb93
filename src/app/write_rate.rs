//! The WAL's recent write rate for `/status`: a thread reads the storage's
//! bytes-written counter every few seconds and keeps the last minute of
//! readings, so "time until the size bound drops data" follows what the
//! box writes now rather than the average since start.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use edgescrape::storage::stats::StorageStats;
use parking_lot::Mutex;

/// How often the counter is read.
const EVERY: Duration = Duration::from_secs(5);
/// How far back the rate looks.
const WINDOW: Duration = Duration::from_secs(60);

type Readings = Arc<Mutex<VecDeque<(Instant, u64)>>>;

/// Samples the WAL's bytes-written counter until stopped.
pub struct WriteRate {
    stats: Arc<StorageStats>,
    readings: Readings,
    stop: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl WriteRate {
    /// Starts sampling `stats.wal_bytes_written_total`.
    pub fn start(stats: Arc<StorageStats>) -> std::io::Result<WriteRate> {
        let readings: Readings = Arc::default();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let thread = {
            let (stats, readings) = (stats.clone(), readings.clone());
            std::thread::Builder::new()
                .name("wal-write-rate".to_string())
                .spawn(move || sample(&stats, &readings, &rx))?
        };
        Ok(WriteRate {
            stats,
            readings,
            stop: Mutex::new(Some((tx, thread))),
        })
    }

    /// Bytes per second over the last minute (less just after start);
    /// `None` before two readings a second apart exist.
    pub fn bytes_per_second(&self) -> Option<f64> {
        let now = (Instant::now(), read(&self.stats.wal_bytes_written_total));
        let first = *self.readings.lock().front()?;
        let secs = now.0.duration_since(first.0).as_secs_f64();
        (secs >= 1.0).then(|| now.1.saturating_sub(first.1) as f64 / secs)
    }

    /// Stops and joins the sampling thread.
    pub fn stop(&self) {
        if let Some((tx, thread)) = self.stop.lock().take() {
            drop(tx);
            let _ = thread.join();
        }
    }
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn sample(stats: &StorageStats, readings: &Readings, stop: &Receiver<()>) {
    loop {
        let now = Instant::now();
        {
            let mut r = readings.lock();
            r.push_back((now, read(&stats.wal_bytes_written_total)));
            while r
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
            {
                r.pop_front();
            }
        }
        match stop.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
