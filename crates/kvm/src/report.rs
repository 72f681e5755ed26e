//! The failure report: QEMU's text followed by the exit record QEMU lacks, or the same as JSON.
//! JSON conventions (docs/repro.md): 64-bit values are `"0x…"` lower-case hex strings.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::machine::CpuMode;
use crate::policy::Verdict;
use crate::qemu_dump::{self, CodeWindow};
use crate::run::{MmioEvent, MsrEvent, Outcome, RunResult};
use crate::state::CpuState;

/// Serializes a u64 as `"0x…"`.
pub fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

/// Serializes a u32 as `"0x…"`.
pub fn hex32<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

/// Serializes an optional u64 as `"0x…"` or null.
pub fn hex_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&format!("{v:#x}")),
        None => s.serialize_none(),
    }
}

/// Serializes a list of u64 as `"0x…"` strings.
pub fn hex_vec<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| format!("{x:#x}")))
}

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

/// The registers, in JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Registers {
    #[serde(serialize_with = "hex")]
    rax: u64,
    #[serde(serialize_with = "hex")]
    rbx: u64,
    #[serde(serialize_with = "hex")]
    rcx: u64,
    #[serde(serialize_with = "hex")]
    rdx: u64,
    #[serde(serialize_with = "hex")]
    rsi: u64,
    #[serde(serialize_with = "hex")]
    rdi: u64,
    #[serde(serialize_with = "hex")]
    rbp: u64,
    #[serde(serialize_with = "hex")]
    rsp: u64,
    #[serde(serialize_with = "hex")]
    r8: u64,
    #[serde(serialize_with = "hex")]
    r9: u64,
    #[serde(serialize_with = "hex")]
    r10: u64,
    #[serde(serialize_with = "hex")]
    r11: u64,
    #[serde(serialize_with = "hex")]
    r12: u64,
    #[serde(serialize_with = "hex")]
    r13: u64,
    #[serde(serialize_with = "hex")]
    r14: u64,
    #[serde(serialize_with = "hex")]
    r15: u64,
    #[serde(serialize_with = "hex")]
    rip: u64,
    #[serde(serialize_with = "hex")]
    rflags: u64,
    #[serde(serialize_with = "hex")]
    cr0: u64,
    #[serde(serialize_with = "hex")]
    cr2: u64,
    #[serde(serialize_with = "hex")]
    cr3: u64,
    #[serde(serialize_with = "hex")]
    cr4: u64,
    #[serde(serialize_with = "hex")]
    efer: u64,
    #[serde(serialize_with = "hex")]
    cs_base: u64,
    cs_selector: u16,
    cs64: bool,
}

impl Registers {
    fn from_state(s: &CpuState) -> Self {
        let r = &s.regs;
        Self {
            rax: r.rax,
            rbx: r.rbx,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            rbp: r.rbp,
            rsp: r.rsp,
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
            rip: r.rip,
            rflags: r.rflags,
            cr0: s.sregs.cr0,
            cr2: s.sregs.cr2,
            cr3: s.sregs.cr3,
            cr4: s.sregs.cr4,
            efer: s.sregs.efer,
            cs_base: s.sregs.cs.base,
            cs_selector: s.sregs.cs.selector,
            cs64: s.cs64(),
        }
    }
}

/// The `Code=` window, in JSON.
#[derive(Clone, Debug, Serialize)]
pub struct CodeJson {
    /// Linear address of the first byte.
    #[serde(serialize_with = "hex")]
    pub start: u64,
    /// Space-separated bytes, `??` where unreadable.
    pub bytes: String,
    /// Index of the byte at RIP.
    pub marker: usize,
}

impl From<&CodeWindow> for CodeJson {
    fn from(c: &CodeWindow) -> Self {
        Self {
            start: c.start,
            bytes: c
                .bytes
                .iter()
                .map(|b| b.map_or_else(|| "??".to_string(), |b| format!("{b:02x}")))
                .collect::<Vec<_>>()
                .join(" "),
            marker: c.marker,
        }
    }
}

/// Everything `kvmtriage repro` reports.
#[derive(Clone, Debug, Serialize)]
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
    /// Registers at the end.
    pub registers: Registers,
    /// Code window at the end.
    pub code: CodeJson,
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
        Outcome::UnhandledExit { exit_reason } => {
            format!("KVM: unknown exit reason {exit_reason}\n")
        }
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
            registers: Registers::from_state(&result.state),
            code: CodeJson::from(&result.code),
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

    /// The `kvmtriage: exit record` block.
    pub fn record_text(&self) -> String {
        let mut out = String::from("kvmtriage: exit record\n");
        let mut line = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<16} {v}");
        };
        line(
            "guest:",
            format!("{} (mode {})", self.guest, self.mode.bitness()),
        );
        line("outcome:", describe_outcome(&self.outcome));
        line(
            "exit reason:",
            match self.exit.exit_reason_code {
                Some(code) => format!("{} ({code})", self.exit.exit_reason),
                None => self.exit.exit_reason.clone(),
            },
        );
        if let Some(msr) = &self.exit.msr {
            line("msr access:", msr.access.to_string());
            line("msr index:", format!("{:#x}", msr.index));
            line("msr value:", format!("{:#x}", msr.value));
            line("kvm msr reason:", msr.kvm_reason.to_string());
            line("guest rip:", format!("{:#x}", msr.rip));
            line("decided by:", msr.decided_by.clone());
        }
        line("kvm model:", self.kvm_model.clone());
        line(
            "inject:",
            if self.inject.is_empty() {
                "none".into()
            } else {
                self.inject.join(" ")
            },
        );
        line(
            "host kernel:",
            match &self.host.vendor_module {
                Some(m) => format!("{} ({m})", self.host.kernel),
                None => self.host.kernel.clone(),
            },
        );
        line("exits handled:", self.exits.to_string());
        line("msr exits:", self.msr_exits.len().to_string());
        out
    }
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
