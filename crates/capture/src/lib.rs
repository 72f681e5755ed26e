//! kvmtriage-capture: takes everything worth having from a stopped (or about to stop) QEMU over
//! its QMP monitor, read-only, and writes it in the capture format (docs/capture.md).
//!
//! This crate is an I/O edge: it talks to a QMP Unix socket ([`QmpClient`]) or to a libvirt
//! domain through `virsh qemu-monitor-command` ([`VirshMonitor`]). Both implement [`Monitor`];
//! [`capture`] drives either one and always returns a [`Capture`], complete or not: when QEMU
//! dies or stops answering mid-way, what was taken so far is kept and the reason is recorded.
//!
//! Read-only by construction: every command passes [`policy::check`] (see its list).

pub mod collect;
pub mod format;
pub mod memory;
pub mod policy;
pub mod qmp;
pub mod virsh;

use std::time::Instant;

use serde_json::{json, Value};

pub use collect::{capture, Options};
pub use format::{Capture, MemoryKind, MemoryWindow, FORMAT_VERSION, MARK};
pub use qmp::{QmpClient, QmpEvent};
pub use virsh::VirshMonitor;

/// Why a monitor call failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("cannot connect to the QMP socket {path}: {source}")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer within {timeout_ms} ms while waiting for {waiting_for}")]
    Timeout {
        waiting_for: String,
        timeout_ms: u64,
    },
    #[error("QEMU closed the monitor connection while kvmtriage was waiting for {waiting_for} (QEMU exited or another client took over)")]
    Closed { waiting_for: String },
    #[error("monitor I/O error: {0}")]
    Io(#[source] std::io::Error),
    #[error("QMP protocol error: {0}")]
    Protocol(String),
    #[error("QMP command `{command}` failed: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
    #[error("refused to send {0}: kvmtriage capture is read-only (docs/capture.md)")]
    NotReadOnly(String),
    #[error("virsh: {0}")]
    Virsh(String),
}

impl QmpError {
    /// The monitor connection is gone: nothing more can be asked.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            QmpError::Closed { .. } | QmpError::Io(_) | QmpError::Protocol(_)
        )
    }
}

/// A QEMU monitor that answers QMP commands: a QMP socket or libvirt's `virsh`.
pub trait Monitor {
    /// Sends one command (after [`policy::check`]) and returns its `return` value.
    fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError>;
    /// Waits until QEMU reports that the VM stopped, at most until `deadline`; `Ok(None)` when
    /// the deadline passed first.
    fn wait_stop(&mut self, deadline: Instant) -> Result<Option<Stopped>, QmpError>;
    /// Events received so far and not yet taken.
    fn take_events(&mut self) -> Vec<QmpEvent>;
}

/// How a wait saw the VM stop.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "seen_by", rename_all = "snake_case")]
pub enum Stopped {
    /// QEMU's `STOP` event on the QMP socket.
    Event { event: QmpEvent },
    /// `query-status` polled until `running` was false (libvirt's `qemu-monitor-command` does not
    /// pass QMP events on).
    Polling { status: String },
}

/// One HMP command through QMP `human-monitor-command`, run on vCPU `cpu` (QEMU's `cpu-index`
/// argument sets the monitor's current CPU for this one command, as HMP `cpu N` would). HMP
/// errors (`unknown command`, `Cannot access memory`) come back as ordinary text: the callers
/// parse what they asked for and treat anything else as that command's error.
pub fn hmp(mon: &mut dyn Monitor, line: &str, cpu: Option<u32>) -> Result<String, QmpError> {
    let mut args = json!({ "command-line": line });
    if let Some(cpu) = cpu {
        args["cpu-index"] = json!(cpu);
    }
    let r = mon.execute("human-monitor-command", Some(args))?;
    match r {
        Value::String(s) => Ok(s.replace("\r\n", "\n")),
        other => Err(QmpError::Protocol(format!(
            "human-monitor-command returned {other} instead of a string"
        ))),
    }
}
