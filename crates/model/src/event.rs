//! What the VMM said happened: the event line(s) around a register dump (`kvm_cpu_exec` /
//! `kvm_handle_internal_error` in QEMU's `accel/kvm/kvm-all.c`, TCG's fatal paths), each with the
//! input line it was read from.

use serde::Serialize;

/// What QEMU printed before (or, for TCG triple faults, after) the dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// `error: kvm run failed <strerror>`: the KVM_RUN ioctl failed.
    RunFailed {
        /// Linux errno recovered from the strerror text (`None` if unknown).
        errno: Option<i32>,
        /// Symbolic errno name (`EPERM`, `EFAULT`, ...).
        errno_name: Option<&'static str>,
        /// The strerror text as printed.
        message: String,
        line: u32,
    },
    /// `KVM internal error. Suberror: N` (KVM_EXIT_INTERNAL_ERROR) with the
    /// `extra data[i]` words (linux/kvm.h `kvm_run.internal.data`).
    InternalError {
        suberror: u32,
        /// KVM_INTERNAL_ERROR_* name from linux/kvm.h (EMULATION, SIMUL_EX,
        /// DELIVERY_EV, UNEXPECTED_EXIT_REASON).
        suberror_name: Option<&'static str>,
        #[serde(serialize_with = "crate::hex::vec_u64")]
        extra_data: Vec<u64>,
        /// Line of each `extra data[i]` word (same order as `extra_data`).
        extra_data_lines: Vec<u32>,
        /// An `emulation failure` line followed.
        emulation_failure: bool,
        line: u32,
    },
    /// `KVM: entry failed, hardware error 0x…` (KVM_EXIT_FAIL_ENTRY).
    EntryFailed {
        #[serde(serialize_with = "crate::hex::u64")]
        hardware_error: u64,
        line: u32,
    },
    /// `KVM: exception N exit (error code 0x…)` (KVM_EXIT_EXCEPTION).
    ExceptionExit {
        exception: u32,
        #[serde(serialize_with = "crate::hex::u64")]
        error_code: u64,
        line: u32,
    },
    /// `KVM: unknown exit, hardware reason …` (KVM_EXIT_UNKNOWN) or
    /// `KVM: unknown exit reason N`.
    UnknownExit {
        #[serde(serialize_with = "crate::hex::opt_u64")]
        hardware_reason: Option<u64>,
        exit_reason: Option<u64>,
        message: String,
        line: u32,
    },
    /// `KVM internal error: Encountered a notify exit with invalid context in guest.`
    NotifyExit { line: u32 },
    /// `Failed to get registers: …` / `Failed to put registers …` (QEMU ≥ 8).
    RegistersFailed { message: String, line: u32 },
    /// `CPU Reset (CPU N)` from `-d cpu_reset`: the dump shows the state
    /// just before the reset.
    CpuReset { cpu: u32, line: u32 },
    /// TCG `Triple fault`: printed after the dump it concerns, or just
    /// before the `-d cpu_reset` dump of the reset it caused. `kvmtriage-analyze`
    /// also sets it for a `kvmtriage repro` dump whose exit record says
    /// KVM_EXIT_SHUTDOWN.
    TripleFault { line: u32 },
    /// `qemu: fatal: …` (TCG).
    Fatal { message: String, line: u32 },
    /// No event line: `info registers`, `-d cpu` logs, or a bare dump.
    #[default]
    None,
}

impl Event {
    /// The `kind` tag as it appears in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunFailed { .. } => "run_failed",
            Event::InternalError { .. } => "internal_error",
            Event::EntryFailed { .. } => "entry_failed",
            Event::ExceptionExit { .. } => "exception_exit",
            Event::UnknownExit { .. } => "unknown_exit",
            Event::NotifyExit { .. } => "notify_exit",
            Event::RegistersFailed { .. } => "registers_failed",
            Event::CpuReset { .. } => "cpu_reset",
            Event::TripleFault { .. } => "triple_fault",
            Event::Fatal { .. } => "fatal",
            Event::None => "none",
        }
    }

    /// Input line of the event message, if any.
    pub fn line(&self) -> Option<u32> {
        match self {
            Event::RunFailed { line, .. }
            | Event::InternalError { line, .. }
            | Event::EntryFailed { line, .. }
            | Event::ExceptionExit { line, .. }
            | Event::UnknownExit { line, .. }
            | Event::NotifyExit { line }
            | Event::RegistersFailed { line, .. }
            | Event::CpuReset { line, .. }
            | Event::TripleFault { line }
            | Event::Fatal { line, .. } => Some(*line),
            Event::None => None,
        }
    }

    /// The event's input line, to set once the reader knows it.
    pub fn line_mut(&mut self) -> Option<&mut u32> {
        match self {
            Event::RunFailed { line, .. }
            | Event::InternalError { line, .. }
            | Event::EntryFailed { line, .. }
            | Event::ExceptionExit { line, .. }
            | Event::UnknownExit { line, .. }
            | Event::NotifyExit { line }
            | Event::RegistersFailed { line, .. }
            | Event::CpuReset { line, .. }
            | Event::TripleFault { line }
            | Event::Fatal { line, .. } => Some(line),
            Event::None => None,
        }
    }
}
