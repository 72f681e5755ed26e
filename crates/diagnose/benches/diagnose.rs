//! diagnose() on the origin dump (EPERM at WRMSR 0x838): the whole classification, catalogue
//! walk and verdict, with and without a host kernel. Reading the dump is measured by
//! kvmtriage-dump's own bench and is done once, outside the loop.

use criterion::{criterion_group, criterion_main, Criterion};
use kvmtriage_diagnose::{diagnose, DiagnoseOptions, KernelVersion};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .expect("origin note");
    let dump = kvmtriage_dump::read(&text).expect("dump").remove(0);
    let none = DiagnoseOptions::default();
    c.bench_function("diagnose origin dump", |b| {
        b.iter(|| black_box(diagnose(black_box(&dump), None, &none)))
    });
    c.bench_function("facts from origin dump", |b| {
        b.iter(|| black_box(kvmtriage_diagnose::Facts::from_dump(black_box(&dump), None)))
    });
    let facts = kvmtriage_diagnose::Facts::from_dump(&dump, None);
    c.bench_function("diagnose_facts origin", |b| {
        b.iter(|| black_box(kvmtriage_diagnose::diagnose_facts(black_box(&facts), &none)))
    });
    let host = DiagnoseOptions {
        host_kernel: Some(KernelVersion::parse("5.15.0-91-generic").unwrap()),
    };
    c.bench_function("diagnose origin dump --host-kernel", |b| {
        b.iter(|| black_box(diagnose(black_box(&dump), None, &host)))
    });
    let mce = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/diagnose/mce-ctl-bit0-clear-eperm/match.txt"
    ))
    .expect("fixture");
    let mce = kvmtriage_dump::read(&mce).expect("dump").remove(0);
    c.bench_function("diagnose MC1_CTL bit-0 dump --host-kernel", |b| {
        b.iter(|| black_box(diagnose(black_box(&mce), None, &host)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
