//! Layouts no corpus file shows: APX R16–R31, YMM/ZMM/opmask (QEMU ≥ 6.1),
//! HMP text with CRLF and a CPU#N header.

use kvmtriage_dump::{read, Gpr, VectorKind};

const HEAD: &str =
    "RAX=0000000000000001 RBX=0000000000000002 RCX=0000000000000003 RDX=0000000000000004
RSI=0000000000000005 RDI=0000000000000006 RBP=0000000000000007 RSP=0000000000000008
R8 =0000000000000009 R9 =000000000000000a R10=000000000000000b R11=000000000000000c
R12=000000000000000d R13=000000000000000e R14=000000000000000f R15=0000000000000010
";
const TAIL: &str = "RIP=ffffffff81000000 RFL=00000202 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
ES =0000 0000000000000000 00000000 00000000
CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]
SS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]
DS =0000 0000000000000000 00000000 00000000
FS =0000 0000000000000000 00000000 00000000
GS =0000 0000000000000000 00000000 00000000
LDT=0000 0000000000000000 00000000 00000000
TR =0040 fffffe0000003000 00004087 00008b00 DPL=0 TSS64-busy
GDT=     fffffe0000001000 0000007f
IDT=     fffffe0000000000 00000fff
CR0=80050033 CR2=0000000000000000 CR3=0000000001000000 CR4=00350ef0
DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 
DR6=00000000ffff0ff0 DR7=0000000000000400
EFER=0000000000000d01
";

#[test]
fn apx_r16_to_r31() {
    let mut apx = String::new();
    for row in 0..4 {
        let regs: Vec<String> = (0..4)
            .map(|k| {
                let n = 16 + row * 4 + k;
                format!("R{n}={:016x}", 0x100 + n)
            })
            .collect();
        apx.push_str(&regs.join(" "));
        apx.push('\n');
    }
    let text = format!("{HEAD}{apx}{TAIL}");
    let d = &read(&text).expect("dump")[0];
    assert!(d.cpu.has_apx());
    assert_eq!(d.gpr(Gpr::R16), Some(0x110));
    assert_eq!(d.gpr(Gpr::R31), Some(0x11f));
    assert_eq!(d.gpr(Gpr::R15), Some(0x10));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let json = serde_json::to_value(d).expect("json");
    assert_eq!(json["general"]["values"]["r31"]["value"], "0x11f");
}

#[test]
fn ymm_zmm_and_opmask_lines() {
    let fpu = "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001fa0
FPR0=0000000000000000 0000 FPR1=0000000000000000 0000
FPR2=0000000000000000 0000 FPR3=0000000000000000 0000
FPR4=0000000000000000 0000 FPR5=0000000000000000 0000
FPR6=0000000000000000 0000 FPR7=8000000000000000 3fff
";
    let ymm = "YMM00=0000000000000004 0000000000000003 0000000000000002 0000000000000001\n";
    let text = format!("{HEAD}{TAIL}{fpu}{ymm}");
    let d = &read(&text).expect("dump")[0];
    let v = &d.cpu.vectors[0];
    assert_eq!(
        (v.kind, v.index, v.quads.clone()),
        (VectorKind::Ymm, 0, vec![4, 3, 2, 1])
    );
    let fpr7 = d.cpu.fpu.as_ref().expect("fpu").fpr[7];
    assert_eq!(
        (fpr7.index, fpr7.mantissa, fpr7.sign_exponent),
        (7, 0x8000000000000000, 0x3fff)
    );
    let json = serde_json::to_value(d).expect("json");
    assert_eq!(
        json["vectors"][0]["quads"],
        "0x0000000000000004000000000000000300000000000000020000000000000001"
    );

    let opmask = "Opmask00=0000000000000001 Opmask01=0000000000000002 Opmask02=0000000000000000 Opmask03=0000000000000000
Opmask04=0000000000000000 Opmask05=0000000000000000 Opmask06=0000000000000000 Opmask07=00000000000000ff
ZMM00=0000000000000008 0000000000000007 0000000000000006 0000000000000005 0000000000000004 0000000000000003 0000000000000002 0000000000000001
";
    let text = format!("{HEAD}{TAIL}{fpu}{opmask}");
    let d = &read(&text).expect("dump")[0];
    assert_eq!(d.cpu.opmask.len(), 8);
    assert_eq!(d.cpu.opmask[7].value, 0xff);
    assert_eq!(d.cpu.vectors[0].kind, VectorKind::Zmm);
    assert_eq!(d.cpu.vectors[0].quads, vec![8, 7, 6, 5, 4, 3, 2, 1]);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn hmp_text_with_crlf_and_cpu_header() {
    let text = format!(
        "\r\nCPU#3\r\n{}",
        format!("{HEAD}{TAIL}").replace('\n', "\r\n")
    );
    let dumps = read(&text).expect("dump");
    assert_eq!(dumps.len(), 1);
    assert_eq!(dumps[0].cpu_index, Some(3));
    assert_eq!(dumps[0].source.first_line, 3);
    assert!(dumps[0].warnings.is_empty(), "{:?}", dumps[0].warnings);
}

#[test]
fn two_dumps_back_to_back() {
    let one = format!(
        "KVM internal error. Suberror: 1\nemulation failure\n{HEAD}{TAIL}Code=00 <0f> 0b\n"
    );
    let text = format!("{one}{one}");
    let dumps = read(&text).expect("dumps");
    assert_eq!(dumps.len(), 2);
    assert_eq!(dumps[1].source.first_line, dumps[0].source.last_line + 1);
    assert_eq!(dumps[1].event.line(), Some(dumps[0].source.last_line + 1));
}
