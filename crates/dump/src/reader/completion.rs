//! Completion: turning what was read into a finished [`Dump`]: whether it is a dump at all, what
//! is missing from it (warnings), what QEMU's labels and layout say about the CPU mode (the
//! hints for [`kvmtriage_model::ModeDecision::decide`]), the decoding; and the record
//! `kvmtriage repro` prints after its dump.

use kvmtriage_model::{CsLabel, ModeHints, SegName};

use super::code::{CodeState, CODE_BYTES};
use super::Open;
use crate::dump::{Dump, ExitField, GprLayout, WarningKind};

/// Header of the record `kvmtriage repro` prints after its dump.
pub(crate) const EXIT_RECORD_HEADER: &str = "kvmtriage: exit record";

/// A `key: value` line of an exit record (indented).
pub(crate) fn exit_field(text: &str, line: u32) -> Option<ExitField> {
    let indented = text.starts_with(' ') || text.starts_with('\t');
    let (key, value) = text.split_once(':').filter(|_| indented)?;
    Some(ExitField {
        key: key.trim().to_string(),
        value: value.trim().to_string(),
        line,
    })
}

/// The finished dump, or `None` when what was read is not a dump (prose that merely looked like
/// a register token, `ES = 0x10`).
pub(crate) fn finish(mut open: Open) -> Option<Dump> {
    if values_read(&open.dump) < 2 {
        return None;
    }
    if !open.code_carry.is_empty() {
        let carry = std::mem::take(&mut open.code_carry);
        let line = open.dump.code.as_ref().map(|c| c.line).unwrap_or(0);
        open.warn(
            line,
            WarningKind::Truncated,
            format!("Code line ends in an incomplete byte `{carry}`"),
        );
    }
    if let CodeState::Interrupted { line } = open.code {
        open.warn(
            line,
            WarningKind::Truncated,
            "`Code=` is followed by other output and its bytes never resume".to_string(),
        );
    }
    check_complete(&mut open);
    open.dump.printed.hints = hints(&open);
    open.dump.refresh_decoded();
    Some(open.dump)
}

/// How many register values were read (GPRs, RIP/RFLAGS, segments, tables, control/debug
/// registers, EFER, code bytes, x87 and vector registers).
fn values_read(d: &Dump) -> usize {
    let c = &d.cpu;
    let gprs = c.gprs.iter().flatten().count();
    let segs = c.segments.iter().flatten().count();
    let crs = [c.cr0, c.cr2, c.cr3, c.cr4].iter().flatten().count();
    let drs = [0, 1, 2, 3, 6, 7]
        .iter()
        .filter(|n| c.dr[**n].is_some())
        .count();
    gprs + segs
        + crs
        + drs
        + usize::from(c.rip.is_some())
        + usize::from(c.rflags.is_some())
        + usize::from(c.gdt.is_some())
        + usize::from(c.idt.is_some())
        + usize::from(c.efer.is_some())
        + d.code.as_ref().map_or(0, |c| c.bytes.len())
        + c.fpu.as_ref().map_or(0, |f| f.fpr.len())
        + c.vectors.len()
}

/// What QEMU's labels and register layout say about the mode (`x86_cpu_dump_state` prints
/// `DPL=`/`CS64`/… only with CR0.PE=1 and P=1, the IA-32e system type names only with
/// EFER.LMA=1, the 64-bit layout only with `HF_CS64_MASK`).
fn hints(open: &Open) -> ModeHints {
    let p = &open.dump.printed;
    let words = |n: SegName| p.segment_label(n).unwrap_or("").split_ascii_whitespace();
    let cs_label = words(SegName::Cs).find_map(|w| match w {
        "CS64" => Some(CsLabel::Cs64),
        "CS32" => Some(CsLabel::Cs32),
        "CS16" => Some(CsLabel::Cs16),
        _ => None,
    });
    let mut printed_dpl = false;
    let mut ia32e_system_label = false;
    let mut present_segment_without_label = false;
    for n in SegName::ALL {
        for w in words(n) {
            printed_dpl |= w.starts_with("DPL=");
            ia32e_system_label |= matches!(
                w,
                "TSS64-avl" | "TSS64-busy" | "CallGate64" | "IntGate64" | "TrapGate64" | "<hiword>"
            );
        }
        let whole = open.whole_segments & (1 << n.index()) != 0;
        let present = open
            .dump
            .cpu
            .segment(n)
            .is_some_and(|s| s.attributes.present());
        present_segment_without_label |=
            !open.legacy && whole && present && p.segment_label(n).is_none();
    }
    let layout64 = match (p.gprs, p.layout) {
        (true, GprLayout::Bits64) => Some(true),
        (true, GprLayout::Bits32) => Some(false),
        _ => None,
    };
    ModeHints {
        cs_label,
        printed_dpl,
        present_segment_without_label,
        ia32e_system_label,
        layout64,
    }
}

/// Warn about sections missing from a dump (cut or truncated copies).
fn check_complete(open: &mut Open) {
    if open.legacy {
        return;
    }
    let d = &open.dump;
    let c = &d.cpu;
    let last = d.source.last_line;
    let mut missing: Vec<&str> = Vec::new();
    let n_gpr = c.gprs.iter().take(16).flatten().count();
    let want_gpr = match (d.printed.gprs, d.printed.layout) {
        (true, GprLayout::Bits64) => 16,
        _ => 8,
    };
    if n_gpr < want_gpr {
        missing.push("general registers");
    }
    if c.rip.is_none() || c.rflags.is_none() {
        missing.push("RIP/RFLAGS line");
    }
    let absent: Vec<&str> = SegName::ALL
        .iter()
        .filter(|s| c.segment(**s).is_none())
        .map(|s| s.name())
        .collect();
    let seg_text;
    if absent.len() == SegName::ALL.len() {
        missing.push("segment lines");
    } else if !absent.is_empty() {
        seg_text = format!("segment lines ({})", absent.join(" "));
        missing.push(&seg_text);
    }
    if c.gdt.is_none() || c.idt.is_none() {
        missing.push("GDT/IDT");
    }
    let crs = [
        ("CR0", c.cr0),
        ("CR2", c.cr2),
        ("CR3", c.cr3),
        ("CR4", c.cr4),
    ];
    let cr_absent: Vec<&str> = crs
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(n, _)| *n)
        .collect();
    let cr_text;
    if cr_absent.len() == 4 {
        missing.push("control registers");
    } else if !cr_absent.is_empty() {
        cr_text = format!("control registers ({})", cr_absent.join(" "));
        missing.push(&cr_text);
    }
    if [0, 1, 2, 3, 6, 7].iter().any(|n| c.dr[*n].is_none()) {
        missing.push("debug registers");
    }
    if c.efer.is_none() {
        missing.push("EFER");
    }
    if !missing.is_empty() {
        let msg = format!(
            "dump ends at line {last} without: {} (copy truncated?)",
            missing.join(", ")
        );
        open.warn(last, WarningKind::Truncated, msg);
    }
    if let Some(code) = &open.dump.code {
        let (n, line) = (code.bytes.len(), code.line);
        if code.marker.is_none() && n > 0 {
            open.warn(
                line,
                WarningKind::Malformed,
                "Code line has no `<..>` marker for the byte at RIP".to_string(),
            );
        }
        if n < CODE_BYTES && open.code != CodeState::None {
            open.warn(
                line,
                WarningKind::Truncated,
                format!("Code window has {n} bytes; QEMU prints {CODE_BYTES} (cut?)"),
            );
        } else if n > CODE_BYTES {
            open.warn(
                line,
                WarningKind::Malformed,
                format!("Code window has {n} bytes; QEMU prints {CODE_BYTES}"),
            );
        }
    }
}

/// NUL bytes or many control characters: not text.
pub(crate) fn looks_binary(text: &str) -> bool {
    let b = text.as_bytes();
    let mut odd = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == 0 {
            return true;
        }
        let bad = match c {
            b'\t' | 0x1b | 0x0c | 0x08 => false,
            0..=0x1f | 0x7f => true,
            // U+FFFD (what lossy UTF-8 decoding leaves for invalid bytes)
            0xef => b.get(i + 1) == Some(&0xbf) && b.get(i + 2) == Some(&0xbd),
            // C1 control characters U+0080..U+009F
            0xc2 => b.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)),
            _ => false,
        };
        odd += usize::from(bad);
        i += 1;
    }
    odd >= 4 && odd * 16 >= b.len().min(4096)
}
