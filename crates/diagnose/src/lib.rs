//! kvmtriage-diagnose: from a QEMU x86 dump to a verdict.
//!
//! Classifies the failure KVM reported (KVM_RUN errno, internal-error suberror with its extra
//! data, entry-failure code, exception exit, triple fault), runs the VMX guest-state checks that a
//! dump allows (Intel SDM Vol. 3C §28.3.1), weighs the known-issue catalogue
//! (`data/known-issues.toml`, compiled into tables at build time) and writes the verdict: one
//! sentence, evidence, confidence, next steps.
//!
//! Pure: no I/O, no printing. The entry point is [`diagnose`].

mod adapter;
pub mod catalogue;
pub mod catalogue_types;
pub mod decode;
pub mod facts;
pub mod findings;
pub mod kernel;
pub mod matcher;
pub mod verdict;
pub mod vmx;

pub use catalogue::{catalogue, issues_affecting, KnownIssue, Level};
pub use facts::Facts;
pub use kernel::{KernelVersion, KernelVersionError};
pub use verdict::{
    diagnose, diagnose_facts, disassemble, Classification, Confidence, DiagnoseOptions, Diagnosis,
    IssueReport,
};
