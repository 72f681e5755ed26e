//! Bit decoders: RFLAGS, CR0, CR4, EFER, DR6, DR7, segment attributes, CPU
//! mode and paging mode, and consistency checks.

use serde::Serialize;

use crate::model::{Dump, SegName};

/// One bit (or multi-bit field) of a register, named as in the Intel SDM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BitField {
    /// Lowest bit number of the field.
    pub bit: u8,
    /// Field width in bits (1 for flags).
    pub width: u8,
    /// SDM name (`PE`, `IOPL`, `RW0`, …).
    pub name: &'static str,
    /// Field value (0/1 for flags).
    pub value: u64,
    /// `value != 0`.
    pub set: bool,
}

/// Segment descriptor class from the S bit and type bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentClass {
    Code,
    Data,
    System,
}

/// Decoded segment attribute word (descriptor bits 8–23; SDM Vol. 3A §3.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentAttrs {
    pub name: SegName,
    /// Type field (bits 8–11).
    pub r#type: u8,
    pub class: SegmentClass,
    /// Type name: e.g. `code execute/read accessed`, `data read/write`,
    /// `TSS64-busy`.
    pub type_name: &'static str,
    pub s: bool,
    pub dpl: u8,
    pub present: bool,
    pub avl: bool,
    pub l: bool,
    pub db: bool,
    pub g: bool,
    /// For TSS descriptors: busy flag (type bit 1).
    pub busy: Option<bool>,
    /// QEMU's "unusable" marker: attribute word is 0 or P=0.
    pub unusable: bool,
}

/// Decoded fields of a dump (JSON key `decoded`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Decoded {
    pub rflags: Vec<BitField>,
    pub cr0: Vec<BitField>,
    pub cr4: Vec<BitField>,
    pub efer: Vec<BitField>,
    pub dr6: Vec<BitField>,
    pub dr7: Vec<BitField>,
    pub segments: Vec<SegmentAttrs>,
}

/// Recompute `dump.mode`, `dump.decoded` and consistency warnings.
pub fn apply(dump: &mut Dump) {
    let _ = dump;
}
