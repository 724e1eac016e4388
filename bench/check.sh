#!/usr/bin/env bash
# Measures `authban check` over a generated 1,000,000-line auth log (~120 MB), one core
# (taskset), release build as the README builds it, output discarded; and `grep -cF` over
# the same file, for scale, with the ratio of their CPU times. Each command runs RUNS times, interleaved, and its CPU time (user +
# system, from getrusage) is taken per run: on a shared VM wall time mostly measures the
# neighbours. Prints the median and the best run of each.
# Usage: bench/check.sh [LINES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
runs=${2:-10}
# The binary as the README builds it (static), then the generator.
cargo rustc --release --quiet --bin authban -- -C target-feature=+crt-static
cargo build --release --quiet --example gen_authlog
log=$(mktemp --tmpdir authban-bench.XXXXXX.log)
trap 'rm -f "$log" "$log.out"' EXIT
target/release/examples/gen_authlog "$lines" > "$log"
echo "input: $lines lines, $(( $(stat -c %s "$log") / 1000000 )) MB; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$log" "$runs" <<'PY'
import os, resource, statistics, subprocess, sys
log, runs = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(log)
commands = [
    ("authban check --json", ["target/release/authban", "check", "--json", log]),
    ("authban check (table)", ["target/release/authban", "check", log]),
    ("grep -cF 'Failed password'", ["grep", "-cF", "Failed password", log]),
]
times = {name: [] for name, _ in commands}
for _ in range(runs):
    for name, argv in commands:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        # authban's output goes to /dev/null (the figure is parsing and formatting, not
        # the page cache); grep's to a file, as grep stops at the first match when its
        # output is /dev/null, since nothing would be seen.
        with open(log + ".out" if argv[0] == "grep" else os.devnull, "wb") as out:
            subprocess.run(["taskset", "-c", "0", *argv], stdout=out,
                           stderr=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
print(f"CPU time per run, {runs} runs each:  median        best")
for name, _ in commands:
    t = times[name]
    med, best = statistics.median(t), min(t)
    print(f"  {name:28} {size / med / 1e6:6.0f} MB/s {size / best / 1e6:6.0f} MB/s")
# The ratio to grep, run by run (each authban run against the grep run beside it), is what
# stays comparable across machines and neighbours.
grep_t = times["grep -cF 'Failed password'"]
for name in ("authban check --json", "authban check (table)"):
    ratios = [a / g for a, g in zip(times[name], grep_t) if g > 0]
    print(f"  {name:28} {statistics.median(ratios):.2f}x the CPU time of grep -cF (median of per-run ratios)")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
