//! The vCPU loop: handles every exit, answers MSR exits through the [`MsrPolicy`], and stops
//! runaway guests with a wall-clock watchdog and an exit-count limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use kvm_bindings::{kvm_msr_entry, Msrs};
use kvm_ioctls::{
    MsrExitReason, MsrFilterDefaultAction, MsrFilterRange, MsrFilterRangeFlags, VcpuExit,
};

use crate::error::{ioctl_err, Result};
use crate::machine::{ports, CpuMode, Machine};
use crate::policy::{
    FilterPlan, MsrAccess, MsrPolicy, Verdict, MSR_EXIT_REASON_FILTER, MSR_EXIT_REASON_INVAL,
    MSR_EXIT_REASON_UNKNOWN, X2APIC_FIRST, X2APIC_LAST,
};
use kvmtriage_model::hex;
use kvmtriage_model::{CodeWindow, CpuState, Gpr, ModeDecision, ModeHints, SegName};

use crate::qemu_dump;
use crate::state;

/// Limits that stop a guest that never fails.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    /// Wall-clock budget of the whole run.
    pub wall: Duration,
    /// Maximum number of exits handled.
    pub max_exits: u64,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            wall: Duration::from_secs(5),
            max_exits: 1_000_000,
        }
    }
}

/// How the run ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// `KVM_EXIT_HLT`: the guest halted with interrupts off (normal end).
    Halted,
    /// The guest wrote a status byte to the done port.
    GuestDone {
        /// The byte.
        status: u8,
    },
    /// An exception reached the guest's own handler, which reported it on the exception port.
    GuestException {
        /// Vector (13 = #GP, 6 = #UD…).
        vector: u8,
        /// Mnemonic, e.g. `#GP`.
        name: String,
        /// Error code pushed by the CPU, for vectors that have one.
        #[serde(serialize_with = "hex::opt_u64")]
        error_code: Option<u64>,
        /// RIP saved in the exception frame (the faulting instruction).
        #[serde(serialize_with = "hex::opt_u64")]
        fault_rip: Option<u64>,
    },
    /// KVM_RUN returned -1 (or, with `simulated`, the modelled kernel would have).
    KvmRunFailed {
        /// errno.
        errno: i32,
        /// errno name.
        errno_name: String,
        /// True when this host's KVM did not fail and the VMM reproduced what the modelled
        /// kernel would have done (the MSR exit that triggered it is in the record).
        simulated: bool,
    },
    /// `KVM_EXIT_INTERNAL_ERROR`, with every data word from `kvm_run.internal`.
    InternalError {
        /// `kvm_run.internal.suberror`.
        suberror: u32,
        /// `kvm_run.internal.data[0..ndata]`.
        #[serde(serialize_with = "hex::vec_u64")]
        data: Vec<u64>,
    },
    /// `KVM_EXIT_SHUTDOWN` (triple fault).
    Shutdown,
    /// `KVM_EXIT_FAIL_ENTRY`.
    FailEntry {
        /// `hardware_entry_failure_reason`.
        #[serde(serialize_with = "hex::u64")]
        hardware_entry_failure_reason: u64,
        /// CPU that failed.
        cpu: u32,
    },
    /// `KVM_EXIT_MEMORY_FAULT` with KVM_RUN = -1 (EFAULT/EHWPOISON).
    MemoryFault {
        /// Flags.
        #[serde(serialize_with = "hex::u64")]
        flags: u64,
        /// Guest physical address.
        #[serde(serialize_with = "hex::u64")]
        gpa: u64,
        /// Size.
        #[serde(serialize_with = "hex::u64")]
        size: u64,
    },
    /// An exit this VMM does not handle (`KVM: unknown exit reason N` in QEMU).
    UnhandledExit {
        /// `kvm_run.exit_reason`.
        exit_reason: u32,
    },
    /// The wall-clock limit expired.
    WallClockLimit {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// The exit-count limit was reached.
    ExitLimit {
        /// The limit.
        limit: u64,
    },
}

impl Outcome {
    /// A VM-level failure (QEMU would stop the VM or, for shutdown, reset it).
    pub fn is_vm_failure(&self) -> bool {
        matches!(
            self,
            Outcome::KvmRunFailed { .. }
                | Outcome::InternalError { .. }
                | Outcome::Shutdown
                | Outcome::FailEntry { .. }
                | Outcome::MemoryFault { .. }
                | Outcome::UnhandledExit { .. }
        )
    }

    /// Stopped by a limit.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Outcome::WallClockLimit { .. } | Outcome::ExitLimit { .. }
        )
    }

    /// Short name, e.g. `kvm_run_failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Halted => "halted",
            Outcome::GuestDone { .. } => "guest_done",
            Outcome::GuestException { .. } => "guest_exception",
            Outcome::KvmRunFailed { .. } => "kvm_run_failed",
            Outcome::InternalError { .. } => "internal_error",
            Outcome::Shutdown => "shutdown",
            Outcome::FailEntry { .. } => "fail_entry",
            Outcome::MemoryFault { .. } => "memory_fault",
            Outcome::UnhandledExit { .. } => "unhandled_exit",
            Outcome::WallClockLimit { .. } => "wall_clock_limit",
            Outcome::ExitLimit { .. } => "exit_limit",
        }
    }
}

/// One MSR exit and its answer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MsrEvent {
    /// `KVM_EXIT_X86_RDMSR` or `KVM_EXIT_X86_WRMSR`.
    pub access: MsrAccess,
    /// ECX.
    #[serde(serialize_with = "hex::uint")]
    pub index: u32,
    /// WRMSR: EDX:EAX written. RDMSR: the value returned (0 if none).
    #[serde(serialize_with = "hex::u64")]
    pub value: u64,
    /// `kvm_run.msr.reason` name: INVAL, UNKNOWN or FILTER.
    pub kvm_reason: &'static str,
    /// The answer.
    pub verdict: Verdict,
    /// Who decided.
    pub decided_by: String,
    /// Guest RIP of the instruction.
    #[serde(serialize_with = "hex::u64")]
    pub rip: u64,
}

/// One MMIO exit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MmioEvent {
    /// Guest physical address.
    #[serde(serialize_with = "hex::u64")]
    pub gpa: u64,
    /// Write (true) or read.
    pub write: bool,
    /// Bytes written, or returned for a read (all 0xff: nothing is mapped there); JSON: one
    /// string of space-separated hex pairs (`"ff ff ff ff"`).
    #[serde(serialize_with = "hex::byte_string")]
    pub data: Vec<u8>,
}

/// Everything the run produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// How it ended.
    pub outcome: Outcome,
    /// The last MSR event if it was the one that ended the run.
    pub fatal_msr: Option<MsrEvent>,
    /// All MSR exits (at most the last 1000 kept).
    pub msr_events: Vec<MsrEvent>,
    /// MMIO exits (at most the first 1000 kept).
    pub mmio_events: Vec<MmioEvent>,
    /// Debug-console output.
    pub console: Vec<u8>,
    /// Exits handled.
    pub exits: u64,
    /// vCPU state at the end (before any MSR completion), read straight from KVM
    /// ([`state::capture`]).
    pub state: CpuState,
    /// `Code=` window at the end ([`qemu_dump::read_code_window`]).
    pub code: CodeWindow,
    /// Wall time of the run loop.
    pub elapsed: Duration,
}

/// Installs `plan` on the VM with `KVM_X86_SET_MSR_FILTER`.
pub fn install_msr_filter(machine: &Machine, plan: &FilterPlan) -> Result<()> {
    if plan.deny_all {
        // KVM rejects DEFAULT_DENY with no ranges (EINVAL, kvm_vm_ioctl_set_msr_filter), so
        // add one range that denies MSR 0 too.
        let bitmap = [0u8];
        let deny_msr0 = MsrFilterRange {
            flags: MsrFilterRangeFlags::READ | MsrFilterRangeFlags::WRITE,
            base: 0,
            msr_count: 1,
            bitmap: &bitmap,
        };
        return machine
            .vm()
            .set_msr_filter(MsrFilterDefaultAction::DENY, &[deny_msr0])
            .map_err(ioctl_err("KVM_X86_SET_MSR_FILTER"));
    }
    if plan.ranges.is_empty() {
        return Ok(());
    }
    let bitmaps: Vec<Vec<u8>> = plan
        .ranges
        .iter()
        .map(|r| vec![0u8; ((r.last - r.first + 1) as usize).div_ceil(8)])
        .collect();
    let ranges: Vec<MsrFilterRange<'_>> = plan
        .ranges
        .iter()
        .zip(&bitmaps)
        .map(|(r, bitmap)| {
            let mut flags = MsrFilterRangeFlags::empty();
            if r.reads {
                flags |= MsrFilterRangeFlags::READ;
            }
            if r.writes {
                flags |= MsrFilterRangeFlags::WRITE;
            }
            MsrFilterRange {
                flags,
                base: r.first,
                msr_count: r.last - r.first + 1,
                bitmap,
            }
        })
        .collect();
    machine
        .vm()
        .set_msr_filter(MsrFilterDefaultAction::ALLOW, &ranges)
        .map_err(ioctl_err("KVM_X86_SET_MSR_FILTER"))
}

static SIGNAL_HANDLER: Once = Once::new();

extern "C" fn kick_handler(_: libc::c_int) {}

fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN() + 2
}

/// Installs a no-op handler (without SA_RESTART) so the watchdog's signal makes KVM_RUN
/// return EINTR instead of killing the process.
fn install_kick_handler() {
    SIGNAL_HANDLER.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler is an
        // async-signal-safe no-op with the C ABI; the real-time signal is otherwise unused.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = kick_handler as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(kick_signal(), &action, std::ptr::null_mut());
        }
    });
}

struct Watchdog {
    expired: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(limit: Duration) -> Self {
        install_kick_handler();
        let expired = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        // SAFETY: pthread_self has no preconditions.
        let target = unsafe { libc::pthread_self() };
        let (exp, fin) = (expired.clone(), finished.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while !fin.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::park_timeout(deadline - now);
            }
            if fin.load(Ordering::Acquire) {
                return;
            }
            exp.store(true, Ordering::Release);
            // Keep kicking until the vCPU thread acknowledges: a signal that lands just before
            // it enters KVM_RUN would otherwise be lost.
            while !fin.load(Ordering::Acquire) {
                // SAFETY: `target` is the vCPU thread, alive until it sets `finished` and joins
                // this thread (see Drop); the signal has a no-op handler installed.
                unsafe { libc::pthread_kill(target, kick_signal()) };
                std::thread::park_timeout(Duration::from_millis(2));
            }
        });
        Self {
            expired,
            finished,
            thread: Some(thread),
        }
    }

    fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.finished.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Exception mnemonic, from the one exception table (crates/model/data/exceptions.toml).
pub fn exception_name(vector: u8) -> String {
    kvmtriage_model::tables::exception(u32::from(vector))
        .map_or_else(|| format!("vector {vector}"), |e| e.mnemonic.to_string())
}

fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Reads the exception frame the CPU pushed before the handler ran (the handler itself does
/// not touch the stack): [error code], RIP, CS, RFLAGS. The slot width follows the handler's
/// mode (the model's decider), the boot mode where it cannot tell.
fn exception_frame(machine: &Machine, state: &CpuState, vector: u8) -> (Option<u64>, Option<u64>) {
    let (width, with_error) = match machine.mode() {
        CpuMode::Real => (2, false),
        CpuMode::Protected => (4, has_error_code(vector)),
        CpuMode::Long => (8, has_error_code(vector)),
    };
    let mode = ModeDecision::decide(state, &ModeHints::default());
    let width = if mode.bits == Some(64) { 8 } else { width };
    let ss_base = state.segment(SegName::Ss).map_or(0, |ss| ss.base);
    let sp = ss_base.wrapping_add(state.gpr(Gpr::Rsp).unwrap_or(0));
    let read = |offset: u64| {
        state::read_linear_le(
            state,
            machine.memory(),
            sp.wrapping_add(offset),
            width as usize,
        )
    };
    if with_error {
        (read(0), read(width))
    } else {
        (None, read(0))
    }
}

/// A log line for stderr (MMIO, console, MSR decisions), handed to the caller as it happens.
pub type LogSink<'a> = &'a mut dyn FnMut(&str);

/// Runs the vCPU until the guest ends, fails, or a limit stops it.
pub fn run(
    machine: &mut Machine,
    policy: &mut MsrPolicy,
    limits: RunLimits,
    log: LogSink<'_>,
) -> Result<RunResult> {
    let start = Instant::now();
    let watchdog = Watchdog::start(limits.wall);
    let bank_count = (machine.mcg_cap() & 0xff) as u32;
    let mut exits: u64 = 0;
    let mut console = Vec::new();
    let mut msr_events: Vec<MsrEvent> = Vec::new();
    let mut mmio_events: Vec<MmioEvent> = Vec::new();
    let mut fatal_msr = None;
    let mut pending_completion = false;
    let outcome = loop {
        if watchdog.expired() {
            break Outcome::WallClockLimit {
                limit_ms: limits.wall.as_millis() as u64,
            };
        }
        if exits >= limits.max_exits {
            break Outcome::ExitLimit {
                limit: limits.max_exits,
            };
        }
        let exit = machine.vcpu_mut().run();
        pending_completion = false;
        let exit = match exit {
            Ok(exit) => exit,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
            Err(e) => {
                break Outcome::KvmRunFailed {
                    errno: e.errno(),
                    errno_name: crate::policy::errno_name(e.errno()),
                    simulated: false,
                }
            }
        };
        exits += 1;
        // Turn the borrowed exit into owned data first: the MSR path needs the vCPU again.
        let msr_exit = match exit {
            VcpuExit::IoOut(port, data) => match port {
                ports::CONSOLE => {
                    for &byte in data.iter() {
                        console.push(byte);
                        if byte == b'\n' {
                            let start = console[..console.len() - 1]
                                .iter()
                                .rposition(|&b| b == b'\n')
                                .map_or(0, |p| p + 1);
                            let line = String::from_utf8_lossy(&console[start..console.len() - 1]);
                            log(&format!("guest console: {line}"));
                        }
                    }
                    continue;
                }
                ports::EXCEPTION => {
                    let vector = data.first().copied().unwrap_or(0);
                    let state = state::capture(machine.vcpu())?;
                    let (error_code, fault_rip) = exception_frame(machine, &state, vector);
                    break Outcome::GuestException {
                        vector,
                        name: exception_name(vector),
                        error_code,
                        fault_rip,
                    };
                }
                ports::DONE => {
                    break Outcome::GuestDone {
                        status: data.first().copied().unwrap_or(0),
                    }
                }
                _ => {
                    log(&format!("pio out port {port:#x}: {}", hex::bytes(data)));
                    continue;
                }
            },
            VcpuExit::IoIn(port, data) => {
                data.fill(0xff);
                pending_completion = true;
                log(&format!("pio in port {port:#x}: no device, returned 0xff"));
                continue;
            }
            VcpuExit::MmioWrite(gpa, data) => {
                log(&format!(
                    "mmio write {gpa:#x} [{}]: {}",
                    data.len(),
                    hex::bytes(data)
                ));
                if mmio_events.len() < 1000 {
                    mmio_events.push(MmioEvent {
                        gpa,
                        write: true,
                        data: data.to_vec(),
                    });
                }
                continue;
            }
            VcpuExit::MmioRead(gpa, data) => {
                data.fill(0xff);
                pending_completion = true;
                log(&format!(
                    "mmio read {gpa:#x} [{}]: nothing mapped, returned {}",
                    data.len(),
                    hex::bytes(data)
                ));
                if mmio_events.len() < 1000 {
                    mmio_events.push(MmioEvent {
                        gpa,
                        write: false,
                        data: data.to_vec(),
                    });
                }
                continue;
            }
            VcpuExit::Hlt => break Outcome::Halted,
            VcpuExit::Shutdown => break Outcome::Shutdown,
            VcpuExit::InternalError => {
                let run = machine.vcpu_mut().get_kvm_run();
                // SAFETY: exit_reason is KVM_EXIT_INTERNAL_ERROR, so the kernel filled the
                // `internal` member of the union (include/uapi/linux/kvm.h).
                let internal = unsafe { run.__bindgen_anon_1.internal };
                let ndata = (internal.ndata as usize).min(internal.data.len());
                break Outcome::InternalError {
                    suberror: internal.suberror,
                    data: internal.data[..ndata].to_vec(),
                };
            }
            VcpuExit::FailEntry(reason, cpu) => {
                break Outcome::FailEntry {
                    hardware_entry_failure_reason: reason,
                    cpu,
                }
            }
            VcpuExit::MemoryFault { flags, gpa, size } => {
                break Outcome::MemoryFault { flags, gpa, size }
            }
            VcpuExit::Intr => continue,
            VcpuExit::X86Rdmsr(e) => (MsrAccess::Rdmsr, e.index, 0u64, e.reason),
            VcpuExit::X86Wrmsr(e) => (MsrAccess::Wrmsr, e.index, e.data, e.reason),
            _ => {
                let exit_reason = machine.vcpu_mut().get_kvm_run().exit_reason;
                break Outcome::UnhandledExit { exit_reason };
            }
        };
        let (access, index, data, reason) = msr_exit;
        let kvm_reason = if reason.contains(MsrExitReason::Filter) {
            MSR_EXIT_REASON_FILTER
        } else if reason.contains(MsrExitReason::Unknown) {
            MSR_EXIT_REASON_UNKNOWN
        } else {
            MSR_EXIT_REASON_INVAL
        };
        let vcpu = machine.vcpu();
        let decision = policy.decide(access, index, data, kvm_reason, bank_count, || {
            can_set_mci_status(vcpu)
        });
        let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
        let mut verdict = decision.verdict;
        let mut decided_by = decision.decided_by;
        let mut value = data;
        let x2apic =
            (X2APIC_FIRST..=X2APIC_LAST).contains(&index) && kvm_reason == MSR_EXIT_REASON_INVAL;
        if verdict == Verdict::Allow {
            match access {
                MsrAccess::Wrmsr if x2apic => policy.x2apic_write(index, data),
                MsrAccess::Rdmsr if x2apic => value = policy.x2apic_read(index),
                MsrAccess::Wrmsr => {
                    if !set_msr(vcpu, index, data) {
                        verdict = Verdict::GeneralProtection;
                        decided_by.push_str("; KVM_SET_MSRS rejected it -> #GP");
                    }
                }
                MsrAccess::Rdmsr => match get_msr(vcpu, index) {
                    Some(v) => value = v,
                    None => {
                        verdict = Verdict::GeneralProtection;
                        decided_by.push_str("; KVM_GET_MSRS rejected it -> #GP");
                    }
                },
            }
        } else if verdict == Verdict::Ignore {
            value = 0;
        }
        let event = MsrEvent {
            access,
            index,
            value,
            kvm_reason: crate::policy::msr_exit_reason_name(kvm_reason),
            verdict,
            decided_by,
            rip,
        };
        log(&format!(
            "{access} {index:#x} value {value:#x} (KVM {}) -> {} by {}",
            event.kvm_reason,
            crate::report::verdict_text(&event.verdict),
            event.decided_by
        ));
        if msr_events.len() >= 1000 {
            msr_events.remove(0);
        }
        msr_events.push(event.clone());
        if let Verdict::Fatal { errno } = verdict {
            fatal_msr = Some(event);
            break Outcome::KvmRunFailed {
                errno,
                errno_name: crate::policy::errno_name(errno),
                simulated: true,
            };
        }
        let run = machine.vcpu_mut().get_kvm_run();
        // The last exit was KVM_EXIT_X86_RDMSR/WRMSR, so `msr` is the live union member; KVM
        // reads `error` and (for RDMSR) `data` when the vCPU re-enters (writes are safe Rust).
        run.__bindgen_anon_1.msr.error = u8::from(verdict == Verdict::GeneralProtection);
        if access == MsrAccess::Rdmsr {
            run.__bindgen_anon_1.msr.data = value;
        }
        pending_completion = true;
    };
    if outcome.is_limit() && pending_completion {
        // Flush a pending PIO/MMIO/MSR completion so the snapshot is architecturally
        // consistent: KVM_RUN with immediate_exit = 1 completes it and returns EINTR.
        let vcpu = machine.vcpu_mut();
        vcpu.set_kvm_immediate_exit(1);
        let _ = vcpu.run();
        vcpu.set_kvm_immediate_exit(0);
    }
    drop(watchdog);
    if let Some(tail) = console
        .rsplit(|&b| b == b'\n')
        .next()
        .filter(|t| !t.is_empty())
    {
        log(&format!("guest console: {}", String::from_utf8_lossy(tail)));
    }
    let state = state::capture(machine.vcpu())?;
    let code = qemu_dump::read_code_window(&state, machine.memory());
    Ok(RunResult {
        outcome,
        fatal_msr,
        msr_events,
        mmio_events,
        console,
        exits,
        state,
        code,
        elapsed: start.elapsed(),
    })
}

fn set_msr(vcpu: &kvm_ioctls::VcpuFd, index: u32, data: u64) -> bool {
    let Ok(msrs) = Msrs::from_entries(&[kvm_msr_entry {
        index,
        data,
        ..Default::default()
    }]) else {
        return false;
    };
    matches!(vcpu.set_msrs(&msrs), Ok(1))
}

fn get_msr(vcpu: &kvm_ioctls::VcpuFd, index: u32) -> Option<u64> {
    let mut msrs = Msrs::from_entries(&[kvm_msr_entry {
        index,
        ..Default::default()
    }])
    .ok()?;
    match vcpu.get_msrs(&mut msrs) {
        Ok(1) => Some(msrs.as_slice()[0].data),
        _ => None,
    }
}

/// `can_set_mci_status()` (arch/x86/kvm/x86.c): on AMD/Hygon guests, HWCR.McStatusWrEn
/// (MSR_K7_HWCR 0xc0010015, bit 18) lets the guest write non-zero MCi_STATUS.
fn can_set_mci_status(vcpu: &kvm_ioctls::VcpuFd) -> bool {
    // The guest sees the host's CPUID (KVM_GET_SUPPORTED_CPUID), so the host vendor is the
    // guest vendor.
    let leaf0 = std::arch::x86_64::__cpuid(0);
    let amd = (leaf0.ebx, leaf0.edx, leaf0.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163) // AuthenticAMD
        || (leaf0.ebx, leaf0.edx, leaf0.ecx) == (0x6f67_7948, 0x6e65_476e, 0x656e_6975); // HygonGenuine
    amd && get_msr(vcpu, 0xc001_0015).is_some_and(|hwcr| hwcr & (1 << 18) != 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn exception_names() {
        assert_eq!(super::exception_name(13), "#GP");
        assert_eq!(super::exception_name(6), "#UD");
        assert_eq!(super::exception_name(200), "vector 200");
    }
}
