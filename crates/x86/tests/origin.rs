//! The origin dump (testdata/seed/origin-note.txt): 64-bit, RIP 0xffffffff96070964, marker offset 20.

use kvmtriage_x86::{analyze_code, CodeInput, CodeOptions, Syntax};
mod common;

use common::{cpu, set_seg, table};
use iced_x86::Register;
use kvmtriage_model::{CpuState, Gpr, SegName};

/// Reads the `Code=` line of the origin note (test-only scan, not the product's reader).
fn origin_code() -> (Vec<Option<u8>>, usize) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    );
    let text = std::fs::read_to_string(path).expect("origin note");
    let line = text
        .lines()
        .find(|l| l.starts_with("Code="))
        .expect("Code= line");
    let mut bytes = Vec::new();
    let mut marker = None;
    for tok in line["Code=".len()..].split_whitespace() {
        let t = if let Some(inner) = tok.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            marker = Some(bytes.len());
            inner
        } else {
            tok
        };
        bytes.push(u8::from_str_radix(t, 16).ok());
    }
    (bytes, marker.expect("marker"))
}

fn origin_state() -> CpuState {
    {
        let mut c = cpu(&[
            (Gpr::Rax, 0x7213cc9),
            (Gpr::Rbx, 0xffff9f30ffcd5fc0),
            (Gpr::Rcx, 0x838),
            (Gpr::Rdx, 0),
            (Gpr::Rsi, 0x7213cc9),
            (Gpr::Rdi, 0x838),
            (Gpr::Rbp, 0xffff9f30ffcc3f18),
            (Gpr::Rsp, 0xffff9f30ffcc3f10),
            (Gpr::R8, 0x96ecb9b4),
            (Gpr::R9, 5),
            (Gpr::R10, 0),
            (Gpr::R11, 0x20),
            (Gpr::R12, 0x7213bf6e),
            (Gpr::R13, 0),
            (Gpr::R14, 0xffff9f30ffcdd0a8),
            (Gpr::R15, 0xffff9f30ffcdd0e8),
        ]);
        c.rip = Some(0xffffffff96070964);
        c.rflags = Some(0x46);
        set_seg(&mut c, SegName::Es, 0, 0);
        set_seg(&mut c, SegName::Cs, 0x10, 0);
        set_seg(&mut c, SegName::Ss, 0x18, 0);
        set_seg(&mut c, SegName::Ds, 0, 0);
        set_seg(&mut c, SegName::Fs, 0, 0);
        set_seg(&mut c, SegName::Gs, 0, 0xffff9f30ffcc0000);
        c.cr0 = Some(0x80050033);
        c.cr2 = Some(0x7fffeedffbf8);
        c.cr3 = Some(0x135db6000);
        c.cr4 = Some(0x6e0);
        c.dr = [
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            None,
            None,
            Some(0xfffe0ff0),
            Some(0x400),
        ];
        c.efer = Some(0xd01);
        c.gdt = table(0xfffffe0000085000, 0x7f);
        c.idt = table(0xfffffe0000000000, 0xfff);
        c
    }
}

fn analyze(syntax: Syntax) -> kvmtriage_x86::CodeAnalysis {
    let (bytes, marker) = origin_code();
    assert_eq!(marker, 20);
    let input = CodeInput {
        bytes: &bytes,
        marker,
        bitness: 64,
        rip: 0xffffffff96070964,
        cs_base: 0,
    };
    analyze_code(&input, &origin_state(), &CodeOptions { syntax })
}

#[test]
fn origin_fault_is_wrmsr_to_x2apic_tmict() {
    let a = analyze(Syntax::Intel);
    let f = a.fault.as_ref().expect("fault");
    assert!(f.synced);
    assert_eq!(f.address, 0xffffffff96070964);
    assert_eq!(f.bytes, [0x0f, 0x30]);
    assert_eq!(f.length, 2);
    assert_eq!(f.mnemonic, "wrmsr");
    assert_eq!(f.text, "wrmsr");
    assert_eq!(
        f.effect.summary,
        "wrmsr: writes 0x0000000007213cc9 to MSR 0x838 (IA32_X2APIC_INIT_COUNT: x2APIC timer initial count)"
    );
    let msr = f.msr.as_ref().expect("msr");
    assert_eq!(msr.index, Some(0x838));
    assert_eq!(msr.name, Some("IA32_X2APIC_INIT_COUNT"));
    assert_eq!(msr.value, Some(0x7213cc9));
    // Registers read by WRMSR, with their dumped values.
    let regs: Vec<(Register, Option<u64>)> =
        f.registers.iter().map(|r| (r.register, r.value)).collect();
    assert!(regs.contains(&(Register::ECX, Some(0x838))), "{regs:?}");
    assert!(regs.contains(&(Register::EAX, Some(0x7213cc9))), "{regs:?}");
    assert!(regs.contains(&(Register::EDX, Some(0))), "{regs:?}");
}

/// GNU objdump -D -b binary -m i386:x86-64 of the 50 code bytes (captured from binutils 2.40, shifted
/// to the dump's addresses): offset, bytes, mnemonic. The full differential test re-runs objdump.
const OBJDUMP_64: &[(usize, &str, &str)] = &[
    (0x00, "c3", "ret"),
    (0x01, "0f 21 f0", "mov"),
    (0x04, "5d", "pop"),
    (0x05, "c3", "ret"),
    (0x06, "0f 0b", "ud2"),
    (0x08, "0f 1f 84 00 00 00 00 00", "nop"),
    (0x10, "89 f9", "mov"),
    (0x12, "89 f0", "mov"),
    (0x14, "0f 30", "wrmsr"),
    (0x16, "0f 1f 44 00 00", "nop"),
    (0x1b, "c3", "ret"),
    (0x1c, "55", "push"),
    (0x1d, "48 c1 e2 20", "shl"),
    (0x21, "89 f6", "mov"),
    (0x23, "48 09 d6", "or"),
    (0x26, "31 d2", "xor"),
    (0x28, "48 89 e5", "mov"),
    (0x2b, "e8 40 bf 39 00", "call"),
    (0x30, "5d", "pop"),
    (0x31, "c3", "ret"),
];

#[test]
fn origin_listing_matches_objdump_64() {
    let a = analyze(Syntax::Intel);
    assert!(a.alignment.synced);
    assert_eq!(a.alignment.start_offset, 0);
    let got: Vec<(usize, String, String)> = a
        .listing
        .iter()
        .map(|l| {
            (
                l.offset,
                common::line_bytes(l),
                l.text.split_whitespace().next().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(usize, String, String)> = OBJDUMP_64
        .iter()
        .map(|(o, b, m)| (*o, b.to_string(), m.to_string()))
        .collect();
    assert_eq!(got, want);
    let first = &a.listing[0];
    assert_eq!(first.address, 0xffffffff96070964 - 20);
    assert_eq!(a.listing.iter().filter(|l| l.is_fault).count(), 1);
    assert_eq!(a.listing[1].text, "mov rax,dr6");
}

#[test]
fn origin_att_syntax() {
    let a = analyze(Syntax::Att);
    let f = a.fault.as_ref().expect("fault");
    assert_eq!(f.mnemonic, "wrmsr");
    assert_eq!(a.listing[1].text, "mov %dr6,%rax");
}

#[test]
fn origin_golden_json() {
    let a = analyze(Syntax::Intel);
    let json = serde_json::to_string_pretty(&a).expect("json") + "\n";
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/x86/origin-code-analysis.json"
    );
    if std::env::var_os("KVMTRIAGE_BLESS").is_some() {
        std::fs::write(path, &json).expect("write golden");
    }
    let want =
        std::fs::read_to_string(path).expect("golden file (run with KVMTRIAGE_BLESS=1 to create)");
    assert_eq!(json, want, "CodeAnalysis JSON differs from {path}");
}
