//! tls: `rediss://`, the fleet's connection over TLS (rustls, with ring's cryptography).
//! It owns which authorities are trusted (a CA file, or the system's bundle), the node's
//! own certificate for a Redis that asks for one (`tls-auth-clients`, on by default), and
//! the name the server's certificate must carry: the URL's host, a DNS name or an IP
//! address. The files are read again at each connection, so a renewed certificate needs
//! no restart.
//!
//! Built with the `tls` feature only: without it, [`Files::client_config`] says so and
//! `config check` refuses a `rediss://` URL.

#[cfg(feature = "tls")]
use std::io;
#[cfg(feature = "tls")]
use std::net::TcpStream;
#[cfg(feature = "tls")]
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "tls")]
use rustls::pki_types::pem::PemObject;
#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
#[cfg(feature = "tls")]
use rustls::{ClientConnection, RootCertStore, StreamOwned};

/// Whether this build speaks TLS.
pub const BUILT: bool = cfg!(feature = "tls");

/// Why a `rediss://` URL cannot work in a build without TLS.
pub const NOT_BUILT: &str = "this authban was built without TLS: build it with \
    `--features tls` (README, \"A fleet\") or use redis:// or unix://";

/// What a TLS connection is made with.
#[cfg(feature = "tls")]
pub type ClientConfig = rustls::ClientConfig;
/// Without the `tls` feature there is none.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
pub enum ClientConfig {}

/// Where distributions keep the authorities they trust, in one PEM file.
pub const SYSTEM_BUNDLES: &[&str] = &[
    // Debian, Ubuntu, Raspberry Pi OS, Arch, Alpine (ca-certificates)
    "/etc/ssl/certs/ca-certificates.crt",
    // Fedora, RHEL and its rebuilds
    "/etc/pki/tls/certs/ca-bundle.crt",
    // openSUSE
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A TLS session over TCP, as the connection reads and writes it.
#[cfg(feature = "tls")]
pub type Stream = StreamOwned<ClientConnection, TcpStream>;

/// The files a TLS connection is made of: `fleet.tls-ca-file`, `tls-cert-file` and
/// `tls-key-file`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files {
    /// The authorities trusted to sign the server's certificate; `None`: the system's.
    pub ca: Option<PathBuf>,
    /// This node's certificate (chain) and its key, shown to a Redis that asks.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Files {
    /// The CA file read: `ca`, or the first system bundle that exists.
    pub fn ca_path(&self) -> Result<PathBuf, String> {
        match &self.ca {
            Some(p) => Ok(p.clone()),
            None => SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    format!(
                        "no system CA bundle ({}): set fleet.tls-ca-file",
                        SYSTEM_BUNDLES.join(", ")
                    )
                }),
        }
    }

    /// Without the `tls` feature: why there is no TLS.
    #[cfg(not(feature = "tls"))]
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        Err(NOT_BUILT.into())
    }

    /// Reads the files into a client configuration: TLS 1.2 or 1.3, the server's
    /// certificate checked against the authorities, this node's own shown when given.
    #[cfg(feature = "tls")]
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let ca = self.ca_path()?;
        let mut roots = RootCertStore::empty();
        let mut bad = 0;
        for cert in certificates(&ca, "fleet.tls-ca-file")? {
            if roots.add(cert).is_err() {
                bad += 1;
            }
        }
        if roots.is_empty() {
            return Err(format!(
                "fleet.tls-ca-file {}: no usable CA certificate in it{}",
                ca.display(),
                if bad > 0 {
                    format!(" ({bad} could not be parsed)")
                } else {
                    String::new()
                }
            ));
        }
        // ring, not aws-lc-rs (rustls' default): it builds with the C compiler alone, for
        // the Raspberry Pi targets too, and is the smaller. Its lack of post-quantum key
        // exchange (the deprecation) matters little for ban records of a day or a week.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let builder = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots);
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, "fleet.tls-cert-file")?;
                if chain.is_empty() {
                    return Err(format!(
                        "fleet.tls-cert-file {}: no certificate in it",
                        cert.display()
                    ));
                }
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    format!(
                        "fleet.tls-key-file {}: no private key read: {e}",
                        key.display()
                    )
                })?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    format!(
                        "fleet.tls-cert-file {} with fleet.tls-key-file {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            // `config check` refuses one without the other.
            _ => return Err("fleet.tls-cert-file and fleet.tls-key-file go together".into()),
        };
        Ok(Arc::new(config))
    }
}

/// The certificates of a PEM file.
#[cfg(feature = "tls")]
fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let read = |e: rustls::pki_types::pem::Error| format!("{key} {}: {e}", path.display());
    CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)
}

/// Runs the handshake with `host` over `tcp`, within its timeouts: a server whose
/// certificate is not signed by a trusted authority, or is not for `host`, fails here.
#[cfg(feature = "tls")]
pub fn handshake(config: Arc<ClientConfig>, host: &str, mut tcp: TcpStream) -> io::Result<Stream> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{host:?} is not a name a certificate can carry: {e}"),
        )
    })?;
    let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    fn files(dir: &Path, ca: &str) -> Files {
        let path = dir.join("ca.pem");
        std::fs::write(&path, ca).unwrap();
        Files {
            ca: Some(path),
            ..Files::default()
        }
    }

    #[test]
    fn a_ca_file_that_holds_no_certificate_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let err = files(dir.path(), "not a certificate\n")
            .client_config()
            .unwrap_err();
        assert!(err.starts_with("fleet.tls-ca-file "), "{err}");
        assert!(err.contains("no usable CA certificate"), "{err}");
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = files(dir.path(), broken).client_config().unwrap_err();
        assert!(err.contains("could not be parsed"), "{err}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let f = Files {
            ca: Some("/nonexistent/ca.pem".into()),
            ..Files::default()
        };
        let err = f.client_config().unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn without_a_ca_file_the_system_bundle_is_used() {
        let f = Files::default();
        match f.ca_path() {
            Ok(p) => assert!(SYSTEM_BUNDLES.contains(&p.to_str().unwrap())),
            Err(e) => assert!(e.contains("set fleet.tls-ca-file"), "{e}"),
        }
    }
}
