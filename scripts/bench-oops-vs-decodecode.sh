#!/usr/bin/env bash
# The process benchmark of issue 10: the whole `kvmtriage explain --format json` process on a
# published kernel oops (testdata/corpus/real/030.txt: read, titled, Code: line decoded) against
# the kernel's scripts/decodecode on the same Code: line, side by side in hyperfine
# (target: explain at least 50 x faster).
#
# decodecode comes from Debian's linux-source (.ci/run extracts it to target/oracles/scripts/);
# set DECODECODE to use another copy. Needs hyperfine, binutils (as, objdump) and bash.
# RUNS (per batch, default 20) and BATCHES (default 4) set the sample size.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
batches=${BATCHES:-4}
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
decodecode=${DECODECODE:-$target_dir/oracles/scripts/decodecode}
test -f "$decodecode" || { echo "no decodecode at $decodecode" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# KVMTRIAGE_BIN: measure that binary instead of building the release-cli profile.
if [ -n "${KVMTRIAGE_BIN:-}" ]; then
  cp "$KVMTRIAGE_BIN" "$work/kvmtriage"
else
  cargo build --profile release-cli --locked -q --bin kvmtriage
  cp "$target_dir/release-cli/kvmtriage" "$work/kvmtriage"
fi
input=testdata/corpus/real/030.txt
# The same Code: line for decodecode: the oops' window as kvmtriage read it (the mail wrapped it
# over three quoted lines; decodecode needs it on one).
"$work/kvmtriage" explain --format json "$input" | python3 -c '
import json, sys
o = json.load(sys.stdin)["oopses"][0]
print("Code: " + o["code"]["text"])' > "$work/code.txt"
cat "$work/code.txt"
{ bash "$decodecode" < "$work/code.txt" || true; } | grep -F -- "<-- trapping instruction"
# decodecode always exits 1 (its EXIT trap), hence -i. It reads standard input and hyperfine 1.15
# cannot redirect it: both commands go
# through the same `bash -c 'exec …'` so that each pays the same extra shell start.
commands=("bash -c 'exec $work/kvmtriage explain --format json $input'" "bash -c 'exec bash $decodecode < $work/code.txt'")
for i in $(seq 1 "$batches"); do
  if [ $((i % 2)) -eq 1 ]; then order=("${commands[@]}"); else order=("${commands[1]}" "${commands[0]}"); fi
  hyperfine -N -i --warmup 3 --runs "$runs" --export-json "$work/hf-$i.json" "${order[@]}" >/dev/null 2>&1
done
python3 - "$work" "$batches" <<'PY'
import json, statistics, sys
work, batches = sys.argv[1], int(sys.argv[2])
times = {}
for i in range(1, batches + 1):
    for r in json.load(open(f"{work}/hf-{i}.json"))["results"]:
        key = "decodecode" if "decodecode" in r["command"] else "explain"
        times.setdefault(key, []).extend(r["times"])
e, d = statistics.median(times["explain"]), statistics.median(times["decodecode"])
print(f"explain --format json (release-cli): median {e*1e3:.2f} ms over {len(times['explain'])} runs")
print(f"scripts/decodecode, same Code: line: median {d*1e3:.2f} ms over {len(times['decodecode'])} runs")
print(f"decodecode / explain: {d/e:.1f} x")
PY
