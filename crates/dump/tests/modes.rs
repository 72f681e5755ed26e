//! The modes read from the real QEMU 7.2 dumps agree with how they were made
//! (`<accel>-mode<16|32|64>-<scenario>` in testdata/corpus/qemu-real).

use kvmtriage_dump::{read, ModeKind, PagingMode};
use std::path::Path;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/qemu-real")
}

/// Files holding the state of the guest in the named mode: `info registers`
/// after halt/triple/mmio, and the stderr of KVM failures. The `-d` logs are
/// left out: they trace the whole boot (power-on state, SeaBIOS in 32-bit
/// protected mode, the guest's own mode switches), so their dumps are in every
/// mode; the golden tests hold each of their modes.
#[test]
fn modes_agree_with_file_names() {
    let mut checked = 0;
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".info-registers.txt") || n.ends_with(".stderr"))
        .collect();
    names.sort();
    for name in names {
        let Some(bits) = ["16", "32", "64"]
            .iter()
            .find(|b| name.contains(&format!("-mode{b}-")))
            .map(|b| b.parse::<u8>().expect("bits"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(dir().join(&name)).expect("read");
        let Ok(dumps) = read(&text) else {
            // Most .stderr files hold only a warning line; that is checked by
            // the golden tests.
            assert!(name.ends_with(".stderr"), "{name}: no dump");
            continue;
        };
        let d = dumps.last().expect("dump");
        if name == "tcg-mode64-mmio.info-registers.txt" {
            // Under TCG the 64-bit guest ran on into unbacked memory and was
            // reset (README: "tcg: no message, guest keeps running"): the dump
            // is the reset state, real mode at f000:fff0.
            assert_eq!(d.mode.kind, ModeKind::Real, "{name}");
            assert_eq!(d.rip(), Some(0xfff0), "{name}");
            continue;
        }
        assert_eq!(d.mode.bits, Some(bits), "{name}: mode {:?}", d.mode);
        let (kind, paging) = match bits {
            16 => (ModeKind::Real, PagingMode::None),
            32 => (ModeKind::Protected32, PagingMode::None),
            _ => (ModeKind::Long64, PagingMode::FourLevel),
        };
        assert_eq!(d.mode.kind, kind, "{name}");
        assert_eq!(d.mode.paging, paging, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 21, "number of files checked");
}

#[test]
fn smp2_info_registers_a_has_two_cpus_in_different_modes() {
    for accel in ["kvm", "tcg"] {
        let text =
            std::fs::read_to_string(dir().join(format!("{accel}-smp2-halt.info-registers-a.txt")))
                .expect("read");
        let dumps = read(&text).expect("dumps");
        assert_eq!(dumps.len(), 2, "{accel}");
        assert_eq!(dumps[0].cpu_index, Some(0));
        assert_eq!(dumps[1].cpu_index, Some(1));
        assert_eq!(dumps[0].mode.kind, ModeKind::Long64, "{accel} CPU#0");
        assert_eq!(
            dumps[1].mode.bits,
            Some(32),
            "{accel} CPU#1 (AP still in SeaBIOS)"
        );
        assert_eq!(dumps[0].cpu.halted, Some(true));
    }
}

/// A 32-bit layout dump cut after the segment lines (no CR0/EFER): only QEMU's labels and layout
/// tell the mode.
fn cut32(cs: &str, tr: &str, data: &str) -> kvmtriage_dump::Dump {
    let text = format!(
        "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00001000
EIP=00001000 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
ES =0000 00000000 0000ffff 00009300{data}
CS ={cs}
SS =0000 00000000 0000ffff 00009300{data}
TR ={tr}
"
    );
    read(&text).expect("dump").remove(0)
}

#[test]
fn labels_and_layout_decide_without_cr0() {
    use kvmtriage_dump::{CsLabel, Field, SegName};
    // Present segments printed without `DPL=`: QEMU had CR0.PE=0.
    let d = cut32(
        "f000 000f0000 0000ffff 00009b00",
        "0000 00000000 0000ffff 00008b00",
        "",
    );
    assert!(d.printed.hints.present_segment_without_label);
    assert_eq!(d.printed.hints.layout64, Some(false));
    assert_eq!((d.mode.kind, d.mode.bits), (ModeKind::Real, Some(16)));
    assert_eq!(d.mode.code_address(&d.cpu), Some(0xf1000));
    // `DPL=`, `CS32` and an IA-32e system name: protected mode, EFER.LMA=1, 32-bit code.
    let d = cut32(
        "0010 00000000 ffffffff 00c09b00 DPL=0 CS32 [-RA]",
        "0040 00000000 00004087 00008b00 DPL=0 TSS64-busy",
        " DPL=0 DS   [-W-]",
    );
    let h = d.printed.hints;
    assert_eq!(h.cs_label, Some(CsLabel::Cs32));
    assert!(h.printed_dpl && h.ia32e_system_label && !h.present_segment_without_label);
    assert_eq!((d.mode.kind, d.mode.bits), (ModeKind::Compat32, Some(32)));
    assert_eq!(d.line(Field::Segment(SegName::Tr)), Some(7));
    assert_eq!(
        d.printed.segment_label(SegName::Cs),
        Some("DPL=0 CS32 [-RA]")
    );
    // A damaged segment line (a present attribute word, but not as QEMU prints it) says nothing.
    let text = "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000
EIP=00001000 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
CS =f000 000f0000 0000ffff 000009b00
";
    let d = read(text).expect("dump").remove(0);
    assert!(d
        .segment(kvmtriage_dump::SegName::Cs)
        .is_some_and(|s| s.attributes.present()));
    assert!(!d.printed.hints.present_segment_without_label);
    assert_eq!(d.mode.kind, ModeKind::Unknown);
}

#[test]
fn override_mode_is_the_mode_everyone_sees() {
    let mut d = cut32(
        "f000 000f0000 0000ffff 00009b00",
        "0000 00000000 0000ffff 00008b00",
        "",
    );
    d.override_mode(32);
    assert_eq!(d.mode.bits, Some(32));
    assert!(d.mode.is_override());
    // Recomputing keeps the user's width; overriding again replaces it.
    d.refresh_decoded();
    assert_eq!(d.mode.bits, Some(32));
    d.override_mode(16);
    assert_eq!(d.mode.bits, Some(16));
    assert_eq!(
        d.mode
            .evidence
            .iter()
            .filter(|e| matches!(e, kvmtriage_dump::ModeEvidence::Override { .. }))
            .count(),
        1
    );
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["mode"]["bits"], 16);
    assert_eq!(
        json["mode"]["evidence"][0],
        "decode width 16 given by the user (--mode)"
    );
}
