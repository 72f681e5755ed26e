//! The typed API: the faulting instruction decoded once (instruction, class, MSR access), the
//! enums' serde names, notes, and building the input from the model.

mod common;

use common::{cpu, set_seg};
use kvmtriage_model::{CodeWindow, CpuState, Gpr, ModeDecision, ModeHints, SegName};
use kvmtriage_x86::{
    analyze_code, known_bytes, Access, CodeAnalysis, CodeInput, CodeOptions, Direction, EffectKind,
    InsnClass, Note, OperandKind, PortDirection, XcrProblem,
};

fn fault_at_start(code: &[u8], bitness: u32, state: &CpuState) -> CodeAnalysis {
    let bytes = known_bytes(code);
    let input = CodeInput {
        bytes: &bytes,
        marker: 0,
        bitness,
        rip: 0x1000,
        cs_base: 0,
    };
    analyze_code(&input, state, &CodeOptions::default())
}

#[test]
fn fault_keeps_the_decoded_instruction_and_the_msr_access() {
    let st = cpu(&[(Gpr::Rcx, 0x838), (Gpr::Rax, 0x7213cc9), (Gpr::Rdx, 0)]);
    let a = fault_at_start(&[0x0f, 0x30, 0xc3], 64, &st);
    let f = a.fault.as_ref().expect("fault");
    let instr = f.instruction.expect("decoded instruction");
    assert_eq!(instr.mnemonic(), iced_x86::Mnemonic::Wrmsr);
    assert_eq!(instr.ip(), 0x1000);
    assert_eq!(f.bytes, [0x0f, 0x30]);
    assert_eq!(f.class(), None);
    assert_eq!(f.imm_msr, None);
    let msr = f.msr.as_ref().expect("msr");
    assert!(msr.is_write());
    assert_eq!(msr.direction, Direction::Write);
    assert_eq!(msr.index, Some(0x838));
    assert_eq!(msr.value, Some(0x7213cc9));
    assert_eq!(f.effect.kind, EffectKind::MsrWrite);
    let ecx = f
        .registers
        .iter()
        .find(|r| r.register == iced_x86::Register::ECX)
        .expect("ecx");
    assert_eq!((ecx.access, ecx.value), (Access::Read, Some(0x838)));
}

#[test]
fn instruction_classes() {
    let st = CpuState::default();
    for (code, bitness, class) in [
        (&[0xd9, 0xe8][..], 32, Some(InsnClass::X87)), // fld1
        (&[0x0f, 0x28, 0xc1][..], 64, Some(InsnClass::Sse)), // movaps xmm0,xmm1
        (&[0xc5, 0xfc, 0x28, 0xc1][..], 64, Some(InsnClass::Avx)), // vmovaps ymm0,ymm1
        (&[0x0f, 0x6f, 0xc1][..], 64, Some(InsnClass::Mmx)), // movq mm0,mm1
        (&[0x0f, 0xae, 0x27][..], 64, Some(InsnClass::Xsave)), // xsave [rdi]
        (&[0x0f, 0x30][..], 64, None),                 // wrmsr
        (&[0x06][..], 64, None),                       // (bad) in 64-bit mode
    ] {
        let a = fault_at_start(code, bitness, &st);
        let f = a.fault.as_ref().expect("fault");
        assert_eq!(f.class(), class, "{:02x?}", code);
        assert_eq!(f.instruction.is_some(), f.valid, "{:02x?}", code);
    }
}

#[test]
fn immediate_msr_form_has_no_iced_instruction() {
    // wrmsrns 0x838,rax (c4 e7 7a f6 c0 imm32)
    let mut st = cpu(&[(Gpr::Rax, 5)]);
    set_seg(&mut st, SegName::Cs, 0x10, 0);
    let a = fault_at_start(&[0xc4, 0xe7, 0x7a, 0xf6, 0xc0, 0x38, 0x08, 0, 0], 64, &st);
    let f = a.fault.as_ref().expect("fault");
    assert!(f.valid && f.instruction.is_none());
    let imm = f.imm_msr.expect("immediate form");
    assert!(imm.write);
    assert_eq!(imm.index, 0x838);
    let msr = f.msr.as_ref().expect("msr");
    assert_eq!((msr.index, msr.value), (Some(0x838), Some(5)));
    assert_eq!(
        f.operands.iter().map(|o| o.kind).collect::<Vec<_>>(),
        [OperandKind::Immediate, OperandKind::Register]
    );
}

#[test]
fn enums_serialise_to_their_names() {
    fn check<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: T,
        name: &str,
        shown: String,
    ) {
        let json = serde_json::to_string(&value).expect("json");
        assert_eq!(json, format!("\"{name}\""));
        assert_eq!(shown, name);
        let back: T = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, value);
    }
    for v in Access::ALL {
        check(*v, v.as_str(), v.to_string());
    }
    for v in EffectKind::ALL {
        check(*v, v.as_str(), v.to_string());
    }
    for v in Direction::ALL {
        check(*v, v.as_str(), v.to_string());
    }
    for v in PortDirection::ALL {
        check(*v, v.as_str(), v.to_string());
    }
    for v in OperandKind::ALL {
        check(*v, v.as_str(), v.to_string());
    }
    for v in InsnClass::ALL {
        check(*v, v.as_str(), v.to_string());
    }
    for v in XcrProblem::ALL {
        check(*v, v.as_str(), v.to_string());
    }
    assert_eq!(
        EffectKind::DescriptorTableLoad.as_str(),
        "descriptor_table_load"
    );
    assert_eq!(Access::ReadCondWrite.as_str(), "read_cond_write");
    assert_eq!(InsnClass::X87.as_str(), "x87");
}

#[test]
fn skipped_listing_has_a_typed_reason() {
    let bytes = known_bytes(&[0x90]);
    let run = |marker, bitness| {
        let input = CodeInput {
            bytes: &bytes,
            marker,
            bitness,
            rip: 0,
            cs_base: 0,
        };
        analyze_code(&input, &CpuState::default(), &CodeOptions::default())
    };
    let a = run(0, 8);
    assert_eq!(a.skipped(), Some(&Note::UnsupportedBitness { bitness: 8 }));
    assert!(a.listing.is_empty());
    let a = run(3, 64);
    assert_eq!(
        a.skipped(),
        Some(&Note::MarkerOutsideWindow {
            marker: 3,
            window_len: 1
        })
    );
    let json = serde_json::to_value(&a).expect("json");
    assert_eq!(
        json["notes"][0],
        "marker offset 3 is outside the 1-byte code window: not disassembled"
    );
    assert_eq!(run(0, 64).skipped(), None);
}

#[test]
fn input_from_the_model_uses_cs_base_outside_64_bit_mode() {
    // Real mode: CS 0x9000 (base 0x90000), IP 0x7c20, CR0.PE=0.
    let mut st = CpuState {
        rip: Some(0x7c20),
        cr0: Some(0x10),
        ..Default::default()
    };
    set_seg(&mut st, SegName::Cs, 0x9000, 0x9_0000);
    let window = CodeWindow {
        bytes: known_bytes(&[0x90, 0xcb]),
        marker: Some(1),
        line: 1,
    };
    let mode = ModeDecision::decide(&st, &ModeHints::default());
    let input = CodeInput::from_model(&window, &mode, &st).expect("input");
    assert_eq!((input.bitness, input.marker, input.rip), (16, 1, 0x7c20));
    let a = analyze_code(&input, &st, &CodeOptions::default());
    let f = a.fault.as_ref().expect("fault");
    assert_eq!((f.address, f.mnemonic.as_str()), (0x9_7c20, "retf"));
    let no_marker = CodeWindow {
        marker: None,
        ..window
    };
    assert!(CodeInput::from_model(&no_marker, &mode, &st).is_none());
}
