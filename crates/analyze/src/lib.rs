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
pub const SCHEMA_VERSION: u32 = 3;

pub use kvmtriage_oops::symbols::{SymbolError, Symbols};

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
    /// Symbol files (`--symbols`) for kernel oopses: System.map, kallsyms, vmlinux, modules.
    pub symbols: Option<std::sync::Arc<Symbols>>,
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
    /// Linux kernel crash reports in the same input (docs/json.md, "One oops").
    pub oopses: Vec<OopsAnalysis>,
}

/// One kernel oops: what was read, its title, the decoded `Code:` line and the symbolized stack.
#[derive(Debug, Clone, Serialize)]
pub struct OopsAnalysis {
    /// The rules' kind (`bug`, `warning`, `general-protection-fault`, …, `register-dump`).
    pub kind: String,
    /// The header line as printed.
    pub header: String,
    /// syzbot-compatible title.
    pub title: String,
    pub alt_titles: Vec<String>,
    /// syzbot's crash type (`KASAN-READ`, `WARNING`, `HANG`, …; empty when none).
    #[serde(rename = "type")]
    pub crash_type: String,
    pub corrupted: bool,
    /// Why it looks cut off or interleaved.
    pub corrupted_reason: Option<String>,
    pub kernel: kvmtriage_oops::KernelInfo,
    /// The instruction-pointer line (CS, numeric address when printed, `func+off/len [mod]`).
    pub rip: Option<kvmtriage_oops::RipLine>,
    /// The registers the oops printed, by name, as `"0x…"`.
    pub registers: Registers,
    /// The `Code:` window as read.
    pub code: Option<kvmtriage_dump::CodeWindow>,
    /// `Bad RIP value.` / `Unable to access opcode bytes at …` instead of code bytes.
    pub code_note: Option<String>,
    pub disassembly: Option<OopsDisassembly>,
    /// The instruction at the `Code:` marker (the same shape as a dump's `fault`).
    pub fault: Option<FaultInstruction>,
    pub listing: Vec<ListingLine>,
    /// Every call-trace line.
    pub stack: Vec<kvmtriage_oops::StackFrame>,
    /// With `--symbols`: the RIP line and frames with run-time addresses and file:line.
    pub symbols: Option<kvmtriage_oops::symbols::Symbolized>,
    /// The oops is in KVM code (kvm/kvm_intel/kvm_amd functions or modules, arch/x86/kvm/).
    pub kvm: bool,
    /// Indices into `dumps` of QEMU dumps of the same input within 200 lines of this oops.
    pub near_dumps: Vec<usize>,
    pub source: kvmtriage_oops::SourceSpan,
    pub warnings: Vec<String>,
}

/// An oops' registers: `{"rax": "0x…", …, "rflags": …, "cr2": …, "fs_base": …}` in print order.
#[derive(Debug, Clone, Default)]
pub struct Registers(pub Vec<(&'static str, u64)>);

impl Serialize for Registers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, &format_args!("{v:#x}").to_string())?;
        }
        m.end()
    }
}

/// How an oops' code window was decoded.
#[derive(Debug, Clone, Serialize)]
pub struct OopsDisassembly {
    pub bits: u32,
    /// Where the listing's addresses come from (printed RIP, symbols, or function-relative).
    pub address_base: kvmtriage_oops::decode::AddressBase,
    #[serde(serialize_with = "kvmtriage_dump::hex::u64")]
    pub window_address: u64,
    pub marker: usize,
    pub alignment: Alignment,
    pub notes: Vec<kvmtriage_x86::Note>,
    /// `ud2`/`ud1` at the marker: the kernel's BUG/WARN/UBSAN trap.
    pub trap: Option<kvmtriage_oops::decode::TrapKind>,
    /// The trap in one sentence.
    pub trap_explained: Option<&'static str>,
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
    let oopses_read = kvmtriage_oops::read_oopses(text);
    let mut dumps = match kvmtriage_dump::read(text) {
        Ok(d) => d,
        // A text with kernel oopses and no QEMU dump is fine: it is analysed as oopses.
        Err(e) if e.is_no_dump() && !oopses_read.is_empty() && opts.cpu.is_none() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
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
    let dumps: Vec<DumpAnalysis> = dumps.into_iter().map(|d| analyze_dump(d, opts)).collect();
    let oopses = oopses_read
        .into_iter()
        .map(|o| analyze_oops(o, &dumps, opts))
        .collect();
    Ok(Analysis {
        schema_version: SCHEMA_VERSION,
        dumps,
        oopses,
    })
}

/// Decode, symbolize and place one oops already read.
pub fn analyze_oops(
    o: kvmtriage_oops::Oops,
    dumps: &[DumpAnalysis],
    opts: &Options,
) -> OopsAnalysis {
    use kvmtriage_dump::Gpr;
    let symbols = opts.symbols.as_ref().map(|s| s.symbolize(&o));
    let code = kvmtriage_oops::decode::decode_oops(&o, symbols.as_ref().and_then(|s| s.rip));
    let mut regs: Vec<(&'static str, u64)> = Vec::new();
    let wide = o.bits != Some(32);
    if let Some(r) = o.cpu.rip {
        regs.push((if wide { "rip" } else { "eip" }, r));
    }
    for &g in &Gpr::PRINT_ORDER[..16] {
        if let Some(v) = o.cpu.gpr(g) {
            regs.push((if wide { g.name64() } else { g.name32() }, v));
        }
    }
    if let Some(v) = o.cpu.rflags {
        regs.push((if wide { "rflags" } else { "eflags" }, v));
    }
    for (name, seg) in [
        ("cs", kvmtriage_dump::SegName::Cs),
        ("ss", kvmtriage_dump::SegName::Ss),
        ("ds", kvmtriage_dump::SegName::Ds),
        ("es", kvmtriage_dump::SegName::Es),
        ("fs", kvmtriage_dump::SegName::Fs),
        ("gs", kvmtriage_dump::SegName::Gs),
    ] {
        if let Some(s) = o.cpu.segment(seg) {
            regs.push((name, u64::from(s.selector)));
        }
    }
    for (name, v) in [
        ("fs_base", o.fs_base),
        ("gs_base", o.gs_base),
        ("kernel_gs_base", o.kernel_gs_base),
        ("cr0", o.cpu.cr0),
        ("cr2", o.cpu.cr2),
        ("cr3", o.cpu.cr3),
        ("cr4", o.cpu.cr4),
    ] {
        if let Some(v) = v {
            regs.push((name, v));
        }
    }
    for (n, name) in [
        (0, "dr0"),
        (1, "dr1"),
        (2, "dr2"),
        (3, "dr3"),
        (6, "dr6"),
        (7, "dr7"),
    ] {
        if let Some(v) = o.cpu.dr[n] {
            regs.push((name, v));
        }
    }
    let near_dumps = dumps
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            let (a, b) = (d.dump.source.first_line, d.dump.source.last_line);
            let (c, e) = (o.source.first_line, o.source.last_line);
            a.saturating_sub(200) <= e && c.saturating_sub(200) <= b
        })
        .map(|(i, _)| i)
        .collect();
    let (disassembly, fault, listing) = match code {
        Some(c) => {
            let CodeAnalysis {
                bitness,
                window_address,
                marker,
                alignment,
                fault,
                listing,
                notes,
                ..
            } = c.analysis;
            (
                Some(OopsDisassembly {
                    bits: bitness,
                    address_base: c.address_base,
                    window_address,
                    marker,
                    alignment,
                    notes,
                    trap: c.trap,
                    trap_explained: c.trap.map(|t| t.explain()),
                }),
                fault,
                listing,
            )
        }
        None => (None, None, Vec::new()),
    };
    let kvm = o.in_kvm();
    OopsAnalysis {
        kind: o.kind,
        header: o.header,
        title: o.title,
        alt_titles: o.alt_titles,
        crash_type: o.crash_type,
        corrupted: o.corrupted.is_some(),
        corrupted_reason: o.corrupted,
        kernel: o.kernel,
        rip: o.rip,
        registers: Registers(regs),
        code: o.code,
        code_note: o.code_note,
        disassembly,
        fault,
        listing,
        stack: o.stack,
        symbols,
        kvm,
        near_dumps,
        source: o.source,
        warnings: o.warnings,
    }
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
