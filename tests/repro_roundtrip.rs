//! Round trip: `kvmtriage repro … | kvmtriage explain --format json -` names the faulting
//! instruction, MSR and value that the VMM recorded, and the set_msr_mce case is diagnosed.
//!
//! Every test needs a usable /dev/kvm: without one they are reported as ignored (failed under
//! CI), never as passed (`harness = false`, kvmtriage-testkit).

use std::io::Write as _;
use std::process::{Command, Stdio};

fn kvmtriage(args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn hex(v: &serde_json::Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// Runs the scenario (text → explain) and (json → the record) and compares.
fn round_trip(args: &[&str]) -> serde_json::Value {
    let mut repro = vec!["repro"];
    repro.extend_from_slice(args);
    repro.push("-q");
    let text = kvmtriage(&repro, None);
    assert_eq!(text.status.code(), Some(4), "the run must fail");
    let mut json_args = repro.clone();
    json_args.extend(["--format", "json"]);
    let record: serde_json::Value =
        serde_json::from_slice(&kvmtriage(&json_args, None).stdout).unwrap();
    let explained = kvmtriage(&["explain", "--format", "json", "-"], Some(&text.stdout));
    assert!(
        explained.status.success(),
        "explain failed: {}",
        String::from_utf8_lossy(&explained.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    let fault = &v["dumps"][0]["fault"];
    let msr = &record["exit"]["msr"];
    assert_eq!(
        fault["mnemonic"].as_str().map(str::to_ascii_lowercase),
        Some(msr["access"].as_str().unwrap().to_string())
    );
    assert_eq!(hex(&fault["msr"]["index"]), hex(&msr["index"]));
    assert_eq!(hex(&fault["msr"]["value"]), hex(&msr["value"]));
    v
}

fn origin_eperm_round_trip() {
    let v = round_trip(&["origin-x2apic-timer", "--inject", "wrmsr:0x838=EPERM"]);
    assert_eq!(v["dumps"][0]["fault"]["msr"]["index"], "0x838");
    // explain also reads the exit record QEMU would not have printed.
    let record = &v["dumps"][0]["exit_record"];
    let field = |k: &str| {
        record["fields"]
            .as_array()
            .expect("exit record fields")
            .iter()
            .find(|f| f["key"] == k)
            .map(|f| f["value"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        field("exit reason").as_deref(),
        Some("KVM_EXIT_X86_WRMSR (30)")
    );
    assert_eq!(field("msr index").as_deref(), Some("0x838"));
    assert_eq!(field("kvm msr reason").as_deref(), Some("INVAL"));
    let evidence = v["dumps"][0]["diagnosis"]["evidence"].to_string();
    assert!(
        evidence.contains("exit record (kvmtriage repro"),
        "{evidence}"
    );
    assert!(
        evidence.contains("reproduced by kvmtriage repro"),
        "{evidence}"
    );
}

fn triple_fault_record_is_read_as_a_triple_fault() {
    let text = kvmtriage(&["repro", "triple-fault", "-q"], None);
    assert_eq!(text.status.code(), Some(4));
    let explained = kvmtriage(&["explain", "--format", "json", "-"], Some(&text.stdout));
    assert!(explained.status.success());
    let v: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(v["dumps"][0]["event"]["kind"], "triple_fault");
    assert_eq!(v["dumps"][0]["fault"]["mnemonic"], "ud2");
}

fn unixware_under_linux_5_15_is_the_set_msr_mce_case() {
    let v = round_trip(&["unixware-mc1-ctl", "--kvm-model", "linux-5.15"]);
    let ids: Vec<&str> = v["dumps"][0]["diagnosis"]["known_issues"]
        .as_array()
        .expect("diagnosis.known_issues")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(
        ids.iter().any(|id| id.contains("mce")),
        "no set_msr_mce issue among {ids:?}"
    );
    assert!(ids.contains(&"mce-ctl-bit0-clear-eperm"), "{ids:?}");
}

fn illegal_mci_ctl_round_trip() {
    round_trip(&["mci-ctl-illegal", "--kvm-model", "linux-5.10"]);
    round_trip(&["mci-status-nonzero", "--kvm-model", "linux-5.19"]);
}

fn main() {
    let kvm = kvmtriage_testkit::dev_kvm();
    let tests: [(&str, fn()); 4] = [
        ("origin_eperm_round_trip", origin_eperm_round_trip),
        (
            "triple_fault_record_is_read_as_a_triple_fault",
            triple_fault_record_is_read_as_a_triple_fault,
        ),
        (
            "unixware_under_linux_5_15_is_the_set_msr_mce_case",
            unixware_under_linux_5_15_is_the_set_msr_mce_case,
        ),
        ("illegal_mci_ctl_round_trip", illegal_mci_ctl_round_trip),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| kvmtriage_testkit::trial(name, &[&kvm], test))
        .collect();
    kvmtriage_testkit::run(&[kvm], trials);
}
