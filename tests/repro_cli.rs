//! `kvmtriage repro` and `kvmtriage host` through the built binary, on the real /dev/kvm.
//!
//! The tests that need a usable /dev/kvm are reported as ignored without one (failed under CI),
//! never as passed (`harness = false`, kvmtriage-testkit).

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
}

fn repro(args: &[&str]) -> Output {
    bin()
        .arg("repro")
        .args(args)
        .output()
        .expect("run kvmtriage")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// Replaces the host-dependent line of the record.
fn normalize(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("  host kernel:") {
                "  host kernel:     <host kernel>".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn origin_eperm_matches_the_golden_file() {
    for (args, golden) in [
        (
            &["origin-x2apic-timer", "--inject", "wrmsr:0x838=EPERM", "-q"][..],
            "kvm/origin-x2apic-timer.eperm.txt",
        ),
        (
            &["unixware-mc1-ctl", "--kvm-model", "linux-5.15", "-q"][..],
            "kvm/unixware-mc1-ctl.linux-5.15.txt",
        ),
    ] {
        let out = repro(args);
        assert_eq!(out.status.code(), Some(4), "VM failure exit code");
        let expected = std::fs::read_to_string(testdata(golden)).unwrap();
        assert_eq!(normalize(&stdout(&out)), expected, "{golden}");
    }
}

/// Each hex digit becomes `h`: two lines have the same shape when they have the same fields
/// with the same widths.
fn shape(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_ascii_digit() || ('a'..='f').contains(&c) {
                'h'
            } else {
                c
            }
        })
        .collect()
}

fn dump_lines(text: &str) -> Vec<String> {
    let start = text.find("error: kvm run failed").expect("dump start");
    text[start..]
        .lines()
        .take_while(|l| !l.is_empty())
        .scan(false, |done, l| {
            if *done {
                return None;
            }
            *done = l.starts_with("Code=");
            Some(l.to_string())
        })
        .collect()
}

fn origin_eperm_dump_has_the_shape_of_the_origin_note() {
    let note = std::fs::read_to_string(testdata("seed/origin-note.txt")).unwrap();
    let theirs = dump_lines(&note);
    let out = repro(&["origin-x2apic-timer", "--inject", "wrmsr:0x838=EPERM", "-q"]);
    let ours = dump_lines(&stdout(&out));
    assert_eq!(ours.len(), theirs.len(), "{ours:#?}");
    assert_eq!(theirs.len(), 21);
    for (o, t) in ours.iter().zip(&theirs) {
        let name = |l: &str| l.split('=').next().unwrap().to_string();
        assert_eq!(name(o), name(t));
        let segment = o.starts_with("LDT");
        if let Some(code) = o.strip_prefix("Code=") {
            let bytes: Vec<&str> = code.split(' ').collect();
            assert_eq!(bytes.len(), 50);
            assert_eq!((bytes[20], bytes[21]), ("<0f>", "30"), "marker on wrmsr");
            assert!(!o.contains("??"));
        } else if segment {
            // The note's Linux guest had a null LDT (no decode suffix); ours is present.
            // Selector, base, limit and flags have the same widths.
            let head = |l: &str| l.split(' ').take(4).map(shape).collect::<Vec<_>>();
            assert_eq!(head(o), head(t), "{o}\n{t}");
        } else {
            // The note lost the trailing space QEMU prints after DR3 (copied text).
            assert_eq!(shape(o).trim_end(), shape(t).trim_end(), "{o}\n{t}");
        }
    }
    assert!(ours.iter().any(|l| l.contains(" CS64 [-RA]")));
    // The note's own exact lines that do not depend on the guest kernel's addresses.
    for exact in [
        "error: kvm run failed Operation not permitted",
        "RAX=0000000007213cc9 RBX=ffff9f30ffcd5fc0 RCX=0000000000000838 RDX=0000000000000000",
        "CR0=80050033 CR2=00007fffeedffbf8 CR3=0000000135db6000 CR4=000006e0",
        "EFER=0000000000000d01",
    ] {
        assert!(theirs.contains(&exact.to_string()));
    }
    assert!(ours[1].starts_with("RAX=0000000007213cc9 "));
    assert!(ours[1].ends_with(" RCX=0000000000000838 RDX=0000000000000000"));
    assert!(ours.contains(&"EFER=0000000000000d01".to_string()));
    assert!(ours
        .iter()
        .any(|l| l.starts_with("CR0=80050033 ") && l.ends_with(" CR4=000006e0")));
    let code_note = theirs.last().unwrap();
    assert_eq!(
        ours.last().unwrap(),
        code_note,
        "same Code= bytes as the note"
    );
}

fn json_has_the_same_record() {
    let text = repro(&["origin-x2apic-timer", "--inject", "wrmsr:0x838=EPERM", "-q"]);
    let out = repro(&[
        "origin-x2apic-timer",
        "--inject",
        "wrmsr:0x838=EPERM",
        "-q",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"]["kind"], "kvm_run_failed");
    assert_eq!(v["outcome"]["errno_name"], "EPERM");
    assert_eq!(v["outcome"]["simulated"], true);
    assert_eq!(v["exit"]["exit_reason"], "KVM_EXIT_X86_WRMSR");
    assert_eq!(v["exit"]["msr"]["index"], "0x838");
    assert_eq!(v["exit"]["msr"]["value"], "0x7213cc9");
    assert_eq!(v["exit"]["msr"]["kvm_reason"], "INVAL");
    assert_eq!(v["exit"]["msr"]["verdict"]["kind"], "fatal");
    assert_eq!(v["registers"]["rcx"], "0x838");
    assert_eq!(v["registers"]["rip"], v["exit"]["msr"]["rip"]);
    assert_eq!(v["code"]["marker"], 20);
    assert_eq!(v["mode"], "64");
    let qemu = v["qemu_text"].as_str().unwrap();
    assert!(stdout(&text).starts_with(qemu));
    assert!(qemu.ends_with("5d c3\n"));
}

fn exit_codes_and_errors() {
    assert_eq!(repro(&["--list"]).status.code(), Some(0));
    assert_eq!(
        repro(&["ud2-64", "-q"]).status.code(),
        Some(0),
        "exception seen by the guest"
    );
    assert_eq!(repro(&["triple-fault", "-q"]).status.code(), Some(4));
    assert_eq!(repro(&["x87-mmio", "-q"]).status.code(), Some(4));
    let spin = repro(&["spin", "--timeout", "0.2", "-q"]);
    assert_eq!(spin.status.code(), Some(5));
    assert!(stdout(&spin).contains("stopped: wall-clock limit of 200 ms reached"));
    let limited = repro(&["origin-x2apic-timer", "--max-exits", "7", "-q"]);
    assert_eq!(limited.status.code(), Some(5));
    assert!(stdout(&limited).contains("exit-count limit of 7 exits"));

    let bad = repro(&["no-such-scenario"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scenario `no-such-scenario`"));
    let bad = repro(&["origin-x2apic-timer", "--inject", "wrmsr:0x838=EWHAT"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad --inject rule `wrmsr:0x838=EWHAT`"));
    let bad = repro(&["origin-x2apic-timer", "--kvm-model", "linux-4.19"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown KVM model `linux-4.19`"));
}

fn console_and_mmio_are_logged_on_stderr() {
    let out = repro(&["mmio-store"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kvmtriage: mmio write 0x30000000 [1]: 42"),
        "{err}"
    );
    assert!(err.contains("kvmtriage: mmio read 0x30000004 [4]"), "{err}");
    assert!(err.contains("guest console: mmio-store: done"), "{err}");
}

fn user_guest_images() {
    let dir = std::env::temp_dir().join(format!("kvmtriage-repro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 64-bit: mov ecx, 0x401; rdmsr; hlt
    let rdmsr = dir.join("rdmsr.bin");
    std::fs::write(&rdmsr, [0xb9, 0x01, 0x04, 0x00, 0x00, 0x0f, 0x32, 0xf4]).unwrap();
    let path = rdmsr.to_str().unwrap();
    let out = repro(&["--guest", path, "--mode", "64", "-q", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["outcome"]["kind"], "halted",
        "MC0_STATUS read is allowed: {v}"
    );
    let out = repro(&[
        "--guest",
        path,
        "--mode",
        "64",
        "-q",
        "--format",
        "json",
        "--inject",
        "rdmsr:0x400-0x47f=GP",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"]["kind"], "guest_exception");
    assert_eq!(v["outcome"]["vector"], 13);
    assert_eq!(v["outcome"]["fault_rip"], "0x10005");
    assert_eq!(v["msr_exits"][0]["kvm_reason"], "FILTER");
    assert_eq!(v["guest"], format!("guest:{path}"));

    // Real mode at 0x7c00: mov al, 'A'; out 0xe9, al; hlt
    let boot = dir.join("boot.bin");
    std::fs::write(&boot, [0xb0, b'A', 0xe6, 0xe9, 0xf4]).unwrap();
    let out = repro(&[
        "--guest",
        boot.to_str().unwrap(),
        "--mode",
        "16",
        "--load",
        "0x7c00",
        "--entry",
        "0x7c00",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["console"], "A");
    assert_eq!(v["registers"]["rip"], "0x7c05");
    assert_eq!(v["mode"], "16");
    assert!(String::from_utf8_lossy(&out.stderr).contains("guest console: A"));

    let clash = repro(&["--guest", path, "--mode", "64", "--load", "0x1ff8"]);
    assert_eq!(clash.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&clash.stderr).contains(
            "image at [0x1ff8, 0x2000) overlaps the VMM's page tables at [0x1000, 0x7000)"
        ),
        "{}",
        String::from_utf8_lossy(&clash.stderr)
    );

    let missing = repro(&["--guest", "/nonexistent/guest.bin", "--mode", "32"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("cannot read guest image /nonexistent/guest.bin"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn host_report() {
    let out = bin().args(["host", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(v["kernel_release"], release.trim());
    assert!(v["known_issues"].is_array());
    // Both answers are checked: this test needs no /dev/kvm.
    if !kvmtriage_testkit::dev_kvm().available() {
        assert_eq!(v["dev_kvm_accessible"], false);
        return;
    }
    assert_eq!(v["dev_kvm_accessible"], true);
    assert_eq!(v["api_version"], 12);
    let caps = v["capabilities"].as_array().unwrap();
    let cap = |name: &str| {
        caps.iter().find(|c| c["name"] == name).unwrap()["value"]
            .as_i64()
            .unwrap()
    };
    assert!(cap("KVM_CAP_X86_USER_SPACE_MSR") > 0, "repro depends on it");
    assert!(cap("KVM_CAP_MCE") >= 10);
    let text = bin().arg("host").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("KVM API version:      12"));
    assert!(text.contains("KVM_CAP_X86_USER_SPACE_MSR (188)"));
    assert!(text.contains(&format!("kernel:               {}", release.trim())));
}

/// Without /dev/kvm (hidden by a private tmpfs over /dev in a new mount namespace) repro
/// refuses with a clear message and exit code 6. Needs root and util-linux `unshare`
/// ([`can_hide_dev_kvm`]).
fn missing_dev_kvm_is_a_clear_error() {
    let script = format!(
        "mount -t tmpfs none /dev && exec {} repro origin-x2apic-timer",
        env!("CARGO_BIN_EXE_kvmtriage")
    );
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("cannot open /dev/kvm"), "{err}");
    assert!(err.contains("nothing was run"), "{err}");
    assert!(out.stdout.is_empty());
}

/// Whether this process can hide /dev/kvm from a child: a new mount namespace (root, util-linux
/// `unshare`) with a tmpfs mounted over /dev.
fn can_hide_dev_kvm() -> kvmtriage_testkit::Requirement {
    let probe = Command::new("unshare")
        .args([
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs none /dev && test ! -e /dev/kvm",
        ])
        .output();
    let missing = match probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "cannot mount a tmpfs over /dev in a new mount namespace (needs root): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare (util-linux): {e}")),
    };
    kvmtriage_testkit::custom("a mount namespace without /dev/kvm", missing)
}

fn main() {
    use kvmtriage_testkit::trial;
    let kvm = kvmtriage_testkit::dev_kvm();
    let hide = can_hide_dev_kvm();
    let needs_kvm: [(&str, fn()); 6] = [
        (
            "origin_eperm_matches_the_golden_file",
            origin_eperm_matches_the_golden_file,
        ),
        (
            "origin_eperm_dump_has_the_shape_of_the_origin_note",
            origin_eperm_dump_has_the_shape_of_the_origin_note,
        ),
        ("json_has_the_same_record", json_has_the_same_record),
        ("exit_codes_and_errors", exit_codes_and_errors),
        (
            "console_and_mmio_are_logged_on_stderr",
            console_and_mmio_are_logged_on_stderr,
        ),
        ("user_guest_images", user_guest_images),
    ];
    let mut trials: Vec<_> = needs_kvm
        .into_iter()
        .map(|(name, test)| trial(name, &[&kvm], test))
        .collect();
    trials.push(trial("host_report", &[], host_report));
    trials.push(trial(
        "missing_dev_kvm_is_a_clear_error",
        &[&hide],
        missing_dev_kvm_is_a_clear_error,
    ));
    kvmtriage_testkit::run(&[kvm, hide], trials);
}
