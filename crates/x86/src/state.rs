//! The register values a dump gives us, as input to effective-address and semantics computation.

use iced_x86::Register;
use serde::Serialize;

/// A segment register as dumped: selector and (hidden) base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub selector: u16,
    #[serde(serialize_with = "crate::hex::ser_hex64")]
    pub base: u64,
}

/// A descriptor-table register (GDTR/IDTR): base and limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TableRegister {
    #[serde(serialize_with = "crate::hex::ser_hex64")]
    pub base: u64,
    pub limit: u32,
}

/// Register values known from the dump; every field is optional (`None` = not in the dump).
///
/// GPRs hold the full 64-bit value; for 32/16-bit dumps (QEMU prints `EAX=`) store the 32-bit value.
/// `dr` is DR0..DR7 by number (DR4/DR5 are aliases and normally `None`). Fill it with struct-update
/// syntax: `MachineState { rax: Some(0x7213cc9), rcx: Some(0x838), ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineState {
    pub rax: Option<u64>,
    pub rbx: Option<u64>,
    pub rcx: Option<u64>,
    pub rdx: Option<u64>,
    pub rsi: Option<u64>,
    pub rdi: Option<u64>,
    pub rbp: Option<u64>,
    pub rsp: Option<u64>,
    pub r8: Option<u64>,
    pub r9: Option<u64>,
    pub r10: Option<u64>,
    pub r11: Option<u64>,
    pub r12: Option<u64>,
    pub r13: Option<u64>,
    pub r14: Option<u64>,
    pub r15: Option<u64>,
    pub rip: Option<u64>,
    pub rflags: Option<u64>,
    pub es: Option<Segment>,
    pub cs: Option<Segment>,
    pub ss: Option<Segment>,
    pub ds: Option<Segment>,
    pub fs: Option<Segment>,
    pub gs: Option<Segment>,
    pub cr0: Option<u64>,
    pub cr2: Option<u64>,
    pub cr3: Option<u64>,
    pub cr4: Option<u64>,
    /// CR8 (task priority), rarely dumped.
    pub cr8: Option<u64>,
    pub dr: [Option<u64>; 8],
    pub efer: Option<u64>,
    pub gdt: Option<TableRegister>,
    pub idt: Option<TableRegister>,
}

impl MachineState {
    /// The 64-bit register holding `reg` (RAX for AL/AH/AX/EAX/RAX), or `None` for non-GPRs.
    fn full_gpr(&self, reg: Register) -> Option<Option<u64>> {
        let full = reg.full_register();
        Some(match full {
            Register::RAX => self.rax,
            Register::RBX => self.rbx,
            Register::RCX => self.rcx,
            Register::RDX => self.rdx,
            Register::RSI => self.rsi,
            Register::RDI => self.rdi,
            Register::RBP => self.rbp,
            Register::RSP => self.rsp,
            Register::R8 => self.r8,
            Register::R9 => self.r9,
            Register::R10 => self.r10,
            Register::R11 => self.r11,
            Register::R12 => self.r12,
            Register::R13 => self.r13,
            Register::R14 => self.r14,
            Register::R15 => self.r15,
            Register::RIP => self.rip,
            _ => return None,
        })
    }

    /// Value of any general-purpose register or sub-register (AL, AH, AX, EAX, RAX, R8D, ...),
    /// segment register (its selector), control or debug register, as far as the dump knows it.
    pub fn register(&self, reg: Register) -> Option<u64> {
        if let Some(full) = self.full_gpr(reg) {
            let v = full?;
            let is_high_byte = matches!(
                reg,
                Register::AH | Register::BH | Register::CH | Register::DH
            );
            return Some(if is_high_byte {
                (v >> 8) & 0xff
            } else {
                match reg.size() {
                    1 => v & 0xff,
                    2 => v & 0xffff,
                    4 => v & 0xffff_ffff,
                    _ => v,
                }
            });
        }
        if reg.is_segment_register() {
            return self.segment(reg).map(|s| u64::from(s.selector));
        }
        match reg {
            Register::EIP => self.rip.map(|v| v & 0xffff_ffff),
            Register::CR0 => self.cr0,
            Register::CR2 => self.cr2,
            Register::CR3 => self.cr3,
            Register::CR4 => self.cr4,
            Register::CR8 => self.cr8,
            Register::DR0 => self.dr[0],
            Register::DR1 => self.dr[1],
            Register::DR2 => self.dr[2],
            Register::DR3 => self.dr[3],
            Register::DR4 => self.dr[4],
            Register::DR5 => self.dr[5],
            Register::DR6 => self.dr[6],
            Register::DR7 => self.dr[7],
            _ => None,
        }
    }

    /// The dumped segment register `reg` (ES, CS, SS, DS, FS, GS).
    pub fn segment(&self, reg: Register) -> Option<Segment> {
        match reg {
            Register::ES => self.es,
            Register::CS => self.cs,
            Register::SS => self.ss,
            Register::DS => self.ds,
            Register::FS => self.fs,
            Register::GS => self.gs,
            _ => None,
        }
    }

    /// The base used for address computation: in 64-bit mode ES/CS/SS/DS bases are treated as 0
    /// (SDM Vol. 3A §3.4.4), FS/GS use their bases; outside 64-bit mode every base counts.
    pub fn segment_base(&self, reg: Register, bitness: u32) -> Option<u64> {
        if bitness == 64 && !matches!(reg, Register::FS | Register::GS) {
            return Some(0);
        }
        self.segment(reg).map(|s| s.base)
    }
}
