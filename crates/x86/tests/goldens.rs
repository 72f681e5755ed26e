//! Golden CodeAnalysis JSON for two more real windows: a 32-bit KVM dump (zero-limit IDT, then INT3)
//! and a 16-bit protected-mode dump (far JMP through GS). Register values typed from the dumps.

use kvmtriage_x86::{
    analyze_code, CodeAnalysis, CodeInput, CodeOptions, MachineState, Segment, TableRegister,
};

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// First `Code=` line of a file: bytes and marker (test-only scan).
fn code_line(path: &str) -> (Vec<Option<u8>>, usize) {
    let text = std::fs::read_to_string(repo(path)).expect("fixture");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Code="))
        .expect("Code= line");
    let mut bytes = Vec::new();
    let mut marker = None;
    for tok in line.split_whitespace() {
        let t = match tok.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            Some(inner) => {
                marker = Some(bytes.len());
                inner
            }
            None => tok,
        };
        bytes.push(u8::from_str_radix(t, 16).ok());
    }
    (bytes, marker.expect("marker"))
}

fn golden(name: &str, a: &CodeAnalysis) {
    let json = serde_json::to_string_pretty(a).expect("json") + "\n";
    let path = repo(&format!("testdata/x86/{name}"));
    if std::env::var_os("KVMTRIAGE_BLESS").is_some() {
        std::fs::write(&path, &json).expect("write golden");
    }
    let want = std::fs::read_to_string(&path).expect("golden file (KVMTRIAGE_BLESS=1 creates it)");
    assert_eq!(json, want, "CodeAnalysis JSON differs from {path}");
}

fn seg(selector: u16, base: u64) -> Option<Segment> {
    Some(Segment { selector, base })
}

#[test]
fn kvm_mode32_triple_int3_with_zero_limit_idt() {
    let (bytes, marker) = code_line("testdata/corpus/qemu-real/kvm-mode32-triple.stderr");
    let state = MachineState {
        rax: Some(0xaaaa_aaaa),
        rbx: Some(0xbbbb_bbbb),
        rcx: Some(0xcccc_cccc),
        rdx: Some(0xdddd_dddd),
        rsi: Some(0x5151_5151),
        rdi: Some(0xd1d1_d1d1),
        rbp: Some(0xb9b9_b9b9),
        rsp: Some(0x7000),
        rip: Some(0x7e80),
        rflags: Some(0x47),
        es: seg(0x10, 0),
        cs: seg(0x08, 0),
        ss: seg(0x10, 0),
        ds: seg(0x10, 0),
        fs: seg(0x28, 0),
        gs: seg(0, 0),
        cr0: Some(0x11),
        cr2: Some(0),
        cr3: Some(0),
        cr4: Some(0),
        efer: Some(0),
        gdt: Some(TableRegister {
            base: 0x7f50,
            limit: 0x4f,
        }),
        idt: Some(TableRegister { base: 0, limit: 0 }),
        ..Default::default()
    };
    let input = CodeInput {
        bytes: &bytes,
        marker,
        bitness: 32,
        rip: 0x7e80,
        cs_base: 0,
    };
    let a = analyze_code(&input, &state, &CodeOptions::default());
    let f = a.fault.as_ref().expect("fault");
    assert_eq!(
        (f.address, f.bytes.as_str(), f.mnemonic.as_str()),
        (0x7e80, "cc", "int3")
    );
    assert_eq!(
        f.effect.summary,
        "int3: breakpoint trap, vector 3 (#BP breakpoint); IDT entry at 0x0000000000000018 lies beyond the IDT limit 0x0: #GP, then #DF, then a triple fault if the IDT is unusable"
    );
    assert!(a.alignment.synced);
    let before: Vec<&str> = a
        .listing
        .iter()
        .take_while(|l| !l.is_fault)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(before.last().copied(), Some("lidt fword ptr [0x7fa6]"));
    golden("kvm-mode32-triple-code-analysis.json", &a);
}

#[test]
fn corpus_011_far_jmp_through_gs_in_16_bit_protected_mode() {
    let (bytes, marker) = code_line("testdata/corpus/real/011.txt");
    let state = MachineState {
        rax: Some(1),
        rbx: Some(0),
        rcx: Some(0x14),
        rdx: Some(0x1fb80),
        rsi: Some(0),
        rdi: Some(0xa8),
        rbp: Some(0),
        rsp: Some(0x6f10),
        rip: Some(0x1e3),
        rflags: Some(0x10002),
        es: seg(0x0900, 0x9000),
        cs: seg(0xc000, 0xc0000),
        ss: seg(0, 0),
        ds: seg(0xc000, 0xc0000),
        fs: seg(0x0950, 0x9500),
        gs: seg(0x06f2, 0x6f20),
        cr0: Some(0x11),
        gdt: Some(TableRegister {
            base: 0xc02b4,
            limit: 0x27,
        }),
        idt: Some(TableRegister {
            base: 0,
            limit: 0x3ff,
        }),
        ..Default::default()
    };
    let input = CodeInput {
        bytes: &bytes,
        marker,
        bitness: 16,
        rip: 0x1e3,
        cs_base: 0xc0000,
    };
    let a = analyze_code(&input, &state, &CodeOptions::default());
    let f = a.fault.as_ref().expect("fault");
    assert_eq!(f.address, 0xc01e3);
    assert_eq!(
        (f.bytes.as_str(), f.mnemonic.as_str()),
        ("65 66 ff 2e 00 00", "jmp")
    );
    assert_eq!(f.text, "jmpf fword ptr gs:[0x0]");
    assert_eq!(
        f.effect.summary,
        "jmp far: jumps to the m16:32 far pointer stored at 0x0000000000006f20 (target not in the dump)"
    );
    assert_eq!(f.memory.first().and_then(|m| m.address), Some(0x6f20));
    assert_eq!(
        f.prefixes
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["gs", "operand-size"]
    );
    golden("corpus-011-code-analysis.json", &a);
}
