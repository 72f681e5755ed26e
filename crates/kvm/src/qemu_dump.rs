//! QEMU 7.2-compatible text: `x86_cpu_dump_state(cs, f, CPU_DUMP_CODE)` from
//! target/i386/cpu-dump.c, and the messages `kvm_cpu_exec` / `kvm_handle_internal_error`
//! (accel/kvm/kvm-all.c) print before it. Byte-for-byte the same layout as the samples in
//! testdata/corpus/qemu-real/.

use std::fmt::Write as _;

use kvmtriage_model::{CodeWindow, CpuState, Gpr, SegName, Segment};

use crate::memory::GuestMemory;
use crate::state;

/// Bytes shown before RIP in `Code=` (QEMU's DUMP_CODE_BYTES_BACKWARD).
pub const CODE_BYTES_BACKWARD: u64 = 20;
/// Bytes shown in total (DUMP_CODE_BYTES_TOTAL).
pub const CODE_BYTES_TOTAL: usize = 50;

/// Reads the `Code=` window as QEMU does: 50 bytes from CS.base + RIP − min(RIP, 20) through the
/// guest's page tables, `None` (QEMU's `??`) where unreadable, the marker on the byte at RIP.
/// The window has no input line (`line` 0).
pub fn read_code_window(cpu: &CpuState, mem: &GuestMemory) -> CodeWindow {
    let rip = cpu.rip.unwrap_or(0);
    let offs = rip.min(CODE_BYTES_BACKWARD);
    let start = state::qemu_code_address(cpu)
        .unwrap_or(0)
        .wrapping_sub(offs);
    CodeWindow {
        bytes: state::read_linear(cpu, mem, start, CODE_BYTES_TOTAL),
        marker: Some(offs as usize),
        line: 0,
    }
}

/// Linear address of the window's first byte: QEMU's CS.base + RIP less the bytes before the
/// marker (see [`read_code_window`]). `None` without RIP or marker.
pub fn code_window_start(cpu: &CpuState, code: &CodeWindow) -> Option<u64> {
    let marker = code.marker?;
    Some(state::qemu_code_address(cpu)?.wrapping_sub(marker as u64))
}

/// QEMU's `HF_LMA_MASK`: EFER.LMA (`x86_update_hflags()`, target/i386/cpu.c).
pub fn qemu_lma(cpu: &CpuState) -> bool {
    cpu.efer.is_some_and(|e| e & (1 << 10) != 0)
}

/// QEMU's `HF_CS64_MASK`: EFER.LMA and CS.L (`x86_update_hflags()`), which selects the 64-bit
/// register layout of the dump. This is how QEMU chooses what to print, not a mode decision:
/// the CPU mode is [`kvmtriage_model::ModeDecision::decide`]'s.
pub fn qemu_cs64(cpu: &CpuState) -> bool {
    qemu_lma(cpu) && cpu.cs().is_some_and(|cs| cs.attributes.l())
}

/// QEMU's `HF_PE_MASK`: CR0.PE, which decides whether segment lines get their decode suffix.
fn qemu_pe(cpu: &CpuState) -> bool {
    cpu.cr0.is_some_and(|c| c & 1 != 0)
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

/// One segment line (`cpu_x86_dump_seg_cache()` in target/i386/cpu-dump.c). An absent segment
/// prints as a null one.
fn dump_segment(out: &mut String, cpu: &CpuState, name: SegName) {
    let seg = cpu.segment(name).copied().unwrap_or_default();
    let flags = seg.attributes.bits();
    let label = name.name();
    if qemu_cs64(cpu) {
        let _ = write!(
            out,
            "{label:<3}={:04x} {:016x} {:08x} {:08x}",
            seg.selector,
            seg.base,
            seg.limit,
            flags & 0x00ff_ff00
        );
    } else {
        let _ = write!(
            out,
            "{label:<3}={:04x} {:08x} {:08x} {:08x}",
            seg.selector,
            seg.base as u32,
            seg.limit,
            flags & 0x00ff_ff00
        );
    }
    if qemu_pe(cpu) && seg.attributes.present() {
        segment_suffix(out, cpu, &seg);
    }
    out.push('\n');
}

/// ` DPL=n CS64 [-RA]`, ` DPL=n DS   [-WA]` or ` DPL=n TSS64-busy`.
fn segment_suffix(out: &mut String, cpu: &CpuState, seg: &Segment) {
    let flags = seg.attributes.bits();
    let _ = write!(out, " DPL={} ", seg.attributes.dpl());
    if seg.attributes.s() {
        if flags & (1 << 11) != 0 {
            let kind = if seg.attributes.l() {
                "CS64"
            } else if seg.attributes.db() {
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
            let kind = if seg.attributes.db() || qemu_lma(cpu) {
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
        let table = if qemu_lma(cpu) {
            &SYS_TYPE_LONG
        } else {
            &SYS_TYPE_LEGACY
        };
        out.push_str(table[usize::from(seg.attributes.seg_type())]);
    }
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

/// The register dump with the `Code=` line, exactly as QEMU 7.2's `x86_cpu_dump_state()` prints
/// it with CPU_DUMP_CODE (qemu-system-x86_64), from the model. Every line ends with `\n`.
///
/// QEMU always has every value; a value the model lacks prints as 0 (A20 as 1), a segment as a
/// null one. The 64-bit layout is chosen by [`qemu_cs64`], the segment suffixes by CR0.PE.
pub fn register_dump(cpu: &CpuState, code: &CodeWindow) -> String {
    let gpr = |r: Gpr| cpu.gpr(r).unwrap_or(0);
    let bit = |b: Option<bool>| u8::from(b.unwrap_or(false));
    let rip = cpu.rip.unwrap_or(0);
    let rflags = cpu.rflags.unwrap_or(0);
    let cr = |n: u8| cpu.cr(n).unwrap_or(0);
    let mut out = String::with_capacity(2048);
    let tail = format!(
        "[{}] CPL={} II={} A20={} SMM={} HLT={}",
        flag_letters(rflags),
        cpu.cpl.unwrap_or(0),
        bit(cpu.interrupt_shadow),
        u8::from(cpu.a20.unwrap_or(true)),
        bit(cpu.smm),
        bit(cpu.halted)
    );
    if qemu_cs64(cpu) {
        for row in [
            [Gpr::Rax, Gpr::Rbx, Gpr::Rcx, Gpr::Rdx],
            [Gpr::Rsi, Gpr::Rdi, Gpr::Rbp, Gpr::Rsp],
            [Gpr::R8, Gpr::R9, Gpr::R10, Gpr::R11],
            [Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15],
        ] {
            let cells: Vec<String> = row
                .iter()
                .map(|r| format!("{:<3}={:016x}", r.name64().to_ascii_uppercase(), gpr(*r)))
                .collect();
            let _ = writeln!(out, "{}", cells.join(" "));
        }
        let _ = writeln!(out, "RIP={rip:016x} RFL={:08x} {tail}", rflags as u32);
    } else {
        for row in [
            [Gpr::Rax, Gpr::Rbx, Gpr::Rcx, Gpr::Rdx],
            [Gpr::Rsi, Gpr::Rdi, Gpr::Rbp, Gpr::Rsp],
        ] {
            let cells: Vec<String> = row
                .iter()
                .map(|r| format!("{}={:08x}", r.name32().to_ascii_uppercase(), gpr(*r) as u32))
                .collect();
            let _ = writeln!(out, "{}", cells.join(" "));
        }
        let _ = writeln!(
            out,
            "EIP={:08x} EFL={:08x} {tail}",
            rip as u32, rflags as u32
        );
    }
    for name in SegName::ALL {
        dump_segment(&mut out, cpu, name);
    }
    let gdt = cpu.gdt.unwrap_or_default();
    let idt = cpu.idt.unwrap_or_default();
    if qemu_lma(cpu) {
        let _ = writeln!(out, "GDT=     {:016x} {:08x}", gdt.base, gdt.limit);
        let _ = writeln!(out, "IDT=     {:016x} {:08x}", idt.base, idt.limit);
        let _ = writeln!(
            out,
            "CR0={:08x} CR2={:016x} CR3={:016x} CR4={:08x}",
            cr(0) as u32,
            cr(2),
            cr(3),
            cr(4) as u32
        );
    } else {
        let _ = writeln!(out, "GDT=     {:08x} {:08x}", gdt.base as u32, gdt.limit);
        let _ = writeln!(out, "IDT=     {:08x} {:08x}", idt.base as u32, idt.limit);
        let _ = writeln!(
            out,
            "CR0={:08x} CR2={:08x} CR3={:08x} CR4={:08x}",
            cr(0) as u32,
            cr(2) as u32,
            cr(3) as u32,
            cr(4) as u32
        );
    }
    // qemu-system-x86_64 prints DRs with 16 digits in every mode (TARGET_FMT_lx).
    for i in 0..4 {
        let _ = write!(out, "DR{i}={:016x} ", cpu.dr[i].unwrap_or(0));
    }
    let _ = writeln!(
        out,
        "\nDR6={:016x} DR7={:016x}",
        cpu.dr[6].unwrap_or(0),
        cpu.dr[7].unwrap_or(0)
    );
    let _ = writeln!(out, "EFER={:016x}", cpu.efer.unwrap_or(0));
    out.push_str("Code=");
    out.push_str(&code.text());
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
