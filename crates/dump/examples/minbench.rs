use std::time::Instant;
fn main() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dump_only = lines[10..=30].join("\n");
    for (name, t) in [("full", &text), ("dump", &dump_only)] {
        let mut best = f64::MAX;
        let mut samples = Vec::new();
        for _ in 0..400 {
            let n = 200;
            let s = Instant::now();
            for _ in 0..n {
                std::hint::black_box(kvmtriage_dump::read(std::hint::black_box(t)).unwrap());
            }
            let per = s.elapsed().as_secs_f64() / n as f64 * 1e6;
            best = best.min(per);
            samples.push(per);
        }
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{name}: min {best:.2} µs, p10 {:.2} µs, median {:.2} µs",
            samples[40], samples[200]
        );
    }
}
