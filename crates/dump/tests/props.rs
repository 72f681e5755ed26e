//! Property tests: the reader never panics and every line number it reports
//! lies inside the input, for random text and for random mutations of real dumps.

use kvmtriage_dump::read;
use proptest::prelude::*;
use serde_json::Value;

fn corpus() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");
    let mut files = vec![format!("{root}/seed/origin-note.txt")];
    for id in ["001", "003", "007", "013", "023", "048", "052", "058"] {
        files.push(format!("{root}/corpus/real/{id}.txt"));
    }
    for f in [
        "kvm-smp2-halt.info-registers-a.txt",
        "tcg-mode64-triple.log",
        "kvm-mode32-triple.stderr",
    ] {
        files.push(format!("{root}/corpus/qemu-real/{f}"));
    }
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("fixture"))
        .collect()
}

/// Every `line`/`first_line`/`last_line`/`extra_data_lines` value is in 1..=lines.
fn check_lines(v: &Value, lines: u64, path: &str) -> Result<(), TestCaseError> {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let here = format!("{path}.{k}");
                match (k.as_str(), x) {
                    ("line" | "first_line" | "last_line", Value::Number(n)) => {
                        let n = n.as_u64().unwrap_or(0);
                        prop_assert!(n >= 1 && n <= lines, "{here} = {n} outside 1..={lines}");
                    }
                    ("extra_data_lines", Value::Array(a)) => {
                        for n in a {
                            let n = n.as_u64().unwrap_or(0);
                            prop_assert!(n >= 1 && n <= lines, "{here} = {n} outside 1..={lines}");
                        }
                    }
                    _ => check_lines(x, lines, &here)?,
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check_lines(x, lines, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count() as u64;
    match read(text) {
        Ok(dumps) => {
            prop_assert!(!dumps.is_empty());
            for d in &dumps {
                prop_assert!(d.source.first_line <= d.source.last_line);
                if let Some(c) = &d.code {
                    prop_assert!(c.marker.is_none_or(|m| m < c.bytes.len()));
                }
                let v = serde_json::to_value(d).expect("serializes");
                check_lines(&v, lines, "dump")?;
            }
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            if let kvmtriage_dump::ReadError::Binary { line }
            | kvmtriage_dump::ReadError::KernelOops { line } = e
            {
                prop_assert!(line >= 1 && u64::from(line) <= lines);
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Truncate(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Replace(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tok = prop_oneof![
        Just("=".to_string()),
        Just("=3D".to_string()),
        Just("=\n".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("<".to_string()),
        Just(">".to_string()),
        Just("??".to_string()),
        Just("Code=".to_string()),
        Just("RAX=".to_string()),
        Just("CS =".to_string()),
        Just("KVM internal error. Suberror: 1\n".to_string()),
        Just("extra data[0]: 0x1\n".to_string()),
        Just("CPU#1\n".to_string()),
        Just("Triple fault\n".to_string()),
        Just("rax ".to_string()),
        Just("\0".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ];
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), tok).prop_map(|(a, s)| Mutation::Insert(a, s)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::Replace(a, c)),
    ]
}

fn boundary(s: &str, at: usize) -> usize {
    let mut at = at % (s.len() + 1);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, m: &Mutation) {
    match m {
        Mutation::Delete(a, n) => {
            let a = boundary(text, *a);
            let b = boundary(text, (a + n).min(text.len()));
            if b > a {
                text.replace_range(a..b, "");
            }
        }
        Mutation::Insert(a, s) => {
            let a = boundary(text, *a);
            text.insert_str(a, s);
        }
        Mutation::Truncate(a) => {
            let a = boundary(text, *a);
            text.truncate(a);
        }
        Mutation::DuplicateLine(i) | Mutation::SwapLines(i, _) => {
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            let n = lines.len();
            let i = i % n;
            match m {
                Mutation::SwapLines(_, j) => lines.swap(i, j % n),
                _ => {
                    let l = lines[i].clone();
                    lines.insert(i, l);
                }
            }
            *text = lines.join("\n");
        }
        Mutation::Replace(a, c) => {
            let a = boundary(text, *a);
            if let Some(old) = text[a..].chars().next() {
                text.replace_range(a..a + old.len_utf8(), &c.to_string());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        check(&text)?;
    }

    #[test]
    fn random_dump_like_lines_never_panic(lines in prop::collection::vec(
        prop_oneof![
            "(RAX|EAX|RIP|EIP|RFL|CS |SS |TR |GDT|CR0|CR2|DR6|EFER|FPR0|XMM01|ZMM00|Opmask00|CCO|R16)=[0-9a-fA-F?<> ]{0,40}",
            "Code=[0-9a-f?<> ]{0,80}",
            "[0-9a-f?<> ]{0,60}",
            "(>|> >|\\[ *[0-9.]+\\]) [A-Z]{2,4} ?=[0-9a-f]{0,17}",
            "(error: kvm run failed|KVM internal error. Suberror:|extra data\\[[0-9]\\]:|KVM: entry failed, hardware error|CPU#|CPU Reset \\(CPU) ?[0-9a-zx ]{0,20}",
            "(rax|cs|gdt|cr0) [0-9a-f/() a-z]{0,40}",
            "\\PC{0,30}",
        ],
        0..40,
    )) {
        check(&lines.join("\n"))?;
    }

    #[test]
    fn mutated_real_dumps_never_panic(
        which in 0usize..12,
        muts in prop::collection::vec(mutation(), 1..8),
    ) {
        let corpus = corpus();
        let mut text = corpus[which % corpus.len()].clone();
        for m in &muts {
            apply(&mut text, m);
        }
        check(&text)?;
    }
}
