//! Test-only helpers for the tests that need an outside tool: `qemu-system-x86_64`, GNU
//! `objdump` or a usable `/dev/kvm`.
//!
//! Such a test must never pass silently when its tool is missing. The test files that use this
//! crate run with `harness = false` and build their tests as [`Trial`]s with [`trial`]: a test
//! whose tool is missing is reported by `cargo test` as `ignored` (with the reason printed once
//! at start-up), not as `ok`. Under CI (the `CI` environment variable set, as `.ci/run` is run)
//! a missing tool fails the test instead: CI must have every tool.
//!
//! Running an ignored test anyway (`-- --include-ignored`) fails it with the reason.

use std::path::PathBuf;
use std::process::Command;

pub use libtest_mimic::{Arguments, Failed, Trial};

/// An outside tool or device a test needs, and whether this machine has it.
#[derive(Clone, Debug)]
pub struct Requirement {
    /// What is needed, as said in messages: `qemu-system-x86_64`, `objdump`, `/dev/kvm`.
    pub name: &'static str,
    /// Why it is missing (`None` when it is there).
    pub missing: Option<String>,
}

impl Requirement {
    /// Whether the tool is there.
    pub fn available(&self) -> bool {
        self.missing.is_none()
    }
}

/// Whether this run is CI's: the `CI` environment variable is set to anything but empty,
/// `0` or `false` (CI systems, and this project's CI, set `CI=true`).
pub fn ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"),
        Err(_) => false,
    }
}

/// `name` found as an executable file in a directory of `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `qemu-system-x86_64` on `PATH`.
pub fn qemu() -> Requirement {
    const NAME: &str = "qemu-system-x86_64";
    Requirement {
        name: NAME,
        missing: find_on_path(NAME)
            .is_none()
            .then(|| format!("{NAME} not found on PATH (install qemu-system-x86)")),
    }
}

/// GNU `objdump` that runs (`objdump --version` succeeds).
pub fn objdump() -> Requirement {
    let runs = Command::new("objdump")
        .arg("--version")
        .output()
        .map(|o| o.status.success());
    Requirement {
        name: "objdump",
        missing: match runs {
            Ok(true) => None,
            Ok(false) => Some("objdump --version failed (install binutils)".into()),
            Err(e) => Some(format!("objdump cannot be run: {e} (install binutils)")),
        },
    }
}

/// `/dev/kvm` that this user can open read-write (what `KVM_CREATE_VM` and `-accel kvm` need).
pub fn dev_kvm() -> Requirement {
    Requirement {
        name: "/dev/kvm",
        missing: std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .err()
            .map(|e| format!("cannot open /dev/kvm read-write: {e}")),
    }
}

/// A requirement checked by a probe of the caller's own (say, "can hide /dev/kvm in a mount
/// namespace"): `missing` is why not.
pub fn custom(name: &'static str, missing: Option<String>) -> Requirement {
    Requirement { name, missing }
}

/// Prints, once per test binary, each requirement that is missing and what becomes of the tests
/// that need it. Called by [`run`].
fn announce(requirements: &[Requirement]) {
    for r in requirements {
        if let Some(why) = &r.missing {
            if ci() {
                eprintln!("CI is set and {why}: the tests that need {} FAIL", r.name);
            } else {
                eprintln!("{why}: the tests that need {} are ignored", r.name);
            }
        }
    }
}

/// A test named `name` that needs `needs`.
///
/// All there: the test runs (a panic fails it). Something missing: the test is ignored, or,
/// under CI, fails with the reason. Run anyway with `--include-ignored`, it fails with the
/// reason too.
pub fn trial<F>(name: &str, needs: &[&Requirement], test: F) -> Trial
where
    F: FnOnce() + Send + 'static,
{
    let missing: Vec<String> = needs.iter().filter_map(|r| r.missing.clone()).collect();
    if missing.is_empty() {
        return Trial::test(name, move || {
            test();
            Ok(())
        });
    }
    let why = missing.join("; ");
    let ci = ci();
    let message = if ci {
        format!("CI requires every tool the tests use, and {why}")
    } else {
        format!("not run: {why}")
    };
    Trial::test(name, move || Err(Failed::from(message))).with_ignored_flag(!ci)
}

/// Runs `trials` as `cargo test` would (filters, `--ignored`, `--list`, …), after saying which
/// of `requirements` are missing; exits with the result.
pub fn run(requirements: &[Requirement], trials: Vec<Trial>) -> ! {
    let args = Arguments::from_args();
    if !args.list {
        announce(requirements);
    }
    libtest_mimic::run(&args, trials).exit()
}
