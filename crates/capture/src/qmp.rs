//! A QMP client over a Unix socket: greeting, `qmp_capabilities`, commands with ids and per-call
//! deadlines, asynchronous events queued while replies are awaited.
//!
//! The wire format is QEMU's (`docs/interop/qmp-spec.rst`): one JSON object per line; the server
//! greets with `{"QMP": …}`, every command must wait for `qmp_capabilities`, replies are
//! `{"return": …, "id": …}` or `{"error": {"class": …, "desc": …}, "id": …}`, and events
//! (`{"event": …, "timestamp": …, "data": …}`) may arrive between any two messages. Each command
//! carries an `id` so that a reply that comes after its command timed out is recognised as late
//! and dropped instead of being taken as the answer to the next command.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::policy;
use crate::{Monitor, QmpError, Stopped};

/// One QMP event as QEMU sent it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QmpEvent {
    /// `STOP`, `RESUME`, `SHUTDOWN`, `GUEST_PANICKED`, …
    pub name: String,
    /// QEMU's `timestamp` as `seconds.microseconds` (host wall clock), when present.
    pub timestamp: Option<String>,
    /// The event's `data` member (`null` when it has none, as `STOP`).
    pub data: Value,
}

impl QmpEvent {
    fn from_message(msg: &Value) -> Option<QmpEvent> {
        let name = msg.get("event")?.as_str()?.to_string();
        let timestamp = msg.get("timestamp").and_then(|t| {
            let s = t.get("seconds")?.as_i64()?;
            let us = t.get("microseconds")?.as_i64()?;
            Some(format!("{s}.{us:06}"))
        });
        Some(QmpEvent {
            name,
            timestamp,
            data: msg.get("data").cloned().unwrap_or(Value::Null),
        })
    }
}

/// Longest QMP line accepted (a `query-stats` reply of a large guest is a few hundred KiB).
const MAX_LINE: usize = 64 << 20;

/// A QMP session on a Unix socket.
pub struct QmpClient {
    stream: UnixStream,
    /// Bytes read but not yet split into lines.
    buf: Vec<u8>,
    /// Events received and not yet taken.
    events: Vec<QmpEvent>,
    /// The greeting's `QMP` member (version, capabilities).
    greeting: Value,
    next_id: u64,
    timeout: Duration,
    /// Every command this client sent, in order (`execute` names), for the read-only audit.
    sent: Vec<String>,
}

impl QmpClient {
    /// Connects to `path`, reads the greeting and negotiates capabilities. `timeout` bounds the
    /// connection, the greeting and every later call.
    pub fn connect(path: &Path, timeout: Duration) -> Result<QmpClient, QmpError> {
        let stream = UnixStream::connect(path).map_err(|source| QmpError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        let mut client = QmpClient {
            stream,
            buf: Vec::new(),
            events: Vec::new(),
            greeting: Value::Null,
            next_id: 1,
            timeout,
            sent: Vec::new(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let msg = client.read_message(deadline, "the QMP greeting")?;
            if let Some(g) = msg.get("QMP") {
                client.greeting = g.clone();
                break;
            }
            if let Some(ev) = QmpEvent::from_message(&msg) {
                client.events.push(ev);
                continue;
            }
            return Err(QmpError::Protocol(format!(
                "expected the QMP greeting, got {}",
                short(&msg)
            )));
        }
        client.execute("qmp_capabilities", None)?;
        Ok(client)
    }

    /// The greeting's `QMP` object.
    pub fn greeting(&self) -> &Value {
        &self.greeting
    }

    /// Command names sent so far (`qmp_capabilities` included).
    pub fn sent(&self) -> &[String] {
        &self.sent
    }

    /// Reads one JSON message, waiting at most until `deadline`.
    fn read_message(&mut self, deadline: Instant, waiting_for: &str) -> Result<Value, QmpError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                return serde_json::from_str(text).map_err(|e| {
                    QmpError::Protocol(format!("not JSON ({e}): {}", truncate(text, 200)))
                });
            }
            if self.buf.len() > MAX_LINE {
                return Err(QmpError::Protocol(format!(
                    "a QMP line longer than {MAX_LINE} bytes"
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(QmpError::Timeout {
                    waiting_for: waiting_for.to_string(),
                    timeout_ms: self.timeout.as_millis() as u64,
                });
            }
            // A zero read timeout would mean "block forever": keep at least 1 ms.
            let left = (deadline - now).max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(left))
                .map_err(QmpError::Io)?;
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(QmpError::Closed {
                        waiting_for: waiting_for.to_string(),
                    })
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_disconnect(&e) => {
                    return Err(QmpError::Closed {
                        waiting_for: waiting_for.to_string(),
                    })
                }
                Err(e) => return Err(QmpError::Io(e)),
            }
        }
    }

    fn send(&mut self, msg: &Value) -> Result<(), QmpError> {
        let mut line = serde_json::to_vec(msg).map_err(|e| QmpError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.stream
            .set_write_timeout(Some(self.timeout))
            .map_err(QmpError::Io)?;
        self.stream.write_all(&line).map_err(|e| {
            if is_disconnect(&e) {
                QmpError::Closed {
                    waiting_for: "sending a command".into(),
                }
            } else {
                QmpError::Io(e)
            }
        })
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::UnexpectedEof
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn short(v: &Value) -> String {
    truncate(&v.to_string(), 200)
}

impl Monitor for QmpClient {
    fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        policy::check(command, arguments.as_ref())?;
        let id = format!("kvmtriage-{}", self.next_id);
        self.next_id += 1;
        let mut msg = json!({ "execute": command, "id": id });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        self.sent.push(command.to_string());
        self.send(&msg)?;
        let deadline = Instant::now() + self.timeout;
        let waiting_for = format!("the reply to `{command}`");
        loop {
            let reply = self.read_message(deadline, &waiting_for)?;
            if let Some(ev) = QmpEvent::from_message(&reply) {
                self.events.push(ev);
                continue;
            }
            // A reply to an earlier command that timed out: not ours.
            match reply.get("id") {
                Some(Value::String(s)) if *s == id => {}
                None => {}
                Some(_) => continue,
            }
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
            return Err(QmpError::Protocol(format!(
                "unexpected message while waiting for {waiting_for}: {}",
                short(&reply)
            )));
        }
    }

    fn wait_stop(&mut self, deadline: Instant) -> Result<Option<Stopped>, QmpError> {
        loop {
            if let Some(ev) = self.events.iter().find(|e| e.name == "STOP") {
                return Ok(Some(Stopped::Event { event: ev.clone() }));
            }
            match self.read_message(deadline, "a STOP event") {
                Ok(msg) => {
                    if let Some(ev) = QmpEvent::from_message(&msg) {
                        self.events.push(ev);
                    }
                    // Anything else is a late reply to a timed-out command: dropped.
                }
                Err(QmpError::Timeout { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn take_events(&mut self) -> Vec<QmpEvent> {
        std::mem::take(&mut self.events)
    }
}
