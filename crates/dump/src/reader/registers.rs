//! Register lines: `RAX=… RBX=…`, `RIP=… RFL=… [flags] CPL=…`, segment lines `CS =…`,
//! `GDT=`/`IDT=`, `CR0=…`, `DR0=…`, `EFER=`, TCG's `CCS=`, the FPU and vector lines. Values go to
//! the dump's [`kvmtriage_model::CpuState`], their lines to its line table, what only the text
//! has (layout, flag letters, segment labels) to [`crate::Printed`].

use kvmtriage_model::{
    DescriptorTable, Field, FpReg, Fpu, Gpr, OpmaskReg, SegName, Segment, SegmentAttributes,
    VectorKind, VectorReg,
};

use super::code::{code_bytes, is_byte_token_start, CodeState, CODE_BYTES};
use super::Open;
use crate::dump::{GprLayout, LazyFlags, WarningKind};
use kvmtriage_model::CodeWindow;

/// Register names that may start a token in a dump line.
pub(crate) fn is_reg_name(name: &str) -> bool {
    lookup(name).is_some()
}

/// A register whose value is wide enough to be cut by a line wrap (`HLT=0` is not).
pub(crate) fn is_wide_reg_name(name: &str) -> bool {
    lookup(name).is_some_and(|k| !matches!(k, Key::State | Key::Code | Key::Lazy))
}

/// The register key for a name as QEMU prints it (`RAX`, `R8`, `ES`, `CR0`, `XMM07`, …). Byte
/// patterns keep this off the string-compare path: it runs for every token of every dump line.
pub(crate) fn lookup(name: &str) -> Option<Key> {
    let digit = |c: u8| c.is_ascii_digit().then(|| usize::from(c - b'0'));
    let two = |a: u8, b: u8| Some(digit(a)? * 10 + digit(b)?);
    let b = name.as_bytes();
    Some(match b {
        [b'R', n @ (b'8' | b'9')] => Key::Gpr(usize::from(n - b'0')),
        [b'E', b'S'] => Key::Seg(SegName::Es),
        [b'C', b'S'] => Key::Seg(SegName::Cs),
        [b'S', b'S'] => Key::Seg(SegName::Ss),
        [b'D', b'S'] => Key::Seg(SegName::Ds),
        [b'F', b'S'] => Key::Seg(SegName::Fs),
        [b'G', b'S'] => Key::Seg(SegName::Gs),
        [b'T', b'R'] => Key::Seg(SegName::Tr),
        [b'I', b'I'] => Key::State,
        [b'R' | b'E', x, y] if x.is_ascii_uppercase() => match [*x, *y] {
            [b'A', b'X'] => Key::Gpr(0),
            [b'C', b'X'] => Key::Gpr(1),
            [b'D', b'X'] => Key::Gpr(2),
            [b'B', b'X'] => Key::Gpr(3),
            [b'S', b'P'] => Key::Gpr(4),
            [b'B', b'P'] => Key::Gpr(5),
            [b'S', b'I'] => Key::Gpr(6),
            [b'D', b'I'] => Key::Gpr(7),
            [b'I', b'P'] => Key::Rip,
            [b'F', b'L'] => Key::Rfl,
            _ => return None,
        },
        [b'R', x, y] => match two(*x, *y)? {
            n @ 10..=31 => Key::Gpr(n),
            _ => return None,
        },
        [b'C', b'P', b'L'] | [b'A', b'2', b'0'] | [b'S', b'M', b'M'] | [b'H', b'L', b'T'] => {
            Key::State
        }
        [b'L', b'D', b'T'] => Key::Seg(SegName::Ldt),
        [b'G', b'D', b'T'] => Key::Gdt,
        [b'I', b'D', b'T'] => Key::Idt,
        [b'C', b'R', n @ (b'0' | b'2' | b'3' | b'4')] => Key::Cr(n - b'0'),
        [b'D', b'R', n @ (b'0'..=b'3' | b'6' | b'7')] => Key::Dr(n - b'0'),
        [b'C', b'C', b'S' | b'D' | b'O'] => Key::Lazy,
        [b'F', b'C' | b'S' | b'T', b'W'] => Key::Fpu,
        [b'M', b'X', b'C', b'S', b'R'] => Key::Fpu,
        [b'E', b'F', b'E', b'R'] => Key::Efer,
        [b'C', b'o', b'd', b'e'] => Key::Code,
        [b'F', b'P', b'R', b'0'..=b'7'] => Key::Fpr,
        [b'X' | b'Y' | b'Z', b'M', b'M', x, y] if two(*x, *y)? < 32 => Key::Vector,
        [b'O', b'p', b'm', b'a', b's', b'k', x, y] if two(*x, *y)? < 8 => Key::Vector,
        _ => return None,
    })
}

fn numbered(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// If `s` starts with `NAME=` or `NAME =` (a known register), return the name and the index just
/// after `=`.
pub(crate) fn reg_token_at(s: &str) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_uppercase() || first == b'O') {
        return None;
    }
    let end = b
        .iter()
        .position(|c| !c.is_ascii_alphanumeric())
        .unwrap_or(b.len());
    let name = &s[..end];
    let after = &b[end..];
    let value_at = match after {
        [b'=', ..] => end + 1,
        [b' ', b'=', ..] if name.len() <= 2 => end + 2,
        _ => return None,
    };
    is_reg_name(name).then_some((name, value_at))
}

/// Parse 1–16 hex digits (either case).
pub(crate) fn parse_hex(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let mut v = 0u64;
    for c in s.bytes() {
        let d = HEX_DIGIT[usize::from(c)];
        if d > 15 {
            return None;
        }
        v = v << 4 | u64::from(d);
    }
    Some(v)
}

/// Hex digit values (either case); 0xff for other bytes.
const HEX_DIGIT: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Register keys: order (rank) inside a dump and duplicate detection.
#[derive(Clone, Copy)]
pub(crate) enum Key {
    Gpr(usize),
    Rip,
    Rfl,
    State,
    Seg(SegName),
    Gdt,
    Idt,
    Cr(u8),
    Dr(u8),
    Lazy,
    Efer,
    Fpu,
    Fpr,
    Vector,
    Code,
    Unknown,
}

impl Key {
    pub(crate) fn rank(self) -> u8 {
        match self {
            Key::Gpr(_) => 1,
            Key::Rip | Key::Rfl | Key::State => 2,
            Key::Seg(_) => 3,
            Key::Gdt | Key::Idt => 4,
            Key::Cr(_) => 5,
            Key::Dr(_) => 6,
            Key::Lazy => 7,
            Key::Efer => 8,
            Key::Fpu | Key::Fpr => 9,
            Key::Vector => 10,
            Key::Code => 11,
            Key::Unknown => 0,
        }
    }

    pub(crate) fn bit(self) -> u128 {
        let n: u32 = match self {
            Key::Gpr(i) => i as u32, // 0..32
            Key::Rip => 32,
            Key::Rfl => 33,
            Key::State => 34,
            Key::Seg(s) => 35 + s.index() as u32, // ..43
            Key::Gdt => 43,
            Key::Idt => 44,
            Key::Cr(n) => 45 + u32::from(n.min(7)), // ..53
            Key::Dr(n) => 53 + u32::from(n.min(7)), // ..61
            Key::Lazy => 61,
            Key::Efer => 62,
            Key::Fpu => 63,
            Key::Code => 64,
            // Repeated in one dump; never duplicates.
            Key::Fpr | Key::Vector | Key::Unknown => return 0,
        };
        1u128 << n
    }
}

pub(crate) fn gpr_of(name: &str) -> Option<Gpr> {
    match lookup(name)? {
        Key::Gpr(n) => Gpr::from_number(n),
        _ => None,
    }
}

pub(crate) fn seg_of(name: &str) -> Option<SegName> {
    match lookup(name)? {
        Key::Seg(s) => Some(s),
        _ => None,
    }
}

pub(crate) fn key_of(name: &str) -> Key {
    lookup(name).unwrap_or(Key::Unknown)
}

/// Next whitespace-delimited token of `s` and the rest.
pub(crate) fn next_token(s: &str) -> (&str, &str) {
    let start = s
        .bytes()
        .position(|c| c != b' ' && c != b'\t')
        .unwrap_or(s.len());
    let s = &s[start..];
    let end = s
        .bytes()
        .position(|c| c == b' ' || c == b'\t')
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Read a hex value token; warn on bad digits or a digit count outside `widths`.
fn hex_value(open: &mut Open, name: &str, tok: &str, widths: &[usize], no: u32) -> Option<u64> {
    if tok.is_empty() {
        open.warn(
            no,
            WarningKind::Truncated,
            format!("`{name}=` has no value (line cut?)"),
        );
        return None;
    }
    let Some(v) = parse_hex(tok) else {
        open.warn(
            no,
            WarningKind::Malformed,
            format!("{name} value `{tok}` is not a hex number of at most 16 digits"),
        );
        return None;
    };
    if !widths.is_empty() && !widths.contains(&tok.len()) {
        let expected = widths
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(" or ");
        open.warn(
            no,
            WarningKind::Malformed,
            format!(
                "{name} value `{tok}` has {} hex digits, expected {expected} (damaged or cut?)",
                tok.len()
            ),
        );
    }
    Some(v)
}

fn small(open: &mut Open, name: &str, tok: &str, no: u32) -> Option<u8> {
    match tok.parse::<u8>() {
        Ok(v) => Some(v),
        Err(_) => {
            open.warn(
                no,
                WarningKind::Malformed,
                format!("{name} value `{tok}` is not a small decimal number"),
            );
            None
        }
    }
}

/// Record the line of `field` when `value` was read, forget it when the token was unreadable
/// (the value is then `None` too).
fn set_line(open: &mut Open, field: Field, value: Option<u64>, no: u32) {
    match value {
        Some(_) => open.dump.lines.set(field, no),
        None => open.dump.lines.remove(field),
    }
}

/// The `CPL= II= A20= SMM= HLT=` fields and the flag letters share one line entry: the first line
/// that had one of them.
fn state_line(open: &mut Open, no: u32) {
    if open.dump.lines.get(Field::State).is_none() {
        open.dump.lines.set(Field::State, no);
    }
}

/// Parse one register line into the open dump. Returns the text glued after an empty `Code=`
/// (other output), if any.
pub(crate) fn parse_reg_line<'a>(open: &mut Open, line: &'a str, no: u32) -> Option<&'a str> {
    let mut rest = line;
    let mut last_name = "";
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']');
            let (content, after) = match close {
                Some(c) => (&inner[..c], &inner[c + 1..]),
                None => (inner, ""),
            };
            match last_name {
                "RFL" | "EFL" => {
                    state_line(open, no);
                    open.dump.printed.flags_text = Some(content.to_string());
                }
                "FSW" => {
                    if let Some(v) = content.strip_prefix("ST=") {
                        let v = small(open, "ST", v, no);
                        open.dump.cpu.fpu.get_or_insert_with(Fpu::default).st = v;
                    }
                }
                _ => {}
            }
            rest = after;
            continue;
        }
        let Some((name, value_at)) = reg_token_at(rest) else {
            let (tok, after) = next_token(rest);
            open.warn(
                no,
                WarningKind::Malformed,
                format!("unexpected text `{tok}` in a register line"),
            );
            rest = after;
            continue;
        };
        rest = &rest[value_at..];
        last_name = name;
        let key = key_of(name);
        if key.bit() != 0
            && open.seen & key.bit() != 0
            && !matches!(key, Key::Lazy | Key::Fpu | Key::State)
        {
            open.warn(
                no,
                WarningKind::Malformed,
                format!("{name} appears twice in this dump; the later value is kept"),
            );
        }
        open.seen |= key.bit();
        open.max_rank = open.max_rank.max(key.rank());
        if let Key::Gpr(n) = key {
            let Some(r) = Gpr::from_number(n) else {
                continue;
            };
            let wide = name.starts_with('R');
            let (tok, after) = next_token(rest);
            rest = after;
            let layout = if wide {
                GprLayout::Bits64
            } else {
                GprLayout::Bits32
            };
            let v = hex_value(open, name, tok, if wide { &[16] } else { &[8] }, no);
            let printed = &mut open.dump.printed;
            if !printed.gprs {
                printed.gprs = true;
                printed.layout = layout;
            }
            if printed.layout != layout {
                let msg = format!("{name} mixes the 32-bit and 64-bit register layouts");
                open.warn(no, WarningKind::Malformed, msg);
                continue;
            }
            if let Some(v) = v {
                open.dump.cpu.set_gpr(r, v);
                open.dump.lines.set(Field::Gpr(r), no);
            }
            continue;
        }
        if let Key::Seg(seg) = key {
            // The decode suffix runs to the end of the line, or to the next register token when
            // lines were joined by a reflowing mailer.
            rest = parse_segment(open, seg, rest, no);
            continue;
        }
        match name {
            "RIP" | "EIP" | "RFL" | "EFL" => {
                let (tok, after) = next_token(rest);
                rest = after;
                let widths: &[usize] = match name {
                    "RIP" => &[16],
                    _ => &[8],
                };
                if let Some(v) = hex_value(open, name, tok, widths, no) {
                    if name.ends_with("IP") {
                        open.dump.cpu.rip = Some(v);
                        open.dump.lines.set(Field::Rip, no);
                    } else {
                        open.dump.cpu.rflags = Some(v);
                        open.dump.lines.set(Field::Rflags, no);
                    }
                }
            }
            "CPL" | "II" | "A20" | "SMM" | "HLT" => {
                let (tok, after) = next_token(rest);
                rest = after;
                let v = small(open, name, tok, no);
                state_line(open, no);
                let cpu = &mut open.dump.cpu;
                let flag = v.map(|v| v != 0);
                match name {
                    "CPL" => cpu.cpl = v,
                    "II" => cpu.interrupt_shadow = flag,
                    "A20" => cpu.a20 = flag,
                    "SMM" => cpu.smm = flag,
                    _ => cpu.halted = flag,
                }
            }
            "GDT" | "IDT" => {
                let (b, after) = next_token(rest);
                let (l, after) = next_token(after);
                rest = after;
                let widths: &[usize] = if layout64(open) { &[16] } else { &[8, 16] };
                let base = hex_value(open, name, b, widths, no);
                let limit = hex_value(open, name, l, &[8], no);
                if let (Some(base), Some(limit)) = (base, limit) {
                    let t = Some(DescriptorTable {
                        base,
                        limit: limit as u32,
                    });
                    if name == "GDT" {
                        open.dump.cpu.gdt = t;
                        open.dump.lines.set(Field::Gdt, no);
                    } else {
                        open.dump.cpu.idt = t;
                        open.dump.lines.set(Field::Idt, no);
                    }
                }
            }
            "CR0" | "CR2" | "CR3" | "CR4" | "DR0" | "DR1" | "DR2" | "DR3" | "DR6" | "DR7"
            | "EFER" => {
                let (tok, after) = next_token(rest);
                rest = after;
                let widths: &[usize] = match name {
                    "CR0" | "CR4" => &[8],
                    "EFER" => &[16],
                    _ if layout64(open) => &[16],
                    _ => &[8, 16],
                };
                let v = hex_value(open, name, tok, widths, no);
                let n = name.as_bytes()[2].wrapping_sub(b'0');
                let field = match name {
                    "EFER" => {
                        open.dump.cpu.efer = v;
                        open.has_efer = true;
                        Field::Efer
                    }
                    _ if name.starts_with('C') => {
                        let cpu = &mut open.dump.cpu;
                        *match n {
                            0 => &mut cpu.cr0,
                            2 => &mut cpu.cr2,
                            3 => &mut cpu.cr3,
                            _ => &mut cpu.cr4,
                        } = v;
                        Field::Cr(n)
                    }
                    _ => {
                        open.dump.cpu.dr[usize::from(n & 7)] = v;
                        Field::Dr(n)
                    }
                };
                set_line(open, field, v, no);
            }
            "CCS" | "CCD" | "CCO" => {
                let (tok, after) = next_token(rest);
                rest = after;
                if open.dump.lazy_flags.is_none() {
                    open.dump.lazy_flags = Some(LazyFlags::default());
                    open.dump.lines.set(Field::LazyFlags, no);
                }
                if name == "CCO" {
                    if let Some(lf) = open.dump.lazy_flags.as_mut() {
                        lf.cco = tok.to_string();
                    }
                } else if let Some(v) = hex_value(open, name, tok, &[8, 16], no) {
                    if let Some(lf) = open.dump.lazy_flags.as_mut() {
                        if name == "CCS" {
                            lf.ccs = v;
                        } else {
                            lf.ccd = v;
                        }
                    }
                }
            }
            "FCW" | "FSW" | "FTW" | "MXCSR" => {
                let (tok, after) = next_token(rest);
                rest = after;
                let widths: &[usize] = match name {
                    "FTW" => &[2],
                    "MXCSR" => &[8],
                    _ => &[4],
                };
                let v = hex_value(open, name, tok, widths, no);
                let fpu = open.dump.cpu.fpu.get_or_insert_with(Fpu::default);
                let field = match name {
                    "FCW" => {
                        fpu.fcw = v.map(|v| v as u16);
                        Field::Fcw
                    }
                    "FSW" => {
                        fpu.fsw = v.map(|v| v as u16);
                        Field::Fsw
                    }
                    "FTW" => {
                        fpu.ftw = v.map(|v| v as u16);
                        Field::Ftw
                    }
                    _ => {
                        fpu.mxcsr = v.map(|v| v as u32);
                        Field::Mxcsr
                    }
                };
                set_line(open, field, v, no);
            }
            "Code" => {
                open.code = CodeState::Reading;
                open.dump.code = Some(CodeWindow {
                    bytes: Vec::with_capacity(CODE_BYTES),
                    marker: None,
                    line: no,
                });
                open.dump.lines.set(Field::Code, no);
                let body = rest.trim_start();
                if !body.is_empty() && !is_byte_token_start(body) {
                    open.code = CodeState::Interrupted { line: no };
                    open.warn(
                        no,
                        WarningKind::Interleaved,
                        format!(
                            "`Code=` is directly followed by other output (`{}`)",
                            first_words(body)
                        ),
                    );
                    return Some(body);
                } else {
                    code_bytes(open, body, no);
                }
                break;
            }
            _ => {
                let (tok, after) = next_token(rest);
                rest = after;
                if let Some(n) = numbered(name, "FPR") {
                    let (exp, after) = next_token(rest);
                    rest = after;
                    let m = hex_value(open, name, tok, &[16], no);
                    let e = hex_value(open, name, exp, &[4], no);
                    if let (Some(mantissa), Some(sign_exponent)) = (m, e) {
                        let index = n as u8;
                        open.dump
                            .cpu
                            .fpu
                            .get_or_insert_with(Fpu::default)
                            .fpr
                            .push(FpReg {
                                index,
                                mantissa,
                                sign_exponent: sign_exponent as u16,
                            });
                        open.dump.lines.set(Field::Fpr(index), no);
                    }
                } else if let Some(n) = numbered(name, "Opmask") {
                    if let Some(value) = hex_value(open, name, tok, &[16], no) {
                        let index = n as u8;
                        open.dump.cpu.opmask.push(OpmaskReg { index, value });
                        open.dump.lines.set(Field::Opmask(index), no);
                    }
                } else {
                    let (kind, n, groups) = if let Some(n) = numbered(name, "XMM") {
                        (VectorKind::Xmm, n, 2)
                    } else if let Some(n) = numbered(name, "YMM") {
                        (VectorKind::Ymm, n, 4)
                    } else if let Some(n) = numbered(name, "ZMM") {
                        (VectorKind::Zmm, n, 8)
                    } else {
                        continue;
                    };
                    let mut quads = Vec::with_capacity(groups);
                    if kind == VectorKind::Xmm && tok.len() == 32 {
                        // QEMU < 6.1: one 32-digit run.
                        let hi = hex_value(open, name, &tok[..16], &[16], no);
                        let lo = hex_value(open, name, &tok[16..], &[16], no);
                        quads.extend(hi);
                        quads.extend(lo);
                    } else {
                        quads.extend(hex_value(open, name, tok, &[16], no));
                        while quads.len() < groups {
                            let (t, after) = next_token(rest);
                            if t.is_empty() || t.contains('=') {
                                break;
                            }
                            rest = after;
                            quads.extend(hex_value(open, name, t, &[16], no));
                        }
                    }
                    if quads.len() != groups {
                        open.warn(
                            no,
                            WarningKind::Malformed,
                            format!("{name} has {} of {groups} 64-bit groups", quads.len()),
                        );
                    }
                    let index = n as u8;
                    open.dump.cpu.vectors.push(VectorReg { kind, index, quads });
                    open.dump.lines.set(Field::Vector(kind, index), no);
                }
            }
        }
    }
    None
}

/// QEMU used the 64-bit layout (CS.L=1): bases, CR2/CR3 and DRs have 16 digits.
fn layout64(open: &Open) -> bool {
    open.dump.printed.gprs && open.dump.printed.layout == GprLayout::Bits64
}

pub(crate) fn first_words(s: &str) -> &str {
    let end = s.char_indices().nth(40).map(|(i, _)| i).unwrap_or(s.len());
    s[..end].trim_end()
}

/// Parse `SSSS BASE LIMIT FLAGS[ decode]`; returns the text after the decode (empty unless
/// another register token follows on the same line).
fn parse_segment<'a>(open: &mut Open, seg: SegName, rest: &'a str, no: u32) -> &'a str {
    let name = seg.name();
    let (sel, r) = next_token(rest);
    let (base, r) = next_token(r);
    let (limit, r) = next_token(r);
    let (attr, r) = next_token(r);
    let warnings = open.dump.warnings.len();
    let selector = hex_value(open, name, sel, &[4], no);
    let widths: &[usize] = if layout64(open) { &[16] } else { &[8, 16] };
    let base = hex_value(open, name, base, widths, no);
    let limit = hex_value(open, name, limit, &[8], no);
    let attributes = hex_value(open, name, attr, &[8], no);
    // Every field as QEMU prints it: the line was not cut after the attribute word.
    let whole = open.dump.warnings.len() == warnings;
    // End of the decode suffix: the next `NAME=` register token, if any.
    let mut end = r.len();
    let rb = r.as_bytes();
    for (i, c) in rb.iter().enumerate() {
        if *c == b' ' && reg_token_at(&r[i + 1..]).is_some() {
            end = i;
            break;
        }
    }
    let (printed, after) = r.split_at(end);
    let (Some(selector), Some(base), Some(limit), Some(attributes)) =
        (selector, base, limit, attributes)
    else {
        return after;
    };
    let printed = printed.trim();
    let i = seg.index();
    open.dump.cpu.segments[i] = Some(Segment {
        selector: selector as u16,
        base,
        limit: limit as u32,
        attributes: SegmentAttributes(attributes as u32),
    });
    open.dump.printed.segment_labels[i] = (!printed.is_empty()).then(|| printed.to_string());
    open.dump.lines.set(Field::Segment(seg), no);
    if whole {
        open.whole_segments |= 1 << i;
    } else {
        open.whole_segments &= !(1 << i);
    }
    after
}
