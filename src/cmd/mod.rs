pub mod capture;
pub mod explain;
pub mod host;
pub mod msr;
pub mod repro;
pub mod scan;
pub mod serve;

use std::io::Write as _;

/// Writes the command's output to standard output, flushes it, and returns the command's exit
/// code.
///
/// std ignores SIGPIPE, so a write to a pipe whose reader has gone (`kvmtriage explain big.log |
/// head -1`) fails with `EPIPE` instead of killing the process. That is not an error worth a
/// message: the run ends quietly with the exit code it would have had anyway (every command
/// knows its outcome before it writes), as docs/exit-codes.md says. Any other write error
/// (a full disk) is an error.
pub fn finish(text: &str, code: u8) -> anyhow::Result<u8> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(code),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(code),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// Writes one line to standard error. Unlike `eprintln!`, a closed or failing standard error
/// (`kvmtriage explain big.log 2>&1 | head -1`) is ignored instead of panicking: there is
/// nowhere left to report it.
pub fn error(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
