//! `kvmtriage scan` as a user meets it: the NDJSON record shape, the formats, exit codes with
//! bad input, and memory that stays bounded on a large stream.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const ORIGIN: &str = "examples/origin-x2apic-timer.txt";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kvmtriage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run kvmtriage")
}

fn records(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn ndjson_record_shape_and_analysis_is_the_explain_json() {
    let o = kvmtriage(&["scan", "--format", "ndjson", ORIGIN]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let recs = records(&o);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "record_version",
        "kind",
        "source",
        "signature",
        "signature_id",
        "signature_version",
        "title",
        "analysis",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    assert_eq!(r["record_version"], 1);
    assert_eq!(r["kind"], "qemu-dump");
    assert_eq!(r["signature_version"], 1);
    assert_eq!(r["source"]["path"], ORIGIN);
    assert_eq!(r["source"]["first_line"], 1);
    assert_eq!(r["source"]["byte_offset"], 0);
    assert_eq!(r["source"]["line_base"], 0);
    assert_eq!(
        r["signature"],
        "qemu-dump | run_failed:EPERM | wrmsr | msr=0x838 | negative-msr-return-eperm,x2apic-msr-eperm | -"
    );
    assert_eq!(r["signature_id"].as_str().unwrap().len(), 16);
    assert!(r["title"]
        .as_str()
        .unwrap()
        .starts_with("KVM_RUN failed with EPERM"));
    // the analysis is explain's JSON for that dump, unchanged
    let e = kvmtriage(&["explain", "--format", "json", ORIGIN]);
    let explain: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert_eq!(r["analysis"], explain["dumps"][0]);
}

#[test]
fn json_summary_and_table() {
    let o = kvmtriage(&["scan", "--format", "json", ORIGIN, ORIGIN]);
    assert_eq!(o.status.code(), Some(0));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["summary_version"], 1);
    assert_eq!(s["reports"], 2);
    assert_eq!(s["clusters"].as_array().unwrap().len(), 1);
    assert_eq!(s["clusters"][0]["count"], 2);
    assert_eq!(s["clusters"][0]["files"][0], ORIGIN);
    let o = kvmtriage(&["scan", "--format", "table", ORIGIN]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("1x  qemu-dump"), "{t}");
    assert!(
        t.contains("e.g. examples/origin-x2apic-timer.txt:1: KVM_RUN failed"),
        "{t}"
    );
    assert!(t.ends_with("1 reports in 1 clusters\n"), "{t}");
}

#[test]
fn exit_codes_nothing_found_and_skipped_input() {
    let dir = std::env::temp_dir().join(format!("kvmtriage-scan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prose = dir.join("prose.log");
    std::fs::write(&prose, "nothing to see\n").unwrap();
    let o = kvmtriage(&["scan", prose.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let bin = dir.join("core.bin");
    std::fs::write(&bin, b"\x7fELF\0\0\0RAX=").unwrap();
    let missing = dir.join("missing.log");
    let o = kvmtriage(&[
        "scan",
        "--format",
        "json",
        bin.to_str().unwrap(),
        missing.to_str().unwrap(),
        ORIGIN,
    ]);
    assert_eq!(o.status.code(), Some(9), "skipped input: exit 9");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}: binary file", bin.display())),
        "{err}"
    );
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["reports"], 1, "the scan went on");
    assert_eq!(s["issues"].as_array().unwrap().len(), 2);
    assert_eq!(s["issues"][0]["kind"], "unreadable");
    assert_eq!(s["issues"][1]["kind"], "binary");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Peak RSS (KiB) of a child, from wait4's rusage.
fn wait_maxrss(child: &std::process::Child) -> (i32, i64) {
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(pid, child.id() as i32);
    (libc::WEXITSTATUS(status), ru.ru_maxrss)
}

#[test]
// the child is reaped by wait4 (for its rusage), not by Child::wait
#[allow(clippy::zombie_processes)]
fn memory_stays_bounded_on_a_200_mb_stream() {
    let origin = std::fs::read_to_string(root().join(ORIGIN)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .args(["scan", "--format", "ndjson", "--threads", "1", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s.lines().count()
    });
    // 200 MiB: 1 MiB of noise, then a dump, 200 times; and one 8 MiB line without a newline
    let noise: String = (0..16_000)
        .map(|i| format!("Nov 28 08:07:41 hv03 libvirtd[1834]: noise line {i:08} with prose\n"))
        .collect();
    let mut sent = 0usize;
    for i in 0..200 {
        stdin.write_all(noise.as_bytes()).unwrap();
        stdin.write_all(origin.as_bytes()).unwrap();
        sent += noise.len() + origin.len();
        if i == 100 {
            stdin.write_all(&vec![b'y'; 8 << 20]).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    }
    drop(stdin);
    assert!(sent > 200 << 20, "{sent}");
    let found = reader.join().unwrap();
    let (code, maxrss_kib) = wait_maxrss(&child);
    assert_eq!(code, 9, "the 8 MiB line was cut: exit 9");
    assert_eq!(found, 200);
    eprintln!("peak RSS {maxrss_kib} KiB for {sent} bytes");
    // the debug build's binary and its read-only data are part of RSS; the stream is not
    assert!(
        maxrss_kib < 64 * 1024,
        "peak RSS {maxrss_kib} KiB for a {sent}-byte stream"
    );
}
