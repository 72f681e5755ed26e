//! `Facts`: the diagnosis's own view of one dump. The matcher, the guest-state checks and the
//! verdict work only on this struct, so they do not depend on how the dump was parsed.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic};
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

/// One segment register as QEMU prints it: selector, base, expanded limit, attributes (descriptor
/// bits 8–23, i.e. type in bits 8–11, S 12, DPL 13–14, P 15, AVL 20, L 21, D/B 22, G 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    pub attrs: u32,
}

impl Segment {
    pub fn seg_type(&self) -> u32 {
        (self.attrs >> 8) & 0xf
    }
    pub fn s(&self) -> bool {
        self.attrs & (1 << 12) != 0
    }
    pub fn dpl(&self) -> u32 {
        (self.attrs >> 13) & 3
    }
    pub fn present(&self) -> bool {
        self.attrs & (1 << 15) != 0
    }
    pub fn l(&self) -> bool {
        self.attrs & (1 << 21) != 0
    }
    pub fn db(&self) -> bool {
        self.attrs & (1 << 22) != 0
    }
    pub fn g(&self) -> bool {
        self.attrs & (1 << 23) != 0
    }
    pub fn rpl(&self) -> u32 {
        u32::from(self.selector & 3)
    }
    pub fn is_code(&self) -> bool {
        self.s() && self.seg_type() & 8 != 0
    }
}

/// The eight segment-like registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Segments {
    pub es: Option<Segment>,
    pub cs: Option<Segment>,
    pub ss: Option<Segment>,
    pub ds: Option<Segment>,
    pub fs: Option<Segment>,
    pub gs: Option<Segment>,
    pub ldt: Option<Segment>,
    pub tr: Option<Segment>,
}

impl Segments {
    /// (name, segment) for the six data/code segment registers.
    pub fn user(&self) -> [(&'static str, Option<Segment>); 6] {
        [
            ("ES", self.es),
            ("CS", self.cs),
            ("SS", self.ss),
            ("DS", self.ds),
            ("FS", self.fs),
            ("GS", self.gs),
        ]
    }
}

/// GDTR or IDTR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DescriptorTable {
    pub base: u64,
    pub limit: u32,
}

/// The Code= window: bytes (`None` for `??`) and the index of the byte at RIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CodeWindow {
    pub bytes: Vec<Option<u8>>,
    pub marker: Option<usize>,
}

impl CodeWindow {
    /// Readable bytes from the marker on (stops at the first `??`).
    pub fn at_marker(&self) -> Vec<u8> {
        match self.marker {
            Some(m) => self
                .bytes
                .iter()
                .skip(m)
                .map_while(|b| *b)
                .take(15)
                .collect(),
            None => Vec::new(),
        }
    }
    /// True if the byte at the marker (or every byte when there is no marker) is `??`.
    pub fn unreadable(&self) -> bool {
        match self.marker {
            Some(m) => self.bytes.get(m).is_none_or(|b| b.is_none()),
            None => self.bytes.iter().all(|b| b.is_none()),
        }
    }
    /// True when the readable window is one repeated byte or only two distinct bytes with one
    /// of them 0x00/0xff/0xaf-like filler: not plausible code.
    pub fn is_filler(&self) -> bool {
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

/// The instruction at RIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Insn {
    /// Lower-case mnemonic, e.g. `wrmsr`.
    pub mnemonic: String,
    /// Intel-syntax text, e.g. `xsave64 [rdi]`.
    pub text: String,
    /// Instruction bytes; JSON: `"0f 30"`.
    #[serde(serialize_with = "ser_bytes")]
    pub bytes: Vec<u8>,
    pub class: Option<InsnClass>,
}

fn ser_bytes<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(char::from(b"0123456789abcdef"[usize::from(x >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(x & 15)]));
    }
    s.serialize_str(&out)
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

/// Everything the diagnosis uses about one dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Facts {
    pub event: Event,
    pub rax: Option<u64>,
    pub rbx: Option<u64>,
    pub rcx: Option<u64>,
    pub rdx: Option<u64>,
    pub rsp: Option<u64>,
    pub rip: Option<u64>,
    pub rflags: Option<u64>,
    pub cpl: Option<u8>,
    pub smm: Option<bool>,
    pub hlt: Option<bool>,
    pub cr0: Option<u64>,
    pub cr2: Option<u64>,
    pub cr3: Option<u64>,
    pub cr4: Option<u64>,
    pub efer: Option<u64>,
    pub segments: Segments,
    pub gdt: Option<DescriptorTable>,
    pub idt: Option<DescriptorTable>,
    pub code: Option<CodeWindow>,
    pub insn: Option<Insn>,
    pub msr: Option<MsrAccess>,
    /// Dump lines the reader could not use (damaged or truncated dumps), for evidence wording.
    pub truncated: bool,
}

pub const CR0_PE: u64 = 1;
pub const CR0_PG: u64 = 1 << 31;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_PCIDE: u64 = 1 << 17;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;
pub const RFLAGS_VM: u64 = 1 << 17;

impl Facts {
    /// CPU mode from CR0.PE, RFLAGS.VM, EFER.LMA and CS.L/D (SDM Vol. 3A §2.2, §5.2.1).
    pub fn mode(&self) -> Option<ModeKind> {
        let cr0 = self.cr0?;
        if cr0 & CR0_PE == 0 {
            return Some(ModeKind::Real);
        }
        if self.rflags.is_some_and(|f| f & RFLAGS_VM != 0) {
            return Some(ModeKind::Vm86);
        }
        let cs = self.segments.cs?;
        let lma = self.efer.is_some_and(|e| e & EFER_LMA != 0);
        Some(if lma && cs.l() {
            ModeKind::Long64
        } else if lma {
            ModeKind::Compat
        } else if cs.db() {
            ModeKind::Protected32
        } else {
            ModeKind::Protected16
        })
    }

    /// Decoder bitness for the mode.
    pub fn bitness(&self) -> u32 {
        match self.mode() {
            Some(ModeKind::Long64) => 64,
            Some(ModeKind::Protected32) | Some(ModeKind::Compat) => 32,
            Some(_) => 16,
            // Without CR0/CS, guess from the RIP width.
            None => match self.rip {
                Some(r) if r > u64::from(u32::MAX) => 64,
                _ => 32,
            },
        }
    }

    /// Fills `insn` and `msr` from the Code= window when they are not set yet.
    pub fn decode_code_window(&mut self) {
        if self.insn.is_none() {
            if let Some(code) = &self.code {
                let bytes = code.at_marker();
                if !bytes.is_empty() {
                    self.insn = decode_one(&bytes, self.bitness(), self.rip.unwrap_or(0));
                }
            }
        }
        if self.msr.is_none() {
            self.msr = self.msr_access_from_regs();
        }
    }

    /// WRMSR/RDMSR at RIP: ECX is the index, EDX:EAX the value (SDM Vol. 2B WRMSR).
    pub fn msr_access_from_regs(&self) -> Option<MsrAccess> {
        let insn = self.insn.as_ref()?;
        let write = match insn.mnemonic.as_str() {
            "wrmsr" => true,
            "rdmsr" => false,
            _ => return None,
        };
        let index = (self.rcx? & 0xffff_ffff) as u32;
        let value = if write {
            match (self.rax, self.rdx) {
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
        let all = [
            self.segments.es,
            self.segments.cs,
            self.segments.ss,
            self.segments.ds,
            self.segments.fs,
            self.segments.gs,
        ];
        let shown: Vec<Segment> = all.iter().flatten().copied().collect();
        !shown.is_empty()
            && shown
                .iter()
                .all(|s| s.selector == 0 && s.base == 0 && s.limit == 0 && (s.attrs & !0x8000) == 0)
    }

    /// CS.base + RIP (the linear address of the instruction).
    pub fn linear_rip(&self) -> Option<u64> {
        let base = self.segments.cs.map_or(0, |c| c.base);
        Some(base.wrapping_add(self.rip?))
    }

    /// The instruction is in the legacy VGA/SMRAM window and paging does not remap it.
    pub fn linear_rip_in_vga_window(&self) -> bool {
        self.cr0.is_none_or(|c| c & CR0_PG == 0)
            && self
                .linear_rip()
                .is_some_and(|l| (0xa_0000..=0xb_ffff).contains(&l))
    }

    /// x86 reset values in CR0/CS (SDM Vol. 3A Table 10-1) with a RIP that is not 0xfff0.
    pub fn reset_state_with_non_reset_rip(&self) -> bool {
        let Some(cs) = self.segments.cs else {
            return false;
        };
        self.cr0 == Some(0x6000_0010)
            && cs.selector == 0xf000
            && cs.base == 0xffff_0000
            && self.rip.is_some_and(|r| r != 0xfff0)
    }
}

/// Decodes one instruction with iced-x86.
pub fn decode_one(bytes: &[u8], bitness: u32, ip: u64) -> Option<Insn> {
    let mut decoder = Decoder::try_with_ip(bitness, bytes, ip, DecoderOptions::NONE).ok()?;
    if !decoder.can_decode() {
        return None;
    }
    let mut instr = Instruction::default();
    decoder.decode_out(&mut instr);
    if instr.is_invalid() || instr.mnemonic() == Mnemonic::INVALID {
        return None;
    }
    let len = instr.len();
    // The same text as kvmtriage-x86's listings (its formatter is built once per thread).
    let text = kvmtriage_x86::format_instruction(&instr, kvmtriage_x86::Syntax::Intel);
    // The mnemonic as kvmtriage-x86 names it (iced-x86's `Mnemonic`), not the formatter's
    // spelling (`jmpf`, prefixes first).
    let mnemonic = kvmtriage_x86::intel_mnemonic(&instr);
    Some(Insn {
        mnemonic,
        text,
        bytes: bytes.get(..len).map(<[u8]>::to_vec).unwrap_or_default(),
        class: insn_class(&instr),
    })
}

/// The instruction class (x87/SSE/AVX/XSAVE/MMX) of the first instruction in `bytes`, without
/// formatting it (used when kvmtriage-x86 already supplied the text).
pub fn insn_class_of(bytes: &[u8], bitness: u32) -> Option<InsnClass> {
    let mut decoder = Decoder::try_with_ip(bitness, bytes, 0, DecoderOptions::NONE).ok()?;
    if !decoder.can_decode() {
        return None;
    }
    let instr = decoder.decode();
    if instr.is_invalid() {
        return None;
    }
    insn_class(&instr)
}

fn insn_class(instr: &Instruction) -> Option<InsnClass> {
    use iced_x86::CpuidFeature as F;
    for f in instr.cpuid_features() {
        let c = match f {
            F::FPU | F::FPU287 | F::FPU387 | F::FPU387SL_ONLY => InsnClass::X87,
            F::MMX => InsnClass::Mmx,
            F::SSE | F::SSE2 | F::SSE3 | F::SSSE3 | F::SSE4_1 | F::SSE4_2 | F::SSE4A => {
                InsnClass::Sse
            }
            F::AVX
            | F::AVX2
            | F::AVX512F
            | F::AVX512BW
            | F::AVX512DQ
            | F::AVX512VL
            | F::FMA
            | F::F16C => InsnClass::Avx,
            F::XSAVE | F::XSAVEC | F::XSAVEOPT | F::XSAVES | F::FXSR => InsnClass::Xsave,
            _ => continue,
        };
        return Some(c);
    }
    None
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
