//! kvmtriage-analyze: the analysis pipeline behind `kvmtriage explain`.
//!
//! Text in, typed values out: [`analyze`] finds every QEMU x86 dump in a text
//! ([`kvmtriage_dump::read`]), disassembles each code window in the mode the CPU was in
//! ([`kvmtriage_x86::analyze_code`]) and diagnoses the failure ([`kvmtriage_diagnose::diagnose`]).
//! Pure: no I/O, no printing. Rendering lives in `kvmtriage-render`.
//!
//! ```
//! let text = "error: kvm run failed Operation not permitted\n\
//! RAX=0000000007213cc9 RBX=ffff9f30ffcd5fc0 RCX=0000000000000838 RDX=0000000000000000\n\
//! RSI=0000000007213cc9 RDI=0000000000000838 RBP=ffff9f30ffcc3f18 RSP=ffff9f30ffcc3f10\n\
//! R8 =0000000096ecb9b4 R9 =0000000000000005 R10=0000000000000000 R11=0000000000000020\n\
//! R12=000000007213bf6e R13=0000000000000000 R14=ffff9f30ffcdd0a8 R15=ffff9f30ffcdd0e8\n\
//! RIP=ffffffff96070964 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0\n\
//! CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]\n\
//! CR0=80050033 CR2=00007fffeedffbf8 CR3=0000000135db6000 CR4=000006e0\n\
//! EFER=0000000000000d01\n\
//! Code=89 f9 89 f0 <0f> 30 0f 1f 44 00 00 c3\n";
//! let analysis = kvmtriage_analyze::analyze(text, &kvmtriage_analyze::Options::default()).unwrap();
//! let fault = analysis.dumps[0].fault.as_ref().unwrap();
//! assert_eq!(fault.mnemonic, "wrmsr");
//! assert_eq!(fault.msr.as_ref().unwrap().index, Some(0x838));
//! ```

use serde::Serialize;

pub use kvmtriage_diagnose::{DiagnoseOptions, Diagnosis, IssueReport, KernelVersion, Level};
pub use kvmtriage_dump::{Dump, ReadError};
pub use kvmtriage_x86::{Alignment, CodeAnalysis, FaultInstruction, ListingLine, Syntax};

use kvmtriage_dump::{Event, ExitRecord};

/// Version of the JSON document `kvmtriage explain --format json` prints (docs/json.md).
/// Bumped on any incompatible change; additions keep it.
pub const SCHEMA_VERSION: u32 = 2;

/// What to analyse and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Decode the code window in this width (16, 32 or 64) instead of the one the dump implies.
    pub mode_override: Option<u8>,
    /// Assembler syntax of the listing.
    pub syntax: Syntax,
    /// Host kernel (`uname -r`) to narrow the known-issue verdict to.
    pub host_kernel: Option<KernelVersion>,
    /// Keep only dumps of this CPU (`CPU#N` headers of `info registers -a`).
    pub cpu: Option<u32>,
}

/// Why a text could not be analysed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// `--cpu N` named a CPU that no dump has.
    #[error("no dump for CPU {wanted}; the input has CPU {available}")]
    NoSuchCpu { wanted: u32, available: String },
    /// `--mode` was not 16, 32 or 64.
    #[error("mode must be 16, 32 or 64, not {0}")]
    BadMode(u8),
}

/// The analysis of a whole input: one entry per dump found.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub schema_version: u32,
    pub dumps: Vec<DumpAnalysis>,
}

/// One dump with its disassembly and diagnosis. In JSON the dump's own fields come first,
/// then `disassembly`, `fault`, `listing` and `diagnosis` (docs/json.md).
#[derive(Debug, Clone, Serialize)]
pub struct DumpAnalysis {
    #[serde(flatten)]
    pub dump: Dump,
    /// How the code window was decoded; `None` when the dump has no usable `Code=` line.
    pub disassembly: Option<Disassembly>,
    /// The instruction at the `<..>` marker.
    pub fault: Option<FaultInstruction>,
    /// The code window's listing, faulting instruction marked.
    pub listing: Vec<ListingLine>,
    pub diagnosis: Diagnosis,
}

/// The disassembly's parameters and caveats (everything of [`CodeAnalysis`] but the fault and
/// the listing, which sit at the top of the dump's JSON object).
#[derive(Debug, Clone, Serialize)]
pub struct Disassembly {
    /// Width the window was decoded in.
    pub bits: u32,
    /// `dump` when the width came from the dump's mode, `override` when from `--mode`.
    pub bits_source: &'static str,
    pub syntax: Syntax,
    /// Linear address of the window's first byte.
    #[serde(serialize_with = "kvmtriage_dump::hex::u64")]
    pub window_address: u64,
    pub marker: usize,
    pub alignment: Alignment,
    pub notes: Vec<kvmtriage_x86::Note>,
}

/// Analyse every dump in `text`.
pub fn analyze(text: &str, opts: &Options) -> Result<Analysis, AnalyzeError> {
    if let Some(bits) = opts.mode_override {
        if !matches!(bits, 16 | 32 | 64) {
            return Err(AnalyzeError::BadMode(bits));
        }
    }
    let mut dumps = kvmtriage_dump::read(text)?;
    if let Some(wanted) = opts.cpu {
        let available: Vec<String> = dumps
            .iter()
            .filter_map(|d| d.cpu_index)
            .map(|c| c.to_string())
            .collect();
        dumps.retain(|d| d.cpu_index == Some(wanted));
        if dumps.is_empty() {
            let available = if available.is_empty() {
                "no CPU#N headers".to_string()
            } else {
                available.join(", ")
            };
            return Err(AnalyzeError::NoSuchCpu { wanted, available });
        }
    }
    let dumps = dumps.into_iter().map(|d| analyze_dump(d, opts)).collect();
    Ok(Analysis {
        schema_version: SCHEMA_VERSION,
        dumps,
    })
}

/// Disassemble and diagnose one dump already read.
pub fn analyze_dump(mut dump: Dump, opts: &Options) -> DumpAnalysis {
    // `--mode` replaces the dump's decision itself, so the JSON, the text, the disassembly and the
    // diagnosis all read the same mode.
    if let Some(bits) = opts.mode_override {
        dump.override_mode(bits);
    }
    // `kvmtriage repro` prints no QEMU event line for a triple fault (QEMU prints none either);
    // its exit record says KVM_EXIT_SHUTDOWN.
    if dump.event == Event::None {
        if let Some(record) = &dump.exit_record {
            if record
                .get("exit reason")
                .is_some_and(|r| r.starts_with("KVM_EXIT_SHUTDOWN"))
            {
                dump.event = Event::TripleFault { line: record.line };
            }
        }
    }
    let code = disassemble(&dump, opts);
    let diagnose_opts = DiagnoseOptions {
        host_kernel: opts.host_kernel.clone(),
    };
    let mut diagnosis = kvmtriage_diagnose::diagnose(&dump, code.as_ref(), &diagnose_opts);
    if let Some(record) = &dump.exit_record {
        diagnosis.evidence.extend(exit_record_evidence(record));
    }
    let (disassembly, fault, listing) = match code {
        Some(code) => {
            let CodeAnalysis {
                bitness,
                syntax,
                window_address,
                marker,
                alignment,
                fault,
                listing,
                notes,
            } = code;
            let disassembly = Disassembly {
                bits: bitness,
                bits_source: if dump.mode.is_override() {
                    "override"
                } else {
                    "dump"
                },
                syntax,
                window_address,
                marker,
                alignment,
                notes,
            };
            (Some(disassembly), fault, listing)
        }
        None => (None, None, Vec::new()),
    };
    DumpAnalysis {
        dump,
        disassembly,
        fault,
        listing,
        diagnosis,
    }
}

/// What a `kvmtriage repro` exit record adds to the evidence: the exit data QEMU leaves out.
fn exit_record_evidence(record: &ExitRecord) -> Vec<String> {
    let mut out = Vec::new();
    let field = |k: &str| record.get(k).unwrap_or("?");
    let mut line = if record.line == 0 {
        format!("exit record (kvmtriage repro): {}", field("exit reason"))
    } else {
        format!(
            "exit record (kvmtriage repro, line {}): {}",
            record.line,
            field("exit reason")
        )
    };
    if let Some(index) = record.get("msr index") {
        line.push_str(&format!(
            "; {} of MSR {index}",
            record.get("msr access").unwrap_or("access")
        ));
        if let Some(value) = record.get("msr value") {
            line.push_str(&format!(" value {value}"));
        }
        if let Some(reason) = record.get("kvm msr reason") {
            line.push_str(&format!(" (KVM MSR exit reason {reason})"));
        }
    }
    if let Some(by) = record.get("decided by") {
        line.push_str(&format!("; decided by {by}"));
    }
    out.push(line);
    if record
        .get("outcome")
        .is_some_and(|o| o.contains("reproduced by the VMM"))
    {
        out.push(format!(
            "the failure was reproduced by kvmtriage repro's MSR policy (kvm model {}, inject {}) on host kernel {}, not returned by that host's KVM",
            field("kvm model"),
            field("inject"),
            field("host kernel")
        ));
    }
    out
}

/// Run the disassembler over the dump's code window, if it has one with a marker and the dump's
/// mode (or `--mode`, already applied to it) gives the width.
pub fn disassemble(dump: &Dump, opts: &Options) -> Option<CodeAnalysis> {
    kvmtriage_diagnose::disassemble(dump, opts.syntax)
}
