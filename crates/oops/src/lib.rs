//! kvmtriage-oops: Linux kernel crash reports ("oopses") read as well as QEMU dumps.
//!
//! [`read_oopses`] finds every report in any text (console logs with timestamps and `[T123]`
//! caller tags, journald and syslog, mail quoting and quoted-printable, several reports in one
//! log, reports interleaved with other output) and gives for each:
//! - its kind, a syzbot-compatible title, alternative titles, crash type and whether it looks cut
//!   off or mixed up ([`titles`], rules in `data/titles.toml`);
//! - the task and kernel (CPU, PID, Comm, taint, release, hardware, modules, KASLR offset);
//! - the registers in the one CPU model ([`kvmtriage_model::CpuState`]) and the `Code:` bytes as
//!   a [`kvmtriage_model::CodeWindow`];
//! - the call trace with `?` frames, `<IRQ>`/`<TASK>`/`<NMI>` sections, modules and build ids.
//!
//! [`decode`] disassembles the `Code:` window with kvmtriage-x86 (the same engine as QEMU dumps)
//! and explains `ud2`/`ud1` as BUG/WARN; [`symbols`] symbolizes addresses in-process from a
//! System.map, a /proc/kallsyms copy, a vmlinux with DWARF, and `.ko`/`.ko.xz`/`.ko.zst` modules.
//!
//! ```
//! let log = "[   99.8] BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
//!            [   99.8] RIP: 0010:foo_ioctl+0x1b/0xb0\n\
//!            [   99.8] Call Trace:\n\
//!            [   99.8]  <TASK>\n\
//!            [   99.8]  do_vfs_ioctl+0x10/0x20\n\
//!            [   99.8]  </TASK>\n";
//! let oopses = kvmtriage_oops::read_oopses(log);
//! assert_eq!(oopses[0].title, "BUG: unable to handle kernel NULL pointer dereference in foo_ioctl");
//! assert_eq!(oopses[0].stack.len(), 1);
//! ```

pub mod decode;
pub mod fields;
pub mod symbols;
pub mod text;
pub mod titles;

use kvmtriage_model::{CodeWindow, CpuState, LineTable};
use serde::Serialize;

pub use fields::{KernelInfo, RipLine, Section, StackFrame, SymRef};
use text::Transport;

/// Where a report sits in the input (1-based lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceSpan {
    /// The report's first line (its header).
    pub first_line: u32,
    /// The last line read as part of it.
    pub last_line: u32,
}

/// One kernel crash report.
#[derive(Debug, Clone)]
pub struct Oops {
    /// The rules' kind (`bug`, `warning`, `general-protection-fault`, …) or `register-dump` for a
    /// register block without a recognised header.
    pub kind: String,
    /// The header line as printed (console prefix removed).
    pub header: String,
    /// The syzbot-compatible title (`KASAN: use-after-free Read in tty_release`).
    pub title: String,
    pub alt_titles: Vec<String>,
    /// syzbot's crash type (`KASAN-USE-AFTER-FREE-READ`, `WARNING`, `HANG`, …); empty if none.
    pub crash_type: String,
    /// Why the report looks cut off or interleaved; `None` when it is whole.
    pub corrupted: Option<String>,
    pub kernel: KernelInfo,
    pub rip: Option<RipLine>,
    /// The registers (RIP numeric only when the oops prints it numerically).
    pub cpu: CpuState,
    /// The input line of each register.
    pub lines: LineTable,
    /// 64 (x86-64) or 32 (i386), from the register names.
    pub bits: Option<u8>,
    pub code: Option<CodeWindow>,
    /// Why there are no code bytes (`Bad RIP value.`, `Unable to access opcode bytes at …`).
    pub code_note: Option<String>,
    pub fs_base: Option<u64>,
    pub gs_base: Option<u64>,
    pub kernel_gs_base: Option<u64>,
    pub stack: Vec<StackFrame>,
    pub source: SourceSpan,
    pub warnings: Vec<String>,
}

impl Oops {
    /// The function the instruction pointer is in, from the RIP line.
    pub fn rip_function(&self) -> Option<&str> {
        self.rip
            .as_ref()?
            .symbol
            .as_ref()
            .map(|s| s.function.as_str())
    }

    /// True when the oops happened in KVM code (a KVM function, file or module at RIP or in the
    /// first reliable frames).
    pub fn in_kvm(&self) -> bool {
        let kvm_name = |s: &SymRef| {
            s.function.starts_with("kvm_")
                || s.function.starts_with("vmx_")
                || s.function.starts_with("svm_")
                || s.function.starts_with("__kvm")
                || s.function.starts_with("nested_vmx")
                || s.function.starts_with("nested_svm")
                || matches!(s.module.as_deref(), Some("kvm" | "kvm_intel" | "kvm_amd"))
        };
        self.rip
            .as_ref()
            .and_then(|r| r.symbol.as_ref())
            .is_some_and(kvm_name)
            || self.stack.iter().filter(|f| f.reliable).take(8).any(|f| {
                f.symbol.as_ref().is_some_and(kvm_name)
                    || f.source
                        .iter()
                        .any(|s| s.starts_with("arch/x86/kvm/") || s.starts_with("virt/kvm/"))
            })
            || self.title.contains(" in kvm_")
    }
}

/// Upper bound on the lines one report may span (a 10 MB call trace is cut there, with a warning).
pub const MAX_REPORT_LINES: usize = 20_000;

/// Every kernel crash report in `input`, in input order.
pub fn read_oopses(input: &str) -> Vec<Oops> {
    read_oopses_with(&text::MailAndJournal, input)
}

/// [`read_oopses`] with another transport layer.
pub fn read_oopses_with(transport: &dyn Transport, input: &str) -> Vec<Oops> {
    // Most texts (a QEMU dump alone) hold no oops: say so without loading the rules.
    if !titles::might_hold_oops(input) {
        return Vec::new();
    }
    let logical = transport.lines(input);
    let lines: Vec<titles::Line<'_>> = logical
        .iter()
        .map(|(n, l)| titles::Line::new(*n, transport.strip_carrier(l)))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut covered_until = 0usize;
    while i < lines.len() {
        let Some(kind) = titles::header_kind(lines[i].raw) else {
            i += 1;
            continue;
        };
        let report = titles::report_text(&lines, i, kind);
        let desc = titles::describe(&report, kind);
        let end = report.second.unwrap_or(lines.len());
        let context = titles::report_context(&lines, i);
        let kept: Vec<usize> = (i..end)
            .filter(|&k| k == i || lines[k].console.context == context)
            .collect();
        let mut oops = build(
            &lines,
            &kept,
            i,
            titles::rules().kinds[kind].name.clone(),
            desc,
        );
        if kept.len() > MAX_REPORT_LINES || report.truncated {
            oops.warnings.push(format!(
                "the report has {} lines; only the first {MAX_REPORT_LINES} were read",
                kept.len()
            ));
        }
        out.push(oops);
        covered_until = end;
        i = end.max(i + 1);
    }
    let _ = covered_until;
    register_dumps(&lines, &mut out);
    out.sort_by_key(|o| o.source.first_line);
    out
}

fn build(
    lines: &[titles::Line<'_>],
    kept: &[usize],
    start: usize,
    kind: String,
    desc: titles::Description,
) -> Oops {
    let numbered: Vec<(u32, &str)> = kept
        .iter()
        .take(MAX_REPORT_LINES)
        .map(|&k| (lines[k].number, lines[k].raw_message()))
        .collect();
    let f = fields::read_fields(&numbered);
    let last = numbered.last().map_or(lines[start].number, |l| l.0);
    Oops {
        kind,
        header: header_text(&lines[start]),
        title: desc.title,
        alt_titles: desc.alt_titles,
        crash_type: desc.crash_type,
        corrupted: desc.corrupted,
        kernel: f.kernel,
        rip: f.rip,
        cpu: f.cpu,
        lines: f.lines,
        bits: f.bits,
        code: f.code,
        code_note: f.code_note,
        fs_base: f.fs_base,
        gs_base: f.gs_base,
        kernel_gs_base: f.kernel_gs_base,
        stack: f.stack,
        source: SourceSpan {
            first_line: lines[start].number,
            last_line: last,
        },
        warnings: f.warnings,
    }
}

/// The header line from the header on (a tool may have put text and a timestamp before it).
fn header_text(line: &titles::Line<'_>) -> String {
    let msg = line.console.message.trim();
    if let Some(k) = titles::header_kind(line.raw) {
        let h = titles::rules().kinds[k].header.as_str();
        if let Some(p) = msg.find(h) {
            return msg[p..].trim_end().to_string();
        }
    }
    msg.to_string()
}

/// Register blocks (`RIP: 0010:…` with registers) outside every titled report: an NMI
/// backtrace, a lockdep "stack backtrace:" with the interrupted context, or a report whose header
/// was lost. Read as kind `register-dump`.
fn register_dumps(lines: &[titles::Line<'_>], out: &mut Vec<Oops>) {
    let covered = |i: usize| {
        let n = lines[i].number;
        out.iter()
            .any(|o| (o.source.first_line..=o.source.last_line).contains(&n))
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let m = lines[i].console.message.trim_start();
        let is_rip = (m.starts_with("RIP: ") || m.starts_with("EIP: ")) && !covered(i);
        // Registers must follow within a few lines.
        let has_regs = is_rip
            && lines[i + 1..lines.len().min(i + 6)].iter().any(|l| {
                let t = l.console.message.trim_start();
                t.starts_with("RAX: ") || t.starts_with("EAX: ") || t.starts_with("RSP: ")
            });
        if !has_regs {
            i += 1;
            continue;
        }
        // Start at a "CPU: … PID:" line just before, if any.
        let mut start = i;
        for j in (i.saturating_sub(100)..i).rev() {
            if covered(j) {
                break;
            }
            if lines[j].console.message.trim_start().starts_with("CPU: ") {
                start = j;
                break;
            }
        }
        let context = lines[i].console.context;
        let mut end = i;
        let mut seen_rip = false;
        let mut j = start;
        while j < lines.len() && j - start < MAX_REPORT_LINES && !covered(j) {
            let m = lines[j].console.message.trim_start();
            if m.starts_with("---[ end ") {
                end = j;
                break;
            }
            if m.starts_with("RIP: ") || m.starts_with("EIP: ") {
                if seen_rip && j > i {
                    break;
                }
                seen_rip = true;
            }
            if lines[j].console.context == context {
                end = j;
            }
            j += 1;
        }
        let kept: Vec<usize> = (start..=end)
            .filter(|&k| lines[k].console.context == context)
            .collect();
        let mut oops = build(
            lines,
            &kept,
            start,
            "register-dump".into(),
            Default::default(),
        );
        let user = oops
            .rip
            .as_ref()
            .and_then(|r| r.cs)
            .is_some_and(|cs| cs & 3 == 3);
        let func = match oops.rip_function() {
            Some(f) => f.to_string(),
            None if user => "user space".to_string(),
            None => "unknown code".to_string(),
        };
        oops.title = format!("register dump in {func}");
        oops.corrupted = None;
        found.push(oops);
        i = end + 1;
    }
    out.extend(found);
}
