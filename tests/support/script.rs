//! Executables a test writes (a fake journalctl, a user's ban command, an nft wrapper).
//!
//! A program cannot be run while any process holds it open for writing (ETXTBSY). Written
//! in the test process, the file's write descriptor is copied into every child another
//! test thread forks in that instant, and held there until that child's `exec`. So the
//! test writes the text to a scratch file, and `install` makes the executable in a
//! process of its own, which has exited before anything runs it.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::Command;

/// `path`, made executable (mode 755) with `text`. An existing one is replaced in one
/// rename: a program running it meanwhile finds the old or the new, never a part.
pub fn executable(path: &Path, text: &str) {
    let scratch = path.with_extension("text");
    let made = path.with_extension("new");
    fs::write(&scratch, text).unwrap();
    let out = Command::new("install")
        .arg("-m")
        .arg("755")
        .arg(&scratch)
        .arg(&made)
        .output()
        .expect("install runs");
    assert!(out.status.success(), "install {}: {out:?}", made.display());
    fs::remove_file(&scratch).unwrap();
    fs::rename(&made, path).unwrap();
}
