//! What this host's KVM offers: `/dev/kvm` access, API version, capabilities, module
//! parameters, kernel release and vendor module.

use kvm_ioctls::Kvm;

/// One capability and `KVM_CHECK_EXTENSION`'s answer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CapabilityValue {
    /// `KVM_CAP_*` name (include/uapi/linux/kvm.h).
    pub name: &'static str,
    /// Number.
    pub number: u32,
    /// Answer (0 = absent; some caps return a count or mask).
    pub value: i32,
    /// Why it matters here.
    pub why: &'static str,
}

/// The capabilities `kvmtriage` cares about (numbers from include/uapi/linux/kvm.h).
pub const CAPABILITIES: &[(&str, u32, &str)] = &[
    (
        "KVM_CAP_X86_USER_SPACE_MSR",
        188,
        "MSR exits to the VMM (INVAL|UNKNOWN|FILTER)",
    ),
    ("KVM_CAP_X86_MSR_FILTER", 189, "KVM_X86_SET_MSR_FILTER"),
    (
        "KVM_CAP_MCE",
        31,
        "machine-check banks (value = maximum bank count)",
    ),
    (
        "KVM_CAP_EXIT_ON_EMULATION_FAILURE",
        204,
        "emulation failures always exit with instruction bytes",
    ),
    (
        "KVM_CAP_X86_TRIPLE_FAULT_EVENT",
        218,
        "triple fault visible in vCPU events",
    ),
    (
        "KVM_CAP_MEMORY_FAULT_INFO",
        232,
        "KVM_EXIT_MEMORY_FAULT details on EFAULT",
    ),
    (
        "KVM_CAP_INTERNAL_ERROR_DATA",
        40,
        "data words in KVM_EXIT_INTERNAL_ERROR",
    ),
    ("KVM_CAP_IMMEDIATE_EXIT", 136, "kvm_run.immediate_exit"),
    ("KVM_CAP_IRQCHIP", 0, "in-kernel interrupt controller"),
    (
        "KVM_CAP_SPLIT_IRQCHIP",
        121,
        "split irqchip (LAPIC in kernel)",
    ),
    ("KVM_CAP_SET_GUEST_DEBUG", 23, "guest debugging"),
    (
        "KVM_CAP_X86_DISABLE_EXITS",
        143,
        "disable HLT/PAUSE/MWAIT exits",
    ),
];

/// The host report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HostReport {
    /// `/dev/kvm` opened read-write.
    pub dev_kvm_accessible: bool,
    /// Why not, if not.
    pub dev_kvm_error: Option<String>,
    /// `KVM_GET_API_VERSION` (12 on every released kernel).
    pub api_version: Option<i32>,
    /// Capability answers.
    pub capabilities: Vec<CapabilityValue>,
    /// `/sys/module/kvm/parameters/ignore_msrs`.
    pub ignore_msrs: Option<String>,
    /// `/sys/module/kvm/parameters/report_ignored_msrs`.
    pub report_ignored_msrs: Option<String>,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel_release: String,
    /// Loaded vendor modules: kvm_intel, kvm_amd, kvm_pvm.
    pub vendor_modules: Vec<String>,
    /// Host CPU flags relevant to KVM: vmx, svm, hypervisor.
    pub cpu_flags: Vec<String>,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Kernel release, e.g. `6.18.44-fc-v595`.
pub fn kernel_release() -> String {
    read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into())
}

/// Loaded KVM vendor modules.
pub fn vendor_modules() -> Vec<String> {
    ["kvm_intel", "kvm_amd", "kvm_pvm"]
        .iter()
        .filter(|m| std::path::Path::new(&format!("/sys/module/{m}")).exists())
        .map(|m| (*m).to_string())
        .collect()
}

/// `kvm.ignore_msrs` is Y.
pub fn ignore_msrs() -> bool {
    read_trimmed("/sys/module/kvm/parameters/ignore_msrs").is_some_and(|v| v == "Y" || v == "1")
}

/// Gathers the report. Never fails: what cannot be read is reported as absent.
pub fn host_report() -> HostReport {
    let (kvm, dev_kvm_error) = match Kvm::new() {
        Ok(k) => (Some(k), None),
        Err(e) => (None, Some(format!("cannot open /dev/kvm: {e}"))),
    };
    let capabilities = match &kvm {
        Some(k) => CAPABILITIES
            .iter()
            .map(|&(name, number, why)| CapabilityValue {
                name,
                number,
                value: k.check_extension_raw(u64::from(number)),
                why,
            })
            .collect(),
        None => Vec::new(),
    };
    let cpu_flags = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("flags"))
                .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|f| matches!(f.as_str(), "vmx" | "svm" | "hypervisor"))
        .collect();
    HostReport {
        dev_kvm_accessible: kvm.is_some(),
        dev_kvm_error,
        api_version: kvm.as_ref().map(|k| k.get_api_version()),
        capabilities,
        ignore_msrs: read_trimmed("/sys/module/kvm/parameters/ignore_msrs"),
        report_ignored_msrs: read_trimmed("/sys/module/kvm/parameters/report_ignored_msrs"),
        kernel_release: kernel_release(),
        vendor_modules: vendor_modules(),
        cpu_flags,
    }
}
