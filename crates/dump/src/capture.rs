//! `kvmtriage capture`'s text form (docs/capture.md): QEMU's own dump text plus sections whose
//! lines start with `kvmtriage-capture:`.
//!
//! Reading one: the marked lines are blanked (line numbers kept) and the rest goes through the
//! ordinary reader, which finds QEMU's stderr dump (with the event) and every vCPU of
//! `info registers -a`. Then:
//! - every vCPU of `info registers -a` is one dump; QEMU's stderr dump gives its event to the vCPU
//!   whose registers it shows (same RIP and general registers) and is not kept as a dump of its
//!   own; a stderr dump that matches no vCPU stays a dump;
//! - the capture's code window of a vCPU replaces the `Code=` window (which `info registers` does
//!   not have, and QEMU's stderr dump has with 50 bytes) when its anchor is the vCPU's code
//!   address as the mode decider computes it;
//! - stack bytes (and the words they make), the local APIC, descriptor-table entries, KVM
//!   counters and the run state go to [`Dump::capture`].

use kvmtriage_model::hex::Hex;
use kvmtriage_model::{CodeWindow, Event, Gpr};
use serde::Serialize;

use crate::dump::{Dump, Warning, WarningKind};
use crate::ReadError;

/// Every line the capture adds starts with this.
pub const MARK: &str = "kvmtriage-capture:";

/// True when `text` is a capture (its first marked line opens one).
pub fn is_capture(text: &str) -> bool {
    text.lines().take(64).any(|l| l.starts_with(BEGIN))
}

/// The line that opens a capture.
pub(crate) const BEGIN: &str = "kvmtriage-capture: begin capture ";

/// What a capture adds to one vCPU's dump.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CaptureExtras {
    /// Line of the capture's first line.
    pub line: u32,
    /// The capture's format version.
    pub format: u32,
    /// QEMU's run state when the capture was taken (`internal-error`, `running`, …).
    pub run_state: Option<String>,
    /// How a `--wait` saw the stop: `event`, `polling`, `already-stopped`, `timeout`.
    pub stop: Option<String>,
    /// Host thread id of this vCPU.
    pub thread_id: Option<i64>,
    /// The event came from QEMU's own stderr dump of this vCPU (included with `--qemu-log`).
    pub event_from_qemu_log: bool,
    /// The code window is the capture's (it replaced the 50-byte `Code=` window or gave one).
    pub long_code_window: bool,
    pub stack: Option<StackBytes>,
    /// `info lapic` lines.
    pub lapic: Vec<String>,
    pub descriptors: Vec<DescriptorBytes>,
    /// KVM's per-vCPU counters, `(name, value as QEMU sent it)`.
    pub stats: Vec<(String, String)>,
    /// The capture ran to its end (`end capture complete=yes`).
    pub complete: bool,
}

/// Bytes from the stack pointer up, and the stack words they make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackBytes {
    pub line: u32,
    /// Linear address of `bytes[0]` (the stack pointer).
    pub address: Hex,
    pub bytes: Vec<Option<u8>>,
    /// Word size in bytes: 8 in 64-bit mode, 4 in 32-bit code, 2 in 16-bit code.
    pub word_size: u8,
    /// Little-endian words from the stack pointer up; `None` when a byte is unreadable.
    pub words: Vec<Option<Hex>>,
}

/// One descriptor-table entry the capture read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescriptorBytes {
    pub line: u32,
    /// `gdt` or `idt`.
    pub table: String,
    /// Segment register (`cs`, `tr`, …) or `vector`.
    pub name: String,
    pub index: u32,
    pub selector: Option<u32>,
    pub bytes: Vec<Option<u8>>,
}

/// `key=value` pairs of a marked line; quoted values unescaped.
fn pairs(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('r') => value.push('\r'),
                            Some('t') => value.push('\t'),
                            Some(other) => value.push(other),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        } else if key.is_empty() {
            chars.next(); // a stray character
            continue;
        }
        out.push((key, value));
    }
}

fn get<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn num(s: Option<&str>) -> Option<u64> {
    let s = s?;
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn byte(tok: &str) -> Result<Option<u8>, ()> {
    if tok == "??" {
        return Ok(None);
    }
    if tok.len() != 2 {
        return Err(());
    }
    u8::from_str_radix(tok, 16).map(Some).map_err(|_| ())
}

struct Memory {
    line: u32,
    vcpu: u32,
    kind: String,
    address: u64,
    anchor: u64,
    bytes: Vec<Option<u8>>,
}

#[derive(Default)]
struct Section {
    kind: String,
    header: Vec<(String, String)>,
    line: u32,
    data: Vec<(u32, String)>,
}

#[derive(Default)]
struct Parsed {
    line: u32,
    format: u32,
    run_state: Option<String>,
    stop: Option<String>,
    threads: Vec<(u32, i64)>,
    qemu_log: Option<(u32, u32)>,
    memory: Vec<Memory>,
    lapic: Vec<(u32, Vec<String>)>,
    descriptors: Vec<(u32, DescriptorBytes)>,
    stats: Vec<(u32, Vec<(String, String)>)>,
    complete: bool,
    warnings: Vec<Warning>,
}

fn warn(p: &mut Parsed, line: u32, message: String) {
    p.warnings.push(Warning {
        line,
        kind: WarningKind::Malformed,
        message,
    });
}

fn parse(text: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut open: Option<Section> = None;
    let mut log_start = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u32 + 1;
        let Some(rest) = raw.strip_prefix(MARK) else {
            continue;
        };
        let rest = rest
            .strip_prefix(' ')
            .unwrap_or(rest)
            .trim_end_matches('\r');
        if let Some(data) = rest
            .strip_prefix("| ")
            .or(if rest == "|" { Some("") } else { None })
        {
            match open.as_mut() {
                Some(s) => s.data.push((n, data.to_string())),
                None => warn(&mut p, n, "capture data line outside a section".into()),
            }
            continue;
        }
        let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "begin" => {
                let (kind, tail) = tail.split_once(' ').unwrap_or((tail, ""));
                let header = pairs(tail);
                match kind {
                    "capture" => {
                        p.line = n;
                        p.format = num(get(&header, "format")).unwrap_or(0) as u32;
                    }
                    "qemu-log" => log_start = Some(n),
                    "registers" => {}
                    _ => {
                        if let Some(s) = open.take() {
                            warn(
                                &mut p,
                                s.line,
                                format!("capture section `{}` not ended", s.kind),
                            );
                        }
                        open = Some(Section {
                            kind: kind.to_string(),
                            header,
                            line: n,
                            data: Vec::new(),
                        });
                    }
                }
            }
            "end" => {
                let (kind, tail) = tail.split_once(' ').unwrap_or((tail, ""));
                match kind {
                    "capture" => {
                        p.complete = get(&pairs(tail), "complete") == Some("yes");
                    }
                    "qemu-log" => {
                        if let Some(s) = log_start.take() {
                            p.qemu_log = Some((s, n));
                        }
                    }
                    "registers" => {}
                    _ => match open.take() {
                        Some(s) if s.kind == kind => close(&mut p, s),
                        Some(s) => {
                            warn(&mut p, n, format!("`end {kind}` closes `{}`", s.kind));
                        }
                        None => warn(&mut p, n, format!("`end {kind}` without `begin`")),
                    },
                }
            }
            "status" => p.run_state = get(&pairs(tail), "status").map(str::to_string),
            "wait" => p.stop = get(&pairs(tail), "stop").map(str::to_string),
            "vcpu" => {
                let h = pairs(tail);
                if let (Some(i), Some(t)) = (num(get(&h, "index")), get(&h, "thread-id")) {
                    if let Ok(t) = t.parse() {
                        p.threads.push((i as u32, t));
                    }
                }
            }
            // `qemu`, `event`, `note`, `error` and lines of later versions: not needed here.
            _ => {}
        }
    }
    if let Some(s) = open.take() {
        warn(
            &mut p,
            s.line,
            format!("capture section `{}` not ended (cut short?)", s.kind),
        );
        close(&mut p, s);
    }
    p
}

fn close(p: &mut Parsed, s: Section) {
    let vcpu = num(get(&s.header, "vcpu")).map(|v| v as u32);
    let Some(vcpu) = vcpu else {
        if s.kind != "stats" {
            warn(
                p,
                s.line,
                format!("capture section `{}` without vcpu=", s.kind),
            );
        }
        return;
    };
    match s.kind.as_str() {
        "memory" => {
            let (Some(address), Some(anchor)) = (
                num(get(&s.header, "address")),
                num(get(&s.header, "anchor")),
            ) else {
                warn(
                    p,
                    s.line,
                    "memory section without address= or anchor=".into(),
                );
                return;
            };
            let mut bytes = Vec::new();
            for (n, d) in &s.data {
                let Some((at, rest)) = d.split_once(':') else {
                    warn(p, *n, format!("memory line without an address: {d}"));
                    return;
                };
                let expected = address.wrapping_add(bytes.len() as u64);
                if u64::from_str_radix(at.trim(), 16).ok() != Some(expected) {
                    warn(
                        p,
                        *n,
                        format!("memory line at {at} where {expected:#x} was expected"),
                    );
                    return;
                }
                for tok in rest.split_whitespace() {
                    match byte(tok) {
                        Ok(b) => bytes.push(b),
                        Err(()) => {
                            warn(p, *n, format!("not a byte: {tok:?}"));
                            return;
                        }
                    }
                }
            }
            if let Some(len) = num(get(&s.header, "length")) {
                if len != bytes.len() as u64 {
                    warn(
                        p,
                        s.line,
                        format!(
                            "memory section says length={len}, has {} bytes",
                            bytes.len()
                        ),
                    );
                }
            }
            p.memory.push(Memory {
                line: s.line,
                vcpu,
                kind: get(&s.header, "kind").unwrap_or("").to_string(),
                address,
                anchor,
                bytes,
            });
        }
        "lapic" => p
            .lapic
            .push((vcpu, s.data.into_iter().map(|(_, l)| l).collect())),
        "stats" => p.stats.push((
            vcpu,
            s.data
                .iter()
                .filter_map(|(_, l)| {
                    let (k, v) = l.split_once(' ')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect(),
        )),
        "descriptors" => {
            let table = get(&s.header, "table").unwrap_or("").to_string();
            for (n, d) in &s.data {
                let (name, tail) = d.split_once(' ').unwrap_or((d, ""));
                let h = pairs(tail);
                let bytes: Result<Vec<Option<u8>>, ()> = get(&h, "bytes")
                    .unwrap_or("")
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(byte)
                    .collect();
                let Ok(bytes) = bytes else {
                    warn(p, *n, format!("descriptor bytes not readable: {d}"));
                    continue;
                };
                p.descriptors.push((
                    vcpu,
                    DescriptorBytes {
                        line: *n,
                        table: table.clone(),
                        name: name.to_string(),
                        index: num(get(&h, "index")).unwrap_or(0) as u32,
                        selector: num(get(&h, "selector")).map(|v| v as u32),
                        bytes,
                    },
                ));
            }
        }
        _ => {} // a section of a later version
    }
}

/// The same vCPU state: RIP and every general register both dumps have.
fn same_state(a: &Dump, b: &Dump) -> bool {
    a.cpu.rip.is_some()
        && a.cpu.rip == b.cpu.rip
        && Gpr::ALL
            .iter()
            .all(|r| match (a.cpu.gpr(*r), b.cpu.gpr(*r)) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            })
}

fn stack(m: &Memory, bits: Option<u8>) -> StackBytes {
    let word_size: u8 = match bits {
        Some(64) => 8,
        Some(16) => 2,
        _ => 4,
    };
    let words = m
        .bytes
        .chunks_exact(usize::from(word_size))
        .map(|w| {
            w.iter()
                .rev()
                .try_fold(0u64, |acc, b| b.map(|b| (acc << 8) | u64::from(b)))
                .map(Hex)
        })
        .collect();
    StackBytes {
        line: m.line,
        address: Hex(m.address),
        bytes: m.bytes.clone(),
        word_size,
        words,
    }
}

/// Reads a capture (see the module documentation).
pub fn read(text: &str) -> Result<Vec<Dump>, ReadError> {
    let p = parse(text);
    // QEMU's lines only: ours blanked, so that line numbers stay those of the file.
    let mut masked = String::with_capacity(text.len());
    for line in text.lines() {
        if !line.starts_with(MARK) {
            masked.push_str(line);
        }
        masked.push('\n');
    }
    let all = crate::reader::read(&masked)?;
    let in_log = |d: &Dump| {
        p.qemu_log
            .is_some_and(|(a, b)| d.source.first_line > a && d.source.last_line < b)
    };
    let (log, mut vcpus): (Vec<Dump>, Vec<Dump>) = all.into_iter().partition(in_log);
    let mut unmatched = Vec::new();
    // The last dump of QEMU's log with an event is the failure; earlier ones are kept as they are.
    for l in log {
        match vcpus
            .iter_mut()
            .find(|v| v.event == Event::None && l.event != Event::None && same_state(v, &l))
        {
            Some(v) => {
                v.event = l.event.clone();
                v.warnings.extend(l.warnings.iter().cloned());
                v.capture
                    .get_or_insert_with(Default::default)
                    .event_from_qemu_log = true;
                if v.code.is_none() {
                    v.code = l.code.clone();
                }
            }
            None => unmatched.push(l),
        }
    }
    for (i, v) in vcpus.iter_mut().enumerate() {
        let index = v.cpu_index.unwrap_or(i as u32);
        let x = v.capture.get_or_insert_with(Default::default);
        x.line = p.line;
        x.format = p.format;
        x.run_state = p.run_state.clone();
        x.stop = p.stop.clone();
        x.complete = p.complete;
        x.thread_id = p.threads.iter().find(|t| t.0 == index).map(|t| t.1);
        x.lapic = p
            .lapic
            .iter()
            .find(|l| l.0 == index)
            .map(|l| l.1.clone())
            .unwrap_or_default();
        x.descriptors = p
            .descriptors
            .iter()
            .filter(|d| d.0 == index)
            .map(|d| d.1.clone())
            .collect();
        x.stats = p
            .stats
            .iter()
            .find(|s| s.0 == index)
            .map(|s| s.1.clone())
            .unwrap_or_default();
        let bits = v.mode.bits;
        if let Some(m) = p
            .memory
            .iter()
            .find(|m| m.vcpu == index && m.kind == "stack")
        {
            x.stack = Some(stack(m, bits));
        }
        if let Some(m) = p
            .memory
            .iter()
            .find(|m| m.vcpu == index && m.kind == "code")
        {
            let expected = v.mode.code_address(&v.cpu);
            // Outside 64-bit mode the listing counts addresses as CS.base + offset: bytes before
            // CS.base are not in the code segment and are left out.
            let floor = match bits {
                Some(64) => 0,
                _ => v.cpu.cs().map_or(0, |c| c.base & 0xffff_ffff),
            };
            let skip = floor.saturating_sub(m.address).min(m.bytes.len() as u64) as usize;
            let marker = m.anchor.wrapping_sub(m.address) as usize;
            if expected == Some(m.anchor) && marker < m.bytes.len() && skip <= marker {
                v.code = Some(CodeWindow {
                    bytes: m.bytes[skip..].to_vec(),
                    marker: Some(marker - skip),
                    line: m.line,
                });
                x.long_code_window = true;
            } else {
                v.warnings.push(Warning {
                    line: m.line,
                    kind: WarningKind::Inconsistent,
                    message: format!(
                        "the capture's code window is anchored at {:#x}, but this vCPU's code address is {}: window not used",
                        m.anchor,
                        expected.map_or("unknown".to_string(), |e| format!("{e:#x}"))
                    ),
                });
            }
        }
    }
    if let Some(first) = vcpus.first_mut() {
        first.warnings.extend(p.warnings);
    }
    vcpus.extend(unmatched);
    vcpus.sort_by_key(|d| d.source.first_line);
    if vcpus.is_empty() {
        return Err(ReadError::NoDump {
            lines_scanned: text.lines().count() as u32,
        });
    }
    Ok(vcpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_with_quotes() {
        let p = pairs(r#"format=1 tool="kvmtriage 0.1.0" reason="a \"b\" c\\d" x"#);
        assert_eq!(get(&p, "format"), Some("1"));
        assert_eq!(get(&p, "tool"), Some("kvmtriage 0.1.0"));
        assert_eq!(get(&p, "reason"), Some(r#"a "b" c\d"#));
        assert_eq!(get(&p, "x"), Some(""));
    }

    proptest::proptest! {
        #[test]
        fn pairs_never_panic(s in "(?s).{0,200}") {
            let _ = pairs(&s);
        }

        #[test]
        fn marked_garbage_never_panics(lines in proptest::collection::vec("(begin|end|\\||status|wait|vcpu)? ?[a-z=0-9x\" |:?]{0,40}", 0..30)) {
            let mut text = String::from("kvmtriage-capture: begin capture format=1\nRIP=0000000000001000 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n");
            for l in lines {
                text.push_str("kvmtriage-capture: ");
                text.push_str(&l);
                text.push('\n');
            }
            let _ = read(&text);
        }
    }
}
