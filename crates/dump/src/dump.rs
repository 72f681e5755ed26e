//! One QEMU x86 vCPU state dump (`x86_cpu_dump_state` in QEMU's `target/i386/cpu-dump.c`) and
//! the event line that preceded it (`kvm_cpu_exec` / `kvm_handle_internal_error` in
//! `accel/kvm/kvm-all.c`), as the reader fills it.
//!
//! The register values live once, in [`CpuState`] (the one model every kvmtriage reader fills);
//! the input line of each value lives in the [`LineTable`] side table; what only QEMU's text has
//! (the register layout, the `[DOSZAPC]` letters, the labels after the segment attribute words)
//! lives in [`Printed`]. The JSON (docs/json.md, section "The dump") is put together from the
//! three by hand (see `json.rs`).

use kvmtriage_model::{
    CodeWindow, CpuState, Event, Field, Gpr, LineTable, ModeDecision, ModeHints, SegName, Segment,
};
use serde::Serialize;

use crate::decode::Decoded;

/// Where in the input a dump was found (1-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Source {
    pub first_line: u32,
    pub last_line: u32,
}

/// Something the reader or the consistency checks noticed, tied to a line (0 when no single line
/// is to blame). The message does not repeat the line: printers prefix it (`FILE:LINE: message`,
/// `line N: message`).
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
    /// A value or token could not be read as QEMU prints it (wrong digit count, not hex, two Code
    /// markers, ...). The dump is damaged.
    Malformed,
    /// The dump ends before its usual end (lines missing or cut mid-line).
    Truncated,
    /// Other output (another vCPU's error, shell text) appears inside the dump.
    Interleaved,
    /// The register values describe a state the CPU cannot be in (or that QEMU would not print),
    /// e.g. `CS64` with EFER.LMA=0.
    Inconsistent,
    /// Worth knowing, not damage (e.g. an event line with no dump of its own).
    Note,
}

impl WarningKind {
    /// True when the warning means the dump text itself is damaged (malformed or truncated), as
    /// opposed to a finding about the state.
    pub fn is_damage(self) -> bool {
        matches!(self, WarningKind::Malformed | WarningKind::Truncated)
    }
}

/// Which register-block layout QEMU used (64-bit iff `HF_CS64_MASK`: EFER.LMA=1 and CS.L=1).
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

/// What only QEMU's text has: how it printed the state, beside the values themselves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Printed {
    /// The register layout (meaningful when [`Printed::gprs`] is true).
    pub layout: GprLayout,
    /// The dump has a general-register block (`RAX=`/`EAX=`/`rax` tokens, even unreadable ones).
    pub gprs: bool,
    /// The 7-letter `[DOSZAPC]` text of the RFLAGS line, without brackets.
    pub flags_text: Option<String>,
    /// What QEMU printed after each segment's attribute word (`DPL=0 CS64 [-RA]`; for the
    /// qemu-kvm 0.12 format the parenthesised field list), by [`SegName::index`].
    pub segment_labels: [Option<String>; 8],
    /// What the labels and the layout say about the CPU mode, for [`ModeDecision::decide`].
    pub hints: ModeHints,
}

impl Printed {
    /// The label printed after `n`'s attribute word.
    pub fn segment_label(&self, n: SegName) -> Option<&str> {
        self.segment_labels[n.index()].as_deref()
    }
}

/// TCG lazy-flags state `CCS=… CCD=… CCO=…` (only in `-d cpu`/`-d int` logs); its line is
/// [`Field::LazyFlags`] in [`Dump::lines`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LazyFlags {
    pub ccs: u64,
    pub ccd: u64,
    /// Operation name (`EFLAGS`, `CLR`, `SUBL`, …), trailing spaces removed.
    pub cco: String,
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

/// One QEMU x86 vCPU state dump.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dump {
    /// From a `CPU#N` header (`info registers`) or a `CPU Reset (CPU N)` line, if any.
    pub cpu_index: Option<u32>,
    pub event: Event,
    pub source: Source,
    pub warnings: Vec<Warning>,
    /// The CPU mode ([`ModeDecision::decide`] on `cpu` with `printed.hints`; see
    /// [`Dump::refresh_decoded`] and [`Dump::override_mode`]).
    pub mode: ModeDecision,
    /// Every register value read.
    pub cpu: CpuState,
    /// The input line of each value in `cpu` (and of the lazy flags and the code window).
    pub lines: LineTable,
    /// What only QEMU's text has.
    pub printed: Printed,
    /// TCG's `CCS= CCD= CCO=`.
    pub lazy_flags: Option<LazyFlags>,
    pub code: Option<CodeWindow>,
    /// The record `kvmtriage repro` prints after its QEMU-style dump (the exit data QEMU leaves
    /// out), when the input has one.
    pub exit_record: Option<ExitRecord>,
    /// Bit-level decoding of the registers (see docs/json.md, section "The dump").
    pub decoded: Decoded,
    /// What a `kvmtriage capture` added for this vCPU (docs/capture.md), when the input is one.
    pub capture: Option<crate::capture::CaptureExtras>,
}

impl Dump {
    /// A general register. For 32-bit layout dumps this is the 32-bit value.
    pub fn gpr(&self, r: Gpr) -> Option<u64> {
        self.cpu.gpr(r)
    }

    /// RIP (EIP in the 32-bit layout).
    pub fn rip(&self) -> Option<u64> {
        self.cpu.rip
    }

    pub fn rflags(&self) -> Option<u64> {
        self.cpu.rflags
    }

    pub fn segment(&self, n: SegName) -> Option<&Segment> {
        self.cpu.segment(n)
    }

    /// CR0, CR2, CR3, CR4 (or CR8, which QEMU does not print) (`None` for other numbers or when
    /// absent).
    pub fn cr(&self, n: u8) -> Option<u64> {
        self.cpu.cr(n)
    }

    /// DR0–DR3, DR6, DR7 (DR4/DR5 read DR6/DR7 as with CR4.DE=0).
    pub fn dr(&self, n: u8) -> Option<u64> {
        self.cpu.dr(n)
    }

    pub fn efer(&self) -> Option<u64> {
        self.cpu.efer
    }

    /// The input line `f` was read from.
    pub fn line(&self, f: Field) -> Option<u32> {
        self.lines.get(f)
    }

    /// True when any warning says the dump text is damaged.
    pub fn is_damaged(&self) -> bool {
        self.warnings.iter().any(|w| w.kind.is_damage())
    }

    /// A dump of a CPU state that was not read from text: `kvmtriage repro` fills `cpu` straight
    /// from KVM and hands it over with the event QEMU would have printed and the `Code=` window.
    /// Nothing has an input line and no QEMU label was seen, so the mode is decided from the
    /// registers alone ([`ModeDecision::decide`] with default hints); `decoded` and the
    /// consistency warnings are computed as for a dump read from text
    /// ([`Dump::refresh_decoded`]). `printed` holds what QEMU would print: a register block in
    /// the 64-bit layout when the mode is 64-bit.
    pub fn from_model(cpu: CpuState, event: Event, code: Option<CodeWindow>) -> Dump {
        let mode = ModeDecision::decide(&cpu, &ModeHints::default());
        let printed = Printed {
            layout: if mode.bits == Some(64) {
                GprLayout::Bits64
            } else {
                GprLayout::Bits32
            },
            gprs: cpu.gprs.iter().any(Option::is_some),
            ..Printed::default()
        };
        let mut dump = Dump {
            event,
            mode,
            cpu,
            printed,
            code,
            ..Dump::default()
        };
        dump.refresh_decoded();
        dump
    }

    /// Recompute `mode` ([`ModeDecision::decide`] with `printed.hints`, keeping a width given by
    /// [`Dump::override_mode`]), `decoded` and the consistency warnings from the register values
    /// (the reader does this; call it after building or editing a `Dump` by hand).
    pub fn refresh_decoded(&mut self) {
        crate::decode::apply(self);
    }

    /// Decode as `bits`-bit code whatever the dump says (`--mode`): `mode` becomes
    /// [`ModeDecision::with_override`], so the JSON, the text, the disassembly and the diagnosis
    /// all see the same width.
    pub fn override_mode(&mut self, bits: u8) {
        self.mode = ModeDecision::decide(&self.cpu, &self.printed.hints).with_override(bits);
    }
}
