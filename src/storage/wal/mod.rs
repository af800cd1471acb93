//! The write-ahead log: every committed sample, durable on local disk,
//! replayed on start and tailed by remote_write queues — Prometheus's
//! `tsdb/wlog` and `tsdb/record` for an edge box.
//!
//! # Layout
//!
//! `<storage.path>/wal/` holds segment files named by an 8-digit sequence
//! number (`00000000`, `00000001`, ...) and at most one checkpoint file
//! `checkpoint.NNNNNNNN`; numbers above 4294967295 (`u32::MAX`, 136
//! years at one segment a second) are refused with an error naming the
//! file, so the series table keeps segment numbers in 4 bytes. Segments
//! are small (4 MiB by default, see
//! [`WalOptions::segment_size`]) and written with plain `write(2)`: no mmap,
//! so a 32-bit box never maps more than it reads. A segment is closed once
//! it has reached the segment size (it may pass it by one batch); a new one
//! is started at every open, so a restart never appends to a file an
//! earlier process wrote.
//!
//! A segment is a sequence of frames `kind:u8 len:u32le crc32c:u32le
//! payload`, the CRC32C covering kind, length and payload. A commit writes
//! one batch — a series record for series the WAL does not hold yet, then
//! one samples record — with a single `write` call. Rolled back appends are
//! never encoded at all.
//!
//! # Series are written once
//!
//! A series record is written when a series first appears, not once per
//! segment; after that its samples name it by ref. The [`SeriesTable`]
//! remembers every series a retained segment refers to (labels, the segment
//! that defines it, the newest segment holding a sample of it), and the
//! checkpoint written before old segments are deleted carries the series
//! still referred to, as Prometheus's `tsdb/wlog` checkpoint. Replay and
//! readers rebuild the table from the checkpoint and the segments' series
//! records; remote_write queues resolve refs in the live table and never
//! decode a label set.
//!
//! An earlier design made every segment self-contained (each repeated the
//! series record of every series before its first sample there). That cost
//! almost nothing for a few hundred series in a 4 MiB segment, but at tens
//! of thousands of series the repeated records filled segments on their
//! own: the WAL rolled every second, wrote ~80 bytes per sample, a small
//! retention bound kept seconds instead of minutes, and every reader
//! re-decoded every label set once a segment. Segments now depend on what
//! came before them, so damage is handled by ref: a sample whose series
//! record was lost is counted
//! ([`StorageStats::wal_unknown_series_samples_total`] on replay, the
//! queues' `unknown_series` drops) and skipped, never attached to other
//! labels — refs are never reused, since the checkpoint keeps the next free
//! ref and replay raises it past every ref it reads, defined or not.
//!
//! # Sample encoding (chosen and measured: see `benches/storage.rs`)
//!
//! A samples record holds one scrape: a count, the first sample's timestamp,
//! then per sample one control byte (ref = previous ref + 1? timestamp
//! differs from the first? how the value is stored), an optional zigzag
//! varint ref delta, an optional zigzag varint timestamp delta, and the
//! value as the significant bytes of its XOR with the same series' previous
//! value *in the same segment* (the control byte names how many leading
//! zero bytes were dropped and how many bytes follow). A series' first
//! sample in a segment carries its 8 raw bytes, so the value state is the
//! only thing a reader resuming at a saved [`Position`] rebuilds, by
//! re-reading the start of that one segment. On a node_exporter steady
//! state a scrape's samples share one timestamp and consecutive refs, so an
//! unchanged value costs 1 byte and a changed counter 2–7; values, NaNs and
//! the stale marker `0x7ff0000000000002` survive bit for bit. Measured on
//! nine real node_exporter 1.5.0 scrapes 15 s apart (507 samples each, 28%
//! changing): 2.2 bytes per sample (`cargo bench --bench storage`).
//!
//! # Durability: what a crash can lose
//!
//! - [`FsyncPolicy::EveryCommit`] (the default): `commit()` returns only
//!   after the batch was written and `fdatasync`ed. A crash of the process
//!   or of the machine loses no committed sample; the batch being written at
//!   the moment of the crash is either whole on disk or cut off at replay as
//!   a torn tail (the commit that wrote it had not returned). Concurrent
//!   commits share one write and one fsync (group commit, see `wal/commit.rs`),
//!   so fsyncs per second follow the disk's latency, not the number of
//!   scrape loops.
//! - [`FsyncPolicy::Interval`]: `commit()` returns after `write`, and a
//!   background thread `fdatasync`s every interval. A crash of the process
//!   alone (kill -9, OOM, panic) loses nothing: the data is in the kernel's
//!   page cache. A power loss or kernel crash loses at most the commits of
//!   the last interval (plus whatever the disk's own cache drops if it lies
//!   about flushes); the replay cuts the tail at the last whole record.
//! - Under both, a segment is fsynced when it is closed and the directory
//!   when a file is created, renamed or deleted.
//! - A failed write (disk full, I/O error) fails the commit with the path
//!   and OS error, is cut back off the segment, and nothing of it reaches
//!   the head. A failed fsync fails the commit too (the batch was written,
//!   so a reader may still see it and a replay may still find it) and the
//!   next commit starts a new segment, since the kernel may have dropped the
//!   unsynced pages (the series defined in the abandoned segment are
//!   defined again there). Either failure fails every commit of the group
//!   and those queued behind it.
//!
//! # Replay and damage
//!
//! On open the checkpoint and every segment are read in order and each
//! record handed to the caller (the head). A torn or corrupt record (bad
//! CRC, short frame, undecodable payload) in the *last* segment cuts that
//! segment there (`ftruncate`); in an older segment the rest of that segment
//! is skipped and left on disk. Either way the damage is counted in
//! [`StorageStats::wal_corrupt_records_total`] and
//! [`StorageStats::wal_truncated_bytes_total`], logged at warn, and start-up
//! goes on.
//!
//! # Retention
//!
//! Closed segments are deleted oldest first when
//! - every registered reader ([`Wal::register_reader`]) has read past them
//!   and their samples are older than the head window (so a restart still
//!   rebuilds the head), or
//! - the size bound ([`WalOptions::retention_size`], checked before each
//!   write) or the time bound ([`WalOptions::retention_time`]) forces it.
//!   Segments a reader had not finished are then counted in
//!   `retention_segments_dropped_unread_total` and their unread samples in
//!   `retention_samples_dropped_unread_total`, and logged at warn.
//!
//! With a size bound the segment size is lowered to an eighth of the bound
//! (at least 16 KiB) so deletion frees space in small steps; disk use
//! between commits stays under the bound as long as a batch is smaller than
//! an eighth of it.
//!
//! Before deleting, a checkpoint is written (to a temporary file, fsynced,
//! renamed), as Prometheus's `checkpoint.go`: the series records of every
//! series with a sample in the segments that remain, and the next free
//! series ref, so refs are never reused after a restart and every sample
//! left on disk resolves. Series referred to only by the deleted segments
//! leave the table; if one comes back, its series record is written again.

pub(crate) mod codec;
mod commit;
mod feed;
mod reader;
mod retention;
mod select;
mod series;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Condvar, Mutex};

use crate::labels::Labels;
use crate::storage::stats::StorageStats;
use crate::storage::SeriesRef;

use codec::{SamplesRecord, SegmentEncoder};
pub use feed::{FedBatch, SampleFeed};
pub use select::RangeSeries;
pub(crate) use series::SeriesEntry;
pub use series::SeriesTable;

pub use reader::WalReader;

/// A place in the WAL: a segment's sequence number and a byte offset in it.
///
/// Positions order as the records they point after; `Position::default()`
/// is the very start (before any segment).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Position {
    /// Sequence number of the segment.
    pub segment: u64,
    /// Byte offset inside the segment.
    pub offset: u64,
}

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Series definitions: ref and labels. A ref always keeps its labels.
    Series(Vec<(SeriesRef, Labels)>),
    /// Samples of series defined earlier (in the same segment or the checkpoint).
    Samples(Vec<RefSample>),
}

/// One sample of a series known by ref.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// The series, as defined by a [`Record::Series`].
    pub series_ref: SeriesRef,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value, bit-exact (stale markers included).
    pub v: f64,
}

/// When the WAL calls `fdatasync`; see the module doc for what a crash loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Sync before each commit returns (the default).
    #[default]
    EveryCommit,
    /// Sync from a background thread at this interval.
    Interval(Duration),
}

/// Settings of a [`Wal`].
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Size at which a segment is closed (4 MiB by default).
    pub segment_size: u64,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// Bound on the bytes of segments plus checkpoint; 0 for none.
    pub retention_size: u64,
    /// Segments whose newest sample timestamp is older than this, by the
    /// wall clock, are deleted.
    pub retention_time: Option<Duration>,
    /// Segments holding samples this close to the newest sample are kept
    /// (unless a bound forces), so a restart rebuilds the head window.
    /// [`crate::storage::fanout::Storage::open`] sets it to the head window.
    pub keep_window: Duration,
    /// How often the background thread applies retention.
    pub retention_check_interval: Duration,
    /// Under [`FsyncPolicy::EveryCommit`], how long a group-commit leader
    /// waits for more commits to join its write and fsync (zero: none).
    /// Each commit may take this much longer; in exchange fsyncs per second
    /// stay at most one per window, and each rewrites a partial page less
    /// often (see the module doc of `wal/commit.rs`). The window at open;
    /// [`Wal::set_commit_window`] changes it.
    pub commit_window: Duration,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            segment_size: 4 << 20,
            fsync: FsyncPolicy::EveryCommit,
            retention_size: 0,
            retention_time: None,
            keep_window: Duration::from_secs(5 * 60),
            retention_check_interval: Duration::from_secs(10),
            commit_window: Duration::ZERO,
        }
    }
}

impl WalOptions {
    /// The segment size in force: the configured one, lowered under a size
    /// bound to an eighth of the bound (at least 16 KiB).
    pub fn effective_segment_size(&self) -> u64 {
        let size = self.segment_size.max(1);
        if self.retention_size == 0 {
            return size;
        }
        size.min((self.retention_size / 8).max(16 << 10))
    }
}

/// A WAL operation that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum WalError {
    /// A filesystem call failed.
    Io {
        /// What was being done (`write`, `fsync`, `create`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl WalError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> WalError {
        WalError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io { op, path, source } => {
                write!(f, "wal {op} {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for WalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalError::Io { source, .. } => Some(source),
        }
    }
}

/// What the WAL knows about one segment on disk.
#[derive(Debug, Clone)]
pub(crate) struct SegmentInfo {
    pub(crate) seq: u64,
    /// Bytes of whole records (the writer's view; replay's good length).
    pub(crate) size: u64,
    pub(crate) samples: u64,
    /// Oldest sample timestamp, `i64::MAX` if none.
    pub(crate) min_t: i64,
    /// Newest sample timestamp, `i64::MIN` if none.
    pub(crate) max_t: i64,
}

/// The largest segment (and checkpoint) number: the series table keeps
/// segment numbers in 4 bytes. At one segment a second that is 136 years.
pub(crate) const MAX_SEGMENT: u64 = u32::MAX as u64;

/// The error for a segment or checkpoint number past [`MAX_SEGMENT`].
fn past_max_segment(op: &'static str, path: &Path) -> WalError {
    let msg = format!("segment number above {MAX_SEGMENT}");
    WalError::io(op, path, io::Error::new(io::ErrorKind::InvalidData, msg))
}

/// The file name of segment `seq`.
pub(crate) fn segment_name(seq: u64) -> String {
    format!("{seq:08}")
}

/// The file name of the checkpoint taken after deleting segments up to `seq`.
pub(crate) fn checkpoint_name(seq: u64) -> String {
    format!("checkpoint.{seq:08}")
}

/// Segment numbers and the newest checkpoint in `dir`, oldest first.
pub(crate) struct DirListing {
    pub(crate) segments: Vec<u64>,
    pub(crate) checkpoint: Option<u64>,
    pub(crate) stale: Vec<PathBuf>,
}

pub(crate) fn list_dir(dir: &Path) -> Result<DirListing, WalError> {
    let mut listing = DirListing {
        segments: Vec::new(),
        checkpoint: None,
        stale: Vec::new(),
    };
    let mut checkpoints = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| WalError::io("list", dir, e))? {
        let entry = entry.map_err(|e| WalError::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            match name.parse::<u64>() {
                Ok(seq) if seq <= MAX_SEGMENT => listing.segments.push(seq),
                _ => return Err(past_max_segment("list", &entry.path())),
            }
        } else if let Some(rest) = name.strip_prefix("checkpoint.") {
            match rest.parse::<u64>() {
                Ok(seq) if rest.bytes().all(|b| b.is_ascii_digit()) => {
                    if seq > MAX_SEGMENT {
                        return Err(past_max_segment("list", &entry.path()));
                    }
                    checkpoints.push(seq);
                }
                _ => listing.stale.push(entry.path()),
            }
        }
    }
    listing.segments.sort_unstable();
    checkpoints.sort_unstable();
    listing.checkpoint = checkpoints.pop();
    listing.stale.extend(
        checkpoints
            .into_iter()
            .map(|s| dir.join(checkpoint_name(s))),
    );
    Ok(listing)
}

/// Fsyncs a directory so file creations, renames and deletions in it last.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io("fsync directory", dir, e))
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `d` in whole microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The writer's state; guarded by [`Wal::writer`].
pub(crate) struct Writer {
    /// Sequence number of the segment being written (or to create next).
    pub(crate) seq: u64,
    /// The open segment; `None` before the first write or after a failure
    /// that left it in an unknown state (the next write starts a new one).
    file: Option<Arc<File>>,
    /// Bytes of whole records in the open segment.
    size: u64,
    encoder: SegmentEncoder,
    series: Vec<u8>,
    series_count: u64,
    samples: SamplesRecord,
    buf: Vec<u8>,
    /// Segments on disk, oldest first; the open one (if any) is last.
    pub(crate) segments: Vec<SegmentInfo>,
    /// Sequence number and size of the checkpoint file.
    pub(crate) checkpoint: Option<(u64, u64)>,
    /// Series whose record the batch being encoded adds to the table, so a
    /// failed write can take them out again.
    new_refs: Vec<SeriesRef>,
    /// One more than the largest ref ever written.
    pub(crate) next_ref: SeriesRef,
    /// Newest sample timestamp written.
    pub(crate) max_t: i64,
    /// Written since the last fsync (Interval policy).
    dirty: bool,
    /// Oldest and newest timestamp of the batch being encoded.
    samples_min_t: i64,
    samples_max_t: i64,
    /// Frames waiting for a group-commit leader; see [`commit`].
    group: commit::GroupState,
    /// End of the last batch offered to the feeds (or, before any, of the
    /// last record replayed).
    fed_end: Position,
    /// The batch's samples as encoded, kept only while feeds exist.
    fed_samples: Vec<RefSample>,
    /// Length of the batch's series frame in `buf` (0 if none).
    series_frame_len: usize,
}

impl Writer {
    /// A writer that will create segment `seq` on its first write, after
    /// the segments found on disk.
    pub(crate) fn new(
        seq: u64,
        segments: Vec<SegmentInfo>,
        checkpoint: Option<(u64, u64)>,
        next_ref: SeriesRef,
        max_t: i64,
    ) -> Writer {
        Writer {
            seq,
            file: None,
            size: 0,
            encoder: SegmentEncoder::default(),
            series: Vec::new(),
            series_count: 0,
            samples: SamplesRecord::default(),
            buf: Vec::new(),
            segments,
            checkpoint,
            new_refs: Vec::new(),
            next_ref,
            max_t,
            dirty: false,
            samples_min_t: i64::MAX,
            samples_max_t: i64::MIN,
            group: commit::GroupState::default(),
            fed_end: Position::default(),
            fed_samples: Vec::new(),
            series_frame_len: 0,
        }
    }

    fn open_segment_is_last(&self) -> bool {
        self.file.is_some()
    }

    pub(crate) fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum::<u64>() + self.checkpoint.map_or(0, |c| c.1)
    }

    /// Segments that are closed (not being written).
    pub(crate) fn closed_segments(&self) -> usize {
        if self.open_segment_is_last() {
            self.segments.len().saturating_sub(1)
        } else {
            self.segments.len()
        }
    }
}

/// A registered reader's progress, shared with its [`ReaderHandle`].
#[derive(Debug)]
struct ReaderSlot {
    name: String,
    read_up_to: Mutex<Position>,
}

/// A reader's claim on the WAL: retention keeps what it has not read.
///
/// Dropping the handle unregisters the reader.
#[derive(Debug, Clone)]
pub struct ReaderHandle {
    slot: Arc<ReaderSlot>,
}

impl ReaderHandle {
    /// Tells retention this reader no longer needs anything before `pos`.
    pub fn set_read_up_to(&self, pos: Position) {
        *self.slot.read_up_to.lock() = pos;
    }

    /// The position last set (the start of the WAL until set).
    pub fn read_up_to(&self) -> Position {
        *self.slot.read_up_to.lock()
    }

    /// The name given at registration.
    pub fn name(&self) -> &str {
        &self.slot.name
    }
}

/// The write-ahead log of one storage.
///
/// Shared by `Arc`: any thread may call [`Wal::log`]; concurrent commits
/// share one write and one fsync (see `wal/commit.rs`). A background thread
/// named `wal` fsyncs under [`FsyncPolicy::Interval`] and applies
/// retention; [`Wal::close`] stops and joins it.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// Guards the open segment and all bookkeeping. Held while a batch is
    /// encoded and across segment cuts and retention; a group-commit
    /// leader releases it for its write and fsync.
    writer: Mutex<Writer>,
    /// Wakes the commits waiting for their group's leader.
    committed: Condvar,
    /// Every series the retained WAL refers to; see [`SeriesTable`].
    series: Arc<SeriesTable>,
    readers: Mutex<Vec<Weak<ReaderSlot>>>,
    subscribers: Mutex<Vec<Sender<()>>>,
    /// Readers fed committed samples from memory; see [`feed`].
    feeds: Mutex<Vec<feed::FeedSender>>,
    /// Whether `feeds` is non-empty (read by every commit without the lock).
    has_feeds: AtomicBool,
    /// The group-commit window in microseconds; see
    /// [`WalOptions::commit_window`].
    commit_window_us: AtomicU64,
    stats: Arc<StorageStats>,
    worker: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`, hands every record to
    /// `replay` in order, repairs a damaged tail, and starts the background
    /// thread. Damage never fails the open; only I/O errors do (the
    /// directory cannot be created or listed, a segment cannot be read).
    pub fn open(
        dir: &Path,
        opts: WalOptions,
        stats: Arc<StorageStats>,
        replay: &mut dyn FnMut(Record),
    ) -> Result<Arc<Wal>, WalError> {
        fs::create_dir_all(dir).map_err(|e| WalError::io("create directory", dir, e))?;
        let (mut writer, table) = reader::replay_dir(dir, &stats, replay)?;
        writer.fed_end = match writer.segments.last() {
            Some(seg) => Position {
                segment: seg.seq,
                offset: seg.size,
            },
            None => Position {
                segment: writer.seq,
                offset: 0,
            },
        };
        let wal = Arc::new(Wal {
            dir: dir.to_path_buf(),
            commit_window_us: AtomicU64::new(micros(opts.commit_window)),
            opts,
            writer: Mutex::new(writer),
            committed: Condvar::new(),
            series: Arc::new(SeriesTable::new(table)),
            readers: Mutex::new(Vec::new()),
            subscribers: Mutex::new(Vec::new()),
            feeds: Mutex::new(Vec::new()),
            has_feeds: AtomicBool::new(false),
            stats,
            worker: Mutex::new(None),
        });
        wal.update_gauges(&wal.writer.lock());
        wal.start_worker()?;
        Ok(wal)
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the WAL was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.opts
    }

    /// Sets the group-commit window (see [`WalOptions::commit_window`]) for
    /// the commits that lead a group from now on.
    pub fn set_commit_window(&self, window: Duration) {
        self.commit_window_us
            .store(micros(window), Ordering::Relaxed);
    }

    /// The group-commit window in force.
    pub fn commit_window(&self) -> Duration {
        Duration::from_micros(self.commit_window_us.load(Ordering::Relaxed))
    }

    /// Registers a reader (a remote_write queue) under `name`. Until it calls
    /// [`ReaderHandle::set_read_up_to`] it claims the whole WAL.
    pub fn register_reader(&self, name: &str) -> ReaderHandle {
        let slot = Arc::new(ReaderSlot {
            name: name.to_string(),
            read_up_to: Mutex::new(Position::default()),
        });
        let mut readers = self.readers.lock();
        readers.retain(|r| r.strong_count() > 0);
        readers.push(Arc::downgrade(&slot));
        ReaderHandle { slot }
    }

    /// A channel that receives a notification (coalesced: capacity 1) after
    /// each commit is written — fsynced under [`FsyncPolicy::EveryCommit`],
    /// in the page cache under [`FsyncPolicy::Interval`] — so readers wait
    /// on it instead of polling.
    pub fn subscribe(&self) -> Receiver<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.subscribers.lock().push(tx);
        rx
    }

    /// A feed of committed samples straight from memory, holding at most
    /// `max_samples` samples; see [`SampleFeed`]. Dropping it unsubscribes.
    pub fn feed(&self, max_samples: usize) -> SampleFeed {
        let (sender, receiver) = feed::feed(max_samples);
        let mut feeds = self.feeds.lock();
        feeds.push(sender);
        self.has_feeds.store(true, Ordering::Relaxed);
        receiver
    }

    /// Offers the batches a leader just wrote to every feed, in WAL order.
    fn publish(&self, w: &mut Writer, batches: Vec<commit::PendingBatch>) {
        let mut feeds = self.feeds.lock();
        for b in batches {
            let prev_end = std::mem::replace(&mut w.fed_end, b.end);
            let Some(samples) = b.samples else { continue };
            let batch = Arc::new(FedBatch {
                prev_end,
                series_end: b.series_end,
                end: b.end,
                samples,
            });
            feeds.retain(|f| f.offer(&batch));
        }
        self.has_feeds.store(!feeds.is_empty(), Ordering::Relaxed);
    }

    /// The position just after the last record written.
    pub fn head_position(&self) -> Position {
        let w = self.writer.lock();
        match w.segments.last() {
            Some(seg) if w.file.is_some() => Position {
                segment: seg.seq,
                offset: seg.size,
            },
            _ => Position {
                segment: w.seq,
                offset: 0,
            },
        }
    }

    /// One more than the largest series ref the WAL has ever held.
    pub fn next_ref(&self) -> SeriesRef {
        self.writer.lock().next_ref
    }

    /// The series table: every ref in a retained segment resolves there
    /// (unless damage took its series record), so a reader needs no series
    /// records of its own.
    pub fn series(&self) -> &Arc<SeriesTable> {
        &self.series
    }

    /// The labels of a series the retained WAL refers to.
    pub fn series_labels(&self, series_ref: SeriesRef) -> Option<Labels> {
        self.series.labels_of(series_ref)
    }

    /// Closes the open segment (fsynced) and creates the next one.
    fn cut(&self, w: &mut Writer) -> Result<(), WalError> {
        if let Some(old) = w.file.take() {
            let path = self.dir.join(segment_name(w.seq));
            self.fsync(&old)
                .map_err(|e| WalError::io("fsync", &path, e))?;
            w.dirty = false;
            w.seq += 1;
        } else if w.segments.last().is_some_and(|s| s.seq >= w.seq) {
            w.seq = w.segments.last().map_or(0, |s| s.seq + 1);
        }
        let path = self.dir.join(segment_name(w.seq));
        if w.seq > MAX_SEGMENT {
            return Err(past_max_segment("create segment", &path));
        }
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| WalError::io("create segment", &path, e))?;
        sync_dir(&self.dir)?;
        w.file = Some(Arc::new(file));
        w.size = 0;
        w.encoder.reset();
        w.segments.push(SegmentInfo {
            seq: w.seq,
            size: 0,
            samples: 0,
            min_t: i64::MAX,
            max_t: i64::MIN,
        });
        StorageStats::add(&self.stats.wal_segments_created_total, 1);
        self.update_gauges(w);
        log::debug!(path:% = path.display(); "WAL segment created");
        Ok(())
    }

    fn fsync(&self, file: &File) -> io::Result<()> {
        let start = Instant::now();
        let res = file.sync_data();
        StorageStats::add(&self.stats.wal_fsyncs_total, 1);
        StorageStats::add(
            &self.stats.wal_fsync_nanos_total,
            start.elapsed().as_nanos() as u64,
        );
        if res.is_err() {
            StorageStats::add(&self.stats.wal_fsync_errors_total, 1);
        }
        res
    }

    fn notify(&self) {
        self.subscribers
            .lock()
            .retain(|tx| !matches!(tx.try_send(()), Err(TrySendError::Disconnected(()))));
    }

    fn update_gauges(&self, w: &Writer) {
        StorageStats::set(&self.stats.wal_disk_bytes, w.disk_bytes());
        StorageStats::set(&self.stats.wal_segments, w.segments.len() as u64);
        StorageStats::set(&self.stats.wal_current_segment, w.seq);
    }

    /// Positions of the live registered readers.
    fn reader_positions(&self) -> Vec<(String, Position)> {
        let mut readers = self.readers.lock();
        readers.retain(|r| r.strong_count() > 0);
        readers
            .iter()
            .filter_map(Weak::upgrade)
            .map(|r| (r.name.clone(), *r.read_up_to.lock()))
            .collect()
    }

    /// Applies retention now (the background thread does this every
    /// [`WalOptions::retention_check_interval`]).
    pub fn truncate(&self) {
        let mut w = self.writer.lock();
        self.apply_retention(&mut w, 0, false);
    }

    /// Fsyncs the open segment if anything was written since the last sync.
    pub fn flush(&self) -> Result<(), WalError> {
        let (file, path) = {
            let mut w = self.writer.lock();
            if !w.dirty {
                return Ok(());
            }
            w.dirty = false;
            match &w.file {
                Some(f) => (f.clone(), self.dir.join(segment_name(w.seq))),
                None => return Ok(()),
            }
        };
        if let Err(e) = self.fsync(&file) {
            let mut w = self.writer.lock();
            self.abandon_segment(&mut w);
            return Err(WalError::io("fsync", &path, e));
        }
        self.notify();
        Ok(())
    }

    /// After a failed fsync the kernel may have dropped the segment's
    /// unsynced pages: never write after them, and define the series whose
    /// records were there again in the next segment.
    fn abandon_segment(&self, w: &mut Writer) {
        w.file = None;
        w.encoder.reset();
        let seq = series::seg32(w.seq);
        self.series.write().retain(|_, e| e.defined_in != seq);
    }

    fn start_worker(self: &Arc<Wal>) -> Result<(), WalError> {
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let weak = Arc::downgrade(self);
        let fsync_every = match self.opts.fsync {
            FsyncPolicy::Interval(d) => Some(d.max(Duration::from_millis(1))),
            FsyncPolicy::EveryCommit => None,
        };
        let retention_every = self
            .opts
            .retention_check_interval
            .max(Duration::from_millis(1));
        let handle = std::thread::Builder::new()
            .name("wal".to_string())
            .spawn(move || {
                let fsync_tick =
                    fsync_every.map_or_else(crossbeam_channel::never, crossbeam_channel::tick);
                let retention_tick = crossbeam_channel::tick(retention_every);
                loop {
                    crossbeam_channel::select! {
                        recv(stop_rx) -> _ => break,
                        recv(fsync_tick) -> _ => {
                            let Some(wal) = weak.upgrade() else { break };
                            if let Err(e) = wal.flush() {
                                log::warn!(err:% = e; "WAL fsync failed");
                            }
                        }
                        recv(retention_tick) -> _ => {
                            let Some(wal) = weak.upgrade() else { break };
                            wal.truncate();
                        }
                    }
                }
            })
            .map_err(|e| WalError::io("spawn thread for", &self.dir, e))?;
        *self.worker.lock() = Some((stop_tx, handle));
        Ok(())
    }

    /// Stops the background thread, then fsyncs and closes the open segment.
    /// Later [`Wal::log`] calls still work (and start a new segment).
    pub fn close(&self) -> Result<(), WalError> {
        if let Some((stop, handle)) = self.worker.lock().take() {
            drop(stop);
            if handle.join().is_err() {
                log::warn!(dir:% = self.dir.display(); "WAL background thread panicked");
            }
        }
        let mut w = self.writer.lock();
        self.drain(&mut w);
        if let Some(file) = w.file.take() {
            let path = self.dir.join(segment_name(w.seq));
            self.fsync(&file)
                .map_err(|e| WalError::io("fsync", &path, e))?;
            w.dirty = false;
            w.seq += 1;
        }
        Ok(())
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        // Stop the thread without joining: the last `Arc` may be dropped
        // by the thread itself.
        self.worker.lock().take();
        let w = self.writer.get_mut();
        if let Some(file) = w.file.take() {
            if let Err(e) = file.sync_data() {
                log::warn!(dir:% = self.dir.display(), err:% = e; "WAL fsync on drop failed");
            }
        }
    }
}
