//! The old qemu-kvm 0.12 format (`kvm_show_regs`): lowercase `rax 0000… rbx …` pairs and
//! `cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0)` segment lines.

use kvmtriage_model::{DescriptorTable, Field, SegName, Segment, SegmentAttributes};

use super::registers::{gpr_of, next_token, parse_hex, seg_of};
use super::Open;
use crate::dump::{GprLayout, WarningKind};

const LEGACY_NAMES: [&str; 30] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15", "rip", "rflags", "cs", "ds", "es", "ss", "fs", "gs", "tr", "ldt", "gdt", "idt",
    "cr0", "efer",
];

/// Whether `s` is a line of the old format: inside an old-format dump any of its names or a
/// long hex word; outside one, only a full `rax <16 hex>` starts one.
pub(crate) fn legacy_token_at(s: &str, open_legacy: bool) -> bool {
    let word = s.split_ascii_whitespace().next().unwrap_or("");
    if open_legacy {
        LEGACY_NAMES.contains(&word)
            || matches!(word, "cr2" | "cr3" | "cr4" | "cr8")
            || (!word.is_empty() && word.bytes().all(|c| c.is_ascii_hexdigit()) && word.len() >= 8)
    } else {
        word == "rax"
            && s.split_ascii_whitespace()
                .nth(1)
                .is_some_and(|v| v.len() == 16 && v.bytes().all(|c| c.is_ascii_hexdigit()))
    }
}

pub(crate) fn parse_legacy_line(open: &mut Open, line: &str, no: u32) {
    let mut toks = line.split_ascii_whitespace();
    while let Some(tok) = toks.next() {
        if let Some(name) = open.legacy_name.take() {
            legacy_value(open, &name, tok, no);
            continue;
        }
        match tok {
            "cs" | "ds" | "es" | "ss" | "fs" | "gs" | "tr" | "ldt" => {
                legacy_segment(
                    open,
                    tok,
                    &line[line.find(tok).map(|p| p + tok.len()).unwrap_or(0)..],
                    no,
                );
                return;
            }
            "gdt" | "idt" => {
                let v = toks.next().unwrap_or("");
                let (b, l) = v.split_once('/').unwrap_or((v, ""));
                match (parse_hex(b), parse_hex(l)) {
                    (Some(base), Some(limit)) => {
                        let t = Some(DescriptorTable {
                            base,
                            limit: limit as u32,
                        });
                        if tok == "gdt" {
                            open.dump.cpu.gdt = t;
                            open.dump.lines.set(Field::Gdt, no);
                        } else {
                            open.dump.cpu.idt = t;
                            open.dump.lines.set(Field::Idt, no);
                        }
                    }
                    _ => open.warn(
                        no,
                        WarningKind::Malformed,
                        format!("cannot read `{tok} {v}` as base/limit"),
                    ),
                }
                open.max_rank = open.max_rank.max(4);
            }
            _ if LEGACY_NAMES.contains(&tok) || matches!(tok, "cr2" | "cr3" | "cr4" | "cr8") => {
                open.legacy_name = Some(tok.to_string());
            }
            _ => open.warn(
                no,
                WarningKind::Malformed,
                format!("unexpected `{tok}` in an old-format (qemu-kvm 0.12) dump"),
            ),
        }
    }
}

fn legacy_value(open: &mut Open, name: &str, tok: &str, no: u32) {
    let Some(v) = parse_hex(tok) else {
        open.warn(
            no,
            WarningKind::Malformed,
            format!("{name} value `{tok}` is not hex"),
        );
        return;
    };
    let d = &mut open.dump;
    let field = match name {
        "rip" => {
            d.cpu.rip = Some(v);
            Field::Rip
        }
        "rflags" => {
            d.cpu.rflags = Some(v);
            Field::Rflags
        }
        "cr0" => {
            d.cpu.cr0 = Some(v);
            Field::Cr(0)
        }
        "cr2" => {
            d.cpu.cr2 = Some(v);
            Field::Cr(2)
        }
        "cr3" => {
            d.cpu.cr3 = Some(v);
            Field::Cr(3)
        }
        "cr4" => {
            d.cpu.cr4 = Some(v);
            Field::Cr(4)
        }
        "cr8" => {
            d.cpu.cr8 = Some(v);
            Field::Cr(8)
        }
        "efer" => {
            d.cpu.efer = Some(v);
            Field::Efer
        }
        _ => {
            let Some(r) = gpr_of(&name.to_ascii_uppercase()) else {
                return;
            };
            if !d.printed.gprs {
                d.printed.gprs = true;
                d.printed.layout = GprLayout::Legacy;
            }
            d.cpu.set_gpr(r, v);
            Field::Gpr(r)
        }
    };
    d.lines.set(field, no);
}

/// `cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0)`: the attribute word is
/// rebuilt from the named fields.
fn legacy_segment(open: &mut Open, name: &str, rest: &str, no: u32) {
    let seg: SegName = match seg_of(&name.to_ascii_uppercase()) {
        Some(s) => s,
        None => return,
    };
    let (sel, r) = next_token(rest);
    let inner = r.trim().trim_start_matches('(').trim_end_matches(')');
    let mut parts = inner.split_ascii_whitespace();
    let bl = parts.next().unwrap_or("");
    let (b, l) = bl.split_once('/').unwrap_or((bl, ""));
    let mut attr = 0u64;
    let mut ok = parse_hex(sel).is_some() && parse_hex(b).is_some() && parse_hex(l).is_some();
    while let Some(field) = parts.next() {
        let v = parts.next().and_then(parse_hex);
        let Some(v) = v else {
            ok = false;
            break;
        };
        let shift = match field {
            "type" => 8,
            "s" => 12,
            "dpl" => 13,
            "p" => 15,
            "avl" => 20,
            "l" => 21,
            "db" => 22,
            "g" => 23,
            _ => continue,
        };
        attr |= v << shift;
    }
    open.max_rank = open.max_rank.max(3);
    if !ok {
        open.warn(
            no,
            WarningKind::Malformed,
            format!("cannot read the old-format segment line for {}", seg.name()),
        );
        return;
    }
    let i = seg.index();
    open.dump.cpu.segments[i] = Some(Segment {
        selector: parse_hex(sel).unwrap_or(0) as u16,
        base: parse_hex(b).unwrap_or(0),
        limit: parse_hex(l).unwrap_or(0) as u32,
        attributes: SegmentAttributes(attr as u32),
    });
    open.dump.printed.segment_labels[i] = Some(format!("({inner})"));
    open.dump.lines.set(Field::Segment(seg), no);
}
