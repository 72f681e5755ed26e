//! Alignment recovery on hand-made windows (the generated ones are in differential.rs).

mod common;

use kvmtriage_model::CpuState;
use kvmtriage_x86::{analyze_code, CodeAnalysis, CodeInput, CodeOptions, EffectKind};

fn run(bytes: &[Option<u8>], marker: usize, bitness: u32) -> CodeAnalysis {
    let input = CodeInput {
        bytes,
        marker,
        bitness,
        rip: 0x1000,
        cs_base: 0,
    };
    analyze_code(&input, &CpuState::default(), &CodeOptions::default())
}

fn k(b: &[u8]) -> Vec<Option<u8>> {
    b.iter().copied().map(Some).collect()
}

#[test]
fn decoding_from_byte_zero_swallows_the_marker() {
    // From offset 0: b8 90 90 90 0f = mov eax,0x0f909090 runs over the marker. From 1: three NOPs.
    let a = run(&k(&[0xb8, 0x90, 0x90, 0x90, 0x0f, 0x30]), 4, 32);
    assert!(a.alignment.synced);
    assert_eq!(a.alignment.start_offset, 1);
    assert_eq!(
        a.listing
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>(),
        ["nop", "nop", "nop", "wrmsr"]
    );
    let f = a.fault.expect("fault");
    assert_eq!(
        (f.address, f.mnemonic.as_str(), f.synced),
        (0x1000, "wrmsr", true)
    );
    assert_eq!(a.listing[0].address, 0xffd);
}

#[test]
fn movabs_swallows_marker_in_64_bit_mode() {
    // From offset 0, 48 b8 + imm64 is a 10-byte movabs that runs over the marker at 9. The true code
    // starts at 2 (push rbp; mov rbp,rsp; push r12; nop), but start 1 also lands without invalid
    // instructions (mov eax,imm32 swallows push/mov) and, being earlier, wins the tie. Both paths
    // converge at push r12, so the instructions next to the fault are the same; this is the
    // documented limit of the rule (docs/disasm-differential.md).
    let bytes = [
        0x48, 0xb8, 0x55, 0x48, 0x89, 0xe5, 0x41, 0x54, 0x90, 0x0f, 0x0b, 0x90,
    ];
    let a = run(&k(&bytes), 9, 64);
    assert!(a.alignment.synced);
    assert_eq!(a.alignment.start_offset, 1);
    assert_eq!(a.alignment.starts_landing, 8, "every start but 0 lands");
    let texts: Vec<&str> = a.listing.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        ["mov eax,0xe5894855", "push r12", "nop", "ud2", "nop"]
    );
    assert_eq!(a.fault.expect("fault").mnemonic, "ud2");
}

#[test]
fn fewest_invalid_wins_over_earliest_start() {
    // 06 is invalid in 64-bit mode: start 0 lands with one invalid, start 1 with none.
    let a = run(&k(&[0x06, 0x90, 0x0f, 0x30]), 2, 64);
    assert!(a.alignment.synced);
    assert_eq!(a.alignment.start_offset, 1);
    assert_eq!(a.alignment.invalid_before_marker, 0);
    assert_eq!(a.alignment.starts_landing, 2);
}

#[test]
fn no_start_lands_bytes_flagged_uncertain() {
    // 0f 30 from offset 0 is wrmsr and runs over the marker at 1; nothing else to try.
    let a = run(&k(&[0x0f, 0x30, 0xc0]), 1, 32);
    assert!(!a.alignment.synced);
    assert!(a.listing[0].uncertain);
    assert_eq!(a.listing[0].bytes, [0x0f]);
    let f = a.fault.expect("fault");
    assert_eq!(
        (f.bytes.as_slice(), f.mnemonic.as_str(), f.synced),
        (&[0x30, 0xc0][..], "xor", false)
    );
    assert!(
        a.notes.iter().any(|n| n.to_string().contains("uncertain")),
        "{:?}",
        a.notes
    );
}

#[test]
fn unreadable_bytes_bound_the_range() {
    let bytes = [
        None,
        Some(0xb8),
        Some(0x90),
        Some(0x90),
        Some(0x0f),
        Some(0x30),
        None,
        Some(0x90),
    ];
    let a = run(&bytes, 4, 32);
    assert_eq!(
        (a.alignment.readable_first, a.alignment.readable_end),
        (1, 6)
    );
    assert_eq!(a.fault.as_ref().map(|f| f.mnemonic.as_str()), Some("wrmsr"));
    assert!(
        a.notes
            .iter()
            .any(|n| n.to_string().contains("?? at offset 6")),
        "{:?}",
        a.notes
    );
    assert!(
        a.notes
            .iter()
            .any(|n| n.to_string().contains("before offset 1")),
        "{:?}",
        a.notes
    );
}

#[test]
fn marker_on_unreadable_byte_or_truncated_instruction() {
    let a = run(&[Some(0x90), None, None], 1, 64);
    assert!(a.fault.is_none());
    assert!(a.notes[0].to_string().contains("marker is ??"));
    // 0f alone at the end of the window: truncated.
    let a = run(&k(&[0x90, 0x0f]), 1, 64);
    let f = a.fault.expect("fault");
    assert!(!f.valid);
    assert_eq!(f.mnemonic, "(bad)");
    assert_eq!(f.effect.kind, EffectKind::Truncated);
    assert_eq!(
        f.effect.summary,
        "(truncated): the instruction starting with 0f runs past the readable bytes of the code window, so it cannot be decoded"
    );
    assert!(
        a.notes
            .iter()
            .any(|n| n.to_string().contains("runs past the readable bytes")),
        "{:?}",
        a.notes
    );
}

#[test]
fn unreadable_marker_still_lists_the_code_that_led_there() {
    // A jump off the end of RAM: 0x1000 - 4 holds `mov eax,ebx; nop; nop`, RIP is unreadable.
    let mut bytes = k(&[0xcc, 0x89, 0xd8, 0x90, 0x90]);
    bytes.extend([None, None, None]);
    let a = run(&bytes, 5, 32);
    assert!(a.fault.is_none());
    assert!(a.alignment.synced);
    let lines: Vec<(u64, String, &str, bool)> = a
        .listing
        .iter()
        .map(|l| {
            (
                l.address,
                common::line_bytes(l),
                l.text.as_str(),
                l.is_fault,
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (0xffb, "cc".to_string(), "int3", false),
            (0xffc, "89 d8".to_string(), "mov eax,ebx", false),
            (0xffe, "90".to_string(), "nop", false),
            (0xfff, "90".to_string(), "nop", false),
            (0x1000, "??".to_string(), "(unreadable)", true),
        ]
    );
    // Nothing readable at all: only the marker line.
    let a = run(&[None, None, None], 1, 64);
    assert_eq!(a.listing.len(), 1);
    assert_eq!(a.listing[0].text, "(unreadable)");
}

#[test]
fn real_mode_addresses_include_cs_base() {
    // corpus 045: CS base 0x... + IP; marker at 20.
    let bytes = k(&[
        0x0e, 0x07, 0x31, 0xc0, 0xb9, 0x00, 0x10, 0x8d, 0x3e, 0x00, 0x03, 0xfc, 0xf3, 0xab, 0x07,
        0xb8, 0x20, 0x00, 0xe7, 0x7e, 0xcb, 0x0f,
    ]);
    let input = CodeInput {
        bytes: &bytes,
        marker: 20,
        bitness: 16,
        rip: 0x7c20,
        cs_base: 0x9_0000,
    };
    let a = analyze_code(&input, &CpuState::default(), &CodeOptions::default());
    let f = a.fault.expect("fault");
    assert_eq!(f.address, 0x9_7c20);
    assert_eq!(f.mnemonic, "retf");
    assert_eq!(a.window_address, 0x9_7c0c);
    assert!(a.alignment.synced);
}

#[test]
fn bad_input_is_reported_not_panicking() {
    let a = run(&k(&[0x90]), 5, 64);
    assert!(a.fault.is_none());
    assert!(a.notes[0].to_string().contains("outside"));
    let a = run(&k(&[0x90]), 0, 8);
    assert!(a.notes[0].to_string().contains("unsupported bitness 8"));
}
