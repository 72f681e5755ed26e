//! The capture procedure: what is asked, in which order, and what happens when a step fails.
//!
//! Order (most valuable first, so that a QEMU that dies mid-way leaves the most useful part):
//! `query-version`; `query-status` (and, with a wait, the `STOP` and a second `query-status`);
//! `info registers -a`; `query-cpus-fast`; per vCPU the code window and the stack; per vCPU the
//! GDT entries its selectors use and the IDT's exception gates; per vCPU `info lapic`;
//! `query-stats` for the vCPUs; finally QEMU's own log file (read even when the monitor is gone).
//!
//! A step that fails is recorded in [`Capture::errors`] and the next step runs; when the monitor
//! connection is lost (or two calls in a row time out) the remaining monitor steps are skipped
//! and the capture is marked incomplete.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::format::{
    Capture, Descriptor, DescriptorSet, Lapic, MemoryKind, MemoryWindow, QemuLog, QemuVersion,
    RunStatus, StepError, Table, VcpuInfo, VcpuStats, WaitRecord,
};
use crate::qmp::QmpEvent;
use crate::{hmp, memory, Monitor, QmpError};

/// What to take and how long to wait.
#[derive(Debug, Clone)]
pub struct Options {
    /// Wait this long for the VM to stop before capturing (`--wait`); `None`: capture now.
    pub wait: Option<Duration>,
    /// Code bytes before the instruction pointer.
    pub code_before: u64,
    /// Code bytes from the instruction pointer on.
    pub code_after: u64,
    /// Stack bytes from the stack pointer up.
    pub stack_bytes: u64,
    /// QEMU's stderr log (`--qemu-log`).
    pub qemu_log: Option<PathBuf>,
    /// At most this many bytes of the log are kept (its end).
    pub max_log: u64,
    /// Called with a one-line message when the wait begins (the CLI prints it on stderr).
    pub on_wait: Option<fn(&str)>,
}

/// Run states in which `--wait` waits for a stop: the VM runs, or has not started yet
/// (`-S`: `prelaunch`; an incoming migration: `inmigrate`). In any other state it is already
/// stopped and is captured at once.
pub const WAIT_STATES: &[&str] = &["running", "prelaunch", "inmigrate", "restore-vm"];

impl Default for Options {
    fn default() -> Options {
        Options {
            wait: None,
            code_before: 128,
            code_after: 128,
            stack_bytes: 256,
            qemu_log: None,
            max_log: 4 << 20,
            on_wait: None,
        }
    }
}

/// What the capture needs to know about one vCPU, from its `info registers` dump.
#[derive(Debug, Clone, Default)]
struct Vcpu {
    index: u32,
    /// Code width (16/32/64) from kvmtriage's mode decision.
    bits: Option<u8>,
    /// CS.base + RIP (RIP in 64-bit mode), as a linear address.
    code: Option<u64>,
    /// Where the code segment starts (CS.base outside 64-bit mode, 0 in it).
    code_floor: u64,
    /// SS.base + RSP (RSP in 64-bit mode), as a linear address.
    stack: Option<u64>,
    protected: bool,
    /// EFER.LMA: 16-byte system descriptors and gates.
    ia32e: bool,
    gdt: Option<(u64, u64)>,
    idt: Option<(u64, u64)>,
    selectors: Vec<(&'static str, u16)>,
}

/// What the capture needs of each vCPU of an `info registers -a` answer, read by kvmtriage's own
/// dump reader (the one CPU model, the one mode decider).
fn vcpus_from_registers(text: &str) -> Result<Vec<Vcpu>, String> {
    use kvmtriage_model::SegName;
    let dumps = kvmtriage_dump::read(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(dumps.len());
    for (i, r) in dumps.iter().enumerate() {
        let cpu = &r.cpu;
        let bits = r.mode.bits;
        let protected = cpu.cr0.is_some_and(|c| c & 1 != 0);
        let code = r.mode.code_address(cpu);
        let stack = match (bits, cpu.gpr(kvmtriage_model::Gpr::Rsp)) {
            (Some(64), Some(rsp)) => Some(rsp),
            (Some(_), Some(rsp)) => {
                // SS.B selects ESP over SP in protected mode; real mode uses SP.
                let ss = cpu.segment(SegName::Ss);
                let big = protected && ss.is_some_and(|s| s.attributes.db());
                let sp = if big { rsp & 0xffff_ffff } else { rsp & 0xffff };
                Some(ss.map_or(0, |s| s.base).wrapping_add(sp) & 0xffff_ffff)
            }
            _ => None,
        };
        let selectors = [
            ("cs", SegName::Cs),
            ("ss", SegName::Ss),
            ("ds", SegName::Ds),
            ("es", SegName::Es),
            ("fs", SegName::Fs),
            ("gs", SegName::Gs),
            ("ldt", SegName::Ldt),
            ("tr", SegName::Tr),
        ]
        .iter()
        .filter_map(|(name, s)| Some((*name, cpu.segment(*s)?.selector)))
        .collect();
        let code_floor = match bits {
            Some(64) => 0,
            _ => cpu.cs().map_or(0, |c| c.base & 0xffff_ffff),
        };
        out.push(Vcpu {
            index: r.cpu_index.unwrap_or(i as u32),
            bits,
            code,
            code_floor,
            stack,
            protected,
            ia32e: cpu.efer.is_some_and(|e| e & (1 << 10) != 0),
            gdt: cpu.gdt.map(|t| (t.base, u64::from(t.limit))),
            idt: cpu.idt.map(|t| (t.base, u64::from(t.limit))),
            selectors,
        });
    }
    Ok(out)
}

/// A monitor that counts commands and remembers why it was given up.
struct Session<'a> {
    mon: &'a mut dyn Monitor,
    cap: Capture,
    lost: Option<String>,
    timeouts_in_a_row: u32,
    /// QEMU's memory map: guest memory is read only where RAM or ROM is behind it.
    map: Option<memory::MemoryMap>,
}

impl Session<'_> {
    fn alive(&self) -> bool {
        self.lost.is_none()
    }

    /// Books the outcome of one monitor call: errors are recorded under `step`.
    fn book<T>(&mut self, step: &str, r: Result<T, QmpError>) -> Option<T> {
        match r {
            Ok(v) => {
                self.timeouts_in_a_row = 0;
                Some(v)
            }
            Err(e) => {
                let lost = e.is_connection_lost();
                if matches!(e, QmpError::Timeout { .. }) {
                    self.timeouts_in_a_row += 1;
                }
                self.error(step, e.to_string());
                if lost {
                    self.lost = Some(e.to_string());
                } else if self.timeouts_in_a_row >= 2 {
                    self.lost = Some(format!("QEMU stopped answering ({e})"));
                }
                None
            }
        }
    }

    fn error(&mut self, step: &str, message: String) {
        self.cap.errors.push(StepError {
            step: step.to_string(),
            message,
        });
    }

    fn execute(&mut self, step: &str, command: &str, args: Option<Value>) -> Option<Value> {
        if !self.alive() {
            return None;
        }
        self.cap.commands_sent += 1;
        let r = self.mon.execute(command, args);
        self.book(step, r)
    }

    fn hmp(&mut self, step: &str, line: &str, cpu: Option<u32>) -> Option<String> {
        if !self.alive() {
            return None;
        }
        self.cap.commands_sent += 1;
        let r = hmp(self.mon, line, cpu);
        self.book(step, r)
    }

    fn read_memory(&mut self, step: &str, cpu: u32, start: u64, len: u64) -> Option<memory::Read> {
        if !self.alive() {
            return None;
        }
        let r = memory::read(self.mon, cpu, start, len, self.map.as_ref());
        if let Ok(read) = &r {
            self.cap.commands_sent += read.commands;
        }
        self.book(step, r)
    }
}

/// Takes a capture from `mon`. Never fails: whatever could be taken is in the result, and
/// `errors`, `complete` and `incomplete_reason` say what could not.
pub fn capture(mon: &mut dyn Monitor, source: String, opts: &Options) -> Capture {
    let started = Instant::now();
    let mut s = Session {
        mon,
        cap: Capture::new(source),
        lost: None,
        timeouts_in_a_row: 0,
        map: None,
    };

    if let Some(v) = s.execute("query-version", "query-version", None) {
        s.cap.qemu = Some(qemu_version(&v));
    }
    let mut status = s.execute("query-status", "query-status", None);
    if let Some(limit) = opts.wait {
        let state = status
            .as_ref()
            .and_then(|st| st.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let running = status
            .as_ref()
            .and_then(|st| st.get("running"))
            .and_then(Value::as_bool);
        let waits = running == Some(true) || WAIT_STATES.contains(&state.as_str());
        let wait_start = Instant::now();
        let mut rec = WaitRecord {
            limit_ms: limit.as_millis() as u64,
            waited_ms: 0,
            stopped: None,
            already_stopped: status.is_some() && !waits,
        };
        if waits && s.alive() {
            if let Some(f) = opts.on_wait {
                f(&format!(
                    "run state {state}: waiting up to {:.1} s for the VM to stop",
                    limit.as_secs_f64()
                ));
            }
            let r = s.mon.wait_stop(wait_start + limit);
            if let Some(stopped) = s.book("wait for STOP", r) {
                rec.stopped = stopped;
                if rec.stopped.is_none() {
                    s.error(
                        "wait for STOP",
                        format!(
                            "the VM did not stop within {} ms; captured while it runs",
                            limit.as_millis()
                        ),
                    );
                }
            }
            rec.waited_ms = wait_start.elapsed().as_millis() as u64;
            status = s.execute("query-status after the wait", "query-status", None);
        }
        s.cap.wait = Some(rec);
    }
    if let Some(st) = status {
        s.cap.status = Some(RunStatus {
            status: st
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            running: st.get("running").and_then(Value::as_bool).unwrap_or(false),
        });
    }

    let mut vcpus = Vec::new();
    if let Some(text) = s.hmp("info registers -a", "info registers -a", None) {
        match vcpus_from_registers(&text) {
            Ok(v) => vcpus = v,
            Err(e) => s.error(
                "info registers -a",
                format!("not readable as register dumps: {e}"),
            ),
        }
        s.cap.registers = Some(text);
    }
    if let Some(v) = s.execute("query-cpus-fast", "query-cpus-fast", None) {
        s.cap.vcpus = cpus_fast(&v);
    }

    if !vcpus.is_empty() {
        if let Some(text) = s.hmp("info mtree -f", "info mtree -f", None) {
            match memory::MemoryMap::parse(&text) {
                Some(map) => s.map = Some(map),
                None => s.error(
                    "info mtree -f",
                    "no memory map in the answer: guest memory is read without checking for device regions".into(),
                ),
            }
        }
    }
    for v in &vcpus {
        let step = format!("code vcpu={}", v.index);
        match v.code {
            Some(anchor) => {
                let end = anchor
                    .saturating_add(opts.code_after)
                    .min(address_end(v.bits));
                // Clipped at the end of the address space: take the missing part before RIP, so
                // that the window keeps its length.
                let want = opts.code_before + opts.code_after;
                let mut start = anchor
                    .saturating_sub(opts.code_before)
                    .min(end.saturating_sub(want));
                // Outside 64-bit mode the code before CS.base is not in the code segment (the
                // disassembly counts addresses as CS.base + offset): start there at the
                // earliest and take the rest after the instruction pointer.
                let end = if start < v.code_floor {
                    start = v.code_floor.min(anchor);
                    start.saturating_add(want).min(address_end(v.bits))
                } else {
                    end
                };
                if let Some(r) = s.read_memory(&step, v.index, start, end - start) {
                    s.cap.memory.push(MemoryWindow {
                        vcpu: v.index,
                        kind: MemoryKind::Code,
                        address: start,
                        anchor,
                        anchor_index: (anchor - start) as usize,
                        bytes: r.bytes,
                        notes: r.notes,
                    });
                }
            }
            None => s.error(
                &step,
                "the CPU mode or RIP is not known: no code window".into(),
            ),
        }
        let step = format!("stack vcpu={}", v.index);
        match v.stack {
            Some(anchor) => {
                let len = opts
                    .stack_bytes
                    .min(address_end(v.bits).saturating_sub(anchor));
                if let Some(r) = s.read_memory(&step, v.index, anchor, len) {
                    s.cap.memory.push(MemoryWindow {
                        vcpu: v.index,
                        kind: MemoryKind::Stack,
                        address: anchor,
                        anchor,
                        anchor_index: 0,
                        bytes: r.bytes,
                        notes: r.notes,
                    });
                }
            }
            None => s.error(&step, "the CPU mode or RSP is not known: no stack".into()),
        }
    }
    for v in &vcpus {
        descriptors(&mut s, v);
    }
    for v in &vcpus {
        let step = format!("info lapic vcpu={}", v.index);
        if let Some(text) = s.hmp(&step, "info lapic", Some(v.index)) {
            if text.contains("local APIC state") {
                s.cap.lapic.push(Lapic {
                    vcpu: v.index,
                    text,
                });
            } else {
                s.error(&step, format!("QEMU answered: {}", text.trim()));
            }
        }
    }
    if let Some(v) = s.execute(
        "query-stats",
        "query-stats",
        Some(json!({ "target": "vcpu" })),
    ) {
        s.cap.stats = stats(&v, &s.cap.vcpus);
    }

    if let Some(path) = &opts.qemu_log {
        match read_log(path, opts.max_log) {
            Ok(log) => s.cap.qemu_log = Some(log),
            Err(e) => s.error("qemu-log", format!("{}: {e}", path.display())),
        }
    }
    let events: Vec<QmpEvent> = s.mon.take_events();
    // A STOP the wait consumed is in `wait`; every event is listed here in order.
    s.cap.events = events;
    s.cap.complete = s.lost.is_none();
    s.cap.incomplete_reason = s.lost.take();
    s.cap.duration_ms = started.elapsed().as_millis() as u64;
    s.cap
}

/// End (exclusive) of the linear address space a vCPU in this mode can use.
fn address_end(bits: Option<u8>) -> u64 {
    if bits == Some(64) {
        u64::MAX
    } else {
        1 << 32
    }
}

fn qemu_version(v: &Value) -> QemuVersion {
    let q = &v["qemu"];
    let n = |k: &str| q.get(k).and_then(Value::as_u64).unwrap_or(0);
    QemuVersion {
        version: format!("{}.{}.{}", n("major"), n("minor"), n("micro")),
        package: v
            .get("package")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    }
}

fn cpus_fast(v: &Value) -> Vec<VcpuInfo> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some(VcpuInfo {
                        index: u32::try_from(c.get("cpu-index")?.as_u64()?).ok()?,
                        thread_id: c.get("thread-id").and_then(Value::as_i64),
                        qom_path: c
                            .get("qom-path")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn stats(v: &Value, vcpus: &[VcpuInfo]) -> Vec<VcpuStats> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    let mut out: Vec<VcpuStats> = list
        .iter()
        .filter_map(|entry| {
            let qom_path = entry.get("qom-path")?.as_str()?.to_string();
            let provider = entry
                .get("provider")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let values = entry
                .get("stats")?
                .as_array()?
                .iter()
                .filter_map(|st| {
                    Some((
                        st.get("name")?.as_str()?.to_string(),
                        st.get("value")?.clone(),
                    ))
                })
                .collect();
            let vcpu = vcpus
                .iter()
                .find(|c| c.qom_path.as_deref() == Some(qom_path.as_str()))
                .map(|c| c.index);
            Some(VcpuStats {
                vcpu,
                qom_path,
                provider,
                values,
            })
        })
        .collect();
    out.sort_by_key(|s| (s.vcpu.is_none(), s.vcpu));
    out
}

/// The GDT entries the vCPU's selectors refer to, and the IDT gates of the 32 exception vectors.
fn descriptors(s: &mut Session, v: &Vcpu) {
    if !s.alive() {
        return;
    }
    if let Some((base, limit)) = v.gdt {
        if v.protected {
            let mut set = DescriptorSet {
                vcpu: v.index,
                table: Table::Gdt,
                base,
                limit,
                entries: Vec::new(),
                notes: Vec::new(),
            };
            let mut wanted: Vec<(&str, u16, u64, u64)> = Vec::new(); // name, selector, offset, size
            for (name, sel) in &v.selectors {
                if sel & !3 == 0 {
                    continue; // null selector
                }
                if sel & 4 != 0 {
                    set.notes.push(format!(
                        "{name} selector {sel:#06x} refers to the LDT; LDT entries are not read"
                    ));
                    continue;
                }
                let offset = u64::from(sel >> 3) * 8;
                let size = if v.ia32e && matches!(*name, "tr" | "ldt") {
                    16
                } else {
                    8
                };
                if offset + size - 1 > limit {
                    set.notes.push(format!(
                        "{name} selector {sel:#06x}: entry {} lies beyond the GDT limit {limit:#x}",
                        sel >> 3
                    ));
                    continue;
                }
                wanted.push((name, *sel, offset, size));
            }
            if let (Some(lo), Some(hi)) = (
                wanted.iter().map(|w| w.2).min(),
                wanted.iter().map(|w| w.2 + w.3).max(),
            ) {
                let step = format!("gdt vcpu={}", v.index);
                if let Some(r) = s.read_memory(&step, v.index, base.wrapping_add(lo), hi - lo) {
                    for (name, sel, off, size) in wanted {
                        let from = (off - lo) as usize;
                        set.entries.push(Descriptor {
                            name: name.to_string(),
                            index: u32::from(sel >> 3),
                            selector: Some(sel),
                            bytes: r.bytes[from..from + size as usize].to_vec(),
                        });
                    }
                    set.notes.extend(r.notes);
                }
            }
            s.cap.descriptors.push(set);
        }
    }
    if let Some((base, limit)) = v.idt {
        // Real mode: the interrupt vector table, 4 bytes (offset, segment) per vector.
        let size: u64 = if !v.protected {
            4
        } else if v.ia32e {
            16
        } else {
            8
        };
        let count = ((limit + 1) / size).min(32);
        let mut set = DescriptorSet {
            vcpu: v.index,
            table: Table::Idt,
            base,
            limit,
            entries: Vec::new(),
            notes: Vec::new(),
        };
        if count == 0 {
            set.notes.push(format!(
                "the IDT limit {limit:#x} holds no complete gate: every exception would fault"
            ));
        } else {
            let step = format!("idt vcpu={}", v.index);
            if let Some(r) = s.read_memory(&step, v.index, base, count * size) {
                for (vector, gate) in r.bytes.chunks(size as usize).enumerate() {
                    set.entries.push(Descriptor {
                        name: "vector".into(),
                        index: vector as u32,
                        selector: None,
                        bytes: gate.to_vec(),
                    });
                }
                set.notes.extend(r.notes);
            }
        }
        s.cap.descriptors.push(set);
    }
}

fn read_log(path: &std::path::Path, max: u64) -> std::io::Result<QemuLog> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let truncated = size > max;
    if truncated {
        f.seek(SeekFrom::Start(size - max))?;
    }
    let mut raw = Vec::new();
    f.take(max).read_to_end(&mut raw)?;
    let mut text = String::from_utf8_lossy(&raw).into_owned();
    if truncated {
        // Start at a whole line.
        if let Some(nl) = text.find('\n') {
            text.drain(..=nl);
        }
    }
    Ok(QemuLog {
        path: path.display().to_string(),
        text,
        size,
        truncated,
    })
}
