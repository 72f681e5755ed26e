//! The "What it must show" cases of issue 4, on real and constructed QEMU dumps.

mod common;

use common::{diag, ids, ruled_out_ids};
use kvmtriage_diagnose::catalogue::IssueKind;
use kvmtriage_diagnose::{issues_affecting, KernelVersion, Level};

#[test]
fn origin_dump_eperm_wrmsr_0x838_weighs_the_mce_entries_and_rules_them_out() {
    let d = diag("seed/origin-note.txt", None);
    let c = &d.classification;
    assert_eq!(c.class, "kvm_run_failed");
    let e = c.errno.as_ref().unwrap();
    assert_eq!((e.number, e.name), (Some(1), Some("EPERM")));
    assert_eq!(c.instruction.as_ref().unwrap().mnemonic, "wrmsr");
    let m = c.msr.as_ref().unwrap();
    assert_eq!(
        (m.index.as_str(), m.value.as_deref(), m.write),
        ("0x838", Some("0x7213cc9"), true)
    );
    assert!(m.mce.is_none(), "0x838 is not an MCE MSR");
    assert_eq!(format!("{:?}", c.mode), "Long64");

    // Verdict: EPERM = negative return from an exit handler, WRMSR to 0x838 named as trigger.
    assert!(
        d.verdict
            .starts_with("KVM_RUN failed with EPERM (a KVM exit handler returned a negative value"),
        "{}",
        d.verdict
    );
    assert!(
        d.verdict.contains("WRMSR") && d.verdict.contains("ECX=0x838"),
        "{}",
        d.verdict
    );
    assert!(d.verdict.contains("not an MCE MSR"), "{}", d.verdict);
    assert!(
        d.verdict.contains("exact cause is not known"),
        "{}",
        d.verdict
    );
    // Strongest hypothesis first (upstream x2APIC handlers never return negative values), then
    // the general negative-return signature.
    assert_eq!(ids(&d), ["x2apic-msr-eperm", "negative-msr-return-eperm"]);
    assert!(
        d.verdict
            .contains("IA32_X2APIC_INIT_COUNT (0x838) is an x2APIC register, not an MCE MSR"),
        "{}",
        d.verdict
    );
    assert!(d.verdict.contains("modified KVM code"), "{}", d.verdict);
    assert!(d.known_issues[1].why.contains("0x838 is not an MCE MSR"));
    assert_eq!(d.confidence.level, Level::Medium);

    // The set_msr_mce entries are weighed and reported as not applying, with the reason.
    for id in [
        "mce-ctl-bit0-clear-eperm",
        "mce-ctl-illegal-value-eperm",
        "mce-status-nonzero-eperm",
    ] {
        let r = d
            .ruled_out
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} not weighed"));
        assert!(
            r.why
                .starts_with("MSR 0x838 (IA32_X2APIC_INIT_COUNT) is not an MCE bank"),
            "{id}: {}",
            r.why
        );
        assert!(d
            .evidence
            .iter()
            .any(|l| l.starts_with(&format!("ruled out {id}: MSR 0x838"))));
    }
    assert!(d
        .next_steps
        .iter()
        .any(|s| s.contains("kvm.ignore_msrs=1 does not help")));
}

#[test]
fn mc1_ctl_bit0_clear_from_32_bit_guest_is_the_set_msr_mce_bug_with_both_fixes() {
    let d = diag("diagnose/mce-ctl-bit0-clear-eperm/match.txt", None);
    let c = &d.classification;
    assert_eq!(format!("{:?}", c.mode), "Protected32");
    let m = c.msr.as_ref().unwrap();
    assert_eq!(
        (m.index.as_str(), m.name.as_deref(), m.value.as_deref()),
        ("0x404", Some("IA32_MC1_CTL"), Some("0xfffffffffffffffe"))
    );
    let mce = m.mce.as_ref().unwrap();
    assert_eq!(mce.bank, 1);
    assert!(mce.up_to_5_9.contains("#GP"));
    assert!(mce.from_5_10_before_fix.contains("EPERM"));
    assert_eq!(mce.with_fixes, "accepted (0471a7bd1bca allows bit 0 clear)");

    let k = &d.known_issues[0];
    assert_eq!(k.id, "mce-ctl-bit0-clear-eperm");
    assert_eq!(k.kind, IssueKind::Bug);
    assert_eq!(k.fixed_in, Some("6.0"));
    assert_eq!(k.commits, ["0471a7bd1bca", "2368048bf5c2", "7dffecaf4eab"]);
    assert_eq!(
        k.affected,
        Some("5.10 up to (not including) 6.0; fixed in stable 5.10.137, 5.15.61, 5.18.18, 5.19.2")
    );
    for needle in [
        "EPERM",
        "bit 0 clear",
        "0471a7bd1bca",
        "2368048bf5c2",
        "6.0",
        "5.15.61",
        "5.19.2",
    ] {
        assert!(
            d.verdict.contains(needle),
            "verdict lacks {needle}: {}",
            d.verdict
        );
    }
    assert_eq!(d.confidence.level, Level::High);
    assert!(ruled_out_ids(&d).contains(&"mce-ctl-illegal-value-eperm"));
    assert!(ruled_out_ids(&d).contains(&"negative-msr-return-eperm"));
}

#[test]
fn mc1_ctl_0x1234_is_refused_by_every_kernel_eperm_before_the_fix_gp_after() {
    let d = diag("diagnose/mce-ctl-illegal-value-eperm/match.txt", None);
    let mce = d.classification.msr.as_ref().unwrap().mce.as_ref().unwrap();
    assert_eq!(
        mce.up_to_5_9,
        "rejected: -1 from set_msr_mce(), turned into #GP in the guest"
    );
    assert_eq!(
        mce.from_5_10_before_fix,
        "rejected: -1 from set_msr_mce() fails KVM_RUN with EPERM (VM stops)"
    );
    assert_eq!(
        mce.with_fixes,
        "rejected: set_msr_mce() returns 1, #GP in the guest (2368048bf5c2)"
    );
    assert_eq!(ids(&d)[0], "mce-ctl-illegal-value-eperm");
    assert!(!ids(&d).contains(&"mce-ctl-bit0-clear-eperm"));
    assert!(
        d.verdict
            .contains("0x1234 is not a legal IA32_MC1_CTL value on any kernel"),
        "{}",
        d.verdict
    );
    assert!(d.verdict.contains("refused everywhere"));
    assert!(d.verdict.contains("EPERM") && d.verdict.contains("#GP"));
}

#[test]
fn host_kernel_narrows_the_verdict() {
    let f = "diagnose/mce-ctl-bit0-clear-eperm/match.txt";
    let d = diag(f, Some("5.15.0-91-generic"));
    let k = &d.known_issues[0];
    assert_eq!(k.affects_host, Some(true));
    assert!(
        d.verdict
            .contains("your kernel 5.15.0-91-generic is in the affected range"),
        "{}",
        d.verdict
    );
    assert!(d.verdict.contains("distribution kernel"), "{}", d.verdict);
    assert!(
        d.verdict.contains("check its changelog for 0471a7bd1bca"),
        "{}",
        d.verdict
    );

    let d = diag(f, Some("5.15.61"));
    assert_eq!(d.known_issues[0].affects_host, Some(false));
    assert!(
        d.verdict
            .contains("your kernel 5.15.61 has the fix (stable 5.15.61)"),
        "{}",
        d.verdict
    );

    let d = diag(f, Some("5.19.1"));
    assert_eq!(d.known_issues[0].affects_host, Some(true));

    let d = diag(f, Some("6.18.44-fc-v669"));
    assert_eq!(d.known_issues[0].affects_host, Some(false));
    assert!(
        d.verdict
            .contains("your kernel 6.18.44-fc-v669 has the fix (upstream 6.0)"),
        "{}",
        d.verdict
    );
    assert!(!d.verdict.contains("distribution kernel"));

    let d = diag(f, Some("4.18.0-513.el8.x86_64"));
    assert_eq!(d.known_issues[0].affects_host, Some(false));
    assert!(
        d.verdict.contains("predates the affected range"),
        "{}",
        d.verdict
    );
    assert!(d.verdict.contains("distribution kernel"), "{}", d.verdict);

    // Without a host kernel: no affects_host field, the range is named instead.
    let d = diag(f, None);
    assert_eq!(d.known_issues[0].affects_host, None);
    let json = serde_json::to_value(&d).unwrap();
    assert!(json["known_issues"][0].get("affects_host").is_none());
    assert!(d
        .verdict
        .contains("affected kernels: 5.10 up to (not including) 6.0"));
}

#[test]
fn issues_affecting_uses_version_ranges_and_backports() {
    let ids_for = |v: &str| -> Vec<&str> {
        issues_affecting(&KernelVersion::parse(v).unwrap())
            .iter()
            .map(|i| i.id)
            .collect()
    };
    let k = ids_for("5.15.0-91-generic");
    assert!(k.contains(&"mce-ctl-bit0-clear-eperm") && k.contains(&"mce-status-nonzero-eperm"));
    assert!(k.contains(&"negative-msr-return-eperm"));
    let k = ids_for("5.15.61");
    assert!(!k.contains(&"mce-ctl-bit0-clear-eperm"));
    assert!(!ids_for("5.9.16").contains(&"mce-ctl-bit0-clear-eperm"));
    assert!(ids_for("5.10.136").contains(&"mce-ctl-bit0-clear-eperm"));
    assert!(!ids_for("5.10.137").contains(&"mce-ctl-bit0-clear-eperm"));
    assert!(!ids_for("6.0").contains(&"mce-ctl-bit0-clear-eperm"));
    assert!(ids_for("5.18.17").contains(&"mce-ctl-illegal-value-eperm"));
}

#[test]
fn entry_failed_0x80000021_runs_the_guest_state_checks() {
    // 022: reset-state registers with a foreign RIP; every check the dump allows passes.
    let d = diag("corpus/real/022.txt", None);
    let g = d.classification.guest_state.as_ref().unwrap();
    assert!(g.evaluated);
    assert!(g.checks_run >= 25, "{}", g.checks_run);
    assert_eq!(g.definite().count(), 0, "{:?}", g.failures);
    assert!(
        g.big_real_mode.is_empty(),
        "the reset CS is not reported as big real mode"
    );
    // Real mode needs unrestricted guest: reported as conditional.
    assert!(g
        .failures
        .iter()
        .any(|f| f.check.starts_with("CR0.PE and CR0.PG must be 1") && f.condition.is_some()));
    assert_eq!(ids(&d)[0], "vmx-reset-with-stale-nested-state");
    assert!(
        d.verdict
            .contains("every guest-state check the dump allows passes"),
        "{}",
        d.verdict
    );
    let ef = d.classification.entry_failure.as_ref().unwrap();
    assert_eq!(ef.kind, "vmx_failed_entry");
    let er = ef.exit_reason.as_ref().unwrap();
    assert_eq!(
        (er.basic, er.name, er.failed_entry),
        (33, Some("INVALID_STATE"), true)
    );

    // 054: only three register lines: the checks cannot run, and the dump says why.
    let d = diag("corpus/real/054.txt", None);
    let g = d.classification.guest_state.as_ref().unwrap();
    assert!(!g.evaluated);
    assert_eq!(g.checks_run, 0);
    assert_eq!(ids(&d)[0], "vmx-invalid-state-after-smi");

    // Synthetic: TR holds an available (not busy) TSS.
    let d = diag("diagnose/vmx-invalid-guest-state/match.txt", None);
    let g = d.classification.guest_state.as_ref().unwrap();
    let failed: Vec<&str> = g.definite().map(|f| f.check.as_str()).collect();
    assert_eq!(
        failed,
        ["TR type must be 11 (busy 32/64-bit TSS), or 3 (busy 16-bit TSS) outside IA-32e mode"]
    );
    assert!(
        g.failures[0].section.contains("§28.3.1.2") && g.failures[0].section.contains("27.3.1.2")
    );
    assert!(
        d.verdict
            .contains("fails 1 VMX guest-state check, first: TR type must be 11"),
        "{}",
        d.verdict
    );
}

/// Issue 8 item 9: damage lowers the confidence only when the damaged part is used.
#[test]
fn damage_off_the_used_values_keeps_the_confidence() {
    let origin =
        std::fs::read_to_string(common::testdata().join("../examples/origin-x2apic-timer.txt"))
            .expect("origin example");
    let clean = common::diag_text(&origin, None);
    // A malformed MXCSR (an FPU line the verdict does not read).
    let fpu = origin.replace(
        "EFER=0000000000000d01\n",
        "EFER=0000000000000d01\nFCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001zz0\n",
    );
    let d = common::diag_text(&fpu, None);
    assert_eq!(d.confidence.level, clean.confidence.level);
    assert!(
        !d.confidence.reason.contains("damaged"),
        "{}",
        d.confidence.reason
    );
    // A malformed CR0 (an input of the CPU mode) lowers it.
    let cr0 = origin.replace("CR0=80050033", "CR0=8005003z");
    let d = common::diag_text(&cr0, None);
    assert!(
        d.confidence.level < clean.confidence.level,
        "{:?}",
        d.confidence
    );
}
