fn main() {
    println!("kvmtriage: under construction");
}
