//! kvmtriage-x86: x86 knowledge for explaining a dead guest.
//!
//! - [`msr`]: the MSR catalogue (`data/msrs.toml`, compiled into sorted tables by `build.rs`),
//!   lookup by index or name, and field decoding.
//! - [`analyze_code`]: disassembles a dump's `Code=` window with iced-x86 in the given mode, recovers
//!   instruction alignment, and explains the instruction at the marker ([`CodeAnalysis`]).
//! - [`describe_effect`]: what a trapping instruction (WRMSR, OUT, CPUID, MOV CR, INT n, VMCALL, ...)
//!   did with the dumped register values ([`MachineState`]).
//! - [`msrimm`]: the immediate forms of RDMSR/WRMSRNS, decoded by hand (iced-x86 1.22 lacks them).
//! - [`ports`]: names of well-known I/O ports (COM1-4, PIC, PIT, CMOS, PCI config, fw_cfg, ...).
//!
//! Hex strings in the JSON: `0x` + shortest lowercase hex (`"0x7213cc9"`), as in the rest of the
//! kvmtriage JSON; the text one-liners pad 64-bit values to 16 digits (see [`hex`]). Instruction
//! bytes as `"0f 30"`.
//!
//! Pure: no I/O, no printing. Does not depend on kvmtriage-dump; callers fill [`CodeInput`] and
//! [`MachineState`] from their own model.

pub mod disasm;
pub mod effect;
pub mod hex;
pub mod msr;
pub mod msrimm;
pub mod ports;
pub mod state;

pub use disasm::{
    analyze_code, format_instruction, intel_mnemonic, known_bytes, Alignment, CodeAnalysis,
    CodeInput, CodeOptions, FaultInstruction, ListingLine, MemoryAccess, Operand, Prefix,
    RegisterUse, Syntax,
};
pub use effect::{describe_bytes, describe_effect, Effect, MsrAccess};
pub use state::{MachineState, Segment, TableRegister};
