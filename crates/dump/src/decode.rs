//! The decoded view of a dump: every named bit of RFLAGS, CR0, CR4, EFER, DR6, DR7 and the
//! segment attribute words (the decoders and their tables live in `kvmtriage-model`), the CPU
//! mode (the model's one decider, [`ModeDecision::decide`]), and the consistency checks: states
//! the CPU cannot be in, or that QEMU would not print.

use kvmtriage_model::{tables, Field, ModeDecision, ModeEvidence, SegName, Segment};
use serde::Serialize;

pub use kvmtriage_model::{
    decode_bits, decode_segment, BitField, RegisterBits, SegmentAttrs, SegmentClass,
};

use crate::dump::{Dump, Warning, WarningKind};

/// Decoded fields of a dump (JSON key `decoded`). A register absent from the dump is `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Decoded {
    pub rflags: Option<RegisterBits>,
    pub cr0: Option<RegisterBits>,
    pub cr4: Option<RegisterBits>,
    pub efer: Option<RegisterBits>,
    pub dr6: Option<RegisterBits>,
    pub dr7: Option<RegisterBits>,
    /// One entry per segment line present, in dump order.
    pub segments: Vec<SegmentAttrs>,
}

use kvmtriage_model::tables::flags::{
    CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFER_LME, RFLAGS_VM,
};

/// Recompute `dump.mode`, `dump.decoded` and the consistency warnings (previous `inconsistent`
/// warnings are replaced). A width given by [`Dump::override_mode`] is kept.
pub fn apply(dump: &mut Dump) {
    dump.warnings
        .retain(|w| w.kind != WarningKind::Inconsistent);
    let efer = dump.efer();
    let lma = efer.is_some_and(|e| e & EFER_LMA != 0);
    dump.decoded = Decoded {
        rflags: dump.rflags().map(|v| decode_bits(tables::RFLAGS, v)),
        cr0: dump.cr(0).map(|v| decode_bits(tables::CR0, v)),
        cr4: dump.cr(4).map(|v| decode_bits(tables::CR4, v)),
        efer: efer.map(|v| decode_bits(tables::EFER, v)),
        dr6: dump.dr(6).map(|v| decode_bits(tables::DR6, v)),
        dr7: dump.dr(7).map(|v| decode_bits(tables::DR7, v)),
        segments: SegName::ALL
            .iter()
            .filter_map(|n| dump.segment(*n).map(|s| (*n, s)))
            .map(|(n, s)| decode_segment(n, u64::from(s.attributes.bits()), lma))
            .collect(),
    };
    let overridden = match dump.mode.evidence.first() {
        Some(ModeEvidence::Override { bits }) => Some(*bits),
        _ => None,
    };
    let mode = ModeDecision::decide(&dump.cpu, &dump.printed.hints);
    dump.mode = match overridden {
        Some(bits) => mode.with_override(bits),
        None => mode,
    };
    let mut warnings = Vec::new();
    consistency(dump, &mut warnings);
    dump.warnings.extend(warnings);
}

fn line_of(dump: &Dump, f: Field) -> u32 {
    dump.line(f).unwrap_or(dump.source.first_line)
}

fn push(out: &mut Vec<Warning>, line: u32, message: String) {
    out.push(Warning {
        line,
        kind: WarningKind::Inconsistent,
        message,
    });
}

/// States the CPU cannot be in, or that QEMU would not print.
fn consistency(dump: &Dump, out: &mut Vec<Warning>) {
    let cr0 = dump.cr(0);
    let cr4 = dump.cr(4);
    let efer = dump.efer();
    let cr0_line = line_of(dump, Field::Cr(0));
    let efer_line = line_of(dump, Field::Efer);
    let lma = efer.map(|e| e & EFER_LMA != 0);
    if let Some(c0) = cr0 {
        if c0 & CR0_PG != 0 && c0 & CR0_PE == 0 {
            push(out, cr0_line, format!("CR0.PG=1 with CR0.PE=0 (CR0={c0:08x}): paging requires protected mode (SDM Vol. 3A §2.5; MOV to CR0 raises #GP)"));
        }
        if c0 & CR0_NW != 0 && c0 & CR0_CD == 0 {
            push(out, cr0_line, format!("CR0.NW=1 with CR0.CD=0 (CR0={c0:08x}) is an invalid combination (SDM Vol. 3A §2.5)"));
        }
    }
    if let Some(e) = efer {
        if e & EFER_LMA != 0 {
            if cr0.is_some_and(|c| c & CR0_PG == 0) {
                push(out, efer_line, "EFER.LMA=1 but CR0.PG=0: IA-32e mode is active only with paging on (SDM Vol. 3A §9.8.5)".to_string());
            }
            if e & EFER_LME == 0 {
                push(
                    out,
                    efer_line,
                    format!("EFER.LMA=1 but EFER.LME=0 (EFER={e:x})"),
                );
            }
            if cr4.is_some_and(|c| c & CR4_PAE == 0) {
                push(
                    out,
                    efer_line,
                    "EFER.LMA=1 but CR4.PAE=0: IA-32e mode requires PAE (SDM Vol. 3A §9.8.5)"
                        .to_string(),
                );
            }
        }
    }
    if let (Some(c4), Some(false)) = (cr4, lma) {
        if c4 & CR4_PCIDE != 0 {
            push(
                out,
                line_of(dump, Field::Cr(4)),
                "CR4.PCIDE=1 outside IA-32e mode (EFER.LMA=0) (SDM Vol. 3A §2.5)".to_string(),
            );
        }
    }
    if let Some(rf) = dump.rflags() {
        if rf & 2 == 0 {
            push(out, line_of(dump, Field::Rflags), format!("RFLAGS bit 1 is 0 (RFLAGS={rf:08x}); it always reads as 1 on a real CPU (SDM Vol. 1 §3.4.3): not a live CPU state"));
        }
    }
    let pe = cr0.is_some_and(|c| c & CR0_PE != 0);
    let v86 = dump.rflags().is_some_and(|r| r & RFLAGS_VM != 0) && lma != Some(true);
    if let Some(cs) = dump.segment(SegName::Cs) {
        let cs_line = line_of(dump, Field::Segment(SegName::Cs));
        let printed = dump.printed.segment_label(SegName::Cs).unwrap_or("");
        let a = cs.attributes;
        let cs64 = printed.contains("CS64");
        if (cs64 || a.l()) && lma == Some(false) && a.s() {
            push(out, cs_line, format!("CS is a 64-bit code segment (L=1{}) but EFER.LMA=0: the L bit only takes effect in IA-32e mode", if cs64 { ", printed CS64" } else { "" }));
        }
        if a.l() && a.db() && lma == Some(true) {
            push(out, cs_line, "CS has both L=1 and D=1, a combination reserved in IA-32e mode (SDM Vol. 3A §5.2.1)".to_string());
        }
    }
    if pe && !v86 {
        if let (Some(cpl), Some(ss)) = (dump.cpu.cpl, dump.segment(SegName::Ss)) {
            let ss_dpl = ss.attributes.dpl();
            if ss.attributes.present() && ss_dpl != cpl {
                push(out, line_of(dump, Field::Segment(SegName::Ss)), format!("SS.DPL={ss_dpl} but CPL={cpl}: in protected mode SS.DPL equals CPL (SDM Vol. 3A §5.7)"));
            }
            if let Some(cs) = dump.segment(SegName::Cs) {
                let a = cs.attributes;
                let cs_dpl = a.dpl();
                let cs_line = line_of(dump, Field::Segment(SegName::Cs));
                if a.is_code() && a.present() {
                    if !a.is_conforming_code() && cs_dpl != cpl {
                        push(out, cs_line, format!("non-conforming CS has DPL={cs_dpl} but CPL={cpl} (SDM Vol. 3A §5.8.1)"));
                    } else if a.is_conforming_code() && cs_dpl > cpl {
                        push(out, cs_line, format!("conforming CS has DPL={cs_dpl} above CPL={cpl} (SDM Vol. 3A §5.8.1.2)"));
                    }
                }
            }
        }
    }
    for n in SegName::ALL {
        if let Some(seg) = dump.segment(n) {
            check_printed_dpl(dump, n, seg, out);
        }
    }
    if let (Some(code), Some(rip)) = (dump.code.as_ref(), dump.rip()) {
        if let Some(m) = code.marker {
            let expected = rip.min(20) as usize;
            if m != expected && code.bytes.len() > m {
                push(out, code.line, format!("Code marker is at byte {m} but RIP={rip:x} puts it at byte {expected} (QEMU starts the window min(RIP, 20) bytes before RIP): bytes lost or added in the copy?"));
            }
        }
    }
}

/// The `DPL=n` QEMU printed must match the attribute word.
fn check_printed_dpl(dump: &Dump, n: SegName, seg: &Segment, out: &mut Vec<Warning>) {
    let Some(rest) = dump
        .printed
        .segment_label(n)
        .and_then(|p| p.strip_prefix("DPL="))
    else {
        return;
    };
    let dpl = seg.attributes.dpl();
    if let Some(p) = rest.bytes().next().filter(u8::is_ascii_digit) {
        if p - b'0' != dpl {
            push(
                out,
                line_of(dump, Field::Segment(n)),
                format!(
                    "{} printed DPL={} but its attribute word {:08x} has DPL={dpl}",
                    n.name(),
                    p - b'0',
                    seg.attributes.bits()
                ),
            );
        }
    }
}
