//! Every scenario under each relevant kernel model on the real /dev/kvm: the outcome, the
//! vector the guest's handler saw, the MSR exit record, and the internal-error data.
//!
//! Every test needs a usable /dev/kvm: without one they are reported as ignored (failed under
//! CI), never as passed (`harness = false`, kvmtriage-testkit).

use std::time::{Duration, Instant};

use kvmtriage_dump::{CpuState, Gpr, ModeDecision, ModeHints, ModeKind, SegName};
use kvmtriage_kvm::policy::Verdict;
use kvmtriage_kvm::report::Report;
use kvmtriage_kvm::run::RunResult;
use kvmtriage_kvm::{reproduce, scenarios, Guest, Outcome, Request};

const MODELS: &[&str] = &[
    "host",
    "linux-5.10",
    "linux-5.15",
    "linux-5.18",
    "linux-5.19",
    "linux-6.0",
];
const PRE_FIX: &[&str] = &["linux-5.10", "linux-5.15", "linux-5.18", "linux-5.19"];

fn run(scenario: &str, model: &str, rules: &[&str]) -> (Report, RunResult) {
    let mut request = Request::new(
        Guest::Scenario(scenarios::find(scenario).unwrap()),
        model.parse().unwrap(),
        rules.iter().map(|r| r.parse().unwrap()).collect(),
    );
    request.limits.wall = Duration::from_secs(3);
    reproduce(&request, &mut |_| {}).unwrap()
}

/// The model's one mode decider on the captured state (no QEMU text, so no hints).
fn mode(state: &CpuState) -> ModeKind {
    ModeDecision::decide(state, &ModeHints::default()).kind
}

fn pvm_host() -> bool {
    kvmtriage_kvm::host::vendor_modules()
        .iter()
        .any(|m| m == "kvm_pvm")
}

fn assert_gp(report: &Report, context: &str) {
    match &report.outcome {
        Outcome::GuestException {
            vector: 13,
            name,
            error_code: Some(0),
            fault_rip: Some(rip),
        } => {
            assert_eq!(name, "#GP");
            // The faulting instruction is the MSR access whose exit was answered with #GP.
            let last = report.msr_exits.last().expect("an MSR exit before the #GP");
            assert_eq!(last.rip, *rip, "{context}");
            assert_eq!(last.verdict, Verdict::GeneralProtection, "{context}");
        }
        other => panic!("{context}: expected #GP seen by the guest handler, got {other:?}"),
    }
}

fn assert_eperm(
    (report, result): (&Report, &RunResult),
    index: u32,
    value: u64,
    kvm_reason: &str,
    context: &str,
) {
    assert_eq!(
        report.outcome,
        Outcome::KvmRunFailed {
            errno: libc::EPERM,
            errno_name: "EPERM".into(),
            simulated: true
        },
        "{context}"
    );
    let msr = report.exit.msr.as_ref().expect("exit record has the MSR");
    assert_eq!(
        (msr.index, msr.value, msr.kvm_reason),
        (index, value, kvm_reason),
        "{context}"
    );
    assert_eq!(report.exit.exit_reason, "KVM_EXIT_X86_WRMSR");
    assert_eq!(report.exit.exit_reason_code, Some(30));
    assert!(report
        .qemu_text
        .starts_with("error: kvm run failed Operation not permitted\n"));
    // RIP is still on the WRMSR: the exit was never completed.
    assert_eq!(registers_rip(report, result), msr.rip);
    assert!(report.qemu_text.contains("<0f> 30"), "{}", report.qemu_text);
}

/// `registers.rip` of the JSON report (a view over the run's state).
fn registers_rip(report: &Report, result: &RunResult) -> u64 {
    let v = serde_json::to_value(report.json(&result.state, &result.code)).unwrap();
    let rip = v["registers"]["rip"].as_str().unwrap();
    u64::from_str_radix(rip.trim_start_matches("0x"), 16).unwrap()
}

fn origin_x2apic_timer_continues_under_every_model() {
    for model in MODELS {
        let (report, _) = run("origin-x2apic-timer", model, &[]);
        assert_eq!(report.outcome, Outcome::Halted, "{model}");
        assert_eq!(
            report.msr_exits.len(),
            scenarios::ORIGIN_TIMER_WRITES as usize
        );
        for e in &report.msr_exits {
            assert_eq!(
                (e.index, e.value, e.kvm_reason),
                (0x838, 0x7213cc9, "INVAL")
            );
            assert_eq!(e.verdict, Verdict::Allow);
        }
        assert!(report.console.contains("all timer writes done"));
    }
}

fn origin_x2apic_timer_with_injected_eperm_dies_at_the_first_write() {
    let (report, result) = run("origin-x2apic-timer", "host", &["wrmsr:0x838=EPERM"]);
    assert_eperm((&report, &result), 0x838, 0x7213cc9, "INVAL", "origin");
    assert_eq!(report.msr_exits.len(), 1);
    assert_eq!(mode(&result.state), ModeKind::Long64);
    let r = |g: Gpr| result.state.gpr(g).unwrap();
    assert_eq!(
        (
            r(Gpr::Rax),
            r(Gpr::Rcx),
            r(Gpr::Rdx),
            r(Gpr::Rsi),
            r(Gpr::Rdi)
        ),
        (0x7213cc9, 0x838, 0, 0x7213cc9, 0x838)
    );
    // The other direction of the printer's round trip: QEMU's text printed from the captured
    // state reads back (kvmtriage's dump reader) into the same values, as far as QEMU prints
    // them (all 64 bits of GPRs, RIP, segments, CR2/CR3, EFER in the 64-bit layout).
    let dumps = kvmtriage_dump::read(&report.qemu_text).unwrap();
    let read = &dumps[0].cpu;
    let state = &result.state;
    assert_eq!(read.gprs[..16], state.gprs[..16]);
    assert_eq!(
        (read.rip, read.cr2, read.cr3, read.efer),
        (state.rip, state.cr2, state.cr3, state.efer)
    );
    assert_eq!(read.segments, state.segments);
    assert_eq!((read.gdt, read.idt), (state.gdt, state.idt));
    assert_eq!((read.dr, read.cpl), (state.dr, state.cpl));
    let code = dumps[0].code.as_ref().unwrap();
    assert_eq!(
        (&code.bytes, code.marker),
        (&result.code.bytes, result.code.marker)
    );
    assert_eq!(dumps[0].mode.kind, ModeKind::Long64);
}

fn origin_x2apic_timer_random_injection_is_deterministic() {
    let rule = "random:rate=0.05,seed=7=EPERM";
    let (a, a_result) = run("origin-x2apic-timer", "host", &[rule]);
    let (b, _) = run("origin-x2apic-timer", "host", &[rule]);
    assert_eperm((&a, &a_result), 0x838, 0x7213cc9, "INVAL", "random");
    // Same seed, same write number.
    assert_eq!(a.msr_exits.len(), b.msr_exits.len());
    assert!(
        a.msr_exits.len() > 1,
        "seed 7 should let some writes through first"
    );
    let (c, _) = run(
        "origin-x2apic-timer",
        "host",
        &["random:rate=0,seed=7=EPERM"],
    );
    assert_eq!(c.outcome, Outcome::Halted);
}

fn origin_x2apic_timer_injected_gp_reaches_the_guest_handler() {
    let (report, _) = run("origin-x2apic-timer", "host", &["wrmsr:0x838=GP"]);
    assert_gp(&report, "origin GP");
}

fn unixware_mc1_ctl() {
    // This host's KVM (>= 6.0) accepts bit 0 clear without asking the VMM.
    let (report, _) = run("unixware-mc1-ctl", "host", &[]);
    assert_eq!(report.outcome, Outcome::Halted);
    assert!(report.msr_exits.is_empty());
    for model in PRE_FIX {
        let (report, result) = run("unixware-mc1-ctl", model, &[]);
        assert_eperm(
            (&report, &result),
            0x404,
            0xffff_ffff_ffff_fffe,
            "FILTER",
            model,
        );
        assert_eq!(mode(&result.state), ModeKind::Protected32);
        assert!(report
            .qemu_text
            .contains("\nEAX=fffffffe EBX=00000000 ECX=00000404 EDX=ffffffff\n"));
        let msr = report.exit.msr.as_ref().unwrap();
        assert!(
            msr.decided_by.contains("set_msr_mce(MCi_CTL) returns -1"),
            "{}",
            msr.decided_by
        );
    }
    let (report, _) = run("unixware-mc1-ctl", "linux-6.0", &[]);
    assert_eq!(report.outcome, Outcome::Halted);
    assert_eq!(report.msr_exits.len(), 1);
    assert_eq!(report.msr_exits[0].verdict, Verdict::Allow);
    assert!(report.console.contains("wrmsr accepted"));
}

fn unixware_value_predicates() {
    let (report, result) = run("unixware-mc1-ctl", "host", &["wrmsr:0x404,value&1=0=EPERM"]);
    assert_eperm(
        (&report, &result),
        0x404,
        0xffff_ffff_ffff_fffe,
        "FILTER",
        "value&1=0",
    );
    let (report, _) = run("unixware-mc1-ctl", "host", &["wrmsr:0x404,value=0=EPERM"]);
    assert_eq!(
        report.outcome,
        Outcome::Halted,
        "predicate false: passed to KVM"
    );
    assert_eq!(report.msr_exits[0].verdict, Verdict::Allow);
}

fn illegal_mci_ctl_and_nonzero_mci_status() {
    for (scenario, index, value) in [
        ("mci-ctl-illegal", 0x404, 0x1234),
        ("mci-status-nonzero", 0x405, 1),
    ] {
        let (report, _) = run(scenario, "host", &[]);
        assert_gp(&report, scenario);
        assert_eq!(
            report.msr_exits[0].kvm_reason, "INVAL",
            "KVM itself rejected it"
        );
        for model in PRE_FIX {
            let (report, result) = run(scenario, model, &[]);
            assert_eperm((&report, &result), index, value, "FILTER", model);
        }
        let (report, _) = run(scenario, "linux-6.0", &[]);
        assert_gp(&report, scenario);
        assert!(report.msr_exits[0].decided_by.contains("linux-6.0"));
    }
}

fn unknown_and_filtered_msrs_get_gp() {
    let ignore = kvmtriage_kvm::host::ignore_msrs();
    for model in MODELS {
        for scenario in ["unknown-msr-read", "unknown-msr-write"] {
            let (report, _) = run(scenario, model, &[]);
            if ignore {
                assert_eq!(report.outcome, Outcome::Halted, "{scenario} ignore_msrs=Y");
            } else {
                assert_gp(&report, scenario);
            }
            assert_eq!(report.msr_exits[0].index, 0xdead_beef);
            assert_eq!(report.msr_exits[0].kvm_reason, "UNKNOWN");
        }
        let (report, _) = run("filtered-msr", model, &[]);
        assert_gp(&report, "filtered-msr");
        assert_eq!(report.msr_exits[0].kvm_reason, "FILTER");
        assert!(report.msr_exits[0]
            .decided_by
            .contains("scenario MSR filter"));
    }
}

fn injected_read_failure_is_fatal() {
    let (report, _) = run(
        "unknown-msr-read",
        "host",
        &["rdmsr:0xdead0000-0xdeadffff=EIO"],
    );
    assert_eq!(
        report.outcome,
        Outcome::KvmRunFailed {
            errno: libc::EIO,
            errno_name: "EIO".into(),
            simulated: true
        }
    );
    assert_eq!(report.exit.exit_reason, "KVM_EXIT_X86_RDMSR");
    assert!(report
        .qemu_text
        .starts_with("error: kvm run failed Input/output error\n"));
    assert!(report.qemu_text.contains("<0f> 32"));
}

fn x87_load_from_mmio_is_an_emulation_failure_with_instruction_bytes() {
    for model in ["host", "linux-5.15"] {
        let (report, _) = run("x87-mmio", model, &[]);
        let Outcome::InternalError { suberror, data } = &report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert_eq!(*suberror, 1);
        assert!(data.len() >= 3, "{data:x?}");
        assert_eq!(data[0] & 1, 1, "instruction bytes present");
        let mut bytes = data[1].to_le_bytes().to_vec();
        bytes.extend(data[2].to_le_bytes());
        let len = bytes[0] as usize;
        assert!(len >= 7);
        assert_eq!(&bytes[1..8], &[0xd9, 0x04, 0x25, 0x00, 0x00, 0x00, 0x30]);
        assert!(report
            .qemu_text
            .starts_with("KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000001\n"));
        assert!(report.qemu_text.contains("\nemulation failure\nRAX="));
        assert!(report.qemu_text.contains("<d9> 04 25 00 00 00 30"));
    }
}

fn mmio_accesses_are_logged() {
    let (report, _) = run("mmio-store", "host", &[]);
    assert_eq!(report.outcome, Outcome::Halted);
    let got: Vec<(bool, &[u8])> = report
        .mmio_exits
        .iter()
        .map(|m| (m.write, m.data.as_slice()))
        .collect();
    assert_eq!(got, vec![(true, &[0x42][..]), (false, &[0xff; 4][..])]);
    let v = serde_json::to_value(&report.mmio_exits).unwrap();
    assert_eq!(v[0]["gpa"], "0x30000000");
    assert_eq!(v[1]["gpa"], "0x30000004");
    assert_eq!(v[0]["data"], "42");
    assert_eq!(v[1]["data"], "ff ff ff ff");
}

fn jump_to_unbacked_memory() {
    let (report, result) = run("jump-unbacked", "host", &[]);
    let Outcome::InternalError { suberror, .. } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(*suberror, 1);
    assert_eq!(result.state.rip, Some(0x3000_0000));
    // Nothing is readable there: QEMU prints ?? for every byte.
    assert!(result.code.bytes.iter().all(Option::is_none));
    assert!(report.qemu_text.contains("Code=?? ?? "));
    assert!(report.qemu_text.contains(" <??> "));
}

fn triple_fault_is_a_shutdown() {
    for model in MODELS {
        let (report, result) = run("triple-fault", model, &[]);
        assert_eq!(report.outcome, Outcome::Shutdown, "{model}");
        // QEMU prints no dump for a triple fault; our text marks the dump as ours.
        assert!(report.qemu_text.is_empty());
        let text = report.to_text(&result.state, &result.code);
        assert!(text.starts_with("kvmtriage: KVM_EXIT_SHUTDOWN (triple fault)"));
    }
}

fn ud2_in_each_mode() {
    for (scenario, bits) in [("ud2-16", 16), ("ud2-32", 32), ("ud2-64", 64)] {
        let (report, result) = run(scenario, "host", &[]);
        assert_eq!(report.mode.bitness(), bits);
        if bits == 16 && pvm_host() {
            // PVM emulates real mode and its emulator gives up on UD2 (spec §4).
            let Outcome::InternalError { suberror: 1, data } = &report.outcome else {
                panic!("{:?}", report.outcome)
            };
            assert_eq!(
                (data[1] >> 8) & 0xffff,
                0x0b0f,
                "insn bytes 0f 0b: {data:x?}"
            );
            continue;
        }
        match &report.outcome {
            Outcome::GuestException {
                vector: 6,
                error_code: None,
                fault_rip: Some(rip),
                ..
            } => {
                let cs_base = result.state.segment(SegName::Cs).unwrap().base;
                let ud2_at = (cs_base + rip) as usize - 0x10000;
                let code = scenarios::find(scenario).unwrap().assemble().unwrap();
                assert_eq!(&code[ud2_at..ud2_at + 2], &[0x0f, 0x0b], "{scenario}");
            }
            other => panic!("{scenario}: {other:?}"),
        }
    }
}

fn runaway_guests_are_stopped() {
    let mut request = Request::new(
        Guest::Scenario(scenarios::find("spin").unwrap()),
        "host".parse().unwrap(),
        vec![],
    );
    request.limits.wall = Duration::from_millis(300);
    let start = Instant::now();
    let (report, _) = reproduce(&request, &mut |_| {}).unwrap();
    let took = start.elapsed();
    assert_eq!(report.outcome, Outcome::WallClockLimit { limit_ms: 300 });
    assert!(took < Duration::from_secs(2), "{took:?}");

    // The garbage writer corrupts its page tables, IDT and code; whatever it does, the run ends.
    request.guest = Guest::Scenario(scenarios::find("garbage").unwrap());
    request.limits.max_exits = 50;
    let start = Instant::now();
    let (report, _) = reproduce(&request, &mut |_| {}).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(report.exits <= 50);

    // Exit limit on a guest that exits forever (the timer loop under a 10-exit budget).
    request.guest = Guest::Scenario(scenarios::find("origin-x2apic-timer").unwrap());
    request.limits.max_exits = 10;
    let (report, _) = reproduce(&request, &mut |_| {}).unwrap();
    assert_eq!(report.outcome, Outcome::ExitLimit { limit: 10 });
    assert_eq!(report.exits, 10);
}

/// Random bytes as guest code in every mode: whatever they do (fault, triple-fault, write over
/// the page tables, spin, flood MMIO), the run ends within its limits and reports an outcome.
fn random_guest_code_never_hangs_or_crashes() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for mode in [
        kvmtriage_kvm::CpuMode::Real,
        kvmtriage_kvm::CpuMode::Protected,
        kvmtriage_kvm::CpuMode::Long,
    ] {
        for _ in 0..12 {
            let bytes: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
            let mut request = Request::new(
                Guest::Image {
                    name: "random".into(),
                    bytes,
                    mode,
                    load: 0x10000,
                    entry: 0x10000,
                },
                "linux-5.15".parse().unwrap(),
                vec!["random:rate=0.3,seed=1=EPERM".parse().unwrap()],
            );
            request.limits.wall = Duration::from_millis(150);
            request.limits.max_exits = 2000;
            let start = Instant::now();
            let (report, result) = reproduce(&request, &mut |_| {}).unwrap();
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{mode:?}: {:?}",
                report.outcome
            );
            assert!(report.exits <= 2000);
            // The text report always renders.
            let text = report.to_text(&result.state, &result.code);
            assert!(text.contains("kvmtriage: exit record"));
        }
    }
}

fn main() {
    let kvm = kvmtriage_testkit::dev_kvm();
    let tests: [(&str, fn()); 16] = [
        (
            "origin_x2apic_timer_continues_under_every_model",
            origin_x2apic_timer_continues_under_every_model,
        ),
        (
            "origin_x2apic_timer_with_injected_eperm_dies_at_the_first_write",
            origin_x2apic_timer_with_injected_eperm_dies_at_the_first_write,
        ),
        (
            "origin_x2apic_timer_random_injection_is_deterministic",
            origin_x2apic_timer_random_injection_is_deterministic,
        ),
        (
            "origin_x2apic_timer_injected_gp_reaches_the_guest_handler",
            origin_x2apic_timer_injected_gp_reaches_the_guest_handler,
        ),
        ("unixware_mc1_ctl", unixware_mc1_ctl),
        ("unixware_value_predicates", unixware_value_predicates),
        (
            "illegal_mci_ctl_and_nonzero_mci_status",
            illegal_mci_ctl_and_nonzero_mci_status,
        ),
        (
            "unknown_and_filtered_msrs_get_gp",
            unknown_and_filtered_msrs_get_gp,
        ),
        (
            "injected_read_failure_is_fatal",
            injected_read_failure_is_fatal,
        ),
        (
            "x87_load_from_mmio_is_an_emulation_failure_with_instruction_bytes",
            x87_load_from_mmio_is_an_emulation_failure_with_instruction_bytes,
        ),
        ("mmio_accesses_are_logged", mmio_accesses_are_logged),
        ("jump_to_unbacked_memory", jump_to_unbacked_memory),
        ("triple_fault_is_a_shutdown", triple_fault_is_a_shutdown),
        ("ud2_in_each_mode", ud2_in_each_mode),
        ("runaway_guests_are_stopped", runaway_guests_are_stopped),
        (
            "random_guest_code_never_hangs_or_crashes",
            random_guest_code_never_hangs_or_crashes,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| kvmtriage_testkit::trial(name, &[&kvm], test))
        .collect();
    kvmtriage_testkit::run(&[kvm], trials);
}
