#!/usr/bin/env bash
# Measures `authban check` over a generated 1,000,000-line auth log (~120 MB), one core,
# release build, output discarded; compares with `grep -cF` over the same file.
# Usage: bench/check.sh [LINES]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
cargo build --release --quiet --bin authban --example gen_authlog
log=$(mktemp --tmpdir authban-bench.XXXXXX.log)
trap 'rm -f "$log"' EXIT
target/release/examples/gen_authlog "$lines" > "$log"
size=$(stat -c %s "$log")
echo "input: $lines lines, $((size / 1000000)) MB"
# taskset pins to one core: the figure is per core.
hyperfine --warmup 2 --runs 10 --export-json /tmp/authban-bench.json \
  "taskset -c 0 target/release/authban check --json $log > /dev/null" \
  "taskset -c 0 target/release/authban check $log > /dev/null" \
  "taskset -c 0 grep -cF 'Failed password' $log"
python3 - "$size" <<'PY'
import json, sys
size = int(sys.argv[1])
for r in json.load(open("/tmp/authban-bench.json"))["results"]:
    print(f"{size / r['mean'] / 1e6:8.0f} MB/s  {r['command']}")
PY
