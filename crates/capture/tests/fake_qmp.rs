//! Protocol tests against an in-process fake QMP server on a real Unix socket: events between
//! replies, error replies, HMP errors as text, slow replies (timeouts, late replies), a server
//! that disconnects mid-capture, garbage on the wire. Every test also checks that the client sent
//! nothing but read-only commands.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kvmtriage_capture::{capture, Capture, MemoryKind, Options, QmpClient, QmpError, Stopped};
use serde_json::{json, Value};

/// What the fake server does with one command.
enum Action {
    Reply(Value),
    /// Events first, then the reply.
    EventsThen(Vec<Value>, Value),
    Error(&'static str, String),
    /// Reply only after this long.
    Slow(Duration, Value),
    /// Close the connection without answering.
    Disconnect,
    /// Send a line that is not JSON.
    Garbage,
    /// Reply, then after a pause send events (while the client is not asking anything).
    ReplyThenLater(Value, Duration, Vec<Value>),
}

type Script = Box<dyn FnMut(&Value) -> Action + Send>;

struct Fake {
    path: PathBuf,
    received: Arc<Mutex<Vec<Value>>>,
    handle: Option<JoinHandle<()>>,
    _dir: TempDir,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "kvmtriage-fakeqmp-{}-{n}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn event(name: &str, data: Option<Value>) -> Value {
    let mut e = json!({"event": name, "timestamp": {"seconds": 1700000000, "microseconds": 42}});
    if let Some(d) = data {
        e["data"] = d;
    }
    e
}

impl Fake {
    /// Starts a server that greets, then answers each command with `script` (after it has
    /// answered `qmp_capabilities` itself). `after_greeting` events are sent right after the
    /// greeting.
    fn start(tag: &str, after_greeting: Vec<Value>, mut script: Script) -> Fake {
        let dir = temp_dir(tag);
        let path = dir.0.join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let handle = std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let send = |w: &mut UnixStream, v: &Value| {
                let _ = writeln!(w, "{v}");
            };
            send(
                &mut w,
                &json!({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "fake"}, "capabilities": ["oob"]}}),
            );
            for e in &after_greeting {
                send(&mut w, e);
            }
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
                    return;
                };
                rec.lock().unwrap().push(cmd.clone());
                let id = cmd.get("id").cloned().unwrap_or(Value::Null);
                let reply = |v: Value| json!({"return": v, "id": id});
                if cmd["execute"] == "qmp_capabilities" {
                    send(&mut w, &reply(json!({})));
                    continue;
                }
                match script(&cmd) {
                    Action::Reply(v) => send(&mut w, &reply(v)),
                    Action::EventsThen(events, v) => {
                        for e in &events {
                            send(&mut w, e);
                        }
                        send(&mut w, &reply(v));
                    }
                    Action::Error(class, desc) => send(
                        &mut w,
                        &json!({"error": {"class": class, "desc": desc}, "id": id}),
                    ),
                    Action::Slow(d, v) => {
                        std::thread::sleep(d);
                        send(&mut w, &reply(v));
                    }
                    Action::Disconnect => return,
                    Action::ReplyThenLater(v, d, events) => {
                        send(&mut w, &reply(v));
                        std::thread::sleep(d);
                        for e in &events {
                            send(&mut w, e);
                        }
                    }
                    Action::Garbage => {
                        let _ = writeln!(w, "this is not json {{");
                    }
                }
            }
        });
        Fake {
            path,
            received,
            handle: Some(handle),
            _dir: dir,
        }
    }

    fn commands(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    fn connect(&self, timeout: Duration) -> QmpClient {
        QmpClient::connect(&self.path, timeout).expect("connect to the fake server")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        // Unblock accept() if no client ever connected, then join.
        let _ = UnixStream::connect(&self.path);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Two vCPUs as QEMU 7.2 prints `info registers -a` over QMP: CPU#0 in long mode at RIP
/// 0x401000, CPU#1 halted in a real-mode trampoline at 0900:0012.
const REGISTERS: &str = "\r\nCPU#0\r\n\
RAX=0000000000000001 RBX=0000000000000002 RCX=0000000000000003 RDX=0000000000000004\r\n\
RSI=0000000000000005 RDI=0000000000000006 RBP=0000000000000007 RSP=0000000000407000\r\n\
R8 =0000000000000000 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000000\r\n\
R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000\r\n\
RIP=0000000000401000 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\r\n\
ES =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\r\n\
CS =0018 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\r\n\
SS =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\r\n\
DS =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\r\n\
FS =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\r\n\
GS =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\r\n\
LDT=0000 0000000000000000 0000ffff 00008200 DPL=0 LDT\r\n\
TR =0000 0000000000000000 0000ffff 00008b00 DPL=0 TSS64-busy\r\n\
GDT=     0000000000007e00 0000001f\r\n\
IDT=     0000000000008000 000001ff\r\n\
CR0=80000011 CR2=0000000000000000 CR3=0000000000010000 CR4=00000020\r\n\
DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \r\n\
DR6=00000000ffff0ff0 DR7=0000000000000400\r\n\
EFER=0000000000000500\r\n\
\r\nCPU#1\r\n\
EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000\r\n\
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000ff0\r\n\
EIP=00000012 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n\
ES =0000 00000000 0000ffff 00009300\r\n\
CS =0900 00009000 0000ffff 00009b00\r\n\
SS =0000 00000000 0000ffff 00009300\r\n\
DS =0000 00000000 0000ffff 00009300\r\n\
FS =0000 00000000 0000ffff 00009300\r\n\
GS =0000 00000000 0000ffff 00009300\r\n\
LDT=0000 00000000 0000ffff 00008200\r\n\
TR =0000 00000000 0000ffff 00008b00\r\n\
GDT=     00000000 0000ffff\r\n\
IDT=     00000000 000003ff\r\n\
CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\r\n\
EFER=0000000000000000\r\n";

/// Guest memory of the fake: byte at `a` is `a & 0xff`; nothing from `NO_RAM` on.
const NO_RAM: u64 = 0x40_0000_0000;

/// HMP `x /Nxb ADDR` as QEMU prints it (8 bytes a line, `Cannot access memory` from the first
/// unreadable line on).
fn x_reply(line: &str) -> String {
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words
        .next()
        .and_then(|f| f.strip_prefix('/'))
        .and_then(|f| f.strip_suffix("xb"))
        .and_then(|n| n.parse().ok())
        .expect("count");
    let addr = words
        .next()
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .expect("address");
    let mut out = String::new();
    let mut at = addr;
    while at < addr + n {
        let k = (addr + n - at).min(8);
        if at + k > NO_RAM {
            out.push_str(&format!("{at:016x}: Cannot access memory\r\n"));
            break;
        }
        out.push_str(&format!("{at:016x}:"));
        for i in 0..k {
            out.push_str(&format!(" 0x{:02x}", (at + i) & 0xff));
        }
        out.push_str("\r\n");
        at += k;
    }
    out
}

/// The fake's memory map: RAM up to `NO_RAM`, the local APIC page as a device.
const MTREE: &str = "FlatView #0\r\n AS \"memory\", root: system\r\n Root memory region: system\r\n  0000000000000000-0000003fffffffff (prio 0, ram): pc.ram KVM\r\n  00000040fee00000-00000040feefffff (prio 4096, i/o): kvm-apic-msi\r\n\r\n";
/// Where the fake has a device.
const DEVICE: u64 = 0x40_fee0_0000;

const LAPIC: &str = "dumping local APIC state for CPU 0 \r\n\r\nLVT0\t 0x00010700 active-hi edge  masked                      ExtINT (vec 0)\r\nSPIV\t 0x000001ff APIC enabled, focus=off, spurious vec 255\r\n";

/// A well-behaved QEMU: answers everything the capture asks.
fn normal(cmd: &Value) -> Action {
    let name = cmd["execute"].as_str().unwrap_or("");
    match name {
        "query-version" => Action::Reply(
            json!({"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "fake 1"}),
        ),
        "query-status" => Action::Reply(
            json!({"status": "internal-error", "running": false, "singlestep": false}),
        ),
        "query-cpus-fast" => Action::Reply(json!([
            {"cpu-index": 0, "thread-id": 1000, "qom-path": "/machine/unattached/device[0]", "target": "x86_64"},
            {"cpu-index": 1, "thread-id": 1001, "qom-path": "/machine/unattached/device[2]", "target": "x86_64"}
        ])),
        "query-stats" => Action::Reply(json!([
            {"provider": "kvm", "qom-path": "/machine/unattached/device[2]", "stats": [{"name": "exits", "value": 7}]},
            {"provider": "kvm", "qom-path": "/machine/unattached/device[0]", "stats": [{"name": "exits", "value": 42}, {"name": "halt_wait_hist", "value": [0, 1]}]}
        ])),
        "human-monitor-command" => {
            let line = cmd["arguments"]["command-line"].as_str().unwrap_or("");
            if line == "info registers -a" {
                Action::Reply(json!(REGISTERS))
            } else if line == "info lapic" {
                Action::Reply(json!(LAPIC))
            } else if line.starts_with("x ") {
                Action::Reply(json!(x_reply(line)))
            } else if line == "info mtree -f" {
                Action::Reply(json!(MTREE))
            } else if let Some(a) = line.strip_prefix("gva2gpa ") {
                // Identity paging.
                let a = u64::from_str_radix(a.trim_start_matches("0x"), 16).unwrap();
                Action::Reply(json!(format!("gpa: {a:#x}\r\n")))
            } else {
                Action::Reply(json!(format!("unknown command: '{line}'\r\n")))
            }
        }
        other => Action::Error(
            "CommandNotFound",
            format!("The command {other} has not been found"),
        ),
    }
}

/// Nothing but read-only commands reached the server.
fn assert_read_only(fake: &Fake) {
    for c in fake.commands() {
        let name = c["execute"].as_str().unwrap_or("");
        assert!(
            kvmtriage_capture::policy::QMP_READ_ONLY.contains(&name),
            "sent {c}"
        );
        assert!(
            !matches!(
                name,
                "cont" | "stop" | "system_reset" | "system_powerdown" | "quit"
            ),
            "sent {c}"
        );
        if name == "human-monitor-command" {
            let line = c["arguments"]["command-line"].as_str().unwrap_or("");
            let first = line.split_whitespace().next().unwrap_or("");
            assert!(
                matches!(first, "info" | "x" | "xp" | "gva2gpa"),
                "sent HMP {line:?}"
            );
        }
    }
}

fn opts() -> Options {
    Options::default()
}

fn code(c: &Capture, vcpu: u32) -> &kvmtriage_capture::MemoryWindow {
    c.memory
        .iter()
        .find(|m| m.vcpu == vcpu && m.kind == MemoryKind::Code)
        .unwrap_or_else(|| panic!("no code window for vCPU {vcpu}: {:?}", c.errors))
}

#[test]
fn full_capture_with_events_between_replies() {
    let mut n = 0;
    let fake = Fake::start(
        "full",
        vec![event("STOP", None)],
        Box::new(move |cmd| {
            n += 1;
            // Events between replies: before every third reply, two events.
            match normal(cmd) {
                Action::Reply(v) if n % 3 == 0 => Action::EventsThen(
                    vec![
                        event("RTC_CHANGE", Some(json!({"offset": 1}))),
                        event("GUEST_PANICKED", Some(json!({"action": "pause"}))),
                    ],
                    v,
                ),
                a => a,
            }
        }),
    );
    let mut client = fake.connect(Duration::from_secs(5));
    let c = capture(&mut client, "qmp:fake".into(), &opts());
    assert!(c.complete, "errors: {:?}", c.errors);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.status.as_ref().unwrap().status, "internal-error");
    assert_eq!(c.qemu.as_ref().unwrap().version, "7.2.22");
    assert_eq!(c.vcpus.len(), 2);
    assert_eq!(c.vcpus[1].thread_id, Some(1001));
    // 128 bytes before RIP, 128 from RIP, as the fake's memory has them.
    let w = code(&c, 0);
    assert_eq!(w.anchor, 0x401000);
    assert_eq!(w.address, 0x401000 - 128);
    assert_eq!(w.anchor_index, 128);
    assert_eq!(w.bytes.len(), 256);
    for (i, b) in w.bytes.iter().enumerate() {
        assert_eq!(*b, Some(((0x401000 - 128 + i as u64) & 0xff) as u8));
    }
    // The real-mode vCPU: CS.base + IP; the window starts at CS.base (nothing before it is in
    // the code segment) and takes 256 bytes from there.
    let w1 = code(&c, 1);
    assert_eq!(w1.anchor, 0x9012);
    assert_eq!(w1.address, 0x9000);
    assert_eq!(w1.anchor_index, 0x12);
    assert_eq!(w1.bytes.len(), 256);
    let stack0 = c
        .memory
        .iter()
        .find(|m| m.vcpu == 0 && m.kind == MemoryKind::Stack)
        .unwrap();
    assert_eq!(stack0.address, 0x407000);
    assert_eq!(stack0.bytes.len(), 256);
    let stack1 = c
        .memory
        .iter()
        .find(|m| m.vcpu == 1 && m.kind == MemoryKind::Stack)
        .unwrap();
    assert_eq!(stack1.address, 0xff0, "real mode: SS.base + SP");
    // GDT entries for CS (0x18 -> index 3) and SS/DS/ES/FS/GS (0x10 -> index 2).
    let gdt = c
        .descriptors
        .iter()
        .find(|d| d.vcpu == 0 && d.table == kvmtriage_capture::format::Table::Gdt)
        .unwrap();
    let cs = gdt.entries.iter().find(|e| e.name == "cs").unwrap();
    assert_eq!(cs.index, 3);
    assert_eq!(cs.bytes.len(), 8);
    assert_eq!(cs.bytes[0], Some(((0x7e00u64 + 24) & 0xff) as u8));
    // IDT: 32 16-byte gates in long mode (limit 0x1ff holds exactly 32).
    let idt = c
        .descriptors
        .iter()
        .find(|d| d.vcpu == 0 && d.table == kvmtriage_capture::format::Table::Idt)
        .unwrap();
    assert_eq!(idt.entries.len(), 32);
    assert!(idt.entries.iter().all(|e| e.bytes.len() == 16));
    // Real mode: no GDT entries, the IVT's first 32 vectors (4 bytes each).
    assert!(!c
        .descriptors
        .iter()
        .any(|d| d.vcpu == 1 && d.table == kvmtriage_capture::format::Table::Gdt));
    let ivt = c
        .descriptors
        .iter()
        .find(|d| d.vcpu == 1 && d.table == kvmtriage_capture::format::Table::Idt)
        .unwrap();
    assert!(ivt.entries.iter().all(|e| e.bytes.len() == 4));
    assert_eq!(c.lapic.len(), 2);
    assert_eq!(c.stats.len(), 2);
    assert_eq!(
        c.stats[0].vcpu,
        Some(0),
        "stats sorted by vCPU via qom-path"
    );
    assert_eq!(c.stats[0].values[0], ("exits".to_string(), json!(42)));
    // Every event kept, in order: the STOP after the greeting and those between replies.
    assert_eq!(c.events[0].name, "STOP");
    assert!(c.events.iter().any(|e| e.name == "GUEST_PANICKED"));
    assert_eq!(c.events[0].timestamp.as_deref(), Some("1700000000.000042"));
    // The same in text: QEMU's own lines verbatim, ours marked.
    let text = c.to_text();
    assert!(text.starts_with("kvmtriage-capture: begin capture format=1 "));
    assert!(text.contains("\nCPU#1\n"));
    assert!(text.contains("\nRIP=0000000000401000 RFL=00000002"));
    assert!(text.contains(
        "kvmtriage-capture: begin memory vcpu=0 kind=code address=0x400f80 length=256 anchor=0x401000\n"
    ));
    assert!(text.contains(
        "kvmtriage-capture: | 0000000000401000: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n"
    ));
    assert!(text.contains("kvmtriage-capture: status status=internal-error running=no\n"));
    assert_eq!(
        text.lines().last().unwrap(),
        format!(
            "kvmtriage-capture: end capture complete=yes duration-ms={} commands={}",
            c.duration_ms, c.commands_sent
        )
    );
    for line in text.lines() {
        assert!(
            line.starts_with("kvmtriage-capture: ")
                || REGISTERS.replace("\r\n", "\n").lines().any(|l| l == line),
            "unmarked line that is not QEMU's: {line:?}"
        );
    }
    // What the writer wrote, kvmtriage's dump reader reads back (docs/capture.md).
    let dumps = kvmtriage_dump::read(&text).expect("explain's reader takes the capture");
    assert_eq!(dumps.len(), 2);
    for (i, d) in dumps.iter().enumerate() {
        assert_eq!(d.cpu_index, Some(i as u32));
        let code = d.code.as_ref().expect("code window from the capture");
        assert_eq!(code.bytes.len(), 256);
        // vCPU 1 is in real mode at 0900:0012: its window starts at CS.base.
        assert_eq!(code.marker, Some(if i == 0 { 128 } else { 0x12 }));
        let x = d.capture.as_ref().unwrap();
        assert!(x.long_code_window && x.complete);
        assert_eq!(x.run_state.as_deref(), Some("internal-error"));
        assert_eq!(x.stack.as_ref().unwrap().bytes.len(), 256);
        assert!(!x.lapic.is_empty());
    }
    let x0 = dumps[0].capture.as_ref().unwrap();
    assert_eq!(
        x0.stats,
        [
            ("exits".to_string(), "42".to_string()),
            ("halt_wait_hist".to_string(), "[0,1]".to_string())
        ]
    );
    // The fake's memory: byte at a = a & 0xff; little-endian words from RSP 0x407000.
    assert_eq!(
        x0.stack.as_ref().unwrap().words[0].unwrap().0,
        0x0706050403020100
    );
    assert_eq!(x0.thread_id, Some(1000));
    let j: Value = serde_json::from_str(&c.to_json(false)).unwrap();
    assert_eq!(j["format"], "kvmtriage-capture");
    assert_eq!(j["memory"][0]["address"], "0x400f80");
    assert_read_only(&fake);
}

/// A server whose first `query-status` says running, and that sends `later` events `after` that
/// reply (while the client waits).
fn running_then(tag: &str, after: Duration, later: Vec<Value>) -> Fake {
    let mut first = true;
    let mut later = Some(later);
    Fake::start(
        tag,
        vec![],
        Box::new(move |cmd| match cmd["execute"].as_str() {
            Some("query-status") if first => {
                first = false;
                Action::ReplyThenLater(
                    json!({"status": "running", "running": true}),
                    after,
                    later.take().unwrap_or_default(),
                )
            }
            _ => normal(cmd),
        }),
    )
}

#[test]
fn wait_returns_at_the_stop_event() {
    let fake = running_then(
        "waitstop",
        Duration::from_millis(200),
        vec![event("RESUME", None), event("STOP", None)],
    );
    let mut client = fake.connect(Duration::from_secs(2));
    let mut o = opts();
    o.wait = Some(Duration::from_secs(10));
    let c = capture(&mut client, "qmp:fake".into(), &o);
    let w = c.wait.as_ref().unwrap();
    assert!(!w.already_stopped);
    match &w.stopped {
        Some(Stopped::Event { event }) => assert_eq!(event.name, "STOP"),
        other => panic!("expected the STOP event, got {other:?}"),
    }
    assert!(
        (150..5000).contains(&w.waited_ms),
        "waited {} ms for a STOP sent after 200 ms",
        w.waited_ms
    );
    // query-status asked again after the STOP.
    assert_eq!(c.status.as_ref().unwrap().status, "internal-error");
    assert!(!c.status.as_ref().unwrap().running);
    assert!(c.complete, "{:?}", c.errors);
    assert_eq!(code(&c, 0).bytes.len(), 256);
    let names: Vec<&str> = c.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["RESUME", "STOP"]);
    assert!(c
        .to_text()
        .contains("kvmtriage-capture: wait limit-ms=10000 waited-ms="));
    assert_read_only(&fake);
}

#[test]
fn wait_times_out_and_captures_anyway() {
    let fake = running_then("waittimeout", Duration::ZERO, vec![]);
    let mut client = fake.connect(Duration::from_secs(2));
    let started = Instant::now();
    let mut o = opts();
    o.wait = Some(Duration::from_millis(400));
    let c = capture(&mut client, "qmp:fake".into(), &o);
    let w = c.wait.as_ref().unwrap();
    assert!(w.stopped.is_none(), "no STOP was sent");
    assert!(w.waited_ms >= 390, "waited {} ms", w.waited_ms);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(c.errors.iter().any(|e| e.step == "wait for STOP"));
    assert!(
        c.to_text().contains(" stop=timeout\n")
            || c.to_text().contains(
                " stop=timeout
"
            )
    );
    assert_eq!(code(&c, 0).bytes.len(), 256);
    assert_read_only(&fake);
}

#[test]
fn wait_on_a_stopped_vm_does_not_wait() {
    let fake = Fake::start("waitstopped", vec![], Box::new(normal));
    let mut client = fake.connect(Duration::from_secs(2));
    let started = Instant::now();
    let mut o = opts();
    o.wait = Some(Duration::from_secs(30));
    let c = capture(&mut client, "qmp:fake".into(), &o);
    assert!(c.wait.as_ref().unwrap().already_stopped);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c.complete);
}

#[test]
fn error_replies_and_hmp_errors_are_recorded_and_the_capture_goes_on() {
    let fake = Fake::start(
        "errors",
        vec![],
        Box::new(|cmd| {
            let line = cmd["arguments"]["command-line"].as_str().unwrap_or("");
            match cmd["execute"].as_str() {
                Some("query-stats") => Action::Error(
                    "CommandNotFound",
                    "The command query-stats has not been found".into(),
                ),
                Some("human-monitor-command") if line == "info lapic" => {
                    Action::Reply(json!("unknown command: 'lapic'\r\n"))
                }
                // vCPU 1's code window: an HMP error string instead of memory.
                Some("human-monitor-command")
                    if line.starts_with("x ") && cmd["arguments"]["cpu-index"] == 1 =>
                {
                    Action::Reply(json!("invalid char in expression\r\n"))
                }
                _ => normal(cmd),
            }
        }),
    );
    let mut client = fake.connect(Duration::from_secs(2));
    let c = capture(&mut client, "qmp:fake".into(), &opts());
    assert!(c.complete, "command errors do not end the capture");
    let stats_err = c.errors.iter().find(|e| e.step == "query-stats").unwrap();
    assert!(
        stats_err.message.contains("CommandNotFound"),
        "{stats_err:?}"
    );
    assert!(c
        .errors
        .iter()
        .any(|e| e.step == "info lapic vcpu=0" && e.message.contains("unknown command")));
    assert!(c.lapic.is_empty());
    assert!(c.stats.is_empty());
    // vCPU 0's window is whole, vCPU 1's is unreadable with the reason noted.
    assert!(code(&c, 0).bytes.iter().all(Option::is_some));
    let w1 = code(&c, 1);
    assert!(w1.bytes.iter().all(Option::is_none));
    assert!(w1.notes[0].contains("invalid char"), "{:?}", w1.notes);
    assert!(c
        .to_text()
        .contains("kvmtriage-capture: error step=query-stats message="));
    assert_read_only(&fake);
}

#[test]
fn unreadable_memory_is_marked_per_byte() {
    // vCPU 0's RIP moved to 64 bytes below the end of the fake's memory.
    let regs = REGISTERS.replace("RIP=0000000000401000", &format!("RIP={:016x}", NO_RAM - 64));
    let fake = Fake::start(
        "noram",
        vec![],
        Box::new(move |cmd| {
            if cmd["arguments"]["command-line"] == "info registers -a" {
                Action::Reply(json!(regs))
            } else {
                normal(cmd)
            }
        }),
    );
    let mut client = fake.connect(Duration::from_secs(2));
    let c = capture(&mut client, "qmp:fake".into(), &opts());
    let w = code(&c, 0);
    assert_eq!(w.bytes.len(), 256);
    assert!(w.bytes[..192].iter().all(Option::is_some));
    assert!(w.bytes[192..].iter().all(Option::is_none));
    assert!(
        w.notes
            .iter()
            .any(|n| n.contains("no RAM or ROM at guest-physical 0x4000000000")),
        "{:?}",
        w.notes
    );
    assert!(c.to_text().contains(&format!(
        "kvmtriage-capture: | {:016x}: ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ??\n",
        NO_RAM
    )));
}

#[test]
fn device_regions_are_not_read() {
    // vCPU 0's RIP in the fake's device region: no `x` may touch it.
    let regs = REGISTERS.replace(
        "RIP=0000000000401000",
        &format!("RIP={:016x}", DEVICE + 0x100),
    );
    let fake = Fake::start(
        "device",
        vec![],
        Box::new(move |cmd| {
            if cmd["arguments"]["command-line"] == "info registers -a" {
                Action::Reply(json!(regs))
            } else {
                normal(cmd)
            }
        }),
    );
    let mut client = fake.connect(Duration::from_secs(2));
    let c = capture(&mut client, "qmp:fake".into(), &opts());
    let w = code(&c, 0);
    assert_eq!(w.bytes.len(), 256);
    // 0x40fee00000 - 128 .. 0x40fee00000 is RAM-less nothing (below the device, above RAM);
    // the device page itself is not read.
    assert!(w.bytes.iter().all(Option::is_none));
    assert!(
        w.notes
            .iter()
            .any(|n| n.contains("device region kvm-apic-msi (i/o)")),
        "{:?}",
        w.notes
    );
    for cmd in fake.commands() {
        let line = cmd["arguments"]["command-line"].as_str().unwrap_or("");
        if let Some(addr) = line
            .strip_prefix("x /")
            .and_then(|l| l.split_whitespace().nth(1))
        {
            let a = u64::from_str_radix(addr.trim_start_matches("0x"), 16).unwrap();
            assert!(
                !(DEVICE..DEVICE + 0x10_0000).contains(&a),
                "read device memory: {line}"
            );
        }
    }
    assert!(c.complete);
    assert_read_only(&fake);
}

#[test]
fn slow_reply_times_out_and_the_late_reply_is_not_taken_for_the_next() {
    let fake = Fake::start(
        "slow",
        vec![],
        Box::new(|cmd| match cmd["execute"].as_str() {
            // QMP answers in order: the next command's reply comes after this one, 150 ms
            // after that command was sent, inside its own 300 ms.
            Some("query-cpus-fast") => Action::Slow(
                Duration::from_millis(450),
                json!([{"cpu-index": 9, "thread-id": 9, "qom-path": "late"}]),
            ),
            _ => normal(cmd),
        }),
    );
    let mut client = fake.connect(Duration::from_millis(300));
    let c = capture(&mut client, "qmp:fake".into(), &opts());
    let e = c
        .errors
        .iter()
        .find(|e| e.step == "query-cpus-fast")
        .unwrap();
    assert!(e.message.contains("no answer within 300 ms"), "{e:?}");
    assert!(c.vcpus.is_empty(), "the late reply must not be used");
    // The capture went on: the late cpus-fast reply (id kvmtriage-N) was dropped while waiting
    // for the memory reads' replies.
    assert!(c.complete, "{:?}", c.errors);
    assert_eq!(code(&c, 0).bytes.len(), 256);
    assert!(code(&c, 0).bytes.iter().all(Option::is_some));
    assert_eq!(c.lapic.len(), 2);
    assert_read_only(&fake);
}

#[test]
fn a_hung_qemu_ends_the_capture_after_two_timeouts() {
    let fake = Fake::start(
        "hung",
        vec![],
        Box::new(|cmd| match cmd["execute"].as_str() {
            Some("query-version") | Some("query-status") => normal(cmd),
            _ => Action::Slow(Duration::from_millis(400), json!(null)),
        }),
    );
    let mut client = fake.connect(Duration::from_millis(150));
    let started = Instant::now();
    let c = capture(&mut client, "qmp:fake".into(), &opts());
    assert!(!c.complete);
    assert!(
        c.incomplete_reason
            .as_deref()
            .unwrap()
            .contains("stopped answering"),
        "{:?}",
        c.incomplete_reason
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(c.status.as_ref().unwrap().status, "internal-error");
}

#[test]
fn disconnect_mid_capture_keeps_what_was_taken() {
    let fake = Fake::start(
        "disconnect",
        vec![],
        Box::new(|cmd| {
            let line = cmd["arguments"]["command-line"].as_str().unwrap_or("");
            if line.starts_with("x ") {
                Action::Disconnect // QEMU died after answering `info registers -a`
            } else {
                normal(cmd)
            }
        }),
    );
    let mut client = fake.connect(Duration::from_secs(2));
    let dir = temp_dir("disconnect-log");
    let log = dir.0.join("qemu.log");
    std::fs::write(&log, "KVM internal error. Suberror: 1\nemulation failure\n").unwrap();
    let mut o = opts();
    o.qemu_log = Some(log);
    let c = capture(&mut client, "qmp:fake".into(), &o);
    assert!(!c.complete);
    let reason = c.incomplete_reason.as_deref().unwrap();
    assert!(reason.contains("closed the monitor connection"), "{reason}");
    assert!(c.registers.as_deref().unwrap().contains("CPU#1"));
    assert_eq!(c.vcpus.len(), 2);
    assert!(c.memory.is_empty());
    // The log is read even though the monitor is gone.
    assert!(c.qemu_log.as_ref().unwrap().text.contains("Suberror: 1"));
    let text = c.to_text();
    assert!(text.contains("\nCPU#0\n"));
    assert!(text.contains("kvmtriage-capture: begin qemu-log "));
    assert!(text.contains("\nKVM internal error. Suberror: 1\n"));
    assert!(text
        .lines()
        .last()
        .unwrap()
        .starts_with("kvmtriage-capture: end capture complete=no "));
    assert_read_only(&fake);
}

#[test]
fn garbage_on_the_wire_is_a_protocol_error_not_a_panic() {
    let fake = Fake::start(
        "garbage",
        vec![],
        Box::new(|cmd| match cmd["execute"].as_str() {
            Some("query-status") => Action::Garbage,
            _ => normal(cmd),
        }),
    );
    let mut client = fake.connect(Duration::from_secs(2));
    let c = capture(&mut client, "qmp:fake".into(), &opts());
    assert!(!c.complete);
    assert!(
        c.errors[0].message.contains("QMP protocol error"),
        "{:?}",
        c.errors
    );
    assert_eq!(c.qemu.as_ref().unwrap().version, "7.2.22");
}

#[test]
fn no_greeting_is_a_clear_error() {
    let dir = temp_dir("nogreeting");
    let path = dir.0.join("qmp.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(s);
    });
    let err = QmpClient::connect(&path, Duration::from_millis(200))
        .err()
        .expect("no greeting");
    assert!(matches!(err, QmpError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("QMP greeting"), "{err}");
    t.join().unwrap();
    let err = QmpClient::connect(&dir.0.join("missing.sock"), Duration::from_millis(200))
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[test]
fn the_client_refuses_state_changing_commands() {
    use kvmtriage_capture::Monitor;
    let fake = Fake::start("refuse", vec![], Box::new(normal));
    let mut client = fake.connect(Duration::from_secs(2));
    for cmd in ["cont", "stop", "system_reset", "quit"] {
        let err = client.execute(cmd, None).unwrap_err();
        assert!(matches!(err, QmpError::NotReadOnly(_)), "{cmd}: {err}");
    }
    for line in ["cont", "c", "system_reset", "stop"] {
        let err = kvmtriage_capture::hmp(&mut client, line, None).unwrap_err();
        assert!(matches!(err, QmpError::NotReadOnly(_)), "{line}: {err}");
    }
    // Nothing but qmp_capabilities reached the server.
    let sent: Vec<Value> = fake.commands();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(client.sent(), ["qmp_capabilities"]);
}
