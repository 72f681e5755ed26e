//! The JSON document is a public interface (docs/json.md). These tests hold the two together:
//! every key that `explain --format json` emits must be documented, and the keys the issues
//! promise must be present with the promised types.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn explain_json(input: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .current_dir(root())
        .args([
            "explain",
            "--format",
            "json",
            "--host-kernel",
            "5.15.0-91-generic",
            input,
        ])
        .output()
        .expect("run kvmtriage");
    assert!(
        matches!(out.status.code(), Some(0) | Some(7)),
        "{input}: exit {:?}",
        out.status.code()
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Inputs that between them produce every kind of section: a WRMSR run failure, an internal
/// error with instruction bytes, an entry failure with guest-state checks, TCG logs with lazy
/// flags, FPU and vector registers, a multi-CPU `info registers -a`, a QMP transcript.
const INPUTS: &[&str] = &[
    "examples/origin-x2apic-timer.txt",
    "testdata/corpus/real/003.txt",
    "testdata/corpus/real/013.txt",
    "testdata/corpus/real/022.txt",
    "testdata/corpus/real/052.txt",
    "testdata/corpus/qemu-real/kvm-mode32-triple.stderr",
    "testdata/corpus/qemu-real/kvm-smp2-halt.info-registers-a.txt",
    "testdata/corpus/qemu-real/tcg-mode64-d-cpu.log",
    "testdata/diagnose/mce-ctl-bit0-clear-eperm/match.txt",
];

/// Object keys found at any depth, except inside maps keyed by data (register names).
fn collect_keys(v: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                out.insert((k.clone(), format!("{path}.{k}")));
                // `general.values` is keyed by register name, documented as a map.
                if k == "values" && path.ends_with(".general") {
                    continue;
                }
                collect_keys(child, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_keys(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Names the document gives as keys: the identifiers inside `code spans` (a path such as
/// `alignment.start_offset` or `prefixes[]` names each of its parts) and inside "quotes".
fn documented_names(doc: &str) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    for (i, span) in doc.split('`').enumerate() {
        if i % 2 == 1 {
            names.extend(span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')));
        }
    }
    for (i, span) in doc.split('"').enumerate() {
        if i % 2 == 1 {
            names.insert(span);
        }
    }
    names.remove("");
    names
}

#[test]
fn every_emitted_key_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/json.md")).expect("docs/json.md");
    let mut keys = BTreeSet::new();
    for input in INPUTS {
        collect_keys(&explain_json(input), "", &mut keys);
    }
    let documented = documented_names(&doc);
    let undocumented: Vec<String> = keys
        .iter()
        .filter(|(k, _)| !documented.contains(k.as_str()))
        .map(|(k, path)| format!("{k} (at {path})"))
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys emitted but not documented in docs/json.md:\n{}",
        undocumented.join("\n")
    );
}

fn is_hex(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.starts_with("0x")
            && s.len() > 2
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

#[test]
fn promised_keys_have_promised_types() {
    let v = explain_json("examples/origin-x2apic-timer.txt");
    assert_eq!(v["schema_version"], 3);
    let d = &v["dumps"][0];
    assert!(d["event"]["kind"].is_string());
    assert!(d["event"]["errno"].is_u64());
    assert!(d["event"]["errno_name"].is_string());
    assert!(d["mode"]["bits"].is_u64());
    assert!(d["source"]["first_line"].is_u64());
    assert!(d["warnings"].is_array());
    assert!(is_hex(&d["fault"]["address"]), "fault.address");
    assert!(d["fault"]["bytes"].is_string());
    assert!(d["fault"]["mnemonic"].is_string());
    assert!(d["fault"]["text"].is_string());
    assert!(d["fault"]["synced"].is_boolean());
    assert!(d["listing"].is_array());
    for key in ["index", "value"] {
        assert!(is_hex(&d["fault"]["msr"][key]), "fault.msr.{key}");
    }
    assert!(d["fault"]["msr"]["name"].is_string());
    let diag = &d["diagnosis"];
    assert!(diag["verdict"].is_string());
    assert!(diag["confidence"]["level"].is_string());
    assert!(diag["evidence"].is_array());
    assert!(diag["next_steps"].is_array());
    for issue in diag["known_issues"].as_array().expect("known_issues") {
        assert!(issue["id"].is_string());
        assert!(issue["title"].is_string());
        assert!(issue["fixed_in"].is_string() || issue["fixed_in"].is_null());
        assert!(issue["commits"].is_array());
        // With --host-kernel, an entry with a known affected range says whether the host is in it;
        // an entry without one (a hypothesis, not a versioned bug) leaves it out.
        if issue["affected"].is_string() && issue["id"] != "x2apic-msr-eperm" {
            assert!(
                issue["affects_host"].is_boolean(),
                "{}: affects_host",
                issue["id"]
            );
        }
    }
    // Internal errors: suberror number and extra data as hex strings.
    let v = explain_json("testdata/corpus/real/003.txt");
    let e = &v["dumps"][0]["event"];
    assert_eq!(e["kind"], "internal_error");
    assert!(e["suberror"].is_u64());
    let words = e["extra_data"].as_array().expect("extra_data");
    assert!(!words.is_empty() && words.iter().all(is_hex));
}

/// Every 64-bit quantity is a hex string: no JSON number above 2^32 anywhere in the output.
#[test]
fn no_large_json_numbers() {
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Number(n) => assert!(
                n.as_u64().is_some_and(|x| x <= u64::from(u32::MAX)),
                "{path}: {n} should be a hex string"
            ),
            Value::Array(a) => a.iter().for_each(|x| walk(x, path)),
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(x, &format!("{path}.{k}"))),
            _ => {}
        }
    }
    for input in INPUTS {
        walk(&explain_json(input), input);
    }
}
