//! Bad input gets a clear message naming what is wrong and the line; never a panic.

use kvmtriage_dump::{read, ReadError, WarningKind};

fn origin_dump() -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .expect("origin note");
    let lines: Vec<&str> = text.lines().collect();
    lines[10..=30].join("\n")
}

#[test]
fn empty_and_whitespace_input() {
    assert_eq!(read(""), Err(ReadError::Empty));
    assert_eq!(read("  \n\n\t \r\n"), Err(ReadError::Empty));
    assert_eq!(ReadError::Empty.to_string(), "input is empty");
}

#[test]
fn binary_data_names_the_line() {
    let mut text = String::from("first line\nsecond line\n");
    text.push_str("\u{7f}ELF\u{2}\u{1}\u{1}\0\0\0\0\0\0\0\0\0\u{3}\0>\0\u{1}\0\0\0");
    text.push_str("\nmore\n");
    let err = read(&text).unwrap_err();
    assert_eq!(err, ReadError::Binary { line: 3 });
    assert_eq!(
        err.to_string(),
        "input is not text: binary data (NUL or control bytes) on line 3"
    );
}

#[test]
fn text_without_dump() {
    let err = read("hello\nworld\nno registers here\n").unwrap_err();
    assert_eq!(err, ReadError::NoDump { lines_scanned: 3 });
    assert!(err
        .to_string()
        .starts_with("no QEMU x86 register dump found (scanned 3 lines"));
    assert!(err.is_no_dump());
}

#[test]
fn kernel_oops_is_named() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus/real/039.txt"
    ))
    .expect("fixture");
    let err = read(&text).unwrap_err();
    assert!(matches!(err, ReadError::KernelOops { .. }), "{err:?}");
    assert!(err.is_no_dump());
    assert!(err.to_string().contains("Linux kernel oops"));
}

#[test]
fn dump_cut_mid_line() {
    // Cut inside the CR line: `CR0=80050033 CR2=00007fff`.
    let full = origin_dump();
    let cut = &full[..full.find("CR2=00007fff").expect("CR2") + "CR2=00007fff".len()];
    let dumps = read(cut).expect("a damaged dump is still read");
    let d = &dumps[0];
    assert!(d.is_damaged());
    let cr2 = d
        .warnings
        .iter()
        .find(|w| w.message.contains("CR2"))
        .expect("warning about CR2");
    assert_eq!(cr2.line, 17);
    assert_eq!(cr2.kind, WarningKind::Malformed);
    assert_eq!(
        cr2.message,
        "CR2 value `00007fff` has 8 hex digits, expected 16 (damaged or cut?)"
    );
    let trunc = d
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::Truncated)
        .expect("truncation warning");
    assert_eq!(trunc.line, 17);
    assert_eq!(
        trunc.message,
        "dump ends at line 17 without: control registers (CR3 CR4), debug registers, EFER (copy truncated?)"
    );
    assert_eq!(d.cr(0), Some(0x80050033));
}

#[test]
fn register_with_15_hex_digits() {
    let text = origin_dump().replace("RAX=0000000007213cc9", "RAX=000000007213cc9");
    let d = &read(&text).expect("read")[0];
    let w = d
        .warnings
        .iter()
        .find(|w| w.message.contains("RAX"))
        .expect("warning about RAX");
    assert_eq!(w.line, 2);
    assert_eq!(w.kind, WarningKind::Malformed);
    assert_eq!(
        w.message,
        "RAX value `000000007213cc9` has 15 hex digits, expected 16 (damaged or cut?)"
    );
    assert!(d.is_damaged());
}

#[test]
fn two_markers_in_one_code_line() {
    let text = origin_dump().replace("<0f> 30", "<0f> <30>");
    let d = &read(&text).expect("read")[0];
    let w = d
        .warnings
        .iter()
        .find(|w| w.message.contains("marker"))
        .expect("warning about the marker");
    assert_eq!(w.line, 21);
    assert_eq!(
        w.message,
        "second `<..>` marker in the Code line (byte 21); the first one (byte 20) is kept"
    );
    let code = d.code.as_ref().expect("code");
    assert_eq!(code.marker, Some(20));
    assert_eq!(code.bytes.len(), 50);
    assert_eq!(code.bytes[21], Some(0x30));
}

#[test]
fn non_hex_value_and_bad_code_byte() {
    let text = origin_dump()
        .replace("RBX=ffff9f30ffcd5fc0", "RBX=ffff9f30ffcd5fcg")
        .replace("5d c3\n", "5d c3")
        .replace("e8 40", "e8 4z");
    let d = &read(&text).expect("read")[0];
    assert!(d.warnings.iter().any(|w| w.line == 2
        && w.message == "RBX value `ffff9f30ffcd5fcg` is not a hex number of at most 16 digits"));
    assert_eq!(d.gpr(kvmtriage_dump::Gpr::Rbx), None);
    assert!(d
        .warnings
        .iter()
        .any(|w| w.line == 21 && w.message.contains("`4z`")));
}

#[test]
fn prose_that_looks_like_a_register_is_not_a_dump() {
    let err = read("Set ES = 0x10 and CS = 0x8 before the jump.\n").unwrap_err();
    assert_eq!(err, ReadError::NoDump { lines_scanned: 1 });
}

#[test]
fn event_line_without_registers_is_not_a_dump() {
    let err = read("error: kvm run failed Bad address\nqemu exited\n").unwrap_err();
    assert_eq!(err, ReadError::NoDump { lines_scanned: 2 });
}
