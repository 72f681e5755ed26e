//! kvmtriage-dump: reads QEMU x86 vCPU register dumps from any text (terminal copies, journald,
//! libvirt logs, mail archives) into the one machine model of `kvmtriage-model`, and decodes
//! them (every bit named as the Intel SDM does, the CPU mode by the model's one decider).
//!
//! Pure: text in, typed values out. No I/O, no printing.
//!
//! ```
//! let text = "error: kvm run failed Operation not permitted\n\
//! EAX=00000000 EBX=00000000 ECX=00000838 EDX=00000000\n\
//! ESI=00000000 EDI=00000000 EBP=00000000 ESP=00001000\n\
//! EIP=00001000 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n";
//! let dumps = kvmtriage_dump::read(text).unwrap();
//! assert_eq!(dumps[0].event.kind(), "run_failed");
//! assert_eq!(dumps[0].gpr(kvmtriage_dump::Gpr::Rcx), Some(0x838));
//! assert_eq!(dumps[0].line(kvmtriage_dump::Field::Gpr(kvmtriage_dump::Gpr::Rcx)), Some(2));
//! // only three lines: the dump says what is missing
//! assert!(dumps[0].is_damaged());
//! ```
//!
//! What the reader accepts (see `docs/json.md, section "The dump"` for the JSON): line prefixes
//! (journald/syslog, `dmesg -T`, `[   12.345]`, `[T1234]`, libvirt timestamps, mail quotes
//! `>`/`> >`/`>>>`/`&gt;`, indentation), raw quoted-printable mail, lines wrapped or reflowed by
//! mailers and terminals (including tokens and the `<..>` marker cut in two), CRLF, a monitor
//! prompt or other output glued before the event line, other vCPUs' messages interleaved in the
//! dump, `info registers -a`, `-d cpu`/`-d int`/`-d cpu_reset` logs, several dumps per text,
//! truncated dumps, and the old qemu-kvm 0.12 lowercase format.
//!
//! The reader is layered ([`transport`] for lines, then events, register lines, the code line,
//! completion, the legacy format) and streams: [`StreamReader`] takes lines or chunks and hands
//! back finished dumps; [`read`] runs it over a whole text.
//!
//! A Linux kernel oops (`RIP: 0010:…`, `RAX: …`) is the guest kernel's own report, not QEMU's
//! vCPU state: it is not read as a dump, and a text that holds only an oops gives
//! [`ReadError::KernelOops`].

pub mod capture;
pub mod decode;
mod dump;
mod json;
mod reader;
pub mod transport;

pub use decode::Decoded;
pub use dump::{
    Dump, ExitField, ExitRecord, GprLayout, LazyFlags, Printed, Source, Warning, WarningKind,
};
pub use kvmtriage_model::{
    bits, decode_bits, decode_segment, hex, paging_mode, tables, BitField, CodeWindow, CpuState,
    CsLabel, DescriptorTable, Event, Field, FpReg, Fpu, Gpr, LineTable, ModeDecision, ModeEvidence,
    ModeHints, ModeKind, OpmaskReg, PagingMode, RegisterBits, SegName, Segment, SegmentAttributes,
    SegmentAttrs, SegmentClass, VectorKind, VectorReg,
};
pub use reader::{StreamReader, EVENT_REACH, HOLD_LINES};

/// Why no dump could be read from a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The input is empty or whitespace only.
    #[error("input is empty")]
    Empty,
    /// The input holds NUL bytes or other non-text data.
    #[error("input is not text: binary data (NUL or control bytes) on line {line}")]
    Binary { line: u32 },
    /// The input is text but holds no QEMU x86 register dump.
    #[error("no QEMU x86 register dump found (scanned {lines_scanned} lines; expected lines such as `RAX=…`/`EAX=…`, `EIP=…`, `CS =…`)")]
    NoDump { lines_scanned: u32 },
    /// The input holds a Linux kernel oops / register dump (`RIP: 0010:…`), which is a
    /// guest-kernel report, not a QEMU vCPU dump.
    #[error("no QEMU x86 register dump found: line {line} starts a Linux kernel oops register dump (`RIP: …`), which is the guest kernel's report, not QEMU's vCPU state")]
    KernelOops { line: u32 },
}

impl ReadError {
    /// True for "text, but no dump" errors ([`ReadError::NoDump`], [`ReadError::KernelOops`]);
    /// false for unreadable input.
    pub fn is_no_dump(&self) -> bool {
        matches!(
            self,
            ReadError::NoDump { .. } | ReadError::KernelOops { .. }
        )
    }
}

/// Find and read every QEMU x86 register dump in `text`.
///
/// A damaged dump is returned with warnings naming the line; only input with no dump at all (or
/// that is not text) is an error.
pub fn read(text: &str) -> Result<Vec<Dump>, ReadError> {
    // `kvmtriage capture` text ([`capture::is_capture`]) is noticed while reading.
    match reader::read_noting_capture(text) {
        (_, true) => capture::read(text),
        (result, false) => result,
    }
}
