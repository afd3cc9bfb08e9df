//! TLS for the gRPC service, and the PEM files both ends give it: each file is checked as it
//! is read, so that a wrong file is named with what is wrong with it, not found out at the
//! first handshake.

use super::config::Config;
use crate::error::{Error, Result};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// How long a client may take over its TLS handshake: one that connects and says nothing
/// would otherwise hold a handshake open for ever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What is wrong with a PEM file given as a certificate or a key.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no {what} (a PEM block \"-----BEGIN {label}-----\")", path.display())]
    Missing {
        path: PathBuf,
        what: &'static str,
        label: &'static str,
    },
    #[error("{} holds an encrypted private key; give it unencrypted (`openssl pkey -in KEY -out PLAIN`)", path.display())]
    EncryptedKey { path: PathBuf },
    #[error("{} is not valid PEM: {reason}", path.display())]
    Malformed { path: PathBuf, reason: &'static str },
}

/// The PEM text of `path`, checked to hold at least one certificate and nothing malformed.
pub fn read_certificates(path: &Path) -> std::result::Result<Vec<u8>, PemError> {
    let text = read(path)?;
    let mut found = false;
    for certificate in CertificateDer::pem_slice_iter(&text) {
        certificate.map_err(|e| malformed(path, &e))?;
        found = true;
    }
    if !found {
        return Err(PemError::Missing {
            path: path.into(),
            what: "certificate",
            label: "CERTIFICATE",
        });
    }
    Ok(text)
}

/// The PEM text of `path`, checked to hold an unencrypted private key (PKCS#8, PKCS#1 or SEC1).
pub fn read_private_key(path: &Path) -> std::result::Result<Vec<u8>, PemError> {
    let text = read(path)?;
    match PrivateKeyDer::from_pem_slice(&text) {
        Ok(_) => Ok(text),
        Err(pem::Error::NoItemsFound) if contains(&text, b"-----BEGIN ENCRYPTED PRIVATE KEY") => {
            Err(PemError::EncryptedKey { path: path.into() })
        }
        Err(pem::Error::NoItemsFound) => Err(PemError::Missing {
            path: path.into(),
            what: "private key",
            label: "PRIVATE KEY",
        }),
        Err(e) => Err(malformed(path, &e)),
    }
}

fn read(path: &Path) -> std::result::Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read {
        path: path.into(),
        source,
    })
}

fn contains(text: &[u8], needle: &[u8]) -> bool {
    text.windows(needle.len()).any(|w| w == needle)
}

fn malformed(path: &Path, error: &pem::Error) -> PemError {
    let reason = match error {
        pem::Error::MissingSectionEnd { .. } => "a block has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a block is not valid base64",
        pem::Error::SectionTooLarge => "a block is larger than 256 MB",
        _ => "it cannot be read as PEM",
    };
    PemError::Malformed {
        path: path.into(),
        reason,
    }
}

/// Reads and checks the TLS files `config` names as [`server_builder`] does, so that `serve`
/// refuses them before it listens.
pub fn check(config: &Config) -> Result<()> {
    server_builder(config).map(drop)
}

/// The gRPC server builder, speaking TLS when `config` has a certificate: its files are read
/// and checked here, before the service opens anything.
pub fn server_builder(config: &Config) -> Result<Server> {
    let builder = Server::builder();
    let (Some(tls), Some(cert), Some(key)) =
        (server_config(config)?, &config.tls_cert, &config.tls_key)
    else {
        return Ok(builder);
    };
    builder.tls_config(tls).map_err(|e| Error::InvalidConfig {
        origin: "tls_key".into(),
        reason: format!(
            "cannot use the certificate in {} with the key in {}: {}",
            cert.display(),
            key.display(),
            causes(&e)
        ),
    })
}

/// The service's TLS settings from `config`: none without `tls_cert`; with it, its key, and
/// with `tls_client_ca` only clients with a certificate that CA signed get through the
/// handshake.
fn server_config(config: &Config) -> Result<Option<ServerTlsConfig>> {
    let invalid = |origin: &str, reason: String| Error::InvalidConfig {
        origin: origin.into(),
        reason,
    };
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (None, None) if config.tls_client_ca.is_some() => {
            return Err(invalid(
                "tls_client_ca",
                "client certificates need TLS: give tls_cert and tls_key too".into(),
            ));
        }
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => {
            return Err(invalid(
                "tls_cert",
                "needs tls_key, the certificate's private key".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "tls_key",
                "needs tls_cert, the key's certificate".into(),
            ));
        }
    };
    let cert_pem = read_certificates(cert).map_err(|e| invalid("tls_cert", e.to_string()))?;
    let key_pem = read_private_key(key).map_err(|e| invalid("tls_key", e.to_string()))?;
    let mut tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert_pem, key_pem))
        .timeout(HANDSHAKE_TIMEOUT);
    if let Some(ca) = &config.tls_client_ca {
        let ca_pem = read_certificates(ca).map_err(|e| invalid("tls_client_ca", e.to_string()))?;
        tls = tls.client_ca_root(Certificate::from_pem(ca_pem));
    }
    Ok(Some(tls))
}

/// The HTTP side's TLS (the dashboard and `/metrics`): the gRPC side's certificate and key, and
/// its client CA when it asks clients for a certificate; none without `tls_cert`. Read after
/// [`check`] has named any problem with the files.
pub fn http_config(config: &Config) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let invalid = |origin: &str, reason: String| Error::InvalidConfig {
        origin: origin.into(),
        reason,
    };
    let certificates = |path: &Path, origin: &str| -> Result<Vec<CertificateDer<'static>>> {
        let pem = read_certificates(path).map_err(|e| invalid(origin, e.to_string()))?;
        CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| malformed(path, &e))
            .map_err(|e| invalid(origin, e.to_string()))
    };
    let chain = certificates(cert, "tls_cert")?;
    let key_pem = read_private_key(key).map_err(|e| invalid("tls_key", e.to_string()))?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| invalid("tls_key", malformed(key, &e).to_string()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("tls_cert", e.to_string()))?;
    let builder = match &config.tls_client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in certificates(ca, "tls_client_ca")? {
                roots
                    .add(certificate)
                    .map_err(|e| invalid("tls_client_ca", e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| invalid("tls_client_ca", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut tls = builder.with_single_cert(chain, key_der).map_err(|e| {
        invalid(
            "tls_key",
            format!(
                "cannot use the certificate in {} with the key in {}: {e}",
                cert.display(),
                key.display()
            ),
        )
    })?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(std::sync::Arc::new(tls)))
}

/// For the log: whether the service speaks TLS, and whether it asks clients for a
/// certificate.
pub fn describe(config: &Config) -> String {
    match (&config.tls_cert, &config.tls_client_ca) {
        (None, _) => "TLS off".into(),
        (Some(cert), None) => format!(
            "TLS on (certificate {}), no client certificate required",
            cert.display()
        ),
        (Some(cert), Some(ca)) => format!(
            "TLS on (certificate {}), client certificates signed by {} required",
            cert.display(),
            ca.display()
        ),
    }
}

/// A transport error as one line: its causes from the outermost, each said once, without
/// tonic's bare "transport error" that only says where it came from.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        let generic = text == "transport error" && e.source().is_some();
        if !generic && !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = e.source();
    }
    said.join(": ")
}
