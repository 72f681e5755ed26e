//! Random bytes, `??` holes, markers and bitness never panic, and the result is self-consistent.

mod common;

use common::cpu;
use kvmtriage_model::{CpuState, Gpr};
use kvmtriage_x86::{analyze_code, CodeInput, CodeOptions, Syntax};
use proptest::prelude::*;

fn state() -> CpuState {
    cpu(&[
        (Gpr::Rax, 1),
        (Gpr::Rcx, 0x838),
        (Gpr::Rdx, 0),
        (Gpr::Rsp, 0x1000),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(
        bytes in proptest::collection::vec(proptest::option::weighted(0.9, any::<u8>()), 0..80),
        marker in 0usize..90,
        bitness in prop_oneof![Just(16u32), Just(32), Just(64), Just(0), Just(8), any::<u32>()],
        rip in any::<u64>(),
        cs_base in any::<u64>(),
        att in any::<bool>(),
    ) {
        let input = CodeInput { bytes: &bytes, marker, bitness, rip, cs_base };
        let opts = CodeOptions { syntax: if att { Syntax::Att } else { Syntax::Intel } };
        let a = analyze_code(&input, &state(), &opts);
        let _ = serde_json::to_string(&a).expect("serialises");
        if let Some(f) = &a.fault {
            prop_assert!(f.length >= 1 && f.length <= 15);
            prop_assert_eq!(a.listing.iter().filter(|l| l.is_fault).count(), 1);
        }
        prop_assert!(a.listing.iter().filter(|l| l.is_fault).count() <= 1);
    }
}
