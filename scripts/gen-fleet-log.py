#!/usr/bin/env python3
"""Generate a libvirt/journald-style host log with QEMU dumps inserted at random.

    scripts/gen-fleet-log.py OUT [--size 1G] [--dumps N] [--seed S] [--corpus DIR]

Noise: syslog-style journal lines (`Nov 28 08:07:41 hv03 libvirtd[1234]: ...`) and libvirt
QEMU-log lines (`2026-11-28 08:07:41.123+0000: ...`), none holding a scan literal. Inserted:
whole files of the dump corpus (testdata/corpus/real/NNN.txt), each preceded by a timestamped
libvirt line. Writes OUT and OUT.truth.json: how many times each corpus file was inserted (the
expected dump count is that times the dumps `kvmtriage scan` finds in the file alone;
scripts/bench-scan.sh computes it).
"""
import argparse, json, os, random, sys

def size(s):
    m = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * m[s[-1].upper()]) if s[-1].upper() in m else int(s)

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--size", default="1G")
ap.add_argument("--dumps", type=int, default=1000)
ap.add_argument("--seed", type=int, default=11)
ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "testdata", "corpus", "real"))
a = ap.parse_args()
rnd = random.Random(a.seed)
target = size(a.size)

files = sorted(f for f in os.listdir(a.corpus) if f.endswith(".txt"))
dumps = {f: open(os.path.join(a.corpus, f), encoding="utf-8", errors="replace").read() for f in files}

hosts = [f"hv{n:02d}" for n in range(1, 17)]
progs = ["libvirtd[1834]", "systemd[1]", "kernel", "qemu-kvm[40211]", "virtlogd[902]", "sshd[7781]", "CROND[5120]"]
msgs = [
    "internal error: client socket is closed",
    "Started Session 4217 of user root.",
    "virNetSocketReadWire:1793 : End of file while reading data: Input/output error",
    "kvm: vcpu 3 received signal, rescheduling",
    "audit: type=1400 audit(1764317261.114:812): apparmor=\"STATUS\" operation=\"profile_replace\"",
    "br0: port 4(vnet12) entered forwarding state",
    "Domain id=412 is tainted: high-privileges",
    "pam_unix(sshd:session): session opened for user ops by (uid=0)",
    "device vnet12 entered promiscuous mode",
    "qemuProcessReportLogError:2051 : internal error: process exited while connecting to monitor",
    "Reloading.",
    "migration of domain guest-17 completed in 2381 ms, downtime 41 ms",
    "char device redirected to /dev/pts/7 (label charserial0)",
    "virtio-net: guest announced, queue pairs 4",
]
libvirt_msgs = [
    "starting up libvirt version: 9.0.0, qemu version: 7.2.0, kernel: 6.1.0-18-amd64, hostname: hv03",
    "LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/var/lib/libvirt/qemu/domain-412-guest-17",
    "shutting down, reason=destroyed",
    "qemu-system-x86_64: terminating on signal 15 from pid 1834 (/usr/sbin/libvirtd)",
    "2026-11-28T08:07:41.114829Z qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.01H:ECX.vmx [bit 5]",
]
MON = ["Nov"]

t0 = 1795853261  # 2026-11-28T08:07:41Z
written = 0
count = {}
step = max(1, target // max(1, a.dumps))
next_dump = rnd.randrange(step // 2, step) if a.dumps else None
inserted = 0
with open(a.out, "w", encoding="utf-8", newline="\n") as out:
    t = t0
    buf = []
    bl = 0
    while written + bl < target:
        t += rnd.random() * 0.02
        if rnd.random() < 0.8:
            tm = __import__("time").gmtime(int(t))
            line = f"Nov {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {rnd.choice(hosts)} {rnd.choice(progs)}: {rnd.choice(msgs)}\n"
        else:
            tm = __import__("time").gmtime(int(t))
            line = f"2026-11-{tm.tm_mday:02d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}.{int((t % 1) * 1000):03d}+0000: {rnd.choice(libvirt_msgs)}\n"
        buf.append(line)
        bl += len(line)
        if next_dump is not None and inserted < a.dumps and written + bl >= next_dump:
            f = rnd.choice(files)
            text = dumps[f]
            if not text.endswith("\n"):
                text += "\n"
            buf.append(text)
            bl += len(text)
            count[f] = count.get(f, 0) + 1
            inserted += 1
            next_dump += step
        if bl > 1 << 20:
            out.write("".join(buf))
            written += bl
            buf, bl = [], 0
    out.write("".join(buf))
    written += bl
json.dump({"bytes": written, "inserted": inserted, "files": count}, open(a.out + ".truth.json", "w"), indent=1)
print(f"{a.out}: {written} bytes, {inserted} corpus files inserted", file=sys.stderr)
