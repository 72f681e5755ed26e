//! The reader: finds QEMU x86 register dumps inside arbitrary text.
//!
//! Works line by line. Each line's prefix (journald, dmesg, libvirt
//! timestamps, mail quotes, indentation) is skipped by looking for the first
//! position, after a prefix-like character, where a dump token starts. Event
//! messages (`error: kvm run failed …`, `KVM internal error …`) are found
//! anywhere in a line because QEMU's stderr may be glued to guest output.
//! Raw quoted-printable mail is decoded first (soft line breaks joined,
//! `=3D` decoded) when the text contains `=3D`.

use std::borrow::Cow;

use crate::hex::Hex;
use crate::model::*;
use crate::tables::errno_from_text;
use crate::ReadError;

/// Lines an event message may precede its dump by (VMX advice paragraph,
/// libvirt `reason=` lines, blank lines).
const EVENT_REACH: u32 = 40;
/// Consecutive unrelated lines that close an unfinished dump.
const MAX_GAP: u32 = 8;
/// Bytes QEMU prints in a `Code=` window.
const CODE_BYTES: usize = 50;

pub(crate) fn read(text: &str) -> Result<Vec<Dump>, ReadError> {
    // A byte-order mark is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ReadError::Empty);
    }
    let mut reader = Reader::default();
    let lines = logical_lines(text);
    reader.total_lines = lines.last().map(|l| l.last).unwrap_or(0);
    for line in &lines {
        reader.line(&line.text, line.no, line.last);
    }
    reader.finish_open();
    if text.contains(EXIT_RECORD_HEADER) {
        attach_exit_records(&mut reader.dumps, &lines);
    }
    if reader.dumps.is_empty() {
        // Only now look for binary data: the common case never pays for it.
        if let Some(line) = lines.iter().find(|l| looks_binary(&l.text)).map(|l| l.no) {
            return Err(ReadError::Binary { line });
        }
        if let Some(line) = reader.oops_line {
            return Err(ReadError::KernelOops { line });
        }
        return Err(ReadError::NoDump {
            lines_scanned: reader.total_lines,
        });
    }
    Ok(reader.dumps)
}

/// Header of the record `kvmtriage repro` prints after its dump.
const EXIT_RECORD_HEADER: &str = "kvmtriage: exit record";

/// Reads each `kvmtriage: exit record` block (indented `key: value` lines) and attaches it to
/// the dump just before it.
fn attach_exit_records(dumps: &mut [Dump], lines: &[LogicalLine<'_>]) {
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].text.trim_start().starts_with(EXIT_RECORD_HEADER) {
            i += 1;
            continue;
        }
        let header = lines[i].no;
        let mut record = ExitRecord {
            line: header,
            fields: Vec::new(),
        };
        i += 1;
        while let Some(line) = lines.get(i) {
            let text = &line.text;
            let indented = text.starts_with(' ') || text.starts_with('\t');
            let Some((key, value)) = text.split_once(':').filter(|_| indented) else {
                break;
            };
            record.fields.push(ExitField {
                key: key.trim().to_string(),
                value: value.trim().to_string(),
                line: line.no,
            });
            i += 1;
        }
        if let Some(dump) = dumps
            .iter_mut()
            .rev()
            .find(|d| d.source.first_line < header)
        {
            dump.exit_record = Some(record);
        }
    }
}

// ---------------------------------------------------------------------------
// Logical lines: CRLF, quoted-printable soft breaks.

struct LogicalLine<'a> {
    text: Cow<'a, str>,
    /// First physical line (1-based).
    no: u32,
    /// Last physical line it spans.
    last: u32,
}

fn logical_lines(text: &str) -> Vec<LogicalLine<'_>> {
    let qp = text.contains("=3D");
    // A dump inside a JSON string (QMP `human-monitor-command` answers, `virsh
    // qemu-monitor-command` output) has its line breaks escaped as `\r\n`.
    let json_escaped = text.contains("\\n");
    let mut out: Vec<LogicalLine<'_>> = Vec::with_capacity(64);
    let mut no = 0u32;
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut phys = body.split('\n');
    while let Some(raw) = phys.next() {
        no = no.saturating_add(1);
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if json_escaped && line.contains("\\n") && has_dump_token(line) {
            for piece in line.split("\\n") {
                let piece = piece.strip_suffix("\\r").unwrap_or(piece);
                out.push(LogicalLine {
                    text: Cow::Owned(piece.replace("\\\"", "\"").replace("\\\\", "\\")),
                    no,
                    last: no,
                });
            }
            continue;
        }
        if qp && line.contains("=3D") {
            let first = no;
            let mut joined = String::with_capacity(line.len() * 2);
            let mut cur = line;
            while let Some(body) = cur.strip_suffix('=') {
                joined.push_str(body);
                match phys.next() {
                    Some(next) => {
                        no = no.saturating_add(1);
                        let next = next.strip_suffix('\r').unwrap_or(next);
                        cur = strip_quote(next);
                    }
                    None => {
                        cur = "";
                        break;
                    }
                }
            }
            joined.push_str(cur);
            out.push(LogicalLine {
                text: Cow::Owned(qp_decode(&joined)),
                no: first,
                last: no,
            });
        } else {
            let joins = out.last().is_some_and(|prev| {
                prev.last + 1 == no && hard_wrap_continues(&prev.text, line).is_some()
            });
            match out.last_mut() {
                Some(prev) if joins => {
                    let cont = hard_wrap_continues(&prev.text, line).unwrap_or("");
                    let mut joined = prev.text.to_string();
                    joined.push_str(cont);
                    prev.text = Cow::Owned(joined);
                    prev.last = no;
                }
                _ => out.push(LogicalLine {
                    text: Cow::Borrowed(line),
                    no,
                    last: no,
                }),
            }
        }
    }
    out
}

/// Whether a line holds a piece of a register dump (used to decide whether escaped line breaks
/// in it are worth splitting).
fn has_dump_token(line: &str) -> bool {
    ["RIP=", "EIP=", "RAX=", "EAX=", "CS =", "Code=", "EFER="]
        .iter()
        .any(|t| line.contains(t))
}

/// A terminal or mailer that wraps at a fixed column cuts register tokens
/// (`RDX=00000000fff` / `d7b03`, `R1` / `1=…`). If `prev` ends in such a cut
/// and `next` completes it, return the part of `next` to append.
fn hard_wrap_continues<'a>(prev: &str, next: &'a str) -> Option<&'a str> {
    let pb = prev.as_bytes();
    let end = *pb.last()?;
    if pb.len() < 60 || !(end.is_ascii_alphanumeric() || end == b'=') {
        return None;
    }
    let last = &prev[pb
        .iter()
        .rposition(|c| *c == b' ' || *c == b'\t')
        .map_or(0, |p| p + 1)..];
    if let Some((_, digits)) = last.split_once('=') {
        if matches!(digits.len(), 2 | 4 | 8 | 16 | 32) {
            return None; // complete value
        }
    }
    let skip = next
        .bytes()
        .position(|c| c != b'>' && c != b' ')
        .unwrap_or(next.len());
    let next = &next[skip..];
    let first_len = next
        .bytes()
        .position(|c| c == b' ' || c == b'\t')
        .unwrap_or(next.len());
    let first = &next[..first_len];
    if let Some((name, digits)) = last.split_once('=') {
        let name = if name.is_empty() {
            // `R8 =…`: the name is the previous token.
            prev[..prev.len() - last.len()]
                .trim_end()
                .rsplit(' ')
                .next()?
        } else {
            name
        };
        let hex = |s: &str| s.bytes().all(is_lower_hex);
        // Only wide values are cut by a wrap; `HLT=0` is complete.
        let wide = lookup(name).is_some_and(|k| !matches!(k, Key::State | Key::Code | Key::Lazy));
        if !wide || !hex(digits) || !hex(first) || first.is_empty() {
            return None;
        }
        let total = digits.len() + first.len();
        if !matches!(digits.len(), 2 | 4 | 8 | 16 | 32) && matches!(total, 4 | 8 | 16 | 32) {
            return Some(next);
        }
        return None;
    }
    if last.is_empty() || last.len() > 5 || !last.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    // Name cut in two: `R1` + `1=…`, `EF` + `ER=…`.
    let eq = first.find('=')?;
    let mut name = String::with_capacity(8);
    name.push_str(last);
    name.push_str(&first[..eq]);
    (!is_reg_name(last) && is_reg_name(&name)).then_some(next)
}

/// Continuation lines of a quoted-printable soft break may carry their own
/// quote marker when the quoting happened after encoding.
fn strip_quote(s: &str) -> &str {
    if s.starts_with('>') {
        s.trim_start_matches(['>', ' '])
    } else {
        s
    }
}

/// Decode `=XX` (upper-case hex) quoted-printable escapes.
fn qp_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hi = b.get(i + 1).copied().and_then(upper_hex);
            let lo = b.get(i + 2).copied().and_then(upper_hex);
            if let (Some(h), Some(l)) = (hi, lo) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn upper_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Line classification.

/// What a line (after its prefix) holds.
enum Kind<'a> {
    /// Register tokens (`RAX=…`, `ES =…`, `Code=…`), starting at the slice.
    Regs(&'a str),
    /// Old qemu-kvm 0.12 lowercase (`rax 0000…`, `cs 0008 (…)`).
    Legacy(&'a str),
    /// `CPU#N` header.
    CpuHeader(u32),
    Event(EventLine<'a>),
    /// Code bytes only (continuation of a wrapped `Code=` line).
    Bytes(&'a str),
    Other,
}

enum EventLine<'a> {
    New(Event),
    ExtraData {
        index: Option<usize>,
        value: Option<u64>,
        text: &'a str,
    },
    EmulationFailure,
}

/// Register names that may start a token in a dump line.
fn is_reg_name(name: &str) -> bool {
    lookup(name).is_some()
}

/// The register key for a name as QEMU prints it (`RAX`, `R8`, `ES`, `CR0`,
/// `XMM07`, …). Byte patterns keep this off the string-compare path: it runs
/// for every token of every dump line.
fn lookup(name: &str) -> Option<Key> {
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

/// If `s` starts with `NAME=` or `NAME =` (a known register), return the
/// name and the index just after `=`.
fn reg_token_at(s: &str) -> Option<(&str, usize)> {
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

const LEGACY_NAMES: [&str; 30] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15", "rip", "rflags", "cs", "ds", "es", "ss", "fs", "gs", "tr", "ldt", "gdt", "idt",
    "cr0", "efer",
];

fn legacy_token_at(s: &str, open_legacy: bool) -> bool {
    let word = s.split_ascii_whitespace().next().unwrap_or("");
    if open_legacy {
        LEGACY_NAMES.contains(&word)
            || matches!(word, "cr2" | "cr3" | "cr4" | "cr8")
            || (!word.is_empty() && word.bytes().all(|c| c.is_ascii_hexdigit()) && word.len() >= 8)
    } else {
        // Only a full `rax <16 hex>` starts a legacy dump.
        word == "rax"
            && s.split_ascii_whitespace()
                .nth(1)
                .is_some_and(|v| v.len() == 16 && v.bytes().all(|c| c.is_ascii_hexdigit()))
    }
}

fn is_byte_token_start(s: &str) -> bool {
    let b = s.as_bytes();
    match b {
        [b'<', ..] => true,
        [b'?', b'?', ..] => true,
        [x, y, rest @ ..] => {
            is_lower_hex(*x) && is_lower_hex(*y) && rest.first().is_none_or(|c| *c == b' ')
        }
        [x] => is_lower_hex(*x),
        [] => false,
    }
}

/// A line holding only Code bytes (`?? 0f <30> …`), possibly ending in glued
/// junk (`??./start-qemu.sh: …`). A lone hex digit is accepted first (when a
/// byte was cut at the previous line end) or last (cut at this line end).
fn is_byte_line(s: &str, carry: bool) -> bool {
    let mut toks = s.split_ascii_whitespace().peekable();
    let mut full = 0usize;
    let mut first = true;
    while let Some(t) = toks.next() {
        let last = toks.peek().is_none();
        let tb = t.as_bytes();
        let whole = match tb {
            [b'?', b'?'] => true,
            [x, y] => is_lower_hex(*x) && is_lower_hex(*y),
            [b'<', inner @ .., b'>'] => {
                inner == b"??" || (inner.len() == 2 && inner.iter().all(|c| is_lower_hex(*c)))
            }
            _ => false,
        };
        if whole {
            full += 1;
        } else if tb.len() == 1 && is_lower_hex(tb[0]) && ((first && carry) || last) {
            // piece of a cut byte
        } else if tb.len() <= 3 && tb.first() == Some(&b'<') && last {
            // marker cut at the line end
        } else if full > 0
            && tb.len() > 2
            && (tb.starts_with(b"??") || is_lower_hex(tb[0]) && is_lower_hex(tb[1]))
        {
            return true; // glued junk after bytes
        } else if tb.starts_with(b"<??>") || (tb.len() > 4 && tb[0] == b'<' && tb[3] == b'>') {
            return full > 0 || first;
        } else {
            return false;
        }
        first = false;
    }
    full > 0 || carry
}

fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// Characters after which a dump token may start (end of a prefix).
fn is_prefix_end(c: u8) -> bool {
    PREFIX_END[usize::from(c)]
}

/// (0xa0 is the last byte of U+00A0, the no-break space of HTML copies.)
const PREFIX_END: [bool; 256] = byte_set(b" \t>]:|/*`#\";\xa0");

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

// ---------------------------------------------------------------------------
// The state machine.

#[derive(Default)]
struct Reader {
    dumps: Vec<Dump>,
    open: Option<Open>,
    /// Last event line not yet attached to a dump.
    pending: Option<Pending>,
    /// Notes for the next dump (orphan events).
    carry_warnings: Vec<Warning>,
    pending_cpu: Option<u32>,
    oops_line: Option<u32>,
    total_lines: u32,
}

struct Pending {
    event: Event,
    line: u32,
    /// Seen inside an unfinished dump: index of the warning that said so.
    interleaved: Option<usize>,
}

#[derive(Default)]
struct Open {
    dump: Dump,
    max_rank: u8,
    /// Bit per register key already seen (duplicates start a new dump).
    seen: u128,
    /// Consecutive lines that were not part of the dump.
    gap: u32,
    code: CodeState,
    /// Incomplete code token cut at a line end (`<4`, `f`).
    code_carry: String,
    legacy: bool,
    legacy_name: Option<String>,
    has_efer: bool,
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum CodeState {
    #[default]
    None,
    /// Reading bytes; continuation lines welcome.
    Reading,
    /// `Code=` followed by other output; bytes may resume later.
    Interrupted {
        line: u32,
    },
    Done,
}

impl Open {
    fn warn(&mut self, line: u32, kind: WarningKind, message: String) {
        self.dump.warnings.push(Warning {
            line,
            kind,
            message,
        });
    }

    fn complete(&self) -> bool {
        self.code == CodeState::Done || self.code == CodeState::Reading || self.has_efer
    }
}

impl Reader {
    fn line(&mut self, text: &str, no: u32, last: u32) {
        let kind = self.classify(text, no);
        self.handle(kind, no, last);
    }

    fn classify<'a>(&mut self, text: &'a str, no: u32) -> Kind<'a> {
        let code_open = self
            .open
            .as_ref()
            .is_some_and(|o| matches!(o.code, CodeState::Reading | CodeState::Interrupted { .. }));
        let legacy_open = self.open.as_ref().is_some_and(|o| o.legacy);
        let b = text.as_bytes();
        // The common case: a clean dump line.
        if reg_token_at(text).is_some() {
            return Kind::Regs(text);
        }
        // One pass over the line: `=`/`#` (every dump line has one, except
        // Code continuations and old qemu-kvm lines), event keywords, and a
        // kernel oops `RIP: 00`.
        let scan = scan_line(b);
        let maybe_dump_line = code_open || legacy_open || scan.eq_or_hash || {
            let skip = b
                .iter()
                .position(|c| !matches!(c, b' ' | b'\t' | b'>'))
                .unwrap_or(b.len());
            b[skip..].starts_with(b"rax ")
        };
        // Candidate starts: 0 and after each prefix-like character.
        let mut i = 0usize;
        // Prefixes are short: dump tokens start within the first 120 bytes.
        let scan_end = if maybe_dump_line { b.len().min(120) } else { 0 };
        while i <= scan_end {
            // Candidates follow a prefix character; runs of blanks are skipped.
            let candidate = (i == 0 || is_prefix_end(b[i - 1]))
                && b.get(i).is_some_and(|c| !matches!(c, b' ' | b'\t'))
                && text.is_char_boundary(i);
            if candidate {
                let rest = &text[i..];
                if reg_token_at(rest).is_some() {
                    return Kind::Regs(rest);
                }
                if let Some(after) = rest.strip_prefix("CPU#") {
                    let digits: &str = after
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .unwrap_or("");
                    if let Ok(n) = digits.parse() {
                        if after[digits.len()..].trim().is_empty() {
                            return Kind::CpuHeader(n);
                        }
                    }
                }
                if rest.starts_with('r') && legacy_token_at(rest, legacy_open) {
                    return Kind::Legacy(rest);
                }
                if legacy_open && legacy_token_at(rest, true) {
                    return Kind::Legacy(rest);
                }
            }
            i += 1;
        }
        let (has_event, has_oops_rip) = (scan.event, scan.oops_rip);
        if has_event {
            if let Some(ev) = classify_event(text) {
                return Kind::Event(ev);
            }
        }
        if code_open {
            let carry = self.open.as_ref().is_some_and(|o| !o.code_carry.is_empty());
            let mut i = 0usize;
            while i < b.len().min(120) {
                if (i == 0 || is_prefix_end(b[i - 1])) && text.is_char_boundary(i) {
                    let rest = &text[i..];
                    if is_byte_line(rest, carry) {
                        return Kind::Bytes(rest);
                    }
                }
                i += 1;
            }
        }
        if self.oops_line.is_none() && has_oops_rip {
            self.oops_line = Some(no);
        }
        Kind::Other
    }

    fn handle(&mut self, kind: Kind<'_>, no: u32, last: u32) {
        match kind {
            Kind::Regs(s) => self.regs(s, no, last),
            Kind::Legacy(s) => self.legacy(s, no, last),
            Kind::Bytes(s) => {
                if let Some(open) = self.open.as_mut() {
                    if let CodeState::Interrupted { line } = open.code {
                        open.warn(
                            no,
                            WarningKind::Interleaved,
                            format!("Code bytes resume on line {no} after other output that began on line {line}; bytes printed in between may be lost"),
                        );
                        // The events seen meanwhile were really interleaved.
                        self.pending = None;
                    }
                    open.code = CodeState::Reading;
                    open.gap = 0;
                    open.dump.source.last_line = last;
                    code_bytes(open, s, no);
                }
            }
            Kind::CpuHeader(n) => {
                self.finish_open();
                self.pending_cpu = Some(n);
            }
            Kind::Event(ev) => self.event(ev, no),
            Kind::Other => {
                if let Some(open) = self.open.as_mut() {
                    if open.code == CodeState::Reading {
                        open.code = CodeState::Done;
                    }
                    open.gap += 1;
                    let interrupted = matches!(open.code, CodeState::Interrupted { .. });
                    if (open.complete() && !interrupted) || open.gap > MAX_GAP {
                        self.finish_open();
                    }
                }
            }
        }
    }

    fn event(&mut self, mut ev: EventLine<'_>, no: u32) {
        if let EventLine::New(e) = &mut ev {
            Self::fix_line(e, no);
        }
        match ev {
            EventLine::ExtraData { index, value, text } => {
                let target = self.pending.as_mut().map(|p| &mut p.event);
                let problem = match (target, value) {
                    (
                        Some(Event::InternalError {
                            extra_data,
                            extra_data_lines,
                            ..
                        }),
                        Some(v),
                    ) => {
                        let expected = extra_data.len();
                        extra_data.push(v);
                        extra_data_lines.push(no);
                        match index {
                            Some(i) if i != expected => Some((
                                WarningKind::Malformed,
                                format!("line {no}: `extra data[{i}]` out of order: expected index {expected}"),
                            )),
                            _ => None,
                        }
                    }
                    (Some(Event::InternalError { .. }), None) => Some((
                        WarningKind::Malformed,
                        format!("line {no}: cannot read the value in `{}`", text.trim()),
                    )),
                    _ => Some((
                        WarningKind::Note,
                        format!(
                            "line {no}: `extra data` line with no `KVM internal error` before it"
                        ),
                    )),
                };
                if let Some((kind, msg)) = problem {
                    self.warn_here(no, kind, msg);
                }
            }
            EventLine::EmulationFailure => {
                if let Some(Pending {
                    event:
                        Event::InternalError {
                            emulation_failure, ..
                        },
                    ..
                }) = self.pending.as_mut()
                {
                    *emulation_failure = true;
                }
            }
            EventLine::New(Event::TripleFault { line }) => {
                // TCG prints `Triple fault` after the dump it concerns.
                if let Some(open) = self.open.as_mut() {
                    if open.dump.event == Event::None {
                        open.dump.event = Event::TripleFault { line };
                        open.dump.source.last_line = line;
                        self.finish_open();
                        return;
                    }
                }
                if let Some(d) = self.dumps.last_mut() {
                    if d.event == Event::None && line.saturating_sub(d.source.last_line) <= 3 {
                        d.event = Event::TripleFault { line };
                        d.source.last_line = line;
                        return;
                    }
                }
                self.finish_open();
                self.set_pending(Event::TripleFault { line }, no, None);
            }
            EventLine::New(Event::CpuReset { cpu, line })
                if matches!(
                    self.pending,
                    Some(Pending { event: Event::TripleFault { .. }, line: tf, .. }) if line.saturating_sub(tf) <= 3
                ) =>
            {
                // `-d cpu_reset` after `Triple fault`: the dump that follows is
                // the triple-faulting state; keep the triple fault as the event.
                self.pending_cpu = Some(cpu);
            }
            EventLine::New(event) => {
                let unfinished = self.open.as_ref().is_some_and(|o| {
                    !o.complete() || matches!(o.code, CodeState::Interrupted { .. })
                });
                if unfinished {
                    let Some(open) = self.open.as_mut() else {
                        return;
                    };
                    open.gap = 0;
                    let idx = open.dump.warnings.len();
                    open.warn(
                        no,
                        WarningKind::Interleaved,
                        format!(
                            "line {no}: `{}` event printed inside this dump (output of another vCPU?); not attached to it",
                            event.kind()
                        ),
                    );
                    if let Some(p) = self.pending.take() {
                        self.orphan(p);
                    }
                    self.pending = Some(Pending {
                        event,
                        line: no,
                        interleaved: Some(idx),
                    });
                } else {
                    self.finish_open();
                    self.set_pending(event, no, None);
                }
            }
        }
    }

    fn set_pending(&mut self, event: Event, line: u32, interleaved: Option<usize>) {
        if let Some(p) = self.pending.take() {
            self.orphan(p);
        }
        self.pending = Some(Pending {
            event,
            line,
            interleaved,
        });
    }

    /// An event that never got a dump of its own.
    fn orphan(&mut self, p: Pending) {
        if p.interleaved.is_some() {
            return; // already reported as interleaved
        }
        self.carry_warnings.push(Warning {
            line: p.line,
            kind: WarningKind::Note,
            message: format!(
                "line {}: `{}` event with no dump of its own (another vCPU, or a repeated message)",
                p.line,
                p.event.kind()
            ),
        });
    }

    fn warn_here(&mut self, line: u32, kind: WarningKind, message: String) {
        match self.open.as_mut() {
            Some(o) => o.warn(line, kind, message),
            None => self.carry_warnings.push(Warning {
                line,
                kind,
                message,
            }),
        }
    }

    /// Start a new dump at `no`, taking the pending event and CPU header.
    fn start(&mut self, no: u32) {
        self.finish_open();
        let mut open = Open::default();
        open.dump.source.first_line = no;
        open.dump.source.last_line = no;
        open.dump.cpu_index = self.pending_cpu.take();
        if let Some(p) = self.pending.take() {
            if no.saturating_sub(p.line) <= EVENT_REACH {
                if let Some(idx) = p.interleaved {
                    // It was not interleaved after all: it introduces this dump.
                    if let Some(prev) = self.dumps.last_mut() {
                        let same = prev.warnings.get(idx).is_some_and(|w| {
                            w.line == p.line && w.kind == WarningKind::Interleaved
                        });
                        if same {
                            prev.warnings.remove(idx);
                        }
                    }
                }
                if let Event::CpuReset { cpu, .. } = p.event {
                    open.dump.cpu_index.get_or_insert(cpu);
                }
                open.dump.source.first_line = p.line;
                open.dump.event = p.event;
            } else {
                self.orphan(p);
            }
        }
        open.dump.warnings.append(&mut self.carry_warnings);
        self.open = Some(open);
    }

    fn finish_open(&mut self) {
        if let Some(mut open) = self.open.take() {
            if values_read(&open.dump) < 2 {
                // Prose that merely looked like a register token
                // (`ES = 0x10`): not a dump.
                return;
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
                    format!("line {line}: `Code=` is followed by other output and its bytes never resume"),
                );
            }
            check_complete(&mut open);
            open.dump.refresh_decoded();
            self.dumps.push(open.dump);
        }
    }

    // -- register lines -----------------------------------------------------

    fn regs(&mut self, s: &str, no: u32, last: u32) {
        let first = reg_token_at(s).map(|(n, _)| n).unwrap_or("");
        let key = key_of(first);
        let needs_new = match self.open.as_ref() {
            None => true,
            Some(o) => {
                o.legacy
                    || o.seen & key.bit() != 0
                    || key.rank() < o.max_rank
                    || (o.code != CodeState::None && first != "Code")
            }
        };
        if needs_new {
            self.start(no);
        } else if let Some(p) = self.pending.take() {
            // Events between lines of this dump were interleaved output.
            if p.interleaved.is_none() {
                self.pending = Some(p);
            }
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.gap = 0;
        open.dump.source.last_line = last;
        if let Some(glued) = parse_reg_line(open, s, no) {
            // `Code=` glued to other output (another vCPU's error message).
            let kind = self.classify(glued, no);
            if !matches!(kind, Kind::Regs(_) | Kind::Bytes(_)) {
                self.handle(kind, no, last);
            }
        }
    }

    fn legacy(&mut self, s: &str, no: u32, last: u32) {
        let starts = s.split_ascii_whitespace().next() == Some("rax");
        if starts || !self.open.as_ref().is_some_and(|o| o.legacy) {
            self.start(no);
            if let Some(o) = self.open.as_mut() {
                o.legacy = true;
                o.dump.general = Some(GeneralRegisters {
                    layout: GprLayout::Legacy,
                    ..Default::default()
                });
            }
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.gap = 0;
        open.dump.source.last_line = last;
        parse_legacy_line(open, s, no);
    }
}

fn looks_binary(text: &str) -> bool {
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

/// Keywords that start an event line (see [`classify_event`]).
const EVENT_KEYWORDS: [&[u8]; 13] = [
    b"kvm run failed",
    b"extra data[",
    b"emulation failure",
    b"KVM internal error",
    b"KVM: entry failed",
    b"KVM: exception ",
    b"KVM: unknown exit",
    b"Failed to get registers",
    b"Failed to put registers",
    b"Restoring resisters",
    b"Triple fault",
    b"qemu: fatal:",
    b"CPU Reset (CPU",
];

/// What one pass over a line found.
struct LineScan {
    /// `=` or `#` in the first 200 bytes.
    eq_or_hash: bool,
    /// An event keyword (see [`EVENT_KEYWORDS`]).
    event: bool,
    /// A kernel-oops register line (`RIP: 00…`).
    oops_rip: bool,
}

/// Byte classes for [`scan_line`]: 1 = `=`/`#`, 2 = a byte that may
/// start (or, for `x`/`m`, be second in) an event keyword. `e` is left out
/// on purpose: it is the commonest letter of prose.
const SCAN_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'=' as usize] = 1;
    t[b'#' as usize] = 1;
    let starts = b"kKFRTqCxm";
    let mut i = 0;
    while i < starts.len() {
        t[starts[i] as usize] = 2;
        i += 1;
    }
    t
};

/// One pass over a line (cheaper than a substring search per keyword).
/// Each candidate byte is checked against the keyword's next byte before the
/// full comparison.
fn scan_line(b: &[u8]) -> LineScan {
    let mut out = LineScan {
        eq_or_hash: false,
        event: false,
        oops_rip: false,
    };
    // Look at 8 bytes at a time; most chunks of a prose line hold nothing of
    // interest and are skipped with eight table loads.
    let mut base = 0;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let any = chunk
            .iter()
            .fold(0u8, |acc, c| acc | SCAN_CLASS[usize::from(*c)]);
        if any != 0 {
            for k in 0..8 {
                scan_byte(b, base + k, &mut out);
            }
        }
        base += 8;
    }
    for k in base..b.len() {
        scan_byte(b, k, &mut out);
    }
    out
}

/// [`scan_line`] for the byte at `i`; the keyword's next byte is checked
/// before the full comparison.
fn scan_byte(b: &[u8], i: usize, out: &mut LineScan) {
    let Some(&c) = b.get(i) else {
        return;
    };
    match SCAN_CLASS[usize::from(c)] {
        0 => {}
        1 => out.eq_or_hash |= i < 200,
        _ => {
            let rest = &b[i..];
            let next = rest.get(1).copied().unwrap_or(0);
            let prev_e = i > 0 && b[i - 1] == b'e';
            let hit = match (c, next) {
                (b'k', b'v') => rest.starts_with(b"kvm run failed"),
                (b'x', b't') => prev_e && rest.starts_with(b"xtra data["),
                (b'm', b'u') => prev_e && rest.starts_with(b"mulation failure"),
                (b'K', b'V') => EVENT_KEYWORDS[3..7].iter().any(|k| rest.starts_with(k)),
                (b'F', b'a') => EVENT_KEYWORDS[7..9].iter().any(|k| rest.starts_with(k)),
                (b'R', b'I') => {
                    out.oops_rip |= rest.starts_with(b"RIP: 00");
                    false
                }
                (b'R', b'e') => rest.starts_with(b"Restoring resisters"),
                (b'T', b'r') => rest.starts_with(b"Triple fault"),
                (b'q', b'e') => rest.starts_with(b"qemu: fatal:"),
                (b'C', b'P') => rest.starts_with(b"CPU Reset (CPU"),
                _ => false,
            };
            out.event |= hit;
        }
    }
}

fn classify_event(text: &str) -> Option<EventLine<'_>> {
    if let Some(p) = text.find("kvm run failed") {
        let message = text[p + "kvm run failed".len()..].trim().to_string();
        let (errno, errno_name) = match errno_from_text(&message) {
            Some((n, name)) => (Some(n), name),
            None => (None, None),
        };
        return Some(EventLine::New(Event::RunFailed {
            errno,
            errno_name,
            message,
            line: 0,
        }));
    }
    if let Some(p) = text.find("extra data[") {
        let rest = &text[p + "extra data[".len()..];
        let close = rest.find(']')?;
        let index = rest[..close].trim().parse().ok();
        let value_text = rest[close + 1..].trim_start_matches(':').trim();
        let digits = value_text
            .strip_prefix("0x")
            .or_else(|| value_text.strip_prefix("0X"))
            .unwrap_or(value_text);
        let digits = digits.split_ascii_whitespace().next().unwrap_or("");
        let value = parse_hex(digits);
        return Some(EventLine::ExtraData {
            index,
            value,
            text: &text[p..],
        });
    }
    if text.contains("emulation failure") {
        return Some(EventLine::EmulationFailure);
    }
    if let Some(p) = text.find("KVM internal error") {
        let rest = &text[p + "KVM internal error".len()..];
        if rest.contains("notify exit") {
            return Some(EventLine::New(Event::NotifyExit { line: 0 }));
        }
        let sp = rest.find("Suberror:")?;
        let num = rest[sp + "Suberror:".len()..].trim();
        let num: String = num.chars().take_while(|c| c.is_ascii_digit()).collect();
        let suberror: u32 = num.parse().ok()?;
        return Some(EventLine::New(Event::InternalError {
            suberror,
            suberror_name: suberror_name(suberror),
            extra_data: Vec::new(),
            extra_data_lines: Vec::new(),
            emulation_failure: false,
            line: 0,
        }));
    }
    if let Some(p) = text.find("KVM: entry failed") {
        let rest = &text[p..];
        let hw = rest.find("hardware error")?;
        let v = rest[hw + "hardware error".len()..].trim();
        let v = v.strip_prefix("0x").unwrap_or(v);
        let v = v
            .split(|c: char| !c.is_ascii_hexdigit())
            .next()
            .unwrap_or("");
        return Some(EventLine::New(Event::EntryFailed {
            hardware_error: parse_hex(v)?,
            line: 0,
        }));
    }
    if let Some(p) = text.find("KVM: exception ") {
        let rest = &text[p + "KVM: exception ".len()..];
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let exception = n.parse().ok()?;
        let error_code = rest
            .find("error code")
            .map(|e| rest[e + "error code".len()..].trim())
            .map(|v| v.strip_prefix("0x").unwrap_or(v))
            .map(|v| {
                v.split(|c: char| !c.is_ascii_hexdigit())
                    .next()
                    .unwrap_or("")
            })
            .and_then(parse_hex)
            .unwrap_or(0);
        return Some(EventLine::New(Event::ExceptionExit {
            exception,
            error_code,
            line: 0,
        }));
    }
    if let Some(p) = text.find("KVM: unknown exit") {
        let rest = &text[p..];
        let message = rest.trim().to_string();
        let hardware_reason = rest.find("hardware reason").and_then(|h| {
            let v = rest[h + "hardware reason".len()..].trim();
            let v = v.strip_prefix("0x").unwrap_or(v);
            parse_hex(
                v.split(|c: char| !c.is_ascii_hexdigit())
                    .next()
                    .unwrap_or(""),
            )
        });
        let exit_reason = rest.find("exit reason").and_then(|h| {
            let v = rest[h + "exit reason".len()..].trim();
            v.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        });
        return Some(EventLine::New(Event::UnknownExit {
            hardware_reason,
            exit_reason,
            message,
            line: 0,
        }));
    }
    for needle in [
        "Failed to get registers",
        "Failed to put registers",
        "Restoring resisters",
    ] {
        if let Some(p) = text.find(needle) {
            return Some(EventLine::New(Event::RegistersFailed {
                message: text[p..].trim().to_string(),
                line: 0,
            }));
        }
    }
    if text.contains("Triple fault") {
        return Some(EventLine::New(Event::TripleFault { line: 0 }));
    }
    if let Some(p) = text.find("qemu: fatal:") {
        return Some(EventLine::New(Event::Fatal {
            message: text[p + "qemu: fatal:".len()..].trim().to_string(),
            line: 0,
        }));
    }
    if let Some(p) = text.find("CPU Reset (CPU ") {
        let rest = &text[p + "CPU Reset (CPU ".len()..];
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        return Some(EventLine::New(Event::CpuReset {
            cpu: n.parse().ok()?,
            line: 0,
        }));
    }
    None
}

/// KVM_INTERNAL_ERROR_* names (include/uapi/linux/kvm.h).
fn suberror_name(n: u32) -> Option<&'static str> {
    match n {
        1 => Some("EMULATION"),
        2 => Some("SIMUL_EX"),
        3 => Some("DELIVERY_EV"),
        4 => Some("UNEXPECTED_EXIT_REASON"),
        _ => None,
    }
}

// Event constructors above leave `line: 0`; set it here.
impl Reader {
    fn fix_line(ev: &mut Event, no: u32) {
        match ev {
            Event::RunFailed { line, .. }
            | Event::InternalError { line, .. }
            | Event::EntryFailed { line, .. }
            | Event::ExceptionExit { line, .. }
            | Event::UnknownExit { line, .. }
            | Event::NotifyExit { line }
            | Event::RegistersFailed { line, .. }
            | Event::CpuReset { line, .. }
            | Event::TripleFault { line }
            | Event::Fatal { line, .. } => *line = no,
            Event::None => {}
        }
    }
}

/// Parse 1–16 hex digits (either case).
fn parse_hex(s: &str) -> Option<u64> {
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

// ---------------------------------------------------------------------------
// Register keys: order (rank) inside a dump and duplicate detection.

#[derive(Clone, Copy)]
enum Key {
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
    fn rank(self) -> u8 {
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

    fn bit(self) -> u128 {
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

fn gpr_of(name: &str) -> Option<(Gpr, bool)> {
    match lookup(name)? {
        Key::Gpr(n) => Some((Gpr::from_number(n)?, name.starts_with('R'))),
        _ => None,
    }
}

fn seg_of(name: &str) -> Option<SegName> {
    match lookup(name)? {
        Key::Seg(s) => Some(s),
        _ => None,
    }
}

fn key_of(name: &str) -> Key {
    lookup(name).unwrap_or(Key::Unknown)
}

/// Next whitespace-delimited token of `s` and the rest.
fn next_token(s: &str) -> (&str, &str) {
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
            format!("line {no}: `{name}=` has no value (line cut?)"),
        );
        return None;
    }
    let Some(v) = parse_hex(tok) else {
        open.warn(
            no,
            WarningKind::Malformed,
            format!("line {no}: {name} value `{tok}` is not a hex number of at most 16 digits"),
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
                "line {no}: {name} value `{tok}` has {} hex digits, expected {expected} (damaged or cut?)",
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
                format!("line {no}: {name} value `{tok}` is not a small decimal number"),
            );
            None
        }
    }
}

/// Parse one register line into the open dump. Returns the text glued after
/// an empty `Code=` (other output), if any.
fn parse_reg_line<'a>(open: &mut Open, line: &'a str, no: u32) -> Option<&'a str> {
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
                    let st = open.dump.state.get_or_insert_with(|| CpuState {
                        line: no,
                        ..Default::default()
                    });
                    st.flags_text = Some(content.to_string());
                }
                "FSW" => {
                    if let Some(v) = content.strip_prefix("ST=") {
                        let v = small(open, "ST", v, no);
                        open.dump.fpu.get_or_insert_with(Fpu::default).st = v;
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
                format!("line {no}: unexpected text `{tok}` in a register line"),
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
                format!("line {no}: {name} appears twice in this dump; the later value is kept"),
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
            let general = open.dump.general.get_or_insert_with(|| GeneralRegisters {
                layout,
                ..Default::default()
            });
            if general.layout != layout {
                let msg = format!("line {no}: {name} mixes the 32-bit and 64-bit register layouts");
                open.warn(no, WarningKind::Malformed, msg);
                continue;
            }
            let general = open.dump.general.get_or_insert_with(Default::default);
            if r.number() >= 16 {
                general.apx = true;
            }
            if let (Some(v), Some(slot)) = (v, general.values.get_mut(r.number())) {
                *slot = Some(Located::new(Hex(v), no));
            }
            continue;
        }
        if let Key::Seg(seg) = key {
            // The decode suffix runs to the end of the line, or to the next
            // register token when lines were joined by a reflowing mailer.
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
                    let reg = Some(Located::new(Hex(v), no));
                    if name.ends_with("IP") {
                        open.dump.rip = reg;
                    } else {
                        open.dump.rflags = reg;
                    }
                }
            }
            "CPL" | "II" | "A20" | "SMM" | "HLT" => {
                let (tok, after) = next_token(rest);
                rest = after;
                let v = small(open, name, tok, no);
                let st = open.dump.state.get_or_insert_with(|| CpuState {
                    line: no,
                    ..Default::default()
                });
                let slot = match name {
                    "CPL" => &mut st.cpl,
                    "II" => &mut st.ii,
                    "A20" => &mut st.a20,
                    "SMM" => &mut st.smm,
                    _ => &mut st.hlt,
                };
                *slot = v;
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
                        limit,
                        line: no,
                    });
                    if name == "GDT" {
                        open.dump.gdt = t;
                    } else {
                        open.dump.idt = t;
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
                let v = hex_value(open, name, tok, widths, no).map(|v| Located::new(Hex(v), no));
                let d = &mut open.dump;
                match name {
                    "CR0" => d.cr.cr0 = v,
                    "CR2" => d.cr.cr2 = v,
                    "CR3" => d.cr.cr3 = v,
                    "CR4" => d.cr.cr4 = v,
                    "DR0" => d.dr.dr0 = v,
                    "DR1" => d.dr.dr1 = v,
                    "DR2" => d.dr.dr2 = v,
                    "DR3" => d.dr.dr3 = v,
                    "DR6" => d.dr.dr6 = v,
                    "DR7" => d.dr.dr7 = v,
                    _ => {
                        d.efer = v;
                        open.has_efer = true;
                    }
                }
            }
            "CCS" | "CCD" | "CCO" => {
                let (tok, after) = next_token(rest);
                rest = after;
                let lf = open.dump.lazy_flags.get_or_insert_with(|| LazyFlags {
                    ccs: 0,
                    ccd: 0,
                    cco: String::new(),
                    line: no,
                });
                if name == "CCO" {
                    lf.cco = tok.to_string();
                } else if let Some(v) = hex_value(open, name, tok, &[8, 16], no) {
                    let lf = open.dump.lazy_flags.get_or_insert_with(|| LazyFlags {
                        ccs: 0,
                        ccd: 0,
                        cco: String::new(),
                        line: no,
                    });
                    if name == "CCS" {
                        lf.ccs = v;
                    } else {
                        lf.ccd = v;
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
                let v = hex_value(open, name, tok, widths, no).map(|v| Located::new(Hex(v), no));
                let fpu = open.dump.fpu.get_or_insert_with(Fpu::default);
                match name {
                    "FCW" => fpu.fcw = v,
                    "FSW" => fpu.fsw = v,
                    "FTW" => fpu.ftw = v,
                    _ => fpu.mxcsr = v,
                }
            }
            "Code" => {
                open.code = CodeState::Reading;
                open.dump.code = Some(CodeWindow {
                    bytes: Vec::with_capacity(CODE_BYTES),
                    marker: None,
                    line: no,
                });
                let body = rest.trim_start();
                if !body.is_empty() && !is_byte_token_start(body) {
                    open.code = CodeState::Interrupted { line: no };
                    open.warn(
                        no,
                        WarningKind::Interleaved,
                        format!(
                            "line {no}: `Code=` is directly followed by other output (`{}`)",
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
                        open.dump
                            .fpu
                            .get_or_insert_with(Fpu::default)
                            .fpr
                            .push(FpReg {
                                index: n as u8,
                                mantissa,
                                sign_exponent,
                                line: no,
                            });
                    }
                } else if let Some(n) = numbered(name, "Opmask") {
                    if let Some(value) = hex_value(open, name, tok, &[16], no) {
                        open.dump.opmask.push(OpmaskReg {
                            index: n as u8,
                            value,
                            line: no,
                        });
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
                            format!(
                                "line {no}: {name} has {} of {groups} 64-bit groups",
                                quads.len()
                            ),
                        );
                    }
                    open.dump.vectors.push(VectorReg {
                        kind,
                        index: n as u8,
                        quads,
                        line: no,
                    });
                }
            }
        }
    }
    None
}

/// QEMU used the 64-bit layout (CS.L=1): bases, CR2/CR3 and DRs have 16 digits.
fn layout64(open: &Open) -> bool {
    open.dump.general.as_ref().map(|g| g.layout) == Some(GprLayout::Bits64)
}

fn first_words(s: &str) -> &str {
    let end = s.char_indices().nth(40).map(|(i, _)| i).unwrap_or(s.len());
    s[..end].trim_end()
}

/// Parse `SSSS BASE LIMIT FLAGS[ decode]`; returns the text after the decode
/// (empty unless another register token follows on the same line).
fn parse_segment<'a>(open: &mut Open, seg: SegName, rest: &'a str, no: u32) -> &'a str {
    let name = seg.name();
    let (sel, r) = next_token(rest);
    let (base, r) = next_token(r);
    let (limit, r) = next_token(r);
    let (attr, r) = next_token(r);
    let selector = hex_value(open, name, sel, &[4], no);
    let widths: &[usize] = if layout64(open) { &[16] } else { &[8, 16] };
    let base = hex_value(open, name, base, widths, no);
    let limit = hex_value(open, name, limit, &[8], no);
    let attributes = hex_value(open, name, attr, &[8], no);
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
    *open.dump.segments.slot_mut(seg) = Some(Segment {
        name: seg,
        selector,
        base,
        limit,
        attributes,
        printed_decode: (!printed.is_empty()).then(|| printed.to_string()),
        line: no,
    });
    after
}

/// Append the bytes of a `Code=` line (or its continuation) to the window.
fn code_bytes(open: &mut Open, s: &str, no: u32) {
    let mut carry = std::mem::take(&mut open.code_carry);
    let mut toks = s.split_ascii_whitespace().peekable();
    while let Some(raw) = toks.next() {
        let joined;
        let tok: &str = if carry.is_empty() {
            raw
        } else {
            carry.push_str(raw);
            joined = std::mem::take(&mut carry);
            &joined
        };
        let is_last = toks.peek().is_none();
        let Some(code) = open.dump.code.as_mut() else {
            return;
        };
        let (marked, body) = match tok.strip_prefix('<') {
            Some(inner) => match inner.strip_suffix('>') {
                Some(b) => (true, b),
                None if is_last && inner.len() < 3 => {
                    open.code_carry = tok.to_string();
                    return;
                }
                None => (true, inner.get(..2).unwrap_or(inner)),
            },
            None => (false, tok),
        };
        if is_last && body.len() == 1 && !marked && is_lower_hex(body.as_bytes()[0]) {
            // A byte cut in two by a line wrap.
            open.code_carry = tok.to_string();
            return;
        }
        let byte = match body {
            "??" => Some(None),
            b if b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()) => {
                parse_hex(b).map(|v| Some(v as u8))
            }
            _ => None,
        };
        let byte = match byte {
            Some(b) => b,
            None => {
                // Glued junk (`??./start-qemu.sh`): keep a leading byte, stop.
                let lead = tok.get(..2).unwrap_or("");
                let lead_byte = match lead {
                    "??" => Some(None),
                    l if l.bytes().all(is_lower_hex) && l.len() == 2 => {
                        parse_hex(l).map(|v| Some(v as u8))
                    }
                    _ => None,
                };
                if let (Some(b), false) = (lead_byte, marked) {
                    code.bytes.push(b);
                }
                open.warn(
                    no,
                    WarningKind::Interleaved,
                    format!(
                        "line {no}: Code bytes end in other output (`{}`)",
                        first_words(tok)
                    ),
                );
                open.code = CodeState::Done;
                return;
            }
        };
        if marked {
            if let Some(first) = code.marker {
                let at = code.bytes.len();
                open.warn(
                    no,
                    WarningKind::Malformed,
                    format!("line {no}: second `<..>` marker in the Code line (byte {at}); the first one (byte {first}) is kept"),
                );
                if let Some(code) = open.dump.code.as_mut() {
                    code.bytes.push(byte);
                }
                continue;
            }
            code.marker = Some(code.bytes.len());
        }
        code.bytes.push(byte);
    }
    if open
        .dump
        .code
        .as_ref()
        .is_some_and(|c| c.bytes.len() >= CODE_BYTES)
    {
        open.code = CodeState::Done;
    }
}

/// How many register values were read (GPRs, RIP/RFLAGS, segments, tables,
/// control/debug registers, EFER, code bytes).
fn values_read(d: &Dump) -> usize {
    let gprs = d
        .general
        .as_ref()
        .map_or(0, |g| g.values.iter().flatten().count());
    let segs = SegName::ALL
        .iter()
        .filter(|s| d.segments.get(**s).is_some())
        .count();
    let crs = [&d.cr.cr0, &d.cr.cr2, &d.cr.cr3, &d.cr.cr4]
        .iter()
        .filter(|r| r.is_some())
        .count();
    let drs = [
        &d.dr.dr0, &d.dr.dr1, &d.dr.dr2, &d.dr.dr3, &d.dr.dr6, &d.dr.dr7,
    ]
    .iter()
    .filter(|r| r.is_some())
    .count();
    gprs + segs
        + crs
        + drs
        + usize::from(d.rip.is_some())
        + usize::from(d.rflags.is_some())
        + usize::from(d.gdt.is_some())
        + usize::from(d.idt.is_some())
        + usize::from(d.efer.is_some())
        + d.code.as_ref().map_or(0, |c| c.bytes.len())
        + d.fpu.as_ref().map_or(0, |f| f.fpr.len())
        + d.vectors.len()
}

/// Warn about sections missing from a dump (cut or truncated copies).
fn check_complete(open: &mut Open) {
    if open.legacy {
        return;
    }
    let d = &open.dump;
    let last = d.source.last_line;
    let mut missing: Vec<&str> = Vec::new();
    let gprs = d.general.as_ref();
    let n_gpr = gprs
        .map(|g| g.values.iter().take(16).flatten().count())
        .unwrap_or(0);
    let want_gpr = match gprs.map(|g| g.layout) {
        Some(GprLayout::Bits64) => 16,
        _ => 8,
    };
    if n_gpr < want_gpr {
        missing.push("general registers");
    }
    if d.rip.is_none() || d.rflags.is_none() {
        missing.push("RIP/RFLAGS line");
    }
    let segs_missing = SegName::ALL
        .iter()
        .filter(|s| d.segments.get(**s).is_none())
        .count();
    let seg_text;
    if segs_missing == SegName::ALL.len() {
        missing.push("segment lines");
    } else if segs_missing > 0 {
        let names: Vec<&str> = SegName::ALL
            .iter()
            .filter(|s| d.segments.get(**s).is_none())
            .map(|s| s.name())
            .collect();
        seg_text = format!("segment lines ({})", names.join(" "));
        missing.push(&seg_text);
    }
    if d.gdt.is_none() || d.idt.is_none() {
        missing.push("GDT/IDT");
    }
    let crs = [
        ("CR0", &d.cr.cr0),
        ("CR2", &d.cr.cr2),
        ("CR3", &d.cr.cr3),
        ("CR4", &d.cr.cr4),
    ];
    let crs_missing = crs.iter().filter(|(_, r)| r.is_none()).count();
    let cr_text;
    if crs_missing == 4 {
        missing.push("control registers");
    } else if crs_missing > 0 {
        let names: Vec<&str> = crs
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(n, _)| *n)
            .collect();
        cr_text = format!("control registers ({})", names.join(" "));
        missing.push(&cr_text);
    }
    if [
        &d.dr.dr0, &d.dr.dr1, &d.dr.dr2, &d.dr.dr3, &d.dr.dr6, &d.dr.dr7,
    ]
    .iter()
    .any(|r| r.is_none())
    {
        missing.push("debug registers");
    }
    if d.efer.is_none() {
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
                format!("line {line}: Code line has no `<..>` marker for the byte at RIP"),
            );
        }
        if n < CODE_BYTES && open.code != CodeState::None {
            open.warn(
                line,
                WarningKind::Truncated,
                format!("line {line}: Code window has {n} bytes; QEMU prints {CODE_BYTES} (cut?)"),
            );
        } else if n > CODE_BYTES {
            open.warn(
                line,
                WarningKind::Malformed,
                format!("line {line}: Code window has {n} bytes; QEMU prints {CODE_BYTES}"),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// qemu-kvm 0.12 (`kvm_show_regs`) lowercase format.

fn parse_legacy_line(open: &mut Open, line: &str, no: u32) {
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
                            limit,
                            line: no,
                        });
                        if tok == "gdt" {
                            open.dump.gdt = t;
                        } else {
                            open.dump.idt = t;
                        }
                    }
                    _ => open.warn(
                        no,
                        WarningKind::Malformed,
                        format!("line {no}: cannot read `{tok} {v}` as base/limit"),
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
                format!("line {no}: unexpected `{tok}` in an old-format (qemu-kvm 0.12) dump"),
            ),
        }
    }
}

fn legacy_value(open: &mut Open, name: &str, tok: &str, no: u32) {
    let Some(v) = parse_hex(tok) else {
        open.warn(
            no,
            WarningKind::Malformed,
            format!("line {no}: {name} value `{tok}` is not hex"),
        );
        return;
    };
    let reg = Some(Located::new(Hex(v), no));
    let d = &mut open.dump;
    match name {
        "rip" => d.rip = reg,
        "rflags" => d.rflags = reg,
        "cr0" => d.cr.cr0 = reg,
        "cr2" => d.cr.cr2 = reg,
        "cr3" => d.cr.cr3 = reg,
        "cr4" => d.cr.cr4 = reg,
        "efer" => d.efer = reg,
        "cr8" => {}
        _ => {
            if let Some((r, _)) = gpr_of(&name.to_ascii_uppercase()) {
                let g = d.general.get_or_insert_with(|| GeneralRegisters {
                    layout: GprLayout::Legacy,
                    ..Default::default()
                });
                if let Some(slot) = g.values.get_mut(r.number()) {
                    *slot = reg;
                }
            }
        }
    }
}

/// `cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0)`:
/// the attribute word is rebuilt from the named fields.
fn legacy_segment(open: &mut Open, name: &str, rest: &str, no: u32) {
    let seg = match seg_of(&name.to_ascii_uppercase()) {
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
            format!(
                "line {no}: cannot read the old-format segment line for {}",
                seg.name()
            ),
        );
        return;
    }
    *open.dump.segments.slot_mut(seg) = Some(Segment {
        name: seg,
        selector: parse_hex(sel).unwrap_or(0),
        base: parse_hex(b).unwrap_or(0),
        limit: parse_hex(l).unwrap_or(0),
        attributes: attr,
        printed_decode: Some(format!("({inner})")),
        line: no,
    });
}
