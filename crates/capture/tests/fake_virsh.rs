//! `--libvirt DOMAIN` through a stand-in `virsh` (a shell script): the command line kvmtriage
//! builds, reply parsing, virsh's own failures, the per-call timeout, the polling wait. A real
//! libvirt is not exercised here (none on the test machine).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kvmtriage_capture::{capture, MemoryKind, Monitor, Options, QmpError, Stopped, VirshMonitor};

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake virsh: logs its arguments, answers by the QMP command name. `status` is the
/// `query-status` reply; a domain named `slow` sleeps; `nosuch` fails as virsh does.
fn fake_virsh(tag: &str, status: &str) -> (Dir, String) {
    let dir = std::env::temp_dir().join(format!("kvmtriage-virsh-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("argv.log");
    let script = format!(
        r#"#!/bin/sh
printf '%s\n' "$*" >> '{log}'
[ "$1" = qemu-monitor-command ] || {{ echo "error: unknown command: '$1'" >&2; exit 1; }}
case "$2" in
  nosuch) echo "error: failed to get domain 'nosuch'" >&2; exit 1 ;;
  slow) sleep 5 ;;
esac
case "$3" in
  *'"query-status"'*) printf '%s\n' '{{"return":{status},"id":"libvirt-1"}}' ;;
  *'"query-version"'*) printf '%s\n' '{{"return":{{"qemu":{{"major":8,"minor":2,"micro":2}},"package":"libvirt-fake"}},"id":"libvirt-2"}}' ;;
  *'"query-cpus-fast"'*) printf '%s\n' '{{"return":[{{"cpu-index":0,"thread-id":4242,"qom-path":"/machine/unattached/device[0]"}}],"id":"libvirt-3"}}' ;;
  *'info registers -a'*) printf '%s\n' '{{"return":"\r\nCPU#0\r\nEAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000\r\nESI=00000000 EDI=00000000 EBP=00000000 ESP=00001000\r\nEIP=00001000 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\nCS =0000 00000000 0000ffff 00009b00\r\nSS =0000 00000000 0000ffff 00009300\r\nIDT=     00000000 000003ff\r\nCR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\r\n","id":"libvirt-4"}}' ;;
  *'"x /'*) printf '%s\n' '{{"return":"0000000000000f80: Cannot access memory\r\n","id":"libvirt-5"}}' ;;
  *'info lapic'*) printf '%s\n' '{{"return":"dumping local APIC state for CPU 0 \r\n","id":"libvirt-6"}}' ;;
  *) printf '%s\n' '{{"id":"libvirt-7","error":{{"class":"CommandNotFound","desc":"The command is not here"}}}}' ;;
esac
"#,
        log = log.display()
    );
    let path = dir.join("virsh");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (Dir(dir), path.display().to_string())
}

fn argv_log(d: &Dir) -> String {
    std::fs::read_to_string(d.0.join("argv.log")).unwrap_or_default()
}

#[test]
fn capture_through_virsh() {
    let (dir, virsh) = fake_virsh("ok", r#"{"status":"paused","running":false}"#);
    let mut m = VirshMonitor::connect(&virsh, "guest1", Duration::from_secs(5)).unwrap();
    let c = capture(&mut m, "libvirt:guest1".into(), &Options::default());
    assert_eq!(c.status.as_ref().unwrap().status, "paused");
    assert_eq!(c.qemu.as_ref().unwrap().version, "8.2.2");
    assert_eq!(
        c.vcpus.first().and_then(|v| v.thread_id),
        Some(4242),
        "{:?}",
        c.errors
    );
    assert!(c.registers.as_deref().unwrap().contains("CPU#0"));
    // Real mode, CS.base 0 + IP 0x1000; the stand-in says nothing is readable there.
    let code = c
        .memory
        .iter()
        .find(|w| w.kind == MemoryKind::Code)
        .unwrap();
    assert_eq!(code.anchor, 0x1000);
    assert!(code.bytes.iter().all(Option::is_none));
    assert_eq!(c.lapic.len(), 1);
    // query-stats: the stand-in's CommandNotFound, recorded.
    assert!(c.errors.iter().any(|e| e.step == "query-stats"));
    assert!(c.complete);
    // Every call was `virsh qemu-monitor-command guest1 '<one QMP command as JSON>'`.
    let log = argv_log(&dir);
    assert!(!log.is_empty());
    for line in log.lines() {
        let json = line
            .strip_prefix("qemu-monitor-command guest1 ")
            .unwrap_or_else(|| panic!("{line}"));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert!(v["execute"].is_string(), "{line}");
        for bad in ["\"cont\"", "\"stop\"", "system_reset", "\"quit\""] {
            assert!(!line.contains(bad), "{line}");
        }
    }
    assert!(
        log.contains(r#""cpu-index":0"#),
        "HMP runs on the vCPU: {log}"
    );
}

#[test]
fn virsh_failures_are_clear_errors() {
    let (_dir, virsh) = fake_virsh("fail", r#"{"status":"paused","running":false}"#);
    let err = VirshMonitor::connect(&virsh, "nosuch", Duration::from_secs(5))
        .err()
        .unwrap();
    assert!(matches!(err, QmpError::Virsh(_)), "{err}");
    assert!(
        err.to_string().contains("failed to get domain 'nosuch'"),
        "{err}"
    );
    let err = VirshMonitor::connect("/nonexistent/virsh", "g", Duration::from_secs(5))
        .err()
        .unwrap();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn virsh_calls_are_bounded_by_the_timeout() {
    let (_dir, virsh) = fake_virsh("slow", r#"{"status":"paused","running":false}"#);
    let started = Instant::now();
    let err = VirshMonitor::connect(&virsh, "slow", Duration::from_millis(300))
        .err()
        .unwrap();
    assert!(matches!(err, QmpError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn wait_through_virsh_polls_query_status() {
    let (_dir, virsh) = fake_virsh("poll", r#"{"status":"internal-error","running":false}"#);
    let mut m = VirshMonitor::connect(&virsh, "g", Duration::from_secs(5)).unwrap();
    let r = m
        .wait_stop(Instant::now() + Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        r,
        Some(Stopped::Polling {
            status: "internal-error".into()
        })
    );
    let (_dir2, virsh2) = fake_virsh("poll2", r#"{"status":"running","running":true}"#);
    let mut m = VirshMonitor::connect(&virsh2, "g", Duration::from_secs(5)).unwrap();
    let started = Instant::now();
    let r = m
        .wait_stop(Instant::now() + Duration::from_millis(500))
        .unwrap();
    assert_eq!(r, None);
    assert!(started.elapsed() < Duration::from_secs(3));
}
