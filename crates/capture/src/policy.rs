//! The read-only rule: the only commands `kvmtriage capture` ever sends.
//!
//! A capture must leave the VM as it found it: it never resumes (`cont`), stops, resets
//! (`system_reset`), powers down, migrates, changes devices or memory, or writes anything inside
//! QEMU. Every command goes through [`check`], so a command outside these lists cannot be sent
//! even by a bug elsewhere in the crate; the fake-server tests also assert that nothing else
//! reached the wire.

use serde_json::Value;

use crate::QmpError;

/// QMP commands that only read.
pub const QMP_READ_ONLY: &[&str] = &[
    "qmp_capabilities",
    "query-status",
    "query-version",
    "query-cpus-fast",
    "query-stats",
    "human-monitor-command",
];

/// HMP commands (first word of `command-line`) that only read: `info …` (every `info`
/// subcommand is a query), `x` (virtual memory dump), `xp` (physical memory dump) and `gva2gpa`
/// (address translation through a vCPU's page tables).
pub const HMP_READ_ONLY: &[&str] = &["info", "x", "xp", "gva2gpa"];

/// `Ok` when `command` with `arguments` only reads; [`QmpError::NotReadOnly`] otherwise.
pub fn check(command: &str, arguments: Option<&Value>) -> Result<(), QmpError> {
    if !QMP_READ_ONLY.contains(&command) {
        return Err(QmpError::NotReadOnly(command.to_string()));
    }
    if command == "human-monitor-command" {
        let line = arguments
            .and_then(|a| a.get("command-line"))
            .and_then(Value::as_str)
            .unwrap_or("");
        // HMP runs one command per line; a second line or a `;` is not something this crate
        // ever sends, so it is refused rather than parsed.
        let first = line.split_whitespace().next().unwrap_or("");
        let first = first.split('/').next().unwrap_or(""); // `x/16xb`
        if !HMP_READ_ONLY.contains(&first) || line.contains('\n') || line.contains('\r') {
            return Err(QmpError::NotReadOnly(format!(
                "human-monitor-command {line:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_every_state_changing_command() {
        for cmd in [
            "cont",
            "stop",
            "system_reset",
            "system_powerdown",
            "quit",
            "migrate",
            "inject-nmi",
            "memsave",
            "pmemsave",
            "dump-guest-memory",
        ] {
            assert!(
                matches!(check(cmd, None), Err(QmpError::NotReadOnly(_))),
                "{cmd} must be refused"
            );
        }
        for line in [
            "c",
            "cont",
            "stop",
            "system_reset",
            "q",
            "cpu 1",
            "nmi",
            "sendkey ctrl-alt-delete",
        ] {
            let args = json!({ "command-line": line });
            assert!(
                matches!(
                    check("human-monitor-command", Some(&args)),
                    Err(QmpError::NotReadOnly(_))
                ),
                "HMP {line} must be refused"
            );
        }
    }

    #[test]
    fn allows_the_queries_capture_uses() {
        for cmd in QMP_READ_ONLY {
            if *cmd != "human-monitor-command" {
                check(cmd, None).unwrap();
            }
        }
        for line in [
            "info registers -a",
            "info lapic",
            "x /256xb 0x1000",
            "xp /8xb 0",
        ] {
            check(
                "human-monitor-command",
                Some(&json!({ "command-line": line })),
            )
            .unwrap();
        }
        assert!(check(
            "human-monitor-command",
            Some(&json!({ "command-line": "info registers\ncont" }))
        )
        .is_err());
    }
}
