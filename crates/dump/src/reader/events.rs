//! Event lines: what QEMU printed about why the dump was taken (`error: kvm run failed …`,
//! `KVM internal error. Suberror: N` with its `extra data[i]` words, `KVM: entry failed …`,
//! TCG's `Triple fault` and `qemu: fatal:`, `-d cpu_reset`'s `CPU Reset (CPU N)`), found
//! anywhere in a line because QEMU's stderr may be glued to guest output. Also spots a kernel
//! oops register line (`RIP: 0010:…`), which is not a dump.

use kvmtriage_model::tables::errno_from_text;
use kvmtriage_model::Event;

use super::registers::parse_hex;

pub(crate) enum EventLine<'a> {
    New(Event),
    ExtraData {
        index: Option<usize>,
        value: Option<u64>,
        text: &'a str,
    },
    EmulationFailure,
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
pub(crate) struct LineScan {
    /// `=` or `#` in the first 200 bytes.
    pub eq_or_hash: bool,
    /// An event keyword (see [`EVENT_KEYWORDS`]).
    pub event: bool,
    /// A kernel-oops register line (`RIP: 00…`).
    pub oops_rip: bool,
    /// A byte that binary data has and text rarely does (see
    /// [`super::completion::looks_binary`], which needs one to say yes).
    pub control: bool,
}

/// Byte classes for [`scan_line`], as bits: 1 = `=`/`#`; 2 = a byte that may start (or, for
/// `x`/`m`, be second in) an event keyword (`e` is left out on purpose: it is the commonest
/// letter of prose); 4 = a control byte (NUL, C0 controls other than tab, backspace, form feed
/// and escape, DEL) or the lead byte of U+FFFD or of a C1 control.
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
    let mut c = 0;
    while c < 0x20 {
        if !matches!(c, 0x09 | 0x1b | 0x0c | 0x08) {
            t[c] = 4;
        }
        c += 1;
    }
    t[0x7f] = 4;
    t[0xc2] = 4;
    t[0xef] = 4;
    t
};

/// One pass over a line (cheaper than a substring search per keyword). Each candidate byte is
/// checked against the keyword's next byte before the full comparison.
pub(crate) fn scan_line(b: &[u8]) -> LineScan {
    let mut out = LineScan {
        eq_or_hash: false,
        event: false,
        oops_rip: false,
        control: false,
    };
    // Look at 8 bytes at a time; most chunks of a prose line hold nothing of interest and are
    // skipped with eight table loads.
    let mut base = 0;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let any = chunk
            .iter()
            .fold(0u8, |acc, c| acc | SCAN_CLASS[usize::from(*c)]);
        out.control |= any & 4 != 0;
        if any & 3 != 0 {
            for k in 0..8 {
                scan_byte(b, base + k, &mut out);
            }
        }
        base += 8;
    }
    for k in base..b.len() {
        out.control |= SCAN_CLASS[usize::from(b[k])] & 4 != 0;
        scan_byte(b, k, &mut out);
    }
    out
}

/// [`scan_line`] for the byte at `i`.
fn scan_byte(b: &[u8], i: usize, out: &mut LineScan) {
    let Some(&c) = b.get(i) else {
        return;
    };
    match SCAN_CLASS[usize::from(c)] & 3 {
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

/// The event a line announces. Events carry `line: 0` here; the reader sets it.
pub(crate) fn classify_event(text: &str) -> Option<EventLine<'_>> {
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

/// KVM_INTERNAL_ERROR_* short names, from the one table (crates/model/data/kvm.toml).
fn suberror_name(n: u32) -> Option<&'static str> {
    kvmtriage_model::tables::suberror(n).map(|s| s.short)
}
