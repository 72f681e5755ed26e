//! `Facts`: what the diagnosis looks at for one dump. A borrowed view over the one model
//! (`kvmtriage_model::CpuState`, the dump's `ModeDecision`, its code window) plus the failure
//! class read from the event line and the faulting instruction as kvmtriage-x86 decoded it.
//! Registers are never copied into another struct, and the CPU mode is the dump's own decision.

use kvmtriage_model::{CodeWindow, CpuState, Gpr, ModeDecision, SegName, Segment};
use serde::Serialize;

use crate::catalogue::{InsnClass, ModeKind};

/// What the failure line(s) before the dump said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// No failure line (e.g. `info registers`, or an unrecognised line).
    #[default]
    None,
    /// `error: kvm run failed <strerror>`: KVM_RUN returned -1 with errno.
    RunFailed {
        /// Errno number when the strerror text is known.
        errno: Option<i32>,
        /// The strerror text as printed.
        message: String,
    },
    /// `KVM internal error. Suberror: N` (KVM_EXIT_INTERNAL_ERROR) and its `extra data[i]` words.
    InternalError { suberror: u32, data: Vec<u64> },
    /// `KVM: entry failed, hardware error 0x...` (KVM_EXIT_FAIL_ENTRY).
    EntryFailed { hardware_reason: u64 },
    /// `KVM: exception N exit (error code 0x...)` (KVM_EXIT_EXCEPTION).
    ExceptionExit { vector: u32, error_code: u64 },
    /// `KVM: unknown exit, hardware reason N` (KVM_EXIT_UNKNOWN).
    UnknownExit { hardware_reason: u64 },
    /// TCG `Triple fault` (or `-d int` showing one).
    TripleFault,
    /// `qemu: fatal: ...` under TCG.
    TcgFatal { message: String },
    /// A register snapshot that is not a failure: `-d cpu_reset` ("CPU Reset"), and the like.
    Snapshot { origin: String },
    /// Another failure line the reader recognised but this crate has no class for.
    Other { message: String },
}

/// Segment accessors the checks use, on the model's own segment type.
pub trait SegmentExt {
    /// The attribute word (descriptor bits 8-23).
    fn attrs(&self) -> u32;
    fn seg_type(&self) -> u32;
    fn s(&self) -> bool;
    fn dpl(&self) -> u32;
    fn present(&self) -> bool;
    fn l(&self) -> bool;
    fn db(&self) -> bool;
    fn g(&self) -> bool;
    fn rpl(&self) -> u32;
    fn is_code(&self) -> bool;
}

impl SegmentExt for Segment {
    fn attrs(&self) -> u32 {
        self.attributes.bits()
    }
    fn seg_type(&self) -> u32 {
        u32::from(self.attributes.seg_type())
    }
    fn s(&self) -> bool {
        self.attributes.s()
    }
    fn dpl(&self) -> u32 {
        u32::from(self.attributes.dpl())
    }
    fn present(&self) -> bool {
        self.attributes.present()
    }
    fn l(&self) -> bool {
        self.attributes.l()
    }
    fn db(&self) -> bool {
        self.attributes.db()
    }
    fn g(&self) -> bool {
        self.attributes.g()
    }
    fn rpl(&self) -> u32 {
        u32::from(self.selector & 3)
    }
    fn is_code(&self) -> bool {
        self.attributes.is_code()
    }
}

/// Code-window predicates the catalogue uses.
pub trait CodeWindowExt {
    /// True when the readable window is one repeated byte, or zero from the marker on: not
    /// plausible code.
    fn is_filler(&self) -> bool;
    /// True if the byte at the marker (or every byte when there is no marker) is `??`.
    fn unreadable(&self) -> bool;
}

impl CodeWindowExt for CodeWindow {
    fn unreadable(&self) -> bool {
        self.unreadable_at_marker()
    }
    /// True when the readable window is one repeated byte or only two distinct bytes with one
    /// of them 0x00/0xff/0xaf-like filler: not plausible code.
    fn is_filler(&self) -> bool {
        let known: Vec<u8> = self.bytes.iter().flatten().copied().collect();
        if known.len() < 8 {
            return false;
        }
        let mut distinct: Vec<u8> = known.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() == 1 {
            return true;
        }
        // From the marker on, all zero (executing zeroed memory).
        match self.marker {
            Some(m) => {
                let after: Vec<u8> = self.bytes.iter().skip(m).flatten().copied().collect();
                after.len() >= 8 && after.iter().all(|b| *b == 0)
            }
            None => false,
        }
    }
}

/// The instruction at RIP, as kvmtriage-x86 decoded it (never decoded a second time here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Insn {
    /// Lower-case mnemonic, e.g. `wrmsr`.
    pub mnemonic: String,
    /// Intel-syntax text, e.g. `xsave64 [rdi]`.
    pub text: String,
    /// Instruction bytes; JSON: `"0f 30"`.
    #[serde(serialize_with = "kvmtriage_model::hex::byte_string")]
    pub bytes: Vec<u8>,
    pub class: Option<InsnClass>,
}

/// An MSR access at RIP (WRMSR/RDMSR), with ECX and EDX:EAX from the dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MsrAccess {
    pub index: u32,
    /// EDX:EAX for WRMSR.
    pub value: Option<u64>,
    pub write: bool,
    pub name: Option<String>,
}

static NO_CPU: CpuState = CpuState::EMPTY;
static NO_MODE: ModeDecision = ModeDecision::UNKNOWN;

/// Everything the diagnosis uses about one dump.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub event: Event,
    pub cpu: &'a CpuState,
    /// The dump's mode decision (the one the JSON, the text and the disassembly show).
    pub mode: &'a ModeDecision,
    pub code: Option<&'a CodeWindow>,
    /// The faulting instruction as kvmtriage-x86 decoded and explained it (operands, memory
    /// accesses with their addresses), when the code window could be decoded.
    pub fault: Option<&'a kvmtriage_x86::FaultInstruction>,
    pub insn: Option<Insn>,
    pub msr: Option<MsrAccess>,
    /// Dump lines the reader could not use (damaged or truncated dumps), for evidence wording.
    pub truncated: bool,
}

impl Default for Facts<'_> {
    fn default() -> Self {
        Facts {
            event: Event::None,
            cpu: &NO_CPU,
            mode: &NO_MODE,
            code: None,
            fault: None,
            insn: None,
            msr: None,
            truncated: false,
        }
    }
}

pub use kvmtriage_model::tables::flags::{
    CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFER_LME, RFLAGS_VM,
};

impl Facts<'_> {
    pub fn rax(&self) -> Option<u64> {
        self.cpu.gpr(Gpr::Rax)
    }
    pub fn rbx(&self) -> Option<u64> {
        self.cpu.gpr(Gpr::Rbx)
    }
    pub fn rcx(&self) -> Option<u64> {
        self.cpu.gpr(Gpr::Rcx)
    }
    pub fn rdx(&self) -> Option<u64> {
        self.cpu.gpr(Gpr::Rdx)
    }
    pub fn rsp(&self) -> Option<u64> {
        self.cpu.gpr(Gpr::Rsp)
    }
    pub fn rip(&self) -> Option<u64> {
        self.cpu.rip
    }
    pub fn rflags(&self) -> Option<u64> {
        self.cpu.rflags
    }
    pub fn cpl(&self) -> Option<u8> {
        self.cpu.cpl
    }
    pub fn smm(&self) -> Option<bool> {
        self.cpu.smm
    }
    pub fn hlt(&self) -> Option<bool> {
        self.cpu.halted
    }
    pub fn cr0(&self) -> Option<u64> {
        self.cpu.cr0
    }
    pub fn cr2(&self) -> Option<u64> {
        self.cpu.cr2
    }
    pub fn cr3(&self) -> Option<u64> {
        self.cpu.cr3
    }
    pub fn cr4(&self) -> Option<u64> {
        self.cpu.cr4
    }
    pub fn efer(&self) -> Option<u64> {
        self.cpu.efer
    }
    /// A segment register (a copy of the model's value).
    pub fn seg(&self, n: SegName) -> Option<Segment> {
        self.cpu.segment(n).copied()
    }
    /// (name, segment) for the six data/code segment registers.
    pub fn user_segments(&self) -> [(&'static str, Option<Segment>); 6] {
        [
            SegName::Es,
            SegName::Cs,
            SegName::Ss,
            SegName::Ds,
            SegName::Fs,
            SegName::Gs,
        ]
        .map(|n| (n.name(), self.seg(n)))
    }

    /// The dump's CPU mode as the catalogue's matchers classify it.
    pub fn mode(&self) -> Option<ModeKind> {
        use kvmtriage_model::ModeKind as M;
        Some(match self.mode.kind {
            M::Real => ModeKind::Real,
            M::Virtual8086 => ModeKind::Vm86,
            M::Protected16 => ModeKind::Protected16,
            M::Protected32 => ModeKind::Protected32,
            M::Compat16 | M::Compat32 => ModeKind::Compat,
            M::Long64 => ModeKind::Long64,
            M::Unknown => return None,
        })
    }

    /// Decoder width of the dump's mode (`None` when the mode is unknown).
    pub fn bitness(&self) -> Option<u32> {
        self.mode.bits.map(u32::from)
    }

    /// WRMSR/RDMSR at RIP: ECX is the index, EDX:EAX the value (SDM Vol. 2B WRMSR).
    pub fn msr_access_from_regs(&self) -> Option<MsrAccess> {
        let insn = self.insn.as_ref()?;
        let write = match insn.mnemonic.as_str() {
            "wrmsr" => true,
            "rdmsr" => false,
            _ => return None,
        };
        let index = (self.rcx()? & 0xffff_ffff) as u32;
        let value = if write {
            match (self.rax(), self.rdx()) {
                (Some(a), Some(d)) => Some(((d & 0xffff_ffff) << 32) | (a & 0xffff_ffff)),
                _ => None,
            }
        } else {
            None
        };
        Some(MsrAccess {
            index,
            value,
            write,
            name: msr_name(index),
        })
    }

    /// True if every segment register shown is all-zero apart from the unusable marker (SEV-ES/
    /// TDX encrypted state, or a dump of a vCPU that never ran).
    pub fn segments_all_null(&self) -> bool {
        let shown: Vec<Segment> = self
            .user_segments()
            .iter()
            .filter_map(|(_, s)| *s)
            .collect();
        !shown.is_empty()
            && shown.iter().all(|s| {
                s.selector == 0 && s.base == 0 && s.limit == 0 && (s.attrs() & !0x8000) == 0
            })
    }

    /// The linear address of the instruction, as the dump's mode decision computes it.
    pub fn linear_rip(&self) -> Option<u64> {
        self.mode.code_address(self.cpu)
    }

    /// The instruction is in the legacy VGA/SMRAM window and paging does not remap it.
    pub fn linear_rip_in_vga_window(&self) -> bool {
        self.cr0().is_none_or(|c| c & CR0_PG == 0)
            && self
                .linear_rip()
                .is_some_and(|l| (0xa_0000..=0xb_ffff).contains(&l))
    }

    /// x86 reset values in CR0/CS (SDM Vol. 3A Table 10-1) with a RIP that is not 0xfff0.
    pub fn reset_state_with_non_reset_rip(&self) -> bool {
        let Some(cs) = self.seg(SegName::Cs) else {
            return false;
        };
        self.cr0() == Some(0x6000_0010)
            && cs.selector == 0xf000
            && cs.base == 0xffff_0000
            && self.rip().is_some_and(|r| r != 0xfff0)
    }
}

/// MSR name from kvmtriage-x86's catalogue, else [`fallback_msr_name`].
pub fn msr_name(index: u32) -> Option<String> {
    kvmtriage_x86::msr::lookup(index)
        .map(|m| m.name.to_string())
        .or_else(|| fallback_msr_name(index))
}

/// Names for the MSRs the catalogue reasons about, used when the MSR catalogue has no entry:
/// the MCE banks (SDM Vol. 3B §16.3.2, 0x400 + 4*i) and the x2APIC range (SDM Vol. 3A §11.12.1.2).
pub fn fallback_msr_name(index: u32) -> Option<String> {
    if (0x400..0x480).contains(&index) {
        let bank = (index - 0x400) / 4;
        let reg = ["CTL", "STATUS", "ADDR", "MISC"][((index - 0x400) % 4) as usize];
        return Some(format!("IA32_MC{bank}_{reg}"));
    }
    let name = match index {
        0x179 => "IA32_MCG_CAP",
        0x17a => "IA32_MCG_STATUS",
        0x17b => "IA32_MCG_CTL",
        0x1b => "IA32_APIC_BASE",
        0x802 => "IA32_X2APIC_APICID",
        0x808 => "IA32_X2APIC_TPR",
        0x80b => "IA32_X2APIC_EOI",
        0x830 => "IA32_X2APIC_ICR",
        0x832 => "IA32_X2APIC_LVT_TIMER",
        0x838 => "IA32_X2APIC_INIT_COUNT",
        0x839 => "IA32_X2APIC_CUR_COUNT",
        0x83e => "IA32_X2APIC_DIV_CONF",
        0x83f => "IA32_X2APIC_SELF_IPI",
        0xc000_0080 => "IA32_EFER",
        _ if (0x800..=0x8ff).contains(&index) => {
            return Some(format!("x2APIC register {index:#x}"))
        }
        _ => return None,
    };
    Some(name.to_string())
}
