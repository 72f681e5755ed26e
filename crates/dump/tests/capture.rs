//! Reading `kvmtriage capture`'s text form (docs/capture.md) with the ordinary entry point.
//!
//! The fixture is a real capture: QEMU 7.2.22 under KVM, the live tests' 2-vCPU guest whose BSP
//! jumped to guest-physical 0x10000000 (no RAM) while the AP halted in its real-mode trampoline at
//! 0900:0017, taken by `tests/capture_live.rs` with `--qemu-log`.

use kvmtriage_dump::{read, Event, ModeKind};

const UNBACKED: &str = include_str!("capture/qemu-7.2-kvm-unbacked-jump-smp2.txt");

#[test]
fn every_vcpu_is_a_dump_and_the_qemu_log_gives_the_event() {
    let dumps = read(UNBACKED).unwrap();
    // QEMU's stderr dump of the BSP is merged into CPU#0: two dumps, not three.
    assert_eq!(dumps.len(), 2);
    let (bsp, ap) = (&dumps[0], &dumps[1]);
    assert_eq!(bsp.cpu_index, Some(0));
    assert_eq!(ap.cpu_index, Some(1));
    match &bsp.event {
        Event::InternalError {
            suberror,
            emulation_failure,
            ..
        } => {
            assert_eq!(*suberror, 1);
            assert!(*emulation_failure);
        }
        other => panic!("BSP event: {other:?}"),
    }
    assert_eq!(ap.event, Event::None);
    assert_eq!(bsp.mode.kind, ModeKind::Long64);
    assert_eq!(ap.mode.bits, Some(16));
    let x = bsp.capture.as_ref().unwrap();
    assert!(x.event_from_qemu_log);
    assert_eq!(x.run_state.as_deref(), Some("internal-error"));
    assert_eq!(x.stop, None, "this text capture was taken without --wait");
    assert!(x.complete);
    assert!(x.thread_id.unwrap() > 0);
    assert!(x.lapic[0].starts_with("dumping local APIC state for CPU 0"));
    assert!(x.stats.iter().any(|(k, _)| k == "exits"));
    assert!(x
        .descriptors
        .iter()
        .any(|d| d.table == "gdt" && d.name == "cs"));
}

#[test]
fn the_long_code_window_replaces_the_code_line() {
    let dumps = read(UNBACKED).unwrap();
    let bsp = &dumps[0];
    let code = bsp.code.as_ref().unwrap();
    assert_eq!(code.bytes.len(), 256, "not QEMU's 50 bytes");
    assert_eq!(code.marker, Some(128));
    assert!(
        code.bytes.iter().all(Option::is_none),
        "no RAM at 0x10000000"
    );
    assert!(bsp.capture.as_ref().unwrap().long_code_window);
    // The AP has no Code= line at all (info registers prints none): the capture gives one. It is
    // in real mode at 0900:0017; this capture (taken before the capture started windows at
    // CS.base) read from 0x8f97, and the 105 bytes before CS.base 0x9000 are left out, since
    // they are not in the code segment: the window starts at offset 0 of CS.
    let ap = &dumps[1];
    let code = ap.code.as_ref().unwrap();
    assert_eq!(ap.mode.code_address(&ap.cpu), Some(0x9017));
    assert_eq!(code.marker, Some(0x17));
    assert_eq!(code.bytes.len(), 256 - 105);
    assert!(code.bytes[0x17].is_some());
}

#[test]
fn stack_words_follow_the_mode() {
    let dumps = read(UNBACKED).unwrap();
    let s = dumps[0].capture.as_ref().unwrap().stack.as_ref().unwrap();
    assert_eq!(s.address.0, 0x7000);
    assert_eq!(s.bytes.len(), 256);
    assert_eq!(s.word_size, 8);
    assert_eq!(s.words.len(), 32);
    let s1 = dumps[1].capture.as_ref().unwrap().stack.as_ref().unwrap();
    assert_eq!(s1.word_size, 2, "real mode");
    assert_eq!(s1.words.len(), 128);
}

#[test]
fn the_json_has_the_capture_section() {
    let dumps = read(UNBACKED).unwrap();
    let j = serde_json::to_value(&dumps[0]).unwrap();
    assert_eq!(j["capture"]["run_state"], "internal-error");
    assert_eq!(j["capture"]["stack"]["address"], "0x7000");
    assert_eq!(j["code"]["bytes"].as_array().unwrap().len(), 256);
    assert_eq!(j["code"]["marker"], 128);
    // A dump that is not from a capture has no `capture` key.
    let plain = read("EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000\nEIP=00001000 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n").unwrap();
    assert!(serde_json::to_value(&plain[0])
        .unwrap()
        .get("capture")
        .is_none());
}

#[test]
fn a_capture_cut_short_still_reads() {
    // Cut in the middle of vCPU 0's code window: the registers are there, the window is taken as
    // far as it goes, and the missing end is reported.
    let cut: String = UNBACKED
        .lines()
        .take(110)
        .map(|l| format!("{l}\n"))
        .collect();
    let dumps = read(&cut).unwrap();
    assert_eq!(dumps.len(), 2);
    assert!(!dumps[0].capture.as_ref().unwrap().complete);
    assert!(dumps[0]
        .warnings
        .iter()
        .any(|w| w.message.contains("not ended")));
}

#[test]
fn a_window_that_does_not_match_the_registers_is_not_used() {
    let moved = UNBACKED.replace("anchor=0x10000000", "anchor=0x10000010");
    let dumps = read(&moved).unwrap();
    // The BSP keeps QEMU's own 50-byte window from its stderr dump.
    assert_eq!(dumps[0].code.as_ref().unwrap().bytes.len(), 50);
    assert!(dumps[0]
        .warnings
        .iter()
        .any(|w| w.message.contains("window not used")));
}
