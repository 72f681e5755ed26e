//! One oops read, titled and its Code: line decoded, in-process (issue 10's criterion figure).
//! Also: the 10 MB runaway call trace of the property tests.

use criterion::{criterion_group, criterion_main, Criterion};

fn fixture(name: &str) -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name);
    String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()
}

fn bench(c: &mut Criterion) {
    let real = fixture("corpus/real/028.txt");
    let kasan = fixture("oops/syzkaller/109");
    // Warm the rules (parsed once per process).
    let _ = kvmtriage_oops::read_oopses(&real);
    let _ = kvmtriage_oops::read_oopses(&kasan);
    c.bench_function("oops read+title+decode (real 028, NULL deref)", |b| {
        b.iter(|| {
            let o = kvmtriage_oops::read_oopses(std::hint::black_box(&real));
            let d = kvmtriage_oops::decode::decode_oops(&o[0], None);
            std::hint::black_box((o, d))
        })
    });
    c.bench_function("oops read+title+decode (syzkaller 109, KASAN)", |b| {
        b.iter(|| {
            let o = kvmtriage_oops::read_oopses(std::hint::black_box(&kasan));
            let d = kvmtriage_oops::decode::decode_oops(&o[0], None);
            std::hint::black_box((o, d))
        })
    });
    let mut big = String::from(
        "BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
         RIP: 0010:foo+0x1/0x10\nCall Trace:\n",
    );
    while big.len() < 10 << 20 {
        big.push_str(" ? some_function_name_here+0x123/0x456 [some_module]\n");
        big.push_str(" another_function+0x1/0x2\n");
    }
    let mut g = c.benchmark_group("runaway");
    g.sample_size(10);
    g.bench_function("10 MB call trace", |b| {
        b.iter(|| std::hint::black_box(kvmtriage_oops::read_oopses(&big)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
