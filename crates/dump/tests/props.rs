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

// ---------------------------------------------------------------------------
// Layer by layer: each layer of the reader gets input aimed at it.

use kvmtriage_dump::transport::{content_starts, strip_prefix, Lines, Transport};

/// Logical lines cover the physical lines in order, each inside the input.
fn check_transport(text: &str) -> Result<(), TestCaseError> {
    let physical = text.strip_suffix('\n').unwrap_or(text).split('\n').count() as u32;
    let mut next = 1u32;
    for l in Lines::new(text) {
        prop_assert!(l.number <= l.last, "{l:?}");
        prop_assert!(l.number >= next.saturating_sub(1), "{l:?} after {next}");
        prop_assert!(l.last <= physical, "{l:?} beyond {physical}");
        prop_assert!(l.text.len() <= text.len(), "{l:?} longer than the input");
        next = l.last + 1;
    }
    // The push interface, one physical line at a time, agrees with the iterator.
    let mut t = Transport::new();
    let mut pushed = Vec::new();
    if !text.is_empty() {
        for p in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            t.push(p, &mut |l| {
                pushed.push((l.number, l.last, l.text.to_string()))
            });
        }
    }
    t.finish(&mut |l| pushed.push((l.number, l.last, l.text.to_string())));
    let iterated: Vec<_> = Lines::new(text)
        .map(|l| (l.number, l.last, l.text))
        .collect();
    prop_assert_eq!(pushed, iterated);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn transport_never_panics(text in "\\PC{0,300}") {
        check_transport(&text)?;
    }

    #[test]
    fn transport_on_mail_and_wraps(lines in prop::collection::vec(
        prop_oneof![
            // quoted-printable, soft breaks, quotes
            "(> ?){0,2}[A-Z ]{0,6}=3D[0-9A-F=]{0,20}=?",
            "(> ?){0,2}[0-9a-f =]{0,30}",
            // wrapped register tokens
            "[A-Z]{1,3}=[0-9a-f]{1,15}",
            "[0-9a-f]{1,16} [A-Z]{2,3}=[0-9a-f]{0,16}",
            // JSON-escaped breaks
            "\"RAX=[0-9a-f]{4}\\\\r\\\\nRIP=[0-9a-f]{2}\\\\n\\\\\"x\\\\\\\\\"",
            "\\PC{0,20}",
        ],
        0..30,
    ), crlf in any::<bool>()) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        check_transport(&text)?;
        check(&text)?;
    }

    #[test]
    fn strip_prefix_returns_a_suffix(text in "\\PC{0,80}", prefix in prop_oneof![
        Just(String::new()),
        Just("> > ".to_string()),
        Just("&gt; ".to_string()),
        Just("[   12.345678] ".to_string()),
        Just("[Mon Mar  3 12:34:56 2025] ".to_string()),
        Just("Mar  3 12:34:56 host qemu-kvm[1234]: ".to_string()),
        Just("2025-03-03 12:34:56.789+0000: ".to_string()),
        Just("2025-03-03T12:34:56Z host libvirtd: ".to_string()),
        "[ -~]{0,30}",
    ]) {
        let line = format!("{prefix}{text}");
        let body = strip_prefix(&line);
        prop_assert!(line.ends_with(body));
        for start in content_starts(&line, 120) {
            prop_assert!(line.ends_with(start));
        }
    }

    #[test]
    fn event_lines_never_panic(lines in prop::collection::vec(
        prop_oneof![
            "(error: )?kvm run failed ?\\PC{0,20}",
            "KVM internal error\\.? ?(Suberror: ?)?[0-9x]{0,12}[ -~]{0,10}",
            "extra data\\[[0-9 ]{0,3}\\]?:? ?(0x)?[0-9a-fA-Fx ]{0,20}",
            "KVM: (entry failed, hardware error|exception|unknown exit(, hardware reason| reason)) ?(0x)?[0-9a-f ()a-z]{0,20}",
            "(emulation failure|Triple fault|qemu: fatal: [ -~]{0,10}|CPU Reset \\(CPU [0-9]{0,3}\\)?|Failed to (get|put) registers[ -~]{0,10})",
            "EAX=[0-9a-f]{8} EBX=[0-9a-f]{8}",
            "\\PC{0,20}",
        ],
        0..30,
    )) {
        check(&lines.join("\n"))?;
    }

    #[test]
    fn register_and_segment_lines_never_panic(lines in prop::collection::vec(
        prop_oneof![
            "(ES |CS |SS |DS |FS |GS |LDT|TR )=[0-9a-f]{0,5} [0-9a-f]{0,17} [0-9a-f]{0,9} [0-9a-f]{0,9}( DPL=[0-9]( CS64| CS32| CS16| DS  | TSS64-busy| LDT)?( \\[[-A-Z]{0,4}\\]?)?)?",
            "(RIP|EIP)=[0-9a-f]{0,17} (RFL|EFL)=[0-9a-f]{0,9} \\[[-A-Z]{0,7}\\]? (CPL|II|A20|SMM|HLT)=[0-9a-z]{0,4}",
            "(CR0|CR2|CR3|CR4|DR0|DR6|DR7|EFER|GDT=    |IDT=    )=?[0-9a-f]{0,17}( [0-9a-f]{0,9})?",
            "(CCS|CCD|CCO|FCW|FSW|FTW|MXCSR)=[0-9a-zA-Z]{0,10}( \\[ST=[0-9a-z]{0,3}\\]?)?",
            "(FPR[0-7]|XMM[0-3][0-9]|YMM0[0-9]|ZMM0[0-9]|Opmask0[0-9])=[0-9a-f ]{0,80}",
            "R(8 |9 |1[0-9]|2[0-9]|3[0-1])=[0-9a-f]{0,17}",
        ],
        0..40,
    )) {
        check(&lines.join("\n"))?;
    }

    #[test]
    fn code_lines_never_panic(
        head in "Code=",
        tokens in prop::collection::vec(
            prop_oneof!["[0-9a-f]{2}", "<[0-9a-f?]{0,3}>?", "\\?\\?", "[0-9a-f]", "[ -~]{0,6}"],
            0..80,
        ),
        breaks in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let origin = {
            let text = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../testdata/seed/origin-note.txt"
            ))
            .expect("origin");
            text.lines().skip(10).take(20).collect::<Vec<_>>().join("\n")
        };
        let mut code = format!("{head}{}", tokens.join(" "));
        for b in breaks {
            let mut at = b % (code.len() + 1);
            while !code.is_char_boundary(at) {
                at -= 1;
            }
            code.insert(at, '\n');
        }
        check(&format!("{origin}\n{code}\n"))?;
    }

    #[test]
    fn legacy_lines_never_panic(lines in prop::collection::vec(
        prop_oneof![
            "rax [0-9a-f]{0,17} rbx [0-9a-f]{0,17}",
            "(rcx|rdx|rsi|r8|r15|rip|rflags|cr0|cr2|cr8|efer) [0-9a-fg]{0,17}",
            "(cs|ds|tr|ldt) [0-9a-f]{0,4} \\([0-9a-f]{0,16}/[0-9a-f]{0,8}( (p|dpl|db|s|type|l|g|avl|x) [0-9a-fz]{0,2}){0,9}\\)?",
            "(gdt|idt) [0-9a-f]{0,16}/?[0-9a-f]{0,8}",
            "[0-9a-f]{8,16}",
        ],
        0..30,
    )) {
        check(&lines.join("\n"))?;
    }
}
