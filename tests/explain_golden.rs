//! Golden tests: `kvmtriage explain` over every fixture, text and JSON, compared byte for byte
//! with `testdata/explain/`. Inputs are real dumps (published reports, real QEMU output, the origin
//! note); the expected outputs were reviewed by hand when blessed.
//!
//! Re-bless after an intended change with `KVMTRIAGE_BLESS=1 cargo test --test explain_golden`,
//! then review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every fixture that `explain` is run on, relative to the repository root.
fn inputs() -> Vec<String> {
    let mut out = vec!["testdata/seed/origin-note.txt".to_string()];
    for dir in [
        "testdata/corpus/real",
        "testdata/corpus/qemu-real",
        "testdata/modes",
    ] {
        let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
            .expect("fixture directory")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| {
                // Provenance tables and command lines are not dumps; everything else is fed in,
                // including files that hold no dump (they must give a clean "no dump" answer).
                !n.ends_with(".tsv") && !n.ends_with(".md") && !n.ends_with(".cmdline")
            })
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
    }
    out
}

fn golden_path(input: &str, ext: &str) -> PathBuf {
    let stem = input.trim_start_matches("testdata/").replace('/', "__");
    root()
        .join("testdata/explain")
        .join(format!("{stem}.{ext}"))
}

/// Runs `kvmtriage explain ARGS INPUT` and renders exit code, stdout and stderr as one text.
fn run(input: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .current_dir(root())
        .arg("explain")
        .args(args)
        .arg(input)
        .output()
        .expect("run kvmtriage");
    let mut s = format!("exit: {}\n", out.status.code().unwrap_or(-1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.is_empty() {
        s.push_str("--- stderr\n");
        s.push_str(&stderr);
    }
    s.push_str("--- stdout\n");
    s.push_str(&String::from_utf8_lossy(&out.stdout));
    s
}

fn check(kind: &str, args: &[&str]) {
    let bless = std::env::var_os("KVMTRIAGE_BLESS").is_some();
    let mut failures = Vec::new();
    for input in inputs() {
        let actual = run(&input, args);
        let path = golden_path(&input, kind);
        if bless {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &actual).expect("write golden");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{input}: output differs from {}\n{}",
                rel(&path),
                first_difference(&expected, &actual)
            )),
            Err(_) => failures.push(format!("{input}: no golden file {}", rel(&path))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches (bless with KVMTRIAGE_BLESS=1 after review):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("  line {}:\n  expected: {e}\n  actual:   {a}", i + 1);
        }
    }
    format!(
        "  lengths differ: expected {} lines, got {}",
        expected.lines().count(),
        actual.lines().count()
    )
}

#[test]
fn golden_text() {
    check("txt", &["--color", "never"]);
}

#[test]
fn golden_json() {
    check("json", &["--format", "json", "--pretty"]);
}

#[test]
fn json_is_valid_and_versioned() {
    for input in inputs() {
        let out = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
            .current_dir(root())
            .args(["explain", "--format", "json", &input])
            .output()
            .expect("run kvmtriage");
        match out.status.code() {
            // 7: analysed, but a dump is damaged (docs/exit-codes.md); the report is still printed.
            Some(0) | Some(7) => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                    .unwrap_or_else(|e| panic!("{input}: bad JSON: {e}"));
                assert_eq!(v["schema_version"], 3, "{input}");
                let dumps = v["dumps"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{input}: no dumps array"));
                let oopses = v["oopses"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{input}: no oopses array"));
                assert!(
                    !dumps.is_empty() || !oopses.is_empty(),
                    "{input}: exit 0 with neither dumps nor oopses"
                );
                for o in oopses {
                    assert!(
                        o["title"].as_str().is_some_and(|t| !t.is_empty()),
                        "{input}: oops title"
                    );
                    assert!(o["stack"].is_array(), "{input}: oops stack");
                }
                for d in dumps {
                    assert!(d["event"]["kind"].is_string(), "{input}: event.kind");
                    assert!(
                        d["source"]["first_line"].as_u64().unwrap_or(0) >= 1,
                        "{input}: first_line"
                    );
                    assert!(d["warnings"].is_array(), "{input}: warnings");
                    assert!(
                        d["diagnosis"]["verdict"]
                            .as_str()
                            .is_some_and(|s| !s.is_empty()),
                        "{input}: verdict"
                    );
                }
            }
            Some(2) | Some(3) => {
                assert!(out.stdout.is_empty(), "{input}: output on failure");
                assert!(!out.stderr.is_empty(), "{input}: no error message");
            }
            other => panic!("{input}: unexpected exit {other:?}"),
        }
    }
}
