//! Prints the diagnosis JSON of every dump in a file: `cargo run --example diag -- FILE [HOST_KERNEL]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("file");
    let host = args
        .next()
        .map(|h| kvmtriage_diagnose::KernelVersion::parse(&h).expect("kernel"));
    let text = std::fs::read_to_string(path).expect("read");
    let opts = kvmtriage_diagnose::DiagnoseOptions { host_kernel: host };
    for d in kvmtriage_dump::read(&text).expect("dump") {
        let diag = kvmtriage_diagnose::diagnose(&d, None, &opts);
        println!("{}", serde_json::to_string_pretty(&diag).unwrap());
    }
}
