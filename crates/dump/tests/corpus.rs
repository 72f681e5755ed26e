//! Targeted checks of the corpus quirks listed in testdata/corpus/real/index.tsv
//! (the golden tests hold the full JSON; these name the facts that matter).

use kvmtriage_dump::{read, Event, Gpr, GprLayout, ModeKind, SegName, WarningKind};

fn real(id: &str) -> Vec<kvmtriage_dump::Dump> {
    let text = std::fs::read_to_string(format!(
        "{}/../../testdata/corpus/real/{id}.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    read(&text).unwrap_or_else(|e| panic!("{id}: {e}"))
}

#[test]
fn c001_flowed_mail_code_over_three_lines() {
    let d = &real("001")[0];
    assert_eq!(d.gpr(Gpr::Rdx), Some(0xfffd7b03));
    assert_eq!(d.gpr(Gpr::R15), Some(0x600));
    assert_eq!(d.dr(3), Some(0));
    let code = d.code.as_ref().expect("code");
    assert_eq!((code.bytes.len(), code.marker), (50, Some(20)));
    assert_eq!(code.bytes[20], Some(0x41));
    assert_eq!(code.bytes[49], Some(0x02));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn c003_eight_extra_data_words_and_emulation_failure() {
    let d = &real("003")[0];
    match &d.event {
        Event::InternalError {
            suberror,
            extra_data,
            emulation_failure,
            line,
            ..
        } => {
            assert_eq!((*suberror, *line, *emulation_failure), (1, 2, true));
            assert_eq!(extra_data.len(), 8);
            assert_eq!(extra_data[1], 0x41c03127ae0f480f);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn c007_raw_quoted_printable_with_soft_breaks() {
    let d = &real("007")[0];
    assert_eq!(d.event, Event::None);
    assert_eq!(d.gpr(Gpr::Rdx), Some(0x47fffb280));
    assert_eq!(d.gpr(Gpr::R11), Some(0xff408cf99e139000));
    assert_eq!(d.cr(4), Some(0x771ef0));
    assert_eq!(d.cpu.smm, Some(false));
    let code = d.code.as_ref().expect("code");
    assert_eq!(code.marker, Some(20));
    assert_eq!(&code.bytes[20..22], &[Some(0x0f), Some(0x0b)]); // ud2
    assert_eq!(code.bytes.len(), 50);
    assert_eq!(d.source.first_line, 3);
}

#[test]
fn c012_triple_fault_after_the_dump() {
    let d = &real("012")[0];
    assert_eq!(d.event, Event::TripleFault { line: 18 });
    assert_eq!(d.dr(7), Some(0x400));
}

#[test]
fn c013_tcg_fatal_with_lazy_flags_fpu_and_old_xmm() {
    let d = &real("013")[0];
    assert!(
        matches!(&d.event, Event::Fatal { message, line: 1 } if message.starts_with("Trying to execute code outside RAM or ROM"))
    );
    let lf = d.lazy_flags.as_ref().expect("CCS line");
    assert_eq!(
        (lf.ccs, lf.ccd, lf.cco.as_str()),
        (0x10094, 0x80010011, "LOGICL")
    );
    assert_eq!(d.cpu.fpu.as_ref().map(|f| f.fpr.len()), Some(8));
    assert_eq!(d.cpu.vectors.len(), 8);
    assert_eq!(d.cpu.vectors[7].quads, vec![0, 0]);
    assert_eq!(d.mode.kind, ModeKind::Protected32);
}

#[test]
fn c014_repeated_event_before_the_dump() {
    let dumps = real("014");
    assert_eq!(dumps.len(), 1);
    let d = &dumps[0];
    assert!(matches!(d.event, Event::InternalError { line: 3, .. }));
    assert!(d
        .warnings
        .iter()
        .any(|w| w.line == 1 && w.kind == WarningKind::Note));
}

#[test]
fn c015_unreadable_code_and_empty_segments() {
    let d = &real("015")[0];
    let code = d.code.as_ref().expect("code");
    assert!(code.bytes.iter().all(Option::is_none));
    assert_eq!(code.marker, Some(0));
    assert_eq!(d.mode.bits, None);
}

#[test]
fn c022_monitor_prompt_and_advice_paragraph() {
    let d = &real("022")[0];
    assert_eq!(
        d.event,
        Event::EntryFailed {
            hardware_error: 0x80000021,
            line: 1
        }
    );
    assert_eq!(d.mode.kind, ModeKind::Real);
    assert!(d.segment(SegName::Cs).is_some());
    assert_eq!(d.printed.segment_label(SegName::Cs), None);
}

#[test]
fn c023_old_unpadded_extra_data() {
    let d = &real("023")[0];
    match &d.event {
        Event::InternalError {
            suberror: 3,
            extra_data,
            ..
        } => {
            assert_eq!(extra_data, &[0x80000b0e, 0x31, 0x182, 0xbfff0]);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn c025_collapsed_whitespace_and_reflowed_dr_line() {
    let d = &real("025")[0];
    assert_eq!(d.cpu.gdt.map(|t| (t.base, t.limit)), Some((0, 0xffff)));
    assert_eq!((d.dr(3), d.dr(6)), (Some(0), Some(0xffff0ff0)));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn c045_error_glued_to_serial_output() {
    let d = &real("045")[0];
    assert!(matches!(
        &d.event,
        Event::RunFailed {
            errno: Some(5),
            errno_name: Some("EIO"),
            line: 5,
            ..
        }
    ));
    assert_eq!(
        d.code.as_ref().and_then(|c| c.marker.map(|m| c.bytes[m])),
        Some(Some(0xcb))
    );
}

#[test]
fn c048_code_line_interleaved_with_other_vcpus() {
    let d = &real("048")[0];
    let code = d.code.as_ref().expect("code");
    assert_eq!(code.bytes, vec![None; 5]);
    assert_eq!(code.marker, Some(0));
    let interleaved = d
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::Interleaved)
        .count();
    assert!(interleaved >= 6, "{:?}", d.warnings);
    // An unreadable all-zero state (RFLAGS bit 1 clear, EFER.LMA=1 with CR0=0): no running CPU
    // shows RFLAGS bit 1 = 0, so the decider says unknown; the impossible state is in the warnings.
    assert_eq!(d.mode.kind, ModeKind::Unknown);
    assert!(d
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::Inconsistent && w.message.starts_with("RFLAGS bit 1")));
}

#[test]
fn c052_qemu_kvm_0_12_lowercase_format() {
    let d = &real("052")[0];
    assert!(d.printed.gprs);
    assert_eq!(d.printed.layout, GprLayout::Legacy);
    assert!(
        matches!(&d.event, Event::InternalError { suberror: 2, extra_data, .. } if extra_data == &[0x80000202, 0x80000202])
    );
    assert_eq!(d.gpr(Gpr::Rdx), Some(0x6a3c8a));
    assert_eq!(d.gpr(Gpr::R8), Some(0xfffffffffffff8d8));
    assert_eq!(d.rip(), Some(0x3d721c));
    assert_eq!(
        d.segment(SegName::Cs).map(|s| s.attributes.bits()),
        Some(0x00a09b00)
    );
    assert_eq!(d.cpu.gdt.map(|t| (t.base, t.limit)), Some((0xa25000, 0x1f)));
    assert_eq!(
        (d.cr(0), d.cr(4), d.efer()),
        (Some(0x80010011), Some(0x7b8), Some(0xd00))
    );
    assert_eq!(d.mode.kind, ModeKind::Long64);
}

#[test]
fn c054_elided_libvirt_log() {
    let d = &real("054")[0];
    assert!(matches!(
        d.event,
        Event::EntryFailed {
            hardware_error: 0x80000021,
            line: 2
        }
    ));
    assert_eq!(d.cpu.smm, Some(true));
    assert!(d.warnings.iter().any(|w| w.kind == WarningKind::Truncated));
}

#[test]
fn c058_events_interleaved_then_truncated() {
    let d = &real("058")[0];
    assert!(matches!(
        d.event,
        Event::InternalError {
            line: 1,
            emulation_failure: true,
            ..
        }
    ));
    let interleaved: Vec<u32> = d
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::Interleaved)
        .map(|w| w.line)
        .collect();
    assert_eq!(interleaved, [6, 8, 10, 12]);
    assert!(d.segment(SegName::Ldt).is_some() && d.segment(SegName::Tr).is_none());
}

#[test]
fn kernel_oopses_are_not_qemu_dumps() {
    for id in ["027", "028", "030", "033", "039", "042"] {
        let text = std::fs::read_to_string(format!(
            "{}/../../testdata/corpus/real/{id}.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        let err = read(&text).unwrap_err();
        assert!(
            matches!(err, kvmtriage_dump::ReadError::KernelOops { .. }),
            "{id}: {err}"
        );
    }
}
