//! QEMU 7.2-compatible text: `x86_cpu_dump_state(cs, f, CPU_DUMP_CODE)` from
//! target/i386/cpu-dump.c, and the messages `kvm_cpu_exec` / `kvm_handle_internal_error`
//! (accel/kvm/kvm-all.c) print before it. Byte-for-byte the same layout as the samples in
//! testdata/corpus/qemu-real/.

use std::fmt::Write as _;

use kvm_bindings::kvm_segment;

use crate::memory::GuestMemory;
use crate::state::CpuState;

/// Bytes shown before RIP in `Code=` (QEMU's DUMP_CODE_BYTES_BACKWARD).
pub const CODE_BYTES_BACKWARD: u64 = 20;
/// Bytes shown in total (DUMP_CODE_BYTES_TOTAL).
pub const CODE_BYTES_TOTAL: usize = 50;

/// The `Code=` window: 50 bytes from CS.base + RIP − min(RIP, 20), `None` where unreadable,
/// and the index of the byte at RIP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeWindow {
    /// Linear address of the first byte.
    pub start: u64,
    /// Bytes, `None` = QEMU's `??`.
    pub bytes: Vec<Option<u8>>,
    /// Index of the byte at RIP (the `<xx>` marker).
    pub marker: usize,
}

impl CodeWindow {
    /// Reads the window through the guest's page tables.
    pub fn read(state: &CpuState, mem: &GuestMemory) -> Self {
        let offs = state.regs.rip.min(CODE_BYTES_BACKWARD);
        let start = state.pc_linear().wrapping_sub(offs);
        Self {
            start,
            bytes: state.read_linear(mem, start, CODE_BYTES_TOTAL),
            marker: offs as usize,
        }
    }

    /// The `Code=...` line without newline.
    pub fn to_qemu_line(&self) -> String {
        let mut line = String::from("Code=");
        for (i, byte) in self.bytes.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            let text = byte.map_or_else(|| "??".to_string(), |b| format!("{b:02x}"));
            if i == self.marker {
                let _ = write!(line, "<{text}>");
            } else {
                line.push_str(&text);
            }
        }
        line
    }
}

/// QEMU's segment attribute word (`SegmentCache.flags`) as `get_seg()` in
/// target/i386/kvm/kvm.c builds it from a `kvm_segment`.
pub fn segment_flags(seg: &kvm_segment) -> u32 {
    (u32::from(seg.type_) << 8)
        | (u32::from(seg.present != 0 && seg.unusable == 0) << 15)
        | (u32::from(seg.dpl & 3) << 13)
        | (u32::from(seg.db != 0) << 22)
        | (u32::from(seg.s != 0) << 12)
        | (u32::from(seg.l != 0) << 21)
        | (u32::from(seg.g != 0) << 23)
        | (u32::from(seg.avl != 0) << 20)
}

const SYS_TYPE_LEGACY: [&str; 16] = [
    "Reserved",
    "TSS16-avl",
    "LDT",
    "TSS16-busy",
    "CallGate16",
    "TaskGate",
    "IntGate16",
    "TrapGate16",
    "Reserved",
    "TSS32-avl",
    "Reserved",
    "TSS32-busy",
    "CallGate32",
    "Reserved",
    "IntGate32",
    "TrapGate32",
];
const SYS_TYPE_LONG: [&str; 16] = [
    "<hiword>",
    "Reserved",
    "LDT",
    "Reserved",
    "Reserved",
    "Reserved",
    "Reserved",
    "Reserved",
    "Reserved",
    "TSS64-avl",
    "Reserved",
    "TSS64-busy",
    "CallGate64",
    "Reserved",
    "IntGate64",
    "TrapGate64",
];

fn dump_segment(out: &mut String, state: &CpuState, name: &str, seg: &kvm_segment) {
    let flags = segment_flags(seg);
    if state.cs64() {
        let _ = write!(
            out,
            "{name:<3}={:04x} {:016x} {:08x} {:08x}",
            seg.selector,
            seg.base,
            seg.limit,
            flags & 0x00ff_ff00
        );
    } else {
        let _ = write!(
            out,
            "{name:<3}={:04x} {:08x} {:08x} {:08x}",
            seg.selector,
            seg.base as u32,
            seg.limit,
            flags & 0x00ff_ff00
        );
    }
    if state.protected() && flags & (1 << 15) != 0 {
        let _ = write!(out, " DPL={} ", (flags >> 13) & 3);
        if flags & (1 << 12) != 0 {
            if flags & (1 << 11) != 0 {
                let kind = if flags & (1 << 21) != 0 {
                    "CS64"
                } else if flags & (1 << 22) != 0 {
                    "CS32"
                } else {
                    "CS16"
                };
                let _ = write!(
                    out,
                    "{kind} [{}{}",
                    if flags & (1 << 10) != 0 { 'C' } else { '-' },
                    if flags & (1 << 9) != 0 { 'R' } else { '-' }
                );
            } else {
                let kind = if flags & (1 << 22) != 0 || state.long_mode() {
                    "DS  "
                } else {
                    "DS16"
                };
                let _ = write!(
                    out,
                    "{kind} [{}{}",
                    if flags & (1 << 10) != 0 { 'E' } else { '-' },
                    if flags & (1 << 9) != 0 { 'W' } else { '-' }
                );
            }
            let _ = write!(out, "{}]", if flags & (1 << 8) != 0 { 'A' } else { '-' });
        } else {
            let table = if state.long_mode() {
                &SYS_TYPE_LONG
            } else {
                &SYS_TYPE_LEGACY
            };
            out.push_str(table[((flags >> 8) & 0xf) as usize]);
        }
    }
    out.push('\n');
}

fn flag_letters(rflags: u64) -> String {
    [
        (10, 'D'),
        (11, 'O'),
        (7, 'S'),
        (6, 'Z'),
        (4, 'A'),
        (2, 'P'),
        (0, 'C'),
    ]
    .iter()
    .map(|&(bit, letter)| {
        if rflags & (1 << bit) != 0 {
            letter
        } else {
            '-'
        }
    })
    .collect()
}

/// The register dump with the `Code=` line, exactly as QEMU 7.2 prints it with CPU_DUMP_CODE
/// (qemu-system-x86_64, A20 enabled). Every line ends with `\n`.
pub fn register_dump(state: &CpuState, code: &CodeWindow) -> String {
    let r = &state.regs;
    let s = &state.sregs;
    let mut out = String::with_capacity(2048);
    let tail = format!(
        "[{}] CPL={} II={} A20=1 SMM={} HLT={}",
        flag_letters(r.rflags),
        state.cpl(),
        u8::from(state.interrupt_shadow),
        u8::from(state.smm),
        u8::from(state.halted)
    );
    if state.cs64() {
        let _ = writeln!(
            out,
            "RAX={:016x} RBX={:016x} RCX={:016x} RDX={:016x}",
            r.rax, r.rbx, r.rcx, r.rdx
        );
        let _ = writeln!(
            out,
            "RSI={:016x} RDI={:016x} RBP={:016x} RSP={:016x}",
            r.rsi, r.rdi, r.rbp, r.rsp
        );
        let _ = writeln!(
            out,
            "R8 ={:016x} R9 ={:016x} R10={:016x} R11={:016x}",
            r.r8, r.r9, r.r10, r.r11
        );
        let _ = writeln!(
            out,
            "R12={:016x} R13={:016x} R14={:016x} R15={:016x}",
            r.r12, r.r13, r.r14, r.r15
        );
        let _ = writeln!(out, "RIP={:016x} RFL={:08x} {tail}", r.rip, r.rflags as u32);
    } else {
        let _ = writeln!(
            out,
            "EAX={:08x} EBX={:08x} ECX={:08x} EDX={:08x}",
            r.rax as u32, r.rbx as u32, r.rcx as u32, r.rdx as u32
        );
        let _ = writeln!(
            out,
            "ESI={:08x} EDI={:08x} EBP={:08x} ESP={:08x}",
            r.rsi as u32, r.rdi as u32, r.rbp as u32, r.rsp as u32
        );
        let _ = writeln!(
            out,
            "EIP={:08x} EFL={:08x} {tail}",
            r.rip as u32, r.rflags as u32
        );
    }
    for (name, seg) in [
        ("ES", &s.es),
        ("CS", &s.cs),
        ("SS", &s.ss),
        ("DS", &s.ds),
        ("FS", &s.fs),
        ("GS", &s.gs),
        ("LDT", &s.ldt),
        ("TR", &s.tr),
    ] {
        dump_segment(&mut out, state, name, seg);
    }
    let d = &state.debugregs;
    if state.long_mode() {
        let _ = writeln!(out, "GDT=     {:016x} {:08x}", s.gdt.base, s.gdt.limit);
        let _ = writeln!(out, "IDT=     {:016x} {:08x}", s.idt.base, s.idt.limit);
        let _ = writeln!(
            out,
            "CR0={:08x} CR2={:016x} CR3={:016x} CR4={:08x}",
            s.cr0 as u32, s.cr2, s.cr3, s.cr4 as u32
        );
    } else {
        let _ = writeln!(
            out,
            "GDT=     {:08x} {:08x}",
            s.gdt.base as u32, s.gdt.limit
        );
        let _ = writeln!(
            out,
            "IDT=     {:08x} {:08x}",
            s.idt.base as u32, s.idt.limit
        );
        let _ = writeln!(
            out,
            "CR0={:08x} CR2={:08x} CR3={:08x} CR4={:08x}",
            s.cr0 as u32, s.cr2 as u32, s.cr3 as u32, s.cr4 as u32
        );
    }
    // qemu-system-x86_64 prints DRs with 16 digits in every mode (TARGET_FMT_lx).
    for (i, dr) in d.db.iter().enumerate() {
        let _ = write!(out, "DR{i}={dr:016x} ");
    }
    let _ = writeln!(out, "\nDR6={:016x} DR7={:016x}", d.dr6, d.dr7);
    let _ = writeln!(out, "EFER={:016x}", s.efer);
    out.push_str(&code.to_qemu_line());
    out.push('\n');
    out
}

/// The C library's message for an errno, as QEMU's `strerror(-ret)` prints it.
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(pos) => text[..pos].to_string(),
        None => text,
    }
}

/// `error: kvm run failed <strerror>` (accel/kvm/kvm-all.c, `kvm_cpu_exec`).
pub fn kvm_run_failed_line(errno: i32) -> String {
    format!("error: kvm run failed {}\n", strerror(errno))
}

/// `KVM internal error. Suberror: N`, the `extra data[i]` lines and, for suberror 1,
/// `emulation failure` (accel/kvm/kvm-all.c, `kvm_handle_internal_error`, QEMU 7.2 format).
pub fn internal_error_lines(suberror: u32, data: &[u64]) -> String {
    let mut out = format!("KVM internal error. Suberror: {suberror}\n");
    for (i, word) in data.iter().enumerate() {
        let _ = writeln!(out, "extra data[{i}]: 0x{word:016x}");
    }
    // KVM_INTERNAL_ERROR_EMULATION = 1 (include/uapi/linux/kvm.h).
    if suberror == 1 {
        out.push_str("emulation failure\n");
    }
    out
}

/// `KVM: entry failed, hardware error 0x…` (target/i386/kvm/kvm.c, `kvm_arch_handle_exit`).
pub fn entry_failed_line(reason: u64) -> String {
    format!("KVM: entry failed, hardware error 0x{reason:x}\n")
}
