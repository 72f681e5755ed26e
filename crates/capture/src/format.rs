//! The capture: what was taken, and its two written forms (docs/capture.md).
//!
//! Text: QEMU's own dump text (its stderr log and `info registers -a`) as QEMU printed it, so any
//! reader of QEMU dumps reads it, plus extra sections whose every line starts with
//! [`MARK`] (`kvmtriage-capture:`). JSON (`--format json`): the same data as one object.

use std::fmt::Write as _;

use kvmtriage_model::hex;
use serde::Serialize;
use serde_json::Value;

use crate::qmp::QmpEvent;
use crate::Stopped;

/// Every line kvmtriage adds to QEMU's text starts with this.
pub const MARK: &str = "kvmtriage-capture:";
/// Version of the capture format (text and JSON); docs/capture.md says what changes it.
pub const FORMAT_VERSION: u32 = 1;

/// Everything one capture took. Fields that could not be taken are `None`/empty, and `errors`
/// says why.
#[derive(Debug, Clone, Serialize)]
pub struct Capture {
    /// Always `"kvmtriage-capture"`.
    pub format: &'static str,
    pub version: u32,
    /// `kvmtriage <version>`.
    pub tool: String,
    /// `qmp:<socket path>` or `libvirt:<domain>`.
    pub source: String,
    pub qemu: Option<QemuVersion>,
    pub wait: Option<WaitRecord>,
    /// `query-status` when the capture was taken.
    pub status: Option<RunStatus>,
    /// `query-cpus-fast`.
    pub vcpus: Vec<VcpuInfo>,
    /// `info registers -a` as QEMU printed it.
    pub registers: Option<String>,
    pub memory: Vec<MemoryWindow>,
    pub descriptors: Vec<DescriptorSet>,
    pub lapic: Vec<Lapic>,
    pub stats: Vec<VcpuStats>,
    pub qemu_log: Option<QemuLog>,
    /// QMP events received during the capture.
    pub events: Vec<QmpEvent>,
    /// Steps that failed, in order.
    pub errors: Vec<StepError>,
    /// False when the capture stopped early (QEMU exited, the monitor stopped answering).
    pub complete: bool,
    pub incomplete_reason: Option<String>,
    /// Wall time of the capture, the wait included.
    pub duration_ms: u64,
    /// Monitor commands sent (HMP ones counted as `human-monitor-command`).
    pub commands_sent: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct QemuVersion {
    /// `major.minor.micro`.
    pub version: String,
    pub package: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitRecord {
    pub limit_ms: u64,
    pub waited_ms: u64,
    /// How the stop was seen; `None` when the limit passed first (the capture is then taken from
    /// the running VM) or when the VM was already stopped.
    pub stopped: Option<Stopped>,
    /// The VM was not running when the capture connected: nothing to wait for.
    pub already_stopped: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    /// QEMU's run state: `internal-error`, `guest-panicked`, `shutdown`, `paused`, `running`, …
    pub status: String,
    pub running: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VcpuInfo {
    pub index: u32,
    /// Host thread id of the vCPU thread.
    pub thread_id: Option<i64>,
    pub qom_path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Bytes around the instruction pointer; `anchor` is CS.base + RIP (RIP in 64-bit mode).
    Code,
    /// Bytes from the stack pointer up; `anchor` is SS.base + RSP (RSP in 64-bit mode).
    Stack,
}

impl MemoryKind {
    pub fn name(self) -> &'static str {
        match self {
            MemoryKind::Code => "code",
            MemoryKind::Stack => "stack",
        }
    }
}

/// Guest memory read through one vCPU.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryWindow {
    pub vcpu: u32,
    pub kind: MemoryKind,
    /// Linear address of `bytes[0]` (the vCPU's paging translates it).
    #[serde(serialize_with = "hex::u64")]
    pub address: u64,
    /// The linear address the window is about (RIP or RSP as linear address).
    #[serde(serialize_with = "hex::u64")]
    pub anchor: u64,
    /// Index of `anchor` in `bytes`.
    pub anchor_index: usize,
    /// `None` where QEMU could not read the byte.
    pub bytes: Vec<Option<u8>>,
    /// Why parts are unreadable.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Gdt,
    Idt,
}

/// Entries of one descriptor table that the vCPU's state refers to.
#[derive(Debug, Clone, Serialize)]
pub struct DescriptorSet {
    pub vcpu: u32,
    pub table: Table,
    #[serde(serialize_with = "hex::u64")]
    pub base: u64,
    #[serde(serialize_with = "hex::u64")]
    pub limit: u64,
    pub entries: Vec<Descriptor>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Descriptor {
    /// `cs`, `ss`, … for GDT entries; `vector` for IDT entries.
    pub name: String,
    /// Index in the table (selector >> 3, or the vector).
    pub index: u32,
    /// The selector that refers to this GDT entry.
    pub selector: Option<u16>,
    /// 8 bytes (16 for 64-bit system descriptors and gates, 4 for a real-mode vector).
    pub bytes: Vec<Option<u8>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lapic {
    pub vcpu: u32,
    /// `info lapic` as QEMU printed it.
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VcpuStats {
    /// `None` when the `qom-path` matched no vCPU of `query-cpus-fast`.
    pub vcpu: Option<u32>,
    pub qom_path: String,
    pub provider: String,
    /// `(name, value)` as QEMU sent them; values are numbers, booleans or histograms (arrays).
    pub values: Vec<(String, Value)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QemuLog {
    pub path: String,
    /// The log's text (its last `MAX_LOG` bytes when it is longer).
    pub text: String,
    pub size: u64,
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepError {
    /// What was being taken: `query-stats`, `code vcpu=1`, …
    pub step: String,
    pub message: String,
}

impl Capture {
    /// An empty capture of `source`.
    pub fn new(source: String) -> Capture {
        Capture {
            format: "kvmtriage-capture",
            version: FORMAT_VERSION,
            tool: format!("kvmtriage {}", env!("CARGO_PKG_VERSION")),
            source,
            qemu: None,
            wait: None,
            status: None,
            vcpus: Vec::new(),
            registers: None,
            memory: Vec::new(),
            descriptors: Vec::new(),
            lapic: Vec::new(),
            stats: Vec::new(),
            qemu_log: None,
            events: Vec::new(),
            errors: Vec::new(),
            complete: false,
            incomplete_reason: None,
            duration_ms: 0,
            commands_sent: 0,
        }
    }

    /// The JSON form (one object; `pretty` indents it).
    pub fn to_json(&self, pretty: bool) -> String {
        let r = if pretty {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        };
        // Serializing plain data with string keys cannot fail.
        r.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The text form (docs/capture.md).
    pub fn to_text(&self) -> String {
        let mut t = String::with_capacity(16384);
        let mark = |t: &mut String, line: &str| {
            t.push_str(MARK);
            t.push(' ');
            t.push_str(line);
            t.push('\n');
        };
        mark(
            &mut t,
            &format!(
                "begin capture format={} tool={} source={}",
                self.version,
                quote(&self.tool),
                quote(&self.source)
            ),
        );
        if let Some(q) = &self.qemu {
            mark(
                &mut t,
                &format!(
                    "qemu version={} package={}",
                    quote(&q.version),
                    quote(&q.package)
                ),
            );
        }
        if let Some(w) = &self.wait {
            let how = match &w.stopped {
                Some(Stopped::Event { event }) => format!(
                    "stop=event event={} timestamp={}",
                    quote(&event.name),
                    event.timestamp.as_deref().unwrap_or("-")
                ),
                Some(Stopped::Polling { status }) => {
                    format!("stop=polling status={}", quote(status))
                }
                None if w.already_stopped => "stop=already-stopped".to_string(),
                None => "stop=timeout".to_string(),
            };
            mark(
                &mut t,
                &format!(
                    "wait limit-ms={} waited-ms={} {how}",
                    w.limit_ms, w.waited_ms
                ),
            );
        }
        if let Some(s) = &self.status {
            mark(
                &mut t,
                &format!(
                    "status status={} running={}",
                    quote(&s.status),
                    yes_no(s.running)
                ),
            );
        }
        for v in &self.vcpus {
            let mut line = format!("vcpu index={}", v.index);
            if let Some(tid) = v.thread_id {
                let _ = write!(line, " thread-id={tid}");
            }
            if let Some(p) = &v.qom_path {
                let _ = write!(line, " qom-path={}", quote(p));
            }
            mark(&mut t, &line);
        }
        for e in &self.events {
            mark(
                &mut t,
                &format!(
                    "event name={} timestamp={} data={}",
                    quote(&e.name),
                    e.timestamp.as_deref().unwrap_or("-"),
                    quote(&e.data.to_string())
                ),
            );
        }
        if let Some(log) = &self.qemu_log {
            mark(
                &mut t,
                &format!(
                    "begin qemu-log path={} size={} truncated={}",
                    quote(&log.path),
                    log.size,
                    yes_no(log.truncated)
                ),
            );
            push_verbatim(&mut t, &log.text);
            mark(&mut t, "end qemu-log");
        }
        if let Some(regs) = &self.registers {
            mark(&mut t, "begin registers command=\"info registers -a\"");
            push_verbatim(&mut t, regs);
            mark(&mut t, "end registers");
        }
        for m in &self.memory {
            mark(
                &mut t,
                &format!(
                    "begin memory vcpu={} kind={} address={} length={} anchor={}",
                    m.vcpu,
                    m.kind.name(),
                    hex::min(m.address),
                    m.bytes.len(),
                    hex::min(m.anchor)
                ),
            );
            for (i, chunk) in m.bytes.chunks(16).enumerate() {
                let at = m.address.wrapping_add(16 * i as u64);
                let mut line = format!("| {at:016x}:");
                for b in chunk {
                    line.push(' ');
                    match b {
                        Some(b) => hex::push_byte(&mut line, *b),
                        None => line.push_str("??"),
                    }
                }
                mark(&mut t, &line);
            }
            for n in &m.notes {
                mark(&mut t, &format!("note {}", quote(n)));
            }
            mark(&mut t, "end memory");
        }
        for d in &self.descriptors {
            let table = match d.table {
                Table::Gdt => "gdt",
                Table::Idt => "idt",
            };
            mark(
                &mut t,
                &format!(
                    "begin descriptors vcpu={} table={table} base={} limit={}",
                    d.vcpu,
                    hex::min(d.base),
                    hex::min(d.limit)
                ),
            );
            for e in &d.entries {
                let mut line = format!("| {} index={}", e.name, e.index);
                if let Some(sel) = e.selector {
                    let _ = write!(line, " selector={sel:#06x}");
                }
                line.push_str(" bytes=");
                for (i, b) in e.bytes.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    match b {
                        Some(b) => hex::push_byte(&mut line, *b),
                        None => line.push_str("??"),
                    }
                }
                mark(&mut t, &line);
            }
            for n in &d.notes {
                mark(&mut t, &format!("note {}", quote(n)));
            }
            mark(&mut t, "end descriptors");
        }
        for l in &self.lapic {
            mark(&mut t, &format!("begin lapic vcpu={}", l.vcpu));
            for line in l.text.lines() {
                mark(&mut t, &format!("| {line}"));
            }
            mark(&mut t, "end lapic");
        }
        for s in &self.stats {
            let vcpu = s.vcpu.map_or("-".to_string(), |v| v.to_string());
            mark(
                &mut t,
                &format!(
                    "begin stats vcpu={vcpu} provider={} qom-path={}",
                    quote(&s.provider),
                    quote(&s.qom_path)
                ),
            );
            for (name, value) in &s.values {
                mark(&mut t, &format!("| {name} {value}"));
            }
            mark(&mut t, "end stats");
        }
        for e in &self.errors {
            mark(
                &mut t,
                &format!(
                    "error step={} message={}",
                    quote(&e.step),
                    quote(&e.message)
                ),
            );
        }
        let mut end = format!(
            "end capture complete={} duration-ms={} commands={}",
            yes_no(self.complete),
            self.duration_ms,
            self.commands_sent
        );
        if let Some(r) = &self.incomplete_reason {
            let _ = write!(end, " reason={}", quote(r));
        }
        mark(&mut t, &end);
        t
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// QEMU's text as it was, each line ending in `\n`. A line of QEMU's that itself starts with the
/// mark (it never does) would be indistinguishable from ours; it is prefixed with a space.
fn push_verbatim(t: &mut String, text: &str) {
    for line in text.lines() {
        if line.starts_with(MARK) {
            t.push(' ');
        }
        t.push_str(line);
        t.push('\n');
    }
}

/// A header value: bare when it is made of safe characters, else in double quotes with `\"`,
/// `\\`, `\n`, `\r` and `\t` escaped.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'+' | b'[' | b']')
        });
    if safe {
        return s.to_string();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}
