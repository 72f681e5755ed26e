//! `kvmtriage capture`: take a stopped QEMU's state over QMP (or libvirt), read-only.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kvmtriage_capture::{capture, Monitor, Options, QmpClient, VirshMonitor};

#[derive(clap::Args)]
pub struct Args {
    /// QEMU's QMP socket (`-qmp unix:PATH,server=on,wait=off`). Not with --libvirt.
    #[arg(required_unless_present = "libvirt", conflicts_with = "libvirt")]
    socket: Option<PathBuf>,
    /// Wait up to SECONDS for the VM to stop (STOP event), then capture; without it, capture now.
    #[arg(long, value_name = "SECONDS")]
    wait: Option<f64>,
    /// Write the capture to FILE instead of standard output (written even when incomplete).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Indent the JSON.
    #[arg(long)]
    pretty: bool,
    /// QEMU's standard-error log, holding its own dump; included in the capture.
    #[arg(long, value_name = "FILE")]
    qemu_log: Option<PathBuf>,
    /// Reach the monitor of this libvirt domain through `virsh qemu-monitor-command`.
    #[arg(long, value_name = "DOMAIN")]
    libvirt: Option<String>,
    /// Limit for each monitor call, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    timeout: f64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

fn seconds(what: &str, s: f64) -> Result<Duration> {
    if !s.is_finite() || !(0.0..=1e9).contains(&s) {
        bail!("{what} must be a number of seconds >= 0, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

pub fn run(args: Args) -> Result<u8> {
    let timeout = seconds("--timeout", args.timeout)?;
    let opts = Options {
        wait: args.wait.map(|w| seconds("--wait", w)).transpose()?,
        qemu_log: args.qemu_log.clone(),
        on_wait: Some(|msg| eprintln!("kvmtriage capture: {msg}")),
        ..Options::default()
    };
    let (mut monitor, source): (Box<dyn Monitor>, String) = match (&args.libvirt, &args.socket) {
        (Some(domain), _) => (
            Box::new(VirshMonitor::connect("virsh", domain, timeout)?),
            format!("libvirt:{domain}"),
        ),
        (None, Some(socket)) => (
            Box::new(QmpClient::connect(socket, timeout)?),
            format!("qmp:{}", socket.display()),
        ),
        (None, None) => bail!("give the QMP socket path or --libvirt DOMAIN"),
    };
    let cap = capture(monitor.as_mut(), source, &opts);
    drop(monitor);
    let out = match args.format {
        Format::Text => cap.to_text(),
        Format::Json => {
            let mut j = cap.to_json(args.pretty);
            j.push('\n');
            j
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, &out)
            .with_context(|| format!("cannot write the capture to {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(out.as_bytes()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e).context("cannot write the capture to standard output");
                }
            }
        }
    }
    let status = cap.status.as_ref().map_or("unknown", |s| s.status.as_str());
    let vcpus = cap
        .registers
        .as_deref()
        .map_or(0, |r| r.matches("CPU#").count());
    eprintln!(
        "kvmtriage capture: {} ({vcpus} vCPU dumps, run state {status}, {} monitor commands, {} ms){}",
        if cap.complete { "complete" } else { "INCOMPLETE" },
        cap.commands_sent,
        cap.duration_ms,
        args.output
            .as_ref()
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_default()
    );
    for e in &cap.errors {
        eprintln!("kvmtriage capture: {}: {}", e.step, e.message);
    }
    if let Some(r) = &cap.incomplete_reason {
        eprintln!("kvmtriage capture: stopped early: {r}; what was taken is written");
        return Ok(crate::exit::CAPTURE_INCOMPLETE);
    }
    Ok(crate::exit::OK)
}
