//! Every published oops in testdata/corpus/real (kind `oops-x86-64` in its index.tsv) is read, and
//! the instruction at the `Code:` marker equals GNU objdump's in truth.tsv (recorded there once;
//! this test needs no tool).

use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/real")
}

fn tsv(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir().join(name))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn norm(s: &str) -> String {
    s.to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn real_oopses_read_and_marker_instruction_matches_objdump() {
    let index = tsv("index.tsv");
    let truth = tsv("truth.tsv");
    let ids: Vec<&str> = index
        .iter()
        .filter(|r| r[1] == "oops-x86-64")
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(ids.len(), 6, "the index lists six x86-64 oopses");
    let mut checked = 0;
    for id in ids {
        let text = std::fs::read_to_string(dir().join(format!("{id}.txt"))).unwrap();
        let oopses = kvmtriage_oops::read_oopses(&text);
        assert!(!oopses.is_empty(), "{id}: no oops read");
        let o = &oopses[0];
        let t = truth.iter().find(|r| r[0] == id).expect("truth row");
        let (marker, insn, bytes) = (&t[2], &t[3], t.get(4).map_or("", |s| s.as_str()));
        println!(
            "{id}: {:?} [{}] rip={:?}",
            o.title,
            o.kind,
            o.rip_function()
        );
        if marker == "-" {
            // No bytes (Bad RIP value / Unable to access opcode bytes): no window, a note instead.
            assert!(o.code.is_none(), "{id}: expected no code bytes");
            assert!(o.code_note.is_some(), "{id}: expected the Code: note");
            continue;
        }
        let w = o.code.as_ref().expect("code window");
        assert_eq!(
            w.marker,
            Some(marker.parse().unwrap()),
            "{id}: marker offset"
        );
        let code = kvmtriage_oops::decode::decode_oops(o, None).expect("decoded");
        let f = code.analysis.fault.as_ref().expect("fault instruction");
        assert_eq!(
            kvmtriage_model::hex::bytes(&code.fault_bytes),
            *bytes,
            "{id}: bytes"
        );
        assert_eq!(norm(&f.text), norm(insn), "{id}: instruction text");
        assert!(f.synced, "{id}: listing in sync with the marker");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn real_oops_fields() {
    let text = std::fs::read_to_string(dir().join("030.txt")).unwrap();
    let o = &kvmtriage_oops::read_oopses(&text)[0];
    assert_eq!(o.title, "kernel BUG in dql_completed");
    assert_eq!(o.kernel.cpu, Some(7));
    assert_eq!(o.kernel.pid, Some(1598));
    assert_eq!(o.kernel.comm.as_deref(), Some("ip"));
    assert_eq!(o.kernel.release.as_deref(), Some("6.12.0net-next_main+"));
    assert_eq!(
        o.kernel.hardware.as_deref(),
        Some("QEMU Standard PC (Q35 + ICH9, 2009), BIOS rel-1.16.3-0-ga6ed6b701f0a-prebuilt.qemu.org 04/01/2014")
    );
    use kvmtriage_model::Gpr;
    assert_eq!(o.cpu.gpr(Gpr::Rcx), Some(0x80190009));
    assert_eq!(o.cpu.gpr(Gpr::Rsp), Some(0xffffc900002b0d08));
    assert_eq!(o.cpu.rflags, Some(0x10297));
    assert_eq!(o.cpu.cr0, Some(0x80050033));
    assert_eq!(o.cpu.cr2, Some(0x556ccc2dc1a0));
    assert_eq!(o.cpu.cr4, Some(0x772ef0));
    assert_eq!(o.fs_base, Some(0x7f41ded69500));
    assert_eq!(o.gs_base, Some(0xffff888667dc0000));
    assert_eq!(o.kernel_gs_base, Some(0));
    let w = o.code.as_ref().unwrap();
    assert_eq!(w.bytes.len(), 64, "Code: wrapped over three quoted lines");
    let code = kvmtriage_oops::decode::decode_oops(o, None).unwrap();
    assert_eq!(code.trap, Some(kvmtriage_oops::decode::TrapKind::Bug));

    // 033: a register block inside a lockdep backtrace, no header; PREEMPT_RT "039: " prefixes.
    let text = std::fs::read_to_string(dir().join("033.txt")).unwrap();
    let o = &kvmtriage_oops::read_oopses(&text)[0];
    assert_eq!(o.kind, "register-dump");
    assert_eq!(o.rip_function(), Some("__schedule"));
    assert_eq!(o.kernel.comm.as_deref(), Some("rcu_torture_rea"));
    let irq: Vec<_> = o
        .stack
        .iter()
        .filter(|f| f.section == Some(kvmtriage_oops::Section::Irq))
        .collect();
    assert_eq!(irq.len(), 20);
    assert!(o.stack.iter().any(|f| !f.reliable));
    assert!(o
        .stack
        .iter()
        .any(|f| f.symbol.as_ref().and_then(|s| s.module.as_deref()) == Some("rcutorture")));
}
