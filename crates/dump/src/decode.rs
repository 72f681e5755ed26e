//! Bit decoders: RFLAGS, CR0, CR4, EFER, DR6, DR7, segment attributes, CPU
//! mode and paging mode, and consistency checks.
//!
//! Bit names come from `data/bits.toml` (Intel SDM spelling, with sections).

use serde::Serialize;

use crate::hex;
use crate::model::{Dump, ModeInfo, ModeKind, PagingMode, SegName, Segment, Warning, WarningKind};
use crate::tables::{self, BitDef};

/// Decoded fields of a dump (JSON key `decoded`). A register absent from
/// the dump is `null`.
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

const CR0_PE: u64 = 1;
const CR0_NW: u64 = 1 << 29;
const CR0_CD: u64 = 1 << 30;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_LA57: u64 = 1 << 12;
const CR4_PCIDE: u64 = 1 << 17;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const RFLAGS_VM: u64 = 1 << 17;
const ATTR_P: u64 = 1 << 15;
const ATTR_L: u64 = 1 << 21;
const ATTR_DB: u64 = 1 << 22;

/// Recompute `dump.mode`, `dump.decoded` and consistency warnings (previous
/// `inconsistent` warnings are replaced).
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
            .filter_map(|n| dump.segment(*n))
            .map(|s| decode_segment(s.name, s.attributes, lma))
            .collect(),
    };
    dump.mode = mode(dump);
    let mut warnings = Vec::new();
    consistency(dump, &mut warnings);
    dump.warnings.extend(warnings);
}

fn line_of(dump: &Dump, reg: Option<&crate::model::Reg>) -> u32 {
    reg.map(|r| r.line).unwrap_or(dump.source.first_line)
}

/// CPU mode (SDM Vol. 3A §2.2 "Modes of operation", §5.2.1 for CS.L/D) and
/// paging mode (SDM Vol. 3A §4.1.1, Table 4-1).
pub fn mode(dump: &Dump) -> ModeInfo {
    let mut ev = Vec::new();
    let cr0 = dump.cr(0);
    let cr4 = dump.cr(4);
    let efer = dump.efer();
    let rflags = dump.rflags();
    let cs = dump.segment(SegName::Cs);
    let paging = match (cr0, cr4, efer) {
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
    };
    let Some(cr0) = cr0 else {
        ev.push("CR0 is not in the dump".to_string());
        return ModeInfo {
            bits: None,
            kind: ModeKind::Unknown,
            evidence: ev,
            paging,
        };
    };
    let unknown = |mut ev: Vec<String>, why: String| {
        ev.push(why);
        ModeInfo {
            bits: None,
            kind: ModeKind::Unknown,
            evidence: ev,
            paging,
        }
    };
    // In virtual-8086 mode the segment caches hold data-type attributes.
    let v86 = cr0 & CR0_PE != 0
        && rflags.is_some_and(|r| r & RFLAGS_VM != 0)
        && efer.is_none_or(|e| e & EFER_LMA == 0);
    if let Some(cs) = cs.filter(|_| !v86) {
        if cs.attributes >> 12 & 1 == 0 || cs.attributes >> 11 & 1 == 0 {
            return unknown(
                ev,
                format!(
                    "CS attributes {:08x} do not describe a code segment: the register state was not loaded or could not be read (e.g. encrypted/TDX guest, power-on state)",
                    cs.attributes
                ),
            );
        }
    }
    if cr0 & CR0_PE == 0 {
        ev.push(format!("CR0.PE=0 (CR0={cr0:08x}): real-address mode"));
        let (kind, bits) = (ModeKind::Real, 16);
        if let Some(cs) = cs.filter(|c| c.attributes & ATTR_DB != 0) {
            ev.push(format!(
                "CS.D=1 in real mode (attributes {:08x}): 32-bit code segment cached from protected mode",
                cs.attributes
            ));
            return ModeInfo {
                bits: Some(32),
                kind,
                evidence: ev,
                paging,
            };
        }
        return ModeInfo {
            bits: Some(bits),
            kind,
            evidence: ev,
            paging,
        };
    }
    ev.push(format!("CR0.PE=1 (CR0={cr0:08x}): protected mode"));
    let lma = match efer {
        Some(e) => {
            let on = e & EFER_LMA != 0;
            ev.push(format!("EFER.LMA={} (EFER={e:x})", u8::from(on)));
            on
        }
        None => {
            ev.push("EFER is not in the dump".to_string());
            false
        }
    };
    if !lma {
        if let Some(rf) = rflags {
            if rf & RFLAGS_VM != 0 {
                ev.push(format!("RFLAGS.VM=1 (RFLAGS={rf:08x})"));
                return ModeInfo {
                    bits: Some(16),
                    kind: ModeKind::Virtual8086,
                    evidence: ev,
                    paging,
                };
            }
        }
    }
    let Some(cs) = cs else {
        if lma && dump.general.as_ref().map(|g| g.layout) == Some(crate::GprLayout::Bits64) {
            ev.push("CS line missing; QEMU used the 64-bit register layout (CS.L=1)".to_string());
            return ModeInfo {
                bits: Some(64),
                kind: ModeKind::Long64,
                evidence: ev,
                paging,
            };
        }
        return unknown(ev, "CS line missing: code width unknown".to_string());
    };
    if cs.attributes & ATTR_P == 0 {
        return unknown(
            ev,
            format!("CS not present (attributes {:08x})", cs.attributes),
        );
    }
    let l = cs.attributes & ATTR_L != 0;
    let d = cs.attributes & ATTR_DB != 0;
    let (kind, bits) = if lma && l {
        ev.push(format!(
            "CS.L=1 (attributes {:08x}): 64-bit mode",
            cs.attributes
        ));
        (ModeKind::Long64, 64)
    } else if lma {
        ev.push(format!(
            "CS.L=0, CS.D={} (attributes {:08x}): compatibility mode",
            u8::from(d),
            cs.attributes
        ));
        if d {
            (ModeKind::Compat32, 32)
        } else {
            (ModeKind::Compat16, 16)
        }
    } else {
        ev.push(format!(
            "CS.D={} (attributes {:08x})",
            u8::from(d),
            cs.attributes
        ));
        if d {
            (ModeKind::Protected32, 32)
        } else {
            (ModeKind::Protected16, 16)
        }
    };
    ModeInfo {
        bits: Some(bits),
        kind,
        evidence: ev,
        paging,
    }
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
    let cr0_line = line_of(dump, dump.cr.cr0.as_ref());
    let efer_line = line_of(dump, dump.efer.as_ref());
    let lma = efer.map(|e| e & EFER_LMA != 0);
    if let Some(c0) = cr0 {
        if c0 & CR0_PG != 0 && c0 & CR0_PE == 0 {
            push(out, cr0_line, format!("line {cr0_line}: CR0.PG=1 with CR0.PE=0 (CR0={c0:08x}): paging requires protected mode (SDM Vol. 3A §2.5; MOV to CR0 raises #GP)"));
        }
        if c0 & CR0_NW != 0 && c0 & CR0_CD == 0 {
            push(out, cr0_line, format!("line {cr0_line}: CR0.NW=1 with CR0.CD=0 (CR0={c0:08x}) is an invalid combination (SDM Vol. 3A §2.5)"));
        }
    }
    if let Some(e) = efer {
        if e & EFER_LMA != 0 {
            if cr0.is_some_and(|c| c & CR0_PG == 0) {
                push(out, efer_line, format!("line {efer_line}: EFER.LMA=1 but CR0.PG=0: IA-32e mode is active only with paging on (SDM Vol. 3A §9.8.5)"));
            }
            if e & EFER_LME == 0 {
                push(
                    out,
                    efer_line,
                    format!("line {efer_line}: EFER.LMA=1 but EFER.LME=0 (EFER={e:x})"),
                );
            }
            if cr4.is_some_and(|c| c & CR4_PAE == 0) {
                push(out, efer_line, format!("line {efer_line}: EFER.LMA=1 but CR4.PAE=0: IA-32e mode requires PAE (SDM Vol. 3A §9.8.5)"));
            }
        }
    }
    if let (Some(c4), Some(false)) = (cr4, lma) {
        if c4 & CR4_PCIDE != 0 {
            let l = line_of(dump, dump.cr.cr4.as_ref());
            push(
                out,
                l,
                format!(
                    "line {l}: CR4.PCIDE=1 outside IA-32e mode (EFER.LMA=0) (SDM Vol. 3A §2.5)"
                ),
            );
        }
    }
    if let Some(rf) = dump.rflags.as_ref() {
        if rf.get() & 2 == 0 {
            push(out, rf.line, format!("line {}: RFLAGS bit 1 is 0 (RFLAGS={:08x}); it always reads as 1 on a real CPU (SDM Vol. 1 §3.4.3): not a live CPU state", rf.line, rf.get()));
        }
    }
    let pe = cr0.is_some_and(|c| c & CR0_PE != 0);
    let v86 = dump.rflags().is_some_and(|r| r & RFLAGS_VM != 0) && lma != Some(true);
    if let Some(cs) = dump.segment(SegName::Cs) {
        let printed = cs.printed_decode.as_deref().unwrap_or("");
        if (printed.contains("CS64") || cs.attributes & ATTR_L != 0)
            && lma == Some(false)
            && cs.attributes >> 12 & 1 == 1
        {
            push(out, cs.line, format!("line {}: CS is a 64-bit code segment (L=1{}) but EFER.LMA=0: the L bit only takes effect in IA-32e mode", cs.line, if printed.contains("CS64") { ", printed CS64" } else { "" }));
        }
        if cs.attributes & ATTR_L != 0 && cs.attributes & ATTR_DB != 0 && lma == Some(true) {
            push(out, cs.line, format!("line {}: CS has both L=1 and D=1, a combination reserved in IA-32e mode (SDM Vol. 3A §5.2.1)", cs.line));
        }
    }
    if pe && !v86 {
        if let (Some(cpl), Some(ss)) = (
            dump.state.as_ref().and_then(|s| s.cpl),
            dump.segment(SegName::Ss),
        ) {
            let ss_dpl = ((ss.attributes >> 13) & 3) as u8;
            let usable = ss.attributes & ATTR_P != 0;
            if usable && ss_dpl != cpl {
                push(out, ss.line, format!("line {}: SS.DPL={ss_dpl} but CPL={cpl}: in protected mode SS.DPL equals CPL (SDM Vol. 3A §5.7)", ss.line));
            }
            if let Some(cs) = dump.segment(SegName::Cs) {
                let cs_dpl = ((cs.attributes >> 13) & 3) as u8;
                let conforming = cs.attributes >> 10 & 1 == 1;
                let code = cs.attributes >> 11 & 1 == 1 && cs.attributes >> 12 & 1 == 1;
                if code && cs.attributes & ATTR_P != 0 {
                    if !conforming && cs_dpl != cpl {
                        push(out, cs.line, format!("line {}: non-conforming CS has DPL={cs_dpl} but CPL={cpl} (SDM Vol. 3A §5.8.1)", cs.line));
                    } else if conforming && cs_dpl > cpl {
                        push(out, cs.line, format!("line {}: conforming CS has DPL={cs_dpl} above CPL={cpl} (SDM Vol. 3A §5.8.1.2)", cs.line));
                    }
                }
            }
        }
    }
    for seg in SegName::ALL.iter().filter_map(|n| dump.segment(*n)) {
        check_printed_dpl(seg, out);
    }
    if let (Some(code), Some(rip)) = (dump.code.as_ref(), dump.rip()) {
        if let Some(m) = code.marker {
            let expected = rip.min(20) as usize;
            if m != expected && code.bytes.len() > m {
                push(out, code.line, format!("line {}: Code marker is at byte {m} but RIP={rip:x} puts it at byte {expected} (QEMU starts the window min(RIP, 20) bytes before RIP): bytes lost or added in the copy?", code.line));
            }
        }
    }
}

/// The `DPL=n` QEMU printed must match the attribute word.
fn check_printed_dpl(seg: &Segment, out: &mut Vec<Warning>) {
    let Some(printed) = seg.printed_decode.as_deref() else {
        return;
    };
    let Some(rest) = printed.strip_prefix("DPL=") else {
        return;
    };
    let dpl = ((seg.attributes >> 13) & 3) as u8;
    if let Some(p) = rest.bytes().next().filter(u8::is_ascii_digit) {
        if p - b'0' != dpl {
            push(
                out,
                seg.line,
                format!(
                    "line {}: {} printed DPL={} but its attribute word {:08x} has DPL={dpl}",
                    seg.line,
                    seg.name.name(),
                    p - b'0',
                    seg.attributes
                ),
            );
        }
    }
}
