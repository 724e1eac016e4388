#!/usr/bin/env bash
# Counts the instructions `authban check --json` executes over 150,000 generated lines of
# each envelope (RFC 3164 and RFC 3339), under valgrind's cachegrind: a count, unlike a
# time, is the same on a busy machine, so two builds can be compared by a 1% difference.
# Release build as the README builds it. Needs valgrind (apt-get install valgrind).
#
# With --arch arm64|armhf the Raspberry Pi build (packaging/cross.sh build ARCH) is counted
# instead, under Debian's qemu-user with the instruction-counting plugin bench/qemu-insn.c
# (needs qemu-user and gcc, and cross.sh's toolchain). --arch amd64 counts the native build
# the same way, which checks the plugin against cachegrind.
# Usage: bench/instructions.sh [--arch amd64|arm64|armhf] [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=""
if [[ ${1:-} == --arch ]]; then
    arch=$2
    shift 2
fi
lines=${1:-150000}
dir=$(mktemp -d --tmpdir authban-instr.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cargo build --release --quiet --example gen_authlog

case $arch in
    "")
        command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
        cargo rustc --release --quiet --bin authban -- -C target-feature=+crt-static
        bin=target/release/authban
        ;;
    amd64 | arm64 | armhf)
        case $arch in
            amd64) qemu=qemu-x86_64 ;;
            arm64) qemu=qemu-aarch64 ;;
            armhf) qemu=qemu-arm ;;
        esac
        command -v "$qemu" >/dev/null || { echo "$qemu is needed: apt-get install qemu-user" >&2; exit 1; }
        gcc -shared -fPIC -O2 -o "$dir/qemu-insn.so" bench/qemu-insn.c
        if [[ $arch == amd64 ]]; then
            cargo rustc --release --quiet --bin authban -- -C target-feature=+crt-static
            bin=target/release/authban
        else
            bin=$(packaging/cross.sh build "$arch" 2>/dev/null | tail -1)
        fi
        ;;
    *) echo "instructions.sh: unknown architecture $arch (amd64, arm64 or armhf)" >&2; exit 64 ;;
esac

# The instructions `authban ARGS…` executes.
count() {
    if [[ -z $arch ]]; then
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$dir/out" \
            "$bin" "$@" >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
        grep -oP 'I\s+refs:\s+\K[0-9,]+' "$dir/err" | tr -d ,
    else
        "$qemu" -plugin "$dir/qemu-insn.so" "$bin" "$@" >/dev/null 2>"$dir/err" \
            || { cat "$dir/err" >&2; exit 1; }
        grep -oP '^insns: \K[0-9]+' "$dir/err"
    fi
}

echo "${arch:-native, cachegrind}: $bin"
for envelope in rfc3164 rfc3339; do
    target/release/examples/gen_authlog "$lines" 40000 "$envelope" > "$dir/$envelope.log"
    for format in --json table; do
        args=(check "$dir/$envelope.log")
        [[ $format == --json ]] && args=(check --json "$dir/$envelope.log")
        refs=$(count "${args[@]}")
        awk -v e="$envelope" -v f="${format#--}" -v r="$refs" -v n="$lines" \
            'BEGIN { printf "%s %-6s %7.1f M instructions (%d per line)\n", e, f, r / 1e6, r / n }'
    done
done
