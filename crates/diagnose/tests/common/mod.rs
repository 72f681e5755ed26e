#![allow(dead_code)]
use std::path::PathBuf;

use kvmtriage_diagnose::{diagnose, DiagnoseOptions, Diagnosis, KernelVersion};

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn read(rel: &str) -> String {
    let p = testdata().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Diagnoses the only dump in a fixture file.
pub fn diag_text(text: &str, host: Option<&str>) -> Diagnosis {
    let dumps = kvmtriage_dump::read(text).expect("fixture holds a dump");
    assert_eq!(dumps.len(), 1, "fixture must hold exactly one dump");
    let opts = DiagnoseOptions {
        host_kernel: host.map(|h| KernelVersion::parse(h).unwrap()),
    };
    diagnose(&dumps[0], None, &opts)
}

pub fn diag(rel: &str, host: Option<&str>) -> Diagnosis {
    diag_text(&read(rel), host)
}

pub fn ids(d: &Diagnosis) -> Vec<&'static str> {
    d.known_issues.iter().map(|k| k.id).collect()
}

pub fn ruled_out_ids(d: &Diagnosis) -> Vec<&'static str> {
    d.ruled_out.iter().map(|k| k.id).collect()
}
