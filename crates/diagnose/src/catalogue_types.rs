//! The catalogue's vocabulary: the enums a `data/known-issues.toml` entry names. `build.rs`
//! includes this file too and deserializes the data file straight into these enums with serde,
//! so a name that is not a variant is a build error, and there is no second string table.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitRole {
    Fix,
    Introduced,
    Related,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A kernel bug with an upstream fix or a known bad range.
    Bug,
    /// A failure signature: what the failure class means, without one specific bug.
    Signature,
    /// A host configuration problem.
    Configuration,
    /// The guest (not KVM) is at fault.
    Guest,
}

/// Confidence level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
}

/// Failure event kinds a matcher can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    RunFailed,
    InternalError,
    EntryFailed,
    ExceptionExit,
    UnknownExit,
    TripleFault,
    TcgFatal,
}

/// Instruction classes the KVM emulator mostly does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsnClass {
    X87,
    Sse,
    Avx,
    Xsave,
    Mmx,
}

/// MSR classes for matchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsrKind {
    /// IA32_MCi_CTL, 0x400 + 4*i, i < KVM_MAX_MCE_BANKS (32).
    MciCtl,
    /// IA32_MCi_STATUS, 0x401 + 4*i.
    MciStatus,
    /// Anything set_msr_mce() does not handle.
    NotMce,
}

/// Predicates on the WRMSR value (EDX:EAX), reproducing set_msr_mce() of old and new kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValuePredicate {
    /// Rejected before 0471a7bd1bca, accepted after it (all ones with bit 0 clear, bit 10 either).
    MciCtlRejectedBeforeBit0FixOnly,
    /// Rejected by old and new kernels alike.
    MciCtlRejectedByAll,
    /// Accepted by every kernel (0, all ones, all ones with bit 10 clear).
    MciCtlAcceptedByAll,
    NonZero,
    Zero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeKind {
    Real,
    Vm86,
    Protected16,
    Protected32,
    Compat,
    Long64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegName {
    Cr0,
    Cr3,
    Cr4,
    Efer,
    Rflags,
    Rip,
    Rax,
    Rcx,
    Rdx,
    Rsp,
}

/// Derived facts about the dump a matcher can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatePredicate {
    BigRealMode,
    NotBigRealMode,
    CodeUnreadable,
    CodeIsFiller,
    FetchFailed,
    SegmentsAllNull,
    NotSegmentsAllNull,
    ResetStateNonResetRip,
    Smm,
    NotSmm,
    NoExtraData,
    ModernEmulationLayout,
    InsnNotMsr,
    ExitReasonNotEptMisconfig,
    /// CS.base + RIP within 0xa0000..=0xbffff with paging off (or CR0 unknown).
    RipInVgaWindow,
    /// No KVM/QEMU failure line: a register snapshot.
    NoFailureEvent,
}

/// What a platform region is (data/platform-regions.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// A device's registers: accesses exit to the VMM.
    Mmio,
    /// Read-only firmware.
    Rom,
}
