//! Criterion bench: disassemble + describe the origin dump's code window.

use criterion::{criterion_group, criterion_main, Criterion};
use kvmtriage_model::{CpuState, Gpr, SegName, Segment, SegmentAttributes};
use kvmtriage_x86::{analyze_code, known_bytes, CodeInput, CodeOptions};

const ORIGIN_CODE: [u8; 50] = [
    0xc3, 0x0f, 0x21, 0xf0, 0x5d, 0xc3, 0x0f, 0x0b, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x89, 0xf9, 0x89, 0xf0, 0x0f, 0x30, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3, 0x55, 0x48, 0xc1, 0xe2,
    0x20, 0x89, 0xf6, 0x48, 0x09, 0xd6, 0x31, 0xd2, 0x48, 0x89, 0xe5, 0xe8, 0x40, 0xbf, 0x39, 0x00,
    0x5d, 0xc3,
];

fn origin_state() -> CpuState {
    let mut c = CpuState::default();
    c.set_gpr(Gpr::Rax, 0x7213cc9);
    c.set_gpr(Gpr::Rcx, 0x838);
    c.set_gpr(Gpr::Rdx, 0);
    c.set_gpr(Gpr::Rsp, 0xffff9f30ffcc3f10);
    c.rip = Some(0xffffffff96070964);
    c.segments[SegName::Cs.index()] = Some(Segment {
        selector: 0x10,
        base: 0,
        limit: 0xffff_ffff,
        attributes: SegmentAttributes(0x00a0_9b00),
    });
    c
}

fn bench(c: &mut Criterion) {
    let bytes = known_bytes(&ORIGIN_CODE);
    let state = origin_state();
    let input = CodeInput {
        bytes: &bytes,
        marker: 20,
        bitness: 64,
        rip: 0xffffffff96070964,
        cs_base: 0,
    };
    let opts = CodeOptions::default();
    c.bench_function("origin_window_analyze_code", |b| {
        b.iter(|| analyze_code(std::hint::black_box(&input), &state, &opts))
    });
    c.bench_function("origin_window_analyze_code_and_json", |b| {
        b.iter(|| {
            let a = analyze_code(std::hint::black_box(&input), &state, &opts);
            serde_json::to_string(&a).map(|s| s.len()).unwrap_or(0)
        })
    });
    c.bench_function("msr_lookup_index_0x838", |b| {
        b.iter(|| kvmtriage_x86::msr::lookup(std::hint::black_box(0x838)))
    });
    c.bench_function("msr_lookup_name_mc1_ctl", |b| {
        b.iter(|| kvmtriage_x86::msr::lookup_name(std::hint::black_box("msr_ia32_mc1_ctl")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
