#!/usr/bin/env python3
"""Writes testdata/diagnose/<issue-id>/{match,near-miss}.txt: QEMU x86 dumps in the exact shape
QEMU's x86_cpu_dump_state() prints (see shared/spec/qemu-x86-dump.md), one pair per catalogue
entry. The register blocks are modelled on real dumps (the origin note, the UnixWare dump quoted in
0471a7bd1bca, corpus/real/011, 013, 015, 022, 023, 025). Re-run after changing the catalogue:
    python3 testdata/diagnose/gen_fixtures.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def flags_text(rfl):
    out = ""
    for ch, bit in (("D", 10), ("O", 11), ("S", 7), ("Z", 6), ("A", 4), ("P", 2), ("C", 0)):
        out += ch if rfl & (1 << bit) else "-"
    return out


def code_line(before, at_and_after):
    """Code= line: `before` bytes, then the marker byte and the rest (50 bytes in total)."""
    assert len(before) + len(at_and_after) == 50, (len(before), len(at_and_after))
    def b(x):
        return "??" if x is None else "%02x" % x
    parts = [b(x) for x in before] + ["<%s>" % b(at_and_after[0])] + [b(x) for x in at_and_after[1:]]
    return "Code=" + " ".join(parts)


def hexbytes(s):
    return [None if t == "??" else int(t, 16) for t in s.split()]


# --- 64-bit kernel state (origin note) --------------------------------------------------------
ORIGIN_BEFORE = hexbytes("c3 0f 21 f0 5d c3 0f 0b 0f 1f 84 00 00 00 00 00 89 f9 89 f0")
ORIGIN_AFTER = hexbytes("0f 30 0f 1f 44 00 00 c3 55 48 c1 e2 20 89 f6 48 09 d6 31 d2 48 89 e5 e8 40 bf 39 00 5d c3")


def dump64(event, rax=0x7213CC9, rcx=0x838, rdx=0, rip=0xFFFFFFFF96070964, rfl=0x46, code=None, smm=0, tr="0040 fffffe0000087000 0000206f 00008b00 DPL=0 TSS64-busy", cs="0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]"):
    before, after = code if code else (ORIGIN_BEFORE, ORIGIN_AFTER)
    lines = list(event) + [
        "RAX=%016x RBX=ffff9f30ffcd5fc0 RCX=%016x RDX=%016x" % (rax, rcx, rdx),
        "RSI=0000000007213cc9 RDI=0000000000000838 RBP=ffff9f30ffcc3f18 RSP=ffff9f30ffcc3f10",
        "R8 =0000000096ecb9b4 R9 =0000000000000005 R10=0000000000000000 R11=0000000000000020",
        "R12=000000007213bf6e R13=0000000000000000 R14=ffff9f30ffcdd0a8 R15=ffff9f30ffcdd0e8",
        "RIP=%016x RFL=%08x [%s] CPL=0 II=0 A20=1 SMM=%d HLT=0" % (rip, rfl, flags_text(rfl), smm),
        "ES =0000 0000000000000000 ffffffff 00c00000",
        "CS =" + cs,
        "SS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "DS =0000 0000000000000000 ffffffff 00c00000",
        "FS =0000 0000000000000000 ffffffff 00c00000",
        "GS =0000 ffff9f30ffcc0000 ffffffff 00c00000",
        "LDT=0000 0000000000000000 ffffffff 00c00000",
        "TR =" + tr,
        "GDT=     fffffe0000085000 0000007f",
        "IDT=     fffffe0000000000 00000fff",
        "CR0=80050033 CR2=00007fffeedffbf8 CR3=0000000135db6000 CR4=000006e0",
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 ",
        "DR6=00000000fffe0ff0 DR7=0000000000000400",
        "EFER=0000000000000d01",
        code_line(before, after),
    ]
    return "\n".join(lines) + "\n"


# --- 32-bit protected mode (UnixWare dump quoted in 0471a7bd1bca) ----------------------------------
UW_BEFORE = hexbytes("08 89 01 89 51 04 c3 8b 4c 24 08 8b 01 8b 51 04 8b 4c 24 04")
UW_AFTER = hexbytes("0f 30 c3 f7 05 a4 6d ff ff 10 00 00 00 74 03 0f 31 c3 33 c0 33 d2 c3 8d 74 26 00 0f 31 c3")


def dump32(event, cr0=0x8001003B, eax=0xFFFFFFFE, ecx=0x404, edx=0xFFFFFFFF, eip=0xC01333A5, esp=0xFFFDAB20, code=None, after_dump=()):
    before, after = code if isinstance(code, tuple) else (UW_BEFORE, UW_AFTER)
    rfl = 0x246
    lines = list(event) + [
        "EAX=%08x EBX=fffffffe ECX=%08x EDX=%08x" % (eax, ecx, edx),
        "ESI=ffffffff EDI=00000001 EBP=fffdaba4 ESP=%08x" % esp,
        "EIP=%08x EFL=%08x [%s] CPL=0 II=0 A20=1 SMM=0 HLT=0" % (eip, rfl, flags_text(rfl)),
        "ES =0108 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "CS =0100 00000000 ffffffff 00c09b00 DPL=0 CS32 [-RA]",
        "SS =0108 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "DS =0108 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "FS =0000 00000000 ffffffff 00c00000",
        "GS =0000 00000000 ffffffff 00c00000",
        "LDT=0118 c1026390 00000047 00008200 DPL=0 LDT",
        "TR =0110 ffff5af0 00000067 00008b00 DPL=0 TSS32-busy",
        "GDT=     ffff5020 000002cf",
        "IDT=     ffff52f0 000007ff",
        "CR0=%08x CR2=00000000 CR3=0100a000 CR4=00000230" % cr0,
        "DR0=00000000 DR1=00000000 DR2=00000000 DR3=00000000 ",
        "DR6=ffff0ff0 DR7=00000400",
    ]
    if code == "tcg-fatal":
        # cpu_abort() dumps with CPU_DUMP_FPU | CPU_DUMP_CCOP (compare corpus/real/013).
        lines += ["CCS=00010094 CCD=80010011 CCO=LOGICL  ", "EFER=0000000000000000",
                  "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80"]
        lines += ["FPR%d=0000000000000000 0000 FPR%d=0000000000000000 0000" % (i, i + 1) for i in (0, 2, 4, 6)]
        lines += ["XMM%02d=00000000000000000000000000000000 XMM%02d=00000000000000000000000000000000" % (i, i + 1) for i in (0, 2, 4, 6)]
    else:
        lines.append("EFER=0000000000000000")
    if not isinstance(code, str):
        lines.append(code_line(before, after))
    lines += list(after_dump)
    return "\n".join(lines) + "\n"


# --- Real mode (reset-vector / option-ROM shapes of corpus 011, 022, 025) -----------------------
def seg16(name, sel, base=None, limit=0xFFFF, attrs=0x9300):
    base = (sel << 4) if base is None else base
    return "%-3s=%04x %08x %08x %08x" % (name, sel, base, limit, attrs)


def dump16(event, eip=0xFFF0, cs=(0xF000, 0xFFFF0000), cr0=0x60000010, smm=0, ds=None, code=None, edx=0x000206C2):
    segs = [
        seg16("ES", 0),
        seg16("CS", cs[0], cs[1], 0xFFFF, 0x9B00),
        seg16("SS", 0),
        ds if ds else seg16("DS", 0),
        seg16("FS", 0),
        seg16("GS", 0),
        "LDT=0000 00000000 0000ffff 00008200",
        "TR =0000 00000000 0000ffff 00008b00",
    ]
    lines = list(event) + [
        "EAX=00000000 EBX=00000000 ECX=00000000 EDX=%08x" % edx,
        "ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000",
        "EIP=%08x EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=%d HLT=0" % (eip, smm),
    ] + segs + [
        "GDT=     00000000 0000ffff",
        "IDT=     00000000 0000ffff",
        "CR0=%08x CR2=00000000 CR3=00000000 CR4=00000000" % cr0,
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 ",
        "DR6=00000000ffff0ff0 DR7=0000000000000400",
        "EFER=0000000000000000",
    ]
    if code:
        lines.append(code_line(*code))
    return "\n".join(lines) + "\n"


def internal(sub, data, emu=False):
    ev = ["KVM internal error. Suberror: %d" % sub] + ["extra data[%d]: 0x%016x" % (i, d) for i, d in enumerate(data)]
    if emu:
        ev.append("emulation failure")
    return ev


def run_failed(text):
    return ["error: kvm run failed " + text]


def entry(hw):
    ev = ["KVM: entry failed, hardware error 0x%x" % hw]
    if hw == 0x80000021:
        ev += [
            "",
            "If you're running a guest on an Intel machine without unrestricted mode",
            "support, the failure can be most likely due to the guest entering an invalid",
            "state for Intel VT. For example, the guest maybe running in big real mode",
            "which is not supported on less recent Intel processors.",
            "",
        ]
    return ev


def insn_words(insn_bytes):
    """data[1], data[2] of an emulation failure: insn_size (15) then 15 bytes, little endian."""
    raw = bytes([15]) + bytes(insn_bytes[:15]).ljust(15, b"\0")
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


# Code windows
MOVDQA_AFTER = hexbytes("66 0f 7f 07 48 83 c7 10 48 83 e9 01 75 f0 c3 90 90 90 90 90 55 48 89 e5 41 57 41 56 41 55")
MOV_AFTER = hexbytes("89 07 48 83 c7 04 48 83 e9 01 75 f3 c3 90 90 90 90 90 90 90 55 48 89 e5 41 57 41 56 41 55")
OUT_AFTER = hexbytes("ee 0f 1f 44 00 00 c3 55 48 c1 e2 20 89 f6 48 09 d6 31 d2 48 89 e5 e8 40 bf 39 00 5d c3 90")
UNREADABLE = ([None] * 20, [None] * 30)
GUEST_RIP_64 = 0xFFFFFFFF81234560


def emu64(insn_after, with_bytes=True):
    if with_bytes:
        w1, w2 = insn_words(insn_after)
        data = [1, w1, w2, 0x31, 0, 0, 0, 0]
    else:
        data = [0, 0x30, 0, 0, 0, 0]
    return dump64(internal(1, data, emu=True), rax=0, rcx=0x10, rdx=0, rip=GUEST_RIP_64, code=(ORIGIN_BEFORE, insn_after) if insn_after else UNREADABLE)


REAL_FILLER = ([0xAF] * 20, [0x00] * 30)
REAL_CODE = (hexbytes("fa fc 31 c0 8e d8 8e c0 8e d0 bc 00 7c fb b4 0e b0 41 cd 10"), hexbytes("eb fe 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 55 aa"))

FIX = {}

# set_msr_mce
FIX["mce-ctl-bit0-clear-eperm"] = (
    dump32(run_failed("Operation not permitted")),  # WRMSR 0x404 = ffffffff:fffffffe
    dump32(run_failed("Operation not permitted"), eax=0xFFFFFFFF),  # all ones: accepted everywhere
)
FIX["mce-ctl-illegal-value-eperm"] = (
    dump32(run_failed("Operation not permitted"), eax=0x1234, edx=0),
    dump32(run_failed("Operation not permitted")),
)
FIX["mce-status-nonzero-eperm"] = (
    dump32(run_failed("Operation not permitted"), ecx=0x405, eax=1, edx=0),
    dump32(run_failed("Operation not permitted"), ecx=0x405, eax=0, edx=0),
)
FIX["negative-msr-return-eperm"] = (
    dump64(run_failed("Operation not permitted"), rcx=0x6E0, rax=0x12345678, rdx=0x1),
    dump64(run_failed("Operation not permitted"), rcx=0x404, rax=0xFFFFFFFE, rdx=0xFFFFFFFF),
)
FIX["x2apic-msr-eperm"] = (
    dump64(run_failed("Operation not permitted")),  # WRMSR 0x838 (TMICT) = 0x7213cc9, as in the origin note
    dump64(run_failed("Operation not permitted"), rcx=0x6E0, rax=0x12345678, rdx=0x1),  # TSC_DEADLINE: not x2APIC
)
FIX["eperm-not-msr"] = (
    dump64(run_failed("Operation not permitted"), code=(ORIGIN_BEFORE, OUT_AFTER), rdx=0x3F8),
    dump64(run_failed("Operation not permitted")),
)
FIX["efault-unbacked-guest-memory"] = (
    dump64(run_failed("Bad address"), code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump64(run_failed("Invalid argument"), code=(ORIGIN_BEFORE, MOV_AFTER)),
)


def sev_null_dump(event):
    lines = list(event) + [
        "EAX=0000001a EBX=00000073 ECX=00000000 EDX=00000000",
        "ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000",
        "EIP=00000000 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0",
    ] + ["%-3s=0000 00000000 00000000 00000000" % n for n in ("ES", "CS", "SS", "DS", "FS", "GS", "LDT", "TR")] + [
        "GDT=     00000000 00000000",
        "IDT=     00000000 00000000",
        "CR0=80000001 CR2=00000000 CR3=00000000 CR4=00000020",
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 ",
        "DR6=00000000ffff0ff0 DR7=0000000000000400",
        "EFER=0000000000000900",
        code_line([], [None] * 50),
    ]
    return "\n".join(lines) + "\n"


FIX["einval-sev-encrypted-state"] = (
    sev_null_dump(run_failed("Invalid argument")),
    dump64(run_failed("Invalid argument"), code=(ORIGIN_BEFORE, MOV_AFTER)),
)
FIX["einval-run-setup"] = (
    dump64(run_failed("Invalid argument"), code=(ORIGIN_BEFORE, MOV_AFTER)),
    sev_null_dump(run_failed("Invalid argument")),
)
FIX["eio-vm-bugged"] = (
    dump64(run_failed("Input/output error"), code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump64(run_failed("Cannot allocate memory"), code=(ORIGIN_BEFORE, MOV_AFTER)),
)
FIX["enomem-run"] = (
    dump64(run_failed("Cannot allocate memory"), code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump64(run_failed("Input/output error"), code=(ORIGIN_BEFORE, MOV_AFTER)),
)
FIX["enoexec-vcpu-not-runnable"] = (
    dump64(run_failed("Exec format error"), code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump64(run_failed("Invalid argument"), code=(ORIGIN_BEFORE, MOV_AFTER)),
)
# internal errors
FIX["emulation-unsupported-insn-mmio"] = (emu64(MOVDQA_AFTER), emu64(MOV_AFTER))
FIX["emulation-fetch-from-mmio"] = (emu64(None, with_bytes=False), emu64(MOV_AFTER))
BIG_DS = seg16("DS", 0, 0, 0xFFFFFFFF, 0x809300)
FIX["emulation-big-real-mode"] = (
    dump16(internal(1, [], emu=True), eip=0x1000, cs=(0x8000, 0x80000), cr0=0x10, ds=BIG_DS, code=REAL_CODE),
    dump16(internal(1, [], emu=True), eip=0x1000, cs=(0x8000, 0x80000), cr0=0x10, code=REAL_CODE),
)
FIX["emulation-filler-bytes"] = (
    dump16(internal(1, [], emu=True), eip=0x1000, cs=(0x8000, 0x80000), cr0=0x10, code=REAL_FILLER),
    dump16(internal(1, [], emu=True), eip=0x1000, cs=(0x8000, 0x80000), cr0=0x10, code=REAL_CODE),
)
FIX["emulation-exec-in-vga-window"] = (
    dump32(internal(1, [], emu=True), cr0=0x11, eax=0x800, ecx=0xC0000080, edx=0, eip=0xA0000, code=([None] * 20, [None] * 30)),
    dump32(internal(1, [], emu=True), cr0=0x11, eax=0x800, ecx=0xC0000080, edx=0, eip=0x100000, code=([None] * 20, [None] * 30)),
)
UD2_AFTER = hexbytes("0f 0b 41 ff d3 0f 1f 00 48 89 43 18 f6 83 78 02 00 00 02 74 05 e8 16 06 da 00 44 89 3d 17")
FIX["guest-ud2-trap"] = (
    dump64([], rip=GUEST_RIP_64, code=(ORIGIN_BEFORE, UD2_AFTER)),
    dump64(internal(1, [0, 0x30, 0, 0, 0, 0], emu=True), rip=GUEST_RIP_64, code=(ORIGIN_BEFORE, UD2_AFTER)),
)
FIX["simul-exception-during-delivery"] = (
    dump64(internal(2, [0x80000B0E, 0x80000B0D, 0, 3]), rip=GUEST_RIP_64, code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump32(internal(3, [0x80000B0E, 0x31, 0x182, 0xBFFF0, 1]), esp=0xC00BFFF4, code=(ORIGIN_BEFORE[:20], [0] * 30)),
)
FIX["delivery-ev-mmio"] = (
    dump32(internal(3, [0x80000B0E, 0x31, 0x182, 0xBFFF0, 1]), esp=0xC00BFFF4, code=(ORIGIN_BEFORE[:20], [0] * 30)),
    dump32(internal(3, [0x80000B0E, 0x1E, 0x3F80008, 1]), code=(ORIGIN_BEFORE[:20], [0] * 30)),
)
FIX["delivery-ev-other-exit"] = (
    dump32(internal(3, [0x80000B0E, 0x1E, 0x3F80008, 1]), code=(ORIGIN_BEFORE[:20], [0] * 30)),
    dump32(internal(3, [0x80000B0E, 0x31, 0x182, 0xBFFF0, 1]), esp=0xC00BFFF4, code=(ORIGIN_BEFORE[:20], [0] * 30)),
)
FIX["unexpected-exit-reason"] = (
    dump64(internal(4, [0x45, 3]), rip=GUEST_RIP_64, code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump64(internal(2, [0x80000B0E, 0x80000B0D, 0, 3]), rip=GUEST_RIP_64, code=(ORIGIN_BEFORE, MOV_AFTER)),
)
# entry failures
TR_AVAIL = "0040 fffffe0000087000 0000206f 00008900 DPL=0 TSS64-avl"
FIX["vmx-invalid-guest-state"] = (
    dump64(entry(0x80000021), tr=TR_AVAIL, code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump64(entry(0x80000022), code=(ORIGIN_BEFORE, MOV_AFTER)),
)
FIX["vmx-invalid-state-after-smi"] = (
    dump16(entry(0x80000021), eip=0x8000, cs=(0x3000, 0x30000), cr0=0x30, smm=1, edx=0x40),
    dump16(entry(0x80000021), eip=0x8000, cs=(0x3000, 0x30000), cr0=0x30, smm=0, edx=0x40),
)
FIX["vmx-reset-with-stale-nested-state"] = (
    dump16(entry(0x80000021), eip=0x906428E6, code=UNREADABLE),
    dump16(entry(0x80000021), eip=0xFFF0, code=UNREADABLE),
)
FIX["vmx-msr-load-fail"] = (dump64(entry(0x80000022), code=(ORIGIN_BEFORE, MOV_AFTER)), dump64(entry(0x80000021), code=(ORIGIN_BEFORE, MOV_AFTER)))
FIX["vmx-mce-during-entry"] = (dump64(entry(0x80000029), code=(ORIGIN_BEFORE, MOV_AFTER)), dump64(entry(0x80000022), code=(ORIGIN_BEFORE, MOV_AFTER)))
FIX["vmx-invalid-control-fields"] = (dump16(entry(0x7)), dump16(entry(0x8)))
FIX["vmx-invalid-host-state"] = (dump16(entry(0x8)), dump16(entry(0x7)))
FIX["svm-vmrun-invalid"] = (dump64(entry(0xFFFFFFFFFFFFFFFF), code=(ORIGIN_BEFORE, MOV_AFTER)), dump64(entry(0x80000021), code=(ORIGIN_BEFORE, MOV_AFTER)))
# other exits / TCG
LGDT_CODE = (hexbytes("89 16 08 00 65 66 0f 01 16 06 00 66 b8 01 00 00 00 0f 22 c0"), hexbytes("65 66 ff 2e 00 00 b8 10 00 00 00 8e d0 8e d8 8e c0 8e e0 8e e8 66 b8 08 00 66 ba 10 05 66"))
FIX["exception-exit-split-lock-ac"] = (
    dump16(["KVM: exception 17 exit (error code 0x0)"], eip=0x1E3, cs=(0xC000, 0xC0000), cr0=0x11, code=LGDT_CODE),
    dump16(["KVM: exception 6 exit (error code 0x0)"], eip=0x1E3, cs=(0xC000, 0xC0000), cr0=0x11, code=LGDT_CODE),
)
FIX["unknown-exit-ept-misconfig"] = (
    dump64(["KVM: unknown exit, hardware reason 31"], code=(ORIGIN_BEFORE, MOV_AFTER)),
    dump64(["KVM: unknown exit, hardware reason 2"], code=(ORIGIN_BEFORE, MOV_AFTER)),
)


def tcg32(event_before, after=()):
    kind = "tcg-fatal" if event_before else "none"
    return dump32(event_before, eax=0x11, ecx=0, edx=0x80, eip=0xF010002C, esp=0x7BEC, code=kind, after_dump=after)


FIX["tcg-triple-fault"] = (
    tcg32([], after=["Triple fault.  Halting for inspection via QEMU monitor."]),
    tcg32(["qemu: fatal: Trying to execute code outside RAM or ROM at 0xf010002c", ""]),
)
FIX["tcg-exec-outside-ram"] = (
    tcg32(["qemu: fatal: Trying to execute code outside RAM or ROM at 0xf010002c", ""]),
    tcg32(["qemu: fatal: invalid tss type", ""]),
)

for issue, (match, near) in sorted(FIX.items()):
    d = os.path.join(HERE, issue)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "match.txt"), "w") as f:
        f.write(match)
    with open(os.path.join(d, "near-miss.txt"), "w") as f:
        f.write(near)
print("wrote %d fixture pairs" % len(FIX))
