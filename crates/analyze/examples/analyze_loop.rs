//! Runs the in-process analysis of the origin dump N times (default 1000), for instruction
//! counts under callgrind: `analyze_loop N`.

const ORIGIN: &str = include_str!("../../../examples/origin-x2apic-timer.txt");

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let opts = kvmtriage_analyze::Options::default();
    let mut total = 0;
    for _ in 0..n {
        let a = kvmtriage_analyze::analyze(std::hint::black_box(ORIGIN), &opts)
            .expect("origin dump analyses");
        total += a.dumps.len();
    }
    println!("{total}");
}
