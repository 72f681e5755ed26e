//! The one CPU-mode decider. The JSON, the text report, the disassembly and the diagnosis all read
//! the [`ModeDecision`] made here, so they cannot disagree.
//!
//! Sources: SDM Vol. 3A §2.2 (modes of operation), §5.2.1 (CS.L and CS.D), §9.8.5 (IA-32e mode),
//! §4.1.1 Table 4-1 (paging modes), §34.5.1 (the processor state on SMM entry: real-address-like
//! mode with 4 GiB segment limits); KVM's `enter_smm()` (arch/x86/kvm/smm.c), which loads CS with
//! selector SMBASE >> 4, base SMBASE, limit 0xffffffff and type 3 (a data type); QEMU's
//! `x86_cpu_dump_state()` (target/i386/cpu-dump.c), which prints `RAX=` (16 digits) only when
//! `HF_CS64_MASK` is set (EFER.LMA=1 and CS.L=1), and the `DPL=`/`CS64`/`CS32`/`CS16` labels only
//! when CR0.PE=1 and the segment is present.

use serde::Serialize;

use crate::cpu::CpuState;

use crate::tables::flags::{CR0_PE, CR0_PG, CR4_LA57, CR4_PAE, EFER_LMA, RFLAGS_VM};
const FOUR_GIB: u64 = 1 << 32;

/// How the code executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModeKind {
    Real,
    Virtual8086,
    Protected16,
    Protected32,
    Compat16,
    Compat32,
    Long64,
    #[default]
    Unknown,
}

impl ModeKind {
    /// Words for reports: `real-address mode`, `IA-32e 64-bit mode`, ….
    pub fn describe(self) -> &'static str {
        match self {
            ModeKind::Real => "real-address mode",
            ModeKind::Virtual8086 => "virtual-8086 mode",
            ModeKind::Protected16 => "16-bit protected mode",
            ModeKind::Protected32 => "32-bit protected mode",
            ModeKind::Compat16 => "IA-32e compatibility mode, 16-bit code",
            ModeKind::Compat32 => "IA-32e compatibility mode, 32-bit code",
            ModeKind::Long64 => "IA-32e 64-bit mode",
            ModeKind::Unknown => "mode unknown",
        }
    }

    /// True in IA-32e mode (64-bit or compatibility).
    pub fn is_ia32e(self) -> bool {
        matches!(
            self,
            ModeKind::Long64 | ModeKind::Compat16 | ModeKind::Compat32
        )
    }
}

/// Paging mode from CR0.PG, CR4.PAE, EFER.LMA, CR4.LA57 (SDM Vol. 3A §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PagingMode {
    None,
    Bits32,
    Pae,
    FourLevel,
    FiveLevel,
    #[default]
    Unknown,
}

/// The code-segment label QEMU prints after a present CS's attributes when CR0.PE=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CsLabel {
    Cs64,
    Cs32,
    Cs16,
}

impl CsLabel {
    pub fn text(self) -> &'static str {
        match self {
            CsLabel::Cs64 => "CS64",
            CsLabel::Cs32 => "CS32",
            CsLabel::Cs16 => "CS16",
        }
    }
}

/// What a reader saw besides register values: QEMU's own labels and layout. All default to "not
/// seen"; `kvmtriage repro` and other non-text sources leave them so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModeHints {
    /// The label QEMU printed on the CS line.
    pub cs_label: Option<CsLabel>,
    /// QEMU printed `DPL=` on some segment line: it does so only when CR0.PE=1.
    pub printed_dpl: bool,
    /// A segment line was printed whole, present (P=1), with no `DPL=` label: QEMU had CR0.PE=0.
    pub present_segment_without_label: bool,
    /// QEMU printed a 64-bit system-descriptor label (`TSS64-busy`, `LDT` in the IA-32e table):
    /// EFER.LMA=1.
    pub ia32e_system_label: bool,
    /// Register layout: `Some(true)` for QEMU's 64-bit layout (`RAX=`, printed only in 64-bit
    /// mode), `Some(false)` for its 32-bit layout (`EAX=`), `None` when not known.
    pub layout64: Option<bool>,
}

/// One piece of evidence the decider used, in the order it used them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeEvidence {
    /// `--mode` or a caller's explicit width.
    Override {
        bits: u8,
    },
    Cr0 {
        cr0: u64,
    },
    Cr0Missing,
    Efer {
        efer: u64,
    },
    EferMissing,
    /// QEMU printed `DPL=` labels: CR0.PE=1.
    PrintedDpl,
    /// A present segment printed without labels: CR0.PE=0.
    NoLabels,
    /// QEMU's 64-bit register layout: EFER.LMA=1 and CS.L=1.
    Layout64,
    /// An IA-32e system-descriptor label: EFER.LMA=1.
    Ia32eSystemLabel,
    /// The CS label QEMU printed.
    Label(CsLabel),
    /// RIP above 4 GiB: only 64-bit code has such an instruction pointer.
    RipAbove4G {
        rip: u64,
    },
    /// SMM=1 with CR0.PE=0: the SMM entry state (real-address semantics, 4 GiB limits).
    SmmRealAddress {
        cs_base: Option<u64>,
        cs_limit: Option<u32>,
    },
    /// CS.D=1 in real-address mode: a 32-bit code segment cached from protected mode.
    RealCsD {
        attributes: u32,
    },
    RflagsVm {
        rflags: u64,
    },
    /// CS.L/CS.D decide the width.
    CsWidth {
        attributes: u32,
        lma: Option<bool>,
    },
    CsMissing,
    CsNotCode {
        attributes: u32,
    },
    CsNotPresent {
        attributes: u32,
    },
    /// RFLAGS bit 1 is 0, which no running CPU shows: the state was never loaded.
    NotLoaded {
        rflags: u64,
    },
    /// Nothing decides the mode.
    Undecided,
}

impl std::fmt::Display for ModeEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ModeEvidence::Override { bits } => write!(f, "decode width {bits} given by the user (--mode)"),
            ModeEvidence::Cr0 { cr0 } => {
                if cr0 & CR0_PE != 0 {
                    write!(f, "CR0.PE=1 (CR0={cr0:08x}): protected mode")
                } else {
                    write!(f, "CR0.PE=0 (CR0={cr0:08x}): real-address mode")
                }
            }
            ModeEvidence::Cr0Missing => f.write_str("CR0 is not in the dump"),
            ModeEvidence::Efer { efer } => write!(f, "EFER.LMA={} (EFER={efer:x})", u8::from(efer & EFER_LMA != 0)),
            ModeEvidence::EferMissing => f.write_str("EFER is not in the dump"),
            ModeEvidence::PrintedDpl => f.write_str("QEMU printed DPL= labels on the segment lines, which it does only with CR0.PE=1"),
            ModeEvidence::NoLabels => f.write_str("a present segment is printed without QEMU's DPL= label, which it omits only with CR0.PE=0"),
            ModeEvidence::Layout64 => f.write_str("QEMU printed the 64-bit register layout (RAX=, 16 digits), which it uses only in 64-bit mode (EFER.LMA=1, CS.L=1)"),
            ModeEvidence::Ia32eSystemLabel => f.write_str("QEMU labelled a system segment with its IA-32e type name (e.g. TSS64-busy): EFER.LMA=1"),
            ModeEvidence::Label(l) => write!(f, "QEMU labelled CS {}", l.text()),
            ModeEvidence::RipAbove4G { rip } => write!(f, "RIP={rip:x} is above 4 GiB: only 64-bit code runs there"),
            ModeEvidence::SmmRealAddress { cs_base, cs_limit } => {
                f.write_str("SMM=1 with CR0.PE=0: the SMM entry state, real-address semantics with 4 GiB segment limits")?;
                if let (Some(b), Some(l)) = (cs_base, cs_limit) {
                    write!(f, " (CS.base={b:x}, limit={l:x})")?;
                }
                Ok(())
            }
            ModeEvidence::RealCsD { attributes } => write!(f, "CS.D=1 in real mode (attributes {attributes:08x}): 32-bit code segment cached from protected mode"),
            ModeEvidence::RflagsVm { rflags } => write!(f, "RFLAGS.VM=1 (RFLAGS={rflags:08x})"),
            ModeEvidence::CsWidth { attributes, lma } => {
                let l = attributes >> 21 & 1;
                let d = attributes >> 22 & 1;
                match lma {
                    Some(true) if l == 1 => write!(f, "CS.L=1 (attributes {attributes:08x}): 64-bit mode"),
                    Some(true) => write!(f, "CS.L=0, CS.D={d} (attributes {attributes:08x}): compatibility mode"),
                    Some(false) => write!(f, "CS.D={d} (attributes {attributes:08x})"),
                    None if l == 1 => write!(f, "CS.L=1 (attributes {attributes:08x}) with EFER unknown: taken as 64-bit mode"),
                    None => write!(f, "CS.L=0, CS.D={d} (attributes {attributes:08x}) with EFER unknown: protected or compatibility mode, {}-bit code either way", if d == 1 { 32 } else { 16 }),
                }
            }
            ModeEvidence::CsMissing => f.write_str("CS line missing: code width unknown"),
            ModeEvidence::CsNotCode { attributes } => write!(f, "CS attributes {attributes:08x} do not describe a code segment: the register state was not loaded or could not be read (e.g. encrypted/TDX guest)"),
            ModeEvidence::CsNotPresent { attributes } => write!(f, "CS not present (attributes {attributes:08x})"),
            ModeEvidence::NotLoaded { rflags } => write!(f, "RFLAGS bit 1 is 0 (RFLAGS={rflags:08x}), which no running CPU shows: the register state was not loaded (a power-on state before reset, or an encrypted SEV-ES/SNP/TDX guest whose state QEMU cannot read)"),
            ModeEvidence::Undecided => f.write_str("nothing in the dump decides the CPU mode"),
        }
    }
}

impl Serialize for ModeEvidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The CPU mode with the evidence used to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ModeDecision {
    /// Width the code executes in: 16, 32 or 64 (`None` when unknown).
    pub bits: Option<u8>,
    pub kind: ModeKind,
    pub evidence: Vec<ModeEvidence>,
    pub paging: PagingMode,
}

impl ModeDecision {
    /// No decision (usable in a `static`).
    pub const UNKNOWN: ModeDecision = ModeDecision {
        bits: None,
        kind: ModeKind::Unknown,
        evidence: Vec::new(),
        paging: PagingMode::Unknown,
    };

    /// Decide the mode of `cpu`, using `hints` where registers are missing.
    pub fn decide(cpu: &CpuState, hints: &ModeHints) -> ModeDecision {
        let mut ev = Vec::with_capacity(4);
        let paging = paging_mode(cpu);
        if let Some(rflags) = cpu.rflags.filter(|r| r & 2 == 0) {
            return ModeDecision {
                bits: None,
                kind: ModeKind::Unknown,
                evidence: vec![ModeEvidence::NotLoaded { rflags }],
                paging,
            };
        }
        let rip_above_4g = cpu.rip.filter(|r| *r >= FOUR_GIB);
        let pe = match cpu.cr0 {
            Some(cr0) => {
                ev.push(ModeEvidence::Cr0 { cr0 });
                Some(cr0 & CR0_PE != 0)
            }
            None => {
                ev.push(ModeEvidence::Cr0Missing);
                if hints.printed_dpl || hints.cs_label.is_some() {
                    ev.push(ModeEvidence::PrintedDpl);
                    Some(true)
                } else if hints.layout64 == Some(true) {
                    ev.push(ModeEvidence::Layout64);
                    Some(true)
                } else if let Some(rip) = rip_above_4g {
                    ev.push(ModeEvidence::RipAbove4G { rip });
                    Some(true)
                } else if hints.present_segment_without_label {
                    ev.push(ModeEvidence::NoLabels);
                    Some(false)
                } else {
                    None
                }
            }
        };
        let done = |kind: ModeKind, bits: Option<u8>, evidence: Vec<ModeEvidence>| ModeDecision {
            bits,
            kind,
            evidence,
            paging,
        };
        let Some(pe) = pe else {
            ev.push(ModeEvidence::Undecided);
            return done(ModeKind::Unknown, None, ev);
        };
        let cs = cpu.cs();
        if !pe {
            if cpu.smm == Some(true) {
                ev.push(ModeEvidence::SmmRealAddress {
                    cs_base: cs.map(|c| c.base),
                    cs_limit: cs.map(|c| c.limit),
                });
                return done(ModeKind::Real, Some(16), ev);
            }
            // Real mode ignores the type, but a cached CS.D=1 still makes code 32-bit.
            if let Some(cs) = cs.filter(|c| c.attributes.db()) {
                ev.push(ModeEvidence::RealCsD {
                    attributes: cs.attributes.bits(),
                });
                return done(ModeKind::Real, Some(32), ev);
            }
            return done(ModeKind::Real, Some(16), ev);
        }
        let lma = match cpu.efer {
            Some(efer) => {
                ev.push(ModeEvidence::Efer { efer });
                Some(efer & EFER_LMA != 0)
            }
            None => {
                if !ev.contains(&ModeEvidence::Layout64)
                    && !ev
                        .iter()
                        .any(|e| matches!(e, ModeEvidence::RipAbove4G { .. }))
                {
                    ev.push(ModeEvidence::EferMissing);
                }
                if hints.layout64 == Some(true) {
                    push_once(&mut ev, ModeEvidence::Layout64);
                    Some(true)
                } else if hints.ia32e_system_label {
                    ev.push(ModeEvidence::Ia32eSystemLabel);
                    Some(true)
                } else if let Some(rip) = rip_above_4g {
                    push_once(&mut ev, ModeEvidence::RipAbove4G { rip });
                    Some(true)
                } else {
                    None
                }
            }
        };
        if lma != Some(true) {
            if let Some(rflags) = cpu.rflags.filter(|r| r & RFLAGS_VM != 0) {
                ev.push(ModeEvidence::RflagsVm { rflags });
                return done(ModeKind::Virtual8086, Some(16), ev);
            }
        }
        // Evidence independent of the CS cache that the code is 64-bit.
        let forced64 = |ev: &mut Vec<ModeEvidence>| -> bool {
            if hints.layout64 == Some(true) {
                push_once(ev, ModeEvidence::Layout64);
                true
            } else if let Some(rip) = rip_above_4g {
                push_once(ev, ModeEvidence::RipAbove4G { rip });
                true
            } else {
                false
            }
        };
        let Some(cs) = cs else {
            ev.push(ModeEvidence::CsMissing);
            if forced64(&mut ev) {
                return done(ModeKind::Long64, Some(64), ev);
            }
            return done(ModeKind::Unknown, None, ev);
        };
        let attributes = cs.attributes.bits();
        if !cs.attributes.present() || !cs.attributes.is_code() {
            ev.push(if cs.attributes.present() {
                ModeEvidence::CsNotCode { attributes }
            } else {
                ModeEvidence::CsNotPresent { attributes }
            });
            if forced64(&mut ev) {
                return done(ModeKind::Long64, Some(64), ev);
            }
            return done(ModeKind::Unknown, None, ev);
        }
        if let Some(label) = hints.cs_label {
            ev.push(ModeEvidence::Label(label));
        }
        ev.push(ModeEvidence::CsWidth { attributes, lma });
        let (l, d) = (cs.attributes.l(), cs.attributes.db());
        let (kind, bits) = match lma {
            Some(true) if l => (ModeKind::Long64, 64),
            Some(true) if d => (ModeKind::Compat32, 32),
            Some(true) => (ModeKind::Compat16, 16),
            None if l => (ModeKind::Long64, 64),
            _ if d => (ModeKind::Protected32, 32),
            _ => (ModeKind::Protected16, 16),
        };
        done(kind, Some(bits), ev)
    }

    /// The same decision with the code width given by the user: the kind follows the width where
    /// the decision did not already have that width.
    pub fn with_override(mut self, bits: u8) -> ModeDecision {
        if self.bits != Some(bits) {
            self.kind = match bits {
                64 => ModeKind::Long64,
                32 if self.kind.is_ia32e() => ModeKind::Compat32,
                32 => ModeKind::Protected32,
                _ if self.kind.is_ia32e() => ModeKind::Compat16,
                _ if matches!(self.kind, ModeKind::Real | ModeKind::Virtual8086) => self.kind,
                _ if self.kind == ModeKind::Unknown => ModeKind::Real,
                _ => ModeKind::Protected16,
            };
            self.bits = Some(bits);
        }
        self.evidence.insert(0, ModeEvidence::Override { bits });
        self
    }

    /// True when the width came from the user rather than the dump.
    pub fn is_override(&self) -> bool {
        matches!(self.evidence.first(), Some(ModeEvidence::Override { .. }))
    }

    /// Linear address of the instruction pointer: RIP in 64-bit mode, CS.base + EIP/IP
    /// otherwise (real mode too; SDM Vol. 3A §20.1.1). `None` without RIP; outside 64-bit mode
    /// without a CS line, the offset alone (and [`ModeDecision::cs_base_known`] is false).
    pub fn code_address(&self, cpu: &CpuState) -> Option<u64> {
        let rip = cpu.rip?;
        if self.bits == Some(64) {
            return Some(rip);
        }
        let base = cpu.cs().map(|c| c.base).unwrap_or(0);
        Some(base.wrapping_add(rip) & 0xffff_ffff)
    }

    /// Whether [`ModeDecision::code_address`] could add a CS base (always true in 64-bit mode).
    pub fn cs_base_known(&self, cpu: &CpuState) -> bool {
        self.bits == Some(64) || cpu.cs().is_some()
    }
}

fn push_once(ev: &mut Vec<ModeEvidence>, e: ModeEvidence) {
    if !ev.contains(&e) {
        ev.push(e);
    }
}

/// Paging mode from CR0.PG, CR4.PAE/LA57 and EFER.LMA (SDM Vol. 3A §4.1.1, Table 4-1).
pub fn paging_mode(cpu: &CpuState) -> PagingMode {
    match (cpu.cr0, cpu.cr4, cpu.efer) {
        (Some(c0), _, _) if c0 & CR0_PG == 0 => PagingMode::None,
        (Some(_), Some(c4), Some(e)) if e & EFER_LMA != 0 => {
            if c4 & CR4_LA57 != 0 {
                PagingMode::FiveLevel
            } else {
                PagingMode::FourLevel
            }
        }
        (Some(_), Some(c4), _) if c4 & CR4_PAE != 0 => PagingMode::Pae,
        (Some(_), Some(_), Some(_)) => PagingMode::Bits32,
        _ => PagingMode::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{SegName, Segment, SegmentAttributes};

    fn with_cs(attributes: u32, base: u64, limit: u32) -> CpuState {
        let mut c = CpuState::default();
        c.segments[SegName::Cs.index()] = Some(Segment {
            selector: (base >> 4) as u16,
            base,
            limit,
            attributes: SegmentAttributes(attributes),
        });
        c
    }

    #[test]
    fn kvm_smm_entry_is_real_address_mode() {
        // KVM enter_smm(): CS = SMBASE>>4, base SMBASE, limit 4 GiB, type 3 (data), CR0.PE=0.
        let mut c = with_cs(0x0080_9300, 0x30000, 0xffff_ffff);
        c.cr0 = Some(0x0000_0010);
        c.rip = Some(0x8000);
        c.smm = Some(true);
        let m = ModeDecision::decide(&c, &ModeHints::default());
        assert_eq!((m.kind, m.bits), (ModeKind::Real, Some(16)));
        assert_eq!(m.code_address(&c), Some(0x38000));
        assert!(m
            .evidence
            .iter()
            .any(|e| matches!(e, ModeEvidence::SmmRealAddress { .. })));
    }

    #[test]
    fn cs64_label_and_high_rip_without_cr0_is_64_bit() {
        let mut c = with_cs(0x00a0_9b00, 0, 0xffff_ffff);
        c.rip = Some(0xffff_ffff_8100_0000);
        let hints = ModeHints {
            cs_label: Some(CsLabel::Cs64),
            printed_dpl: true,
            ..Default::default()
        };
        let m = ModeDecision::decide(&c, &hints);
        assert_eq!((m.kind, m.bits), (ModeKind::Long64, Some(64)));
    }

    #[test]
    fn high_rip_alone_is_64_bit() {
        let c = CpuState {
            rip: Some(0xffff_ffff_8100_0000),
            ..Default::default()
        };
        let m = ModeDecision::decide(&c, &ModeHints::default());
        assert_eq!(m.bits, Some(64));
    }

    #[test]
    fn real_mode_code_address_adds_cs_base() {
        let mut c = with_cs(0x0000_9300, 0xf0000, 0xffff);
        c.cr0 = Some(0x6000_0010);
        c.rip = Some(0xfff0);
        let m = ModeDecision::decide(&c, &ModeHints::default());
        assert_eq!(m.kind, ModeKind::Real);
        assert_eq!(m.code_address(&c), Some(0xffff0));
    }

    #[test]
    fn compat_mode_with_cs_d0_is_16_bit() {
        let mut c = with_cs(0x0000_9b00, 0, 0xffff);
        c.cr0 = Some(0x8000_0011);
        c.efer = Some(0x500);
        let m = ModeDecision::decide(&c, &ModeHints::default());
        assert_eq!((m.kind, m.bits), (ModeKind::Compat16, Some(16)));
    }

    #[test]
    fn rflags_vm_is_virtual_8086() {
        let mut c = with_cs(0x0000_f300, 0x1000, 0xffff);
        c.cr0 = Some(0x8000_0011);
        c.efer = Some(0);
        c.rflags = Some(0x0002_0202);
        let m = ModeDecision::decide(&c, &ModeHints::default());
        assert_eq!((m.kind, m.bits), (ModeKind::Virtual8086, Some(16)));
    }

    #[test]
    fn unloaded_state_is_unknown() {
        let mut c = with_cs(0, 0, 0);
        c.cr0 = Some(0);
        c.rflags = Some(0);
        let m = ModeDecision::decide(&c, &ModeHints::default());
        assert_eq!((m.kind, m.bits), (ModeKind::Unknown, None));
    }

    #[test]
    fn missing_everything_is_unknown() {
        let m = ModeDecision::decide(&CpuState::default(), &ModeHints::default());
        assert_eq!((m.kind, m.bits), (ModeKind::Unknown, None));
    }

    #[test]
    fn override_sets_width_and_evidence() {
        let m = ModeDecision::decide(&CpuState::default(), &ModeHints::default()).with_override(64);
        assert_eq!((m.kind, m.bits), (ModeKind::Long64, Some(64)));
        assert!(m.is_override());
    }
}
