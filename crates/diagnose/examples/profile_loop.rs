//! Runs diagnose() on the origin dump N times (for callgrind/perf): `profile_loop N`.
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .expect("origin");
    let dump = kvmtriage_dump::read(&text).expect("dump").remove(0);
    let opts = kvmtriage_diagnose::DiagnoseOptions::default();
    let mut total = 0;
    for _ in 0..n {
        total += kvmtriage_diagnose::diagnose(std::hint::black_box(&dump), None, &opts)
            .evidence
            .len();
    }
    println!("{total}");
}
