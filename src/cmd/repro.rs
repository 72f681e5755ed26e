//! `kvmtriage repro`: run a guest on /dev/kvm and reproduce a vCPU failure (docs/repro.md).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use kvmtriage_kvm::{scenarios, CpuMode, Guest, InjectRule, KvmModel, Report, Request, RunResult};
use kvmtriage_render::{Color, InputInfo};

use crate::cmd::{error, finish};
use crate::exit;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// QEMU's text, then the `kvmtriage: exit record` block.
    Text,
    /// One JSON object (docs/repro.md).
    Json,
}

/// Arguments of `kvmtriage repro`.
#[derive(clap::Args)]
pub struct Args {
    /// Built-in scenario to run (see --list).
    #[arg(required_unless_present_any = ["list", "guest"], conflicts_with = "guest")]
    scenario: Option<String>,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Whose MSR handling to imitate: host, linux-5.10 … linux-5.19 (set_msr_mce before the
    /// v6.0 fixes), linux-6.0.
    #[arg(long, default_value = "host")]
    kvm_model: String,
    /// Fail chosen MSR accesses, e.g. wrmsr:0x838=EPERM, rdmsr:0x400-0x47f=GP,
    /// random:rate=0.05,seed=7=EPERM, wrmsr:0x404,value&1=0=EPERM (repeatable; first match wins).
    #[arg(long = "inject", value_name = "RULE")]
    inject: Vec<String>,
    /// Run a flat binary instead of a scenario.
    #[arg(long, value_name = "FILE", requires = "mode")]
    guest: Option<PathBuf>,
    /// CPU mode for --guest: 16, 32 or 64.
    #[arg(long, value_parser = ["16", "32", "64"])]
    mode: Option<String>,
    /// Guest-physical load address for --guest (default 0x10000).
    #[arg(long, value_parser = parse_address)]
    load: Option<u64>,
    /// Entry address for --guest (default: the load address).
    #[arg(long, value_parser = parse_address)]
    entry: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print `kvmtriage explain`'s report of the run instead (`--format json`: explain's JSON):
    /// the final vCPU state goes to the analysis in-process, straight from KVM, without text.
    #[arg(long)]
    explain: bool,
    /// Wall-clock limit in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Maximum number of VM exits.
    #[arg(long, default_value_t = 1_000_000)]
    max_exits: u64,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 32)]
    memory: usize,
    /// Do not log guest console output, MMIO and MSR exits on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_address(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("`{text}` is not an address (decimal or 0x-hex)"))
}

fn list() -> anyhow::Result<u8> {
    use std::fmt::Write as _;
    let mut text = format!("{:<22} {:<5} description\n", "scenario", "mode");
    for s in scenarios::CATALOGUE {
        let _ = writeln!(text, "{:<22} {:<5} {}", s.name, s.mode.bitness(), s.summary);
    }
    let _ = writeln!(
        text,
        "\nkvm models: {}",
        kvmtriage_kvm::policy::model_names().join(", ")
    );
    finish(&text, exit::OK)
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.list {
        return list();
    }
    let model: KvmModel = args.kvm_model.parse()?;
    let rules = args
        .inject
        .iter()
        .map(|r| r.parse::<InjectRule>())
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        bail!("--timeout must be a positive number of seconds");
    }
    if args.memory == 0 || args.memory > 4096 {
        bail!("--memory must be between 1 and 4096 MiB");
    }
    let guest = match (&args.scenario, &args.guest) {
        (Some(name), None) => Guest::Scenario(scenarios::find(name)?),
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read guest image {}", path.display()))?;
            let bits: u32 = args.mode.as_deref().unwrap_or("64").parse()?;
            let load = args.load.unwrap_or(kvmtriage_kvm::machine::layout::CODE);
            Guest::Image {
                name: format!("guest:{}", path.display()),
                bytes,
                mode: CpuMode::from_bits(bits).expect("clap checked --mode"),
                load,
                entry: args.entry.unwrap_or(load),
            }
        }
        _ => bail!("give a scenario name or --guest FILE (see --list)"),
    };
    if let Err(e) = kvmtriage_kvm::machine::check_kvm() {
        error(format_args!("kvmtriage: error: {e}"));
        error(format_args!(
            "kvmtriage: repro needs a usable /dev/kvm; nothing was run"
        ));
        return Ok(exit::NO_KVM);
    }
    let mut request = Request::new(guest, model, rules);
    request.limits.wall = Duration::from_secs_f64(args.timeout);
    request.limits.max_exits = args.max_exits;
    request.mem_size = args.memory << 20;
    let quiet = args.quiet;
    let stderr = std::io::stderr();
    let mut log = |line: &str| {
        if !quiet {
            // Guest output keeps its own prefix; everything else is the VMM's log.
            if line.starts_with("guest console: ") {
                let _ = writeln!(stderr.lock(), "{line}");
            } else {
                let _ = writeln!(stderr.lock(), "kvmtriage: {line}");
            }
        }
    };
    let (report, result) = kvmtriage_kvm::reproduce(&request, &mut log)?;
    let code = if report.outcome.is_vm_failure() {
        exit::VM_FAILED
    } else if report.outcome.is_limit() {
        exit::LIMIT
    } else {
        exit::OK
    };
    let text = match (args.explain, args.format) {
        (true, format) => explain(&report, result, format),
        (false, Format::Text) => report.to_text(&result.state, &result.code),
        (false, Format::Json) => {
            serde_json::to_string_pretty(&report.json(&result.state, &result.code))? + "\n"
        }
    };
    finish(&text, code)
}

/// `--explain`: the report `kvmtriage explain` prints, of a dump built from the model
/// ([`Report::dump`]: the vCPU state read from KVM, the event QEMU would print, the `Code=`
/// window, the exit record) instead of from QEMU's text. The dump has no input lines.
fn explain(report: &Report, result: RunResult, format: Format) -> String {
    let dump = report.dump(result.state, result.code);
    let analysis = kvmtriage_analyze::Analysis {
        schema_version: kvmtriage_analyze::SCHEMA_VERSION,
        dumps: vec![kvmtriage_analyze::analyze_dump(
            dump,
            &kvmtriage_analyze::Options::default(),
        )],
        oopses: Vec::new(),
    };
    let name = format!("repro {}", report.guest);
    let info = InputInfo {
        name: &name,
        lines: 0,
    };
    match format {
        Format::Json => kvmtriage_render::render_json(&analysis, &info, false),
        Format::Text => {
            // As `kvmtriage explain --color auto`.
            let color = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            {
                Color::Always
            } else {
                Color::Never
            };
            kvmtriage_render::render_text(&analysis, &info, color)
        }
    }
}
