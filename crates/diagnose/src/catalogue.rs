//! Types of the build-time tables (`data/*.toml` → `$OUT_DIR/tables.rs`) and the catalogue API.

use serde::Serialize;

pub use crate::catalogue_types::{
    CommitRole, EventKind, InsnClass, IssueKind, Level, ModeKind, MsrKind, RegName, RegionKind,
    StatePredicate, ValuePredicate,
};

use crate::kernel::KernelVersion;

/// An upstream kernel version `major.minor.patch` as used in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Ver {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for Ver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

/// Which kernels carry an issue: `[from, fixed_in)` upstream, minus stable releases that got the
/// fix (`backports`: a 5.15.61 entry means every 5.15.x with x >= 61 is fixed).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KernelRange {
    pub from: Option<Ver>,
    pub fixed_in: Option<Ver>,
    pub backports: &'static [Ver],
    /// The range in words (see [`KernelRange::describe`]).
    pub text: &'static str,
    /// `fixed_in` as written in the data file ("6.0").
    pub fixed_in_text: Option<&'static str>,
}

impl KernelRange {
    /// Whether a kernel with this upstream version number carries the issue.
    pub fn contains(&self, v: &KernelVersion) -> bool {
        let key = (v.major, v.minor, v.patch);
        if let Some(from) = self.from {
            if key < (from.major, from.minor, from.patch) {
                return false;
            }
        }
        if let Some(fixed) = self.fixed_in {
            if key >= (fixed.major, fixed.minor, fixed.patch) {
                return false;
            }
        }
        !self
            .backports
            .iter()
            .any(|b| b.major == v.major && b.minor == v.minor && v.patch >= b.patch)
    }

    /// The stable release of the host's series that carries the fix, if any.
    pub fn backport_for(&self, v: &KernelVersion) -> Option<Ver> {
        self.backports
            .iter()
            .copied()
            .find(|b| b.major == v.major && b.minor == v.minor)
    }

    /// "5.10 up to (not including) 6.0; fixed in stable 5.10.137, ..." (built at compile time).
    pub fn describe(&self) -> &'static str {
        self.text
    }
}

/// One upstream kernel commit named by a catalogue entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Commit {
    /// Full (40 hex digit) id where verified in full, else the verified abbreviated id.
    pub id: &'static str,
    pub title: &'static str,
    pub first_version: Option<&'static str>,
    pub role: CommitRole,
    /// The id and title were checked against public kernel mail or trees.
    pub verified: bool,
    pub note: Option<&'static str>,
}

impl Commit {
    /// The conventional 12-digit abbreviation.
    pub fn short(&self) -> &'static str {
        self.id.get(..12).unwrap_or(self.id)
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// `(reg & mask) == eq`, negated when `ne`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RegPredicate {
    pub reg: RegName,
    pub mask: u64,
    pub eq: u64,
    pub ne: bool,
}

/// The matcher of a catalogue entry: every non-empty predicate must hold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Matcher {
    pub event: Option<EventKind>,
    pub errno: &'static [&'static str],
    pub suberror: &'static [u32],
    pub hardware_reason: &'static [u64],
    pub vector: &'static [u32],
    pub exit_reason: &'static [u32],
    pub instruction: &'static [&'static str],
    pub instruction_class: &'static [InsnClass],
    pub msr_ranges: &'static [(u32, u32)],
    pub msr_kind: Option<MsrKind>,
    pub value: Option<ValuePredicate>,
    pub modes: &'static [ModeKind],
    pub regs: &'static [RegPredicate],
    pub gpa_ranges: &'static [(u64, u64)],
    pub emulation_flags: Option<u64>,
    pub state: &'static [StatePredicate],
    pub message_contains: &'static [&'static str],
}

/// One entry of the known-issue catalogue (`data/known-issues.toml`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KnownIssue {
    pub id: &'static str,
    pub kind: IssueKind,
    pub confidence: Level,
    pub title: &'static str,
    /// Verdict clause, with `{msr}`-style placeholders.
    pub summary: &'static str,
    pub explanation: &'static str,
    pub affected: Option<KernelRange>,
    pub commits: &'static [Commit],
    /// 12-digit ids of `commits`, fixes first.
    pub commit_ids: &'static [&'static str],
    pub workarounds: &'static [&'static str],
    pub next_steps: &'static [&'static str],
    pub references: &'static [&'static str],
    pub matcher: Matcher,
}

impl KnownIssue {
    /// First upstream version with the fix ("6.0"), if the entry names one.
    pub fn fixed_in(&self) -> Option<Ver> {
        self.affected.and_then(|a| a.fixed_in)
    }

    /// Whether this issue affects a kernel with that version number (None: the entry has no range).
    pub fn affects(&self, v: &KernelVersion) -> Option<bool> {
        self.affected.map(|a| a.contains(v))
    }
}

pub use kvmtriage_model::tables::{ExitReasonInfo, VMX_EXIT_REASONS};

/// A VM-instruction error number (SDM Vol. 3C §31.4).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VmInstructionErrorInfo {
    pub number: u32,
    pub description: &'static str,
}

/// What a KVM_RUN errno means and where KVM returns it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ErrnoInfo {
    pub number: i32,
    pub name: &'static str,
    /// Clause for the verdict sentence.
    pub short: &'static str,
    pub strerror: &'static str,
    pub meaning: &'static str,
    pub sources: &'static [&'static str],
    pub next_steps: &'static [&'static str],
}

mod generated {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/tables.rs"));
}

pub use generated::{CATALOGUE, ERRNOS, PLATFORM_REGIONS, VM_INSTRUCTION_ERRORS};

/// A guest-physical platform region that is not RAM (data/platform-regions.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlatformRegion {
    pub name: &'static str,
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub start: u64,
    /// Inclusive.
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub end: u64,
    pub kind: RegionKind,
}

/// The first platform region that holds `address`.
pub fn platform_region(address: u64) -> Option<&'static PlatformRegion> {
    PLATFORM_REGIONS
        .iter()
        .find(|r| (r.start..=r.end).contains(&address))
}

/// The whole known-issue catalogue.
pub fn catalogue() -> &'static [KnownIssue] {
    CATALOGUE
}

/// Catalogue entries with a kernel range that contains `v` (by upstream version number; distro
/// kernels may carry backports, see [`KernelVersion::is_distribution_build`]).
pub fn issues_affecting(v: &KernelVersion) -> Vec<&'static KnownIssue> {
    CATALOGUE
        .iter()
        .filter(|i| i.affects(v) == Some(true))
        .collect()
}

/// VMX basic exit reason by number.
pub fn exit_reason(number: u32) -> Option<&'static ExitReasonInfo> {
    kvmtriage_model::tables::vmx_exit_reason(number)
}

/// VM-instruction error by number.
pub fn vm_instruction_error(number: u64) -> Option<&'static VmInstructionErrorInfo> {
    VM_INSTRUCTION_ERRORS
        .iter()
        .find(|e| u64::from(e.number) == number)
}

/// Errno by name ("EPERM") or number.
pub fn errno_by_name(name: &str) -> Option<&'static ErrnoInfo> {
    ERRNOS.iter().find(|e| e.name == name)
}

pub fn errno_by_number(n: i32) -> Option<&'static ErrnoInfo> {
    ERRNOS.iter().find(|e| e.number == n)
}

/// Errno by QEMU's strerror text ("Operation not permitted").
pub fn errno_by_strerror(text: &str) -> Option<&'static ErrnoInfo> {
    let (number, _) = kvmtriage_model::tables::errno_from_text(text)?;
    errno_by_number(number)
}

impl From<kvmtriage_x86::InsnClass> for InsnClass {
    fn from(c: kvmtriage_x86::InsnClass) -> Self {
        use kvmtriage_x86::InsnClass as X;
        match c {
            X::X87 => InsnClass::X87,
            X::Sse => InsnClass::Sse,
            X::Avx => InsnClass::Avx,
            X::Xsave => InsnClass::Xsave,
            X::Mmx => InsnClass::Mmx,
        }
    }
}
