//! Error type of the crate.

use vmm_sys_util::errno;

/// Everything that can go wrong while setting up or driving the mini-VMM.
///
/// A guest that fails is *not* an error: that is a [`crate::Outcome`]. These are failures of
/// the host side (no `/dev/kvm`, an ioctl refused, a bad command-line rule).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/dev/kvm` could not be opened.
    #[error("cannot open /dev/kvm: {0} (is the kvm module loaded and do you have access?)")]
    NoKvm(errno::Error),
    /// A KVM ioctl failed during setup or state capture.
    #[error("{what} failed: {source}")]
    Ioctl {
        /// The ioctl, e.g. `KVM_SET_SREGS`.
        what: &'static str,
        /// errno returned by the kernel.
        source: errno::Error,
    },
    /// The host KVM lacks a capability the run needs.
    #[error("this host's KVM lacks {0}")]
    MissingCapability(&'static str),
    /// Guest memory could not be mapped or an access was out of range.
    #[error("guest memory: {0}")]
    Memory(String),
    /// The built-in assembler rejected a scenario program (a bug in the catalogue).
    #[error("assembling scenario `{scenario}`: {message}")]
    Assemble {
        /// Scenario name.
        scenario: String,
        /// iced-x86's message.
        message: String,
    },
    /// An `--inject` rule does not parse.
    #[error("bad --inject rule `{rule}`: {why}")]
    InjectRule {
        /// The rule as given.
        rule: String,
        /// What is wrong with it.
        why: String,
    },
    /// A `--kvm-model` name is unknown.
    #[error("unknown KVM model `{0}` (expected host, linux-5.10 … linux-5.19 or linux-6.0)")]
    UnknownModel(String),
    /// A scenario name is unknown.
    #[error("unknown scenario `{0}` (see `kvmtriage repro --list`)")]
    UnknownScenario(String),
    /// A user guest image does not fit.
    #[error("guest image: {0}")]
    Guest(String),
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn ioctl_err(what: &'static str) -> impl FnOnce(errno::Error) -> Error {
    move |source| Error::Ioctl { what, source }
}
