//! kvmtriage-dump: typed model of a QEMU x86 vCPU register dump, a reader that
//! finds such dumps in any text (terminal copies, journald, libvirt logs, mail
//! archives), and decoders that name every bit as the Intel SDM does.
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
//! // only three lines: the dump says what is missing
//! assert!(dumps[0].is_damaged());
//! ```
//!
//! What the reader accepts (see `docs/json.md, section "The dump"` for the JSON):
//! line prefixes (journald/syslog, `dmesg -T`, `[   12.345]`, `[T1234]`,
//! libvirt timestamps, mail quotes `>`/`> >`/`>>>`/`&gt;`, indentation),
//! raw quoted-printable mail, lines wrapped or reflowed by mailers and
//! terminals (including tokens and the `<..>` marker cut in two), CRLF, a
//! monitor prompt or other output glued before the event line, other vCPUs'
//! messages interleaved in the dump, `info registers -a`, `-d cpu`/`-d int`/
//! `-d cpu_reset` logs, several dumps per text, truncated dumps, and the old
//! qemu-kvm 0.12 lowercase format.
//!
//! A Linux kernel oops (`RIP: 0010:…`, `RAX: …`) is the guest kernel's own
//! report, not QEMU's vCPU state: it is not read as a dump, and a text that
//! holds only an oops gives [`ReadError::KernelOops`].

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
