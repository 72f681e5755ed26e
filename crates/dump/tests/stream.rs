//! The streaming entry gives the same dumps as `read` on every fixture, fed line by line or in
//! chunks cut anywhere, and hands dumps out before the input ends.

use std::path::{Path, PathBuf};

use kvmtriage_dump::{read, Dump, ReadError, StreamReader};
use proptest::prelude::*;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every file of testdata/corpus and testdata/seed, and the other text fixtures of testdata
/// (`*.txt`, `*.log`, `*.stderr`, `*.qmp`), as lossy UTF-8.
fn fixtures() -> Vec<(String, String)> {
    fn walk(dir: &Path, all: bool, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, all, out);
            } else {
                let name = p.to_string_lossy();
                let text_like = [".txt", ".log", ".stderr", ".qmp"]
                    .iter()
                    .any(|s| name.ends_with(s));
                if all || text_like {
                    out.push(p);
                }
            }
        }
    }
    let root = testdata();
    let mut paths = Vec::new();
    walk(&root.join("corpus"), true, &mut paths);
    walk(&root.join("seed"), true, &mut paths);
    let mut rest = Vec::new();
    walk(&root, false, &mut rest);
    for p in rest {
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("fixture");
            let name = p
                .strip_prefix(&root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            (name, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// The lines of `text` as `read` splits them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.strip_suffix('\n').unwrap_or(text).split('\n')
}

fn by_lines(text: &str) -> Result<Vec<Dump>, ReadError> {
    let mut s = StreamReader::new();
    let mut dumps = Vec::new();
    for l in lines(text) {
        dumps.extend(s.feed_line(l));
    }
    let rest = s.finish_read();
    match rest {
        Ok(rest) => {
            dumps.extend(rest);
            Ok(dumps)
        }
        Err(e) => {
            assert!(dumps.is_empty(), "dumps handed out, then an error");
            Err(e)
        }
    }
}

fn by_chunks(text: &str, cuts: &[usize]) -> Result<Vec<Dump>, ReadError> {
    let mut s = StreamReader::new();
    let mut dumps = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let mut end = (at + c).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        dumps.extend(s.feed(&text[at..end]));
        at = end;
    }
    dumps.extend(s.feed(&text[at..]));
    match s.finish_read() {
        Ok(rest) => {
            dumps.extend(rest);
            Ok(dumps)
        }
        Err(e) => Err(e),
    }
}

#[test]
fn feeding_lines_gives_the_same_dumps_as_read_on_every_fixture() {
    let fixtures = fixtures();
    assert!(fixtures.len() > 300, "fixtures missing: {}", fixtures.len());
    let mut compared = 0;
    for (name, text) in &fixtures {
        let batch = read(text);
        assert_eq!(by_lines(text), batch, "{name}: line by line");
        for size in [1, 7, 80, 4096] {
            let cuts = vec![size; text.len() / size + 1];
            assert_eq!(by_chunks(text, &cuts), batch, "{name}: chunks of {size}");
        }
        compared += usize::from(batch.is_ok());
    }
    assert!(compared > 150, "dumps compared: {compared}");
}

#[test]
fn dumps_come_out_before_the_input_ends() {
    let text = std::fs::read_to_string(testdata().join("corpus/qemu-real/tcg-mode64-d-cpu.log"))
        .expect("fixture");
    let total = read(&text).expect("dumps").len();
    assert!(total > 10, "{total}");
    let mut s = StreamReader::new();
    let mut early = 0;
    for l in text.lines() {
        early += s.feed_line(l).len();
    }
    let late = s.finish().len();
    assert_eq!(early + late, total);
    // The cut last dump, and the one before it (its hold window had not passed).
    assert!(late <= 2, "{late} dumps held until the end");

    // `info registers -a`: CPU#0's dump is out once CPU#1's header has been read and the hold
    // window has passed.
    let text = std::fs::read_to_string(
        testdata().join("corpus/qemu-real/kvm-smp2-halt.info-registers-a.txt"),
    )
    .expect("fixture");
    let mut s = StreamReader::new();
    let mut first_at = None;
    for (i, l) in text.lines().enumerate() {
        if !s.feed_line(l).is_empty() && first_at.is_none() {
            first_at = Some(i + 1);
        }
    }
    assert!(first_at.is_some(), "CPU#0's dump held to the end");
    assert_eq!(s.finish().len(), 1);
}

#[test]
fn errors_come_from_finish_read() {
    let s = StreamReader::new();
    assert_eq!(s.finish_read(), Err(ReadError::Empty));
    let mut s = StreamReader::new();
    assert!(s.feed_line("hello").is_empty());
    assert_eq!(s.finish_read(), Err(ReadError::NoDump { lines_scanned: 1 }));
    let mut s = StreamReader::new();
    s.feed("just text\nno dump");
    assert_eq!(s.lines_read(), 1);
    assert_eq!(s.finish(), Vec::new());
}

fn corpus() -> Vec<String> {
    let root = testdata();
    let mut files = vec![root.join("seed/origin-note.txt")];
    for id in ["001", "013", "023", "048", "052", "058"] {
        files.push(root.join(format!("corpus/real/{id}.txt")));
    }
    for f in [
        "kvm-smp2-halt.info-registers-a.txt",
        "tcg-mode32-triple.log",
        "kvm-mode32-triple.stderr",
    ] {
        files.push(root.join(format!("corpus/qemu-real/{f}")));
    }
    files.push(root.join("kvm/origin-x2apic-timer.eperm.txt"));
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("fixture"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_chunkings_of_fixtures_read_the_same(
        which in 0usize..11,
        cuts in prop::collection::vec(0usize..200, 0..64),
    ) {
        let corpus = corpus();
        let text = &corpus[which % corpus.len()];
        prop_assert_eq!(by_chunks(text, &cuts), read(text));
    }

    #[test]
    fn random_chunkings_of_random_text_read_the_same(
        lines in prop::collection::vec(
            prop_oneof![
                "(RAX|EAX|RIP|EIP|CS |SS |GDT|CR0|EFER|XMM01)=[0-9a-f <>]{0,40}",
                "Code=[0-9a-f?<> ]{0,60}",
                "(error: kvm run failed|KVM internal error. Suberror:|Triple fault|CPU#|kvmtriage: exit record|  key:) ?[0-9a-z ]{0,12}",
                "[ -~]{0,30}=3D[ -~]{0,10}=?",
                "\\PC{0,30}",
            ],
            0..40,
        ),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(0usize..64, 0..32),
    ) {
        let mut text = lines.join(if crlf { "\r\n" } else { "\n" });
        if crlf {
            text.push('\r');
        }
        let batch = read(&text);
        prop_assert_eq!(by_chunks(&text, &cuts), batch.clone());
        prop_assert_eq!(by_lines(&text), batch);
    }
}
