//! Code-window disassembly with alignment recovery.
//!
//! QEMU prints up to 20 bytes before RIP (a kernel oops 42), so the window usually starts in the
//! middle of an instruction. We try every start offset before the marker and keep the one whose
//! decoding lands exactly on the marker; see [`analyze_code`] for the exact rule.
//!
//! Everything here is typed: bytes are bytes, addresses integers, registers iced-x86 `Register`s,
//! accesses [`Access`], notes [`Note`]. Text appears only in the serde output (hex through
//! [`kvmtriage_model::hex`]) and in the assembler text and one-line summaries.

use std::fmt;

use iced_x86::{
    Decoder, DecoderError, DecoderOptions, FastFormatter, FlowControl, Formatter, GasFormatter,
    Instruction, InstructionInfoFactory, IntelFormatter, OpAccess, OpKind, Register,
};
use kvmtriage_model::{hex, CodeWindow, CpuState, ModeDecision};
use serde::{Serialize, Serializer};

use crate::effect::{describe_effect, Effect, MsrAccess};
use crate::msrimm::MsrImm;
use crate::registers::{address_register, register_value};
use crate::ser;

/// The code window from a dump: bytes with `None` for `??`, the marker position, and where it sits.
#[derive(Debug, Clone, Copy)]
pub struct CodeInput<'a> {
    /// Window bytes; `None` is a `??` (unreadable) byte.
    pub bytes: &'a [Option<u8>],
    /// Index in `bytes` of the byte shown as `<xx>` (the byte at RIP).
    pub marker: usize,
    /// CPU mode: 16, 32 or 64.
    pub bitness: u32,
    /// RIP/EIP/IP from the dump (offset within CS outside 64-bit mode).
    pub rip: u64,
    /// CS base; added to addresses outside 64-bit mode (real mode: selector * 16).
    pub cs_base: u64,
}

impl<'a> CodeInput<'a> {
    /// The input for a model's code window: the code width from `mode`, RIP and the CS base from
    /// `cpu` (a missing CS counts as base 0). `None` when the window has no marker, the mode has no
    /// width or RIP is missing.
    pub fn from_model(
        window: &'a CodeWindow,
        mode: &ModeDecision,
        cpu: &CpuState,
    ) -> Option<CodeInput<'a>> {
        Some(CodeInput {
            bytes: &window.bytes,
            marker: window.marker?,
            bitness: u32::from(mode.bits?),
            rip: cpu.rip?,
            cs_base: cpu.cs().map_or(0, |cs| cs.base),
        })
    }
}

/// Assembler syntax of the `text` fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    /// Intel syntax (`mov rdi,qword ptr [r13+0x80]`), the default.
    #[default]
    Intel,
    /// AT&T/GNU as syntax (`mov 0x80(%r13),%rdi`).
    Att,
}

/// Options for [`analyze_code`].
#[derive(Debug, Clone, Default)]
pub struct CodeOptions {
    pub syntax: Syntax,
}

/// Result of [`analyze_code`]; serialises to the `code` part of the JSON report (docs/json.md).
#[derive(Debug, Clone, Serialize)]
pub struct CodeAnalysis {
    pub bitness: u32,
    pub syntax: Syntax,
    /// Linear address of the window's first byte.
    #[serde(serialize_with = "hex::u64")]
    pub window_address: u64,
    pub marker: usize,
    pub alignment: Alignment,
    /// The instruction at the marker; `None` when the marker byte is `??` or the input is unusable.
    pub fault: Option<FaultInstruction>,
    pub listing: Vec<ListingLine>,
    /// Things the reader must know: unreadable bytes, uncertain alignment, truncated instructions,
    /// or why nothing was disassembled.
    pub notes: Vec<Note>,
}

impl CodeAnalysis {
    /// Why the window was not disassembled at all (unsupported width, marker outside the window).
    pub fn skipped(&self) -> Option<&Note> {
        self.notes.iter().find(|n| n.skips_listing())
    }
}

/// A note on the code analysis. JSON and `Display`: the sentence shown to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// The width is not 16, 32 or 64: nothing was disassembled.
    UnsupportedBitness { bitness: u32 },
    /// The marker lies outside the window: nothing was disassembled.
    MarkerOutsideWindow { marker: usize, window_len: usize },
    /// The byte at the marker is `??`.
    MarkerUnreadable,
    /// Bytes before `first` are `??`; alignment uses `first..marker`.
    UnreadableBefore { first: usize, marker: usize },
    /// A `??` at `offset` after the marker ends decoding.
    UnreadableAt { offset: usize },
    /// No readable byte before the marker.
    NothingToAlign,
    /// No start offset in `first..marker` lands on the marker.
    NotAligned { first: usize, marker: usize },
    /// Invalid instructions between the chosen start and the marker.
    InvalidBeforeMarker { count: usize },
    /// The instruction at `offset` runs past the readable bytes; `bytes` are shown raw.
    Truncated { offset: usize, bytes: usize },
}

impl Note {
    /// True for the notes that explain why no listing was made.
    pub fn skips_listing(&self) -> bool {
        matches!(
            self,
            Note::UnsupportedBitness { .. } | Note::MarkerOutsideWindow { .. }
        )
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Note::UnsupportedBitness { bitness } => write!(
                f,
                "unsupported bitness {bitness} (expected 16, 32 or 64): not disassembled"
            ),
            Note::MarkerOutsideWindow { marker, window_len } => write!(
                f,
                "marker offset {marker} is outside the {window_len}-byte code window: not disassembled"
            ),
            Note::MarkerUnreadable => f.write_str(
                "the byte at the marker is ?? (unreadable): the faulting instruction is unknown",
            ),
            Note::UnreadableBefore { first, marker } => write!(
                f,
                "bytes before offset {first} are ?? (unreadable); alignment uses offsets {first}..{marker}"
            ),
            Note::UnreadableAt { offset } => {
                write!(f, "?? at offset {offset}: decoding stops there")
            }
            Note::NothingToAlign => {
                f.write_str("no readable bytes before the marker: nothing to align")
            }
            Note::NotAligned { first, marker } => write!(
                f,
                "no start offset in {first}..{marker} decodes onto the marker: bytes before it are uncertain; decoding starts at the marker"
            ),
            Note::InvalidBeforeMarker { count } => write!(
                f,
                "{count} invalid instruction(s) between the aligned start and the marker"
            ),
            Note::Truncated { offset, bytes } => write!(
                f,
                "the instruction at offset {offset} runs past the readable bytes (window end or ??): {bytes} byte(s) shown raw"
            ),
        }
    }
}

impl Serialize for Note {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How the listing was aligned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Alignment {
    /// Decoding from `start_offset` lands exactly on the marker.
    pub synced: bool,
    /// Window offset where the listing's decoding starts (the marker itself when not synced).
    pub start_offset: usize,
    /// Invalid instructions decoded between `start_offset` and the marker.
    pub invalid_before_marker: usize,
    /// How many start offsets before the marker were tried and how many landed on it.
    pub starts_tried: usize,
    pub starts_landing: usize,
    /// Readable range `[first, end)` around the marker (bounded by `??` bytes or the window).
    pub readable_first: usize,
    pub readable_end: usize,
}

/// One line of the listing.
#[derive(Debug, Clone, Serialize)]
pub struct ListingLine {
    #[serde(serialize_with = "hex::u64")]
    pub address: u64,
    pub offset: usize,
    /// The line's bytes; empty only for the line at an unreadable marker. JSON: `"0f 30"`, `"??"`
    /// for the unreadable line.
    #[serde(serialize_with = "ser::listing_bytes")]
    pub bytes: Vec<u8>,
    pub text: String,
    pub is_fault: bool,
    /// false for bytes that decode to no instruction (`(bad)`) or run past the readable range.
    pub valid: bool,
    /// Bytes before the marker that could not be aligned with it (shown raw).
    pub uncertain: bool,
}

impl ListingLine {
    /// The line at an unreadable (`??`) marker: an address, no bytes.
    pub fn is_unreadable(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A prefix byte of the faulting instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prefix {
    /// JSON: two hex digits, `"66"`.
    #[serde(serialize_with = "ser::byte")]
    pub byte: u8,
    /// `lock`, `rep`, `gs`, `operand-size`, `rex.w.b`, …
    pub name: &'static str,
}

named_enum! {
    /// How an instruction uses an operand, a register or a memory location (iced-x86's `OpAccess`).
    pub enum Access {
        None = "none",
        Read = "read",
        CondRead = "cond_read",
        Write = "write",
        CondWrite = "cond_write",
        ReadWrite = "read_write",
        ReadCondWrite = "read_cond_write",
        /// The address is computed but the memory is not accessed as data (`lea`, `invlpg`,
        /// prefetches).
        NoMemAccess = "no_mem_access",
    }
}

impl From<OpAccess> for Access {
    fn from(a: OpAccess) -> Self {
        match a {
            OpAccess::None => Access::None,
            OpAccess::Read => Access::Read,
            OpAccess::CondRead => Access::CondRead,
            OpAccess::Write => Access::Write,
            OpAccess::CondWrite => Access::CondWrite,
            OpAccess::ReadWrite => Access::ReadWrite,
            OpAccess::ReadCondWrite => Access::ReadCondWrite,
            OpAccess::NoMemAccess => Access::NoMemAccess,
        }
    }
}

impl Access {
    /// Reads (possibly conditionally).
    pub fn reads(self) -> bool {
        matches!(
            self,
            Access::Read | Access::CondRead | Access::ReadWrite | Access::ReadCondWrite
        )
    }

    /// Writes (possibly conditionally).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Access::Write | Access::CondWrite | Access::ReadWrite | Access::ReadCondWrite
        )
    }
}

named_enum! {
    /// What an operand of the faulting instruction is.
    pub enum OperandKind {
        Register = "register",
        Immediate = "immediate",
        Memory = "memory",
        NearBranch = "near_branch",
        FarBranch = "far_branch",
    }
}

named_enum! {
    /// Instruction classes the KVM instruction emulator mostly does not implement, from iced-x86's
    /// CPUID feature of the instruction ([`insn_class`]).
    pub enum InsnClass {
        X87 = "x87",
        Sse = "sse",
        Avx = "avx",
        Xsave = "xsave",
        Mmx = "mmx",
    }
}

/// The [`InsnClass`] of a decoded instruction (its first CPUID feature that has one), `None` for
/// ordinary integer and system instructions and for invalid ones.
pub fn insn_class(instr: &Instruction) -> Option<InsnClass> {
    use iced_x86::CpuidFeature as F;
    if instr.is_invalid() {
        return None;
    }
    instr.cpuid_features().iter().find_map(|f| {
        Some(match f {
            F::FPU | F::FPU287 | F::FPU387 | F::FPU387SL_ONLY => InsnClass::X87,
            F::MMX => InsnClass::Mmx,
            F::SSE | F::SSE2 | F::SSE3 | F::SSSE3 | F::SSE4_1 | F::SSE4_2 | F::SSE4A => {
                InsnClass::Sse
            }
            F::AVX
            | F::AVX2
            | F::AVX512F
            | F::AVX512BW
            | F::AVX512DQ
            | F::AVX512VL
            | F::FMA
            | F::F16C => InsnClass::Avx,
            F::XSAVE | F::XSAVEC | F::XSAVEOPT | F::XSAVES | F::FXSR => InsnClass::Xsave,
            _ => return None,
        })
    })
}

/// One operand of the faulting instruction.
#[derive(Debug, Clone, Serialize)]
pub struct Operand {
    pub kind: OperandKind,
    pub text: String,
    pub access: Access,
    /// The register of a register operand; JSON: its lowercase name (`rax`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser::opt_register"
    )]
    pub register: Option<Register>,
    /// Register value from the dump, immediate, branch target, or a memory operand's linear address.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "hex::opt_u64"
    )]
    pub value: Option<u64>,
}

/// A register the instruction reads or writes (iced-x86 instruction info).
#[derive(Debug, Clone, Serialize)]
pub struct RegisterUse {
    /// JSON: the lowercase name (`ecx`).
    #[serde(serialize_with = "ser::register")]
    pub register: Register,
    pub access: Access,
    /// Value before the instruction, from the dump (`None` if the dump does not have it).
    #[serde(serialize_with = "hex::opt_u64")]
    pub value: Option<u64>,
}

/// A memory access of the instruction with its effective address from the dumped registers.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryAccess {
    /// e.g. `gs:[0x0]`, `ds:[rdi-0x8]`.
    pub expression: String,
    /// The segment register; JSON: its name, `""` when there is none.
    #[serde(serialize_with = "ser::segment_or_empty")]
    pub segment: Option<Register>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser::opt_register"
    )]
    pub base: Option<Register>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser::opt_register"
    )]
    pub index: Option<Register>,
    pub scale: u32,
    #[serde(serialize_with = "hex::u64")]
    pub displacement: u64,
    /// Bytes accessed (0 when not an ordinary data access, e.g. `lea`, `invlpg`).
    pub size: usize,
    pub access: Access,
    /// Linear address (segment base + offset), if every register it needs is in the dump.
    #[serde(serialize_with = "hex::opt_u64")]
    pub address: Option<u64>,
    /// Registers needed for the address that the dump does not give (a segment register here
    /// stands for its base).
    #[serde(serialize_with = "ser::registers")]
    pub unknown_registers: Vec<Register>,
}

/// The instruction at the marker, decoded once and explained.
///
/// Downstream code reads the decoded instruction from here ([`FaultInstruction::instruction`],
/// [`FaultInstruction::class`], [`FaultInstruction::msr`]) rather than decoding `bytes` again.
#[derive(Debug, Clone, Serialize)]
pub struct FaultInstruction {
    #[serde(serialize_with = "hex::u64")]
    pub address: u64,
    /// The instruction's bytes; JSON: `"0f 30"`.
    #[serde(serialize_with = "hex::byte_string")]
    pub bytes: Vec<u8>,
    pub length: usize,
    /// Lowercase Intel mnemonic without prefixes (`wrmsr`); `(bad)` if the bytes are not an instruction.
    pub mnemonic: String,
    /// Whole instruction in the requested syntax.
    pub text: String,
    /// Whether alignment recovery landed on the marker (the listing before it is trustworthy).
    pub synced: bool,
    pub valid: bool,
    pub prefixes: Vec<Prefix>,
    pub operands: Vec<Operand>,
    pub registers: Vec<RegisterUse>,
    pub memory: Vec<MemoryAccess>,
    /// For RDMSR/WRMSR/WRMSRNS (and their immediate forms): the MSR, the direction and the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msr: Option<MsrAccess>,
    pub effect: Effect,
    /// The decoded instruction; `None` when `valid` is false (`(bad)`, truncated) and for the
    /// immediate-form MSR instructions, which iced-x86 does not decode (see `imm_msr`).
    #[serde(skip)]
    pub instruction: Option<Instruction>,
    /// The immediate form of RDMSR/WRMSRNS at the marker, decoded by [`crate::msrimm`].
    #[serde(skip)]
    pub imm_msr: Option<MsrImm>,
}

impl FaultInstruction {
    /// The instruction's class (x87, SSE, AVX, XSAVE, MMX), from the decoded instruction; `None`
    /// for other instructions, invalid bytes and the immediate-form MSR instructions.
    pub fn class(&self) -> Option<InsnClass> {
        self.instruction.as_ref().and_then(insn_class)
    }
}

/// One decoded offset of the readable range.
#[derive(Clone, Copy)]
struct Decoded {
    instr: Instruction,
    /// The instruction runs past the readable bytes.
    no_more_bytes: bool,
    /// iced-x86 rejects it, but it is an immediate-form RDMSR/WRMSRNS.
    imm: Option<MsrImm>,
    /// Compilers never emit this form (64-bit mode only); see [`is_decoding_artefact`].
    artefact: bool,
}

impl Decoded {
    /// Bytes to advance: the instruction length, or 1 for an invalid byte.
    fn step(&self) -> usize {
        match self.imm {
            Some(m) => m.len,
            None if self.instr.is_invalid() => 1,
            None => self.instr.len(),
        }
    }

    fn is_invalid(&self) -> bool {
        self.instr.is_invalid() && self.imm.is_none()
    }
}

/// Decodes each offset of the readable range at most once.
struct Memo<'a> {
    decoder: Decoder<'a>,
    known: &'a [u8],
    bitness: u32,
    table: Vec<Option<Decoded>>,
    window_ip: u64,
    first: usize,
    ip_mask: u64,
}

impl<'a> Memo<'a> {
    fn new(bitness: u32, known: &'a [u8], window_ip: u64, first: usize, ip_mask: u64) -> Self {
        Memo {
            decoder: Decoder::with_ip(bitness, known, window_ip, DecoderOptions::NONE),
            known,
            bitness,
            table: vec![None; known.len()],
            window_ip,
            first,
            ip_mask,
        }
    }

    /// The instruction at `pos` (an index into the readable bytes, `pos < len`).
    fn get(&mut self, pos: usize) -> Decoded {
        if let Some(Some(d)) = self.table.get(pos) {
            return *d;
        }
        let mut instr = Instruction::default();
        self.decoder
            .set_ip(self.window_ip.wrapping_add((self.first + pos) as u64) & self.ip_mask);
        // set_position only fails past the end; callers stay below it, and an Instruction::default()
        // is invalid, so a failure would read as a bad byte rather than a panic.
        let no_more_bytes = if self.decoder.set_position(pos).is_ok() {
            self.decoder.decode_out(&mut instr);
            instr.is_invalid() && self.decoder.last_error() == DecoderError::NoMoreBytes
        } else {
            false
        };
        let imm = if instr.is_invalid() {
            self.known
                .get(pos..)
                .and_then(|b| crate::msrimm::decode(b, self.bitness))
        } else {
            None
        };
        let artefact = self.bitness == 64
            && imm.is_none()
            && !instr.is_invalid()
            && is_decoding_artefact(&instr, &self.known[pos..pos + instr.len()]);
        let d = Decoded {
            instr,
            no_more_bytes: no_more_bytes && imm.is_none(),
            imm,
            artefact,
        };
        if let Some(slot) = self.table.get_mut(pos) {
            *slot = Some(d);
        }
        d
    }
}

/// Result of decoding from one start offset up to the marker.
struct Attempt {
    start: usize,
    landed: bool,
    invalid: usize,
    artefacts: usize,
}

/// Disassembles the code window and explains the instruction at the marker.
///
/// Alignment rule: every start offset `s` in the readable range before the marker is decoded
/// linearly (an invalid byte counts one invalid instruction and advances one byte). Starts whose
/// decoding lands exactly on the marker are candidates. The winner has the fewest invalid
/// instructions; among those, the lowest score `5 × artefacts + s` (bytes left out of the listing
/// cost 1 each; an artefact is an encoding that 64-bit compilers never emit but that the middle of
/// a real instruction decodes to, see `is_decoding_artefact`; counted in 64-bit mode only); ties go
/// to the earliest start (most context). So an earlier start wins unless it needs an artefact
/// (`00 00` = `add [rax],al`, `24 xx` = `and al,imm8`, a doubled prefix) that a start at most 4
/// bytes later avoids. Outside 64-bit mode this is the plain earliest-start rule.
///
/// Measured (docs/disasm-differential.md): on 6,000 QEMU-shaped windows cut from real x86-64 code
/// (libc.so.6 and a Rust executable, truth from function symbols; tests/alignment_real_code.rs) the
/// instruction before the fault is right in 99.9-100% (earliest start: 97.7-98.9%) and the whole
/// listing before it is exact in 74-75% (earliest start: 30-37%; most of the rest is an extra first
/// line made of the tail of the instruction the window cuts, which no rule can tell apart). On
/// 12,000 generated random-instruction windows (tests/differential.rs) the previous instruction is
/// right in 93.4% (earliest start: 93.8%). If none lands, decoding starts at the marker and the
/// bytes before it are listed raw and flagged `uncertain`. `??` bytes bound the readable range.
pub fn analyze_code(input: &CodeInput, state: &CpuState, opts: &CodeOptions) -> CodeAnalysis {
    let bitness = input.bitness;
    let mut notes = Vec::new();
    let ip_mask = match bitness {
        16 => 0xffff,
        32 => 0xffff_ffff,
        _ => u64::MAX,
    };
    let window_ip = input.rip.wrapping_sub(input.marker as u64) & ip_mask;
    let linear = |offset: usize| -> u64 {
        let ip = window_ip.wrapping_add(offset as u64) & ip_mask;
        if bitness == 64 {
            ip
        } else {
            input.cs_base.wrapping_add(ip)
        }
    };
    let mut analysis = CodeAnalysis {
        bitness,
        syntax: opts.syntax,
        window_address: linear(0),
        marker: input.marker,
        alignment: Alignment::default(),
        fault: None,
        listing: Vec::new(),
        notes: Vec::new(),
    };
    if !matches!(bitness, 16 | 32 | 64) {
        notes.push(Note::UnsupportedBitness { bitness });
        analysis.notes = notes;
        return analysis;
    }
    if input.marker >= input.bytes.len() {
        notes.push(Note::MarkerOutsideWindow {
            marker: input.marker,
            window_len: input.bytes.len(),
        });
        analysis.notes = notes;
        return analysis;
    }
    // An unreadable byte at RIP (a jump into unbacked memory, or off the end of RAM) still leaves
    // the bytes before it: they show how the vCPU got there, so they are aligned and listed too.
    let marker_unreadable = input.bytes[input.marker].is_none();
    if marker_unreadable {
        notes.push(Note::MarkerUnreadable);
    }

    // Readable range [first, end) around the marker (ending at the marker when RIP is unreadable).
    let first = input.bytes[..input.marker]
        .iter()
        .rposition(Option::is_none)
        .map_or(0, |p| p + 1);
    let end = if marker_unreadable {
        input.marker
    } else {
        input.bytes[input.marker..]
            .iter()
            .position(Option::is_none)
            .map_or(input.bytes.len(), |p| input.marker + p)
    };
    if marker_unreadable && first == end {
        analysis.alignment.readable_first = input.marker;
        analysis.alignment.readable_end = input.marker;
        analysis
            .listing
            .push(unreadable_marker_line(input, linear(input.marker)));
        analysis.notes = notes;
        return analysis;
    }
    if first > 0 {
        notes.push(Note::UnreadableBefore {
            first,
            marker: input.marker,
        });
    }
    if end < input.bytes.len() && !marker_unreadable {
        notes.push(Note::UnreadableAt { offset: end });
    }
    let known: Vec<u8> = input.bytes[first..end]
        .iter()
        .map(|b| b.unwrap_or(0))
        .collect();
    let marker_rel = input.marker - first;

    // Alignment recovery.
    let mut memo = Memo::new(bitness, &known, window_ip, first, ip_mask);
    // For each start p before the marker, walk forward (memoised decodes, so each offset is decoded
    // at most once): next(p) = p + length, or p + 1 after an invalid byte.
    let attempts: Vec<Attempt> = (0..marker_rel)
        .map(|s| {
            let mut pos = s;
            let mut invalid = 0;
            let mut artefacts = 0;
            while pos < marker_rel {
                let d = memo.get(pos);
                if d.is_invalid() {
                    invalid += 1;
                }
                if d.artefact {
                    artefacts += 1;
                }
                pos += d.step();
            }
            Attempt {
                start: s,
                landed: pos == marker_rel,
                invalid,
                artefacts,
            }
        })
        .collect();
    let best = attempts.iter().filter(|a| a.landed).min_by_key(|a| {
        (
            a.invalid,
            a.artefacts * ARTEFACT_COST + a.start * SKIPPED_BYTE_COST,
            a.start,
        )
    });
    let synced = marker_rel == 0 || best.is_some();
    let start_rel = best.map_or(marker_rel, |a| a.start);
    analysis.alignment = Alignment {
        synced,
        start_offset: first + start_rel,
        invalid_before_marker: best.map_or(0, |a| a.invalid),
        starts_tried: attempts.len(),
        starts_landing: attempts.iter().filter(|a| a.landed).count(),
        readable_first: first,
        readable_end: end,
    };
    if marker_rel == 0 && input.marker > 0 {
        notes.push(Note::NothingToAlign);
    }
    if !synced {
        notes.push(Note::NotAligned {
            first,
            marker: input.marker,
        });
        analysis.listing.push(ListingLine {
            address: linear(first),
            offset: first,
            bytes: known[..marker_rel].to_vec(),
            text: format!("(uncertain: {marker_rel} bytes not aligned with the marker)"),
            is_fault: false,
            valid: false,
            uncertain: true,
        });
    } else if let Some(b) = best {
        if b.invalid > 0 {
            notes.push(Note::InvalidBeforeMarker { count: b.invalid });
        }
    }

    // Listing.
    // Formatter construction is a noticeable part of a ~10 µs analysis: reuse one per thread.
    with_formatter(opts.syntax, |fmt| {
        finish_listing(
            fmt,
            &mut memo,
            &known,
            first,
            start_rel,
            marker_rel,
            synced,
            bitness,
            state,
            &linear,
            input,
            &mut analysis,
            &mut notes,
        );
    });
    if marker_unreadable {
        analysis
            .listing
            .push(unreadable_marker_line(input, linear(input.marker)));
    }
    analysis.notes = notes;
    analysis
}

/// The listing line at an unreadable marker: where the vCPU was, with nothing to decode.
fn unreadable_marker_line(input: &CodeInput, address: u64) -> ListingLine {
    ListingLine {
        address,
        offset: input.marker,
        bytes: Vec::new(),
        text: "(unreadable)".to_string(),
        is_fault: true,
        valid: false,
        uncertain: false,
    }
}

/// Alignment score of each byte a start offset leaves out of the listing. Weighed against
/// [`ARTEFACT_COST`], a start that needs a decoding artefact loses to one up to 4 bytes later
/// without it (a typical x86-64 instruction is 3-5 bytes long).
const SKIPPED_BYTE_COST: usize = 1;
/// Alignment score of one [`is_decoding_artefact`] instruction on a landing path. Costs 2 to 10
/// were measured (docs/disasm-differential.md): 5 gives nearly all of 6's gain on real code and
/// keeps more margin on the random-stream test.
const ARTEFACT_COST: usize = 5;

/// True for encodings that compilers and assemblers for 64-bit code practically never emit, but
/// that the ModRM, SIB, displacement and immediate bytes of real instructions decode to when
/// decoding starts inside an instruction: `00 00` (add [rax],al), `24 08` (and al,0x8 from a SIB
/// byte), `64 64 49 bf` (a doubled FS prefix), `40 4c 8b` (a REX before a REX). Used only to choose
/// between start offsets that all land on the marker, and only in 64-bit mode (the classes were
/// measured on 64-bit code: in libc.so.6 and a Rust executable, `00 00` is about 1,600 times as
/// frequent off instruction boundaries as on them). Privileged and I/O instructions are NOT in the
/// list: guest kernels and firmware, which is what a KVM dump shows, use them.
fn is_decoding_artefact(instr: &Instruction, bytes: &[u8]) -> bool {
    use iced_x86::Code as C;
    use iced_x86::Mnemonic as M;
    // 8-bit ALU forms with a register operand, and the AL,imm8 short forms (not cmp/test/mov, which
    // compilers use for bytes).
    let byte_alu = matches!(
        instr.code(),
        C::Add_rm8_r8
            | C::Add_r8_rm8
            | C::Adc_rm8_r8
            | C::Adc_r8_rm8
            | C::Sbb_rm8_r8
            | C::Sbb_r8_rm8
            | C::Sub_rm8_r8
            | C::Sub_r8_rm8
            | C::Or_rm8_r8
            | C::Or_r8_rm8
            | C::And_rm8_r8
            | C::And_r8_rm8
            | C::Xor_rm8_r8
            | C::Xor_r8_rm8
            | C::Add_AL_imm8
            | C::Adc_AL_imm8
            | C::Sbb_AL_imm8
            | C::Sub_AL_imm8
            | C::Or_AL_imm8
            | C::And_AL_imm8
            | C::Xor_AL_imm8
    );
    // Instructions compiled 64-bit code does without (carry arithmetic, legacy control transfers,
    // string I/O, flag twiddling), and odd forms of common ones (moffs moves, xchg with eax,
    // 8-bit rotates, inc/dec of a 32-bit memory operand).
    let rare = matches!(
        instr.mnemonic(),
        M::Adc
            | M::Sbb
            | M::Rcl
            | M::Rcr
            | M::Sal
            | M::Enter
            | M::Retf
            | M::Loop
            | M::Loope
            | M::Loopne
            | M::Xlatb
            | M::Clc
            | M::Stc
            | M::Cmc
            | M::Std
            | M::Int1
            | M::Cwde
            | M::Insb
            | M::Insw
            | M::Insd
            | M::Outsb
            | M::Outsw
            | M::Outsd
            | M::Iretd
            | M::Iret
    ) || matches!(
        instr.code(),
        C::Retnq_imm16
            | C::Mov_AL_moffs8
            | C::Mov_AX_moffs16
            | C::Mov_EAX_moffs32
            | C::Mov_RAX_moffs64
            | C::Mov_moffs8_AL
            | C::Mov_moffs16_AX
            | C::Mov_moffs32_EAX
            | C::Mov_moffs64_RAX
            | C::Xchg_r16_AX
            | C::Xchg_r32_EAX
            | C::Xchg_r64_RAX
            | C::Rol_rm8_1
            | C::Rol_rm8_CL
            | C::Rol_rm8_imm8
            | C::Ror_rm8_1
            | C::Ror_rm8_CL
            | C::Ror_rm8_imm8
    ) || (matches!(instr.code(), C::Inc_rm32 | C::Dec_rm32)
        && instr.op0_kind() == OpKind::Memory);
    // MMX registers (64-bit compilers use SSE) and the legacy high-byte registers.
    let odd_register = (0..instr.op_count()).any(|i| {
        instr.op_kind(i) == OpKind::Register && {
            let r = instr.op_register(i);
            r.is_mm() || matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
        }
    });
    byte_alu || rare || odd_register || redundant_prefixes(instr, bytes)
}

/// Prefixes no 64-bit compiler writes: two of one group (`64 64`, `f3 f3`), a REX followed by
/// another prefix (the CPU ignores such a REX), CS/DS/ES/SS overrides (no effect in 64-bit mode),
/// FS/GS without a memory operand, and an address-size override. NOPs are exempt (padding repeats
/// `66` and adds `2e` on purpose), and branches may carry 2e/3e hints, `3e` notrack and `67`
/// (linker call relaxation).
fn redundant_prefixes(instr: &Instruction, bytes: &[u8]) -> bool {
    if instr.mnemonic() == iced_x86::Mnemonic::Nop {
        return false;
    }
    let is_branch = matches!(
        instr.flow_control(),
        FlowControl::ConditionalBranch
            | FlowControl::UnconditionalBranch
            | FlowControl::IndirectBranch
            | FlowControl::Call
            | FlowControl::IndirectCall
    );
    let is_legacy_prefix = |b: u8| {
        matches!(
            b,
            0xf0 | 0xf2 | 0xf3 | 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67
        )
    };
    let mut seen = [false; 4];
    for (i, &b) in bytes.iter().enumerate() {
        let group = match b {
            0xf0 | 0xf2 | 0xf3 => 0,
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => 1,
            0x66 => 2,
            0x67 => 3,
            0x40..=0x4f => {
                let next = bytes.get(i + 1).copied().unwrap_or(0);
                return (0x40..=0x4f).contains(&next) || is_legacy_prefix(next);
            }
            _ => return false,
        };
        if std::mem::replace(&mut seen[group], true) {
            return true;
        }
        let useless = match b {
            0x26 | 0x2e | 0x36 | 0x3e | 0x67 => !is_branch,
            0x64 | 0x65 => !has_memory_operand(instr),
            _ => false,
        };
        if useless {
            return true;
        }
    }
    false
}

/// Whether any operand is in memory (explicit or a string operand).
fn has_memory_operand(instr: &Instruction) -> bool {
    (0..instr.op_count()).any(|i| {
        !matches!(
            instr.op_kind(i),
            OpKind::Register
                | OpKind::NearBranch16
                | OpKind::NearBranch32
                | OpKind::NearBranch64
                | OpKind::FarBranch16
                | OpKind::FarBranch32
                | OpKind::Immediate8
                | OpKind::Immediate8_2nd
                | OpKind::Immediate16
                | OpKind::Immediate32
                | OpKind::Immediate64
                | OpKind::Immediate8to16
                | OpKind::Immediate8to32
                | OpKind::Immediate8to64
                | OpKind::Immediate32to64
        )
    })
}

/// A lazily built formatter (Intel or AT&T).
type CachedFormatter = Option<TextFormatter>;

thread_local! {
    pub(crate) static FACTORY: std::cell::RefCell<InstructionInfoFactory> = std::cell::RefCell::new(InstructionInfoFactory::new());
    static FORMATTERS: std::cell::RefCell<(CachedFormatter, CachedFormatter)> =
        const { std::cell::RefCell::new((None, None)) };
    /// The full Intel formatter, built only when an operand's text cannot be taken from the fast
    /// formatter's output (see [`TextFormatter::operand_texts`]).
    static FULL_INTEL: std::cell::RefCell<Option<Box<dyn Formatter>>> = const { std::cell::RefCell::new(None) };
}

/// Formats listing lines and operands.
///
/// Intel syntax uses iced-x86's `FastFormatter`: building the full `IntelFormatter`'s tables costs
/// about 2.6 million instructions, more than the rest of a whole `explain` run together, while the
/// fast one prints the same text for the options used here. AT&T syntax, asked for explicitly,
/// uses the `GasFormatter`.
pub(crate) enum TextFormatter {
    Fast(Box<FastFormatter>),
    Full(Box<dyn Formatter>),
}

impl TextFormatter {
    pub(crate) fn new(syntax: Syntax) -> Self {
        match syntax {
            Syntax::Intel => {
                let mut f = FastFormatter::new();
                let o = f.options_mut();
                o.set_use_hex_prefix(true);
                o.set_uppercase_hex(false);
                o.set_rip_relative_addresses(true);
                o.set_space_after_operand_separator(false);
                o.set_always_show_memory_size(true);
                TextFormatter::Fast(Box::new(f))
            }
            Syntax::Att => TextFormatter::Full(make_formatter(Syntax::Att)),
        }
    }

    pub(crate) fn format(&mut self, instr: &Instruction, out: &mut String) {
        match self {
            TextFormatter::Fast(f) => f.format(instr, out),
            TextFormatter::Full(f) => f.format(instr, out),
        }
    }

    /// The text of each of the instruction's operands (empty where the formatter shows none).
    fn operand_texts(&mut self, instr: &Instruction, formatted: &str) -> Vec<String> {
        let count = instr.op_count() as usize;
        if let TextFormatter::Fast(_) = self {
            if let Some(parts) = split_intel_operands(formatted, &intel_mnemonic(instr)) {
                if parts.len() == count {
                    return parts;
                }
            }
            // Hidden or extra operands: ask the full formatter, built once per thread.
            return FULL_INTEL.with(|cell| {
                let mut slot = cell.borrow_mut();
                let full = slot.get_or_insert_with(|| make_formatter(Syntax::Intel));
                formatter_operands(full.as_mut(), instr)
            });
        }
        match self {
            TextFormatter::Full(f) => formatter_operands(f.as_mut(), instr),
            TextFormatter::Fast(_) => Vec::new(),
        }
    }
}

fn formatter_operands(fmt: &mut dyn Formatter, instr: &Instruction) -> Vec<String> {
    (0..instr.op_count())
        .map(|i| {
            let mut text = String::new();
            if let Ok(Some(fi)) = fmt.get_formatter_operand(instr, i) {
                let _ = fmt.format_operand(instr, &mut text, fi);
            }
            text
        })
        .collect()
}

/// Splits `lock add dword ptr [rax],0x1` into `["dword ptr [rax]", "0x1"]`: the text after the
/// mnemonic, cut at commas outside brackets and braces. `None` when the mnemonic is not found
/// as a word.
fn split_intel_operands(text: &str, mnemonic: &str) -> Option<Vec<String>> {
    let mut rest = None;
    let mut offset = 0;
    for word in text.split(' ') {
        let end = offset + word.len();
        if word == mnemonic {
            rest = Some(text.get(end..).unwrap_or("").trim_start());
            break;
        }
        offset = end + 1;
    }
    let rest = rest?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(rest[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(rest[start..].to_string());
    Some(parts)
}

/// Decodes and formats the listing from `start_rel`, and builds the fault instruction.
#[allow(clippy::too_many_arguments)]
fn finish_listing(
    fmt: &mut TextFormatter,
    memo: &mut Memo<'_>,
    known: &[u8],
    first: usize,
    start_rel: usize,
    marker_rel: usize,
    synced: bool,
    bitness: u32,
    state: &CpuState,
    linear: &dyn Fn(usize) -> u64,
    input: &CodeInput,
    analysis: &mut CodeAnalysis,
    notes: &mut Vec<Note>,
) {
    let syntax = analysis.syntax;
    let mut pos = start_rel;
    analysis
        .listing
        .reserve(known.len().saturating_sub(start_rel) / 3 + 2);
    let mut fault_instr: Option<(Decoded, bool, usize)> = None;
    while pos < known.len() {
        let d = memo.get(pos);
        let instr = d.instr;
        let offset = first + pos;
        let is_fault = offset == input.marker;
        let (len, valid, line_text) = if let Some(m) = d.imm {
            (m.len, true, crate::msrimm::text(&m, syntax))
        } else if instr.is_invalid() {
            if d.no_more_bytes && offset >= input.marker {
                let rest = known.len() - pos;
                notes.push(Note::Truncated {
                    offset,
                    bytes: rest,
                });
                (rest, false, "(truncated)".to_string())
            } else {
                (1, false, "(bad)".to_string())
            }
        } else {
            let mut text = String::with_capacity(40);
            fmt.format(&instr, &mut text);
            (instr.len(), true, text)
        };
        let len = len.max(1).min(known.len() - pos);
        if is_fault {
            fault_instr = Some((d, valid, len));
        }
        analysis.listing.push(ListingLine {
            address: linear(offset),
            offset,
            bytes: known[pos..pos + len].to_vec(),
            text: line_text,
            is_fault,
            valid,
            uncertain: false,
        });
        pos += len;
    }

    if let Some((d, valid, len)) = fault_instr {
        let bytes = &known[marker_rel..(marker_rel + len).min(known.len())];
        if let Some(m) = d.imm {
            analysis.fault = Some(build_msr_imm_fault(
                &m,
                bytes,
                linear(input.marker),
                synced,
                state,
                syntax,
            ));
            return;
        }
        analysis.fault = Some(build_fault(
            fmt,
            &d.instr,
            valid,
            d.no_more_bytes,
            bytes,
            linear(input.marker),
            synced,
            bitness,
            state,
        ));
    }
}

/// Formatter used for listing text.
pub(crate) fn make_formatter(syntax: Syntax) -> Box<dyn Formatter> {
    let mut f: Box<dyn Formatter> = match syntax {
        Syntax::Intel => Box::new(IntelFormatter::new()),
        Syntax::Att => Box::new(GasFormatter::new()),
    };
    let o = f.options_mut();
    o.set_hex_prefix("0x");
    o.set_hex_suffix("");
    o.set_uppercase_hex(false);
    o.set_rip_relative_addresses(true);
    o.set_space_after_operand_separator(false);
    o.set_branch_leading_zeros(false);
    // Always print the operand size (`nop dword ptr [rax+rax]`), as objdump does.
    o.set_memory_size_options(iced_x86::MemorySizeOptions::Always);
    f
}

/// One instruction as the listings print it, in `syntax` (the same formatter and options as
/// [`analyze_code`]'s listing, built once per thread).
pub fn format_instruction(instr: &Instruction, syntax: Syntax) -> String {
    let mut text = String::with_capacity(40);
    with_formatter(syntax, |fmt| fmt.format(instr, &mut text));
    text
}

/// Runs `f` with this thread's formatter for `syntax`, building it on first use. A nested call
/// (only possible from inside `f`) gets a fresh formatter instead of a borrow panic.
fn with_formatter<R>(syntax: Syntax, f: impl FnOnce(&mut TextFormatter) -> R) -> R {
    FORMATTERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let fmt = match syntax {
                Syntax::Intel => &mut slot.0,
                Syntax::Att => &mut slot.1,
            };
            f(fmt.get_or_insert_with(|| TextFormatter::new(syntax)))
        }
        Err(_) => f(&mut TextFormatter::new(syntax)),
    })
}

/// Lowercase mnemonic without prefixes (`wrmsr`, `xsave64`, `retf`, `movsb`): iced-x86's
/// `Mnemonic` name, which is the Intel-syntax mnemonic; `(bad)` for invalid instructions.
pub fn intel_mnemonic(instr: &Instruction) -> String {
    if instr.is_invalid() {
        return "(bad)".to_string();
    }
    format!("{:?}", instr.mnemonic()).to_ascii_lowercase()
}

fn prefix_name(byte: u8) -> Option<&'static str> {
    Some(match byte {
        0xf0 => "lock",
        0xf2 => "repne/bnd",
        0xf3 => "rep",
        0x2e => "cs",
        0x36 => "ss",
        0x3e => "ds",
        0x26 => "es",
        0x64 => "fs",
        0x65 => "gs",
        0x66 => "operand-size",
        0x67 => "address-size",
        _ => return None,
    })
}

/// REX prefix names by the low four bits (W R X B).
const REX_NAMES: [&str; 16] = [
    "rex",
    "rex.b",
    "rex.x",
    "rex.x.b",
    "rex.r",
    "rex.r.b",
    "rex.r.x",
    "rex.r.x.b",
    "rex.w",
    "rex.w.b",
    "rex.w.x",
    "rex.w.x.b",
    "rex.w.r",
    "rex.w.r.b",
    "rex.w.r.x",
    "rex.w.r.x.b",
];

fn prefixes(bytes: &[u8], bitness: u32) -> Vec<Prefix> {
    let mut out = Vec::new();
    for &byte in bytes {
        if let Some(name) = prefix_name(byte) {
            out.push(Prefix { byte, name });
        } else if bitness == 64 && (0x40..=0x4f).contains(&byte) {
            out.push(Prefix {
                byte,
                name: REX_NAMES[usize::from(byte & 0xf)],
            });
            // REX must be the last prefix; stop at it.
            break;
        } else {
            break;
        }
    }
    out
}

/// `Some(reg)` unless it is `Register::None`.
fn some_reg(reg: Register) -> Option<Register> {
    (reg != Register::None).then_some(reg)
}

#[allow(clippy::too_many_arguments)]
fn build_fault(
    fmt: &mut TextFormatter,
    instr: &Instruction,
    valid: bool,
    truncated: bool,
    bytes: &[u8],
    address: u64,
    synced: bool,
    bitness: u32,
    state: &CpuState,
) -> FaultInstruction {
    let mut text = String::new();
    if valid {
        fmt.format(instr, &mut text);
    } else {
        text.push_str("(bad)");
    }
    let mut fault = FaultInstruction {
        address,
        bytes: bytes.to_vec(),
        length: bytes.len(),
        mnemonic: if valid {
            intel_mnemonic(instr)
        } else {
            "(bad)".to_string()
        },
        text,
        synced,
        valid,
        prefixes: prefixes(bytes, bitness),
        operands: Vec::new(),
        registers: Vec::new(),
        memory: Vec::new(),
        msr: None,
        effect: if truncated {
            Effect::truncated(bytes)
        } else {
            Effect::invalid(bytes)
        },
        instruction: valid.then_some(*instr),
        imm_msr: None,
    };
    if !valid {
        return fault;
    }
    let info = FACTORY.with(|f| f.borrow_mut().info(instr).clone());
    let mut op_texts = fmt.operand_texts(instr, &fault.text).into_iter();
    for i in 0..instr.op_count() {
        let op_text = op_texts.next().unwrap_or_default();
        let access = Access::from(info.op_access(i));
        let (kind, register, value) = match instr.op_kind(i) {
            OpKind::Register => {
                let r = instr.op_register(i);
                (OperandKind::Register, Some(r), register_value(state, r))
            }
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => (
                OperandKind::NearBranch,
                None,
                Some(instr.near_branch_target()),
            ),
            OpKind::FarBranch16 | OpKind::FarBranch32 => (OperandKind::FarBranch, None, None),
            OpKind::Memory
            | OpKind::MemorySegSI
            | OpKind::MemorySegESI
            | OpKind::MemorySegRSI
            | OpKind::MemorySegDI
            | OpKind::MemorySegEDI
            | OpKind::MemorySegRDI
            | OpKind::MemoryESDI
            | OpKind::MemoryESEDI
            | OpKind::MemoryESRDI => (
                OperandKind::Memory,
                None,
                crate::effect::memory_operand_address(instr, state, bitness).ok(),
            ),
            _ => (OperandKind::Immediate, None, Some(instr.immediate(i))),
        };
        fault.operands.push(Operand {
            kind,
            text: op_text,
            access,
            register,
            value,
        });
    }
    for r in info.used_registers() {
        fault.registers.push(RegisterUse {
            register: r.register(),
            access: r.access().into(),
            value: register_value(state, r.register()),
        });
    }
    let next_ip = instr.next_ip();
    for m in info.used_memory() {
        let unknown: Vec<Register> = [m.segment(), m.base(), m.index()]
            .into_iter()
            .filter(|&r| {
                r != Register::None && address_register(state, r, bitness, next_ip).is_none()
            })
            .collect();
        let address = m.virtual_address(0, |r, _, _| address_register(state, r, bitness, next_ip));
        let disp = m.displacement();
        fault.memory.push(MemoryAccess {
            expression: memory_expression(m.segment(), m.base(), m.index(), m.scale(), disp),
            segment: some_reg(m.segment()),
            base: some_reg(m.base()),
            index: some_reg(m.index()),
            scale: m.scale(),
            displacement: disp,
            size: m.memory_size().size(),
            access: m.access().into(),
            address: if unknown.is_empty() { address } else { None },
            unknown_registers: unknown,
        });
    }
    let effect = describe_effect(instr, state, bitness);
    fault.msr = effect.msr.clone();
    fault.effect = effect;
    fault
}

/// `seg:[base+index*scale+disp]`, as in the JSON's `expression` (`gs:[0x0]`, `ds:[rdi-0x8]`).
fn memory_expression(
    segment: Register,
    base: Register,
    index: Register,
    scale: u32,
    disp: u64,
) -> String {
    let mut expr = String::new();
    if let Some(seg) = some_reg(segment) {
        expr.push_str(&ser::register_name(seg));
        expr.push(':');
    }
    expr.push('[');
    let mut s = String::new();
    if let Some(b) = some_reg(base) {
        s.push_str(&ser::register_name(b));
    }
    if let Some(i) = some_reg(index) {
        if !s.is_empty() {
            s.push('+');
        }
        s.push_str(&ser::register_name(i));
        if scale > 1 {
            s.push('*');
            s.push_str(&scale.to_string());
        }
    }
    if disp != 0 || s.is_empty() {
        let signed = disp as i64;
        if !s.is_empty() && signed < 0 && signed > -0x1_0000_0000 {
            s.push('-');
            s.push_str(&hex::min(signed.unsigned_abs()));
        } else {
            if !s.is_empty() {
                s.push('+');
            }
            s.push_str(&hex::min(disp));
        }
    }
    expr.push_str(&s);
    expr.push(']');
    expr
}

/// The fault record for an immediate-form RDMSR/WRMSRNS (decoded by [`crate::msrimm`]).
fn build_msr_imm_fault(
    m: &MsrImm,
    bytes: &[u8],
    address: u64,
    synced: bool,
    state: &CpuState,
    syntax: Syntax,
) -> FaultInstruction {
    let reg = ser::register_name(m.register);
    // rdmsr r64, imm32 writes the register; wrmsrns imm32, r64 reads it.
    let reg_access = if m.write { Access::Read } else { Access::Write };
    let value = register_value(state, m.register);
    let reg_op = Operand {
        kind: OperandKind::Register,
        text: if syntax == Syntax::Att {
            format!("%{reg}")
        } else {
            reg
        },
        access: reg_access,
        register: Some(m.register),
        value,
    };
    let imm_op = Operand {
        kind: OperandKind::Immediate,
        text: if syntax == Syntax::Att {
            format!("${}", hex::min(u64::from(m.index)))
        } else {
            hex::min(u64::from(m.index))
        },
        access: Access::Read,
        register: None,
        value: Some(u64::from(m.index)),
    };
    // Intel operand order: rdmsr r64, imm32 / wrmsrns imm32, r64.
    let operands = if m.write {
        vec![imm_op, reg_op]
    } else {
        vec![reg_op, imm_op]
    };
    let effect = crate::effect::describe_msr_imm(m, state);
    FaultInstruction {
        address,
        bytes: bytes.to_vec(),
        length: bytes.len(),
        mnemonic: if m.write { "wrmsrns" } else { "rdmsr" }.to_string(),
        text: crate::msrimm::text(m, syntax),
        synced,
        valid: true,
        prefixes: prefixes(bytes, 64),
        operands,
        registers: vec![RegisterUse {
            register: m.register,
            access: reg_access,
            value,
        }],
        memory: Vec::new(),
        msr: effect.msr.clone(),
        effect,
        instruction: None,
        imm_msr: Some(*m),
    }
}

/// Convenience for callers holding plain bytes (tests, benches): every byte known.
pub fn known_bytes(bytes: &[u8]) -> Vec<Option<u8>> {
    bytes.iter().copied().map(Some).collect()
}

/// Linear address text of a listing line, for the terminal report.
pub fn format_address(a: u64, bitness: u32) -> String {
    match bitness {
        64 => hex::hex64(a),
        _ => format!("0x{a:08x}"),
    }
}
