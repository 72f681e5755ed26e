//! `kvmtriage scan PATH...`: every QEMU dump and KVM failure line in logs, signed and clustered
//! (docs/scan.md). Thin: the work is in kvmtriage-scan.

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Arc, Mutex};

use kvmtriage_scan::{expand, scan_all, Clusters, InputIssue, ScanOptions};

use crate::cmd::{error, finish};
use crate::exit;

/// Output format of `scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One row per cluster (the default on a terminal).
    Table,
    /// One JSON record per report, as found (the default when standard output is not a terminal).
    Ndjson,
    /// The cluster summary.
    Json,
}

/// Arguments of `kvmtriage scan`.
#[derive(clap::Args)]
pub struct Args {
    /// Files, directories (recursively) or `-` for standard input; .gz/.zst/.xz are read
    /// transparently, journald `-o json` / `-o export` are recognised.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// Output format (default: table on a terminal, ndjson otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Worker threads (default: one per CPU). One file is read by one thread.
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Ndjson
    });
    let mut issues = Vec::new();
    let inputs = expand(&args.paths, &mut issues);
    for i in &issues {
        report_issue(i);
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| match i {
            kvmtriage_scan::Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            kvmtriage_scan::Input::Stdin => None,
        })
        .sum();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let progress = bar.clone().map(|b| {
        let f: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| b.inc(n));
        f
    });
    let clusters = Mutex::new(Clusters::new());
    let out_err: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let stdout = std::io::stdout();
    let sink = |r: kvmtriage_scan::Record| {
        if format == Format::Ndjson {
            let mut line = match serde_json::to_vec(&r) {
                Ok(v) => v,
                Err(e) => {
                    error(format_args!("kvmtriage: scan: {e}"));
                    return;
                }
            };
            line.push(b'\n');
            let mut slot = out_err.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                if let Err(e) = stdout.lock().write_all(&line) {
                    *slot = Some(e);
                }
            }
        }
        clusters.lock().unwrap_or_else(|e| e.into_inner()).add(&r);
    };
    let on_issue = |i: &InputIssue| {
        if let Some(b) = &bar {
            b.suspend(|| report_issue(i));
        } else {
            report_issue(i);
        }
    };
    let opts = ScanOptions {
        threads: args.threads,
        ..Default::default()
    };
    issues.extend(scan_all(&inputs, &opts, progress, &sink, &on_issue));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut clusters = clusters.into_inner().unwrap_or_else(|e| e.into_inner());
    clusters.sort();
    clusters.issues = issues;
    let code = if !clusters.issues.is_empty() {
        exit::SKIPPED
    } else if clusters.reports == 0 {
        exit::NOT_FOUND
    } else {
        exit::OK
    };
    if let Some(e) = out_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(code);
        }
        return Err(anyhow::Error::new(e).context("writing to standard output"));
    }
    match format {
        Format::Ndjson => finish("", code),
        Format::Json => finish(&(serde_json::to_string_pretty(&clusters)? + "\n"), code),
        Format::Table => finish(&clusters.table(), code),
    }
}

fn report_issue(i: &InputIssue) {
    error(format_args!("kvmtriage: scan: {i}"));
}
