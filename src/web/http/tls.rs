//! The rustls server config from a web config's PEM certificate chain and
//! private key, with errors that name the file at fault.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Why the TLS files cannot serve: the file and what is wrong with it.
#[derive(Debug)]
pub(crate) enum TlsError {
    /// A file could not be read.
    Read(PathBuf, std::io::Error),
    /// A file's contents are unusable.
    Invalid(PathBuf, String),
}

/// Reads `cert_file` (PEM chain, leaf first) and `key_file` (a PKCS#8,
/// PKCS#1 RSA or SEC1 EC key) into a server config speaking TLS 1.2 and
/// 1.3 over the `ring` provider, with `http/1.1` offered by ALPN.
pub(crate) fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certs(cert_file)?;
    let key = read_key(key_file)?;
    let invalid = |p: &Path, msg: String| TlsError::Invalid(p.to_path_buf(), msg);
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(key_file, e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| {
        invalid(
            key_file,
            format!(
                "cannot serve this key with {}: {e} (keys are read as PKCS#8, PKCS#1 RSA or SEC1 EC)",
                cert_file.display()
            ),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read(path.to_path_buf(), e))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid(path.to_path_buf(), format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid(
            path.to_path_buf(),
            "no PEM certificate found".to_string(),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    match rustls_pemfile::private_key(&mut &pem[..]) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(TlsError::Invalid(
            path.to_path_buf(),
            "no PEM private key found (PKCS#8, PKCS#1 RSA or SEC1 EC)".to_string(),
        )),
        Err(e) => Err(TlsError::Invalid(
            path.to_path_buf(),
            format!("invalid PEM: {e}"),
        )),
    }
}
