//! diagnose() never panics, whatever the reader makes of the input.

use kvmtriage_diagnose::facts::{Event, Facts};
use kvmtriage_diagnose::{diagnose, diagnose_facts, DiagnoseOptions, KernelVersion};
use kvmtriage_model::{
    CodeWindow, CpuState, Gpr, ModeDecision, ModeHints, Segment, SegmentAttributes,
};
use proptest::prelude::*;

fn seg() -> impl Strategy<Value = Option<Segment>> {
    proptest::option::of(
        (any::<u16>(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(
            |(selector, base, limit, attrs)| Segment {
                selector,
                base,
                limit,
                attributes: SegmentAttributes(attrs & SegmentAttributes::MASK),
            },
        ),
    )
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (proptest::option::of(0i32..200), "[a-zA-Z ]{0,30}")
            .prop_map(|(errno, message)| Event::RunFailed { errno, message }),
        (0u32..8, proptest::collection::vec(any::<u64>(), 0..12))
            .prop_map(|(suberror, data)| Event::InternalError { suberror, data }),
        any::<u64>().prop_map(|hardware_reason| Event::EntryFailed { hardware_reason }),
        (0u32..40, any::<u64>())
            .prop_map(|(vector, error_code)| Event::ExceptionExit { vector, error_code }),
        Just(Event::TripleFault),
        Just(Event::None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_facts_never_panic(
        ev in event(),
        regs in proptest::collection::vec(proptest::option::of(any::<u64>()), 10),
        segs in proptest::collection::vec(seg(), 8),
        code in proptest::option::of((proptest::collection::vec(proptest::option::of(any::<u8>()), 0..60), proptest::option::of(0usize..70))),
        host in proptest::option::of("[0-9]\\.[0-9]{1,2}\\.[0-9]{1,3}(-[a-z0-9.]{1,10})?"),
    ) {
        let mut cpu = CpuState {
            rip: regs[3], rflags: regs[4], cr0: regs[5], cr3: regs[6], cr4: regs[7], efer: regs[8],
            ..CpuState::default()
        };
        cpu.gprs[Gpr::Rax.number()] = regs[0];
        cpu.gprs[Gpr::Rcx.number()] = regs[1];
        cpu.gprs[Gpr::Rdx.number()] = regs[2];
        cpu.gprs[Gpr::Rsp.number()] = regs[9];
        for (slot, s) in cpu.segments.iter_mut().zip(&segs) {
            *slot = *s;
        }
        let mode = ModeDecision::decide(&cpu, &ModeHints::default());
        let window = code.map(|(bytes, marker)| CodeWindow { bytes, marker, line: 0 });
        let f = Facts {
            event: ev,
            cpu: &cpu,
            mode: &mode,
            code: window.as_ref(),
            ..Facts::default()
        };
        let opts = DiagnoseOptions { host_kernel: host.and_then(|h| KernelVersion::parse(&h).ok()) };
        let d = diagnose_facts(&f, &opts);
        prop_assert!(d.verdict.ends_with('.'));
        prop_assert!(!d.evidence.is_empty());
        prop_assert!(serde_json::to_string(&d).is_ok());
    }

    #[test]
    fn arbitrary_text_never_panics(lines in proptest::collection::vec(prop_oneof![
        Just("error: kvm run failed Operation not permitted".to_string()),
        Just("KVM internal error. Suberror: 1".to_string()),
        "extra data\\[[0-9]\\]: 0x[0-9a-f]{1,16}",
        Just("KVM: entry failed, hardware error 0x80000021".to_string()),
        "EAX=[0-9a-f]{8} EBX=[0-9a-f]{8} ECX=[0-9a-f]{8} EDX=[0-9a-f]{8}",
        Just("ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000".to_string()),
        "EIP=[0-9a-f]{8} EFL=00000002 \\[-------\\] CPL=0 II=0 A20=1 SMM=[01] HLT=0",
        "CS =[0-9a-f]{4} [0-9a-f]{8} [0-9a-f]{8} 00[0-9a-f]{4}00",
        "CR0=[0-9a-f]{8} CR2=00000000 CR3=00000000 CR4=00000000",
        "Code=([0-9a-f]{2} ){0,20}<[0-9a-f]{2}>( [0-9a-f]{2}){0,29}",
        "\\PC{0,40}",
    ], 1..30)) {
        let text = lines.join("\n");
        if let Ok(dumps) = kvmtriage_dump::read(&text) {
            for d in dumps {
                let g = diagnose(&d, None, &DiagnoseOptions::default());
                prop_assert!(!g.verdict.is_empty());
            }
        }
    }
}
