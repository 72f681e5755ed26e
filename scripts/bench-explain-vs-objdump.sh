#!/usr/bin/env bash
# The process benchmark of issue 8: the whole `kvmtriage explain --format json` process on the
# origin dump against a bare GNU objdump of the dump's 50 code bytes, side by side in one
# hyperfine run (target: explain's median at most 1.3 x objdump's).
#
# Two builds of kvmtriage are measured: the `release-cli` profile (the tuned command-line
# artifact: fat LTO, one codegen unit, panic=abort, non-PIE link; see Cargo.toml and build.rs)
# and the plain `release` profile (unwinding, PIE, default LTO). Prints each one's median, the
# objdump median and the ratios. Needs hyperfine and objdump.
# RUNS (per batch, default 100) and BATCHES (default 10) set the sample size; PROFILES (default
# "release-cli release") chooses the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-100}
batches=${BATCHES:-10}
profiles=${PROFILES:-release-cli release}
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
commands=()
for profile in $profiles; do
  cargo build --profile "$profile" --locked -q --bin kvmtriage
  # A copy per profile: the command line names the profile in hyperfine's results.
  cp "$target_dir/$profile/kvmtriage" "$work/kvmtriage-$profile"
  commands+=("$work/kvmtriage-$profile explain --format json examples/origin-x2apic-timer.txt")
done
# The Code= bytes of the origin dump, marker removed, as a flat binary for objdump.
python3 - "$work/code.bin" <<'PY'
import sys
line = next(l for l in open("examples/origin-x2apic-timer.txt") if l.startswith("Code="))
code = bytes(int(b.strip("<>"), 16) for b in line[5:].split())
open(sys.argv[1], "wb").write(code)
PY
test "$(stat -c %s "$work/code.bin")" -eq 50
commands+=("objdump -D -b binary -m i386:x86-64 $work/code.bin")
# This VM's process start-up time drifts by tens of percent over seconds, and hyperfine runs all
# of one command before the next; so run several short batches, reversing the order of the
# commands every other batch, and compare the medians of all runs pooled.
for i in $(seq 1 "$batches"); do
  if [ $((i % 2)) -eq 1 ]; then
    order=("${commands[@]}")
  else
    order=()
    for ((j = ${#commands[@]} - 1; j >= 0; j--)); do order+=("${commands[$j]}"); done
  fi
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/hf-$i.json" "${order[@]}" >/dev/null 2>&1
done
python3 - "$work" "$batches" <<'PY'
import json, statistics, sys
work, batches = sys.argv[1], int(sys.argv[2])
times = {}
for i in range(1, batches + 1):
    for r in json.load(open(f"{work}/hf-{i}.json"))["results"]:
        program = r["command"].split()[0].rsplit("/", 1)[-1]
        times.setdefault(program, []).extend(r["times"])
objdump = statistics.median(times["objdump"])
for program, t in times.items():
    label = "objdump -D -b binary (50 bytes)" if program == "objdump" else \
        f"explain --format json, profile {program.removeprefix('kvmtriage-')}"
    med = statistics.median(t)
    print(f"{label}: median {med*1e3:.3f} ms over {len(t)} runs (min {min(t)*1e3:.3f})"
          + ("" if program == "objdump" else f", ratio to objdump {med/objdump:.3f}"))
PY
