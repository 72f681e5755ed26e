//! Clustering golden test: the repository's dump corpus (testdata/corpus/real/*.txt) concatenated,
//! then known duplicates and near-duplicates of some of its dumps; the clusters (count and
//! signature, in the summary's order) must be those in testdata/scan/clusters.txt.
//! `KVMTRIAGE_BLESS=1` rewrites the golden file.

mod common;

use common::*;
use kvmtriage_scan::{Clusters, Input};

fn corpus() -> Vec<(String, String)> {
    let dir = root().join("testdata/corpus/real");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let t = std::fs::read_to_string(dir.join(&n)).unwrap();
            (n, t)
        })
        .collect()
}

fn with_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

#[test]
fn corpus_with_duplicates_gives_the_expected_clusters() {
    let mut text = String::new();
    let corpus = corpus();
    for (_, t) in &corpus {
        text.push_str(&noise(3));
        text.push_str(&with_newline(t));
    }
    let o = origin();
    // exact duplicates
    for _ in 0..2 {
        text.push_str(&noise(3));
        text.push_str(&o);
    }
    // near-duplicates: other register values, a libvirt time prefix on every line, mail quotes
    text.push_str(&noise(3));
    text.push_str(&o.replace("RBX=ffff9f30ffcd5fc0", "RBX=ffff9f30aaaa0000"));
    text.push_str(&noise(3));
    for l in o.lines() {
        text.push_str(&format!("2026-11-28 08:07:41.123+0000: {l}\n"));
    }
    text.push_str(&noise(3));
    for l in o.lines() {
        text.push_str(&format!("> {l}\n"));
    }
    // a corpus dump again, and a lone failure line twice
    let (_, t001) = corpus.iter().find(|(n, _)| n == "001.txt").unwrap();
    text.push_str(&noise(3));
    text.push_str(&with_newline(t001));
    for _ in 0..2 {
        text.push_str(&noise(100));
        text.push_str("2026-11-28 09:00:00.000+0000: error: kvm run failed Bad address\n");
    }
    text.push_str(&noise(100));

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fleet.log");
    std::fs::write(&p, &text).unwrap();
    let (recs, issues) = scan(&[Input::File(p)]);
    assert!(issues.is_empty(), "{issues:?}");
    let mut c = Clusters::new();
    for r in &recs {
        c.add(r);
    }
    c.sort();
    let got: String = c
        .clusters
        .iter()
        .map(|c| format!("{:>3}  {}\n", c.count, c.signature))
        .collect();
    let golden = root().join("testdata/scan/clusters.txt");
    if std::env::var_os("KVMTRIAGE_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(got, want, "clusters differ from {}", golden.display());

    // the origin dump's cluster holds the original (from the corpus? no: examples/) plus the two
    // exact and three near-duplicates
    let origin_sig = c
        .clusters
        .iter()
        .find(|c| c.signature.contains("msr=0x838"))
        .unwrap();
    assert_eq!(origin_sig.count, 5);
    assert_eq!(
        origin_sig.first_seen.as_deref(),
        Some("2026-11-28T08:07:41.123000Z")
    );
    let lone = c
        .clusters
        .iter()
        .find(|c| c.signature == "error-line | run_failed:EFAULT")
        .unwrap();
    assert_eq!(lone.count, 2);
    // every corpus dump is found: one record per dump `kvmtriage_dump::read` finds in the file
    let expected: usize = corpus
        .iter()
        .map(|(_, t)| kvmtriage_dump::read(t).map_or(0, |d| d.len()))
        .sum::<usize>()
        + 5
        + kvmtriage_dump::read(t001).unwrap().len();
    assert_eq!(dumps(&recs), expected);
    // the table renders every cluster
    let table = c.table();
    assert_eq!(table.matches("signature: ").count(), c.clusters.len());
}
