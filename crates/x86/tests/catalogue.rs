//! The MSR catalogue against values in public headers, and the field decoders.

use kvmtriage_x86::msr::{decode_value, lookup, lookup_name};

/// (Linux macro, index) pairs from arch/x86/include/asm/msr-index.h, arch/x86/include/uapi/asm/kvm_para.h
/// and arch/x86/include/asm/hyperv-tlfs.h.
const LINUX: &[(&str, u32)] = &[
    ("MSR_EFER", 0xc000_0080),
    ("MSR_STAR", 0xc000_0081),
    ("MSR_LSTAR", 0xc000_0082),
    ("MSR_CSTAR", 0xc000_0083),
    ("MSR_SYSCALL_MASK", 0xc000_0084),
    ("MSR_FS_BASE", 0xc000_0100),
    ("MSR_GS_BASE", 0xc000_0101),
    ("MSR_KERNEL_GS_BASE", 0xc000_0102),
    ("MSR_TSC_AUX", 0xc000_0103),
    ("MSR_IA32_SPEC_CTRL", 0x48),
    ("MSR_IA32_PRED_CMD", 0x49),
    ("MSR_IA32_ARCH_CAPABILITIES", 0x10a),
    ("MSR_IA32_FLUSH_CMD", 0x10b),
    ("MSR_IA32_TSX_CTRL", 0x122),
    ("MSR_IA32_SYSENTER_CS", 0x174),
    ("MSR_IA32_MCG_CAP", 0x179),
    ("MSR_IA32_MCG_STATUS", 0x17a),
    ("MSR_IA32_MCG_CTL", 0x17b),
    ("MSR_IA32_MCG_EXT_CTL", 0x4d0),
    ("MSR_IA32_CR_PAT", 0x277),
    ("MSR_IA32_DEBUGCTLMSR", 0x1d9),
    ("MSR_MTRRdefType", 0x2ff),
    ("MSR_MTRRfix64K_00000", 0x250),
    ("MSR_MTRRfix4K_F8000", 0x26f),
    ("MSR_IA32_MC0_CTL", 0x400),
    ("MSR_IA32_MC0_STATUS", 0x401),
    ("MSR_IA32_MC0_ADDR", 0x402),
    ("MSR_IA32_MC0_MISC", 0x403),
    ("MSR_IA32_MC0_CTL2", 0x280),
    ("MSR_IA32_FEAT_CTL", 0x3a),
    ("MSR_IA32_TSC_ADJUST", 0x3b),
    ("MSR_IA32_APICBASE", 0x1b),
    ("MSR_IA32_UCODE_REV", 0x8b),
    ("MSR_IA32_TSC_DEADLINE", 0x6e0),
    ("MSR_IA32_MISC_ENABLE", 0x1a0),
    ("MSR_IA32_XSS", 0xda0),
    ("MSR_IA32_XFD", 0x1c4),
    ("MSR_IA32_BNDCFGS", 0xd90),
    ("MSR_IA32_U_CET", 0x6a0),
    ("MSR_IA32_S_CET", 0x6a2),
    ("MSR_IA32_PL0_SSP", 0x6a4),
    ("MSR_IA32_VMX_BASIC", 0x480),
    ("MSR_IA32_VMX_PROCBASED_CTLS3", 0x492),
    ("MSR_CORE_PERF_GLOBAL_CTRL", 0x38f),
    ("MSR_CORE_PERF_FIXED_CTR_CTRL", 0x38d),
    ("MSR_IA32_PERF_CAPABILITIES", 0x345),
    ("MSR_IA32_RTIT_CTL", 0x570),
    ("MSR_IA32_DS_AREA", 0x600),
    ("MSR_PLATFORM_INFO", 0xce),
    ("MSR_TEST_CTRL", 0x33),
    ("MSR_IA32_XAPIC_DISABLE_STATUS", 0xbd),
    ("MSR_VM_CR", 0xc001_0114),
    ("MSR_VM_HSAVE_PA", 0xc001_0117),
    ("MSR_AMD64_SEV", 0xc001_0131),
    ("MSR_AMD64_SEV_ES_GHCB", 0xc001_0130),
    ("MSR_AMD64_VIRT_SPEC_CTRL", 0xc001_011f),
    ("MSR_AMD64_SYSCFG", 0xc001_0010),
    ("MSR_K7_HWCR", 0xc001_0015),
    ("MSR_K8_TOP_MEM2", 0xc001_001d),
    ("MSR_AMD64_DE_CFG", 0xc001_1029),
    ("MSR_AMD64_OSVW_STATUS", 0xc001_0141),
    ("MSR_F15H_PERF_CTL0", 0xc001_0200),
    ("MSR_F15H_PERF_CTR5", 0xc001_020b),
    ("MSR_K7_EVNTSEL3", 0xc001_0003),
    ("MSR_AMD64_TSC_RATIO", 0xc000_0104),
    ("MSR_KVM_WALL_CLOCK", 0x11),
    ("MSR_KVM_SYSTEM_TIME", 0x12),
    ("MSR_KVM_WALL_CLOCK_NEW", 0x4b56_4d00),
    ("MSR_KVM_SYSTEM_TIME_NEW", 0x4b56_4d01),
    ("MSR_KVM_ASYNC_PF_EN", 0x4b56_4d02),
    ("MSR_KVM_STEAL_TIME", 0x4b56_4d03),
    ("MSR_KVM_PV_EOI_EN", 0x4b56_4d04),
    ("MSR_KVM_POLL_CONTROL", 0x4b56_4d05),
    ("MSR_KVM_ASYNC_PF_INT", 0x4b56_4d06),
    ("MSR_KVM_ASYNC_PF_ACK", 0x4b56_4d07),
    ("MSR_KVM_MIGRATION_CONTROL", 0x4b56_4d08),
    ("HV_X64_MSR_GUEST_OS_ID", 0x4000_0000),
    ("HV_X64_MSR_HYPERCALL", 0x4000_0001),
    ("HV_X64_MSR_VP_INDEX", 0x4000_0002),
    ("HV_X64_MSR_TIME_REF_COUNT", 0x4000_0020),
    ("HV_X64_MSR_REFERENCE_TSC", 0x4000_0021),
    ("HV_X64_MSR_VP_ASSIST_PAGE", 0x4000_0073),
    ("HV_X64_MSR_SCONTROL", 0x4000_0080),
    ("HV_X64_MSR_SIMP", 0x4000_0083),
    ("HV_X64_MSR_SINT0", 0x4000_0090),
    ("HV_X64_MSR_SINT15", 0x4000_009f),
    ("HV_X64_MSR_STIMER0_CONFIG", 0x4000_00b0),
    ("HV_X64_MSR_STIMER3_COUNT", 0x4000_00b7),
    ("HV_X64_MSR_CRASH_P0", 0x4000_0100),
    ("HV_X64_MSR_CRASH_CTL", 0x4000_0105),
    ("HV_X64_MSR_REENLIGHTENMENT_CONTROL", 0x4000_0106),
    ("HV_X64_MSR_TSC_INVARIANT_CONTROL", 0x4000_0118),
    ("HV_X64_MSR_SYNDBG_OPTIONS", 0x4000_00ff),
];

#[test]
fn linux_names_resolve_to_header_indices() {
    for (name, index) in LINUX {
        let m = lookup_name(name).unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(m.index, *index, "{name}");
    }
}

#[test]
fn coverage_by_region() {
    let all: Vec<_> = kvmtriage_x86::msr::all().collect();
    assert!(all.len() > 400, "{}", all.len());
    let count = |lo: u32, hi: u32| all.iter().filter(|m| (lo..=hi).contains(&m.index)).count();
    assert_eq!(count(0x400, 0x47f), 128, "32 banks x CTL/STATUS/ADDR/MISC");
    assert_eq!(count(0x280, 0x29f), 32, "32 x MCi_CTL2");
    assert!(count(0x800, 0x8ff) >= 40, "x2APIC");
    assert_eq!(count(0x4b56_4d00, 0x4b56_4dff), 9, "KVM 0x4b564dxx");
    assert!(count(0x4000_0000, 0x4000_ffff) >= 45, "Hyper-V");
    assert!(count(0xc000_0000, 0xc001_ffff) >= 100, "AMD");
    assert!(all
        .iter()
        .all(|m| !m.source.is_empty() && !m.description.is_empty()));
}

fn field(fields: &[kvmtriage_x86::msr::Field], name: &str) -> (u64, Option<String>) {
    let f = fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("field {name}"));
    (f.value, f.meaning.clone())
}

#[test]
fn decoders() {
    // IA32_MTRR_DEF_TYPE: E, FE, default WB.
    let f = decode_value(0x2ff, 0xc06);
    assert_eq!(field(&f, "TYPE"), (6, Some("WB (write back)".into())));
    assert_eq!(field(&f, "E").0, 1);
    assert_eq!(field(&f, "FE").0, 1);
    // IA32_MCG_CAP as KVM reports it: 32 banks, CTL_P, CMCI_P, SER_P, LMCE_P.
    let f = decode_value(0x179, 0x0900_0c20);
    assert_eq!(field(&f, "COUNT").0, 32);
    assert_eq!(field(&f, "MCG_CTL_P").0, 0);
    assert_eq!(field(&f, "MCG_CMCI_P").0, 1);
    assert_eq!(field(&f, "MCG_TES_P").0, 1);
    assert_eq!(field(&f, "MCG_SER_P").0, 1);
    assert_eq!(field(&f, "MCG_LMCE_P").0, 1);
    // IA32_MCG_STATUS
    assert_eq!(field(&decode_value(0x17a, 0x5), "MCIP").0, 1);
    // IA32_MC3_CTL2: CMCI_EN + threshold 1
    let f = decode_value(0x283, 0x4000_0001);
    assert_eq!(field(&f, "CMCI_EN").0, 1);
    assert_eq!(field(&f, "CORRECTED_ERROR_THRESHOLD").0, 1);
    // IA32_MC2_MISC: address mode physical, LSB 12.
    let f = decode_value(0x40b, 0x8c);
    assert_eq!(field(&f, "ADDR_MODE"), (2, Some("physical address".into())));
    assert_eq!(field(&f, "RECOV_ADDR_LSB").0, 12);
    // IA32_FEATURE_CONTROL locked with VMX outside SMX.
    let f = decode_value(0x3a, 0x5);
    assert_eq!(
        (
            field(&f, "LOCK").0,
            field(&f, "VMX_OUTSIDE_SMX").0,
            field(&f, "VMX_INSIDE_SMX").0
        ),
        (1, 1, 0)
    );
    // IA32_DEBUGCTL: LBR + BTF.
    let f = decode_value(0x1d9, 0x3);
    assert_eq!(
        (field(&f, "LBR").0, field(&f, "BTF").0, field(&f, "BTS").0),
        (1, 1, 0)
    );
    // IA32_TSC_DEADLINE: the whole value.
    assert_eq!(
        field(&decode_value(0x6e0, 0x1234_5678_9abc), "DEADLINE").0,
        0x1234_5678_9abc
    );
    // x2APIC ICR: fixed IPI vector 0xfb to APIC 3.
    let f = decode_value(0x830, 0x3_0000_00fb);
    assert_eq!(field(&f, "VECTOR").0, 0xfb);
    assert_eq!(field(&f, "DESTINATION").0, 3);
    assert_eq!(field(&f, "DELIVERY_MODE").1.as_deref(), Some("fixed"));
    // x2APIC DIV_CONF 0xb = divide by 1.
    assert_eq!(
        field(&decode_value(0x83e, 0xb), "DIVIDE").1.as_deref(),
        Some("divide by 1")
    );
    // KVM kvmclock: enable + GPA.
    let f = decode_value(0x4b56_4d01, 0x1_2345_6001);
    assert_eq!(field(&f, "ENABLE").0, 1);
    assert_eq!(field(&f, "GPA").0, 0x1_2345_6000);
    // KVM async PF: enable + interrupt delivery, area at 0x7f000040.
    let f = decode_value(0x4b56_4d02, 0x7f00_0049);
    assert_eq!(
        (
            field(&f, "ENABLE").0,
            field(&f, "DELIVERY_AS_INT").0,
            field(&f, "GPA").0
        ),
        (1, 1, 0x7f00_0040)
    );
    // Hyper-V SINT2: vector 0x30, masked.
    let f = decode_value(0x4000_0092, 0x1_0030);
    assert_eq!((field(&f, "VECTOR").0, field(&f, "MASKED").0), (0x30, 1));
    // Hyper-V STIMER0_CONFIG: enabled, periodic, SINT 2.
    let f = decode_value(0x4000_00b0, 0x2_0003);
    assert_eq!(
        (
            field(&f, "ENABLE").0,
            field(&f, "PERIODIC").0,
            field(&f, "SINTX").0
        ),
        (1, 1, 2)
    );
    // Hyper-V hypercall page enabled at 0x1000.
    let f = decode_value(0x4000_0001, 0x1001);
    assert_eq!((field(&f, "ENABLE").0, field(&f, "GPA").0), (1, 0x1000));
    // No layout: empty.
    assert!(decode_value(0xc000_0082, 1).is_empty());
    assert!(lookup(0xc000_0082).is_some_and(|m| !m.has_layout()));
}
