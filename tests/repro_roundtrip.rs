//! Round trip: `kvmtriage repro … | kvmtriage explain --format json -` names the faulting
//! instruction, MSR and value that the VMM recorded, and the set_msr_mce case is diagnosed; and
//! `kvmtriage repro … --explain`, which hands the vCPU state to the analysis without text, says
//! the same as the text round trip.
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

/// The explain JSON of `repro ARGS --explain` (state handed over in-process) and of
/// `repro ARGS | explain -` (state through QEMU's text): same exit code, verdict,
/// classification, mode, event, faulting instruction, disassembly and listing. Line numbers
/// differ by nature (the in-process dump has no input lines) and are left out; so is the mode's
/// evidence, which from text also cites QEMU's labels.
fn explain_agrees(args: &[&str]) {
    let mut repro = vec!["repro"];
    repro.extend_from_slice(args);
    repro.push("-q");
    let text = kvmtriage(&repro, None);
    let explained = kvmtriage(&["explain", "--format", "json", "-"], Some(&text.stdout));
    assert!(
        explained.status.success(),
        "{args:?}: explain failed: {}",
        String::from_utf8_lossy(&explained.stderr)
    );
    let mut in_process = repro.clone();
    in_process.extend(["--explain", "--format", "json"]);
    let direct = kvmtriage(&in_process, None);
    assert_eq!(
        direct.status.code(),
        text.status.code(),
        "{args:?}: exit code"
    );
    let parse = |o: &std::process::Output| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&o.stdout)));
        assert_eq!(v["dumps"].as_array().map(Vec::len), Some(1), "{args:?}");
        v["dumps"][0].clone()
    };
    let (a, b) = (parse(&direct), parse(&explained));
    let without_lines = |event: &serde_json::Value| {
        let mut e = event.clone();
        let map = e.as_object_mut().expect("event object");
        map.remove("line");
        map.remove("extra_data_lines");
        e
    };
    assert_eq!(
        a["diagnosis"]["verdict"], b["diagnosis"]["verdict"],
        "{args:?}: verdict"
    );
    assert!(a["diagnosis"]["verdict"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    assert_eq!(
        a["diagnosis"]["classification"], b["diagnosis"]["classification"],
        "{args:?}: classification"
    );
    for key in ["kind", "bits", "paging"] {
        assert_eq!(a["mode"][key], b["mode"][key], "{args:?}: mode.{key}");
    }
    assert_eq!(
        without_lines(&a["event"]),
        without_lines(&b["event"]),
        "{args:?}: event"
    );
    assert!(a["fault"].is_object(), "{args:?}: no faulting instruction");
    for key in ["fault", "disassembly", "listing"] {
        assert_eq!(a[key], b[key], "{args:?}: {key}");
    }
}

fn explain_in_process_agrees_with_the_text_round_trip() {
    explain_agrees(&["origin-x2apic-timer", "--inject", "wrmsr:0x838=EPERM"]);
    explain_agrees(&["unixware-mc1-ctl", "--kvm-model", "linux-5.15"]);
    explain_agrees(&["x87-mmio"]);
    explain_agrees(&["triple-fault"]);
    // Real mode: mov ecx, 0x838; mov eax, 0x7213cc9; xor edx, edx; wrmsr; hlt at 1000:0000,
    // listed at CS.base + IP.
    let dir = std::env::temp_dir().join(format!("kvmtriage-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("wrmsr16.bin");
    std::fs::write(
        &image,
        [
            0x66, 0xb9, 0x38, 0x08, 0x00, 0x00, 0x66, 0xb8, 0xc9, 0x3c, 0x21, 0x07, 0x66, 0x31,
            0xd2, 0x0f, 0x30, 0xf4,
        ],
    )
    .unwrap();
    explain_agrees(&[
        "--guest",
        image.to_str().unwrap(),
        "--mode",
        "16",
        "--inject",
        "wrmsr:0x838=EPERM",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn explain_in_process_text_report() {
    let out = kvmtriage(
        &[
            "repro",
            "origin-x2apic-timer",
            "--inject",
            "wrmsr:0x838=EPERM",
            "-q",
            "--explain",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("== repro origin-x2apic-timer: dump 1 of 1"),
        "{text}"
    );
    assert!(
        text.contains("\nVerdict: KVM_RUN failed with EPERM"),
        "{text}"
    );
    assert!(text.contains("wrmsr"), "{text}");
    // The exit record reached the analysis without text too.
    assert!(text.contains("reproduced by kvmtriage repro"), "{text}");
    assert!(
        !text.contains("kvmtriage: exit record"),
        "no repro text: {text}"
    );
}

fn main() {
    let kvm = kvmtriage_testkit::dev_kvm();
    let tests: [(&str, fn()); 6] = [
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
        (
            "explain_in_process_agrees_with_the_text_round_trip",
            explain_in_process_agrees_with_the_text_round_trip,
        ),
        (
            "explain_in_process_text_report",
            explain_in_process_text_report,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| kvmtriage_testkit::trial(name, &[&kvm], test))
        .collect();
    kvmtriage_testkit::run(&[kvm], trials);
}
