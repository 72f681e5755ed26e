//! The `Code:` window of an oops through the same disassembly engine as QEMU dumps
//! (kvmtriage-x86: alignment recovery, the trapping instruction marked, operands from the
//! registers), plus what a trap instruction means in the kernel: `ud2` is BUG()/WARN(), `ud1`
//! a UBSAN trap or (newer kernels) WARN.

use kvmtriage_x86::{analyze_code, CodeAnalysis, CodeInput, CodeOptions};
use serde::Serialize;

use crate::Oops;

/// How the listing's addresses were obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AddressBase {
    /// The oops printed RIP as a number (old `[<…>]` forms, user-mode `0033:0x…`).
    Printed,
    /// RIP computed from symbols (symbol address + KASLR slide + offset).
    Symbolized,
    /// Only `func+off` is known: addresses are offsets from the function's start.
    FunctionRelative { function: String },
    /// Nothing known about the address: offsets from the window's marker.
    Unknown,
}

/// What a trap instruction at the marker means in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrapKind {
    /// `ud2` under a `kernel BUG at` / `invalid opcode` header: BUG() or BUG_ON().
    Bug,
    /// `ud2` under a `WARNING:` header: WARN()/WARN_ON() (the trap returns after printing).
    Warn,
    /// `ud2` with neither header: BUG() or WARN(), told apart by the bug table entry's flags.
    BugOrWarn,
    /// `ud1` (0f b9): a UBSAN trap (CONFIG_UBSAN_TRAP) or, on recent kernels, WARN().
    Ud1,
}

impl TrapKind {
    /// One sentence for the report.
    pub fn explain(self) -> &'static str {
        match self {
            TrapKind::Bug => "ud2 is how BUG()/BUG_ON() stops the kernel: the __bug_table entry for this address names the source line",
            TrapKind::Warn => "ud2 is how WARN()/WARN_ON() traps: the handler prints the warning from the __bug_table entry and resumes after the instruction",
            TrapKind::BugOrWarn => "ud2 is the kernel's BUG()/WARN() trap: the __bug_table entry for this address says which, and the source line",
            TrapKind::Ud1 => "ud1 is a deliberate trap: a UBSAN check compiled as a trap (CONFIG_UBSAN_TRAP) or WARN() on recent kernels; its ModRM byte encodes the check",
        }
    }
}

/// The decoded `Code:` window.
#[derive(Debug, Clone, Serialize)]
pub struct OopsCode {
    pub bitness: u32,
    pub address_base: AddressBase,
    /// The listing's RIP (absolute, or relative per `address_base`).
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub rip: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trap: Option<TrapKind>,
    /// The trapping instruction's bytes.
    #[serde(serialize_with = "kvmtriage_model::hex::byte_string")]
    pub fault_bytes: Vec<u8>,
    pub analysis: CodeAnalysis,
}

/// Decode the oops' code window. `rip` overrides the address (e.g. from symbolization).
/// `None` when the oops has no code bytes or no marker.
pub fn decode_oops(oops: &Oops, rip: Option<u64>) -> Option<OopsCode> {
    let window = oops.code.as_ref()?;
    let marker = window.marker?;
    let bitness = u32::from(oops.bits.unwrap_or(64));
    let (rip, address_base) = if let Some(r) = oops.cpu.rip {
        (r, AddressBase::Printed)
    } else if let Some(r) = rip {
        (r, AddressBase::Symbolized)
    } else if let Some(sym) = oops.rip.as_ref().and_then(|r| r.symbol.as_ref()) {
        (
            sym.offset,
            AddressBase::FunctionRelative {
                function: sym.function.clone(),
            },
        )
    } else {
        (marker as u64, AddressBase::Unknown)
    };
    let input = CodeInput {
        bytes: &window.bytes,
        marker,
        bitness,
        rip,
        cs_base: 0,
    };
    // The listing's RIP stands in for a symbolic one, so that RIP-relative operands resolve.
    let mut state = oops.cpu.clone();
    state.rip = Some(rip);
    let analysis = analyze_code(&input, &state, &CodeOptions::default());
    let fault_bytes: Vec<u8> = analysis
        .fault
        .as_ref()
        .map_or(Vec::new(), |f| f.bytes.clone());
    let trap = analysis.fault.as_ref().and_then(|_| {
        let b = &fault_bytes;
        let at = b.iter().position(|&x| x == 0x0f)?;
        match b.get(at + 1) {
            Some(0x0b) => Some(match oops.kind.as_str() {
                "kernel-bug" | "invalid-opcode" => TrapKind::Bug,
                "warning" => TrapKind::Warn,
                _ if oops.header.contains("invalid opcode") => TrapKind::Bug,
                _ => TrapKind::BugOrWarn,
            }),
            Some(0xb9) => Some(TrapKind::Ud1),
            _ => None,
        }
    });
    Some(OopsCode {
        bitness,
        address_base,
        rip,
        trap,
        fault_bytes,
        analysis,
    })
}
