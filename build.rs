//! Link the `kvmtriage` executable as a position-dependent (non-PIE) binary.
//!
//! The MSR, bit-field and known-issue tables are `&'static str`-rich statics; in a PIE every one
//! of their pointers is a run-time relocation, and writing them dirties ~60 pages of
//! `.data.rel.ro` at every start. On a virtualised host each of those page faults is expensive,
//! and `explain` is a short-lived process whose start-up cost is most of its run time
//! (docs/performance.md). The libraries are still compiled as position-independent code, which
//! links into a non-PIE executable unchanged.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
