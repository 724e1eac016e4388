//! Certificates made with `openssl` (Debian's) for a test or a benchmark: a CA of its own,
//! and keys and certificates it signs. Shared by `tests/support/redis.rs` and
//! `examples/bench_fleet.rs`.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::Command;

/// A self-signed CA certificate and its key, as an operator's own CA is made.
pub fn self_signed(key: &Path, cert: &Path, subject: &str) {
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(key),
        "-out",
        s(cert),
        "-days",
        "2",
        "-subj",
        &format!("/CN={subject}"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
}

/// A new key and a certificate of `subject` with `extensions` (openssl's `-extfile`
/// lines), signed by the CA of `ca_cert` and `ca_key`; `scratch` holds the request.
pub fn sign(
    (ca_cert, ca_key): (&Path, &Path),
    (key, cert): (&Path, &Path),
    subject: &str,
    extensions: &str,
    scratch: &Path,
) {
    let csr = scratch.join("req.csr");
    let ext = scratch.join("ext.cnf");
    fs::write(&ext, extensions).unwrap();
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(key),
        "-out",
        s(&csr),
        "-subj",
        &format!("/CN={subject}"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(ca_cert),
        "-CAkey",
        s(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        s(&ext),
        "-out",
        s(cert),
    ]);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
