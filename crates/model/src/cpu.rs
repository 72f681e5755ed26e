//! The one CPU-state model: what is known about one x86 vCPU's registers.
//!
//! Every reader fills [`CpuState`]: the QEMU dump reader (`x86_cpu_dump_state` text), `kvmtriage
//! repro` straight from `struct kvm_regs` / `struct kvm_sregs` (include/uapi/asm-x86/kvm.h), and
//! the kernel-oops reader. Every analysis reads it. A register the input does not give is `None`.
//! Where each value came from in the input lives in a side table ([`crate::LineTable`]), not in
//! the fields.

use serde::Serialize;

/// General-purpose register names, declared (and so ordered by the derived `Ord`) as QEMU prints
/// them: RAX RBX RCX RDX RSI RDI RBP RSP R8 … R31 (APX). The encoding order is [`Gpr::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gpr {
    Rax,
    Rbx,
    Rcx,
    Rdx,
    Rsi,
    Rdi,
    Rbp,
    Rsp,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
    R16,
    R17,
    R18,
    R19,
    R20,
    R21,
    R22,
    R23,
    R24,
    R25,
    R26,
    R27,
    R28,
    R29,
    R30,
    R31,
}

impl Gpr {
    /// All 32 registers in encoding order (RAX=0 … R31=31).
    pub const ALL: [Gpr; 32] = [
        Gpr::Rax,
        Gpr::Rcx,
        Gpr::Rdx,
        Gpr::Rbx,
        Gpr::Rsp,
        Gpr::Rbp,
        Gpr::Rsi,
        Gpr::Rdi,
        Gpr::R8,
        Gpr::R9,
        Gpr::R10,
        Gpr::R11,
        Gpr::R12,
        Gpr::R13,
        Gpr::R14,
        Gpr::R15,
        Gpr::R16,
        Gpr::R17,
        Gpr::R18,
        Gpr::R19,
        Gpr::R20,
        Gpr::R21,
        Gpr::R22,
        Gpr::R23,
        Gpr::R24,
        Gpr::R25,
        Gpr::R26,
        Gpr::R27,
        Gpr::R28,
        Gpr::R29,
        Gpr::R30,
        Gpr::R31,
    ];

    /// All 32 registers in QEMU's print order (RAX RBX RCX RDX RSI RDI RBP RSP R8 … R31), which is
    /// also the derived `Ord`. `PRINT_ORDER[..16]` are the legacy registers.
    pub const PRINT_ORDER: [Gpr; 32] = [
        Gpr::Rax,
        Gpr::Rbx,
        Gpr::Rcx,
        Gpr::Rdx,
        Gpr::Rsi,
        Gpr::Rdi,
        Gpr::Rbp,
        Gpr::Rsp,
        Gpr::R8,
        Gpr::R9,
        Gpr::R10,
        Gpr::R11,
        Gpr::R12,
        Gpr::R13,
        Gpr::R14,
        Gpr::R15,
        Gpr::R16,
        Gpr::R17,
        Gpr::R18,
        Gpr::R19,
        Gpr::R20,
        Gpr::R21,
        Gpr::R22,
        Gpr::R23,
        Gpr::R24,
        Gpr::R25,
        Gpr::R26,
        Gpr::R27,
        Gpr::R28,
        Gpr::R29,
        Gpr::R30,
        Gpr::R31,
    ];

    /// x86 register number (RAX=0, RCX=1, RDX=2, RBX=3, RSP=4, …, R31=31).
    pub fn number(self) -> usize {
        match self {
            Gpr::Rax => 0,
            Gpr::Rcx => 1,
            Gpr::Rdx => 2,
            Gpr::Rbx => 3,
            Gpr::Rsp => 4,
            Gpr::Rbp => 5,
            Gpr::Rsi => 6,
            Gpr::Rdi => 7,
            other => other as usize,
        }
    }

    /// 64-bit name (`rax`, `r8`, …).
    pub fn name64(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23",
            "r24", "r25", "r26", "r27", "r28", "r29", "r30", "r31",
        ];
        NAMES[self.number()]
    }

    /// 32-bit name (`eax`, `r8d`, …).
    pub fn name32(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d",
            "r12d", "r13d", "r14d", "r15d", "r16d", "r17d", "r18d", "r19d", "r20d", "r21d", "r22d",
            "r23d", "r24d", "r25d", "r26d", "r27d", "r28d", "r29d", "r30d", "r31d",
        ];
        NAMES[self.number()]
    }

    /// Register by x86 number (0..32).
    pub fn from_number(n: usize) -> Option<Gpr> {
        Gpr::ALL.get(n).copied()
    }
}

/// Segment registers in QEMU's dump order (ES CS SS DS FS GS LDT TR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegName {
    Es,
    Cs,
    Ss,
    Ds,
    Fs,
    Gs,
    Ldt,
    Tr,
}

impl SegName {
    pub const ALL: [SegName; 8] = [
        SegName::Es,
        SegName::Cs,
        SegName::Ss,
        SegName::Ds,
        SegName::Fs,
        SegName::Gs,
        SegName::Ldt,
        SegName::Tr,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Upper-case name as QEMU prints it (`ES`, `LDT`, …).
    pub fn name(self) -> &'static str {
        ["ES", "CS", "SS", "DS", "FS", "GS", "LDT", "TR"][self.index()]
    }
}

/// A segment's access rights: descriptor bits 8–23 in place, as QEMU prints them (SDM Vol. 3A
/// §3.4.5, Figure 3-8), plus KVM's `unusable` flag (`struct kvm_segment`), which QEMU folds into
/// P=0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SegmentAttributes(pub u32);

impl SegmentAttributes {
    /// Bits QEMU's attribute word can hold: type, S, DPL, P (8–15), AVL, L, D/B, G (20–23).
    pub const MASK: u32 = 0x00f0_ff00;

    /// Attributes from KVM's `struct kvm_segment` fields.
    #[allow(clippy::too_many_arguments)]
    pub fn from_fields(
        ty: u8,
        s: bool,
        dpl: u8,
        present: bool,
        avl: bool,
        l: bool,
        db: bool,
        g: bool,
    ) -> Self {
        SegmentAttributes(
            (u32::from(ty & 0xf) << 8)
                | (u32::from(s) << 12)
                | (u32::from(dpl & 3) << 13)
                | (u32::from(present) << 15)
                | (u32::from(avl) << 20)
                | (u32::from(l) << 21)
                | (u32::from(db) << 22)
                | (u32::from(g) << 23),
        )
    }

    /// The raw word.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// Type field (bits 8–11).
    pub fn seg_type(self) -> u8 {
        ((self.0 >> 8) & 0xf) as u8
    }
    /// S: 1 = code or data, 0 = system descriptor.
    pub fn s(self) -> bool {
        self.0 & (1 << 12) != 0
    }
    pub fn dpl(self) -> u8 {
        ((self.0 >> 13) & 3) as u8
    }
    /// P (present). KVM reports an unusable segment with P=0 in QEMU's dump.
    pub fn present(self) -> bool {
        self.0 & (1 << 15) != 0
    }
    pub fn avl(self) -> bool {
        self.0 & (1 << 20) != 0
    }
    /// L: 64-bit code segment.
    pub fn l(self) -> bool {
        self.0 & (1 << 21) != 0
    }
    /// D/B: default operand size (code) / big (stack, expand-down).
    pub fn db(self) -> bool {
        self.0 & (1 << 22) != 0
    }
    /// G: limit in 4 KiB units.
    pub fn g(self) -> bool {
        self.0 & (1 << 23) != 0
    }
    /// A code segment (S=1, type bit 3 set).
    pub fn is_code(self) -> bool {
        self.s() && self.seg_type() & 8 != 0
    }
    /// A conforming code segment (type bit 2 on a code segment).
    pub fn is_conforming_code(self) -> bool {
        self.is_code() && self.seg_type() & 4 != 0
    }
}

/// One segment register: visible selector and hidden descriptor cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segment {
    pub selector: u16,
    pub base: u64,
    /// Limit in bytes (expanded by G, as QEMU and KVM report it).
    pub limit: u32,
    pub attributes: SegmentAttributes,
}

/// GDTR or IDTR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DescriptorTable {
    pub base: u64,
    pub limit: u32,
}

/// x87 register `FPRn`: 64-bit mantissa and 16-bit sign+exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FpReg {
    pub index: u8,
    pub mantissa: u64,
    pub sign_exponent: u16,
}

/// x87/SSE control state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fpu {
    pub fcw: Option<u16>,
    pub fsw: Option<u16>,
    /// x87 stack top.
    pub st: Option<u8>,
    pub ftw: Option<u16>,
    pub mxcsr: Option<u32>,
    pub fpr: Vec<FpReg>,
}

/// Width of a vector register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorKind {
    Xmm,
    Ymm,
    Zmm,
}

/// One XMM/YMM/ZMM register: quadwords, most significant first (2, 4 or 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorReg {
    pub kind: VectorKind,
    pub index: u8,
    pub quads: Vec<u64>,
}

/// One AVX-512 opmask register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpmaskReg {
    pub index: u8,
    pub value: u64,
}

/// Everything known about one vCPU's architectural state. `None` = not in the input.
///
/// GPRs hold the value as the input gives it: QEMU's 32-bit layout (`EAX=`) gives 32-bit values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuState {
    /// Indexed by [`Gpr::number`].
    pub gprs: [Option<u64>; 32],
    pub rip: Option<u64>,
    pub rflags: Option<u64>,
    /// Indexed by [`SegName::index`].
    pub segments: [Option<Segment>; 8],
    pub gdt: Option<DescriptorTable>,
    pub idt: Option<DescriptorTable>,
    pub cr0: Option<u64>,
    pub cr2: Option<u64>,
    pub cr3: Option<u64>,
    pub cr4: Option<u64>,
    /// CR8 (task priority); QEMU does not print it, KVM's `kvm_sregs` has it.
    pub cr8: Option<u64>,
    /// DR0–DR7 by number; DR4/DR5 alias DR6/DR7 and are normally `None`.
    pub dr: [Option<u64>; 8],
    pub efer: Option<u64>,
    /// Current privilege level.
    pub cpl: Option<u8>,
    /// Interrupt shadow (QEMU's `II=`: blocking by STI or MOV SS).
    pub interrupt_shadow: Option<bool>,
    /// A20 gate enabled.
    pub a20: Option<bool>,
    /// In system-management mode.
    pub smm: Option<bool>,
    /// Halted.
    pub halted: Option<bool>,
    pub fpu: Option<Fpu>,
    pub vectors: Vec<VectorReg>,
    pub opmask: Vec<OpmaskReg>,
}

impl CpuState {
    /// Nothing known (usable in a `static`).
    pub const EMPTY: CpuState = CpuState {
        gprs: [None; 32],
        rip: None,
        rflags: None,
        segments: [None; 8],
        gdt: None,
        idt: None,
        cr0: None,
        cr2: None,
        cr3: None,
        cr4: None,
        cr8: None,
        dr: [None; 8],
        efer: None,
        cpl: None,
        interrupt_shadow: None,
        a20: None,
        smm: None,
        halted: None,
        fpu: None,
        vectors: Vec::new(),
        opmask: Vec::new(),
    };

    pub fn gpr(&self, r: Gpr) -> Option<u64> {
        self.gprs[r.number()]
    }

    pub fn set_gpr(&mut self, r: Gpr, value: u64) {
        self.gprs[r.number()] = Some(value);
    }

    pub fn segment(&self, n: SegName) -> Option<&Segment> {
        self.segments[n.index()].as_ref()
    }

    pub fn cs(&self) -> Option<&Segment> {
        self.segment(SegName::Cs)
    }

    /// CR0, CR2, CR3, CR4 or CR8 (`None` for other numbers or when absent).
    pub fn cr(&self, n: u8) -> Option<u64> {
        match n {
            0 => self.cr0,
            2 => self.cr2,
            3 => self.cr3,
            4 => self.cr4,
            8 => self.cr8,
            _ => None,
        }
    }

    /// DR0–DR7; DR4/DR5 read DR6/DR7 when not given themselves (as with CR4.DE=0).
    pub fn dr(&self, n: u8) -> Option<u64> {
        match n {
            4 => self.dr[4].or(self.dr[6]),
            5 => self.dr[5].or(self.dr[7]),
            0..=7 => self.dr[usize::from(n)],
            _ => None,
        }
    }

    /// True when any GPR above R15 (APX) is known.
    pub fn has_apx(&self) -> bool {
        self.gprs[16..].iter().any(Option::is_some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpr_numbers_round_trip() {
        for (n, r) in Gpr::ALL.iter().enumerate() {
            assert_eq!(r.number(), n);
            assert_eq!(Gpr::from_number(n), Some(*r));
        }
        assert_eq!(Gpr::Rbx.name64(), "rbx");
        let mut sorted = Gpr::ALL;
        sorted.sort();
        assert_eq!(sorted, Gpr::PRINT_ORDER);
        assert_eq!(Gpr::R9.name32(), "r9d");
    }

    #[test]
    fn attributes_from_kvm_fields() {
        // 64-bit kernel code segment as KVM reports it: type 0xb, S, DPL 0, P, L, G.
        let a = SegmentAttributes::from_fields(0xb, true, 0, true, false, true, false, true);
        assert_eq!(a.bits(), 0x00a0_9b00);
        assert!(a.is_code() && a.l() && !a.db() && a.g() && a.present());
    }

    #[test]
    fn dr4_aliases_dr6() {
        let mut c = CpuState::default();
        c.dr[6] = Some(0xffff0ff0);
        assert_eq!(c.dr(4), Some(0xffff0ff0));
        assert_eq!(c.dr(9), None);
    }
}
