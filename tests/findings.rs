//! Findings (issue 9): every rule fires on its `match` fixture and not on its `near-miss`
//! (testdata/findings/<id>/), and over every fixture in the repository each finding's evidence
//! names fields that exist in that dump's JSON with exactly the values shown.

use std::path::{Path, PathBuf};

use kvmtriage_analyze::{analyze, Options};
use kvmtriage_render::{render_json, InputInfo};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json_of(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let analysis = analyze(&text, &Options::default()).ok()?;
    let name = path.display().to_string();
    let info = InputInfo {
        name: &name,
        lines: text.lines().count(),
    };
    serde_json::from_str(&render_json(&analysis, &info, false)).ok()
}

fn finding_ids(dump: &Value) -> Vec<String> {
    dump["diagnosis"]["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn each_rule_matches_and_its_near_miss_does_not() {
    let dir = root().join("testdata/findings");
    let mut rules = 0;
    for e in std::fs::read_dir(&dir).expect("testdata/findings") {
        let p = e.expect("entry").path();
        if !p.is_dir() {
            continue;
        }
        let id = p.file_name().unwrap().to_string_lossy().into_owned();
        let m = json_of(&p.join("match.txt")).unwrap_or_else(|| panic!("{id}: match unreadable"));
        let n = json_of(&p.join("near-miss.txt"))
            .unwrap_or_else(|| panic!("{id}: near-miss unreadable"));
        let got = finding_ids(&m["dumps"][0]);
        assert!(got.contains(&id), "{id}: match gives {got:?}");
        let got = finding_ids(&n["dumps"][0]);
        assert!(!got.contains(&id), "{id}: near-miss gives {got:?}");
        rules += 1;
    }
    assert!(rules >= 14, "{rules} rules with fixtures");
}

fn hex(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The value of an evidence field in the dump's JSON.
fn field_value(d: &Value, field: &str) -> Option<u64> {
    let seg = |name: &str, key: &str| hex(&d["segments"][name][key]);
    let reg = |name: &str| {
        hex(&d["general"]["values"][name]["value"]).or_else(|| {
            let e = format!("e{}", &name[1..]);
            hex(&d["general"]["values"][e.as_str()]["value"])
        })
    };
    if let Some(rest) = field.strip_prefix("extra_data[") {
        let i: usize = rest.trim_end_matches(']').parse().ok()?;
        return hex(&d["event"]["extra_data"][i]);
    }
    if let Some(rest) = field.strip_prefix("fault.memory[") {
        let (i, key) = rest.split_once("].")?;
        let i: usize = i.parse().ok()?;
        return hex(&d["fault"]["memory"][i][key]);
    }
    if let Some((s, key)) = field.split_once('.') {
        if matches!(s, "cs" | "ss" | "ds" | "es" | "fs" | "gs" | "tr" | "ldt") {
            return seg(s, key);
        }
    }
    match field {
        "rip" => hex(&d["rip"]["value"]),
        "rflags" => hex(&d["rflags"]["value"]),
        "cr0" | "cr2" | "cr3" | "cr4" => hex(&d["cr"][field]["value"]),
        "efer" => hex(&d["efer"]["value"]),
        "smm" => hex(&d["state"]["smm"]),
        "hardware_error" => hex(&d["event"]["hardware_error"]),
        "exception" => hex(&d["event"]["exception"]),
        "suberror" => hex(&d["event"]["suberror"]),
        "code.readable_bytes" => Some(
            d["code"]["bytes"]
                .as_array()?
                .iter()
                .filter(|b| !b.is_null())
                .count() as u64,
        ),
        "code.filler_bytes" => Some(
            d["code"]["bytes"]
                .as_array()?
                .iter()
                .filter(|b| matches!(b.as_u64(), Some(0 | 0xff | 0xcc | 0x90)))
                .count() as u64,
        ),
        r if r.starts_with('r') => reg(r),
        _ => None,
    }
}

#[test]
fn every_finding_cites_fields_the_dump_has() {
    let mut files = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "txt" || x == "log")
                && !p.to_string_lossy().contains("/explain/")
            {
                out.push(p);
            }
        }
    }
    walk(&root().join("testdata"), &mut files);
    files.push(root().join("examples/origin-x2apic-timer.txt"));
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in files {
        let Some(doc) = json_of(&f) else { continue };
        for d in doc["dumps"].as_array().into_iter().flatten() {
            for finding in d["diagnosis"]["findings"].as_array().into_iter().flatten() {
                for e in finding["evidence"].as_array().into_iter().flatten() {
                    checked += 1;
                    let field = e["field"].as_str().unwrap_or("");
                    let shown = hex(&e["value"]);
                    let actual = field_value(d, field);
                    if actual.is_none() || actual != shown {
                        failures.push(format!(
                            "{}: {} cites {field}={:?}, the dump has {:?}",
                            f.display(),
                            finding["id"],
                            shown,
                            actual
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} evidence items");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
