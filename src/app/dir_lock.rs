//! The lock on `--storage.path`, as Prometheus's `lock` file in its data
//! directory: two processes writing one WAL would interleave and corrupt
//! its segments, so the second one refuses to start.
//!
//! The lock is an exclusive `flock` on `<storage.path>/lock`, held for the
//! life of the process and dropped by the kernel when the process ends,
//! even by a crash: a stale file never blocks a restart. The holder writes
//! its pid into the file so the refusal can name it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

/// The lock file's name inside the storage folder (Prometheus's).
pub const LOCK_FILE: &str = "lock";

/// A held lock; released when dropped (the file is closed).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Why the storage folder could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds the lock.
    Held {
        /// The storage folder.
        dir: PathBuf,
        /// The holder's pid, as it wrote it into the lock file.
        pid: Option<u32>,
    },
    /// The folder or lock file could not be created, opened or locked.
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What the system said.
        err: io::Error,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { dir, pid } => {
                write!(
                    f,
                    "storage path {} is in use by another process",
                    dir.display()
                )?;
                match pid {
                    Some(pid) => write!(f, " (pid {pid})")?,
                    None => f.write_str(" (pid unknown)")?,
                }
                write!(f, "; lock file {}", dir.join(LOCK_FILE).display())
            }
            LockError::Io { path, err } => write!(f, "locking {}: {err}", path.display()),
        }
    }
}

impl DirLock {
    /// Creates `dir` if needed and locks it, writing this process's pid
    /// into the lock file. Never waits: a lock held elsewhere is
    /// [`LockError::Held`] at once.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |err| LockError::Io { path, err }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        if let Err(errno) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if errno == rustix::io::Errno::WOULDBLOCK {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    pid: holder_pid(&mut file),
                });
            }
            return Err(io_err(&path)(errno.into()));
        }
        write_pid(&mut file).map_err(io_err(&path))?;
        Ok(DirLock { _file: file })
    }
}

/// The pid the holder wrote, if the file holds one.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_folder_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = DirLock::acquire(&data).unwrap();
        let pid = std::process::id();
        assert_eq!(
            fs::read_to_string(data.join(LOCK_FILE)).unwrap(),
            format!("{pid}\n")
        );
        // flock locks belong to the open file: a second open in the same
        // process conflicts as another process's would.
        let err = DirLock::acquire(&data).unwrap_err();
        assert!(matches!(&err, LockError::Held { pid: Some(p), .. } if *p == pid));
        let text = err.to_string();
        assert!(text.contains(&data.display().to_string()), "{text}");
        assert!(text.contains(&format!("pid {pid}")), "{text}");
        drop(first);
        let _again = DirLock::acquire(&data).unwrap();
    }

    #[test]
    fn a_lock_file_left_behind_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), "99999999\n").unwrap();
        let _lock = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn an_unusable_folder_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        fs::write(&file, "").unwrap();
        let err = DirLock::acquire(&file.join("data")).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err}");
        assert!(err.to_string().contains("plain-file"), "{err}");
    }
}
