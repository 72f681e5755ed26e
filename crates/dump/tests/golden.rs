//! Golden tests: the full JSON of every dump read from the shared fixtures is
//! compared with `testdata/dump/golden/<group>__<file>.json`.
//! `KVMTRIAGE_BLESS=1 cargo test -p kvmtriage-dump --test golden` rewrites them.

use std::path::{Path, PathBuf};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The fixtures: origin note, every corpus/real/*.txt, and the QEMU 7.2
/// stderr / info-registers / -d log files.
fn inputs() -> Vec<(String, PathBuf)> {
    let root = testdata();
    let mut out = vec![(
        "seed__origin-note".to_string(),
        root.join("seed/origin-note.txt"),
    )];
    for (group, dir, keep) in [
        (
            "real",
            "corpus/real",
            &(|n: &str| n.ends_with(".txt")) as &dyn Fn(&str) -> bool,
        ),
        (
            "qemu-real",
            "corpus/qemu-real",
            &(|n: &str| {
                n.ends_with(".stderr") || n.ends_with(".log") || n.contains(".info-registers")
            }),
        ),
    ] {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .expect("fixture dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| keep(n))
            .collect();
        names.sort();
        for n in names {
            out.push((format!("{group}__{n}"), root.join(dir).join(&n)));
        }
    }
    out
}

/// JSON for a file: `{"dumps": [...]}` or `{"error": "..."}`.
fn render(text: &str) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Out {
        #[serde(rename = "dumps")]
        Dumps(Vec<kvmtriage_dump::Dump>),
        #[serde(rename = "error")]
        Error(String),
    }
    let value = match kvmtriage_dump::read(text) {
        Ok(dumps) => Out::Dumps(dumps),
        Err(e) => Out::Error(e.to_string()),
    };
    let mut s = serde_json::to_string_pretty(&value).expect("json");
    s.push('\n');
    s
}

#[test]
fn golden_json_for_every_fixture() {
    let bless = std::env::var_os("KVMTRIAGE_BLESS").is_some_and(|v| v == "1");
    let golden_dir = testdata().join("dump/golden");
    let mut failures = Vec::new();
    let inputs = inputs();
    assert!(inputs.len() > 60, "fixtures missing: {}", inputs.len());
    for (name, path) in &inputs {
        let bytes = std::fs::read(path).expect("fixture");
        let text = String::from_utf8_lossy(&bytes);
        let got = render(&text);
        let golden = golden_dir.join(format!("{name}.json"));
        if bless {
            std::fs::write(&golden, &got).expect("write golden");
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(_) => failures.push(format!("{name}: JSON differs from {}", golden.display())),
            Err(_) => failures.push(format!("{name}: no golden file {}", golden.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches (KVMTRIAGE_BLESS=1 to rewrite after review):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
