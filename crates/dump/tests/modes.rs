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
