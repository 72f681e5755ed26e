//! Extra-data layouts, entry-failure codes and guest-state checks on constructed inputs.

use kvmtriage_diagnose::decode::{entry_failure, event_info, internal_error};
use kvmtriage_diagnose::facts::{Event, Facts};
use kvmtriage_diagnose::vmx::check_guest_state;
use kvmtriage_diagnose::{diagnose_facts, DiagnoseOptions};
use kvmtriage_model::{
    CodeWindow, CpuState, DescriptorTable, ModeDecision, ModeHints, SegName, Segment,
    SegmentAttributes,
};

/// A segment as KVM and QEMU report it.
fn seg(selector: u16, base: u64, limit: u32, attrs: u32) -> Option<Segment> {
    Some(Segment {
        selector,
        base,
        limit,
        attributes: SegmentAttributes(attrs),
    })
}

fn long_mode_cpu() -> CpuState {
    let data = || seg(0x18, 0, 0xffff_ffff, 0x00c0_9300);
    let mut cpu = CpuState {
        rip: Some(0xffff_ffff_8100_0000),
        rflags: Some(0x246),
        cr0: Some(0x8005_0033),
        cr3: Some(0x1000),
        cr4: Some(0x6f0),
        efer: Some(0xd01),
        gdt: Some(DescriptorTable {
            base: 0xffff_fe00_0000_1000,
            limit: 0x7f,
        }),
        idt: Some(DescriptorTable {
            base: 0xffff_fe00_0000_0000,
            limit: 0xfff,
        }),
        ..CpuState::default()
    };
    cpu.segments = [
        data(),
        seg(0x10, 0, 0xffff_ffff, 0x00a0_9b00),
        data(),
        data(),
        data(),
        data(),
        seg(0, 0, 0xffff, 0x8200),
        seg(0x40, 0xffff_fe00_0000_3000, 0x4087, 0x8b00),
    ];
    cpu
}

fn mode_of(cpu: &CpuState) -> ModeDecision {
    ModeDecision::decide(cpu, &ModeHints::default())
}

fn set_attrs(cpu: &mut CpuState, n: SegName, attrs: u32) {
    if let Some(s) = cpu.segments[n.index()].as_mut() {
        s.attributes = SegmentAttributes(attrs);
    }
}

fn failed_checks(f: &Facts) -> Vec<String> {
    check_guest_state(f)
        .definite()
        .map(|c| c.check.clone())
        .collect()
}

#[test]
fn valid_long_mode_state_passes_every_check() {
    let cpu = long_mode_cpu();
    let mode = mode_of(&cpu);
    let f = Facts {
        cpu: &cpu,
        mode: &mode,
        ..Facts::default()
    };
    let r = check_guest_state(&f);
    assert!(r.evaluated);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(r.checks_run > 30, "{}", r.checks_run);
}

#[test]
fn each_broken_field_fails_its_check() {
    type Mutation = Box<dyn Fn(&mut CpuState)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "CR0.PG=1 requires CR0.PE=1",
            Box::new(|c| c.cr0 = Some(0x8000_0000)),
        ),
        (
            "IA-32e mode guest requires CR4.PAE=1",
            Box::new(|c| c.cr4 = Some(0x6d0)),
        ),
        (
            "with CR0.PG=1, IA32_EFER.LMA must equal IA32_EFER.LME",
            Box::new(|c| c.efer = Some(0x401)),
        ),
        (
            "IA32_EFER reserved bits must be 0",
            Box::new(|c| c.efer = Some(0x1_0d01)),
        ),
        (
            "64-bit CS (L=1) requires D/B=0",
            Box::new(|c| set_attrs(c, SegName::Cs, 0x00e0_9b00)),
        ),
        (
            "CS type must be 9, 11, 13 or 15 (accessed code; 3 only with unrestricted guest)",
            Box::new(|c| set_attrs(c, SegName::Cs, 0x00a0_9a00)),
        ),
        (
            "non-conforming CS: CS.DPL must equal SS.DPL",
            Box::new(|c| set_attrs(c, SegName::Ss, 0x00c0_f300)),
        ),
        (
            "SS type must be 3 or 7 with S=1 (accessed writable data)",
            Box::new(|c| set_attrs(c, SegName::Ss, 0x00c0_9100)),
        ),
        (
            "DS type must be accessed (bit 0 = 1)",
            Box::new(|c| set_attrs(c, SegName::Ds, 0x00c0_9200)),
        ),
        (
            "DS limit and G must agree",
            Box::new(|c| set_attrs(c, SegName::Ds, 0x0040_9300)),
        ),
        (
            "TR type must be 11 (busy 32/64-bit TSS), or 3 (busy 16-bit TSS) outside IA-32e mode",
            Box::new(|c| set_attrs(c, SegName::Tr, 0x8300)),
        ),
        (
            "TR.P must be 1 (TR must be usable)",
            Box::new(|c| set_attrs(c, SegName::Tr, 0x0b00)),
        ),
        (
            "LDTR type must be 2 with S=0",
            Box::new(|c| set_attrs(c, SegName::Ldt, 0x8300)),
        ),
        (
            "GDTR limit bits 31:16 must be 0",
            Box::new(|c| c.gdt.as_mut().unwrap().limit = 0x1_0000),
        ),
        (
            "IDTR base must be canonical",
            Box::new(|c| c.idt.as_mut().unwrap().base = 0x8000_0000_0000_0000),
        ),
        (
            "RIP must be canonical in 64-bit mode",
            Box::new(|c| c.rip = Some(0x0000_8000_0000_0000)),
        ),
        (
            "RFLAGS reserved bits 63:22, 15, 5 and 3 must be 0",
            Box::new(|c| c.rflags = Some(0x8246)),
        ),
        (
            "RFLAGS bit 1 must be 1",
            Box::new(|c| c.rflags = Some(0x244)),
        ),
    ];
    for (want, mutate) in cases {
        let mut cpu = long_mode_cpu();
        mutate(&mut cpu);
        let mode = mode_of(&cpu);
        let f = Facts {
            cpu: &cpu,
            mode: &mode,
            ..Facts::default()
        };
        let got = failed_checks(&f);
        assert!(
            got.iter().any(|c| c == want),
            "expected {want:?}, got {got:?}"
        );
    }
}

#[test]
fn big_real_mode_is_detected_and_reset_cs_is_not() {
    let mut cpu = CpuState {
        rip: Some(0x1000),
        rflags: Some(2),
        cr0: Some(0x10),
        ..CpuState::default()
    };
    cpu.segments = [
        seg(0, 0, 0xffff, 0x9300),
        seg(0xf000, 0xffff_0000, 0xffff, 0x9b00),
        seg(0, 0, 0xffff, 0x9300),
        seg(0, 0, 0xffff_ffff, 0x0080_9300),
        seg(0, 0, 0xffff, 0x9300),
        seg(0x1234, 0x5000, 0xffff, 0x9300),
        seg(0, 0, 0xffff, 0x8200),
        seg(0, 0, 0xffff, 0x8b00),
    ];
    let mode = mode_of(&cpu);
    let mut f = Facts {
        cpu: &cpu,
        mode: &mode,
        ..Facts::default()
    };
    let r = check_guest_state(&f);
    let segs: Vec<&str> = r.big_real_mode.iter().map(|v| v.segment).collect();
    assert_eq!(segs, ["DS", "GS"]);
    assert_eq!(
        r.big_real_mode[0].reason,
        "limit 0xffffffff != 0xffff, attributes 0x00809300 set G/D/L"
    );
    assert_eq!(
        r.big_real_mode[1].reason,
        "base 0x5000 != selector 0x1234 << 4"
    );
    // The missing-unrestricted-guest case is reported as conditional, not definite.
    assert!(r.definite().next().is_none(), "{:?}", r.failures);
    assert!(r
        .failures
        .iter()
        .any(|c| c.condition == Some("only if VMX unrestricted guest is off")));
    // In an entry failure the verdict names big real mode.
    f.event = Event::EntryFailed {
        hardware_reason: 0x8000_0021,
    };
    let d = diagnose_facts(&f, &DiagnoseOptions::default());
    assert!(
        d.verdict
            .contains("big real mode, which VMX can only enter with unrestricted guest"),
        "{}",
        d.verdict
    );
    assert!(d
        .evidence
        .iter()
        .any(|e| e
            == "big real mode: DS limit 0xffffffff != 0xffff, attributes 0x00809300 set G/D/L"));
}

#[test]
fn emulation_failure_layouts() {
    let cpu = CpuState {
        rip: Some(0x1000),
        cr0: Some(0x8005_0033),
        efer: Some(0xd01),
        segments: long_mode_cpu().segments,
        ..CpuState::default()
    };
    let mode = mode_of(&cpu);
    let window = CodeWindow {
        bytes: [
            vec![Some(0x90); 20],
            vec![
                Some(0xd9),
                Some(0x04),
                Some(0x25),
                Some(0),
                Some(0),
                Some(0),
                Some(0x30),
                Some(0xe6),
            ],
        ]
        .concat(),
        marker: Some(20),
        line: 0,
    };
    let f = Facts {
        cpu: &cpu,
        mode: &mode,
        code: Some(&window),
        ..Facts::default()
    };
    // Verified on the development host: flds [0x30000000] with flags=1, ndata=8.
    let r = internal_error(
        1,
        &[1, 0x3000_0000_2504_d90f, 0xf4_10e6, 0x1000, 0, 0, 0, 0],
        &f,
    );
    assert!(r.layout_recognised);
    let i = r.instruction.as_ref().unwrap();
    assert_eq!(i.length_field, 15);
    assert_eq!(
        i.decoded.as_ref().unwrap().text,
        "fld dword ptr [0x30000000]"
    );
    assert_eq!(i.matches_code_window, Some(true));
    assert!(r.notes.iter().any(|n| n.contains("PVM reports 0x1000")));

    // Without instruction bytes: flags 0 and the 5 exit-info words (ndata 6).
    let r = internal_error(1, &[0, 0x1000, 0, 0, 0, 0], &f);
    assert!(r.layout_recognised && r.instruction.is_none());
    assert_eq!(r.fields.len(), 6);

    // Pre-5.14 / vendor layouts are reported, not mis-decoded.
    let r = internal_error(1, &[5, 1, 2], &f);
    assert!(!r.layout_recognised);
    assert!(r
        .layout
        .contains("do not fit the 5.14+ emulation-failure layout"));
    assert!(r.fields.iter().all(|x| x.name == "unknown"));
    let r = internal_error(1, &[1, 2], &f);
    assert!(!r.layout_recognised);
    let r = internal_error(1, &[], &f);
    assert!(r.layout.contains("before 5.14"));
}

#[test]
fn delivery_and_unexpected_exit_layouts() {
    let f = Facts::default();
    let r = internal_error(3, &[0x8000_0b0e, 0x31, 0x182, 0xbfff0, 1], &f);
    assert_eq!(r.gpa.as_deref(), Some("0xbfff0"));
    assert_eq!(r.fields.last().unwrap().name, "last_vmentry_cpu");
    let r = internal_error(3, &[0x8000_0b0e, 0x1e, 0x1f80008, 2], &f);
    assert_eq!(r.gpa, None);
    assert_eq!(r.exit_reason.as_ref().unwrap().name, Some("IO_INSTRUCTION"));
    assert_eq!(r.fields[3].name, "last_vmentry_cpu");
    let r = internal_error(4, &[0x45, 3], &f);
    assert_eq!(r.exit_reason.as_ref().unwrap().name, Some("LOADIWKEY"));
    let r = internal_error(2, &[0x8000_0b0e, 0x8000_0b0d, 0, 3], &f);
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[1].vector_name, Some("#GP"));
    let e = event_info(0x8000_0b0e);
    assert!(e.valid && e.error_code_valid);
    assert_eq!(
        (e.vector, e.event_type, e.vector_name),
        (14, "hardware exception", Some("#PF"))
    );
    assert!(!event_info(0x0b0e).valid);
}

#[test]
fn entry_failure_codes() {
    let e = entry_failure(0x8000_0021);
    assert_eq!(e.kind, "vmx_failed_entry");
    assert_eq!(e.exit_reason.unwrap().basic, 33);
    assert_eq!(
        entry_failure(0x8000_0022).exit_reason.unwrap().name,
        Some("MSR_LOAD_FAIL")
    );
    assert_eq!(
        entry_failure(0x8000_0029).exit_reason.unwrap().name,
        Some("MCE_DURING_VMENTRY")
    );
    let e = entry_failure(7);
    assert_eq!(
        (e.kind, e.vm_instruction_error),
        ("vm_instruction_error", Some(7))
    );
    assert!(e.description.contains("invalid control field"));
    assert!(entry_failure(8)
        .description
        .contains("invalid host-state field"));
    assert!(entry_failure(0)
        .description
        .contains("not a defined VM-instruction error"));
    assert_eq!(entry_failure(u64::MAX).kind, "svm_vmexit_invalid");
    assert_eq!(entry_failure(0x1234_5678_9abc).kind, "unknown");
}

#[test]
fn unknown_kvm_exit_reason_is_not_a_hardware_reason() {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/diagnose/vmx-msr-load-fail/match.txt"
    ))
    .unwrap();
    let body: String = base.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let opts = DiagnoseOptions::default();
    // QEMU: "KVM: unknown exit reason %d" is a KVM_EXIT_* code it does not handle.
    let d = kvmtriage_dump::read(&format!("KVM: unknown exit reason 29\n{body}"))
        .unwrap()
        .remove(0);
    let g = kvmtriage_diagnose::diagnose(&d, None, &opts);
    assert_eq!(g.classification.class, "other");
    assert!(
        g.verdict
            .contains("KVM exit reason 29 (KVM_EXIT_X86_RDMSR)"),
        "{}",
        g.verdict
    );
    // "hardware reason" (hex) is the VMX exit code: 0x31 = EPT misconfiguration.
    let d = kvmtriage_dump::read(&format!("KVM: unknown exit, hardware reason 31\n{body}"))
        .unwrap()
        .remove(0);
    let g = kvmtriage_diagnose::diagnose(&d, None, &opts);
    assert_eq!(g.classification.class, "unknown_exit");
    assert_eq!(g.known_issues[0].id, "unknown-exit-ept-misconfig");
}
