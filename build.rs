//! In the `release-cli` profile only, link the `kvmtriage` executable as a position-dependent
//! (non-PIE) binary.
//!
//! The MSR, bit-field and known-issue tables are `&'static str`-rich statics; in a PIE every one
//! of their pointers is a run-time relocation, and writing them dirties tens of pages of
//! `.data.rel.ro` at every start. On a virtualised host each of those page faults is expensive,
//! and `explain` is a short-lived process whose start-up cost is most of its run time
//! (docs/performance.md). The libraries are still compiled as position-independent code, which
//! links into a non-PIE executable unchanged.
//!
//! Every other profile (dev, test, the default `release`) keeps the toolchain's PIE default.
//!
//! Cargo has no stable way to give link arguments to one profile (profile `rustflags` are
//! nightly-only) and tells a build script only `PROFILE=release` for any profile that inherits
//! from release. So the profile is read from where Cargo builds: the build cache lays out a
//! profile's files under a directory named after it (`target/release-cli/build/…/out`,
//! `target/<triple>/release-cli/…`; the Cargo Book's "Build cache" chapter). If that layout
//! ever changes, the check fails safe: the binary is simply linked as a PIE.
use std::path::Path;

/// The profile whose binary is linked non-PIE (Cargo.toml, `[profile.release-cli]`).
const CLI_PROFILE: &str = "release-cli";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let out_dir = std::env::var_os("OUT_DIR").unwrap_or_default();
    // OUT_DIR = <target dir>[/<triple>]/<profile>/build/kvmtriage-<hash>/out
    let mut up = Path::new(&out_dir).ancestors().skip(2);
    let build = up.next().and_then(Path::file_name);
    let profile = up.next().and_then(Path::file_name);
    let in_cli_profile =
        build.is_some_and(|b| b == "build") && profile.is_some_and(|p| p == CLI_PROFILE);
    if target.contains("linux") && in_cli_profile {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
