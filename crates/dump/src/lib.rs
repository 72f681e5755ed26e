//! kvmtriage-dump: typed model of a QEMU x86 vCPU register dump, a reader that
//! finds such dumps in any text (terminal copies, journald, libvirt logs, mail
//! archives), and decoders that name every bit as the Intel SDM does.
//!
//! Pure: text in, typed values out. No I/O, no printing.

pub mod decode;
pub mod hex;
pub mod model;
mod reader;
pub mod tables;

pub use decode::{BitField, Decoded, RegisterBits, SegmentAttrs, SegmentClass};
pub use model::*;

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
    /// The input holds a Linux kernel oops / register dump (`RIP: 0010:…`),
    /// which is a guest-kernel report, not a QEMU vCPU dump.
    #[error("no QEMU x86 register dump found: line {line} starts a Linux kernel oops register dump (`RIP: …`), which is the guest kernel's report, not QEMU's vCPU state")]
    KernelOops { line: u32 },
}

impl ReadError {
    /// True for "text, but no dump" errors ([`ReadError::NoDump`],
    /// [`ReadError::KernelOops`]); false for unreadable input.
    pub fn is_no_dump(&self) -> bool {
        matches!(
            self,
            ReadError::NoDump { .. } | ReadError::KernelOops { .. }
        )
    }
}

/// Find and read every QEMU x86 register dump in `text`.
///
/// A damaged dump is returned with warnings naming the line; only input with
/// no dump at all (or that is not text) is an error.
pub fn read(text: &str) -> Result<Vec<Dump>, ReadError> {
    reader::read(text)
}
