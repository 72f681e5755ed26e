//! `kvmtriage explain`: read a QEMU x86 dump or a Linux kernel oops and say what happened.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::Context;
use kvmtriage_analyze::{AnalyzeError, KernelVersion, Options, Syntax};
use kvmtriage_render::{Color, InputInfo};

use crate::cmd::{error, finish};
use crate::exit;

/// Output format of `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable report for a terminal.
    Text,
    /// The versioned JSON document described in docs/json.md.
    Json,
    /// The report as Markdown, for bug trackers and mail.
    Markdown,
}

/// When to colour terminal output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

/// Assembler syntax of the listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyntaxChoice {
    Intel,
    Att,
}

/// Arguments of `kvmtriage explain`.
#[derive(clap::Args)]
pub struct Args {
    /// File holding the dump or oops (any text around it is fine), or `-` for standard input.
    #[arg(value_name = "FILE|-", default_value = "-")]
    input: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Indent the JSON (`--format json` prints one document per line otherwise).
    #[arg(long)]
    pretty: bool,
    /// Colour the text report.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Only the dump of this CPU (from `info registers -a` output with `CPU#N` headers).
    #[arg(long, value_name = "N")]
    cpu: Option<u32>,
    /// Disassemble the code window as 16-, 32- or 64-bit code instead of the dump's mode.
    #[arg(long, value_name = "16|32|64", value_parser = parse_mode)]
    mode: Option<u8>,
    /// Assembler syntax of the listing.
    #[arg(long, value_enum, default_value_t = SyntaxChoice::Intel)]
    syntax: SyntaxChoice,
    /// Host kernel version (as `uname -r` prints it, e.g. 5.15.0-91-generic): the verdict then says
    /// which known KVM bugs affect that kernel.
    #[arg(long, value_name = "VERSION")]
    host_kernel: Option<String>,
    /// Symbols for kernel oopses (repeatable): a System.map, a copy of /proc/kallsyms, a vmlinux
    /// (ELF symbols, DWARF file:line and inline frames) or a module (.ko, .ko.xz, .ko.zst).
    #[arg(long, value_name = "PATH")]
    symbols: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let host_kernel = match &args.host_kernel {
        Some(v) => Some(
            KernelVersion::parse(v)
                .with_context(|| format!("--host-kernel {v:?} is not a kernel version"))?,
        ),
        None => None,
    };
    let symbols = if args.symbols.is_empty() {
        None
    } else {
        match kvmtriage_analyze::Symbols::load(&args.symbols) {
            Ok(s) => Some(std::sync::Arc::new(s)),
            Err(e) => {
                eprintln!("kvmtriage: error: --symbols {e}");
                return Ok(exit::UNREADABLE);
            }
        }
    };
    let name = args.input.display().to_string();
    let bytes = match read_input(&args.input) {
        Ok(b) => b,
        Err(e) => {
            error(format_args!("kvmtriage: error: cannot read {name}: {e}"));
            return Ok(exit::UNREADABLE);
        }
    };
    // Mail archives and logs are not always valid UTF-8; a stray byte must not hide the dump.
    let text = String::from_utf8_lossy(&bytes);
    let opts = Options {
        mode_override: args.mode,
        syntax: match args.syntax {
            SyntaxChoice::Intel => Syntax::Intel,
            SyntaxChoice::Att => Syntax::Att,
        },
        host_kernel,
        cpu: args.cpu,
        symbols,
    };
    let analysis = match kvmtriage_analyze::analyze(&text, &opts) {
        Ok(a) => a,
        Err(AnalyzeError::Read(e)) => {
            error(format_args!("kvmtriage: error: {name}: {e}"));
            return Ok(if e.is_no_dump() {
                exit::NOT_FOUND
            } else {
                exit::UNREADABLE
            });
        }
        Err(e @ AnalyzeError::NoSuchCpu { .. }) => {
            error(format_args!("kvmtriage: error: {name}: {e}"));
            return Ok(exit::NOT_FOUND);
        }
        Err(e) => return Err(e.into()),
    };
    // A damaged dump still gets its report; the damage goes to standard error with line numbers
    // and decides the exit code, so scripts notice that the analysis rests on a partial dump.
    let mut damaged = false;
    for (i, d) in analysis.dumps.iter().enumerate() {
        for w in d.dump.warnings.iter().filter(|w| w.kind.is_damage()) {
            damaged = true;
            error(format_args!(
                "kvmtriage: warning: {name}:{}: dump {}: {}",
                w.line,
                i + 1,
                w.message
            ));
        }
    }
    let info = InputInfo {
        name: &name,
        lines: text.lines().count(),
    };
    let rendered = match args.format {
        Format::Json => kvmtriage_render::render_json(&analysis, &info, args.pretty),
        Format::Markdown => kvmtriage_render::render_markdown(&analysis, &info),
        Format::Text => {
            let color = match args.color {
                ColorChoice::Always => Color::Always,
                ColorChoice::Never => Color::Never,
                ColorChoice::Auto => {
                    if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
                        Color::Always
                    } else {
                        Color::Never
                    }
                }
            };
            kvmtriage_render::render_text(&analysis, &info, color)
        }
    };
    // A closed pipe (`| head`) ends the run quietly, with this same code.
    finish(&rendered, if damaged { exit::DAMAGED } else { exit::OK })
}

fn read_input(path: &PathBuf) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut buf)?;
    } else {
        buf = std::fs::read(path)?;
    }
    Ok(buf)
}

fn parse_mode(s: &str) -> Result<u8, String> {
    match s {
        "16" => Ok(16),
        "32" => Ok(32),
        "64" => Ok(64),
        _ => Err(format!("{s:?} is not a mode: use 16, 32 or 64")),
    }
}
