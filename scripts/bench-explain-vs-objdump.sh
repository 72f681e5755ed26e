#!/usr/bin/env bash
# Issue 3's process benchmark: the whole `kvmtriage explain --format json` process on the origin
# dump against a bare GNU objdump of the dump's 50 code bytes, side by side in one hyperfine run.
# Prints both medians and their ratio (target: at most 1.0). Needs hyperfine and objdump.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1000}
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
hyperfine -N --warmup 50 --runs "$runs" --export-json "$work/hf.json" \
  "$bin explain --format json examples/origin-x2apic-timer.txt" \
  "objdump -D -b binary -m i386:x86-64 $work/code.bin" >&2
python3 - "$work/hf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
k, o = r[0], r[1]
print(f"kvmtriage explain --format json: median {k['median']*1e3:.3f} ms (mean {k['mean']*1e3:.3f}, min {k['min']*1e3:.3f})")
print(f"objdump -D -b binary (50 bytes): median {o['median']*1e3:.3f} ms (mean {o['mean']*1e3:.3f}, min {o['min']*1e3:.3f})")
print(f"ratio of medians: {k['median']/o['median']:.3f}")
PY
