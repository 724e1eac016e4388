#!/usr/bin/env bash
# Builds, tests and packages authban for the Raspberry Pi's CPUs on an x86-64 Debian 12
# machine, with Debian's packages only (rustup cannot fetch other targets' libraries here):
#
#   packaging/cross.sh setup               install the cross toolchains (root: apt-get)
#   packaging/cross.sh binfmt              let the kernel run ARM programs through qemu (root)
#   packaging/cross.sh packages            the Debian packages setup installs
#   packaging/cross.sh build ARCH [--features tls]
#                                          target/cross/TARGET/release/authban, static
#   packaging/cross.sh test ARCH [ARGS…]   cargo test for ARCH, run under qemu-user
#   packaging/cross.sh deb ARCH            the Debian package of that binary (prints its path)
#
# ARCH is a Debian architecture: arm64 (aarch64: Raspberry Pi 3, 4, 5 with a 64-bit OS) or
# armhf (armv7: Raspberry Pi 2 and later with a 32-bit OS; the Pi 1 and Zero are armv6,
# which Debian's armhf does not run on). ARGS go to `cargo test` (a filter, `--test cli`).
#
# The compiler is Debian's rustc-web (/usr/bin/cargo, /usr/bin/rustc), whose standard
# library for each target comes from the multiarch package libstd-rust-web-dev:ARCH; both
# must be the same version, which apt guarantees. Binaries are static (no libc to match on
# the board), tests too: under Debian 12's qemu-user a dynamically linked test binary hangs
# at its first thread spawn. Build scripts stay native, so only the target's crates get
# crt-static. Artefacts go to target/cross, apart from the host build.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
    sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 64
}

# The packages `setup` installs; the :ARCH ones need `dpkg --add-architecture ARCH`.
packages() {
    echo rustc-web cargo-web qemu-user-static qemu-user
    echo libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
    echo libstd-rust-web-dev:armhf gcc-arm-linux-gnueabihf libc6-dev-armhf-cross binutils-arm-linux-gnueabihf
}

setup() {
    [[ $(id -u) -eq 0 ]] || { echo "cross.sh setup installs packages: run it as root" >&2; exit 77; }
    dpkg --add-architecture arm64
    dpkg --add-architecture armhf
    apt-get update -q
    # shellcheck disable=SC2046 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(packages)
    register_binfmt
}

# The integration tests start the ARM authban as a child (and `check-deb.sh`, the CI's
# comparison and the README run it directly): the kernel must hand ARM executables to
# qemu. Installing
# qemu-user-static registers that at boot through systemd-binfmt; on a machine without
# systemd as init (a container, a CI runner) it is done here, from the same files.
register_binfmt() {
    local dir=/proc/sys/fs/binfmt_misc
    if [[ ! -e $dir/register ]]; then
        mount -t binfmt_misc binfmt_misc "$dir"
    fi
    local name
    for name in qemu-aarch64 qemu-arm; do
        if [[ ! -e $dir/$name ]]; then
            grep -v '^#' "/usr/lib/binfmt.d/$name.conf" >"$dir/register"
        fi
    done
}

# Debian architecture → Rust target, GNU triple, qemu program.
arch=""
target=""
triple=""
qemu=""
choose() {
    arch=$1
    case $arch in
        arm64) target=aarch64-unknown-linux-gnu triple=aarch64-linux-gnu qemu=qemu-aarch64-static ;;
        armhf) target=armv7-unknown-linux-gnueabihf triple=arm-linux-gnueabihf qemu=qemu-arm-static ;;
        *) echo "cross.sh: unknown architecture '$arch' (arm64 or armhf)" >&2; exit 64 ;;
    esac
    local missing=()
    local tool
    for tool in /usr/bin/cargo /usr/bin/rustc "$triple-gcc" "$triple-strip" "$qemu"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if [[ ! -d /usr/lib/rustlib/$target ]]; then missing+=("the $target standard library"); fi
    if [[ ${#missing[@]} -gt 0 ]]; then
        echo "cross.sh: missing ${missing[*]}: run 'packaging/cross.sh setup' as root" >&2
        exit 69
    fi
    local upper=${target^^}
    upper=${upper//-/_}
    local lower=${target//-/_}
    export CARGO_TARGET_DIR=target/cross
    export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
    # Doctests are built by rustdoc, which the target's RUSTFLAGS do not reach.
    export RUSTDOCFLAGS="-C target-feature=+crt-static"
    export "CARGO_TARGET_${upper}_LINKER=$triple-gcc"
    export "CARGO_TARGET_${upper}_RUSTFLAGS=-C target-feature=+crt-static"
    export "CARGO_TARGET_${upper}_RUNNER=$qemu"
    # The bundled SQLite's C compiler and archiver (the cc crate reads these).
    export "CC_${lower}=$triple-gcc" "AR_${lower}=$triple-ar"
}

binary() { echo "target/cross/$target/release/authban"; }

build() {
    /usr/bin/cargo build --release --locked --target "$target" --bin authban "$@"
    local bin
    bin=$(binary)
    if readelf -lW "$bin" | grep -q INTERP; then
        echo "cross.sh: $bin is dynamically linked" >&2
        exit 1
    fi
    # The Raspberry Pi 5's kernel uses 16 KiB pages: a segment aligned to less cannot be
    # mapped there (GNU ld aligns aarch64 to 64 KiB; this keeps it so).
    if [[ $arch == arm64 ]]; then
        local align
        for align in $(readelf -lW "$bin" | awk '$1 == "LOAD" { print $NF }'); do
            if ((align < 16384)); then
                echo "cross.sh: $bin has a LOAD segment aligned to $align, less than 16 KiB" >&2
                exit 1
            fi
        done
    fi
    echo "$bin"
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case $command in
    setup) setup ;;
    binfmt) register_binfmt ;;
    packages) packages ;;
    build)
        [[ $# -eq 1 || ($# -eq 3 && $2 == --features && $3 == tls) ]] || usage
        choose "$1"
        shift
        build "$@"
        ;;
    test)
        [[ $# -ge 1 ]] || usage
        choose "$1"
        shift
        register_check=/proc/sys/fs/binfmt_misc/${qemu%-static}
        if [[ ! -e $register_check ]]; then
            echo "cross.sh: the kernel does not run $arch programs through qemu:" \
                "run 'packaging/cross.sh setup' as root" >&2
            exit 69
        fi
        # Tests that cannot run under user-mode emulation read this (tests/support).
        export AUTHBAN_TEST_EMULATOR=$qemu
        # Under Debian 12's qemu-user (7.2, linked with glib 2.74) a child forked while
        # another thread of its parent was busy could hang before its exec, waiting on a
        # lock in qemu's memory and holding the pipes it inherited: the program reading the
        # other end (ipset restore, a daemon's readiness) waited for good. With glib's slice
        # allocator turned into malloc, whose locks fork makes safe, none hung: 0 in 13,600
        # spawns from several threads, against 7 in 4,800 without (README, "On a Raspberry
        # Pi"; src/ban/mod.rs, programs_fed_from_several_threads_at_once_all_finish).
        export G_SLICE=always-malloc
        # Static test binaries with full debug information are 40-90 MB each; line tables
        # keep backtraces readable and halve the time spent linking.
        export CARGO_PROFILE_DEV_DEBUG=line-tables-only
        /usr/bin/cargo test --locked --target "$target" "$@"
        ;;
    deb)
        [[ $# -eq 1 ]] || usage
        choose "$1"
        bin=$(binary)
        [[ -x $bin ]] || { echo "cross.sh: no $bin: run 'packaging/cross.sh build $arch' first" >&2; exit 66; }
        tool=target/release/authban
        [[ -x $tool ]] || { echo "cross.sh: the package is written by a native authban: build $tool first (README, Two commands)" >&2; exit 66; }
        packaging/build-deb.sh --arch "$arch" --binary "$bin" --tool "$tool" --strip "$triple-strip"
        ;;
    *) usage ;;
esac
