//! diagnose() on the origin dump (EPERM at WRMSR 0x838): classification, catalogue walk and
//! verdict. Reading the dump and analysing its code window are measured by kvmtriage-dump and
//! kvmtriage-x86; here they run once outside the loop, except in the "read+analyze+diagnose" case.

use criterion::{criterion_group, criterion_main, Criterion};
use kvmtriage_diagnose::{diagnose, disassemble, DiagnoseOptions, KernelVersion};
use kvmtriage_x86::Syntax;
use std::hint::black_box;

fn analysis(d: &kvmtriage_dump::Dump) -> kvmtriage_x86::CodeAnalysis {
    disassemble(d, Syntax::Intel).expect("code window")
}

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .expect("origin note");
    let dump = kvmtriage_dump::read(&text).expect("dump").remove(0);
    let none = DiagnoseOptions::default();
    let host = DiagnoseOptions {
        host_kernel: Some(KernelVersion::parse("5.15.0-91-generic").unwrap()),
    };
    let code = analysis(&dump);
    c.bench_function("diagnose origin dump with CodeAnalysis", |b| {
        b.iter(|| black_box(diagnose(black_box(&dump), Some(&code), &none)))
    });
    c.bench_function("diagnose origin dump --host-kernel", |b| {
        b.iter(|| black_box(diagnose(black_box(&dump), Some(&code), &host)))
    });
    let mce = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/diagnose/mce-ctl-bit0-clear-eperm/match.txt"
    ))
    .expect("fixture");
    let mce = kvmtriage_dump::read(&mce).expect("dump").remove(0);
    let mce_code = analysis(&mce);
    c.bench_function("diagnose MC1_CTL bit-0 dump --host-kernel", |b| {
        b.iter(|| black_box(diagnose(black_box(&mce), Some(&mce_code), &host)))
    });
    c.bench_function("read+analyze_code+diagnose origin note", |b| {
        b.iter(|| {
            let d = kvmtriage_dump::read(black_box(&text))
                .expect("dump")
                .remove(0);
            let a = analysis(&d);
            black_box(diagnose(&d, Some(&a), &none))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
