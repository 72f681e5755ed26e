//! `kvmtriage capture` against a real qemu-system-x86_64 (docs/capture.md).
//!
//! The guests are the live tests' own (tests/qemu_live/guest.rs, assembled here with iced-x86),
//! so every address and byte the capture must contain is known without QEMU: the capture's code
//! windows, stack and GDT entries are compared with the image the test assembled.
//!
//! - `capture_wait_unbacked_jump_smp2_kvm`: 2 vCPUs, QEMU started paused (`-S`); `kvmtriage
//!   capture --wait` connects and waits, the test's own QMP client sends `cont`, the BSP starts
//!   the AP and jumps to guest-physical memory with nothing behind it, KVM stops the VM with an
//!   internal error; the capture must hold the STOP, both vCPUs, 256-byte code windows, the
//!   guest's GDT entries, both local APICs, KVM's counters and QEMU's own stderr dump. Needs KVM
//!   (TCG executes unassigned memory instead of failing).
//! - `capture_halted_smp2_now_{kvm,tcg}`: a guest whose two vCPUs halted, captured without
//!   `--wait`; the VM keeps running (read-only).
//!
//! Harness: libtest-mimic. Without qemu-system-x86_64 (or a usable /dev/kvm for the KVM case) the
//! tests are reported as ignored, never as passed; with `CI` set, a missing tool is a failure.

#[allow(dead_code)]
#[path = "qemu_live/guest.rs"]
mod guest;
#[allow(dead_code)]
#[path = "qemu_live/qemu.rs"]
mod qemu;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use guest::{Guest, Mode, Scenario};
use libtest_mimic::Failed;
use qemu::{Accel, Boot, Vm, VmConfig};
use serde_json::Value;

const KVMTRIAGE: &str = env!("CARGO_BIN_EXE_kvmtriage");

fn hex(v: &Value) -> u64 {
    match v {
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| panic!("not hex: {s:?}: {e}")),
        Value::Number(n) => n.as_u64().expect("unsigned"),
        other => panic!("expected a hex value, got {other}"),
    }
}

fn bytes(v: &Value) -> Vec<Option<u8>> {
    v.as_array()
        .expect("byte array")
        .iter()
        .map(|b| b.as_u64().map(|b| b as u8))
        .collect()
}

fn window<'a>(cap: &'a Value, vcpu: u64, kind: &str) -> &'a Value {
    cap["memory"]
        .as_array()
        .expect("memory")
        .iter()
        .find(|m| m["vcpu"] == vcpu && m["kind"] == kind)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} window for vCPU {vcpu}; errors: {}",
                cap["errors"]
            )
        })
}

/// The window's bytes must be the image's bytes wherever the image has them.
fn assert_window_is_image(w: &Value, guest: &Guest, what: &str) {
    let start = hex(&w["address"]);
    let got = bytes(&w["bytes"]);
    let want = guest.memory(start, got.len());
    let mut compared = 0;
    for (i, (g, t)) in got.iter().zip(&want).enumerate() {
        if let Some(t) = t {
            assert_eq!(
                *g,
                Some(*t),
                "{what}: byte at {:#x} (window index {i})",
                start + i as u64
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 64,
        "{what}: only {compared} bytes inside the image"
    );
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("capture written");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("capture JSON: {e}\n{text}"))
}

/// Checks shared by both tests: QEMU's identity, vCPUs with thread ids, `info registers -a` with
/// both CPUs, local APICs, GDT entries equal to the guest's GDT, KVM counters under KVM.
fn assert_common(cap: &Value, guest: &Guest, accel: Accel, what: &str) {
    assert_eq!(cap["format"], "kvmtriage-capture");
    assert_eq!(cap["version"], 1);
    assert!(
        cap["qemu"]["version"].as_str().unwrap_or("").contains('.'),
        "{what}: qemu version"
    );
    let vcpus = cap["vcpus"].as_array().expect("vcpus");
    assert_eq!(vcpus.len(), 2, "{what}: query-cpus-fast");
    for (i, v) in vcpus.iter().enumerate() {
        assert_eq!(v["index"], i as u64);
        assert!(
            v["thread_id"].as_i64().unwrap_or(0) > 0,
            "{what}: thread id"
        );
    }
    let regs = cap["registers"].as_str().expect("registers");
    assert!(
        regs.contains("CPU#0") && regs.contains("CPU#1"),
        "{what}: info registers -a:\n{regs}"
    );
    let lapic = cap["lapic"].as_array().expect("lapic");
    assert_eq!(lapic.len(), 2, "{what}: info lapic per vCPU");
    for (i, l) in lapic.iter().enumerate() {
        assert!(
            l["text"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("local APIC state for CPU {i}")),
            "{what}: lapic {i}: {l}"
        );
    }
    // vCPU 0 is in long mode with the guest's GDT: CS = selector 0x18, SS/DS/ES = 0x10.
    let gdt = cap["descriptors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["vcpu"] == 0 && d["table"] == "gdt")
        .unwrap_or_else(|| panic!("{what}: no GDT entries for vCPU 0"));
    assert_eq!(hex(&gdt["base"]), guest::GDT_ADDR);
    for e in gdt["entries"].as_array().unwrap() {
        let sel = e["selector"].as_u64().unwrap();
        let want: Vec<Option<u8>> = guest.memory(guest::GDT_ADDR + (sel & !7), 8);
        // Loading a segment register may set the descriptor's accessed bit (type bit 0 = byte 5
        // bit 0; SDM Vol. 3A §3.4.5.1) in guest memory. KVM's CPU did for CS and SS, QEMU 7.2's
        // TCG did not for the CS of a far jump: that one bit is not compared.
        let accessed_masked = |v: Vec<Option<u8>>| {
            v.into_iter()
                .enumerate()
                .map(|(i, b)| if i == 5 { b.map(|b| b & !1) } else { b })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            accessed_masked(bytes(&e["bytes"])),
            accessed_masked(want),
            "{what}: GDT entry of {} ({sel:#x})",
            e["name"]
        );
    }
    let names: Vec<&str> = gdt["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"cs") && names.contains(&"ss"),
        "{what}: {names:?}"
    );
    let stats = cap["stats"].as_array().expect("stats");
    if accel == Accel::Kvm {
        assert_eq!(
            stats.len(),
            2,
            "{what}: query-stats per vCPU: {}",
            cap["errors"]
        );
        for (i, s) in stats.iter().enumerate() {
            assert_eq!(s["vcpu"], i as u64);
            assert_eq!(s["provider"], "kvm");
            let names: Vec<&str> = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[0].as_str().unwrap())
                .collect();
            assert!(names.contains(&"exits"), "{what}: KVM counters {names:?}");
        }
    }
    // The AP (vCPU 1) halted in its real-mode trampoline: its window is around CS.base + IP.
    let ap = guest.ap.as_ref().expect("AP truth");
    let w1 = window(cap, 1, "code");
    assert_eq!(
        hex(&w1["anchor"]),
        ap.cs_base + ap.expected_ip,
        "{what}: AP code anchor"
    );
    assert_eq!(
        hex(&w1["address"]),
        ap.cs_base,
        "{what}: the AP's window starts at CS.base"
    );
    assert!(bytes(&w1["bytes"]).len() >= 256, "{what}: AP window length");
    assert_window_is_image(w1, guest, &format!("{what}: AP code window"));
}

/// Runs `kvmtriage capture` with `args`; returns exit code and stderr.
fn capture(args: &[&str]) -> (i32, String) {
    let out = Command::new(KVMTRIAGE)
        .arg("capture")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kvmtriage capture");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn capture_wait_unbacked_jump() -> Result<(), Failed> {
    let test = "capture_wait_unbacked_jump_smp2_kvm";
    let guest = guest::build(Mode::Long64, Scenario::JumpToNoRam, true).expect("assemble guest");
    let mut vm = Vm::start_with(
        &VmConfig {
            name: test,
            accel: Accel::Kvm,
            boot: Boot::Firmware(&guest.firmware),
            smp: 2,
            log_items: "",
            log_filter: None,
            allow_reset: false,
        },
        &["-S", "-qmp", "unix:{dir}/capture.sock,server=on,wait=off"],
    );
    assert_eq!(vm.status(), "prelaunch");
    let sock = vm.path("capture.sock");
    let out = vm.path("capture.json");
    let log = vm.path("stderr.txt");
    let mut child = Command::new(KVMTRIAGE)
        .arg("capture")
        .arg(&sock)
        .args(["--wait", "30", "--format", "json", "-o"])
        .arg(&out)
        .arg("--qemu-log")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kvmtriage capture");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Start the guest only once the capture is waiting, so that it sees the STOP happen.
    let deadline = Instant::now() + qemu::STEP_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let waiting = line.contains("waiting up to");
                seen.push(line);
                if waiting {
                    break;
                }
            }
            Err(_) if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("{test}: capture never started waiting: {seen:?}");
            }
            Err(_) => {}
        }
    }
    let started = Instant::now();
    vm.command("cont");
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{test}: capture did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert_eq!(status.code(), Some(0), "{test}: capture exit: {seen:?}");
    assert_eq!(
        vm.status(),
        "internal-error",
        "the capture left the VM stopped"
    );
    let cap = read_json(&out);
    eprintln!("{test}: STOP to written capture in {elapsed:?}");

    assert_eq!(cap["complete"], true, "{test}: {}", cap["errors"]);
    let wait = &cap["wait"];
    assert_eq!(wait["already_stopped"], false);
    assert_eq!(wait["stopped"]["seen_by"], "event", "{test}: {wait}");
    assert_eq!(wait["stopped"]["event"]["name"], "STOP");
    assert_eq!(cap["status"]["status"], "internal-error");
    assert_eq!(cap["status"]["running"], false);
    assert_common(&cap, &guest, Accel::Kvm, test);
    // vCPU 0 jumped to NO_RAM_ADDR: its code window is there, and nothing is readable.
    let w0 = window(&cap, 0, "code");
    assert_eq!(
        hex(&w0["anchor"]),
        guest::NO_RAM_ADDR,
        "{test}: BSP code anchor"
    );
    let b0 = bytes(&w0["bytes"]);
    assert_eq!(b0.len(), 256);
    assert_eq!(w0["anchor_index"], 128);
    assert!(
        b0.iter().all(Option::is_none),
        "{test}: no RAM around {:#x}",
        guest::NO_RAM_ADDR
    );
    assert!(
        !w0["notes"].as_array().unwrap().is_empty(),
        "{test}: the reason is noted"
    );
    // The stack: 256 bytes from RSP.
    assert_eq!(bytes(&window(&cap, 0, "stack")["bytes"]).len(), 256);
    // QEMU's own dump on stderr: the internal error QEMU printed for the BSP.
    let qlog = cap["qemu_log"]["text"].as_str().expect("qemu log");
    assert!(
        qlog.contains("KVM internal error. Suberror: 1"),
        "{test}: QEMU stderr:\n{qlog}"
    );
    // The text form of the same stopped VM (no wait now: it is stopped), for `explain`.
    let text_out = vm.path("capture.txt");
    let (code, stderr) = capture(&[
        sock.to_str().unwrap(),
        "--qemu-log",
        log.to_str().unwrap(),
        "-o",
        text_out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{test}: {stderr}");
    let text = std::fs::read_to_string(&text_out).unwrap();
    explain_unbacked_jump(&text, &guest, test);
    drop(vm);
    Ok(())
}

/// `kvmtriage explain` on the text capture of the unbacked-jump guest: one dump per vCPU; the
/// BSP's has QEMU's event and its 256-byte window (nothing readable at 0x10000000: no instruction
/// to decode there); the AP's instruction is decoded from the capture's window alone
/// (`info registers` prints no `Code=` line).
fn explain_unbacked_jump(text: &str, guest: &Guest, test: &str) {
    if let Ok(dir) = std::env::var("KVMTRIAGE_CAPTURE_SAVE") {
        std::fs::write(Path::new(&dir).join(format!("{test}.txt")), text).unwrap();
    }
    let analysis = qemu::explain(text);
    let dumps = analysis["dumps"].as_array().expect("dumps");
    assert_eq!(dumps.len(), 2, "{test}: one dump per vCPU");
    let (bsp, ap) = (&dumps[0], &dumps[1]);
    assert_eq!(bsp["cpu_index"], 0);
    assert_eq!(ap["cpu_index"], 1);
    assert_eq!(bsp["event"]["kind"], "internal_error", "{test}: BSP event");
    assert_eq!(bsp["event"]["suberror"], 1);
    assert_eq!(bsp["event"]["emulation_failure"], true);
    assert_eq!(ap["event"]["kind"], "none");
    assert_eq!(bsp["mode"]["kind"], "long64");
    assert_eq!(ap["mode"]["kind"], "real");
    assert_eq!(bsp["capture"]["run_state"], "internal-error");
    assert_eq!(bsp["capture"]["event_from_qemu_log"], true);
    for d in dumps {
        assert_eq!(
            d["capture"]["long_code_window"], true,
            "{test}: {}",
            d["capture"]
        );
        assert_eq!(d["code"]["bytes"].as_array().unwrap().len(), 256);
    }
    assert_eq!(bsp["code"]["marker"], 128);
    // The AP's window starts at CS.base (0x9000): its marker is the IP.
    let truth = guest.ap.as_ref().unwrap();
    assert_eq!(ap["code"]["marker"], truth.expected_ip);
    assert!(bsp["code"]["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_null));
    assert!(
        bsp["fault"].is_null(),
        "{test}: nothing readable at the jump target"
    );
    assert_eq!(bsp["capture"]["stack"]["word_size"], 8);
    assert_eq!(ap["capture"]["stack"]["word_size"], 2);
    assert!(!bsp["capture"]["lapic"].as_array().unwrap().is_empty());
    // The AP: CS.base + IP, decoded in real mode from the capture's window.
    let at = truth.cs_base + truth.expected_ip;
    let want = guest
        .region_at(at)
        .and_then(|r| r.mnemonic_at(at))
        .unwrap_or_else(|| panic!("{test}: no instruction assembled at {at:#x}"));
    assert_eq!(
        hex(&ap["fault"]["address"]),
        at,
        "{test}: AP instruction address"
    );
    assert_eq!(
        ap["fault"]["mnemonic"], want,
        "{test}: AP instruction from the long window"
    );
    // The text report shows the capture: run state, stack words, local APIC.
    let out = Command::new(KVMTRIAGE)
        .args(["explain", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("kvmtriage explain");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("Captured (capture format 1, run state internal-error"),
        "{report}"
    );
    assert!(
        report.contains("Stack (64-bit words from 0x7000 up)"),
        "{report}"
    );
    assert!(
        report.contains("dumping local APIC state for CPU 1"),
        "{report}"
    );
}

fn capture_halted_now(accel: Accel) -> Result<(), Failed> {
    let test = format!("capture_halted_smp2_now_{}", accel.name());
    let guest = guest::build(Mode::Long64, Scenario::Halt, true).expect("assemble guest");
    let mut vm = Vm::start_with(
        &VmConfig {
            name: &test,
            accel,
            boot: Boot::Firmware(&guest.firmware),
            smp: 2,
            log_items: "",
            log_filter: None,
            allow_reset: false,
        },
        &["-qmp", "unix:{dir}/capture.sock,server=on,wait=off"],
    );
    vm.wait_ready();
    vm.registers_when_halted(true);
    let sock = vm.path("capture.sock");
    let out = vm.path("capture.json");
    let started = Instant::now();
    let (code, stderr) = capture(&[
        sock.to_str().unwrap(),
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    eprintln!("{test}: capture took {:?}", started.elapsed());
    assert_eq!(code, 0, "{test}: {stderr}");
    let cap = read_json(&out);
    assert_eq!(cap["complete"], true, "{test}: {}", cap["errors"]);
    assert!(cap["wait"].is_null());
    assert_eq!(cap["status"]["status"], "running");
    assert_common(&cap, &guest, accel, &test);
    let w0 = window(&cap, 0, "code");
    assert_eq!(
        hex(&w0["anchor"]),
        guest.expected_rip,
        "{test}: BSP code anchor"
    );
    assert_eq!(w0["anchor_index"], 128);
    assert_window_is_image(w0, &guest, &format!("{test}: BSP code window"));
    // Read-only: the guest still runs, and the capture saw no run-state change.
    assert_eq!(vm.status(), "running");
    assert!(
        cap["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] != "STOP" && e["name"] != "RESUME"),
        "{test}: {}",
        cap["events"]
    );
    // The text form holds QEMU's registers verbatim and the marked sections.
    let (code, stderr) = capture(&[sock.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("kvmtriage-capture: begin capture format=1 "));
    assert!(text.contains("\nCPU#1\n"));
    assert!(text.contains(&format!(
        "kvmtriage-capture: begin memory vcpu=0 kind=code address={:#x} length=256 anchor={:#x}\n",
        guest.expected_rip - 128,
        guest.expected_rip
    )));
    assert!(text
        .lines()
        .last()
        .unwrap()
        .starts_with("kvmtriage-capture: end capture complete=yes "));
    drop(vm);
    Ok(())
}

fn main() {
    use kvmtriage_testkit::trial;
    let qemu = kvmtriage_testkit::qemu();
    let kvm = kvmtriage_testkit::dev_kvm();
    let check = |r: Result<(), Failed>| {
        if let Err(e) = r {
            panic!("{e:?}");
        }
    };
    let tests = vec![
        trial(
            "capture_wait_unbacked_jump_smp2_kvm",
            &[&qemu, &kvm],
            move || check(capture_wait_unbacked_jump()),
        ),
        trial("capture_halted_smp2_now_kvm", &[&qemu, &kvm], move || {
            check(capture_halted_now(Accel::Kvm))
        }),
        trial("capture_halted_smp2_now_tcg", &[&qemu], move || {
            check(capture_halted_now(Accel::Tcg))
        }),
    ];
    kvmtriage_testkit::run(&[qemu, kvm], tests);
}
