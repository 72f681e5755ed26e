//! Bad input: truncated oopses, mixed-up lines, binary garbage and a 10 MB call trace give a
//! result or a warning, never a panic.

use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name);
    String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()
}

fn exercise(text: &str) {
    for o in kvmtriage_oops::read_oopses(text) {
        let _ = kvmtriage_oops::decode::decode_oops(&o, None);
        let _ = kvmtriage_oops::decode::decode_oops(&o, Some(u64::MAX));
        assert!(!o.title.is_empty());
        assert!(o.source.first_line <= o.source.last_line);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn oops_like_garbage_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("BUG: KASAN: use-after-free in "), Just("RIP: 0010:"), Just("Code: "),
                Just("<0f> 0b"), Just(" ? "), Just("+0x1f/0x40"), Just("[<ffffffff81000000>]"),
                Just("Call Trace:\n"), Just("\n"), Just("WARNING: CPU: 0 PID: 1 at "), Just("=3D"),
                Just("[   1.000000][ T123] "), Just("RAX: "), Just("ffffffffffffffff "),
                Just("Kernel Offset: 0x"), Just("<IRQ>\n"), Just("EIP: "), Just("(0f)"), Just("??"),
                Just("Oops: 0000 [#1]"), Just("Read of size 8 at addr"), Just(" [kvm]"),
            ],
            0..200,
        )
    ) {
        exercise(&parts.concat());
    }

    #[test]
    fn truncated_reports_never_panic(cut in 0usize..20_000, file in 0usize..4) {
        let name = ["corpus/real/030.txt", "corpus/real/033.txt", "oops/syzkaller/109", "oops/syzkaller/546"][file];
        let text = fixture(name);
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        exercise(&text[..cut]);
    }

    #[test]
    fn shuffled_lines_never_panic(seed in any::<u64>()) {
        let text = fixture("corpus/real/030.txt");
        let mut lines: Vec<&str> = text.lines().collect();
        let mut s = seed | 1;
        for i in (1..lines.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lines.swap(i, (s % (i as u64 + 1)) as usize);
        }
        exercise(&lines.join("\n"));
    }
}

#[test]
fn ten_megabyte_call_trace_is_cut_with_a_warning() {
    let mut log = String::from(
        "BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
         RIP: 0010:foo+0x1/0x10\nRAX: 0000000000000000 RBX: 0000000000000001 RCX: 0\nCall Trace:\n",
    );
    while log.len() < 10 << 20 {
        log.push_str(" ? some_function_name_here+0x123/0x456 [some_module]\n");
        log.push_str(" another_function+0x1/0x2\n");
    }
    let start = std::time::Instant::now();
    let oopses = kvmtriage_oops::read_oopses(&log);
    assert_eq!(oopses.len(), 1);
    let o = &oopses[0];
    assert_eq!(
        o.title,
        "BUG: unable to handle kernel NULL pointer dereference in foo"
    );
    assert!(
        o.warnings.iter().any(|w| w.contains("only the first")),
        "{:?}",
        o.warnings
    );
    println!("10 MB call trace read in {:?}", start.elapsed());
}
