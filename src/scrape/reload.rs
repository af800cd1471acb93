//! [`ConfigReloader`]: re-reading the config file on SIGHUP or
//! `POST /-/reload`, as Prometheus's `reloadConfig`.
//!
//! A config that fails to load is refused and everything keeps running
//! with the old one. A config that loads is handed to every subsystem in
//! turn (discovery, scrape manager, storage); if one refuses it the others
//! still get it, and the reload counts as failed. The outcome and the time
//! of the last good reload are kept for `/metrics`
//! (`prometheus_config_last_reload_successful`,
//! `prometheus_config_last_reload_success_timestamp_seconds`).
//!
//! Called from the signal thread and from web handler threads; reloads are
//! serialised by an internal lock.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::config::{Config, ConfigError};

/// Why a reload failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReloadError {
    /// The file could not be read or is not a valid config; nothing changed.
    Load(ConfigError),
    /// The config loaded but these subsystems refused it.
    Apply {
        /// The config file.
        file: PathBuf,
        /// `(subsystem, error)` for each refusal.
        failures: Vec<(String, String)>,
    },
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Load(e) => write!(f, "couldn't load configuration: {e}"),
            ReloadError::Apply { file, failures } => {
                write!(
                    f,
                    "one or more errors occurred while applying the new configuration (--config.file={:?})",
                    file.display().to_string()
                )?;
                for (name, err) in failures {
                    write!(f, "; {name}: {err}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ReloadError {}

/// The state `/metrics` shows about reloads.
#[derive(Debug, Default)]
pub struct ReloadStatus {
    successful: AtomicBool,
    success_time: AtomicU64,
}

impl ReloadStatus {
    /// Whether the last reload (or the initial load) succeeded.
    pub fn last_successful(&self) -> bool {
        self.successful.load(Ordering::Relaxed)
    }

    /// Unix seconds of the last successful reload (0: none yet).
    pub fn last_success_time(&self) -> u64 {
        self.success_time.load(Ordering::Relaxed)
    }
}

/// A subsystem that takes a new config (`apply` returns a message on
/// refusal).
pub type Applier<'a> = (&'a str, &'a (dyn Fn(&Config) -> Result<(), String> + Sync));

/// See the module documentation.
#[derive(Debug)]
pub struct ConfigReloader {
    path: PathBuf,
    status: ReloadStatus,
    lock: Mutex<()>,
}

impl ConfigReloader {
    /// A reloader for the config file at `path`.
    pub fn new(path: &Path) -> ConfigReloader {
        ConfigReloader {
            path: path.to_path_buf(),
            status: ReloadStatus::default(),
            lock: Mutex::new(()),
        }
    }

    /// The reload outcome for `/metrics`.
    pub fn status(&self) -> &ReloadStatus {
        &self.status
    }

    /// Loads the file and applies it to each of `appliers` in order.
    /// Returns the new config when every applier took it.
    pub fn reload(&self, appliers: &[Applier<'_>]) -> Result<Config, ReloadError> {
        let _serialised = self.lock.lock();
        let config = match Config::load_file(&self.path) {
            Ok(c) => c,
            Err(e) => {
                self.status.successful.store(false, Ordering::Relaxed);
                log::error!(
                    "msg=\"Error reloading config\" file={} err=\"{e}\"",
                    self.path.display()
                );
                return Err(ReloadError::Load(e));
            }
        };
        let mut failures = Vec::new();
        for (name, apply) in appliers {
            if let Err(e) = apply(&config) {
                log::error!("msg=\"Failed to apply configuration\" subsystem={name} err=\"{e}\"");
                failures.push((name.to_string(), e));
            }
        }
        if !failures.is_empty() {
            self.status.successful.store(false, Ordering::Relaxed);
            return Err(ReloadError::Apply {
                file: self.path.clone(),
                failures,
            });
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.status.successful.store(true, Ordering::Relaxed);
        self.status.success_time.store(now, Ordering::Relaxed);
        log::info!(
            "msg=\"Completed loading of configuration file\" file={}",
            self.path.display()
        );
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_config_is_refused_and_status_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, "scrape_configs:\n  - job_name: a\n").unwrap();
        let reloader = ConfigReloader::new(&path);
        let seen = Mutex::new(Vec::new());
        let record = |c: &Config| -> Result<(), String> {
            seen.lock().push(c.scrape_configs.len());
            Ok(())
        };
        reloader.reload(&[("scrape", &record)]).unwrap();
        assert!(reloader.status().last_successful());
        assert!(reloader.status().last_success_time() > 0);

        std::fs::write(&path, "scrape_configs: [[[\n").unwrap();
        let err = reloader.reload(&[("scrape", &record)]).unwrap_err();
        assert!(matches!(err, ReloadError::Load(_)), "{err}");
        assert!(!reloader.status().last_successful());
        assert_eq!(*seen.lock(), vec![1], "a bad file reaches no subsystem");

        std::fs::write(&path, "scrape_configs: []\n").unwrap();
        let refuse = |_: &Config| -> Result<(), String> { Err("no".to_string()) };
        let err = reloader
            .reload(&[("discovery", &refuse), ("scrape", &record)])
            .unwrap_err();
        assert!(err.to_string().contains("discovery: no"), "{err}");
        assert_eq!(*seen.lock(), vec![1, 0], "later subsystems still applied");
    }
}
