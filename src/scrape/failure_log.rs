//! `scrape_failure_log_file`, as Prometheus 2.55: every failed scrape of a
//! pool (the HTTP exchange failed, not the parsing or appending) appends one
//! JSON object to the file, with the keys in the order Go's JSON logger
//! writes them: `{"err":...,"job_name":...,"target":...,"ts":...}`, `ts` in
//! UTC with milliseconds.
//!
//! The file is opened (created if missing, appended to) when the pool is
//! built or reloaded, so a reload after rotating the file writes to the new
//! one, as Prometheus reopens its loggers on reload. Each line is written
//! with a single `write` on a file opened for appending, so the loops of a
//! pool, and pools sharing the file, never interleave within a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use parking_lot::Mutex;

/// The open failure log of one pool.
#[derive(Debug)]
pub struct FailureLog {
    job: String,
    file: Mutex<File>,
}

impl FailureLog {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(path: &Path, job: &str) -> std::io::Result<FailureLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FailureLog {
            job: job.to_string(),
            file: Mutex::new(file),
        })
    }

    /// Appends the line of one failed scrape of `target` (its URL); a
    /// failure to write is logged, never fails the scrape.
    pub fn log(&self, target: &str, err: &str) {
        let ts = utc_millis(std::time::SystemTime::now());
        let entry =
            serde_json::json!({"err": err, "job_name": self.job, "target": target, "ts": ts});
        let line = format!("{entry}\n");
        if let Err(e) = self.file.lock().write_all(line.as_bytes()) {
            log::warn!(job = self.job.as_str(), err:% = e; "Cannot write the scrape failure log");
        }
    }
}

/// `2006-01-02T15:04:05.000Z` for `t`, as Prometheus's `timestampFormat`.
fn utc_millis(t: std::time::SystemTime) -> String {
    match jiff::Timestamp::try_from(t) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_733_252_597_123);
        assert_eq!(utc_millis(t), "2024-12-03T19:03:17.123Z");
        assert_eq!(
            utc_millis(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(utc_millis(leap), "2000-02-29T00:00:00.000Z");
    }
}
