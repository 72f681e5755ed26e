//! The JSON keys other crates and docs/json.md rely on.

use kvmtriage_dump::read;
use serde_json::Value;

fn json_of(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!(
        "{}/../../testdata/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    read(&text)
        .expect("dump")
        .iter()
        .map(|d| serde_json::to_value(d).expect("json"))
        .collect()
}

#[test]
fn run_failed_keys() {
    let d = &json_of("seed/origin-note.txt")[0];
    assert_eq!(d["event"]["kind"], "run_failed");
    assert_eq!(d["event"]["errno"], 1);
    assert_eq!(d["event"]["errno_name"], "EPERM");
    assert_eq!(d["event"]["message"], "Operation not permitted");
    assert_eq!(d["event"]["line"], 11);
    assert_eq!(d["mode"]["bits"], 64);
    assert_eq!(d["mode"]["kind"], "long64");
    assert_eq!(d["mode"]["paging"], "four_level");
    assert_eq!(d["source"]["first_line"], 11);
    assert_eq!(d["source"]["last_line"], 31);
    assert!(d["warnings"].as_array().is_some_and(Vec::is_empty));
    // 64-bit values are 0x-prefixed lowercase hex strings
    assert_eq!(d["rip"]["value"], "0xffffffff96070964");
    assert_eq!(d["general"]["values"]["rax"]["value"], "0x7213cc9");
    assert_eq!(d["segments"]["tr"]["base"], "0xfffffe0000087000");
    assert_eq!(
        d["decoded"]["efer"]["set"],
        serde_json::json!(["SCE", "LME", "LMA", "NXE"])
    );
    assert_eq!(d["code"]["marker"], 20);
    assert_eq!(d["code"]["bytes"][20], 15);
    // keys the lead adds by flattening must not clash
    for k in [
        "fault",
        "listing",
        "diagnosis",
        "disassembly",
        "schema_version",
        "dumps",
    ] {
        assert!(d.get(k).is_none(), "{k}");
    }
}

#[test]
fn internal_error_keys() {
    let d = &json_of("corpus/qemu-real/kvm-mode32-triple.stderr")[0];
    assert_eq!(d["event"]["kind"], "internal_error");
    assert_eq!(d["event"]["suberror"], 1);
    assert_eq!(d["event"]["suberror_name"], "EMULATION");
    assert_eq!(d["event"]["extra_data"][1], "0x74c084acfeebcc0f");
    assert_eq!(d["event"]["extra_data"].as_array().map(Vec::len), Some(8));
    assert_eq!(d["event"]["emulation_failure"], true);
    assert_eq!(d["mode"]["bits"], 32);
    assert_eq!(d["general"]["values"]["eax"]["value"], "0xaaaaaaaa");
}

#[test]
fn strerror_texts_map_to_errno() {
    use kvmtriage_dump::tables::errno_from_text;
    assert_eq!(errno_from_text("Bad address"), Some((14, Some("EFAULT"))));
    assert_eq!(
        errno_from_text("Invalid argument"),
        Some((22, Some("EINVAL")))
    );
    assert_eq!(
        errno_from_text("Input/output error"),
        Some((5, Some("EIO")))
    );
    assert_eq!(errno_from_text("I/O error"), Some((5, Some("EIO"))));
    assert_eq!(errno_from_text("Unknown error 524"), Some((524, None)));
    assert_eq!(errno_from_text("no such text"), None);
}
