//! Full in-process analysis of the origin dump: read, decode, disassemble, describe, diagnose.
//! Target (issue 3): under 20 µs median.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const ORIGIN: &str = include_str!("../../../examples/origin-x2apic-timer.txt");

fn bench(c: &mut Criterion) {
    let opts = kvmtriage_analyze::Options::default();
    c.bench_function("analyze origin dump", |b| {
        b.iter(|| {
            kvmtriage_analyze::analyze(black_box(ORIGIN), &opts).expect("origin dump analyses")
        })
    });
    c.bench_function("read origin dump", |b| {
        b.iter(|| kvmtriage_dump::read(black_box(ORIGIN)).expect("origin dump reads"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
