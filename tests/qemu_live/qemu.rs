//! Running qemu-system-x86_64 for the live tests: temp dir, child process that is always killed,
//! a small QMP client over a unix socket, and feeding text to the built `kvmtriage` binary.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const QEMU: &str = "qemu-system-x86_64";
/// Upper bound for any single wait (boot, QMP reply, run-state change).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Set this variable to keep each test's directory (disk image, stderr, log, debugcon).
pub const KEEP_ENV: &str = "KVMTRIAGE_QEMU_KEEP";

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("kvmtriage-qemu-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_ENV).is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How the guest gets into RAM.
#[derive(Clone, Copy)]
pub enum Boot<'a> {
    /// Our own `-bios` ROM: loads the image in a few instructions.
    Firmware(&'a [u8]),
    /// A raw IDE disk booted by QEMU's SeaBIOS (slow under nested KVM).
    Disk(&'a [u8]),
}

pub struct VmConfig<'a> {
    pub name: &'a str,
    pub accel: Accel,
    pub boot: Boot<'a>,
    pub smp: u32,
    /// `-d` items (e.g. `cpu`, `int`); a log file is added with `-D` when non-empty.
    pub log_items: &'a str,
    /// `-dfilter` ranges for the log.
    pub log_filter: Option<String>,
    /// Let resets happen (QEMU's default actions) instead of pausing on a triple fault.
    pub allow_reset: bool,
}

/// What QEMU left behind once it has exited.
pub struct Outputs {
    pub stderr: String,
    pub log: String,
}

/// A running QEMU; killed (and reaped) on drop whatever happened.
pub struct Vm {
    child: Child,
    dir: TempDir,
    qmp: Qmp,
    pub name: String,
    /// How long the guest may take to print READY (SeaBIOS boots are slow under nested KVM).
    ready_timeout: Duration,
}

impl Vm {
    pub fn start(cfg: &VmConfig) -> Vm {
        Vm::start_with(cfg, &[])
    }

    /// `start` with more QEMU arguments; `{dir}` in them stands for the VM's directory (e.g. a
    /// second QMP socket there for a client of the test's own).
    pub fn start_with(cfg: &VmConfig, extra: &[&str]) -> Vm {
        let dir = TempDir::new(cfg.name);
        let boot_args: Vec<String> = match cfg.boot {
            Boot::Firmware(rom) => {
                let path = dir.path().join("guest.rom");
                std::fs::write(&path, rom).expect("write guest firmware");
                vec!["-bios".into(), path.display().to_string()]
            }
            Boot::Disk(image) => {
                let path = dir.path().join("disk.img");
                std::fs::write(&path, image).expect("write disk image");
                let drive = format!("file={},format=raw,if=ide", path.display());
                vec!["-drive".into(), drive]
            }
        };
        let sock = dir.path().join("qmp.sock");
        let mut cmd = Command::new(QEMU);
        cmd.arg("-accel")
            .arg(cfg.accel.name())
            .args([
                "-m",
                "64",
                "-display",
                "none",
                "-vga",
                "none",
                "-nodefaults",
            ])
            .args(["-smp", &cfg.smp.to_string()])
            .args(&boot_args)
            .arg("-debugcon")
            .arg(format!(
                "file:{}",
                dir.path().join("debugcon.txt").display()
            ))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", sock.display()));
        if !cfg.allow_reset {
            // A triple fault pauses the VM (run state `shutdown`) instead of resetting it. (This
            // also turns QMP `system_reset` into a shutdown.)
            cmd.args(["-action", "reboot=shutdown,shutdown=pause"]);
        }
        for arg in extra {
            cmd.arg(arg.replace("{dir}", &dir.path().display().to_string()));
        }
        if !cfg.log_items.is_empty() {
            cmd.args(["-d", cfg.log_items])
                .arg("-D")
                .arg(dir.path().join("qemu.log"));
            if let Some(filter) = &cfg.log_filter {
                cmd.args(["-dfilter", filter]);
            }
        }
        let stderr = std::fs::File::create(dir.path().join("stderr.txt")).expect("stderr file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("spawn qemu-system-x86_64");
        let qmp = match Qmp::connect(&sock, &mut child) {
            Ok(q) => q,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let err =
                    std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
                panic!(
                    "{}: QMP connection failed: {e}\nQEMU stderr:\n{err}",
                    cfg.name
                );
            }
        };
        Vm {
            child,
            dir,
            qmp,
            name: cfg.name.to_string(),
            ready_timeout: match cfg.boot {
                Boot::Firmware(_) => STEP_TIMEOUT,
                Boot::Disk(_) => STEP_TIMEOUT * 3,
            },
        }
    }

    /// A file in the VM's directory (`stderr.txt`, a socket given to `start_with`); used by
    /// tests/capture_live.rs, which shares this module.
    #[allow(dead_code)]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Everything QEMU wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.file("stderr.txt")
    }

    /// Waits until the guest printed READY on the debug console.
    pub fn wait_ready(&self) {
        self.wait_ready_count(1);
    }

    /// Waits until the guest printed READY `count` times (once per boot).
    pub fn wait_ready_count(&self, count: usize) {
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            let text = self.file("debugcon.txt");
            if text.matches(crate::guest::READY_TEXT).count() >= count {
                return;
            }
            assert!(
                !text.contains(char::from(crate::guest::BOOT_FAILED_MARK)),
                "{}: the boot sector could not load the image (INT 13h failed)",
                self.name
            );
            assert!(
                Instant::now() < deadline,
                "{}: guest did not print READY within {:?}; debugcon: {text:?}\nstderr:\n{}",
                self.name,
                self.ready_timeout,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A QMP command without arguments; panics on a QMP error.
    pub fn command(&mut self, name: &str) -> Value {
        self.qmp
            .execute(name, None)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    pub fn status(&mut self) -> String {
        let r = self
            .qmp
            .execute("query-status", None)
            .expect("query-status");
        r["status"].as_str().unwrap_or_default().to_string()
    }

    /// Polls `query-status` until it is one of `wanted`; returns it.
    pub fn wait_status(&mut self, wanted: &[&str]) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let s = self.status();
            if wanted.contains(&s.as_str()) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{}: run state stayed {s:?}, expected one of {wanted:?}\nstderr:\n{}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// HMP command through QMP `human-monitor-command`; `\r\n` turned into `\n`.
    pub fn hmp(&mut self, line: &str) -> String {
        let r = self
            .qmp
            .execute(
                "human-monitor-command",
                Some(json!({ "command-line": line })),
            )
            .unwrap_or_else(|e| panic!("{}: HMP {line:?}: {e}", self.name));
        r.as_str().unwrap_or_default().replace("\r\n", "\n")
    }

    /// `info registers` once every vCPU (all of `-a`) shows HLT=1. Synchronisation only: the
    /// halted state itself is asserted on kvmtriage's reading.
    pub fn registers_when_halted(&mut self, all: bool) -> String {
        let cmd = if all {
            "info registers -a"
        } else {
            "info registers"
        };
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let text = self.hmp(cmd);
            let cpus = text.matches(" HLT=").count();
            if cpus > 0 && text.matches(" HLT=1").count() == cpus {
                return text;
            }
            if Instant::now() >= deadline {
                return text; // the assertions will show what is wrong
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `quit` over QMP, wait (bounded) for QEMU to exit (killed otherwise), and return what it
    /// wrote to stderr and to the `-D` log.
    pub fn quit(mut self) -> Outputs {
        let _ = self.qmp.execute("quit", None);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        Outputs {
            stderr: self.stderr(),
            log: self.file("qemu.log"),
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Minimal QMP client: one JSON object per line; asynchronous events are skipped.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(sock: &Path, child: &mut Child) -> Result<Qmp, String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let stream = loop {
            match UnixStream::connect(sock) {
                Ok(s) => break s,
                Err(e) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("QEMU exited early ({status})"));
                    }
                    if Instant::now() >= deadline {
                        return Err(format!("connect {}: {e}", sock.display()));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        stream
            .set_read_timeout(Some(STEP_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("unexpected QMP greeting {greeting}"));
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| format!("QMP read: {e}"))?;
        if n == 0 {
            return Err("QMP connection closed".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("QMP reply {line:?}: {e}"))
    }

    fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, String> {
        let mut msg = json!({ "execute": command });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        writeln!(self.writer, "{msg}").map_err(|e| format!("QMP write: {e}"))?;
        loop {
            let reply = self.read()?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(format!("{command}: QMP error {e}"));
            }
            // {"event": ...}: not an answer, keep reading.
        }
    }
}

/// Runs `kvmtriage explain --format json -` on `text`; returns the exit code and, for exit code
/// 0, the parsed JSON.
pub fn explain_status(text: &str) -> (i32, Option<Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .args(["explain", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kvmtriage");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = text.to_string();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("kvmtriage output");
    feeder.join().expect("stdin thread");
    let code = out.status.code().unwrap_or(-1);
    if code != 0 {
        eprintln!(
            "kvmtriage explain exit {code}: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
        return (code, None);
    }
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kvmtriage JSON: {e}\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (code, Some(json))
}

/// `explain_status` that must succeed.
pub fn explain(text: &str) -> Value {
    match explain_status(text) {
        (0, Some(json)) => json,
        (code, _) => panic!("kvmtriage explain failed (exit {code}) on input:\n{text}"),
    }
}
