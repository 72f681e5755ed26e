//! Reports and their signatures: one [`Record`] per QEMU dump or lone failure line
//! (docs/scan.md documents the NDJSON shape and its versioning).

use kvmtriage_analyze::{analyze_dump, DumpAnalysis, Options};
use kvmtriage_dump::{tables, Event, StreamReader};
use serde::Serialize;

use crate::prefilter::Region;
use crate::stamp::{self, Stamp};

/// Version of the signature scheme; a change of what goes into a signature bumps it.
pub const SIGNATURE_VERSION: u32 = 1;
/// Version of the NDJSON record shape (additive changes keep it).
pub const RECORD_VERSION: u32 = 1;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A QEMU x86 vCPU register dump (with its event line when it has one).
    QemuDump,
    /// A failure line (`kvm run failed …`, `KVM internal error …`) with no dump after it.
    ErrorLine,
    /// A Linux kernel oops (reserved: the oops reader is not part of `scan` yet).
    KernelOops,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::QemuDump => "qemu-dump",
            Kind::ErrorLine => "error-line",
            Kind::KernelOops => "kernel-oops",
        }
    }
}

/// Where a record was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The path as given (or found under a given directory); `-` for standard input.
    pub path: String,
    /// 1-based line of the report's first line in the (decompressed) input; for journald input
    /// the line of the journal entry.
    pub first_line: u64,
    /// Byte offset of that line in the (decompressed) input.
    pub byte_offset: u64,
    /// The line numbers inside `analysis` count from this line (line 1 of the analysis is
    /// input line `line_base + 1`).
    pub line_base: u64,
}

/// One report.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub record_version: u32,
    pub kind: Kind,
    pub source: Source,
    /// RFC 3339 (UTC) when the log line had a date; syslog's `Mmm dd HH:MM:SS` as printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Seconds since the epoch, when `time` has a date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub signature: String,
    /// 16 hex digits: FNV-1a 64 of `signature`, a compact cluster key.
    pub signature_id: String,
    pub signature_version: u32,
    /// One line: what happened.
    pub title: String,
    /// The whole `explain --format json` analysis of the dump (`null` for an error line).
    pub analysis: Option<DumpAnalysis>,
    /// The failure line itself (error lines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// FNV-1a 64.
pub fn fnv64(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The event part of a signature: kind and its discriminating value.
fn event_part(e: &Event) -> String {
    match e {
        Event::RunFailed {
            errno, errno_name, ..
        } => match (errno_name, errno) {
            (Some(n), _) => format!("run_failed:{n}"),
            (None, Some(n)) => format!("run_failed:errno{n}"),
            _ => "run_failed:?".into(),
        },
        Event::InternalError {
            suberror,
            emulation_failure,
            ..
        } => format!(
            "internal_error:{suberror}{}",
            if *emulation_failure { "+emulation" } else { "" }
        ),
        Event::EntryFailed { hardware_error, .. } => format!("entry_failed:{hardware_error:#x}"),
        Event::ExceptionExit { exception, .. } => format!("exception_exit:{exception}"),
        Event::UnknownExit {
            hardware_reason,
            exit_reason,
            ..
        } => match (hardware_reason, exit_reason) {
            (Some(h), _) => format!("unknown_exit:hw{h:#x}"),
            (None, Some(r)) => format!("unknown_exit:{r}"),
            _ => "unknown_exit".into(),
        },
        other => other.kind().to_string(),
    }
}

/// The signature of an analysed dump (version [`SIGNATURE_VERSION`]): `qemu-dump` | event
/// (kind:errno / suberror / hardware error / exception) | faulting mnemonic | MSR | matched
/// known issues | finding ids, joined by ` | `; absent parts are `-`.
pub fn dump_signature(a: &DumpAnalysis) -> String {
    let event = event_part(&a.dump.event);
    let mnemonic = a
        .fault
        .as_ref()
        .map(|f| f.mnemonic.clone())
        .unwrap_or_else(|| "-".into());
    let msr = a
        .fault
        .as_ref()
        .and_then(|f| f.msr.as_ref())
        .and_then(|m| m.index)
        .map(|i| format!("msr={i:#x}"))
        .unwrap_or_else(|| "-".into());
    let mut known: Vec<&str> = a.diagnosis.known_issues.iter().map(|k| k.id).collect();
    known.sort_unstable();
    let known = if known.is_empty() {
        "-".into()
    } else {
        known.join(",")
    };
    let mut findings: Vec<&str> = a.diagnosis.findings.iter().map(|f| f.id).collect();
    findings.sort_unstable();
    findings.dedup();
    let findings = if findings.is_empty() {
        "-".into()
    } else {
        findings.join(",")
    };
    format!("qemu-dump | {event} | {mnemonic} | {msr} | {known} | {findings}")
}

/// First line (at most 160 characters) of a verdict.
pub fn one_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or("");
    let first = match s.find(". ") {
        Some(i) if i < 160 => &s[..=i],
        _ => s,
    };
    if first.chars().count() > 160 {
        let cut: String = first.chars().take(159).collect();
        format!("{cut}…")
    } else {
        first.to_string()
    }
}

/// A failure line that no dump follows: kind and errno (or suberror / hardware error).
pub fn error_line_event(text: &str) -> Option<String> {
    if let Some(i) = text.find("kvm run failed") {
        let msg = text[i + "kvm run failed".len()..].trim();
        // the strerror text runs to the line's end or to other output after it: the longest
        // run of words that is a known strerror text
        let words: Vec<&str> = msg.split_whitespace().take(6).collect();
        let found = (1..=words.len())
            .rev()
            .find_map(|n| tables::errno_from_text(&words[..n].join(" ")));
        return Some(match found {
            Some((_, Some(name))) => format!("run_failed:{name}"),
            Some((n, None)) => format!("run_failed:errno{n}"),
            None => "run_failed:?".into(),
        });
    }
    if let Some(i) = text.find("KVM internal error") {
        let rest = &text[i..];
        let sub = rest
            .find("Suberror:")
            .map(|j| {
                rest[j + 9..]
                    .trim_start()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty());
        return Some(match sub {
            Some(s) => format!("internal_error:{s}"),
            None => "internal_error".into(),
        });
    }
    if let Some(i) = text.find("KVM: entry failed") {
        let rest = &text[i..];
        let hw = rest
            .find("hardware error ")
            .and_then(|j| {
                let h = rest[j + 15..].trim_start();
                let h = h.strip_prefix("0x").unwrap_or(h);
                let d: String = h.chars().take_while(char::is_ascii_hexdigit).collect();
                u64::from_str_radix(&d, 16).ok()
            })
            .map(|v| format!("{v:#x}"));
        return Some(match hw {
            Some(h) => format!("entry_failed:{h}"),
            None => "entry_failed".into(),
        });
    }
    if text.contains("KVM: exception ") {
        return Some("exception_exit".into());
    }
    if text.contains("KVM: unknown exit") {
        return Some("unknown_exit".into());
    }
    None
}

/// Analyse one closed region: its dumps, and its failure lines no dump took.
pub fn region_records(
    region: &Region,
    path: &str,
    host: Option<&str>,
    opts: &Options,
    out: &mut dyn FnMut(Record),
) {
    let Some(first) = region.lines.first() else {
        return;
    };
    let base = first.line - 1;
    let mut reader = StreamReader::new();
    let mut dumps = Vec::new();
    for l in &region.lines {
        dumps.extend(reader.feed_line(&l.text));
    }
    dumps.extend(reader.finish());
    // Region-relative line index of a region line number (the reader counts physical lines,
    // one per region line; journald regions skip file lines, so index, not difference).
    let at = |rel: u32| -> Option<&crate::prefilter::RegionLine> {
        region.lines.get((rel as usize).checked_sub(1)?)
    };
    let mut taken: Vec<(u32, u32)> = Vec::new();
    for dump in dumps {
        let (f, l) = (dump.source.first_line, dump.source.last_line);
        let ev_line = dump.event.line().filter(|&e| e > 0).unwrap_or(f);
        taken.push((f.min(ev_line), l.max(ev_line)));
        let start = f.min(ev_line);
        let Some(src_line) = at(start) else { continue };
        let stamp = stamp_near(region, start);
        let analysis = analyze_dump(dump, opts);
        let signature = dump_signature(&analysis);
        let title = one_line(&analysis.diagnosis.verdict);
        out(Record {
            record_version: RECORD_VERSION,
            kind: Kind::QemuDump,
            source: Source {
                path: path.to_string(),
                first_line: src_line.line,
                byte_offset: src_line.offset,
                line_base: base,
            },
            time: stamp.as_ref().map(|s| s.text.clone()),
            epoch: stamp.as_ref().and_then(|s| s.epoch),
            host: host
                .map(str::to_string)
                .or_else(|| stamp.as_ref().and_then(|s| s.host.clone())),
            signature_id: fnv64(&signature),
            signature,
            signature_version: SIGNATURE_VERSION,
            title,
            analysis: Some(analysis),
            line: None,
        });
    }
    for (i, l) in region.lines.iter().enumerate() {
        let rel = i as u32 + 1;
        if taken.iter().any(|&(a, b)| a <= rel && rel <= b) {
            continue;
        }
        let Some(ev) = error_line_event(&l.text) else {
            continue;
        };
        // An `emulation failure` line only counts after an internal error (handled above).
        let stamp = stamp::parse_line(&l.text);
        let signature = format!("error-line | {ev}");
        let msg = kvmtriage_dump::transport::strip_prefix(&l.text)
            .trim()
            .to_string();
        out(Record {
            record_version: RECORD_VERSION,
            kind: Kind::ErrorLine,
            source: Source {
                path: path.to_string(),
                first_line: l.line,
                byte_offset: l.offset,
                line_base: l.line - 1,
            },
            time: stamp.as_ref().map(|s| s.text.clone()),
            epoch: stamp.as_ref().and_then(|s| s.epoch),
            host: host
                .map(str::to_string)
                .or_else(|| stamp.as_ref().and_then(|s| s.host.clone())),
            signature_id: fnv64(&signature),
            signature,
            signature_version: SIGNATURE_VERSION,
            title: format!("{msg} (no register dump follows)"),
            analysis: None,
            line: Some(msg),
        });
    }
}

/// The time of a dump: from its first line, else the nearest stamped line after it.
fn stamp_near(region: &Region, rel: u32) -> Option<Stamp> {
    region
        .lines
        .iter()
        .skip(rel as usize - 1)
        .take(8)
        .find_map(|l| stamp::parse_line(&l.text))
}
