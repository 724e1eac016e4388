#!/usr/bin/env bash
# Measures `authban check` over a generated 1,000,000-line auth log (~120 MB), one core,
# release build, output discarded; compares with `grep -cF` over the same file. Prints the
# rate by mean wall-clock time and by mean CPU time (user + system).
# Usage: bench/check.sh [LINES]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
# The binary as the README builds it (static), then the generator.
cargo rustc --release --quiet --bin authban -- -C target-feature=+crt-static
cargo build --release --quiet --example gen_authlog
log=$(mktemp --tmpdir authban-bench.XXXXXX.log)
trap 'rm -f "$log" "$log.count"' EXIT
target/release/examples/gen_authlog "$lines" > "$log"
size=$(stat -c %s "$log")
echo "input: $lines lines, $((size / 1000000)) MB"
# taskset pins to one core: the figure is per core.
hyperfine --warmup 2 --runs 10 --export-json /tmp/authban-bench.json \
  "taskset -c 0 target/release/authban check --json $log > /dev/null" \
  "taskset -c 0 target/release/authban check $log > /dev/null" \
  "taskset -c 0 grep -cF 'Failed password' $log > $log.count"
# Wall time suffers when other work shares the core; CPU time (user + system) much less,
# so both are shown: on a busy machine, compare the CPU-time figures.
uptime
python3 - "$size" <<'PY'
import json, sys
size = int(sys.argv[1])
print("  by wall time  by CPU time (means over the runs)")
for r in json.load(open("/tmp/authban-bench.json"))["results"]:
    wall = size / r["mean"] / 1e6
    cpu = size / (r["user"] + r["system"]) / 1e6
    print(f"{wall:8.0f} MB/s {cpu:8.0f} MB/s  {r['command']}")
PY
