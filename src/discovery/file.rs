//! File-based discovery, as Prometheus's `discovery/file`: YAML or JSON
//! files (globs allowed) of target groups, re-read when they change and
//! every `refresh_interval`.
//!
//! Prometheus watches the files with inotify; this provider polls the
//! size, modification time and inode of every matching file once per
//! [`POLL_INTERVAL`], which needs no extra crate and notices a change within
//! about a second on an edge box's handful of files.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crossbeam_channel::{select, tick, Receiver, Sender, TryRecvError};
use log::{debug, warn};

use super::targetgroup::{self, Format};
use super::{Discoverer, TargetGroup};

/// `__meta_filepath`: the file a group was read from, on every group.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// How often the files are checked for changes.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why a file SD file could not be used; its last good groups are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSdError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileSdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileSdError {}

/// Reads one file SD file: a JSON (`.json`) or YAML (`.yml`, `.yaml`) list
/// of target groups. Group `i` gets the source `<path>:<i>` and the label
/// [`FILEPATH_LABEL`] set to the path, as in Prometheus's `readFile`.
pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, FileSdError> {
    let error = |line, column, message| FileSdError {
        file: path.to_path_buf(),
        line,
        column,
        message,
    };
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match extension.as_deref() {
        Some("json") => Format::Json,
        Some("yml" | "yaml") => Format::Yaml,
        _ => {
            return Err(error(
                None,
                None,
                "unsupported file extension (want .json, .yml or .yaml)".to_string(),
            ))
        }
    };
    let content =
        std::fs::read(path).map_err(|e| error(None, None, format!("cannot read file: {e}")))?;
    let groups =
        targetgroup::parse(&content, format).map_err(|e| error(e.line, e.column, e.message))?;
    let name = path.display().to_string();
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(i, group)| TargetGroup {
            labels: group.labels.builder().set(FILEPATH_LABEL, &name).labels(),
            source: file_source(&name, i),
            ..group
        })
        .collect())
}

fn file_source(name: &str, i: usize) -> String {
    format!("{name}:{i}")
}

/// What a poll compares to notice that a file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&meta),
        })
    }
}

/// One `file_sd_configs` entry of one job, run on its own thread.
///
/// Owned by that thread; it reports on its update channel only.
pub(crate) struct FileDiscovery {
    /// The job, for logs.
    job: String,
    /// Valid glob patterns (invalid ones are refused with a warning at start).
    patterns: Vec<glob::Pattern>,
    refresh_interval: Duration,
    /// Files found at the last refresh and how many groups each held, to
    /// clear the sources of files that vanished or shrank.
    last_refresh: HashMap<PathBuf, usize>,
    /// Stamps of the files at the last refresh; a difference means re-read.
    stamps: BTreeMap<PathBuf, Option<FileStamp>>,
}

impl FileDiscovery {
    pub(crate) fn new(job: String, files: &[String], refresh_interval: Duration) -> FileDiscovery {
        let patterns = files
            .iter()
            .filter_map(|f| match glob::Pattern::new(f) {
                Ok(p) => Some(p),
                Err(e) => {
                    warn!(job = job, glob = f.as_str(), err:% = e; "Invalid file SD glob, ignored");
                    None
                }
            })
            .collect();
        FileDiscovery {
            job,
            patterns,
            // As Prometheus's ticker, but never a busy loop on a zero interval.
            refresh_interval: refresh_interval.max(POLL_INTERVAL),
            last_refresh: HashMap::new(),
            stamps: BTreeMap::new(),
        }
    }

    /// The files matching the patterns, sorted and without duplicates.
    fn list_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for pattern in &self.patterns {
            let Ok(paths) = glob::glob(pattern.as_str()) else {
                continue;
            };
            for entry in paths {
                match entry {
                    Ok(path) => files.push(path),
                    Err(e) => {
                        debug!(job = self.job.as_str(), err:% = e; "Cannot list file SD path")
                    }
                }
            }
        }
        files.sort();
        files.dedup();
        files
    }

    fn current_stamps(&self) -> BTreeMap<PathBuf, Option<FileStamp>> {
        self.list_files()
            .into_iter()
            .map(|path| {
                let stamp = FileStamp::of(&path);
                (path, stamp)
            })
            .collect()
    }

    /// Re-reads every file and reports all groups at once, as Prometheus's
    /// `refresh`: a file that fails keeps its last good groups; sources of
    /// vanished files (or of groups a file no longer has) are sent empty.
    fn refresh(&mut self, stop: &Receiver<()>, up: &Sender<Vec<TargetGroup>>) -> Result<(), ()> {
        let mut counts = HashMap::new();
        let mut stamps = BTreeMap::new();
        let mut updates = Vec::new();
        for path in self.list_files() {
            if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
                return Err(());
            }
            // Stamp before reading: a write after this is seen by the next poll.
            stamps.insert(path.clone(), FileStamp::of(&path));
            match read_file(&path) {
                Ok(groups) => {
                    counts.insert(path, groups.len());
                    updates.extend(groups);
                }
                Err(e) => {
                    warn!(
                        job = self.job.as_str(), file:% = path.display(), err:% = e;
                        "Cannot read target groups, keeping the last good ones"
                    );
                    let kept = self.last_refresh.get(&path).copied().unwrap_or(0);
                    counts.insert(path, kept);
                }
            }
        }
        for (path, &before) in &self.last_refresh {
            let now = counts.get(path).copied().unwrap_or(0);
            if now < before {
                debug!(
                    job = self.job.as_str(), file:% = path.display(), groups = before - now;
                    "File SD groups vanished"
                );
            }
            let name = path.display().to_string();
            updates.extend((now..before).map(|i| TargetGroup {
                source: file_source(&name, i),
                ..TargetGroup::default()
            }));
        }
        self.last_refresh = counts;
        self.stamps = stamps;
        up.send(updates).map_err(drop)
    }
}

impl Discoverer for FileDiscovery {
    /// Reads the files, then re-reads them whenever a poll sees a change and
    /// every refresh interval, until `stop` (or `up`) is disconnected.
    fn run(mut self: Box<Self>, up: Sender<Vec<TargetGroup>>, stop: Receiver<()>) {
        debug!(job = self.job.as_str(); "File discovery started");
        let poll = tick(POLL_INTERVAL);
        let refresh = tick(self.refresh_interval);
        let mut result = self.refresh(&stop, &up);
        while result.is_ok() {
            select! {
                recv(stop) -> _ => break,
                recv(poll) -> _ => {
                    if self.current_stamps() != self.stamps {
                        result = self.refresh(&stop, &up);
                    }
                }
                recv(refresh) -> _ => result = self.refresh(&stop, &up),
            }
        }
        debug!(job = self.job.as_str(); "File discovery stopped");
    }
}
