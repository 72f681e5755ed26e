//! The built-in scenario catalogue: small guest programs assembled at run time with
//! iced-x86's `CodeAssembler`, each starting at [`layout::CODE`] in its CPU mode.

use iced_x86::code_asm::*;

use crate::error::{Error, Result};
use crate::machine::{layout, ports, CpuMode};
use crate::policy::DeniedRange;

/// One scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Name used on the command line.
    pub name: &'static str,
    /// Mode the guest starts in.
    pub mode: CpuMode,
    /// One-line description for `--list`.
    pub summary: &'static str,
    /// What a VMM MSR filter of the scenario denies (answered with #GP).
    pub denied: &'static [DeniedRange],
    build: fn(&mut CodeAssembler) -> std::result::Result<(), IcedError>,
}

impl Scenario {
    /// Assembles the guest program for address [`layout::CODE`].
    pub fn assemble(&self) -> Result<Vec<u8>> {
        let err = |e: IcedError| Error::Assemble {
            scenario: self.name.to_string(),
            message: e.to_string(),
        };
        let mut a = CodeAssembler::new(self.mode.bitness()).map_err(err)?;
        (self.build)(&mut a).map_err(err)?;
        let ip = match self.mode {
            CpuMode::Real => layout::CODE & 0xffff,
            _ => layout::CODE,
        };
        a.assemble(ip).map_err(err)
    }
}

type AsmResult = std::result::Result<(), IcedError>;

/// Writes `text` to the debug console, one `out` per byte.
fn print(a: &mut CodeAssembler, text: &str) -> AsmResult {
    for byte in text.bytes() {
        a.mov(al, byte as u32)?;
        a.out(ports::CONSOLE as u32, al)?;
    }
    Ok(())
}

/// `hlt` forever (the VMM stops at the first HLT exit).
fn stop(a: &mut CodeAssembler) -> AsmResult {
    let mut again = a.create_label();
    a.set_label(&mut again)?;
    a.hlt()?;
    a.jmp(again)
}

/// Linux's `native_write_msr` as compiled in the origin note's kernel, with the 16 bytes of
/// the preceding function and 22 of the following one, so the Code= window matches the note.
fn native_write_msr(a: &mut CodeAssembler, entry: &mut CodeLabel) -> AsmResult {
    // Tail of the previous function: ret; mov rax,dr6; pop rbp; ret; ud2; nopl 0(%rax,%rax,1).
    a.ret()?;
    a.db(&[0x0f, 0x21, 0xf0])?;
    a.pop(rbp)?;
    a.ret()?;
    a.ud2()?;
    a.db(&[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00])?;
    a.set_label(entry)?;
    a.mov(ecx, edi)?;
    a.mov(eax, esi)?;
    a.wrmsr()?;
    a.db(&[0x0f, 0x1f, 0x44, 0x00, 0x00])?; // nopl 0x0(%rax,%rax,1): a patched-out tracepoint
    a.ret()?;
    // Start of the next function (never executed).
    a.db(&[
        0x55, 0x48, 0xc1, 0xe2, 0x20, 0x89, 0xf6, 0x48, 0x09, 0xd6, 0x31, 0xd2, 0x48, 0x89, 0xe5,
        0xe8, 0x40, 0xbf, 0x39, 0x00, 0x5d, 0xc3,
    ])
}

/// Number of x2APIC timer writes the origin scenario performs.
pub const ORIGIN_TIMER_WRITES: u32 = 100;

fn origin_x2apic_timer(a: &mut CodeAssembler) -> AsmResult {
    let mut write_msr = a.create_label();
    let mut again = a.create_label();
    print(a, "origin-x2apic-timer: programming the x2APIC timer\n")?;
    // Like a 64-bit Linux kernel: null ES/DS/FS/GS (only CS and SS matter in long mode).
    a.xor(eax, eax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(fs, ax)?;
    a.mov(gs, ax)?;
    // Register values of the origin note's dump where they are not pointers.
    a.mov(r8, 0x96ec_b9b4u64)?;
    a.mov(r9, 5u64)?;
    a.mov(r11, 0x20u64)?;
    a.mov(r12, 0x7213_bf6eu64)?;
    a.xor(r13, r13)?;
    a.mov(r14d, ORIGIN_TIMER_WRITES)?;
    a.mov(rbp, layout::STACK_TOP - 0x100)?;
    a.set_label(&mut again)?;
    a.mov(edi, 0x838u32)?; // IA32_X2APIC_TMICT (initial count)
    a.mov(esi, 0x0721_3cc9u32)?;
    a.xor(edx, edx)?;
    a.call(write_msr)?;
    a.dec(r14d)?;
    a.jnz(again)?;
    print(a, "origin-x2apic-timer: all timer writes done\n")?;
    stop(a)?;
    native_write_msr(a, &mut write_msr)
}

fn wrmsr_then_report(a: &mut CodeAssembler, index: u32, value: u64, label: &str) -> AsmResult {
    print(a, &format!("{label}: wrmsr {index:#x} <- {value:#x}\n"))?;
    a.mov(ecx, index)?;
    a.mov(eax, value as u32)?;
    a.mov(edx, (value >> 32) as u32)?;
    a.wrmsr()?;
    print(a, &format!("{label}: wrmsr accepted\n"))?;
    stop(a)
}

fn unixware_mc1_ctl(a: &mut CodeAssembler) -> AsmResult {
    // UnixWare clears MC1_CTL bit 0 to ignore correctable single-bit ECC errors.
    wrmsr_then_report(a, 0x404, 0xffff_ffff_ffff_fffe, "unixware-mc1-ctl")
}

fn mci_ctl_illegal(a: &mut CodeAssembler) -> AsmResult {
    wrmsr_then_report(a, 0x404, 0x1234, "mci-ctl-illegal")
}

fn mci_status_nonzero(a: &mut CodeAssembler) -> AsmResult {
    wrmsr_then_report(a, 0x405, 1, "mci-status-nonzero")
}

fn unknown_msr_write(a: &mut CodeAssembler) -> AsmResult {
    wrmsr_then_report(a, 0xdead_beef, 0x1234, "unknown-msr-write")
}

fn filtered_msr(a: &mut CodeAssembler) -> AsmResult {
    // IA32_SYSENTER_CS: KVM implements it, the scenario's VMM filter denies guest writes.
    wrmsr_then_report(a, 0x174, 0x10, "filtered-msr")
}

fn unknown_msr_read(a: &mut CodeAssembler) -> AsmResult {
    print(a, "unknown-msr-read: rdmsr 0xdeadbeef\n")?;
    a.mov(ecx, 0xdead_beefu32)?;
    a.rdmsr()?;
    print(a, "unknown-msr-read: rdmsr returned\n")?;
    stop(a)
}

fn x87_mmio(a: &mut CodeAssembler) -> AsmResult {
    print(a, "x87-mmio: flds from unbacked memory\n")?;
    a.fld(dword_ptr(layout::UNBACKED))?;
    a.out(0x10u32, al)?;
    stop(a)
}

fn mmio_store(a: &mut CodeAssembler) -> AsmResult {
    print(a, "mmio-store: byte store to unbacked memory\n")?;
    a.mov(byte_ptr(layout::UNBACKED), 0x42u32)?;
    a.mov(eax, dword_ptr(layout::UNBACKED + 4))?;
    print(a, "mmio-store: done\n")?;
    stop(a)
}

fn jump_unbacked(a: &mut CodeAssembler) -> AsmResult {
    print(
        a,
        "jump-unbacked: jmp to a guest-physical address without memory\n",
    )?;
    a.mov(rax, layout::UNBACKED)?;
    a.jmp(rax)
}

fn triple_fault(a: &mut CodeAssembler) -> AsmResult {
    print(a, "triple-fault: lidt with limit 0, then ud2\n")?;
    a.push(0)?;
    a.push(0)?;
    a.lidt(ptr(rsp))?;
    a.ud2()?;
    stop(a)
}

fn ud2(a: &mut CodeAssembler) -> AsmResult {
    print(a, "ud2\n")?;
    a.ud2()?;
    stop(a)
}

fn spin(a: &mut CodeAssembler) -> AsmResult {
    let mut here = a.create_label();
    a.set_label(&mut here)?;
    a.jmp(here)
}

fn garbage(a: &mut CodeAssembler) -> AsmResult {
    // xorshift64 stores of random values at random addresses below 64 MiB: half land in RAM
    // (page tables, IDT and the program itself included), half in unbacked space (MMIO exits).
    let mut again = a.create_label();
    a.mov(rax, 0x2545_f491_4f6c_dd1du64)?;
    a.set_label(&mut again)?;
    a.mov(rdx, rax)?;
    a.shl(rdx, 13)?;
    a.xor(rax, rdx)?;
    a.mov(rdx, rax)?;
    a.shr(rdx, 7)?;
    a.xor(rax, rdx)?;
    a.mov(rdx, rax)?;
    a.shl(rdx, 17)?;
    a.xor(rax, rdx)?;
    a.mov(rdi, rax)?;
    a.and(rdi, 0x3ff_fff8)?;
    a.mov(qword_ptr(rdi), rax)?;
    a.jmp(again)
}

const DENY_SYSENTER_CS_WRITE: &[DeniedRange] = &[DeniedRange {
    first: 0x174,
    last: 0x174,
    reads: false,
    writes: true,
}];

/// Every scenario.
pub const CATALOGUE: &[Scenario] = &[
    Scenario {
        name: "origin-x2apic-timer",
        mode: CpuMode::Long,
        summary: "the origin note: Linux native_write_msr, WRMSR 0x838 (x2APIC TMICT) = 0x7213cc9, 100 times",
        denied: &[],
        build: origin_x2apic_timer,
    },
    Scenario {
        name: "unixware-mc1-ctl",
        mode: CpuMode::Protected,
        summary: "UnixWare: WRMSR 0x404 (MC1_CTL) EDX:EAX = ffffffff:fffffffe (bit 0 clear)",
        denied: &[],
        build: unixware_mc1_ctl,
    },
    Scenario {
        name: "mci-ctl-illegal",
        mode: CpuMode::Long,
        summary: "WRMSR 0x404 (MC1_CTL) = 0x1234, illegal under every kernel",
        denied: &[],
        build: mci_ctl_illegal,
    },
    Scenario {
        name: "mci-status-nonzero",
        mode: CpuMode::Long,
        summary: "WRMSR 0x405 (MC1_STATUS) = 1 (non-zero)",
        denied: &[],
        build: mci_status_nonzero,
    },
    Scenario {
        name: "unknown-msr-read",
        mode: CpuMode::Long,
        summary: "RDMSR 0xdeadbeef (unknown to KVM)",
        denied: &[],
        build: unknown_msr_read,
    },
    Scenario {
        name: "unknown-msr-write",
        mode: CpuMode::Long,
        summary: "WRMSR 0xdeadbeef = 0x1234 (unknown to KVM)",
        denied: &[],
        build: unknown_msr_write,
    },
    Scenario {
        name: "filtered-msr",
        mode: CpuMode::Long,
        summary: "WRMSR 0x174 (SYSENTER_CS) denied by the VMM's MSR filter",
        denied: DENY_SYSENTER_CS_WRITE,
        build: filtered_msr,
    },
    Scenario {
        name: "x87-mmio",
        mode: CpuMode::Long,
        summary: "flds [0x30000000]: x87 load from MMIO, an emulation failure with instruction bytes",
        denied: &[],
        build: x87_mmio,
    },
    Scenario {
        name: "mmio-store",
        mode: CpuMode::Long,
        summary: "byte store and dword load at 0x30000000 (MMIO exits, logged)",
        denied: &[],
        build: mmio_store,
    },
    Scenario {
        name: "jump-unbacked",
        mode: CpuMode::Long,
        summary: "jmp 0x30000000: instruction fetch from memory with no memory slot",
        denied: &[],
        build: jump_unbacked,
    },
    Scenario {
        name: "triple-fault",
        mode: CpuMode::Long,
        summary: "lidt with limit 0, then ud2: #UD -> #GP -> #DF -> triple fault",
        denied: &[],
        build: triple_fault,
    },
    Scenario {
        name: "ud2-16",
        mode: CpuMode::Real,
        summary: "ud2 in real mode",
        denied: &[],
        build: ud2,
    },
    Scenario {
        name: "ud2-32",
        mode: CpuMode::Protected,
        summary: "ud2 in 32-bit protected mode",
        denied: &[],
        build: ud2,
    },
    Scenario {
        name: "ud2-64",
        mode: CpuMode::Long,
        summary: "ud2 in 64-bit long mode",
        denied: &[],
        build: ud2,
    },
    Scenario {
        name: "spin",
        mode: CpuMode::Long,
        summary: "jmp $ forever, no exits (stopped by the wall-clock limit)",
        denied: &[],
        build: spin,
    },
    Scenario {
        name: "garbage",
        mode: CpuMode::Long,
        summary: "random 8-byte stores everywhere below 64 MiB, page tables and code included",
        denied: &[],
        build: garbage,
    },
];

/// Looks a scenario up by name.
pub fn find(name: &str) -> Result<&'static Scenario> {
    CATALOGUE
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::UnknownScenario(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_assembles() {
        for s in CATALOGUE {
            let code = s.assemble().unwrap();
            assert!(!code.is_empty(), "{}", s.name);
        }
    }

    #[test]
    fn origin_code_matches_the_note_around_wrmsr() {
        let code = find("origin-x2apic-timer").unwrap().assemble().unwrap();
        let wrmsr = code.windows(2).position(|w| w == [0x0f, 0x30]).unwrap();
        let note = "c3 0f 21 f0 5d c3 0f 0b 0f 1f 84 00 00 00 00 00 89 f9 89 f0 0f 30 0f 1f 44 00 00 c3 55 48 c1 e2 20 89 f6 48 09 d6 31 d2 48 89 e5 e8 40 bf 39 00 5d c3";
        let ours: Vec<String> = code[wrmsr - 20..wrmsr + 30]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(ours.join(" "), note);
    }

    #[test]
    fn x87_mmio_encoding_is_absolute() {
        let code = find("x87-mmio").unwrap().assemble().unwrap();
        let flds = [0xd9, 0x04, 0x25, 0x00, 0x00, 0x00, 0x30];
        assert!(code.windows(7).any(|w| w == flds));
    }
}
