//! The declared `rust-version` is real: every crate of the workspace (the root package and every
//! `crates/*`, including crates added later) inherits the workspace's `rust-version`; the
//! toolchain running the tests is at least that version; and no locked dependency that the
//! crates build with (normal and build dependencies, not dev-dependencies) asks for a newer one.
//! That the code itself uses no newer std API is clippy's `incompatible_msrv` lint, run by
//! `.ci/run` (`cargo clippy --workspace --all-targets -- -D warnings`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()))
}

/// `1.85`, `1.85.0` → (1, 85, 0).
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.trim().split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|e| panic!("{text:?} is not a Rust version: {e}"))
    });
    let major = parts.next().expect("major version");
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    assert!(parts.next().is_none(), "{text:?} has more than three parts");
    (major, minor, patch)
}

/// The workspace's `rust-version`, as declared in `[workspace.package]`.
fn workspace_rust_version() -> String {
    let root_manifest = manifest(&root().join("Cargo.toml"));
    root_manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("[workspace.package] rust-version is a string")
        .to_string()
}

/// Every package manifest of the workspace: the root and each `crates/*/Cargo.toml`.
fn package_manifests() -> Vec<PathBuf> {
    let mut paths = vec![root().join("Cargo.toml")];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .map(|e| e.expect("directory entry").path().join("Cargo.toml"))
        .filter(|p| p.is_file())
        .collect();
    crates.sort();
    paths.extend(crates);
    paths
}

#[test]
fn the_workspace_covers_crates_and_declares_a_rust_version() {
    let root_manifest = manifest(&root().join("Cargo.toml"));
    let members: Vec<&str> = root_manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members")
        .iter()
        .map(|m| m.as_str().expect("member path"))
        .collect();
    assert!(
        members.contains(&"crates/*"),
        "the workspace takes every crate under crates/ ({members:?}), which this test scans"
    );
    version(&workspace_rust_version());
    assert!(package_manifests().len() >= 7, "{:?}", package_manifests());
}

#[test]
fn every_crate_inherits_the_workspace_rust_version() {
    let mut wrong = Vec::new();
    for path in package_manifests() {
        let m = manifest(&path);
        let package = m
            .get("package")
            .and_then(|p| p.as_table())
            .unwrap_or_else(|| panic!("{} has no [package]", path.display()));
        let inherited = package
            .get("rust-version")
            .and_then(|v| v.as_table())
            .and_then(|t| t.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true);
        if !inherited {
            wrong.push(format!(
                "{}: rust-version = {:?} (want `rust-version.workspace = true`)",
                path.display(),
                package.get("rust-version")
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_running_toolchain_is_at_least_the_declared_rust_version() {
    let declared = workspace_rust_version();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .arg("--version")
        .output()
        .expect("run rustc --version");
    assert!(out.status.success(), "rustc --version failed");
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let running = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('-').next())
        .unwrap_or_else(|| panic!("unexpected rustc --version output: {text:?}"));
    assert!(
        version(&declared) <= version(running),
        "rust-version {declared} is newer than the running rustc {running}"
    );
}

/// A dependency the crates build with cannot need a newer compiler than the crates claim to.
#[test]
fn no_locked_build_dependency_needs_a_newer_rust() {
    let declared = workspace_rust_version();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root()).args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
        ]);
        cmd.arg(host_triple());
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("run cargo metadata")
    };
    // Offline first (the build has fetched what it needs); online only if that is not enough.
    let mut out = metadata(true);
    if !out.status.success() {
        out = metadata(false);
    }
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages: std::collections::HashMap<&str, &serde_json::Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: std::collections::HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    // Walk from the workspace members along normal and build edges only.
    let mut todo: Vec<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|m| m.as_str().expect("member id"))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut too_new = Vec::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let package = packages[id];
        if let Some(needs) = package["rust_version"].as_str() {
            if version(needs) > version(&declared) {
                too_new.push(format!(
                    "{} {} needs rust {needs}",
                    package["name"].as_str().unwrap_or("?"),
                    package["version"].as_str().unwrap_or("?")
                ));
            }
        }
        for dep in nodes[id]["deps"].as_array().expect("deps") {
            let runtime = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if runtime {
                todo.push(dep["pkg"].as_str().expect("pkg"));
            }
        }
    }
    too_new.sort();
    assert!(
        too_new.is_empty(),
        "the workspace declares rust-version {declared}, but: {too_new:#?}"
    );
}

/// The target triple the tests were built for (the host: tests run where they are built).
fn host_triple() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host line in rustc -vV")
        .trim()
        .to_string()
}
