fn main() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dump_only = lines[10..=30].join("\n");
    let which = std::env::args().nth(1).unwrap_or_default();
    let t = if which == "dump" { &dump_only } else { &text };
    for _ in 0..1000 {
        std::hint::black_box(kvmtriage_dump::read(std::hint::black_box(t)).unwrap());
    }
}
