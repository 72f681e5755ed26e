//! Typed model of one QEMU x86 vCPU state dump (`x86_cpu_dump_state` in QEMU's
//! `target/i386/cpu-dump.c`) and the event line that preceded it
//! (`kvm_cpu_exec` / `kvm_handle_internal_error` in `accel/kvm/kvm-all.c`).
//!
//! Every value carries the 1-based input line it was read from.

use serde::Serialize;

use crate::decode::Decoded;
use crate::hex::{self, Hex};

/// A value together with the 1-based input line it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Located<T> {
    pub value: T,
    pub line: u32,
}

impl<T> Located<T> {
    pub fn new(value: T, line: u32) -> Self {
        Located { value, line }
    }
}

/// A register value (hex in JSON) with its line.
pub type Reg = Located<Hex>;

impl Reg {
    /// The raw register value.
    pub fn get(&self) -> u64 {
        self.value.0
    }
}

/// Where in the input a dump was found (1-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Source {
    pub first_line: u32,
    pub last_line: u32,
}

/// Something the reader or the consistency checks noticed, tied to a line
/// (0 when no single line is to blame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub line: u32,
    pub kind: WarningKind,
    pub message: String,
}

/// Category of a [`Warning`] (JSON: snake_case string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A value or token could not be read as QEMU prints it (wrong digit
    /// count, not hex, two Code markers, ...). The dump is damaged.
    Malformed,
    /// The dump ends before its usual end (lines missing or cut mid-line).
    Truncated,
    /// Other output (another vCPU's error, shell text) appears inside the dump.
    Interleaved,
    /// The register values describe a state the CPU cannot be in (or that
    /// QEMU would not print), e.g. `CS64` with EFER.LMA=0.
    Inconsistent,
    /// Worth knowing, not damage (e.g. an event line with no dump of its own).
    Note,
}

impl WarningKind {
    /// True when the warning means the dump text itself is damaged
    /// (malformed or truncated), as opposed to a finding about the state.
    pub fn is_damage(self) -> bool {
        matches!(self, WarningKind::Malformed | WarningKind::Truncated)
    }
}

/// What QEMU printed before (or, for TCG triple faults, after) the dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// `error: kvm run failed <strerror>`: the KVM_RUN ioctl failed.
    RunFailed {
        /// Linux errno recovered from the strerror text (`None` if unknown).
        errno: Option<i32>,
        /// Symbolic errno name (`EPERM`, `EFAULT`, ...).
        errno_name: Option<&'static str>,
        /// The strerror text as printed.
        message: String,
        line: u32,
    },
    /// `KVM internal error. Suberror: N` (KVM_EXIT_INTERNAL_ERROR) with the
    /// `extra data[i]` words (linux/kvm.h `kvm_run.internal.data`).
    InternalError {
        suberror: u32,
        /// KVM_INTERNAL_ERROR_* name from linux/kvm.h (EMULATION, SIMUL_EX,
        /// DELIVERY_EV, UNEXPECTED_EXIT_REASON).
        suberror_name: Option<&'static str>,
        #[serde(serialize_with = "hex::vec_u64")]
        extra_data: Vec<u64>,
        /// Line of each `extra data[i]` word (same order as `extra_data`).
        extra_data_lines: Vec<u32>,
        /// An `emulation failure` line followed.
        emulation_failure: bool,
        line: u32,
    },
    /// `KVM: entry failed, hardware error 0x…` (KVM_EXIT_FAIL_ENTRY).
    EntryFailed {
        #[serde(serialize_with = "hex::u64")]
        hardware_error: u64,
        line: u32,
    },
    /// `KVM: exception N exit (error code 0x…)` (KVM_EXIT_EXCEPTION).
    ExceptionExit {
        exception: u32,
        #[serde(serialize_with = "hex::u64")]
        error_code: u64,
        line: u32,
    },
    /// `KVM: unknown exit, hardware reason …` (KVM_EXIT_UNKNOWN) or
    /// `KVM: unknown exit reason N`.
    UnknownExit {
        #[serde(serialize_with = "hex::opt_u64")]
        hardware_reason: Option<u64>,
        exit_reason: Option<u64>,
        message: String,
        line: u32,
    },
    /// `KVM internal error: Encountered a notify exit with invalid context in guest.`
    NotifyExit { line: u32 },
    /// `Failed to get registers: …` / `Failed to put registers …` (QEMU ≥ 8).
    RegistersFailed { message: String, line: u32 },
    /// `CPU Reset (CPU N)` from `-d cpu_reset`: the dump shows the state
    /// just before the reset.
    CpuReset { cpu: u32, line: u32 },
    /// TCG `Triple fault`: printed after the dump it concerns, or just
    /// before the `-d cpu_reset` dump of the reset it caused. `kvmtriage-analyze`
    /// also sets it for a `kvmtriage repro` dump whose exit record says
    /// KVM_EXIT_SHUTDOWN.
    TripleFault { line: u32 },
    /// `qemu: fatal: …` (TCG).
    Fatal { message: String, line: u32 },
    /// No event line: `info registers`, `-d cpu` logs, or a bare dump.
    #[default]
    None,
}

impl Event {
    /// The `kind` tag as it appears in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunFailed { .. } => "run_failed",
            Event::InternalError { .. } => "internal_error",
            Event::EntryFailed { .. } => "entry_failed",
            Event::ExceptionExit { .. } => "exception_exit",
            Event::UnknownExit { .. } => "unknown_exit",
            Event::NotifyExit { .. } => "notify_exit",
            Event::RegistersFailed { .. } => "registers_failed",
            Event::CpuReset { .. } => "cpu_reset",
            Event::TripleFault { .. } => "triple_fault",
            Event::Fatal { .. } => "fatal",
            Event::None => "none",
        }
    }

    /// Input line of the event message, if any.
    pub fn line(&self) -> Option<u32> {
        match self {
            Event::RunFailed { line, .. }
            | Event::InternalError { line, .. }
            | Event::EntryFailed { line, .. }
            | Event::ExceptionExit { line, .. }
            | Event::UnknownExit { line, .. }
            | Event::NotifyExit { line }
            | Event::RegistersFailed { line, .. }
            | Event::CpuReset { line, .. }
            | Event::TripleFault { line }
            | Event::Fatal { line, .. } => Some(*line),
            Event::None => None,
        }
    }
}

/// General-purpose register names. In a 32-bit layout dump `Rax` holds EAX etc.
///
/// Declared (and so ordered by the derived `Ord`) as QEMU prints them: RAX RBX RCX RDX RSI RDI
/// RBP RSP R8 … R31. Renderers rely on that order; the encoding order is [`Gpr::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gpr {
    Rax,
    Rbx,
    Rcx,
    Rdx,
    Rsi,
    Rdi,
    Rbp,
    Rsp,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
    R16,
    R17,
    R18,
    R19,
    R20,
    R21,
    R22,
    R23,
    R24,
    R25,
    R26,
    R27,
    R28,
    R29,
    R30,
    R31,
}

impl Gpr {
    /// All 32 registers in encoding order (RAX=0 … R31=31).
    pub const ALL: [Gpr; 32] = [
        Gpr::Rax,
        Gpr::Rcx,
        Gpr::Rdx,
        Gpr::Rbx,
        Gpr::Rsp,
        Gpr::Rbp,
        Gpr::Rsi,
        Gpr::Rdi,
        Gpr::R8,
        Gpr::R9,
        Gpr::R10,
        Gpr::R11,
        Gpr::R12,
        Gpr::R13,
        Gpr::R14,
        Gpr::R15,
        Gpr::R16,
        Gpr::R17,
        Gpr::R18,
        Gpr::R19,
        Gpr::R20,
        Gpr::R21,
        Gpr::R22,
        Gpr::R23,
        Gpr::R24,
        Gpr::R25,
        Gpr::R26,
        Gpr::R27,
        Gpr::R28,
        Gpr::R29,
        Gpr::R30,
        Gpr::R31,
    ];

    /// x86 register number (RAX=0, RCX=1, RDX=2, RBX=3, RSP=4, …, R31=31).
    pub fn number(self) -> usize {
        match self {
            Gpr::Rax => 0,
            Gpr::Rcx => 1,
            Gpr::Rdx => 2,
            Gpr::Rbx => 3,
            Gpr::Rsp => 4,
            Gpr::Rbp => 5,
            Gpr::Rsi => 6,
            Gpr::Rdi => 7,
            other => other as usize,
        }
    }

    /// 64-bit name (`rax`, `r8`, …).
    pub fn name64(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23",
            "r24", "r25", "r26", "r27", "r28", "r29", "r30", "r31",
        ];
        NAMES[self.number()]
    }

    /// 32-bit name (`eax`, `r8d`, …).
    pub fn name32(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d",
            "r12d", "r13d", "r14d", "r15d", "r16d", "r17d", "r18d", "r19d", "r20d", "r21d", "r22d",
            "r23d", "r24d", "r25d", "r26d", "r27d", "r28d", "r29d", "r30d", "r31d",
        ];
        NAMES[self.number()]
    }

    /// Register by x86 number (0..32).
    pub fn from_number(n: usize) -> Option<Gpr> {
        Gpr::ALL.get(n).copied()
    }
}

/// Which register-block layout QEMU used (64-bit iff CS.L was active).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GprLayout {
    /// `RAX=` … `R15=` (+ `RIP=`/`RFL=`), 16 hex digits.
    Bits64,
    /// `EAX=` … `ESP=` (+ `EIP=`/`EFL=`), 8 hex digits.
    #[default]
    Bits32,
    /// Old qemu-kvm 0.12 lowercase `rax 0000…` pairs.
    Legacy,
}

/// The general-purpose registers as printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeneralRegisters {
    pub layout: GprLayout,
    /// Indexed by [`Gpr::number`]; `None` for registers not in the dump.
    pub values: [Option<Reg>; 32],
    /// True when the APX `R16`..`R31` lines were present.
    pub apx: bool,
}

impl GeneralRegisters {
    pub fn get(&self, r: Gpr) -> Option<&Reg> {
        self.values.get(r.number()).and_then(|v| v.as_ref())
    }
}

impl Serialize for GeneralRegisters {
    /// `{"layout": "bits64", "apx": false, "values": {"rax": {"value": "0x…", "line": 3}, …}}`;
    /// names follow the layout (`eax` … in the 32-bit layout).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Values<'a>(&'a GeneralRegisters);
        impl Serialize for Values<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(None)?;
                for (i, v) in self.0.values.iter().enumerate() {
                    if let (Some(v), Some(r)) = (v, Gpr::from_number(i)) {
                        let name = if self.0.layout == GprLayout::Bits32 {
                            r.name32()
                        } else {
                            r.name64()
                        };
                        m.serialize_entry(name, v)?;
                    }
                }
                m.end()
            }
        }
        let mut st = s.serialize_struct("GeneralRegisters", 3)?;
        st.serialize_field("layout", &self.layout)?;
        st.serialize_field("apx", &self.apx)?;
        st.serialize_field("values", &Values(self))?;
        st.end()
    }
}

/// The `RIP=… RFL=… [flags] CPL=n II=n A20=n SMM=n HLT=n` line's small fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CpuState {
    /// The 7-letter `[DOSZAPC]` text as printed (without brackets).
    pub flags_text: Option<String>,
    pub cpl: Option<u8>,
    pub ii: Option<u8>,
    pub a20: Option<u8>,
    pub smm: Option<u8>,
    pub hlt: Option<u8>,
    pub line: u32,
}

/// Segment register names in dump order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegName {
    Es,
    Cs,
    Ss,
    Ds,
    Fs,
    Gs,
    Ldt,
    Tr,
}

impl SegName {
    pub const ALL: [SegName; 8] = [
        SegName::Es,
        SegName::Cs,
        SegName::Ss,
        SegName::Ds,
        SegName::Fs,
        SegName::Gs,
        SegName::Ldt,
        SegName::Tr,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Upper-case name as QEMU prints it (`ES`, `LDT`, …).
    pub fn name(self) -> &'static str {
        ["ES", "CS", "SS", "DS", "FS", "GS", "LDT", "TR"][self.index()]
    }
}

/// One segment line: `CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub name: SegName,
    #[serde(serialize_with = "hex::u64")]
    pub selector: u64,
    #[serde(serialize_with = "hex::u64")]
    pub base: u64,
    #[serde(serialize_with = "hex::u64")]
    pub limit: u64,
    /// Attribute word as printed (descriptor bits 8–23 in place; very old
    /// QEMU printed the unmasked value).
    #[serde(serialize_with = "hex::u64")]
    pub attributes: u64,
    /// The decode suffix QEMU printed after the attribute word (e.g.
    /// `DPL=0 CS64 [-RA]`), `None` when absent (real mode, not present).
    pub printed_decode: Option<String>,
    pub line: u32,
}

/// All segment registers; missing lines are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Segments {
    pub es: Option<Segment>,
    pub cs: Option<Segment>,
    pub ss: Option<Segment>,
    pub ds: Option<Segment>,
    pub fs: Option<Segment>,
    pub gs: Option<Segment>,
    pub ldt: Option<Segment>,
    pub tr: Option<Segment>,
}

impl Segments {
    pub fn get(&self, n: SegName) -> Option<&Segment> {
        self.slot(n).as_ref()
    }

    pub fn slot(&self, n: SegName) -> &Option<Segment> {
        match n {
            SegName::Es => &self.es,
            SegName::Cs => &self.cs,
            SegName::Ss => &self.ss,
            SegName::Ds => &self.ds,
            SegName::Fs => &self.fs,
            SegName::Gs => &self.gs,
            SegName::Ldt => &self.ldt,
            SegName::Tr => &self.tr,
        }
    }

    pub fn slot_mut(&mut self, n: SegName) -> &mut Option<Segment> {
        match n {
            SegName::Es => &mut self.es,
            SegName::Cs => &mut self.cs,
            SegName::Ss => &mut self.ss,
            SegName::Ds => &mut self.ds,
            SegName::Fs => &mut self.fs,
            SegName::Gs => &mut self.gs,
            SegName::Ldt => &mut self.ldt,
            SegName::Tr => &mut self.tr,
        }
    }
}

/// `GDT=` / `IDT=` line: base and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DescriptorTable {
    #[serde(serialize_with = "hex::u64")]
    pub base: u64,
    #[serde(serialize_with = "hex::u64")]
    pub limit: u64,
    pub line: u32,
}

/// Control registers CR0, CR2, CR3, CR4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ControlRegisters {
    pub cr0: Option<Reg>,
    pub cr2: Option<Reg>,
    pub cr3: Option<Reg>,
    pub cr4: Option<Reg>,
}

/// Debug registers DR0–DR7 (DR4/DR5 are never printed; they alias DR6/DR7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DebugRegisters {
    pub dr0: Option<Reg>,
    pub dr1: Option<Reg>,
    pub dr2: Option<Reg>,
    pub dr3: Option<Reg>,
    pub dr6: Option<Reg>,
    pub dr7: Option<Reg>,
}

/// TCG lazy-flags state `CCS=… CCD=… CCO=…` (only in `-d cpu`/`-d int` logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LazyFlags {
    #[serde(serialize_with = "hex::u64")]
    pub ccs: u64,
    #[serde(serialize_with = "hex::u64")]
    pub ccd: u64,
    /// Operation name (`EFLAGS`, `CLR`, `SUBL`, …), trailing spaces removed.
    pub cco: String,
    pub line: u32,
}

/// x87 register `FPRn=<mantissa> <sign+exponent>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FpReg {
    pub index: u8,
    #[serde(serialize_with = "hex::u64")]
    pub mantissa: u64,
    #[serde(serialize_with = "hex::u64")]
    pub sign_exponent: u64,
    pub line: u32,
}

/// FPU state (`FCW= FSW= [ST=] FTW= MXCSR=` and `FPRn=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Fpu {
    pub fcw: Option<Reg>,
    pub fsw: Option<Reg>,
    /// `[ST=n]`: x87 stack top.
    pub st: Option<u8>,
    pub ftw: Option<Reg>,
    pub mxcsr: Option<Reg>,
    pub fpr: Vec<FpReg>,
}

/// Kind of a vector register line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorKind {
    Xmm,
    Ymm,
    Zmm,
}

/// One `XMMnn=` / `YMMnn=` / `ZMMnn=` register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VectorReg {
    pub kind: VectorKind,
    pub index: u8,
    /// Quadwords, most significant first (2, 4 or 8 of them); JSON: one
    /// `"0x…"` string with every quadword padded to 16 digits.
    #[serde(serialize_with = "hex::wide")]
    pub quads: Vec<u64>,
    pub line: u32,
}

/// One `Opmasknn=` register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpmaskReg {
    pub index: u8,
    #[serde(serialize_with = "hex::u64")]
    pub value: u64,
    pub line: u32,
}

/// The `Code=` window: up to 50 guest bytes around RIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeWindow {
    /// Bytes in order; `None` where QEMU printed `??` (unreadable).
    pub bytes: Vec<Option<u8>>,
    /// Index in `bytes` of the `<xx>` byte at RIP.
    pub marker: Option<usize>,
    /// Line where `Code=` started (continuations may follow).
    pub line: u32,
}

impl CodeWindow {
    /// The window as QEMU prints it: `c3 0f <0f> 30 ?? …`.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.bytes.len() * 3 + 2);
        for (i, b) in self.bytes.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let marked = self.marker == Some(i);
            if marked {
                s.push('<');
            }
            match b {
                Some(b) => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    s.push(char::from(HEX[usize::from(b >> 4)]));
                    s.push(char::from(HEX[usize::from(b & 15)]));
                }
                None => s.push_str("??"),
            }
            if marked {
                s.push('>');
            }
        }
        s
    }
}

impl Serialize for CodeWindow {
    /// `{"bytes": [195, 15, null, …], "marker": 20, "line": 31, "text": "c3 0f ?? …"}`
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CodeWindow", 4)?;
        st.serialize_field("bytes", &self.bytes)?;
        st.serialize_field("marker", &self.marker)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("text", &self.text())?;
        st.end()
    }
}

/// How the code executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModeKind {
    Real,
    Virtual8086,
    Protected16,
    Protected32,
    Compat16,
    Compat32,
    Long64,
    #[default]
    Unknown,
}

/// Paging mode from CR0.PG, CR4.PAE, EFER.LMA, CR4.LA57 (SDM Vol. 3A §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PagingMode {
    None,
    Bits32,
    Pae,
    FourLevel,
    FiveLevel,
    #[default]
    Unknown,
}

/// The CPU mode with the evidence used to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ModeInfo {
    /// Width the code executes in: 16, 32 or 64 (`None` when unknown).
    pub bits: Option<u8>,
    pub kind: ModeKind,
    pub evidence: Vec<String>,
    pub paging: PagingMode,
}

/// One QEMU x86 vCPU state dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Dump {
    /// From a `CPU#N` header (`info registers`), if any.
    pub cpu_index: Option<u32>,
    pub event: Event,
    pub source: Source,
    pub warnings: Vec<Warning>,
    pub mode: ModeInfo,
    pub general: Option<GeneralRegisters>,
    /// RIP (or EIP in the 32-bit layout).
    pub rip: Option<Reg>,
    /// RFLAGS (`RFL=` / `EFL=`).
    pub rflags: Option<Reg>,
    pub state: Option<CpuState>,
    pub segments: Segments,
    pub gdt: Option<DescriptorTable>,
    pub idt: Option<DescriptorTable>,
    pub cr: ControlRegisters,
    pub dr: DebugRegisters,
    pub efer: Option<Reg>,
    pub lazy_flags: Option<LazyFlags>,
    pub fpu: Option<Fpu>,
    pub opmask: Vec<OpmaskReg>,
    pub vectors: Vec<VectorReg>,
    pub code: Option<CodeWindow>,
    /// The record `kvmtriage repro` prints after its QEMU-style dump (the exit data QEMU leaves
    /// out), when the input has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_record: Option<ExitRecord>,
    /// Bit-level decoding of the registers above (see docs/json.md, section "The dump").
    pub decoded: Decoded,
}

/// `kvmtriage: exit record` and its indented `key: value` lines, as `kvmtriage repro` prints
/// them after the dump (docs/repro.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ExitRecord {
    /// Line of the `kvmtriage: exit record` header.
    pub line: u32,
    pub fields: Vec<ExitField>,
}

/// One `key: value` line of an exit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExitField {
    pub key: String,
    pub value: String,
    pub line: u32,
}

impl ExitRecord {
    /// The value of `key` (`exit reason`, `msr index`, ...), if the record has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.key == key)
            .map(|f| f.value.as_str())
    }
}

impl Dump {
    /// A general register. For 32-bit layout dumps this is the 32-bit value.
    pub fn gpr(&self, r: Gpr) -> Option<u64> {
        self.general.as_ref()?.get(r).map(Reg::get)
    }

    pub fn rip(&self) -> Option<u64> {
        self.rip.as_ref().map(Reg::get)
    }

    pub fn rflags(&self) -> Option<u64> {
        self.rflags.as_ref().map(Reg::get)
    }

    pub fn segment(&self, n: SegName) -> Option<&Segment> {
        self.segments.get(n)
    }

    /// CR0, CR2, CR3 or CR4 (`None` for other numbers or when absent).
    pub fn cr(&self, n: u8) -> Option<u64> {
        let r = match n {
            0 => &self.cr.cr0,
            2 => &self.cr.cr2,
            3 => &self.cr.cr3,
            4 => &self.cr.cr4,
            _ => return None,
        };
        r.as_ref().map(Reg::get)
    }

    /// DR0–DR3, DR6, DR7 (DR4/DR5 map to DR6/DR7 as with CR4.DE=0).
    pub fn dr(&self, n: u8) -> Option<u64> {
        let r = match n {
            0 => &self.dr.dr0,
            1 => &self.dr.dr1,
            2 => &self.dr.dr2,
            3 => &self.dr.dr3,
            4 | 6 => &self.dr.dr6,
            5 | 7 => &self.dr.dr7,
            _ => return None,
        };
        r.as_ref().map(Reg::get)
    }

    /// True when any warning says the dump text is damaged.
    pub fn is_damaged(&self) -> bool {
        self.warnings.iter().any(|w| w.kind.is_damage())
    }

    pub fn efer(&self) -> Option<u64> {
        self.efer.as_ref().map(Reg::get)
    }

    /// The CPU mode (computed by the reader; see [`Dump::refresh_decoded`]).
    pub fn mode(&self) -> ModeInfo {
        self.mode.clone()
    }

    /// Recompute `mode`, `decoded` and the consistency warnings from the
    /// register values (the reader does this; call it after building or
    /// editing a `Dump` by hand).
    pub fn refresh_decoded(&mut self) {
        crate::decode::apply(self);
    }
}
