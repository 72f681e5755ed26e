//! `kvmtriage`: the command-line front end. Thin: argument parsing and I/O here,
//! analysis in `crates/`.
//!
//! The process is an ordinary std program: std's own `main` (stack-overflow guard and message,
//! unwinding panics), the system allocator. std ignores SIGPIPE, so a write to a closed pipe
//! returns `EPIPE`; every command writes its output through [`cmd::finish`], which ends the run
//! quietly on a closed pipe, with the exit code the run would have had (docs/exit-codes.md).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Exit codes, documented in `docs/exit-codes.md`.
pub mod exit {
    /// The input was analysed (explain), the lookup found something (msr), the guest ran to completion (repro).
    pub const OK: u8 = 0;
    /// Usage error or unexpected failure.
    pub const ERROR: u8 = 1;
    /// The input could be read but holds no QEMU x86 dump; or the MSR is unknown.
    pub const NOT_FOUND: u8 = 2;
    /// The input could not be read (missing file, not text).
    pub const UNREADABLE: u8 = 3;
    /// repro: the guest's VM failed (KVM_RUN error, internal error, shutdown, entry failure);
    /// the QEMU-style report was printed.
    pub const VM_FAILED: u8 = 4;
    /// repro: the guest was stopped by the wall-clock or exit-count limit.
    pub const LIMIT: u8 = 5;
    /// repro: /dev/kvm is missing or not accessible.
    pub const NO_KVM: u8 = 6;
    /// `explain`: the report was printed, but a dump is damaged (malformed values, or cut short);
    /// the damage is listed on standard error with line numbers.
    pub const DAMAGED: u8 = 7;
    /// `capture`: the monitor connection was lost or stopped answering mid-way; what was taken
    /// is written, marked incomplete.
    pub const CAPTURE_INCOMPLETE: u8 = 8;
    /// `scan`: some input was skipped or damaged (unreadable, binary, truncated compressed
    /// stream, NUL bytes, a cut over-long line); each was named on standard error and in the
    /// summary, and the rest was scanned.
    pub const SKIPPED: u8 = 9;
}

#[derive(Parser)]
#[command(
    name = "kvmtriage",
    version,
    about = "Turns a dead KVM virtual machine's last words into a diagnosis"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a QEMU x86 register dump (from a file or `-`) and explain it.
    Explain(cmd::explain::Args),
    /// Look up a model-specific register by index or name.
    Msr(cmd::msr::Args),
    /// Run a guest on /dev/kvm and reproduce a vCPU failure.
    Repro(cmd::repro::Args),
    /// Report this host's KVM: access, capabilities, parameters, known issues.
    Host(cmd::host::Args),
    /// Take a stopped QEMU's state over QMP (or libvirt), read-only, for `explain`.
    Capture(cmd::capture::Args),
    /// Serve the local web page and JSON API (loopback only unless --listen says otherwise).
    Serve(cmd::serve::Args),
    /// Find, sign and cluster every QEMU dump and KVM failure line in logs (files, dirs, `-`).
    Scan(cmd::scan::Args),
}

fn main() -> ExitCode {
    ExitCode::from(run())
}

fn run() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap would exit 2 on a usage error; 2 means "no dump found" here (docs/exit-codes.md).
            // `print` returns the write error instead of panicking (`--help | head -1`).
            let _ = err.print();
            return if err.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
        }
    };
    let result = match cli.command {
        Command::Explain(args) => cmd::explain::run(args),
        Command::Msr(args) => cmd::msr::run(args),
        Command::Repro(args) => cmd::repro::run(args),
        Command::Host(args) => cmd::host::run(args),
        Command::Capture(args) => cmd::capture::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Scan(args) => cmd::scan::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            cmd::error(format_args!("kvmtriage: error: {err:#}"));
            exit::ERROR
        }
    }
}
