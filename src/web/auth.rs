//! `--web.config.file`: basic auth users and TLS, in the format of the
//! Prometheus exporter-toolkit:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt   # relative to this file's directory
//!   key_file: server.key
//! basic_auth_users:
//!   alice: $2y$10$...       # bcrypt hash
//! ```
//!
//! Unlike exporter-toolkit the file is read once at start-up; the other TLS
//! options (client certificates, cipher suites, versions) are refused rather
//! than silently ignored.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

use base64::Engine;
use parking_lot::Mutex;
use serde::Deserialize;

/// The parsed web config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// TLS settings; absent means plain HTTP.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// User name → bcrypt hash; empty means no authentication.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8 or RSA).
    pub key_file: PathBuf,
}

/// Why the web config file was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebConfigError {
    /// A file could not be read.
    Read(PathBuf, std::io::Error),
    /// The YAML is malformed or has unknown fields.
    Parse(PathBuf, String),
    /// A user's password hash is not a bcrypt hash.
    BadHash(PathBuf, String),
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebConfigError::Read(p, e) => write!(f, "reading {}: {e}", p.display()),
            WebConfigError::Parse(p, e) => write!(f, "parsing web config {}: {e}", p.display()),
            WebConfigError::BadHash(p, user) => write!(
                f,
                "web config {}: basic_auth_users.{user} is not a bcrypt hash",
                p.display()
            ),
        }
    }
}

impl std::error::Error for WebConfigError {}

impl WebConfig {
    /// Reads and validates `path`; TLS file paths are made relative to the
    /// file's directory, as exporter-toolkit does.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WebConfigError::Read(path.to_path_buf(), e))?;
        let mut cfg: WebConfig = crate::config::from_yaml_str(&text)
            .map_err(|e| WebConfigError::Parse(path.to_path_buf(), e.located()))?
            .unwrap_or_default();
        for (user, hash) in &cfg.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(WebConfigError::BadHash(path.to_path_buf(), user.clone()));
            }
        }
        if let Some(tls) = &mut cfg.tls_server_config {
            let dir = path.parent().unwrap_or(Path::new("."));
            tls.cert_file = dir.join(&tls.cert_file);
            tls.key_file = dir.join(&tls.key_file);
        }
        Ok(cfg)
    }
}

/// Most successful checks remembered before the cache is emptied, as
/// exporter-toolkit bounds its cache.
const CACHE_SIZE: usize = 100;

/// Checks basic-auth headers against the configured users.
///
/// bcrypt costs tens of milliseconds by design, so successful checks are
/// remembered, keyed by a SipHash (random per process) of user, hash and
/// password: a changed password or hash never hits a stale entry.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// A hash checked when the user is unknown, so that unknown and known
    /// users take the same time (as exporter-toolkit).
    dummy_hash: String,
    hasher: std::collections::hash_map::RandomState,
    ok_cache: Mutex<HashSet<u64>>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BasicAuth {
    /// An authenticator for `users` (name → bcrypt hash).
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        // Same cost as the users' hashes, so the dummy check takes as long.
        let cost = users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max();
        let dummy_hash = cost
            .and_then(|c| bcrypt::hash("edgescrape-unknown-user", c).ok())
            .unwrap_or_default();
        BasicAuth {
            users,
            dummy_hash,
            hasher: std::collections::hash_map::RandomState::new(),
            ok_cache: Mutex::new(HashSet::new()),
        }
    }

    /// Whether an `Authorization` header value names a user with the right
    /// password.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (hash, known) = match self.users.get(&user) {
            Some(h) => (h.as_str(), true),
            None => (self.dummy_hash.as_str(), false),
        };
        let key = self.hasher.hash_one((&user, hash, &password));
        if known && self.ok_cache.lock().contains(&key) {
            return true;
        }
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && known;
        if ok {
            let mut cache = self.ok_cache.lock();
            if cache.len() >= CACHE_SIZE {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }
}

/// Splits `Basic base64(user:password)`.
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> String {
        let raw = format!("{user}:{pass}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn credentials_are_checked_and_successes_cached() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)]));
        assert!(!auth.check(None));
        assert!(!auth.check(Some("Bearer x")));
        assert!(!auth.check(Some("Basic !!!")));
        assert!(!auth.check(Some(&header("alice", "wrong"))));
        assert!(!auth.check(Some(&header("bob", "s3cret"))));
        assert!(auth.ok_cache.lock().is_empty());
        assert!(auth.check(Some(&header("alice", "s3cret"))));
        assert_eq!(auth.ok_cache.lock().len(), 1);
        assert!(auth.check(Some(&header("alice", "s3cret"))));
        assert!(!auth.check(Some(&header("alice", "s3cret2"))));
    }

    #[test]
    fn config_file_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: a.crt\n  key_file: /k/a.key\nbasic_auth_users:\n  u: $2y$04$cVV9/jMpA8SADw0tgiH2ROeHCH5x4/dHDXgQfnkwIdnYWQ8NWbFdW\n",
        )
        .unwrap();
        let cfg = WebConfig::load(&path).unwrap();
        let tls = cfg.tls_server_config.unwrap();
        assert_eq!(tls.cert_file, dir.path().join("a.crt"));
        assert_eq!(tls.key_file, PathBuf::from("/k/a.key"));
        assert_eq!(cfg.basic_auth_users.len(), 1);

        std::fs::write(&path, "basic_auth_users:\n  u: plain\n").unwrap();
        let e = WebConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("basic_auth_users.u is not a bcrypt hash"), "{e}");

        std::fs::write(&path, "tls_server_config:\n  client_ca_file: x\n").unwrap();
        let e = WebConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("client_ca_file"), "{e}");

        let e = WebConfig::load(&dir.path().join("nope.yml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.yml"), "{e}");
    }
}
