//! kvmtriage-kvm: a small KVM VMM (one vCPU, flat guest memory) that runs built-in or user
//! guest programs on the real `/dev/kvm`, answers their MSR accesses according to a kernel
//! model or injected failures, and reports a failure the way QEMU 7.2 does plus the exit
//! record QEMU leaves out. Linux/x86-64 only.
//!
//! The vCPU state is read from KVM straight into the one CPU-state model,
//! [`kvmtriage_model::CpuState`] ([`state::capture`]); QEMU's text is printed from it
//! ([`qemu_dump::register_dump`]), the JSON reads it in place ([`Report::json`]), and
//! [`Report::dump`] hands it to `kvmtriage explain`'s analysis without text.
//!
//! Constants cite include/uapi/linux/kvm.h (KVM ABI) and the Intel SDM.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
// Every `unsafe` block says why it is sound (`// SAFETY:`), citing the KVM ABI where it applies.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod error;
pub mod host;
pub mod machine;
pub mod memory;
pub mod policy;
pub mod qemu_dump;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod state;

pub use error::{Error, Result};
pub use machine::{CpuMode, Machine, MachineConfig};
pub use policy::{InjectRule, KvmModel, MsrPolicy};
pub use report::Report;
pub use run::{Outcome, RunLimits, RunResult};

/// The guest program of a run.
#[derive(Clone, Debug)]
pub enum Guest {
    /// A built-in scenario.
    Scenario(&'static scenarios::Scenario),
    /// A flat binary loaded at `load`, entered at `entry`, in `mode`.
    Image {
        /// Name shown in the report.
        name: String,
        /// Bytes.
        bytes: Vec<u8>,
        /// Boot mode.
        mode: CpuMode,
        /// Guest-physical load address.
        load: u64,
        /// Entry address (linear; in real mode below 1 MiB).
        entry: u64,
    },
}

impl Guest {
    /// Boot mode.
    pub fn mode(&self) -> CpuMode {
        match self {
            Guest::Scenario(s) => s.mode,
            Guest::Image { mode, .. } => *mode,
        }
    }

    /// Name for the report.
    pub fn name(&self) -> String {
        match self {
            Guest::Scenario(s) => s.name.to_string(),
            Guest::Image { name, .. } => name.clone(),
        }
    }
}

/// A complete `repro` request.
#[derive(Clone, Debug)]
pub struct Request {
    /// What to run.
    pub guest: Guest,
    /// Kernel model.
    pub model: KvmModel,
    /// Injection rules.
    pub rules: Vec<InjectRule>,
    /// Limits.
    pub limits: RunLimits,
    /// Guest RAM in bytes.
    pub mem_size: usize,
}

impl Request {
    /// A request with default limits and memory.
    pub fn new(guest: Guest, model: KvmModel, rules: Vec<InjectRule>) -> Self {
        Self {
            guest,
            model,
            rules,
            limits: RunLimits::default(),
            mem_size: machine::layout::DEFAULT_MEM_SIZE,
        }
    }
}

/// All KVM_MSR_EXIT_REASON_* bits (include/uapi/linux/kvm.h).
pub const USER_SPACE_MSR_ALL: u32 = policy::MSR_EXIT_REASON_INVAL
    | policy::MSR_EXIT_REASON_UNKNOWN
    | policy::MSR_EXIT_REASON_FILTER;

/// Builds the VM for `request` (memory, vCPU, boot state, MSR filter, guest program) without
/// running it.
pub fn prepare(request: &Request) -> Result<(Machine, MsrPolicy)> {
    let mode = request.guest.mode();
    let mut machine = Machine::new(&MachineConfig {
        mem_size: request.mem_size,
        mode,
        user_space_msr_mask: USER_SPACE_MSR_ALL,
    })?;
    let mut policy = MsrPolicy::new(request.model, request.rules.clone());
    policy.ignore_msrs = host::ignore_msrs();
    match &request.guest {
        Guest::Scenario(s) => {
            policy.scenario_denied = s.denied.to_vec();
            let code = s.assemble()?;
            machine.load(machine::layout::CODE, &code)?;
        }
        Guest::Image {
            bytes, load, entry, ..
        } => {
            if mode == CpuMode::Real && *entry >= 0x10_0000 {
                return Err(Error::Guest(format!(
                    "real-mode entry {entry:#x} is above 1 MiB"
                )));
            }
            let end = load.saturating_add(bytes.len() as u64);
            if let Some((start, stop, what)) = mode
                .reserved_ranges()
                .iter()
                .find(|(start, stop, _)| *load < *stop && end > *start)
            {
                return Err(Error::Guest(format!(
                    "image at [{load:#x}, {end:#x}) overlaps the VMM's {what} at [{start:#x}, {stop:#x}) in {}-bit mode; load it elsewhere (default {:#x})",
                    mode.bitness(),
                    machine::layout::CODE
                )));
            }
            machine.load(*load, bytes)?;
            machine.reset_cpu(*entry, machine::layout::STACK_TOP)?;
        }
    }
    run::install_msr_filter(&machine, &policy.filter_plan())?;
    Ok((machine, policy))
}

/// Runs `request` to its end. Log lines (console, MMIO, MSR decisions) go to `log`.
pub fn reproduce(request: &Request, log: run::LogSink<'_>) -> Result<(Report, RunResult)> {
    let (mut machine, mut policy) = prepare(request)?;
    let result = run::run(&mut machine, &mut policy, request.limits, log)?;
    let vendor = host::vendor_modules();
    let report = Report::new(
        request.guest.name(),
        request.guest.mode(),
        request.model.to_string(),
        request.rules.iter().map(|r| r.text.clone()).collect(),
        report::HostFacts {
            kernel: host::kernel_release(),
            vendor_module: vendor.into_iter().next(),
        },
        &result,
    );
    Ok((report, result))
}

/// `/dev/kvm` can be opened.
pub fn kvm_available() -> bool {
    kvm_ioctls::Kvm::new().is_ok()
}
