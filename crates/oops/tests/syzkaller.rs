//! Title agreement with syzkaller's labelled reports (testdata/oops/syzkaller, Apache-2.0: see
//! testdata/SOURCES.md). Each file: `TITLE:`/`ALT:`/`TYPE:`/`CORRUPTED:` headers, a blank line,
//! the raw log. No `TITLE:` means the log holds no crash.
//!
//! Targets (issue 10): the first report's title equals `TITLE:` in at least 95% of the files, and
//! every file without `TITLE:` gives no oops. CORRUPTED and TYPE agreement are printed.

use std::path::PathBuf;

struct Case {
    name: String,
    title: Option<String>,
    alts: Vec<String>,
    ty: Option<String>,
    corrupted: bool,
    log: String,
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/oops/syzkaller");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("testdata/oops/syzkaller") {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (head, log) = match text.find("\n\n") {
            Some(p) => (&text[..p], text[p + 2..].to_string()),
            None => (text.as_str(), String::new()),
        };
        let mut c = Case {
            name,
            title: None,
            alts: Vec::new(),
            ty: None,
            corrupted: false,
            log,
        };
        for l in head.lines() {
            if let Some(t) = l.strip_prefix("TITLE:") {
                // An empty TITLE: is syzkaller's "no crash" too.
                c.title = Some(t.trim().to_string()).filter(|t| !t.is_empty());
            } else if let Some(t) = l.strip_prefix("ALT: ") {
                c.alts.push(t.to_string());
            } else if let Some(t) = l.strip_prefix("TYPE: ") {
                c.ty = Some(t.to_string());
            } else if l == "CORRUPTED: Y" {
                c.corrupted = true;
            }
        }
        out.push(c);
    }
    out.sort_by_key(|c| c.name.parse::<u32>().unwrap_or(0));
    out
}

#[test]
fn syzkaller_title_agreement() {
    let cases = cases();
    assert_eq!(cases.len(), 373, "expected the 373 labelled files");
    let (mut with_title, mut title_ok) = (0, 0);
    let (mut no_title, mut no_title_ok) = (0, 0);
    let (mut corrupted_ok, mut type_n, mut type_ok, mut alt_n, mut alt_ok) = (0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    for c in &cases {
        let oopses = kvmtriage_oops::read_oopses(&c.log);
        match &c.title {
            None => {
                no_title += 1;
                if oopses.iter().all(|o| o.kind == "register-dump") {
                    no_title_ok += 1;
                    corrupted_ok += 1;
                } else {
                    misses.push(format!(
                        "{}: no crash expected, got {:?}",
                        c.name, oopses[0].title
                    ));
                }
            }
            Some(want) => {
                with_title += 1;
                let first = oopses.iter().find(|o| o.kind != "register-dump");
                let got = first.map(|o| o.title.as_str()).unwrap_or("<none>");
                if got == want {
                    title_ok += 1;
                } else {
                    misses.push(format!("{}: want {want:?} got {got:?}", c.name));
                }
                let got_corrupted = first.is_some_and(|o| o.corrupted.is_some());
                if got_corrupted == c.corrupted {
                    corrupted_ok += 1;
                } else {
                    misses.push(format!(
                        "{}: corrupted want {} got {:?}",
                        c.name,
                        c.corrupted,
                        first.and_then(|o| o.corrupted.clone())
                    ));
                }
                if let Some(t) = &c.ty {
                    type_n += 1;
                    if first.is_some_and(|o| &o.crash_type == t) {
                        type_ok += 1;
                    }
                }
                for a in &c.alts {
                    alt_n += 1;
                    if first.is_some_and(|o| o.alt_titles.contains(a)) {
                        alt_ok += 1;
                    }
                }
            }
        }
    }
    for m in &misses {
        println!("miss: {m}");
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "syzkaller titles: {title_ok}/{with_title} ({:.1}%) first titles equal TITLE:",
        pct(title_ok, with_title)
    );
    println!("syzkaller no-crash files: {no_title_ok}/{no_title} give no oops");
    println!(
        "syzkaller CORRUPTED agreement: {corrupted_ok}/{} ({:.1}%)",
        cases.len(),
        pct(corrupted_ok, cases.len())
    );
    println!(
        "syzkaller TYPE agreement: {type_ok}/{type_n} ({:.1}%); ALT titles found: {alt_ok}/{alt_n}",
        pct(type_ok, type_n)
    );
    assert_eq!(
        no_title_ok, no_title,
        "files without TITLE: must give no oops"
    );
    assert!(
        pct(title_ok, with_title) >= 95.0,
        "title agreement {:.1}% is below the 95% target",
        pct(title_ok, with_title)
    );
}
