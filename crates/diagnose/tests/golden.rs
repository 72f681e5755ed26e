//! Golden verdicts for every dump in testdata/corpus/real (and the QEMU 7.2 stderr captures in
//! testdata/corpus/qemu-real). Re-bless with `KVMTRIAGE_BLESS=1 cargo test -p kvmtriage-diagnose
//! --test golden`, then review the diff: each golden is the tool's verdict on a real dump.

mod common;

use std::fmt::Write as _;

use common::testdata;
use kvmtriage_diagnose::{diagnose, DiagnoseOptions};

fn render(text: &str) -> String {
    let mut out = String::new();
    match kvmtriage_dump::read(text) {
        Err(e) => {
            writeln!(out, "no QEMU dump: {e}").unwrap();
        }
        Ok(dumps) => {
            for (i, d) in dumps.iter().enumerate() {
                let g = diagnose(d, None, &DiagnoseOptions::default());
                writeln!(
                    out,
                    "== dump {} (lines {}-{})",
                    i + 1,
                    d.source.first_line,
                    d.source.last_line
                )
                .unwrap();
                writeln!(out, "verdict: {}", g.verdict).unwrap();
                writeln!(
                    out,
                    "confidence: {} ({})",
                    g.confidence.level.as_str(),
                    g.confidence.reason
                )
                .unwrap();
                writeln!(out, "class: {}", g.classification.class).unwrap();
                let ids: Vec<&str> = g.known_issues.iter().map(|k| k.id).collect();
                writeln!(out, "known issues: {}", ids.join(", ")).unwrap();
                for x in &g.findings {
                    writeln!(out, "  finding {}: {}", x.id, x.text).unwrap();
                }
                for e in &g.evidence {
                    writeln!(out, "  evidence: {e}").unwrap();
                }
                for s in &g.next_steps {
                    writeln!(out, "  next: {s}").unwrap();
                }
            }
        }
    }
    out
}

fn check_dir(corpus: &str, pattern: fn(&str) -> bool, golden_prefix: &str) -> Vec<String> {
    let bless = std::env::var_os("KVMTRIAGE_BLESS").is_some();
    let dir = testdata().join(corpus);
    let golden_dir = testdata().join("diagnose/golden");
    let mut failures = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| pattern(n))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no inputs in {}", dir.display());
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let got = render(&text);
        let stem = match name.strip_suffix(".txt") {
            Some(s) => s.to_string(),
            None => name.clone(),
        };
        let golden = golden_dir.join(format!("{golden_prefix}{stem}.txt"));
        if bless {
            std::fs::create_dir_all(&golden_dir).unwrap();
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{}: differs\n--- want\n{want}\n--- got\n{got}",
                golden.display()
            )),
            Err(_) => failures.push(format!(
                "{}: missing (bless with KVMTRIAGE_BLESS=1)",
                golden.display()
            )),
        }
    }
    failures
}

#[test]
fn corpus_real_goldens() {
    let f = check_dir("corpus/real", |n| n.ends_with(".txt"), "real-");
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn corpus_qemu_real_goldens() {
    let f = check_dir(
        "corpus/qemu-real",
        |n| n.ends_with(".stderr") || n.ends_with(".log"),
        "qemu-real-",
    );
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn every_real_qemu_dump_gets_a_verdict() {
    // Every QEMU dump in corpus/real (the oops-only files are not QEMU dumps) yields a verdict
    // sentence and at least one evidence line.
    let dir = testdata().join("corpus/real");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("txt") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let Ok(dumps) = kvmtriage_dump::read(&text) else {
            continue;
        };
        for d in dumps {
            let g = diagnose(&d, None, &DiagnoseOptions::default());
            assert!(
                g.verdict.ends_with('.') && g.verdict.len() > 40,
                "{}: {}",
                p.display(),
                g.verdict
            );
            assert!(!g.evidence.is_empty());
            assert!(!g.next_steps.is_empty());
            seen += 1;
        }
    }
    assert!(seen >= 17, "only {seen} dumps");
}
