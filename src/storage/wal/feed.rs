//! Committed samples handed to readers straight from memory.
//!
//! A remote_write queue that has read the WAL to its end does not need to
//! read it again: each commit's samples record, already decoded, reaches it
//! through a [`SampleFeed`] once the commit is durable. Each batch names
//! where it lies in the WAL and where the batch before it ended, so a
//! reader can check it missed nothing; when a feed is full (the reader
//! fell behind) batches are left out of it, and the reader, finding the
//! gap, goes back to reading the files until it catches up again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::{Position, RefSample};

/// The samples record of one commit, as written to the WAL.
#[derive(Debug)]
pub struct FedBatch {
    /// Where the frame before this batch ended (the previous batch's `end`,
    /// possibly in an earlier segment).
    pub prev_end: Position,
    /// End of the batch's series record, if it defined new series.
    pub series_end: Option<Position>,
    /// End of the batch's samples record.
    pub end: Position,
    /// The samples, in record order.
    pub samples: Vec<RefSample>,
}

/// The receiving end of a feed; see the module doc.
#[derive(Debug)]
pub struct SampleFeed {
    rx: Receiver<Arc<FedBatch>>,
    queued: Arc<AtomicUsize>,
    missed: Arc<AtomicBool>,
}

impl SampleFeed {
    /// The channel, for `select!`; call [`SampleFeed::taken`] for every
    /// batch received from it.
    pub fn receiver(&self) -> &Receiver<Arc<FedBatch>> {
        &self.rx
    }

    /// Frees the room `batch` took in the feed.
    pub fn taken(&self, batch: &FedBatch) {
        self.queued
            .fetch_sub(batch.samples.len(), Ordering::Relaxed);
    }

    /// Whether a batch was left out since the last call: the reader must
    /// read the files from where it stands.
    pub fn take_missed(&self) -> bool {
        self.missed.swap(false, Ordering::Relaxed)
    }

    /// The next batch, if one is waiting.
    pub fn try_recv(&self) -> Option<Arc<FedBatch>> {
        let batch = self.rx.try_recv().ok()?;
        self.taken(&batch);
        Some(batch)
    }
}

/// The sending end, kept by the WAL.
#[derive(Debug)]
pub(crate) struct FeedSender {
    tx: Sender<Arc<FedBatch>>,
    queued: Arc<AtomicUsize>,
    missed: Arc<AtomicBool>,
    max_samples: usize,
}

/// A new feed holding at most `max_samples` samples at a time.
///
/// Unbounded as a channel: `max_samples` bounds it, counted in samples
/// because batches range from one sample to a whole large target.
pub(crate) fn feed(max_samples: usize) -> (FeedSender, SampleFeed) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let queued = Arc::new(AtomicUsize::new(0));
    let missed = Arc::new(AtomicBool::new(false));
    let sender = FeedSender {
        tx,
        queued: queued.clone(),
        missed: missed.clone(),
        max_samples: max_samples.max(1),
    };
    let receiver = SampleFeed { rx, queued, missed };
    (sender, receiver)
}

impl FeedSender {
    /// Offers `batch`; leaves it out if the feed is full. False once the
    /// receiver is gone.
    pub(crate) fn offer(&self, batch: &Arc<FedBatch>) -> bool {
        if Arc::strong_count(&self.queued) == 1 {
            return false;
        }
        let n = batch.samples.len();
        if self.queued.load(Ordering::Relaxed) + n > self.max_samples {
            self.missed.store(true, Ordering::Relaxed);
            return true;
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        // The channel is unbounded, so sending fails only once the
        // receiver is gone.
        self.tx.send(batch.clone()).is_ok()
    }
}
