//! A libvirt domain's monitor through `virsh qemu-monitor-command DOMAIN 'JSON'`.
//!
//! libvirtd holds the domain's QMP socket (`/var/lib/libvirt/qemu/domain-ID-NAME/monitor.sock`,
//! or `$XDG_CONFIG_HOME/libvirt/qemu/lib/…` for session domains) and QMP takes one client at a
//! time, so the socket cannot be opened next to libvirt; `virsh qemu-monitor-command` passes one
//! QMP command through libvirt and prints the reply. Each call is one `virsh` process, bounded by
//! the per-call timeout (killed when it runs over). libvirt does not pass QMP events to this
//! command, so a wait polls `query-status`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::qmp::QmpEvent;
use crate::{policy, Monitor, QmpError, Stopped};

/// How often a `--wait` through virsh asks `query-status`.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

pub struct VirshMonitor {
    program: String,
    domain: String,
    timeout: Duration,
    sent: Vec<String>,
}

impl VirshMonitor {
    /// `program` is normally `virsh` (looked up on PATH). Checks that the domain answers
    /// `query-status`.
    pub fn connect(
        program: &str,
        domain: &str,
        timeout: Duration,
    ) -> Result<VirshMonitor, QmpError> {
        let mut m = VirshMonitor {
            program: program.to_string(),
            domain: domain.to_string(),
            timeout,
            sent: Vec::new(),
        };
        m.execute("query-status", None)?;
        Ok(m)
    }

    /// Command names sent so far.
    pub fn sent(&self) -> &[String] {
        &self.sent
    }

    fn run(&self, json_line: &str) -> Result<String, QmpError> {
        let mut child = Command::new(&self.program)
            .args(["qemu-monitor-command", &self.domain, json_line])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    QmpError::Virsh(format!(
                        "`{}` not found: --libvirt needs libvirt's virsh on PATH (or give the QMP socket path instead)",
                        self.program
                    ))
                } else {
                    QmpError::Virsh(format!("cannot run {}: {e}", self.program))
                }
            })?;
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let out_thread = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let err_thread = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(QmpError::Timeout {
                        waiting_for: format!("`{} qemu-monitor-command`", self.program),
                        timeout_ms: self.timeout.as_millis() as u64,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(QmpError::Io(e)),
            }
        };
        let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
        if !status.success() {
            return Err(QmpError::Virsh(format!(
                "qemu-monitor-command {} failed ({status}): {}",
                self.domain,
                stderr.trim()
            )));
        }
        Ok(stdout)
    }
}

impl Monitor for VirshMonitor {
    fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        policy::check(command, arguments.as_ref())?;
        let mut msg = json!({ "execute": command });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        self.sent.push(command.to_string());
        let out = self.run(&msg.to_string())?;
        let reply: Value = serde_json::from_str(out.trim()).map_err(|e| {
            QmpError::Protocol(format!(
                "virsh printed something that is not a QMP reply ({e}): {}",
                out.trim()
            ))
        })?;
        if let Some(r) = reply.get("return") {
            return Ok(r.clone());
        }
        if let Some(e) = reply.get("error") {
            let field = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("(missing)")
                    .to_string()
            };
            return Err(QmpError::Command {
                command: command.to_string(),
                class: field("class"),
                desc: field("desc"),
            });
        }
        Err(QmpError::Protocol(format!(
            "virsh reply without `return` or `error`: {}",
            out.trim()
        )))
    }

    fn wait_stop(&mut self, deadline: Instant) -> Result<Option<Stopped>, QmpError> {
        loop {
            let st = self.execute("query-status", None)?;
            let status = st
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            let running = st.get("running").and_then(Value::as_bool) == Some(true);
            if !running && !crate::collect::WAIT_STATES.contains(&status.as_str()) {
                return Ok(Some(Stopped::Polling { status }));
            }
            if Instant::now() + POLL_INTERVAL > deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn take_events(&mut self) -> Vec<QmpEvent> {
        Vec::new()
    }
}
