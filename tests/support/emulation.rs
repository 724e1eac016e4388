//! `packaging/cross.sh test ARCH` runs this suite for an ARM target under qemu's user-mode
//! emulation and says so in `AUTHBAN_TEST_EMULATOR`. Everything runs there but the few
//! tests that measure what emulation itself changes; those skip, on that target only, and
//! say which of these reasons applies (README, "On a Raspberry Pi").

// Each test file that includes this module uses some of it.
#![allow(dead_code)]

use std::io::Write;

/// qemu-user runs the vfork child of glibc's `posix_spawn` as a plain fork, so a program
/// that cannot be executed shows as a child exiting with status 127, not as a spawn error.
pub const SPAWN_ERRORS: &str =
    "qemu-user loses posix_spawn's exec error: a missing program shows as exit status 127";

/// qemu-user opens only the route, audit and uevent netlink families: the nftables
/// backend's netlink path is refused and it works through the `nft` program, degraded.
pub const NO_NETFILTER_NETLINK: &str =
    "qemu-user refuses NETLINK_NETFILTER sockets: the nftables backend has only `nft`";

/// The resident set of an emulated process is qemu's, with its translated code.
pub const RESIDENT_MEMORY: &str = "the resident set measured is qemu's, not authban's";

/// A test whose steps are timed for native speed: emulated, authban runs several times slower.
pub const NATIVE_TIMING: &str = "its steps are timed for native speed";

/// The emulator the suite runs under, if any.
pub fn emulator() -> Option<String> {
    std::env::var("AUTHBAN_TEST_EMULATOR")
        .ok()
        .filter(|e| !e.is_empty())
}

/// How much longer than native a wait for the daemon may take: an emulated authban
/// starts several times slower, and a shared machine's stall comes on top of that. Only
/// the bound grows; a test that finishes early is not slowed.
pub fn patience(native: std::time::Duration) -> std::time::Duration {
    if emulator().is_some() {
        native * 6
    } else {
        native
    }
}

/// Returns `true`, after saying why, when `test` must not run under emulation.
pub fn skipped_under_emulation(test: &str, why: &str) -> bool {
    let Some(emulator) = emulator() else {
        return false;
    };
    // Straight to the handle: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "skipped under {emulator}: {test}: {why}");
    true
}
