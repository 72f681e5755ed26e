//! Reading and decoding the origin dump (the whole origin note, prose included).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .expect("origin note");
    c.bench_function("read+decode origin-note.txt", |b| {
        b.iter(|| {
            let dumps = kvmtriage_dump::read(black_box(&text)).expect("dump");
            black_box(dumps)
        })
    });
    let lines: Vec<&str> = text.lines().collect();
    let dump_only = lines[10..=30].join("\n");
    c.bench_function("read+decode origin dump only", |b| {
        b.iter(|| black_box(kvmtriage_dump::read(black_box(&dump_only)).expect("dump")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
