//! The failure report: QEMU's text followed by the exit record QEMU lacks, or the same as JSON.
//! JSON conventions (docs/repro.md): 64-bit values are `"0x…"` lower-case hex strings, written
//! by the one hex formatter, [`kvmtriage_model::hex`].
//!
//! The registers and the code window live once, in the run's [`kvmtriage_model::CpuState`] and
//! [`kvmtriage_model::CodeWindow`] ([`RunResult`]); the JSON reads them through borrowed views
//! ([`Report::json`]), and [`Report::dump`] hands them to the analysis of `kvmtriage explain`
//! without going through text.

use std::fmt::Write as _;

use kvmtriage_model::hex::{self, Hex};
use kvmtriage_model::{tables, CodeWindow, CpuState, Event, Gpr};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::machine::CpuMode;
use crate::policy::Verdict;
use crate::qemu_dump;
use crate::run::{MmioEvent, MsrEvent, Outcome, RunResult};

/// Host facts printed in the record.
#[derive(Clone, Debug, Serialize)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel: String,
    /// kvm_intel / kvm_amd / kvm_pvm, or null.
    pub vendor_module: Option<String>,
}

/// The record of the exit that ended the run.
#[derive(Clone, Debug, Serialize)]
pub struct ExitRecord {
    /// `KVM_EXIT_*` name of the last exit, or `KVM_RUN error`.
    pub exit_reason: String,
    /// Numeric `kvm_run.exit_reason` (include/uapi/linux/kvm.h), if an exit happened.
    pub exit_reason_code: Option<u32>,
    /// The MSR access, when an MSR exit ended the run.
    pub msr: Option<MsrEvent>,
}

/// Everything `kvmtriage repro` reports, besides the vCPU state and the code window, which stay
/// in the [`RunResult`]: [`Report::to_text`], [`Report::json`] and [`Report::dump`] take them.
#[derive(Clone, Debug)]
pub struct Report {
    /// Version of this JSON shape (docs/repro.md); bumped on incompatible changes.
    pub schema_version: u32,
    /// Scenario name, or `guest:<file>` for a user image.
    pub guest: String,
    /// Boot mode: "16", "32" or "64".
    pub mode: CpuMode,
    /// `--kvm-model`.
    pub kvm_model: String,
    /// `--inject` rules as given.
    pub inject: Vec<String>,
    /// Host kernel and vendor module.
    pub host: HostFacts,
    /// How the run ended.
    pub outcome: Outcome,
    /// The exit that ended it.
    pub exit: ExitRecord,
    /// What QEMU 7.2 would have printed (empty when QEMU prints nothing).
    pub qemu_text: String,
    /// Every MSR exit the VMM answered (last 1000).
    pub msr_exits: Vec<MsrEvent>,
    /// MMIO exits (first 1000).
    pub mmio_exits: Vec<MmioEvent>,
    /// Debug-console output (lossy UTF-8).
    pub console: String,
    /// Number of exits handled.
    pub exits: u64,
    /// Run-loop wall time in microseconds.
    pub elapsed_us: u64,
}

/// The JSON document of `kvmtriage repro --format json` (docs/repro.md): the report's fields
/// with `registers` and `code` read from the run's state in place.
#[derive(Serialize)]
pub struct ReportJson<'a> {
    schema_version: u32,
    guest: &'a str,
    mode: CpuMode,
    kvm_model: &'a str,
    inject: &'a [String],
    host: &'a HostFacts,
    outcome: &'a Outcome,
    exit: &'a ExitRecord,
    qemu_text: &'a str,
    registers: RegistersJson<'a>,
    code: CodeJson<'a>,
    msr_exits: &'a [MsrEvent],
    mmio_exits: &'a [MmioEvent],
    console: &'a str,
    exits: u64,
    elapsed_us: u64,
}

/// The JSON `registers` object, a view over the model: `rax` … `r15`, `rip`, `rflags`, `cr0`,
/// `cr2`, `cr3`, `cr4`, `efer`, `cs_base` as `"0x…"` strings (null when the state lacks the
/// value), `cs_selector` a number, `cs64` whether QEMU prints the 64-bit layout
/// ([`qemu_dump::qemu_cs64`]).
#[derive(Clone, Copy, Debug)]
pub struct RegistersJson<'a>(pub &'a CpuState);

impl Serialize for RegistersJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let cpu = self.0;
        let cs = cpu.cs();
        let mut st = s.serialize_struct("Registers", 16 + 10)?;
        for &r in &Gpr::PRINT_ORDER[..16] {
            st.serialize_field(r.name64(), &cpu.gpr(r).map(Hex))?;
        }
        st.serialize_field("rip", &cpu.rip.map(Hex))?;
        st.serialize_field("rflags", &cpu.rflags.map(Hex))?;
        st.serialize_field("cr0", &cpu.cr0.map(Hex))?;
        st.serialize_field("cr2", &cpu.cr2.map(Hex))?;
        st.serialize_field("cr3", &cpu.cr3.map(Hex))?;
        st.serialize_field("cr4", &cpu.cr4.map(Hex))?;
        st.serialize_field("efer", &cpu.efer.map(Hex))?;
        st.serialize_field("cs_base", &cs.map(|c| Hex(c.base)))?;
        st.serialize_field("cs_selector", &cs.map(|c| c.selector))?;
        st.serialize_field("cs64", &qemu_dump::qemu_cs64(cpu))?;
        st.end()
    }
}

/// The JSON `code` object, a view over the window: `start` (linear address of the first byte,
/// `"0x…"`), `bytes` (space-separated pairs, `??` where unreadable, no marker), `marker` (index
/// of the byte at RIP).
#[derive(Clone, Copy, Debug)]
pub struct CodeJson<'a> {
    /// The state the window was read from (for its start address).
    pub cpu: &'a CpuState,
    /// The window.
    pub code: &'a CodeWindow,
}

impl Serialize for CodeJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = String::with_capacity(self.code.bytes.len() * 3);
        for (i, b) in self.code.bytes.iter().enumerate() {
            if i > 0 {
                bytes.push(' ');
            }
            match b {
                Some(b) => hex::push_byte(&mut bytes, *b),
                None => bytes.push_str("??"),
            }
        }
        let start = qemu_dump::code_window_start(self.cpu, self.code);
        let mut st = s.serialize_struct("Code", 3)?;
        st.serialize_field("start", &start.map(Hex))?;
        st.serialize_field("bytes", &bytes)?;
        st.serialize_field("marker", &self.code.marker)?;
        st.end()
    }
}

fn exit_reason_of(outcome: &Outcome, fatal_msr: Option<&MsrEvent>) -> (String, Option<u32>) {
    // Exit-reason numbers from include/uapi/linux/kvm.h.
    let (name, code) = match outcome {
        Outcome::Halted => ("KVM_EXIT_HLT", Some(5)),
        Outcome::GuestDone { .. } | Outcome::GuestException { .. } => ("KVM_EXIT_IO", Some(2)),
        Outcome::KvmRunFailed {
            simulated: true, ..
        } => match fatal_msr.map(|m| m.access) {
            Some(crate::policy::MsrAccess::Rdmsr) => ("KVM_EXIT_X86_RDMSR", Some(29)),
            _ => ("KVM_EXIT_X86_WRMSR", Some(30)),
        },
        Outcome::KvmRunFailed { .. } => ("none (KVM_RUN returned -1)", None),
        Outcome::InternalError { .. } => ("KVM_EXIT_INTERNAL_ERROR", Some(17)),
        Outcome::Shutdown => ("KVM_EXIT_SHUTDOWN", Some(8)),
        Outcome::FailEntry { .. } => ("KVM_EXIT_FAIL_ENTRY", Some(9)),
        Outcome::MemoryFault { .. } => ("KVM_EXIT_MEMORY_FAULT", Some(39)),
        Outcome::UnhandledExit { exit_reason } => ("unhandled", Some(*exit_reason)),
        Outcome::WallClockLimit { .. } | Outcome::ExitLimit { .. } => {
            ("none (stopped by the VMM)", None)
        }
    };
    (name.to_string(), code)
}

/// What QEMU 7.2 prints for this outcome: the message line(s) and the CPU_DUMP_CODE dump.
/// Empty for outcomes after which QEMU prints nothing (the guest keeps running or halts).
pub fn qemu_text(outcome: &Outcome, state: &CpuState, code: &CodeWindow) -> String {
    let head = match outcome {
        Outcome::KvmRunFailed { errno, .. } => qemu_dump::kvm_run_failed_line(*errno),
        Outcome::InternalError { suberror, data } => {
            qemu_dump::internal_error_lines(*suberror, data)
        }
        Outcome::FailEntry {
            hardware_entry_failure_reason,
            ..
        } => qemu_dump::entry_failed_line(*hardware_entry_failure_reason),
        Outcome::MemoryFault { .. } => qemu_dump::kvm_run_failed_line(libc::EFAULT),
        Outcome::UnhandledExit { exit_reason } => unknown_exit_line(*exit_reason) + "\n",
        _ => return String::new(),
    };
    head + &qemu_dump::register_dump(state, code)
}

impl Report {
    /// Builds the report of a finished run.
    pub fn new(
        guest: String,
        mode: CpuMode,
        kvm_model: String,
        inject: Vec<String>,
        host: HostFacts,
        result: &RunResult,
    ) -> Self {
        let (exit_reason, exit_reason_code) =
            exit_reason_of(&result.outcome, result.fatal_msr.as_ref());
        Self {
            schema_version: 1,
            guest,
            mode,
            kvm_model,
            inject,
            host,
            outcome: result.outcome.clone(),
            exit: ExitRecord {
                exit_reason,
                exit_reason_code,
                msr: result.fatal_msr.clone(),
            },
            qemu_text: qemu_text(&result.outcome, &result.state, &result.code),
            msr_exits: result.msr_events.clone(),
            mmio_exits: result.mmio_events.clone(),
            console: String::from_utf8_lossy(&result.console).into_owned(),
            exits: result.exits,
            elapsed_us: result.elapsed.as_micros() as u64,
        }
    }

    /// The text report for stdout: QEMU's text (if any), or for outcomes where QEMU prints
    /// nothing but the VM is dead or stopped, a marked dump; then the `kvmtriage: exit record`.
    pub fn to_text(&self, state: &CpuState, code: &CodeWindow) -> String {
        let mut out = self.qemu_text.clone();
        if out.is_empty() && (self.outcome == Outcome::Shutdown || self.outcome.is_limit()) {
            let why = match self.outcome {
                Outcome::Shutdown => "KVM_EXIT_SHUTDOWN (triple fault): QEMU would reset the guest and print no dump; state at the exit",
                _ => "guest stopped by a kvmtriage limit; state when stopped",
            };
            let _ = writeln!(out, "kvmtriage: {why}:");
            out.push_str(&qemu_dump::register_dump(state, code));
        }
        out.push_str(&self.record_text());
        out
    }

    /// The JSON document (`--format json`, docs/repro.md), reading `registers` and `code` from
    /// the run's state and window (the ones [`Report::new`] was given, in the [`RunResult`]).
    pub fn json<'a>(&'a self, state: &'a CpuState, code: &'a CodeWindow) -> ReportJson<'a> {
        ReportJson {
            schema_version: self.schema_version,
            guest: &self.guest,
            mode: self.mode,
            kvm_model: &self.kvm_model,
            inject: &self.inject,
            host: &self.host,
            outcome: &self.outcome,
            exit: &self.exit,
            qemu_text: &self.qemu_text,
            registers: RegistersJson(state),
            code: CodeJson { cpu: state, code },
            msr_exits: &self.msr_exits,
            mmio_exits: &self.mmio_exits,
            console: &self.console,
            exits: self.exits,
            elapsed_us: self.elapsed_us,
        }
    }

    /// The `kvmtriage: exit record` block.
    pub fn record_text(&self) -> String {
        let mut out = String::from("kvmtriage: exit record\n");
        for (key, value) in self.record_fields() {
            let key = format!("{key}:");
            let _ = writeln!(out, "  {key:<16} {value}");
        }
        out
    }

    /// The record's `key: value` lines in print order, keys without the colon.
    pub fn record_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            (
                "guest",
                format!("{} (mode {})", self.guest, self.mode.bitness()),
            ),
            ("outcome", describe_outcome(&self.outcome)),
            (
                "exit reason",
                match self.exit.exit_reason_code {
                    Some(code) => format!("{} ({code})", self.exit.exit_reason),
                    None => self.exit.exit_reason.clone(),
                },
            ),
        ];
        if let Some(msr) = &self.exit.msr {
            fields.extend([
                ("msr access", msr.access.to_string()),
                ("msr index", hex::min(u64::from(msr.index))),
                ("msr value", hex::min(msr.value)),
                ("kvm msr reason", msr.kvm_reason.to_string()),
                ("guest rip", hex::min(msr.rip)),
                ("decided by", msr.decided_by.clone()),
            ]);
        }
        fields.extend([
            ("kvm model", self.kvm_model.clone()),
            (
                "inject",
                if self.inject.is_empty() {
                    "none".into()
                } else {
                    self.inject.join(" ")
                },
            ),
            (
                "host kernel",
                match &self.host.vendor_module {
                    Some(m) => format!("{} ({m})", self.host.kernel),
                    None => self.host.kernel.clone(),
                },
            ),
            ("exits handled", self.exits.to_string()),
            ("msr exits", self.msr_exits.len().to_string()),
        ]);
        fields
    }

    /// The exit record as the dump model holds it (what `kvmtriage explain` reads from the text
    /// record), without input lines (`line` 0).
    pub fn exit_record(&self) -> kvmtriage_dump::ExitRecord {
        kvmtriage_dump::ExitRecord {
            line: 0,
            fields: self
                .record_fields()
                .into_iter()
                .map(|(key, value)| kvmtriage_dump::ExitField {
                    key: key.to_string(),
                    value,
                    line: 0,
                })
                .collect(),
        }
    }

    /// The run as a dump for `kvmtriage explain`'s analysis, built from the model without going
    /// through text ([`kvmtriage_dump::Dump::from_model`]): the final vCPU state, the event QEMU
    /// would have printed ([`event`]), the `Code=` window and the exit record. Nothing in it
    /// has an input line.
    pub fn dump(&self, state: CpuState, code: CodeWindow) -> kvmtriage_dump::Dump {
        let mut dump = kvmtriage_dump::Dump::from_model(state, event(&self.outcome), Some(code));
        dump.exit_record = Some(self.exit_record());
        dump
    }
}

/// The event line QEMU 7.2 prints for this outcome (see [`qemu_text`]), as the model's
/// [`Event`], without an input line (`line` 0): what the dump reader makes of that line. A
/// triple fault, after which QEMU prints nothing, is [`Event::TripleFault`] (as `kvmtriage
/// explain` reads a repro record that says KVM_EXIT_SHUTDOWN); outcomes after which QEMU prints
/// nothing have [`Event::None`].
pub fn event(outcome: &Outcome) -> Event {
    let run_failed = |errno: i32| Event::RunFailed {
        errno: Some(errno),
        errno_name: tables::ERRNO_NAMES
            .iter()
            .find(|(n, _)| *n == errno)
            .map(|(_, name)| *name),
        message: qemu_dump::strerror(errno),
        line: 0,
    };
    match outcome {
        Outcome::KvmRunFailed { errno, .. } => run_failed(*errno),
        Outcome::MemoryFault { .. } => run_failed(libc::EFAULT),
        Outcome::InternalError { suberror, data } => Event::InternalError {
            suberror: *suberror,
            suberror_name: tables::suberror(*suberror).map(|s| s.short),
            extra_data: data.clone(),
            extra_data_lines: vec![0; data.len()],
            // KVM_INTERNAL_ERROR_EMULATION = 1 (include/uapi/linux/kvm.h).
            emulation_failure: *suberror == 1,
            line: 0,
        },
        Outcome::FailEntry {
            hardware_entry_failure_reason,
            ..
        } => Event::EntryFailed {
            hardware_error: *hardware_entry_failure_reason,
            line: 0,
        },
        Outcome::UnhandledExit { exit_reason } => Event::UnknownExit {
            hardware_reason: None,
            exit_reason: Some(u64::from(*exit_reason)),
            message: unknown_exit_line(*exit_reason),
            line: 0,
        },
        Outcome::Shutdown => Event::TripleFault { line: 0 },
        Outcome::Halted
        | Outcome::GuestDone { .. }
        | Outcome::GuestException { .. }
        | Outcome::WallClockLimit { .. }
        | Outcome::ExitLimit { .. } => Event::None,
    }
}

/// `KVM: unknown exit reason N` (target/i386/kvm/kvm.c, the default case of
/// `kvm_arch_handle_exit`).
fn unknown_exit_line(exit_reason: u32) -> String {
    format!("KVM: unknown exit reason {exit_reason}")
}

/// One-line description of an outcome.
pub fn describe_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Halted => "guest halted (HLT)".into(),
        Outcome::GuestDone { status } => format!("guest finished with status {status}"),
        Outcome::GuestException {
            vector,
            name,
            error_code,
            fault_rip,
        } => {
            let mut s = format!("{name} (vector {vector}) delivered to the guest's handler");
            if let Some(rip) = fault_rip {
                let _ = write!(s, ", faulting RIP {rip:#x}");
            }
            if let Some(ec) = error_code {
                let _ = write!(s, ", error code {ec:#x}");
            }
            s
        }
        Outcome::KvmRunFailed {
            errno,
            errno_name,
            simulated,
        } => format!(
            "KVM_RUN failed: {errno_name} ({errno}, {}){}",
            qemu_dump::strerror(*errno),
            if *simulated {
                " -- reproduced by the VMM for the decided MSR access; this host's KVM itself did not fail"
            } else {
                ""
            }
        ),
        Outcome::InternalError { suberror, data } => {
            format!(
                "KVM internal error, suberror {suberror}, {} data words",
                data.len()
            )
        }
        Outcome::Shutdown => "shutdown (triple fault)".into(),
        Outcome::FailEntry {
            hardware_entry_failure_reason,
            cpu,
        } => format!(
            "VM entry failed, hardware reason {hardware_entry_failure_reason:#x} on cpu {cpu}"
        ),
        Outcome::MemoryFault { flags, gpa, size } => {
            format!("memory fault at GPA {gpa:#x} size {size:#x} flags {flags:#x}")
        }
        Outcome::UnhandledExit { exit_reason } => format!("unhandled exit reason {exit_reason}"),
        Outcome::WallClockLimit { limit_ms } => {
            format!("stopped: wall-clock limit of {limit_ms} ms reached (guest still running)")
        }
        Outcome::ExitLimit { limit } => {
            format!("stopped: exit-count limit of {limit} exits reached")
        }
    }
}

/// Serializes a verdict name for text (`#GP`, `EPERM`…).
pub fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Allow => "allow".into(),
        Verdict::GeneralProtection => "#GP".into(),
        Verdict::Ignore => "ignore".into(),
        Verdict::Fatal { errno } => crate::policy::errno_name(*errno),
    }
}
