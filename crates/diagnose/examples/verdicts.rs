//! Prints verdict, confidence and matched/ruled-out ids for each file given.
fn main() {
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).expect("read");
        match kvmtriage_dump::read(&text) {
            Ok(dumps) => {
                for d in dumps {
                    let g = kvmtriage_diagnose::diagnose(&d, None, &Default::default());
                    let ids: Vec<_> = g.known_issues.iter().map(|k| k.id).collect();
                    let ro: Vec<_> = g.ruled_out.iter().map(|k| k.id).collect();
                    println!(
                        "== {path}\n  {}\n  [{}] {:?} ruled_out {:?}",
                        g.verdict,
                        g.confidence.level.as_str(),
                        ids,
                        ro
                    );
                }
            }
            Err(e) => println!("== {path}\n  reader: {e}"),
        }
    }
}
