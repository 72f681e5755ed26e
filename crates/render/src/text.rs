//! Human-readable reports: the terminal (optionally coloured) and Markdown.
//!
//! Order follows what a reader needs first: the verdict, then what KVM said, the mode, the
//! faulting instruction and what it did, the listing, and the decoded machine state last.

use std::fmt::Write;

use kvmtriage_analyze::{Analysis, DumpAnalysis, IssueReport, Level};
use kvmtriage_dump::{Dump, Event, Gpr, GprLayout, PagingMode, RegisterBits, SegName};

use kvmtriage_dump::hex;

use crate::{Color, InputInfo};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Terminal { color: bool },
    Markdown,
}

/// ANSI styles, used only when colour is on.
#[derive(Clone, Copy)]
pub(crate) enum Style {
    Bold,
    Red,
    Green,
    Yellow,
    Cyan,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "\x1b[1m",
            Style::Red => "\x1b[1;31m",
            Style::Green => "\x1b[32m",
            Style::Yellow => "\x1b[33m",
            Style::Cyan => "\x1b[36m",
            Style::Dim => "\x1b[2m",
        }
    }
}

pub(crate) struct Out {
    pub(crate) flavor: Flavor,
    pub(crate) buf: String,
}

impl Out {
    pub(crate) fn paint(&self, style: Style, text: &str) -> String {
        match self.flavor {
            Flavor::Terminal { color: true } => format!("{}{text}\x1b[0m", style.code()),
            Flavor::Markdown if matches!(style, Style::Bold | Style::Red) => format!("**{text}**"),
            _ => text.to_string(),
        }
    }

    pub(crate) fn line(&mut self, text: &str) {
        self.buf.push_str(text);
        self.buf.push('\n');
    }

    pub(crate) fn blank(&mut self) {
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") {
            self.buf.push('\n');
        }
    }

    pub(crate) fn heading(&mut self, text: &str) {
        self.blank();
        match self.flavor {
            Flavor::Markdown => self.line(&format!("### {text}")),
            Flavor::Terminal { .. } => {
                let h = self.paint(Style::Cyan, text);
                self.line(&h);
            }
        }
    }

    pub(crate) fn bullet(&mut self, text: &str) {
        match self.flavor {
            Flavor::Markdown => self.line(&format!("- {text}")),
            Flavor::Terminal { .. } => self.line(&format!("  - {text}")),
        }
    }

    /// Fixed-width block: indented on the terminal, fenced in Markdown.
    pub(crate) fn block(&mut self, lines: &[String]) {
        match self.flavor {
            Flavor::Markdown => {
                self.line("```");
                for l in lines {
                    self.line(l);
                }
                self.line("```");
            }
            Flavor::Terminal { .. } => {
                for l in lines {
                    self.line(&format!("  {l}"));
                }
            }
        }
    }
}

/// Render for a terminal.
pub fn render_text(analysis: &Analysis, input: &InputInfo, color: Color) -> String {
    render(
        analysis,
        input,
        Flavor::Terminal {
            color: color == Color::Always,
        },
    )
}

/// Render as Markdown, for bug reports and mailing lists.
pub fn render_markdown(analysis: &Analysis, input: &InputInfo) -> String {
    render(analysis, input, Flavor::Markdown)
}

fn render(analysis: &Analysis, input: &InputInfo, flavor: Flavor) -> String {
    let mut out = Out {
        flavor,
        buf: String::new(),
    };
    let total = analysis.dumps.len();
    for (i, d) in analysis.dumps.iter().enumerate() {
        if i > 0 {
            out.blank();
        }
        dump_report(&mut out, d, i + 1, total, input);
    }
    let total = analysis.oopses.len();
    for (i, o) in analysis.oopses.iter().enumerate() {
        out.blank();
        crate::oops::oops_report(&mut out, o, i + 1, total, input);
    }
    out.buf
}

fn dump_report(out: &mut Out, d: &DumpAnalysis, n: usize, total: usize, input: &InputInfo) {
    let dump = &d.dump;
    let cpu = dump
        .cpu_index
        .map(|c| format!(", CPU#{c}"))
        .unwrap_or_default();
    // A dump built in-process from a model (repro --explain) has no input lines.
    let lines = if dump.source.first_line == 0 {
        String::new()
    } else {
        format!(
            ", lines {}-{}",
            dump.source.first_line, dump.source.last_line
        )
    };
    let title = format!("{}: dump {n} of {total}{lines}{cpu}", input.name);
    match out.flavor {
        Flavor::Markdown => out.line(&format!("## {title}")),
        Flavor::Terminal { .. } => {
            let t = out.paint(Style::Bold, &format!("== {title}"));
            out.line(&t);
        }
    }

    verdict(out, d);
    event(out, dump, &d.diagnosis.classification.summary);
    mode(out, dump);
    fault(out, d);
    listing(out, d);
    captured(out, dump);
    registers(out, dump);
    segments(out, dump);
    control(out, dump);
    warnings(out, dump);
}

fn verdict(out: &mut Out, d: &DumpAnalysis) {
    let diag = &d.diagnosis;
    out.blank();
    let label = out.paint(Style::Red, "Verdict:");
    out.line(&format!("{label} {}", diag.verdict));
    let conf = diag.confidence.level.as_str();
    let style = match diag.confidence.level {
        Level::High => Style::Green,
        Level::Medium => Style::Yellow,
        Level::Low => Style::Dim,
    };
    let conf = out.paint(style, conf);
    out.line(&format!("Confidence: {conf} ({})", diag.confidence.reason));
    if !diag.findings.is_empty() {
        out.heading("Findings");
        for f in &diag.findings {
            out.bullet(&format!("{} ({})", f.text, f.id));
        }
    }
    if !diag.evidence.is_empty() {
        out.heading("Evidence");
        for e in &diag.evidence {
            out.bullet(e);
        }
    }
    if !diag.known_issues.is_empty() || !diag.ruled_out.is_empty() {
        out.heading("Known issues");
        // Why an entry matches is the verdict itself, and why others were ruled out is in the
        // evidence: here only what identifies each entry and where it is fixed.
        for issue in &diag.known_issues {
            let mut s = format!(
                "{} (matches): {}.",
                out.paint(Style::Bold, issue.id),
                issue.title
            );
            issue_details(&mut s, issue);
            out.bullet(&s);
        }
        if !diag.ruled_out.is_empty() {
            let ids: Vec<&str> = diag.ruled_out.iter().map(|i| i.id).collect();
            out.bullet(&format!(
                "ruled out: {} (why: see Evidence)",
                ids.join(", ")
            ));
        }
    }
    if !diag.next_steps.is_empty() {
        out.heading("Next steps");
        for (i, step) in diag.next_steps.iter().enumerate() {
            match out.flavor {
                Flavor::Markdown => out.line(&format!("{}. {step}", i + 1)),
                Flavor::Terminal { .. } => out.line(&format!("  {}. {step}", i + 1)),
            }
        }
    }
}

fn issue_details(s: &mut String, issue: &IssueReport) {
    if let Some(fixed) = &issue.fixed_in {
        let _ = write!(s, " Fixed in {fixed}");
        if !issue.fix_commits.is_empty() {
            let _ = write!(s, " by {}", issue.fix_commits.join(", "));
        }
        s.push('.');
    }
    if let Some(affected) = &issue.affected {
        let _ = write!(s, " Affected: {affected}.");
    }
    // The note says the same as `affects_host`, with the kernel's name and the distro caveat.
    match (&issue.host_note, issue.affects_host) {
        (Some(note), _) => {
            let _ = write!(s, " Host: {note}.");
        }
        (None, Some(true)) => s.push_str(" Your host kernel is affected."),
        (None, Some(false)) => s.push_str(" Your host kernel is not affected."),
        (None, None) => {}
    }
}

fn event(out: &mut Out, dump: &Dump, summary: &str) {
    out.heading("What QEMU reported");
    let line_of = |l: u32| {
        if l == 0 {
            "(in-process, no input line)".to_string()
        } else {
            format!("(line {l})")
        }
    };
    let text = match &dump.event {
        Event::RunFailed {
            errno,
            errno_name,
            message,
            line,
        } => {
            let num = errno.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
            let name = errno_name.unwrap_or("unknown errno");
            format!(
                "KVM_RUN failed: {message} (errno {num}, {name}) {}",
                line_of(*line)
            )
        }
        Event::InternalError {
            suberror,
            suberror_name,
            extra_data,
            line,
            ..
        } => {
            let name = suberror_name.map(|n| format!(" {n}")).unwrap_or_default();
            let words: Vec<String> = extra_data.iter().map(|w| format!("{w:#x}")).collect();
            format!(
                "KVM internal error, suberror {suberror}{name}; extra data [{}] {}",
                words.join(", "),
                line_of(*line)
            )
        }
        Event::EntryFailed {
            hardware_error,
            line,
        } => format!(
            "VM entry failed, hardware error {hardware_error:#x} {}",
            line_of(*line)
        ),
        Event::None => {
            "no error line: a state dump only (info registers, -d cpu, or a bare dump)".to_string()
        }
        Event::ExceptionExit {
            exception,
            error_code,
            line,
        } => format!(
            "KVM exited to QEMU with exception {exception} (error code {error_code:#x}) {}",
            line_of(*line)
        ),
        Event::UnknownExit { message, line, .. } => {
            format!("KVM: unknown exit: {message} {}", line_of(*line))
        }
        Event::NotifyExit { line } => format!(
            "KVM notify exit with an invalid context in the guest {}",
            line_of(*line)
        ),
        Event::RegistersFailed { message, line } => {
            format!(
                "QEMU failed to get or put registers: {message} {}",
                line_of(*line)
            )
        }
        Event::CpuReset { cpu, line } => format!(
            "CPU {cpu} reset (-d cpu_reset): the state just before the reset {}",
            line_of(*line)
        ),
        Event::TripleFault { line } => {
            format!("triple fault (TCG) {}", line_of(*line))
        }
        Event::Fatal { message, line } => {
            format!("qemu: fatal: {message} {}", line_of(*line))
        }
    };
    out.line(&format!("  {text}"));
    if !summary.is_empty() {
        out.line(&format!("  {summary}"));
    }
}

fn mode(out: &mut Out, dump: &Dump) {
    out.heading("CPU mode");
    let m = &dump.mode;
    let bits = m
        .bits
        .map(|b| format!("{b}-bit code"))
        .unwrap_or_else(|| "width unknown".into());
    let kind = m.kind.describe();
    let paging = paging_name(m.paging);
    out.line(&format!("  {bits}, {kind}; paging: {paging}"));
    if !m.evidence.is_empty() {
        let evidence: Vec<String> = m.evidence.iter().map(ToString::to_string).collect();
        out.line(&format!("  evidence: {}", evidence.join("; ")));
    }
}

fn fault(out: &mut Out, d: &DumpAnalysis) {
    let Some(f) = &d.fault else {
        if let Some(code) = &d.dump.code {
            out.heading("Faulting instruction");
            let why = if code.marker.is_none() {
                "the Code= line has no <..> marker"
            } else if code
                .marker
                .and_then(|m| code.bytes.get(m).copied().flatten())
                .is_none()
            {
                "the byte at RIP is unreadable (??): QEMU could not read guest memory there"
            } else {
                "the CPU mode is unknown; give --mode 16|32|64"
            };
            out.line(&format!("  not decoded: {why}"));
        }
        return;
    };
    out.heading("Faulting instruction");
    let sync = if f.synced {
        "listing in sync"
    } else {
        "bytes before it uncertain"
    };
    let insn = out.paint(Style::Bold, &f.text);
    out.line(&format!(
        "  {:#x}: {insn}  ({}; {sync})",
        f.address,
        hex::bytes(&f.bytes)
    ));
    out.line(&format!("  {}", f.effect.summary));
    if let Some(msr) = &f.msr {
        for field in &msr.fields {
            let meaning = field
                .meaning
                .as_ref()
                .map(|m| format!(" = {m}"))
                .unwrap_or_default();
            out.line(&format!(
                "      {:>7} {:<14} {:#x}{meaning}  ({})",
                format!("[{}]", field.bits),
                field.name,
                field.value,
                field.description
            ));
        }
    }
    for m in &f.memory {
        let addr = match m.address {
            Some(a) => format!("{a:#x}"),
            None => {
                let names: Vec<String> = m
                    .unknown_registers
                    .iter()
                    .map(|r| format!("{r:?}").to_lowercase())
                    .collect();
                format!("unknown (needs {})", names.join(", "))
            }
        };
        out.line(&format!(
            "  memory {} {}: {} bytes at {addr}",
            m.access, m.expression, m.size
        ));
    }
}

fn listing(out: &mut Out, d: &DumpAnalysis) {
    let Some(dis) = &d.disassembly else {
        return;
    };
    if d.listing.is_empty() {
        return;
    }
    let readable = d.listing.iter().any(|l| !l.is_unreadable());
    let sync = if !readable {
        "no readable bytes".to_string()
    } else if dis.alignment.synced {
        format!("in sync from window offset {}", dis.alignment.start_offset)
    } else {
        "no start before the marker lands on it; decoded from the marker".to_string()
    };
    let source = if dis.bits_source == "override" {
        ", mode from --mode"
    } else {
        ""
    };
    out.heading(&format!("Code ({}-bit{source}, {sync})", dis.bits));
    // Linear addresses outside 64-bit mode fit in 32 bits.
    let digits = if dis.bits == 64 { 16 } else { 8 };
    listing_block(out, &d.listing, digits);
    for note in &dis.notes {
        out.bullet(&note.to_string());
    }
}

/// The listing as an aligned block: marker, address (`digits` hex digits), bytes, instruction;
/// the faulting line bold on a terminal. Shared by the dump and the oops reports.
pub(crate) fn listing_block(
    out: &mut Out,
    listing: &[kvmtriage_analyze::ListingLine],
    digits: usize,
) {
    let byte_text: Vec<String> = listing
        .iter()
        .map(|l| {
            if l.is_unreadable() {
                "??".to_string()
            } else {
                hex::bytes(&l.bytes)
            }
        })
        .collect();
    let width = byte_text.iter().map(String::len).max().unwrap_or(0);
    let lines: Vec<String> = listing
        .iter()
        .zip(&byte_text)
        .map(|(l, bytes)| {
            let mark = if l.is_fault { "=>" } else { "  " };
            let note = if l.uncertain { "   ; uncertain" } else { "" };
            let text = format!(
                "{mark} {:0digits$x}  {bytes:<width$}  {}{note}",
                l.address, l.text
            );
            if l.is_fault && out.flavor != Flavor::Markdown {
                out.paint(Style::Bold, &text)
            } else {
                text
            }
        })
        .collect();
    out.block(&lines);
}

/// What `kvmtriage capture` added for this vCPU: run state, stack words, local APIC, non-zero
/// KVM counters (docs/capture.md).
fn captured(out: &mut Out, dump: &Dump) {
    let Some(c) = &dump.capture else {
        return;
    };
    let mut about = vec![format!("capture format {}", c.format)];
    if let Some(s) = &c.run_state {
        about.push(format!("run state {s}"));
    }
    if let Some(s) = &c.stop {
        about.push(format!("stop seen by {s}"));
    }
    if let Some(t) = c.thread_id {
        about.push(format!("vCPU thread {t}"));
    }
    if c.long_code_window {
        if let Some(code) = &dump.code {
            about.push(format!("{}-byte code window", code.bytes.len()));
        }
    }
    if c.event_from_qemu_log {
        about.push("event from QEMU's own log".to_string());
    }
    if !c.complete {
        about.push("INCOMPLETE capture".to_string());
    }
    out.heading(&format!("Captured ({})", about.join(", ")));
    if let Some(st) = &c.stack {
        let size = usize::from(st.word_size);
        out.line(&format!(
            "  Stack ({}-bit words from {:#x} up)",
            size * 8,
            st.address.0
        ));
        let per_line = if size == 8 { 4 } else { 8 };
        let lines: Vec<String> = st
            .words
            .chunks(per_line)
            .enumerate()
            .map(|(i, ws)| {
                let at = st.address.0.wrapping_add((i * per_line * size) as u64);
                let words: Vec<String> = ws
                    .iter()
                    .map(|w| match w {
                        Some(w) => format!("{:0width$x}", w.0, width = size * 2),
                        None => "?".repeat(size * 2),
                    })
                    .collect();
                format!("{at:016x}  {}", words.join(" "))
            })
            .collect();
        out.block(&lines);
    }
    if !c.lapic.is_empty() {
        out.line("  Local APIC (info lapic)");
        let lines: Vec<String> = c
            .lapic
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.replace('\t', " ").trim_end().to_string())
            .collect();
        out.block(&lines);
    }
    let counters: Vec<String> = c
        .stats
        .iter()
        .filter(|(_, v)| v.parse::<u64>().is_ok_and(|n| n > 0))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !counters.is_empty() {
        out.bullet(&format!("KVM counters (non-zero): {}", counters.join(" ")));
    }
}

fn registers(out: &mut Out, dump: &Dump) {
    if dump.cpu.gprs.iter().all(Option::is_none) && dump.rip().is_none() {
        return;
    }
    out.heading("Registers");
    let wide = dump.printed.layout != GprLayout::Bits32;
    // `Gpr` is declared in the order QEMU prints the registers (RAX RBX RCX RDX RSI …), and its
    // derived `Ord` follows the declaration.
    let order = Gpr::PRINT_ORDER;
    let mut cells = Vec::new();
    for r in &order {
        if let Some(v) = dump.gpr(*r) {
            let (name, digits) = if wide {
                (r.name64().to_uppercase(), 16)
            } else {
                (r.name32().to_uppercase(), 8)
            };
            cells.push(format!("{name:<3}={v:0digits$x}"));
        }
    }
    let mut lines: Vec<String> = cells.chunks(4).map(|c| c.join(" ")).collect();
    let mut tail = Vec::new();
    if let Some(rip) = dump.rip() {
        tail.push(if wide {
            format!("RIP={rip:016x}")
        } else {
            format!("EIP={rip:08x}")
        });
    }
    if let Some(fl) = dump.rflags() {
        tail.push(format!(
            "RFLAGS={fl:#x} [{}]",
            set_names_except(&dump.decoded.rflags, &[1])
        ));
    }
    let cpu = &dump.cpu;
    if let Some(cpl) = cpu.cpl {
        tail.push(format!("CPL={cpl}"));
    }
    for (name, v) in [
        ("II", cpu.interrupt_shadow),
        ("A20", cpu.a20),
        ("SMM", cpu.smm),
        ("HLT", cpu.halted),
    ] {
        if let Some(v) = v {
            tail.push(format!("{name}={}", u8::from(v)));
        }
    }
    if !tail.is_empty() {
        lines.push(tail.join(" "));
    }
    out.block(&lines);
}

/// Names of the set flags/fields, `NAME=value` for multi-bit fields that are non-zero.
fn set_names(bits: &Option<RegisterBits>) -> String {
    set_names_except(bits, &[])
}

/// Like [`set_names`], leaving out reserved bits that are architecturally always 1
/// (RFLAGS bit 1), which would only be noise.
fn set_names_except(bits: &Option<RegisterBits>, always_one: &[u8]) -> String {
    let Some(bits) = bits else {
        return "not decoded".into();
    };
    let reserved: Vec<u8> = bits
        .unnamed_set_bits
        .iter()
        .copied()
        .filter(|b| !always_one.contains(b))
        .collect();
    let mut names: Vec<String> = bits
        .fields
        .iter()
        .filter(|f| f.set)
        .map(|f| {
            if f.width > 1 {
                format!("{}={}", f.name, f.value)
            } else {
                f.name.to_string()
            }
        })
        .collect();
    if !reserved.is_empty() {
        names.push(format!("reserved bits {}", bit_ranges(&reserved)));
    }
    if names.is_empty() {
        "none".into()
    } else {
        names.join(" ")
    }
}

fn segments(out: &mut Out, dump: &Dump) {
    if SegName::ALL.iter().all(|n| dump.segment(*n).is_none()) {
        return;
    }
    out.heading("Segments");
    let mut lines = Vec::new();
    for name in SegName::ALL {
        let Some(seg) = dump.segment(name) else {
            continue;
        };
        let attrs = dump.decoded.segments.iter().find(|a| a.name == name);
        let desc = match attrs {
            Some(a) if !a.p => "unusable (null or not present)".to_string(),
            Some(a) => {
                let mut flags = Vec::new();
                if a.l {
                    flags.push("L");
                }
                if a.db {
                    flags.push("D/B");
                }
                if a.g {
                    flags.push("G");
                }
                if a.avl {
                    flags.push("AVL");
                }
                format!("{}, DPL={} {}", a.type_name, a.dpl, flags.join(" "))
                    .trim_end()
                    .to_string()
            }
            None => String::new(),
        };
        lines.push(format!(
            "{:<3} sel={:04x} base={:016x} limit={:08x} attr={:08x}  {desc}",
            name.name(),
            seg.selector,
            seg.base,
            seg.limit,
            seg.attributes.bits()
        ));
    }
    for (label, t) in [("GDT", &dump.cpu.gdt), ("IDT", &dump.cpu.idt)] {
        if let Some(t) = t {
            lines.push(format!(
                "{label}          base={:016x} limit={:08x}",
                t.base, t.limit
            ));
        }
    }
    out.block(&lines);
}

fn control(out: &mut Out, dump: &Dump) {
    let d = &dump.decoded;
    let mut lines = Vec::new();
    let mut push = |name: &str, value: Option<u64>, bits: Option<&Option<RegisterBits>>| {
        if let Some(v) = value {
            match bits {
                None => lines.push(format!("{name:<4} = {v:#x}")),
                Some(bits) => lines.push(format!("{name:<4} = {v:#x}  [{}]", set_names(bits))),
            }
        }
    };
    push("CR0", dump.cr(0), Some(&d.cr0));
    push("CR2", dump.cr(2), None);
    push("CR3", dump.cr(3), None);
    push("CR4", dump.cr(4), Some(&d.cr4));
    push("EFER", dump.efer(), Some(&d.efer));
    push("DR6", dump.dr(6), Some(&d.dr6));
    push("DR7", dump.dr(7), Some(&d.dr7));
    if lines.is_empty() {
        return;
    }
    out.heading("Control and debug registers");
    out.block(&lines);
}

fn warnings(out: &mut Out, dump: &Dump) {
    if dump.warnings.is_empty() {
        return;
    }
    out.heading("Warnings");
    for w in &dump.warnings {
        let text = if w.line > 0 {
            format!("line {}: {}", w.line, w.message)
        } else {
            w.message.clone()
        };
        let text = out.paint(Style::Yellow, &text);
        out.bullet(&text);
    }
}

/// `[4, 5, 6, 10, 17, 18]` as `4-6,10,17-18`.
fn bit_ranges(bits: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bits.len() {
        let start = bits[i];
        let mut end = start;
        while i + 1 < bits.len() && bits[i + 1] == end + 1 {
            i += 1;
            end = bits[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

fn paging_name(paging: PagingMode) -> &'static str {
    match paging {
        PagingMode::None => "off",
        PagingMode::Bits32 => "32-bit",
        PagingMode::Pae => "PAE",
        PagingMode::FourLevel => "4-level",
        PagingMode::FiveLevel => "5-level",
        PagingMode::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::bit_ranges;

    #[test]
    fn bit_ranges_compress_runs() {
        assert_eq!(bit_ranges(&[4, 5, 6, 10, 17, 18]), "4-6,10,17-18");
        assert_eq!(bit_ranges(&[1]), "1");
        assert_eq!(bit_ranges(&[]), "");
    }
}
