#!/usr/bin/env bash
# Issue 3's process benchmark: the whole `kvmtriage explain --format json` process on the origin
# dump against a bare GNU objdump of the dump's 50 code bytes, side by side in one hyperfine run.
# Prints both medians and their ratio (target: at most 1.0). Needs hyperfine and objdump.
# RUNS (per batch, default 100) and BATCHES (default 10) set the sample size.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-100}
cargo build --release --locked -q
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/kvmtriage"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The Code= bytes of the origin dump, marker removed, as a flat binary for objdump.
python3 - "$work/code.bin" <<'PY'
import sys
line = next(l for l in open("examples/origin-x2apic-timer.txt") if l.startswith("Code="))
code = bytes(int(b.strip("<>"), 16) for b in line[5:].split())
open(sys.argv[1], "wb").write(code)
PY
test "$(stat -c %s "$work/code.bin")" -eq 50
# This VM's process start-up time drifts by tens of percent over seconds, and hyperfine runs all
# of one command before the other; so run several short batches, alternating which command goes
# first, and compare the medians of all runs pooled.
batches=${BATCHES:-10}
explain="$bin explain --format json examples/origin-x2apic-timer.txt"
objdump="objdump -D -b binary -m i386:x86-64 $work/code.bin"
for i in $(seq 1 "$batches"); do
  if [ $((i % 2)) -eq 1 ]; then first=$explain; second=$objdump; else first=$objdump; second=$explain; fi
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/hf-$i.json" "$first" "$second" >/dev/null 2>&1
done
python3 - "$work" "$batches" <<'PY'
import json, statistics, sys
work, batches = sys.argv[1], int(sys.argv[2])
times = {"explain": [], "objdump": []}
for i in range(1, batches + 1):
    for r in json.load(open(f"{work}/hf-{i}.json"))["results"]:
        key = "explain" if "kvmtriage" in r["command"] else "objdump"
        times[key].extend(r["times"])
med = {k: statistics.median(v) for k, v in times.items()}
for k, label in (("explain", "kvmtriage explain --format json"), ("objdump", "objdump -D -b binary (50 bytes)")):
    print(f"{label}: median {med[k]*1e3:.3f} ms over {len(times[k])} runs (min {min(times[k])*1e3:.3f})")
print(f"ratio of medians: {med['explain']/med['objdump']:.3f}")
PY
