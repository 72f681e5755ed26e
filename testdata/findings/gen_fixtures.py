#!/usr/bin/env python3
"""Writes testdata/findings/<finding-id>/{match,near-miss}.txt: QEMU x86 dumps in the exact shape
QEMU's x86_cpu_dump_state() prints (target/i386/cpu-dump.c), one pair per finding rule of
crates/diagnose/src/findings.rs. `match` must produce the finding, `near-miss` differs in the one
value the rule relates and must not. Constructed by this script (the register blocks follow the
real dumps in testdata/corpus); re-run after changing a rule:
    python3 testdata/findings/gen_fixtures.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def flags_text(rfl):
    return "".join(ch if rfl & (1 << bit) else "-"
                   for ch, bit in (("D", 10), ("O", 11), ("S", 7), ("Z", 6), ("A", 4), ("P", 2), ("C", 0)))


def code_line(before, at_and_after):
    def b(x):
        return "??" if x is None else "%02x" % x
    return "Code=" + " ".join([b(x) for x in before] + ["<%s>" % b(at_and_after[0])] + [b(x) for x in at_and_after[1:]])


def hexbytes(s):
    return [None if t == "??" else int(t, 16) for t in s.split()]


KERNEL_BEFORE = hexbytes("48 89 e5 41 54 53 48 89 fb 48 8b 47 08 48 85 c0 74 0a 31 d2")
KERNEL_AFTER = hexbytes("8b 00 89 c6 48 89 df e8 10 00 00 00 5b 41 5c 5d c3 cc cc cc cc cc cc cc cc cc cc cc cc cc")


def seg64(name, text):
    return "%-3s=%s" % (name, text)


def dump64(event, rip=0xFFFFFFFF81A1C3D2, rsp=0xFFFFC90000013E38, rax=0, rdx=0, cr0=0x80050033,
           cr2=0x7F2A3C0A1000, cr3=0x10A2C4000, cr4=0x3606F0, efer=0xD01, rfl=0x246,
           cs="0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]", code=None, after=()):
    before, at = code if code else (KERNEL_BEFORE, KERNEL_AFTER)
    lines = list(event) + [
        "RAX=%016x RBX=ffff8881003c8000 RCX=0000000000000001 RDX=%016x" % (rax, rdx),
        "RSI=0000000000000087 RDI=ffffffff82a4e1c0 RBP=ffffc90000013e58 RSP=%016x" % rsp,
        "R8 =0000000000000001 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000000",
        "R12=ffffffff82a4e1c0 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000",
        "RIP=%016x RFL=%08x [%s] CPL=0 II=0 A20=1 SMM=0 HLT=0" % (rip, rfl, flags_text(rfl)),
        "ES =0000 0000000000000000 00000000 00000000",
        "CS =" + cs,
        "SS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "DS =0000 0000000000000000 00000000 00000000",
        "FS =0000 00007f2a3c8a0740 00000000 00000000",
        "GS =0000 ffff888237c00000 00000000 00000000",
        "LDT=0000 0000000000000000 00000000 00000000",
        "TR =0040 fffffe0000003000 00004087 00008b00 DPL=0 TSS64-busy",
        "GDT=     fffffe0000001000 0000007f",
        "IDT=     fffffe0000000000 00000fff",
        "CR0=%08x CR2=%016x CR3=%016x CR4=%08x" % (cr0, cr2, cr3, cr4),
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 ",
        "DR6=00000000ffff0ff0 DR7=0000000000000400",
        "EFER=%016x" % efer,
        code_line(before, at),
    ] + list(after)
    return "\n".join(lines) + "\n"


def dump32(event, eip, cs, segs="0000 00000000 0000ffff 00009300", edx=0, esp=0x6F00, cr0=0x60000010,
           cr2=0, cr3=0, cr4=0, efer=0, rfl=0x2, smm=0, ss=None, code=None, gdt="00000000 0000ffff"):
    before, at = code if code else ([0x90] * 20, [0xF4] + [0x90] * 29)
    lines = list(event) + [
        "EAX=00000000 EBX=00000000 ECX=00000000 EDX=%08x" % edx,
        "ESI=00000000 EDI=00000000 EBP=00000000 ESP=%08x" % esp,
        "EIP=%08x EFL=%08x [%s] CPL=0 II=0 A20=1 SMM=%d HLT=0" % (eip, rfl, flags_text(rfl), smm),
        "ES =" + segs,
        "CS =" + cs,
        "SS =" + (ss or segs),
        "DS =" + segs,
        "FS =" + segs,
        "GS =" + segs,
        "LDT=0000 00000000 0000ffff 00008200",
        "TR =0000 00000000 0000ffff 00008b00",
        "GDT=     " + gdt,
        "IDT=     00000000 0000ffff",
        "CR0=%08x CR2=%08x CR3=%08x CR4=%08x" % (cr0, cr2, cr3, cr4),
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 ",
        "DR6=00000000ffff0ff0 DR7=0000000000000400",
        "EFER=%016x" % efer,
        code_line(before, at),
    ]
    return "\n".join(lines) + "\n"


def extra(words):
    out = ["KVM internal error. Suberror: %d" % words[0], "extra data[0]: 0x%016x" % 0][:1]
    for i, w in enumerate(words[1]):
        out.append("extra data[%d]: 0x%016x" % (i, w))
    return out


EMU = ["KVM internal error. Suberror: 1", "emulation failure"]
RESET_CS = "f000 ffff0000 0000ffff 00009b00"

CASES = {
    # CR2 equals RIP: instruction fetch faulted.
    "code-fetch-fault": (
        dump64(EMU, cr2=0xFFFFFFFF81A1C3D2),
        dump64(EMU, cr2=0xFFFFFFFF81A1D3D2),
    ),
    # CR2 8 bytes below RSP: a push faulted.
    "stack-access-fault": (
        dump64(EMU, cr2=0xFFFFC90000013E30),
        dump64(EMU, cr2=0xFFFFC90000012E30),
    ),
    # DELIVERY_EV on an EPT misconfiguration whose GPA is the last PML4 entry of the page CR3
    # points to.
    "gpa-in-page-table": (
        dump64(extra((3, [0x80000B0E, 0x31, 0, 0x10A2C4FF8, 0])), cr3=0x10A2C4000),
        dump64(extra((3, [0x80000B0E, 0x31, 0, 0xFEE00300, 0])), cr3=0x10A2C4000),
    ),
    "reset-state": (
        dump32(EMU, eip=0xFFF0, cs=RESET_CS, edx=0x663, code=([0x00] * 20, hexbytes("ea 5b e0 00 f0 30 36 2f 32 33 2f 39 39 00 fc 00") + [0xFF] * 14)),
        dump32(EMU, eip=0xE05B, cs="f000 000f0000 0000ffff 00009b00", edx=0x663),
    ),
    # Reset RIP/CS with CR4 and EFER left from a 64-bit guest.
    "stale-state-after-reset": (
        dump32(EMU, eip=0xFFF0, cs="f000 ffff0000 0000ffff 00a09b00", edx=0x663, cr4=0x6F0, efer=0xD01),
        dump32(EMU, eip=0xFFF0, cs=RESET_CS, edx=0x663),
    ),
    # KVM enter_smm(): SMBASE 0x30000.
    "smm-entry-state": (
        dump32(EMU, eip=0x8000, cs="3000 00030000 ffffffff 00809300", segs="0000 00000000 ffffffff 00809300", cr0=0x00050032, smm=1),
        dump32(EMU, eip=0x8003, cs="3000 00030000 ffffffff 00809300", segs="0000 00000000 ffffffff 00809300", cr0=0x00050032, smm=1),
    ),
    # Real-mode code executing in the VGA window.
    "mmio-region": (
        dump32(EMU, eip=0x0010, cs="a000 000a0000 0000ffff 00009b00"),
        dump32(EMU, eip=0x0010, cs="1000 00010000 0000ffff 00009b00"),
    ),
    "filler-code": (
        dump32(EMU, eip=0x7C10, cs="0000 00000000 0000ffff 00009b00", code=([0x00] * 20, [0x00] * 30)),
        dump32(EMU, eip=0x7C10, cs="0000 00000000 0000ffff 00009b00", code=(hexbytes("fa 31 c0 8e d8 8e c0 8e d0 bc 00 7c fb be 00 7c bf 00 06 b9"), hexbytes("00 01 f3 a5 ea 1d 06 00 00 be be 07 b3 04 80 3c 80 74 0e 80 3c 00 75 1c 83 c6 10 fe cb 75"))),
    ),
    # KVM_SET_SREGS refuses CS.L=1 without EFER.LMA.
    "long-mode-cs-without-lma": (
        dump64(["Failed to put registers after init: Invalid argument"], efer=0, cr0=0x60000011, cr4=0),
        dump64(["Failed to put registers after init: Invalid argument"], efer=0xD01),
    ),
    # DELIVERY_EV with valid IDT-vectoring info on a WRMSR exit (32).
    "impossible-vectoring": (
        dump64(extra((3, [0x80000B0E, 0x20, 0, 1]))),
        dump64(extra((3, [0x80000B0E, 0x30, 0, 1]))),
    ),
    "svm-vmrun-failed": (
        dump64(["KVM: entry failed, hardware error 0xffffffff"]),
        dump64(["KVM: entry failed, hardware error 0x80000021"]),
    ),
    "not-kvm": (
        "qemu: fatal: Trying to execute code outside RAM or ROM at 0x00000000000a0000\n" + dump32([], eip=0x0000, cs="a000 000a0000 0000ffff 00009b00"),
        dump32(EMU, eip=0x0000, cs="a000 000a0000 0000ffff 00009b00"),
    ),
    # #AC on lock add [rax],ecx with RAX 4 bytes below a cache-line boundary (an 8-byte ... 4-byte
    # operand at 0x...3e spans 0x...3e-0x...41).
    "split-lock": (
        dump64(["KVM: exception 17 exit (error code 0x0)"], rax=0xFFFF88810203403E, code=(KERNEL_BEFORE, hexbytes("f0 01 08 5b 41 5c 5d c3") + [0xCC] * 22)),
        dump64(["KVM: exception 17 exit (error code 0x0)"], rax=0xFFFF888102034038, code=(KERNEL_BEFORE, hexbytes("f0 01 08 5b 41 5c 5d c3") + [0xCC] * 22)),
    ),
    "invalid-suberror": (
        dump64(["KVM internal error. Suberror: 7"]),
        dump64(["KVM internal error. Suberror: 1", "emulation failure"]),
    ),
}


def main():
    for name, (match, near) in CASES.items():
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "match.txt"), "w") as f:
            f.write(match)
        with open(os.path.join(d, "near-miss.txt"), "w") as f:
            f.write(near)


if __name__ == "__main__":
    main()
