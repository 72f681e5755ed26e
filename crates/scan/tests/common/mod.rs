#![allow(dead_code)]
//! Helpers for the scan tests.

use std::path::{Path, PathBuf};

use kvmtriage_scan::{scan_all, Input, InputIssue, Record, ScanOptions};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn origin() -> String {
    std::fs::read_to_string(root().join("examples/origin-x2apic-timer.txt")).unwrap()
}

/// Scan the inputs with one thread; records in order, and the issues.
pub fn scan(inputs: &[Input]) -> (Vec<Record>, Vec<InputIssue>) {
    let recs = std::sync::Mutex::new(Vec::new());
    let opts = ScanOptions {
        threads: 1,
        ..Default::default()
    };
    let issues = scan_all(
        inputs,
        &opts,
        None,
        &|r| recs.lock().unwrap().push(r),
        &|_| {},
    );
    (recs.into_inner().unwrap(), issues)
}

pub fn scan_file(p: &Path) -> (Vec<Record>, Vec<InputIssue>) {
    scan(&[Input::File(p.to_path_buf())])
}

pub fn dumps(r: &[Record]) -> usize {
    r.iter()
        .filter(|r| r.kind == kvmtriage_scan::Kind::QemuDump)
        .count()
}

/// Syslog-style noise.
pub fn noise(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "Nov 28 08:07:{:02} hv03 libvirtd[1834]: noise line {i} with prose\n",
                i % 60
            )
        })
        .collect()
}
