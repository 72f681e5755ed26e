//! kvmtriage-x86: x86 knowledge for explaining a dead guest.
//!
//! - [`msr`]: the MSR catalogue (`data/msrs.toml`, compiled into sorted tables by `build.rs`),
//!   lookup by index or name, and field decoding.
//! - [`analyze_code`]: disassembles a dump's `Code=` window with iced-x86 in the given mode, recovers
//!   instruction alignment, and explains the instruction at the marker ([`CodeAnalysis`]). The
//!   faulting instruction is decoded once and kept ([`FaultInstruction::instruction`],
//!   [`FaultInstruction::class`], [`FaultInstruction::msr`]), so no caller decodes its bytes again.
//! - [`describe_effect`]: what a trapping instruction (WRMSR, OUT, CPUID, MOV CR, INT n, VMCALL, ...)
//!   did with the register values of the one CPU-state model, [`kvmtriage_model::CpuState`].
//! - [`registers`]: iced-x86 registers (sub-registers, segment bases, CR/DR) looked up in a
//!   `CpuState`.
//! - [`msrimm`]: the immediate forms of RDMSR/WRMSRNS, decoded by hand (iced-x86 1.22 lacks them).
//! - [`ports`]: names of well-known I/O ports (COM1-4, PIC, PIT, CMOS, PCI config, fw_cfg, ...).
//!
//! Values are typed inside the crate: bytes are `Vec<u8>`, addresses integers, registers iced-x86
//! `Register`s, and enums name what strings used to ([`Access`], [`OperandKind`], [`EffectKind`],
//! [`Direction`], [`PortDirection`], [`Note`], [`InsnClass`], [`XcrProblem`]). Hex appears only at
//! the serde edge, through the project's one formatter, [`kvmtriage_model::hex`] (re-exported as
//! [`hex`]): JSON numbers are `0x` + the shortest lowercase hex (`"0x7213cc9"`), instruction bytes
//! `"0f 30"`, and each enum serialises to its snake_case name; the text one-liners pad 64-bit
//! values to 16 digits.
//!
//! Pure: no I/O, no printing. Does not depend on kvmtriage-dump: callers pass the
//! [`kvmtriage_model::CpuState`] every reader fills, and a [`CodeInput`] (for example from the
//! model's code window with [`CodeInput::from_model`]).

/// Declares a fieldless enum whose serde name, `as_str()` and `Display` are one string per variant.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name the JSON uses.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod disasm;
pub mod effect;
pub mod hex;
pub mod msr;
pub mod msrimm;
pub mod ports;
pub mod registers;
mod ser;

pub use disasm::{
    analyze_code, format_instruction, insn_class, intel_mnemonic, known_bytes, Access, Alignment,
    CodeAnalysis, CodeInput, CodeOptions, FaultInstruction, InsnClass, ListingLine, MemoryAccess,
    Note, Operand, OperandKind, Prefix, RegisterUse, Syntax,
};
pub use effect::{
    describe_bytes, describe_effect, Direction, Effect, EffectKind, MsrAccess, PortDirection,
    XcrProblem,
};
pub use msrimm::MsrImm;
pub use registers::{register_value, segment_base};
