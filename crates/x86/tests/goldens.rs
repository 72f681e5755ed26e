//! Golden CodeAnalysis JSON for two more real windows: a 32-bit KVM dump (zero-limit IDT, then INT3)
//! and a 16-bit protected-mode dump (far JMP through GS). Register values typed from the dumps.

use kvmtriage_x86::{analyze_code, CodeAnalysis, CodeInput, CodeOptions};
mod common;

use common::{cpu, set_seg, table};
use kvmtriage_model::{Gpr, SegName};

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

#[test]
fn kvm_mode32_triple_int3_with_zero_limit_idt() {
    let (bytes, marker) = code_line("testdata/corpus/qemu-real/kvm-mode32-triple.stderr");
    let state = {
        let mut c = cpu(&[
            (Gpr::Rax, 0xaaaa_aaaa),
            (Gpr::Rbx, 0xbbbb_bbbb),
            (Gpr::Rcx, 0xcccc_cccc),
            (Gpr::Rdx, 0xdddd_dddd),
            (Gpr::Rsi, 0x5151_5151),
            (Gpr::Rdi, 0xd1d1_d1d1),
            (Gpr::Rbp, 0xb9b9_b9b9),
            (Gpr::Rsp, 0x7000),
        ]);
        c.rip = Some(0x7e80);
        c.rflags = Some(0x47);
        set_seg(&mut c, SegName::Es, 0x10, 0);
        set_seg(&mut c, SegName::Cs, 0x08, 0);
        set_seg(&mut c, SegName::Ss, 0x10, 0);
        set_seg(&mut c, SegName::Ds, 0x10, 0);
        set_seg(&mut c, SegName::Fs, 0x28, 0);
        set_seg(&mut c, SegName::Gs, 0, 0);
        c.cr0 = Some(0x11);
        c.cr2 = Some(0);
        c.cr3 = Some(0);
        c.cr4 = Some(0);
        c.efer = Some(0);
        c.gdt = table(0x7f50, 0x4f);
        c.idt = table(0, 0);
        c
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
        (f.address, f.bytes.as_slice(), f.mnemonic.as_str()),
        (0x7e80, &[0xcc][..], "int3")
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
    let state = {
        let mut c = cpu(&[
            (Gpr::Rax, 1),
            (Gpr::Rbx, 0),
            (Gpr::Rcx, 0x14),
            (Gpr::Rdx, 0x1fb80),
            (Gpr::Rsi, 0),
            (Gpr::Rdi, 0xa8),
            (Gpr::Rbp, 0),
            (Gpr::Rsp, 0x6f10),
        ]);
        c.rip = Some(0x1e3);
        c.rflags = Some(0x10002);
        set_seg(&mut c, SegName::Es, 0x0900, 0x9000);
        set_seg(&mut c, SegName::Cs, 0xc000, 0xc0000);
        set_seg(&mut c, SegName::Ss, 0, 0);
        set_seg(&mut c, SegName::Ds, 0xc000, 0xc0000);
        set_seg(&mut c, SegName::Fs, 0x0950, 0x9500);
        set_seg(&mut c, SegName::Gs, 0x06f2, 0x6f20);
        c.cr0 = Some(0x11);
        c.gdt = table(0xc02b4, 0x27);
        c.idt = table(0, 0x3ff);
        c
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
        (f.bytes.as_slice(), f.mnemonic.as_str()),
        (&[0x65, 0x66, 0xff, 0x2e, 0x00, 0x00][..], "jmp")
    );
    assert_eq!(f.text, "jmpf fword ptr gs:[0x0]");
    assert_eq!(
        f.effect.summary,
        "jmp far: jumps to the m16:32 far pointer stored at 0x0000000000006f20 (target not in the dump)"
    );
    assert_eq!(f.memory.first().and_then(|m| m.address), Some(0x6f20));
    assert_eq!(
        f.prefixes.iter().map(|p| p.name).collect::<Vec<_>>(),
        ["gs", "operand-size"]
    );
    golden("corpus-011-code-analysis.json", &a);
}
