//! TLS with rustls (the ring provider): the server's configuration from PEM files, the
//! per-connection negotiation (`--tls-mode disabled|prefer|require`; `prefer` tells TLS from
//! plain by the first byte, 0x16 being a TLS handshake record), and a client configuration
//! for the edge's link to a hub.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::net::TcpStream;

use crate::config::Config;

/// Whether connections use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connections only.
    Disabled,
    /// TLS and plain connections on the same port.
    Prefer,
    /// TLS connections only.
    Require,
}

/// A handshake that has not finished by then closes the connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// The server side: `None` when TLS is disabled. A certificate without a mode means
/// `require`; `prefer` or `require` without a certificate and key is an error.
pub fn acceptor(config: &Config) -> Result<Option<Acceptor>, String> {
    let mode = match (config.tls_mode, &config.tls_cert_file) {
        (Some(mode), _) => mode,
        (None, Some(_)) => TlsMode::Require,
        (None, None) => TlsMode::Disabled,
    };
    if mode == TlsMode::Disabled {
        return Ok(None);
    }
    let (Some(cert_file), Some(key_file)) = (&config.tls_cert_file, &config.tls_key_file) else {
        return Err("TLS needs both --tls-cert-file and --tls-key-file".into());
    };
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key_file.display()))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &config.tls_ca_file {
        // Client certificates are then required, and must be signed by that CA.
        Some(ca_file) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(read_roots(ca_file)?),
                provider(),
            )
            .build()
            .map_err(|e| format!("TLS: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS: the certificate and key do not work together: {e}"))?;
    Ok(Some(Acceptor {
        inner: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        mode,
    }))
}

/// A client configuration that verifies a server's certificate against `ca_file` (a private
/// CA), or the public web roots without one. For the edge's link to a hub.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    let roots = match ca_file {
        Some(path) => read_roots(path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The server's TLS setup, shared by every connection.
#[derive(Clone)]
pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
    mode: TlsMode,
}

/// A connection's stream after negotiation.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Acceptor {
    /// TLS or plain, as the mode and the client's first byte say. Errors close the connection
    /// (a plain client of a `require` server gets its connection closed).
    pub async fn negotiate(&self, stream: TcpStream) -> std::io::Result<Stream> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.negotiate_now(stream))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
    }

    async fn negotiate_now(&self, stream: TcpStream) -> std::io::Result<Stream> {
        if self.mode == TlsMode::Prefer {
            let mut first = [0u8; 1];
            let n = stream.peek(&mut first).await?;
            if n == 0 || first[0] != TLS_HANDSHAKE {
                return Ok(Stream::Plain(stream));
            }
        }
        let tls = self.inner.accept(stream).await?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}
