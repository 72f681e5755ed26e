//! Differential test of the dump printer against real QEMU 7.2 output, as a true round trip:
//! each register dump in testdata/corpus/qemu-real (KVM runs) and the origin note is read by
//! kvmtriage's dump reader (`kvmtriage_dump::read`) into the one CPU-state model, printed again
//! from the model by `register_dump`, and the text must come out byte for byte the same
//! (text → reader → model → printer → text).

use kvmtriage_dump::{CodeWindow, CpuState, Dump, SegName};
use kvmtriage_kvm::qemu_dump::{qemu_cs64, register_dump};

fn testdata(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The register lines QEMU printed: from `RAX=`/`EAX=` through `EFER=` and an optional `Code=`,
/// with the 1-based line number of the first.
fn dump_block(text: &str) -> (u32, Vec<&str>) {
    let start = text
        .lines()
        .position(|l| l.starts_with("RAX=") || l.starts_with("EAX="))
        .expect("register dump");
    let lines: Vec<&str> = text.lines().skip(start).collect();
    let end = lines.iter().position(|l| l.starts_with("EFER=")).unwrap();
    let with_code = lines.get(end + 1).is_some_and(|l| l.starts_with("Code="));
    (
        start as u32 + 1,
        lines[..end + 1 + usize::from(with_code)].to_vec(),
    )
}

/// Every value the printer prints is in the model: a value the reader missed would print as 0
/// and could match by accident.
fn assert_complete(cpu: &CpuState, rel: &str) {
    let gprs = if qemu_cs64(cpu) { 16 } else { 8 };
    for (n, v) in cpu.gprs[..gprs].iter().enumerate() {
        assert!(v.is_some(), "{rel}: GPR {n} not read");
    }
    assert!(
        cpu.rip.is_some() && cpu.rflags.is_some(),
        "{rel}: RIP/RFLAGS"
    );
    for n in SegName::ALL {
        assert!(cpu.segment(n).is_some(), "{rel}: {} not read", n.name());
    }
    assert!(cpu.gdt.is_some() && cpu.idt.is_some(), "{rel}: GDT/IDT");
    for n in [0, 2, 3, 4] {
        assert!(cpu.cr(n).is_some(), "{rel}: CR{n} not read");
    }
    for n in [0, 1, 2, 3, 6, 7] {
        assert!(cpu.dr[n].is_some(), "{rel}: DR{n} not read");
    }
    assert!(cpu.efer.is_some(), "{rel}: EFER");
    assert!(
        cpu.cpl.is_some()
            && cpu.interrupt_shadow.is_some()
            && cpu.a20.is_some()
            && cpu.smm.is_some()
            && cpu.halted.is_some(),
        "{rel}: CPL/II/A20/SMM/HLT"
    );
}

fn round_trip(rel: &str) {
    let text = testdata(rel);
    let (first, block) = dump_block(&text);
    let dumps = kvmtriage_dump::read(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let dump: &Dump = dumps
        .iter()
        .find(|d| (d.source.first_line..=d.source.last_line).contains(&first))
        .unwrap_or_else(|| panic!("{rel}: no dump read at line {first}"));
    assert_complete(&dump.cpu, rel);
    let has_code = block.last().is_some_and(|l| l.starts_with("Code="));
    assert_eq!(dump.code.is_some(), has_code, "{rel}: Code= line");
    let empty = CodeWindow::default();
    let ours = register_dump(&dump.cpu, dump.code.as_ref().unwrap_or(&empty));
    let mut ours: Vec<&str> = ours.lines().collect();
    if !has_code {
        assert_eq!(ours.pop(), Some("Code="));
    }
    let mut expected: Vec<String> = block.iter().map(|l| l.to_string()).collect();
    if rel.contains("origin-note") {
        // The note's copy lost the trailing space QEMU prints after DR3.
        for l in &mut expected {
            if l.starts_with("DR0=") && !l.ends_with(' ') {
                l.push(' ');
            }
        }
    }
    assert_eq!(ours.len(), expected.len(), "{rel}");
    for (o, e) in ours.iter().zip(&expected) {
        assert_eq!(o, e, "{rel}");
    }
}

#[test]
fn matches_real_qemu_dumps_with_code() {
    for rel in [
        "corpus/qemu-real/kvm-mode64-mmio.stderr",
        "corpus/qemu-real/kvm-mode32-mmio.stderr",
        "corpus/qemu-real/kvm-mode32-triple.stderr",
        "corpus/qemu-real/kvm-mode32-reset.stderr",
    ] {
        round_trip(rel);
    }
}

#[test]
fn matches_real_qemu_info_registers_in_every_mode() {
    for rel in [
        "corpus/qemu-real/kvm-mode16-halt.info-registers.txt",
        "corpus/qemu-real/kvm-mode16-mmio.info-registers.txt",
        "corpus/qemu-real/kvm-mode16-triple.info-registers.txt",
        "corpus/qemu-real/kvm-mode32-halt.info-registers.txt",
        "corpus/qemu-real/kvm-mode32-triple.info-registers.txt",
        "corpus/qemu-real/kvm-mode64-halt.info-registers.txt",
        "corpus/qemu-real/kvm-mode64-triple.info-registers.txt",
    ] {
        round_trip(rel);
    }
}

#[test]
fn matches_the_origin_note() {
    round_trip("seed/origin-note.txt");
}
