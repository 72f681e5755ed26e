#!/usr/bin/env bash
# kvmtriage scan against ripgrep on a generated fleet log (docs/performance.md, "scan").
#
#   scripts/bench-scan.sh [SIZE] [DUMPS]      (defaults: 1G 1000; e.g. 256M 250)
#
# Generates (once, cached in $BENCH_DIR, default target/bench-scan) a libvirt/journald-style log
# with corpus dumps inserted at random (scripts/gen-fleet-log.py), then reports, in one run:
#   - dumps found by `kvmtriage scan --threads 1 --format ndjson` vs. the inserted count;
#   - hyperfine: that scan vs `rg -j1 -c` for the same literals, and the throughput ratio;
#   - peak RSS of the scan (/usr/bin/time -v);
#   - --threads scaling (one file, and the log split into 4 shards);
#   - the gzip-compressed log: scan vs `zcat | rg -j1 -c`.
# Needs: python3, rg, hyperfine, /usr/bin/time, gzip. Builds the release profile.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1G}
DUMPS=${2:-1000}
DIR=${BENCH_DIR:-target/bench-scan}
mkdir -p "$DIR"
LOG="$DIR/fleet-$SIZE.log"
cargo build --release --quiet
BIN=target/release/kvmtriage
if [ ! -f "$LOG" ] || [ ! -f "$LOG.truth.json" ]; then
    python3 scripts/gen-fleet-log.py "$LOG" --size "$SIZE" --dumps "$DUMPS"
fi
[ -f "$LOG.gz" ] || gzip -1 -k -f "$LOG"
RG_ARGS=(-j1 -c -F -e 'RAX=' -e 'EAX=' -e 'kvm run failed' -e 'KVM internal error'
    -e 'KVM: entry failed' -e 'emulation failure' -e 'KVM: exception ' -e 'KVM: unknown exit')
rg_cmd="rg ${RG_ARGS[*]@Q}"

echo "== $(date -u +%FT%TZ) $(nproc) CPUs; $(uname -r); log $LOG: $(stat -c %s "$LOG") bytes, gzip $(stat -c %s "$LOG.gz") bytes"

# expected: each inserted corpus file times the dumps scan finds in it alone
expected=0
while read -r f n; do
    per=$("$BIN" scan --format ndjson "testdata/corpus/real/$f" 2>/dev/null | grep -c '"kind":"qemu-dump"' || true)
    expected=$((expected + per * n))
done < <(python3 -c 'import json,sys; [print(f, n) for f, n in json.load(open(sys.argv[1]))["files"].items()]' "$LOG.truth.json")
found=$("$BIN" scan --threads 1 --format ndjson "$LOG" 2>/dev/null | grep -c '"kind":"qemu-dump"' || true)
echo "dumps: inserted $expected, found $found $([ "$found" = "$expected" ] && echo OK || echo MISMATCH)"
echo "rg line count: $(rg "${RG_ARGS[@]}" "$LOG")"

hyperfine -N --warmup 1 --runs 5 --export-json "$DIR/plain.json" \
    -n "kvmtriage scan --threads 1" "$BIN scan --threads 1 --format ndjson $LOG" \
    -n "rg -j1 -c" "$rg_cmd $LOG" >/dev/null
python3 - "$DIR/plain.json" "$(stat -c %s "$LOG")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]; size = int(sys.argv[2])
for x in r:
    print(f"  {x['command']:<30} {x['mean']:.3f} s ± {x['stddev']:.3f}  {size / x['mean'] / 2**20:8.0f} MiB/s")
print(f"  scan throughput = {r[1]['mean'] / r[0]['mean'] * 100:.0f}% of rg's")
PY

rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
echo "peak RSS: scan --threads 1 $(rss "$BIN" scan --threads 1 --format ndjson "$LOG") KiB; rg -j1 $(rss rg "${RG_ARGS[@]}" "$LOG") KiB; scan of .gz $(rss "$BIN" scan --threads 1 --format ndjson "$LOG.gz") KiB"

# --threads: one file is read by one thread; shards of the same log scale
SH="$DIR/shards-$SIZE"
if [ ! -d "$SH" ]; then mkdir -p "$SH" && split -n l/4 -d "$LOG" "$SH/part"; fi
hyperfine -N --warmup 1 --runs 3 --export-json "$DIR/threads.json" \
    -n "1 file, --threads 1" "$BIN scan --threads 1 --format ndjson $LOG" \
    -n "1 file, --threads 2" "$BIN scan --threads 2 --format ndjson $LOG" \
    -n "4 shards, --threads 1" "$BIN scan --threads 1 --format ndjson $SH" \
    -n "4 shards, --threads 2" "$BIN scan --threads 2 --format ndjson $SH" >/dev/null
python3 - "$DIR/threads.json" <<'PY'
import json, sys
for x in json.load(open(sys.argv[1]))["results"]:
    print(f"  {x['command']:<30} {x['mean']:.3f} s ± {x['stddev']:.3f}")
PY

hyperfine --warmup 1 --runs 3 --export-json "$DIR/gz.json" \
    -n "kvmtriage scan --threads 1 (.gz)" "$BIN scan --threads 1 --format ndjson $LOG.gz" \
    -n "zcat | rg -j1 -c" "zcat $LOG.gz | $rg_cmd" >/dev/null
python3 - "$DIR/gz.json" "$(stat -c %s "$LOG")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]; size = int(sys.argv[2])
for x in r:
    print(f"  {x['command']:<34} {x['mean']:.3f} s ± {x['stddev']:.3f}  {size / x['mean'] / 2**20:6.0f} MiB/s (uncompressed)")
print(f"  scan .gz throughput = {r[1]['mean'] / r[0]['mean'] * 100:.0f}% of zcat | rg")
PY
found_gz=$("$BIN" scan --threads 1 --format ndjson "$LOG.gz" 2>/dev/null | grep -c '"kind":"qemu-dump"' || true)
echo "dumps in .gz: found $found_gz $([ "$found_gz" = "$expected" ] && echo OK || echo MISMATCH)"
