//! Tables generated at build time from `data/*.toml`: register bits, errno, exception vectors,
//! KVM exit reasons and internal-error suberrors, VMX exit reasons, SVM exit codes. Each fact
//! lives in one data file with its source; every crate reads it from here.

/// One named bit field of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitDef {
    pub bit: u8,
    pub width: u8,
    pub name: &'static str,
    pub description: &'static str,
    pub source: &'static str,
}

/// An exception vector (SDM Vol. 3A Table 6-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub vector: u8,
    /// `#GP`, `NMI`, ….
    pub mnemonic: &'static str,
    pub name: &'static str,
    /// The CPU pushes an error code.
    pub error_code: bool,
    /// fault, trap, abort or interrupt.
    pub class: &'static str,
}

/// A KVM internal-error suberror (KVM_INTERNAL_ERROR_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suberror {
    pub number: u32,
    /// `KVM_INTERNAL_ERROR_EMULATION`.
    pub name: &'static str,
    /// `EMULATION`.
    pub short: &'static str,
    pub meaning: &'static str,
}

/// A VMX basic exit reason (SDM Vol. 3D Appendix C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitReasonInfo {
    pub number: u32,
    pub name: &'static str,
    pub description: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/tables.rs"));

/// Exception vector 0–31 (`None` for reserved vectors).
pub fn exception(vector: u32) -> Option<&'static Exception> {
    EXCEPTIONS.iter().find(|e| u32::from(e.vector) == vector)
}

/// KVM_EXIT_* name of a `kvm_run.exit_reason`.
pub fn kvm_exit_name(n: u64) -> Option<&'static str> {
    usize::try_from(n)
        .ok()
        .and_then(|i| KVM_EXITS.get(i))
        .map(|(_, name)| *name)
}

/// KVM_INTERNAL_ERROR_* suberror.
pub fn suberror(n: u32) -> Option<&'static Suberror> {
    KVM_SUBERRORS.iter().find(|s| s.number == n)
}

/// VMX basic exit reason by number (the low 16 bits of the exit reason).
pub fn vmx_exit_reason(number: u32) -> Option<&'static ExitReasonInfo> {
    VMX_EXIT_REASONS
        .binary_search_by_key(&number, |r| r.number)
        .ok()
        .and_then(|i| VMX_EXIT_REASONS.get(i))
}

/// SVM exit code name (`SVM_EXIT_NPF`, `SVM_EXIT_ERR` for all ones).
pub fn svm_exit_name(code: u64) -> Option<&'static str> {
    SVM_EXIT_CODES
        .binary_search_by_key(&code, |(n, _)| *n)
        .ok()
        .map(|i| SVM_EXIT_CODES[i].1)
}

/// Linux errno (number, symbolic name) for a strerror text (glibc or musl),
/// or for glibc's `Unknown error N`.
pub fn errno_from_text(text: &str) -> Option<(i32, Option<&'static str>)> {
    let text = text.trim().trim_end_matches('.');
    if let Some(&(n, name, _)) = ERRNO.iter().find(|(_, _, t)| t.eq_ignore_ascii_case(text)) {
        return Some((n, Some(name)));
    }
    let n: i32 = text.strip_prefix("Unknown error ")?.trim().parse().ok()?;
    let name = ERRNO_NAMES
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, name)| *name);
    Some((n, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(exception(13).map(|e| e.mnemonic), Some("#GP"));
        assert_eq!(exception(15), None);
        assert_eq!(kvm_exit_name(17), Some("KVM_EXIT_INTERNAL_ERROR"));
        assert_eq!(suberror(3).map(|s| s.short), Some("DELIVERY_EV"));
        assert_eq!(vmx_exit_reason(49).map(|r| r.name), Some("EPT_MISCONFIG"));
        assert_eq!(svm_exit_name(u64::MAX), Some("SVM_EXIT_ERR"));
        assert_eq!(svm_exit_name(0x400), Some("SVM_EXIT_NPF"));
        assert_eq!(
            errno_from_text("Operation not permitted"),
            Some((1, Some("EPERM")))
        );
    }
}
