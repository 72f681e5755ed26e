//! One mode everywhere: over every dump fixture in the repository, the CPU mode in the JSON, the
//! text report's "CPU mode" section, the disassembly and the diagnosis are the same decision
//! (issue 8). Plus the edge cases the old two deciders disagreed on (testdata/modes/README.md).

use std::path::{Path, PathBuf};

use kvmtriage_analyze::{analyze, Options};
use kvmtriage_render::{render_json, render_text, Color, InputInfo};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every text fixture that may hold a QEMU dump.
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .is_none_or(|x| x == "txt" || x == "log" || x == "stderr" || x == "qmp")
                && !p.to_string_lossy().contains("/golden")
                && !p.to_string_lossy().contains("/explain/")
            {
                out.push(p);
            }
        }
    }
    for dir in ["testdata", "examples"] {
        walk(&root().join(dir), &mut out);
    }
    out.sort();
    out
}

fn mode_word_from_text(text: &str) -> Vec<String> {
    // "CPU mode" heading, then "  16-bit code, real-address mode; paging: off".
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "CPU mode" {
            if let Some(next) = lines.next() {
                out.push(next.trim().to_string());
            }
        }
    }
    out
}

fn kind_words(kind: &str) -> &'static str {
    match kind {
        "real" => "real-address mode",
        "virtual8086" => "virtual-8086 mode",
        "protected16" => "16-bit protected mode",
        "protected32" => "32-bit protected mode",
        "compat16" => "IA-32e compatibility mode, 16-bit code",
        "compat32" => "IA-32e compatibility mode, 32-bit code",
        "long64" => "IA-32e 64-bit mode",
        _ => "mode unknown",
    }
}

#[test]
fn every_view_of_every_fixture_shows_the_same_mode() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in fixtures() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(analysis) = analyze(&text, &Options::default()) else {
            continue;
        };
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let info = InputInfo {
            name: &name,
            lines: text.lines().count(),
        };
        let json: Value =
            serde_json::from_str(&render_json(&analysis, &info, false)).expect("valid JSON");
        let report = render_text(&analysis, &info, Color::Never);
        let text_modes = mode_word_from_text(&report);
        let dumps = json["dumps"].as_array().expect("dumps");
        if text_modes.len() != dumps.len() {
            failures.push(format!(
                "{name}: {} dumps but {} CPU mode sections",
                dumps.len(),
                text_modes.len()
            ));
            continue;
        }
        for (i, d) in dumps.iter().enumerate() {
            checked += 1;
            let bits = d["mode"]["bits"].as_u64();
            let kind = d["mode"]["kind"].as_str().unwrap_or("?");
            let expected_text = format!(
                "{}, {};",
                bits.map(|b| format!("{b}-bit code"))
                    .unwrap_or_else(|| "width unknown".into()),
                kind_words(kind)
            );
            if !text_modes[i].starts_with(&expected_text) {
                failures.push(format!(
                    "{name} dump {i}: JSON says {expected_text:?}, text says {:?}",
                    text_modes[i]
                ));
            }
            if let Some(dis_bits) = d["disassembly"]["bits"].as_u64() {
                if Some(dis_bits) != bits {
                    failures.push(format!(
                        "{name} dump {i}: JSON mode {bits:?} bits, disassembly {dis_bits}"
                    ));
                }
            }
            let diag_mode = d["diagnosis"]["classification"]["mode"].as_str();
            if diag_mode != Some(kind) {
                failures.push(format!(
                    "{name} dump {i}: JSON mode {kind}, diagnosis {diag_mode:?}"
                ));
            }
            // The diagnosis' evidence names the same mode when it names one.
            if let Some(ev) = d["diagnosis"]["evidence"].as_array() {
                for e in ev.iter().filter_map(Value::as_str) {
                    if let Some(rest) = e.strip_prefix("CPU mode: ") {
                        if !rest.starts_with(kind_words(kind)) {
                            failures.push(format!(
                                "{name} dump {i}: JSON mode {kind}, diagnosis evidence {e:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 150, "only {checked} dumps checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn only_dump(file: &str) -> Value {
    let text = std::fs::read_to_string(root().join(file)).expect("fixture");
    let analysis = analyze(&text, &Options::default()).expect("analysable");
    let info = InputInfo {
        name: file,
        lines: text.lines().count(),
    };
    let json: Value = serde_json::from_str(&render_json(&analysis, &info, false)).expect("json");
    assert_eq!(json["dumps"].as_array().map(Vec::len), Some(1), "{file}");
    json["dumps"][0].clone()
}

fn hex(v: &Value) -> u64 {
    let s = v.as_str().expect("hex string");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

#[test]
fn kvm_smm_entry_is_real_address_mode_with_code_listed() {
    let d = only_dump("testdata/modes/kvm-smm-entry.txt");
    assert_eq!(d["mode"]["kind"], "real");
    assert_eq!(d["mode"]["bits"], 16);
    // CS.base (SMBASE 0x30000) + EIP 0x8000.
    assert_eq!(hex(&d["fault"]["address"]), 0x38000);
    assert_eq!(d["fault"]["mnemonic"], "cli");
    assert_eq!(hex(&d["listing"][0]["address"]), 0x38000 - 20);
}

#[test]
fn cs64_with_high_rip_but_no_control_registers_is_64_bit() {
    let d = only_dump("testdata/modes/cs64-no-control-registers.txt");
    assert_eq!(d["mode"]["kind"], "long64");
    assert_eq!(d["mode"]["bits"], 64);
    assert_eq!(d["fault"]["text"], "mov eax,dword ptr [rax]");
}

#[test]
fn real_mode_window_is_listed_at_cs_base_plus_ip() {
    let d = only_dump("testdata/modes/real-mode-cs-base.txt");
    assert_eq!(d["mode"]["kind"], "real");
    assert_eq!(hex(&d["fault"]["address"]), 0xf_e05b);
    assert_eq!(hex(&d["disassembly"]["window_address"]), 0xf_e05b - 20);
    let fault_line = d["listing"]
        .as_array()
        .expect("listing")
        .iter()
        .find(|l| l["is_fault"] == true)
        .expect("fault line");
    assert_eq!(hex(&fault_line["address"]), 0xf_e05b);
}

#[test]
fn the_other_edge_cases() {
    for (file, kind, bits) in [
        ("testdata/modes/compat-cs-d0.txt", "compat16", Some(16)),
        ("testdata/modes/real-mode-cs-d1.txt", "real", Some(32)),
        ("testdata/modes/vm86.txt", "virtual8086", Some(16)),
        ("testdata/modes/no-cs-line.txt", "unknown", None),
    ] {
        let d = only_dump(file);
        assert_eq!(d["mode"]["kind"], kind, "{file}");
        assert_eq!(d["mode"]["bits"].as_u64(), bits, "{file}");
    }
}

#[test]
fn mode_override_reaches_every_view() {
    let text = std::fs::read_to_string(root().join("testdata/modes/no-cs-line.txt")).unwrap();
    let opts = Options {
        mode_override: Some(32),
        ..Options::default()
    };
    let analysis = analyze(&text, &opts).expect("analysable");
    let info = InputInfo {
        name: "x",
        lines: 1,
    };
    let json: Value = serde_json::from_str(&render_json(&analysis, &info, false)).unwrap();
    let d = &json["dumps"][0];
    assert_eq!(d["mode"]["bits"], 32);
    assert_eq!(d["disassembly"]["bits"], 32);
    assert_eq!(d["disassembly"]["bits_source"], "override");
    assert_eq!(d["diagnosis"]["classification"]["mode"], d["mode"]["kind"]);
    assert_eq!(d["fault"]["mnemonic"], "ud2");
    let report = render_text(&analysis, &info, Color::Never);
    assert!(mode_word_from_text(&report)[0].starts_with("32-bit code"));
}
