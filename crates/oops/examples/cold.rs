//! Cold-start cost of the oops reader, step by step: `cargo run --release --example cold FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let text = std::fs::read_to_string(path).expect("readable");
    let t = std::time::Instant::now();
    kvmtriage_oops::titles::load_rules_for_timing();
    println!("rules loaded in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let oopses = kvmtriage_oops::read_oopses(&text);
    let read = t.elapsed();
    let t = std::time::Instant::now();
    let decoded: Vec<_> = oopses
        .iter()
        .map(|o| kvmtriage_oops::decode::decode_oops(o, None))
        .collect();
    let decode = t.elapsed();
    let t = std::time::Instant::now();
    let again = kvmtriage_oops::read_oopses(&text);
    let warm = t.elapsed();
    println!(
        "{} oopses; first read+title {read:?}, decode {decode:?}, second read+title {warm:?} ({} decoded, {} again)",
        oopses.len(),
        decoded.iter().flatten().count(),
        again.len()
    );
}
