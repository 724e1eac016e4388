#!/usr/bin/env bash
# Counts the instructions `authban check --json` executes over 150,000 generated lines of
# each envelope (RFC 3164 and RFC 3339), under valgrind's cachegrind: a count, unlike a
# time, is the same on a busy machine, so two builds can be compared by a 1% difference.
# Release build as the README builds it. Needs valgrind (apt-get install valgrind).
# Usage: bench/instructions.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-150000}
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
cargo rustc --release --quiet --bin authban -- -C target-feature=+crt-static
cargo build --release --quiet --example gen_authlog
dir=$(mktemp -d --tmpdir authban-instr.XXXXXX)
trap 'rm -rf "$dir"' EXIT
for envelope in rfc3164 rfc3339; do
    target/release/examples/gen_authlog "$lines" 40000 "$envelope" > "$dir/$envelope.log"
    for format in --json table; do
        args=(check "$dir/$envelope.log")
        [[ $format == --json ]] && args=(check --json "$dir/$envelope.log")
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$dir/out" \
            target/release/authban "${args[@]}" >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
        refs=$(grep -oP 'I\s+refs:\s+\K[0-9,]+' "$dir/err" | tr -d ,)
        awk -v e="$envelope" -v f="${format#--}" -v r="$refs" -v n="$lines" \
            'BEGIN { printf "%s %-6s %7.1f M instructions (%d per line)\n", e, f, r / 1e6, r / n }'
    done
done
