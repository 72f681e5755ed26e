//! Reading an oops' lines: the CPU/PID/Comm line, hardware name, RIP forms, the registers into
//! the one CPU model, the `Code:` window, the call trace, `Modules linked in:`, `Kernel Offset:`.

use kvmtriage_model::{CodeWindow, CpuState, Field, Gpr, LineTable, SegName, Segment};
use serde::Serialize;

/// What the oops says about the kernel and the task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    /// Taint flags as printed (`G        W  OE`), `None` when "Not tainted".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The build tag after the release (`#202306271339`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    pub modules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_unloaded: Option<String>,
    /// `Kernel Offset: 0x… from 0xffffffff81000000`: the KASLR slide.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "kvmtriage_model::hex::opt_u64"
    )]
    pub kernel_offset: Option<u64>,
    /// The `Oops:` line's error code and count (`0000 [#1]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oops_line: Option<String>,
}

/// A `func+0x1f/0x40 [module buildid]` reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymRef {
    pub function: String,
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub offset: u64,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "kvmtriage_model::hex::opt_u64"
    )]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

/// The instruction pointer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RipLine {
    /// CS selector (`0010` kernel, `0033` user).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "kvmtriage_model::hex::opt_uint"
    )]
    pub cs: Option<u16>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "kvmtriage_model::hex::opt_u64"
    )]
    pub address: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SymRef>,
    pub line: u32,
}

/// Stack section a frame was printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Task,
    Irq,
    Softirq,
    Nmi,
    Exception,
}

/// One call-trace line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFrame {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "kvmtriage_model::hex::opt_u64"
    )]
    pub address: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SymRef>,
    /// `?`: the unwinder is not sure this is a real return address.
    pub reliable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<Section>,
    /// Which trace: `Call Trace`, `Allocated by task 12`, `Freed by task 12`, `backtrace`, ...
    pub trace: String,
    /// `file:line` already in the input (decode_stacktrace.sh output) or added by symbolization.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    pub line: u32,
}

/// Everything read from the report's lines.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub kernel: KernelInfo,
    pub rip: Option<RipLine>,
    pub cpu: CpuState,
    pub lines: LineTable,
    /// 64 or 32 (i386 `EIP:`/`EAX:`).
    pub bits: Option<u8>,
    pub code: Option<CodeWindow>,
    /// `Code: Bad RIP value.` / `Unable to access opcode bytes at …`.
    pub code_note: Option<String>,
    pub stack: Vec<StackFrame>,
    pub fs_base: Option<u64>,
    pub gs_base: Option<u64>,
    pub kernel_gs_base: Option<u64>,
    pub orig_rax: Option<u64>,
    pub pkru: Option<u32>,
    pub warnings: Vec<String>,
}

fn hex(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// `func+0x1f/0x40 [mod buildid]` at the start of `s`; returns the reference and the rest.
pub fn parse_symref(s: &str) -> Option<(SymRef, &str)> {
    let s = s.trim_start();
    let plus = s.find("+0x")?;
    let name = &s[..plus];
    if name.is_empty()
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$'))
    {
        return None;
    }
    let rest = &s[plus + 3..];
    let end = rest
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    let offset = u64::from_str_radix(&rest[..end], 16).ok()?;
    let mut rest = &rest[end..];
    let mut size = None;
    if let Some(r) = rest.strip_prefix("/0x") {
        let e = r.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(r.len());
        size = u64::from_str_radix(&r[..e], 16).ok();
        rest = &r[e..];
    }
    let mut module = None;
    let mut build_id = None;
    let t = rest.trim_start();
    if let Some(m) = t.strip_prefix('[') {
        if let Some(close) = m.find(']') {
            let inner = &m[..close];
            let mut it = inner.split_whitespace();
            if let Some(name) = it.next() {
                if name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
                {
                    module = Some(name.to_string());
                    build_id = it
                        .next()
                        .filter(|b| b.len() >= 8 && b.bytes().all(|c| c.is_ascii_hexdigit()))
                        .map(str::to_string);
                    rest = &m[close + 1..];
                }
            }
        }
    }
    Some((
        SymRef {
            function: name.to_string(),
            offset,
            size,
            module,
            build_id,
        },
        rest,
    ))
}

/// `[<ffffffff81234567>]` at the start of `s`.
fn parse_pc(s: &str) -> Option<(u64, &str)> {
    let s = s.trim_start();
    let inner = s.strip_prefix("[<")?;
    let close = inner.find(">]")?;
    let v = hex(inner[..close].trim())?;
    Some((v, &inner[close + 2..]))
}

/// The `Code:` bytes: `<xx>` or `(xx)` marks the byte at the instruction pointer.
pub fn parse_code_bytes(s: &str, window: &mut CodeWindow) -> bool {
    let mut any = false;
    for tok in s.split_whitespace() {
        let (t, marked) = if let Some(t) = tok.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            (t, true)
        } else if let Some(t) = tok.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            (t, true)
        } else {
            (tok, false)
        };
        let b = if t == "??" || t == "XX" || t == "xx" {
            None
        } else if t.len() == 2 {
            match u8::from_str_radix(t, 16) {
                Ok(b) => Some(b),
                Err(_) => return any,
            }
        } else {
            return any;
        };
        if marked && window.marker.is_none() {
            window.marker = Some(window.bytes.len());
        }
        window.bytes.push(b);
        any = true;
    }
    any
}

/// A line made only of code-byte tokens (a wrapped `Code:` line's continuation).
fn is_code_continuation(s: &str) -> bool {
    let mut n = 0;
    for tok in s.split_whitespace() {
        let t = tok
            .trim_start_matches(['<', '('])
            .trim_end_matches(['>', ')']);
        if !(t.len() == 2 && (t == "??" || t.bytes().all(|c| c.is_ascii_hexdigit()))) {
            return false;
        }
        n += 1;
    }
    n > 0
}

const GPRS64: [(&str, Gpr); 16] = [
    ("RAX", Gpr::Rax),
    ("RBX", Gpr::Rbx),
    ("RCX", Gpr::Rcx),
    ("RDX", Gpr::Rdx),
    ("RSI", Gpr::Rsi),
    ("RDI", Gpr::Rdi),
    ("RBP", Gpr::Rbp),
    ("RSP", Gpr::Rsp),
    ("R08", Gpr::R8),
    ("R09", Gpr::R9),
    ("R10", Gpr::R10),
    ("R11", Gpr::R11),
    ("R12", Gpr::R12),
    ("R13", Gpr::R13),
    ("R14", Gpr::R14),
    ("R15", Gpr::R15),
];

const GPRS32: [(&str, Gpr); 8] = [
    ("EAX", Gpr::Rax),
    ("EBX", Gpr::Rbx),
    ("ECX", Gpr::Rcx),
    ("EDX", Gpr::Rdx),
    ("ESI", Gpr::Rsi),
    ("EDI", Gpr::Rdi),
    ("EBP", Gpr::Rbp),
    ("ESP", Gpr::Rsp),
];

/// `NAME: value` pairs of a register line (`RAX: 0000… RBX: …`, `FS:  0000(0000)`).
fn pairs(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if let Some(colon) = t.find(':') {
            let name = &t[..colon];
            let rest = &t[colon + 1..];
            if !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                if !rest.is_empty() {
                    out.push((name, rest));
                } else if let Some(v) = toks.get(i + 1) {
                    out.push((name, *v));
                    i += 1;
                }
            }
        }
        i += 1;
    }
    out
}

fn seg(sel: u16) -> Segment {
    Segment {
        selector: sel,
        ..Segment::default()
    }
}

/// Which trace a `Call Trace:`-like line starts.
fn trace_label(msg: &str) -> Option<String> {
    let m = msg.trim();
    if m.starts_with("Call Trace:") || m.starts_with("Call trace:") || m == "Backtrace:" {
        return Some("Call Trace".into());
    }
    for p in [
        "Allocated by task",
        "Freed by task",
        "Last potentially related work creation:",
    ] {
        if m.starts_with(p) {
            return Some(m.trim_end_matches(':').to_string());
        }
    }
    if m.starts_with("backtrace") || m == "stack backtrace:" {
        return Some("backtrace".into());
    }
    None
}

/// Read the fields of one report. `lines` are (1-based input line number, message) pairs.
pub fn read_fields(lines: &[(u32, &str)]) -> Fields {
    let mut f = Fields::default();
    let mut trace: Option<String> = None;
    let mut section: Option<Section> = None;
    let mut in_code: Option<usize> = None;
    let mut seen_rip = false;
    let mut regs_done = false;
    for (idx, &(ln, msg)) in lines.iter().enumerate() {
        let m = msg.trim_start();
        // Continuation of a wrapped Code: line.
        if let Some(ci) = in_code {
            if ci + 1 == idx && is_code_continuation(m) {
                if let Some(w) = f.code.as_mut() {
                    parse_code_bytes(m, w);
                }
                in_code = Some(idx);
                continue;
            }
            in_code = None;
        }
        if m.starts_with("---[ end ") {
            trace = None;
            section = None;
            continue;
        }
        if let Some(rest) = m.strip_prefix("CPU: ") {
            if f.kernel.pid.is_none() && (rest.contains("PID: ") || rest.contains("Comm: ")) {
                read_cpu_line(m, &mut f.kernel);
                continue;
            }
        }
        if let Some(hw) = m.strip_prefix("Hardware name: ") {
            if f.kernel.hardware.is_none() {
                let mut h = hw.trim_end().to_string();
                // A name split by its author with a trailing backslash.
                if h.ends_with('\\') {
                    h.pop();
                    if let Some(&(_, next)) = lines.get(idx + 1) {
                        h = format!("{} {}", h.trim_end(), next.trim());
                    }
                }
                f.kernel.hardware = Some(h);
            }
            continue;
        }
        if let Some(rest) = m.strip_prefix("Modules linked in:") {
            if f.kernel.modules.is_empty() {
                let (mods, last) = match rest.find("[last unloaded:") {
                    Some(p) => (
                        &rest[..p],
                        Some(
                            rest[p + 15..]
                                .trim()
                                .trim_end_matches(']')
                                .trim()
                                .to_string(),
                        ),
                    ),
                    None => (rest, None),
                };
                f.kernel.modules = mods.split_whitespace().map(str::to_string).collect();
                f.kernel.last_unloaded = last;
            }
            continue;
        }
        if let Some(rest) = m.strip_prefix("Kernel Offset: ") {
            if rest.starts_with("disabled") {
                f.kernel.kernel_offset = Some(0);
            } else if let Some(v) = rest.split_whitespace().next().and_then(hex) {
                f.kernel.kernel_offset = Some(v);
            }
            continue;
        }
        if let Some(p) = m.find("Oops: ") {
            if f.kernel.oops_line.is_none() && m[p..].contains("[#") {
                let t = m[p + 6..].trim_start_matches("Oops: ");
                f.kernel.oops_line = Some(t.trim().to_string());
            }
        }
        if let Some(rest) = m.strip_prefix("Code: ") {
            if f.code.is_none() && f.code_note.is_none() {
                let mut w = CodeWindow {
                    line: ln,
                    ..CodeWindow::default()
                };
                if parse_code_bytes(rest, &mut w) {
                    f.code = Some(w);
                    f.lines.set(Field::Code, ln);
                    in_code = Some(idx);
                } else {
                    f.code_note = Some(rest.trim().to_string());
                }
            }
            continue;
        }
        if !regs_done {
            if let Some(rest) = m.strip_prefix("RIP: ").or_else(|| m.strip_prefix("IP: ")) {
                if seen_rip {
                    // A second register block (e.g. the user-mode entry frame): keep the first.
                    regs_done = true;
                } else {
                    seen_rip = true;
                    f.bits.get_or_insert(64);
                    f.rip = Some(read_rip(rest, ln));
                    if let Some(a) = f.rip.as_ref().and_then(|r| r.address) {
                        f.cpu.rip = Some(a);
                        f.lines.set(Field::Rip, ln);
                    }
                    if let Some(cs) = f.rip.as_ref().and_then(|r| r.cs) {
                        f.cpu.segments[SegName::Cs.index()] = Some(seg(cs));
                    }
                    continue;
                }
            }
            if let Some(rest) = m.strip_prefix("EIP: ") {
                if !seen_rip {
                    seen_rip = true;
                    f.bits = Some(32);
                    let mut r = read_rip(rest, ln);
                    // "EIP: 0060:[<c1234567>] EFLAGS: 00010246 CPU: 0"
                    for (k, v) in pairs(rest) {
                        if k == "EFLAGS" {
                            f.cpu.rflags = hex(v);
                            f.lines.set(Field::Rflags, ln);
                        }
                    }
                    r.address = r.address.map(|a| a & 0xffff_ffff);
                    if let Some(a) = r.address {
                        f.cpu.rip = Some(a);
                        f.lines.set(Field::Rip, ln);
                    }
                    if let Some(cs) = r.cs {
                        f.cpu.segments[SegName::Cs.index()] = Some(seg(cs));
                    }
                    f.rip = Some(r);
                    continue;
                }
            }
            if let Some(at) = m.strip_prefix("EIP is at ") {
                if let Some(r) = f.rip.as_mut() {
                    if r.symbol.is_none() {
                        r.symbol = parse_symref(at).map(|(s, _)| s);
                    }
                }
                continue;
            }
            if read_register_line(m, ln, &mut f) {
                continue;
            }
        }
        // Stack sections and frames.
        if let Some(label) = trace_label(m) {
            trace = Some(label);
            section = None;
            continue;
        }
        match m.trim_end() {
            "<IRQ>" => {
                section = Some(Section::Irq);
                trace.get_or_insert_with(|| "Call Trace".into());
                continue;
            }
            "<SOFTIRQ>" => {
                section = Some(Section::Softirq);
                continue;
            }
            "<NMI>" => {
                section = Some(Section::Nmi);
                trace.get_or_insert_with(|| "Call Trace".into());
                continue;
            }
            "<TASK>" => {
                section = Some(Section::Task);
                trace.get_or_insert_with(|| "Call Trace".into());
                continue;
            }
            "<#DF>" | "<#MC>" | "<#DB>" | "<#VC>" => {
                section = Some(Section::Exception);
                continue;
            }
            "</IRQ>" | "</NMI>" | "</SOFTIRQ>" | "<EOI>" | "</#DF>" | "</#MC>" | "</#DB>" => {
                section = Some(Section::Task);
                continue;
            }
            "</TASK>" => {
                section = None;
                continue;
            }
            _ => {}
        }
        if let Some(label) = &trace {
            if let Some(fr) = parse_frame(m, ln) {
                f.stack.push(StackFrame {
                    section,
                    trace: label.clone(),
                    ..fr
                });
            }
        }
    }
    if f.bits == Some(32) {
        // i386 registers are 32 bits wide.
        for g in f.cpu.gprs.iter_mut().flatten() {
            *g &= 0xffff_ffff;
        }
    }
    f
}

fn read_cpu_line(m: &str, k: &mut KernelInfo) {
    // "CPU: 1 UID: 0 PID: 1994 Comm: ublk-suite Not tainted 6.13.12-061312-generic #202504200842"
    // "CPU: 7 PID: 1598 Comm: ip Tainted: G    N 6.12.0net-next_main+ #2"
    let num = |key: &str| -> Option<u32> {
        let p = m.find(key)?;
        m[p + key.len()..].split_whitespace().next()?.parse().ok()
    };
    k.cpu = num("CPU: ");
    k.pid = num("PID: ");
    k.uid = num("UID: ");
    let Some(cp) = m.find("Comm: ") else {
        return;
    };
    let after = &m[cp + 6..];
    let stop = [" Not tainted", " Tainted: ", " Kdump: "]
        .iter()
        .filter_map(|p| after.find(p))
        .min();
    let (comm, rest) = match stop {
        Some(p) => (&after[..p], &after[p..]),
        None => match after.find(' ') {
            Some(p) => (&after[..p], &after[p..]),
            None => (after, ""),
        },
    };
    k.comm = Some(comm.to_string());
    let mut rest = rest.trim_start();
    if let Some(r) = rest.strip_prefix("Kdump: loaded") {
        rest = r.trim_start();
    }
    let after_taint = if let Some(r) = rest.strip_prefix("Not tainted") {
        r
    } else if let Some(r) = rest.strip_prefix("Tainted: ") {
        // Taint flags: single letters and spaces up to the release (starts with a digit).
        let end = r
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .map_or(r.len(), |(i, _)| i);
        let flags = r[..end].trim_end();
        k.taint = Some(flags.to_string());
        &r[end..]
    } else {
        rest
    };
    let mut it = after_taint.split_whitespace();
    if let Some(rel) = it.next() {
        k.release = Some(rel.to_string());
        k.build = it.next().filter(|b| b.starts_with('#')).map(str::to_string);
    }
}

fn read_rip(rest: &str, line: u32) -> RipLine {
    // "0010:func+0x1f/0x40", "0033:0x7fb31b2de146", "0010:[<ffffffff81234567>]  [<…>] func+…",
    // "[<ffffffff81234567>] func+0x…" (IP:), "func+0x1f/0x40" (EIP:), "0060:[<c1234567>] EFLAGS…"
    let mut s = rest.trim();
    let mut cs = None;
    if s.len() > 5 && s.as_bytes()[4] == b':' && s[..4].bytes().all(|c| c.is_ascii_hexdigit()) {
        cs = u16::from_str_radix(&s[..4], 16).ok();
        s = &s[5..];
    }
    let mut address = None;
    while let Some((a, r)) = parse_pc(s) {
        address.get_or_insert(a);
        s = r;
    }
    if address.is_none() {
        if let Some(h) = s.strip_prefix("0x") {
            let e = h.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(h.len());
            address = u64::from_str_radix(&h[..e], 16).ok();
        }
    }
    let symbol = parse_symref(s).map(|(r, _)| r);
    RipLine {
        cs,
        address,
        symbol,
        line,
    }
}

/// Register lines; true when the line was one.
fn read_register_line(m: &str, ln: u32, f: &mut Fields) -> bool {
    let ps = pairs(m);
    let Some(&(first, _)) = ps.first() else {
        return false;
    };
    let known = matches!(
        first,
        "RSP"
            | "RAX"
            | "RDX"
            | "RBP"
            | "R10"
            | "R13"
            | "FS"
            | "CS"
            | "CR2"
            | "DR0"
            | "DR3"
            | "PKRU"
            | "EAX"
            | "ESI"
            | "DS"
            | "CR0"
            | "R08"
            | "RCX"
            | "ORIG_RAX"
            | "knlGS"
            | "GS"
    );
    if !known || !m.trim_start().starts_with(first) {
        return false;
    }
    let mut any = false;
    for (name, v) in ps {
        if let Some(&(_, g)) = GPRS64.iter().chain(GPRS32.iter()).find(|(n, _)| *n == name) {
            // "RSP: 0018:ffffc900…": the stack selector first.
            let (ss, val) = match v.split_once(':') {
                Some((sel, val)) => (u16::from_str_radix(sel, 16).ok(), val),
                None => (None, v),
            };
            if let Some(x) = hex(val) {
                f.cpu.set_gpr(g, x);
                f.lines.set(Field::Gpr(g), ln);
                any = true;
                if name.starts_with('E') {
                    f.bits.get_or_insert(32);
                }
            }
            if let Some(ss) = ss {
                f.cpu.segments[SegName::Ss.index()] = Some(seg(ss));
            }
            continue;
        }
        let val = v.split('(').next().unwrap_or(v);
        let x = hex(val);
        match name {
            "EFLAGS" => {
                f.cpu.rflags = x;
                f.lines.set(Field::Rflags, ln);
            }
            "ORIG_RAX" => f.orig_rax = x,
            "FS" | "GS" | "CS" | "DS" | "ES" | "SS" => {
                let sn = match name {
                    "FS" => SegName::Fs,
                    "GS" => SegName::Gs,
                    "CS" => SegName::Cs,
                    "DS" => SegName::Ds,
                    "ES" => SegName::Es,
                    _ => SegName::Ss,
                };
                // x86-64 prints "FS:  <base>(<selector>)"; others the selector alone.
                if let Some((base, sel)) = v.split_once('(') {
                    let sel = sel.trim_end_matches(')');
                    let s = Segment {
                        selector: u16::from_str_radix(sel, 16).unwrap_or(0),
                        base: hex(base).unwrap_or(0),
                        ..Segment::default()
                    };
                    f.cpu.segments[sn.index()] = Some(s);
                    if sn == SegName::Fs {
                        f.fs_base = hex(base);
                    } else {
                        f.gs_base = hex(base);
                    }
                } else if let Some(x) = x {
                    let base = f.cpu.segments[sn.index()].map_or(0, |s| s.base);
                    f.cpu.segments[sn.index()] = Some(Segment {
                        selector: x as u16,
                        base,
                        ..Segment::default()
                    });
                }
                f.lines.set(Field::Segment(sn), ln);
            }
            "knlGS" => f.kernel_gs_base = x,
            "CR0" | "CR2" | "CR3" | "CR4" => {
                let n = name.as_bytes()[2] - b'0';
                match n {
                    0 => f.cpu.cr0 = x,
                    2 => f.cpu.cr2 = x,
                    3 => f.cpu.cr3 = x,
                    _ => f.cpu.cr4 = x,
                }
                f.lines.set(Field::Cr(n), ln);
            }
            "DR0" | "DR1" | "DR2" | "DR3" | "DR6" | "DR7" => {
                let n = name.as_bytes()[2] - b'0';
                f.cpu.dr[usize::from(n)] = x;
                f.lines.set(Field::Dr(n), ln);
            }
            "PKRU" => f.pkru = x.map(|v| v as u32),
            _ => continue,
        }
        any = true;
    }
    any
}

/// One call-trace line: `[<addr>] ? func+0x1/0x2 [mod buildid]`, `func (file.c:12)`, ….
pub fn parse_frame(m: &str, ln: u32) -> Option<StackFrame> {
    let mut s = m.trim_start();
    let mut address = None;
    if let Some((a, r)) = parse_pc(s) {
        address = Some(a);
        s = r.trim_start();
    }
    let mut reliable = true;
    if let Some(r) = s.strip_prefix("? ") {
        reliable = false;
        s = r.trim_start();
    }
    if let Some((a, r)) = parse_pc(s) {
        address.get_or_insert(a);
        s = r.trim_start();
    }
    let (symbol, rest) = match parse_symref(s) {
        Some((sym, rest)) => (Some(sym), rest),
        None => {
            // "func (file.c:12 file.h:3)" as decode_stacktrace.sh prints an offset-less frame.
            let sp = s.find(" (")?;
            let name = &s[..sp];
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            {
                return None;
            }
            (
                Some(SymRef {
                    function: name.to_string(),
                    offset: 0,
                    size: None,
                    module: None,
                    build_id: None,
                }),
                &s[sp..],
            )
        }
    };
    let mut source = Vec::new();
    let r = rest.trim();
    if let Some(inner) = r.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        source = inner
            .split_whitespace()
            .filter(|t| t.contains(':'))
            .map(str::to_string)
            .collect();
    }
    Some(StackFrame {
        address,
        symbol,
        reliable,
        section: None,
        trace: String::new(),
        source,
        line: ln,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symref_forms() {
        let (s, _) = parse_symref("rcu_torture_reader+0xac/0x1f0 [rcutorture]").unwrap();
        assert_eq!(s.function, "rcu_torture_reader");
        assert_eq!((s.offset, s.size), (0xac, Some(0x1f0)));
        assert_eq!(s.module.as_deref(), Some("rcutorture"));
        let (s, _) =
            parse_symref("foo.cold+0x1/0x2 [kvm_intel 0123456789abcdef0123456789abcdef01234567]")
                .unwrap();
        assert_eq!(s.function, "foo.cold");
        assert_eq!(s.build_id.as_deref().map(str::len), Some(40));
    }

    #[test]
    fn frame_forms() {
        let f = parse_frame(" ? try_to_wake_up+0x39/0x920", 3).unwrap();
        assert!(!f.reliable);
        let f = parse_frame(" [<ffffffff81234567>] foo+0x1/0x2", 3).unwrap();
        assert_eq!(f.address, Some(0xffffffff81234567));
        let f = parse_frame(
            "do_syscall_64 (arch/x86/entry/common.c:52 arch/x86/entry/common.c:83)",
            1,
        )
        .unwrap();
        assert_eq!(f.source.len(), 2);
        assert!(parse_frame("RIP: 0010:foo+0x1/0x2", 1).is_none());
    }

    #[test]
    fn cpu_line() {
        let mut k = KernelInfo::default();
        read_cpu_line(
            "CPU: 7 UID: 0 PID: 1598 Comm: ip Tainted: G    N 6.12.0net-next_main+ #2",
            &mut k,
        );
        assert_eq!((k.cpu, k.pid, k.uid), (Some(7), Some(1598), Some(0)));
        assert_eq!(k.comm.as_deref(), Some("ip"));
        assert_eq!(k.taint.as_deref(), Some("G    N"));
        assert_eq!(k.release.as_deref(), Some("6.12.0net-next_main+"));
        assert_eq!(k.build.as_deref(), Some("#2"));
    }
}
