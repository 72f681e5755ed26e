//! Bit decoders: every named bit of RFLAGS, CR0, CR4, EFER, DR6, DR7 and the segment attribute
//! word, named as the Intel SDM names them. The names live in `data/bits.toml`, the one place
//! every crate takes them from.

use serde::Serialize;

use crate::cpu::SegName;
use crate::hex;
use crate::tables::{self, BitDef};

/// One bit (or multi-bit field) of a register, named as in the Intel SDM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BitField {
    /// Lowest bit number of the field.
    pub bit: u8,
    /// Field width in bits (1 for flags).
    pub width: u8,
    /// SDM name (`PE`, `IOPL`, `R/W0`, …).
    pub name: &'static str,
    /// Field value (0/1 for flags).
    pub value: u64,
    /// `value != 0`.
    pub set: bool,
    /// Short meaning of the field.
    pub description: &'static str,
}

/// A register decoded field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RegisterBits {
    /// The register value.
    #[serde(serialize_with = "hex::u64")]
    pub value: u64,
    /// Names of the set single-bit flags and of the non-zero multi-bit
    /// fields, in bit order (`["PE", "ET", "PG"]`).
    pub set: Vec<&'static str>,
    /// Every named field, set or not.
    pub fields: Vec<BitField>,
    /// Set bits that belong to no named field (reserved, or newer than the
    /// table; RFLAGS bit 1 is always 1).
    pub unnamed_set_bits: Vec<u8>,
}

/// Decode `value` with a bit table.
pub fn decode_bits(table: &[BitDef], value: u64) -> RegisterBits {
    let mut fields = Vec::with_capacity(table.len());
    let mut set = Vec::with_capacity(table.len());
    let mut named = 0u64;
    for d in table {
        let mask = if d.width >= 64 {
            u64::MAX
        } else {
            (1u64 << d.width) - 1
        };
        let v = (value >> d.bit) & mask;
        named |= mask << d.bit;
        if v != 0 {
            set.push(d.name);
        }
        fields.push(BitField {
            bit: d.bit,
            width: d.width,
            name: d.name,
            value: v,
            set: v != 0,
            description: d.description,
        });
    }
    let mut rest = value & !named;
    let mut unnamed_set_bits = Vec::with_capacity(rest.count_ones() as usize);
    while rest != 0 {
        unnamed_set_bits.push(rest.trailing_zeros() as u8);
        rest &= rest - 1;
    }
    RegisterBits {
        value,
        set,
        fields,
        unnamed_set_bits,
    }
}

/// Segment descriptor class from the S bit and type bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentClass {
    Code,
    Data,
    System,
}

/// Decoded segment attribute word (descriptor bits 8–23 as QEMU prints
/// them; SDM Vol. 3A §3.4.5, Figure 3-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentAttrs {
    pub name: SegName,
    /// Type field (bits 8–11).
    pub r#type: u8,
    pub class: SegmentClass,
    /// SDM type name: Table 3-1 for code/data (`Execute/Read, accessed`),
    /// Table 3-2 for system descriptors (`64-bit TSS (Busy)`; IA-32e names
    /// when EFER.LMA=1).
    pub type_name: &'static str,
    /// S (descriptor type): 1 = code/data, 0 = system.
    pub s: bool,
    pub dpl: u8,
    /// P (segment present).
    pub p: bool,
    pub avl: bool,
    /// L (64-bit code segment).
    pub l: bool,
    /// D/B (default operation size / big).
    pub db: bool,
    /// G (granularity).
    pub g: bool,
    /// Code: conforming (type bit 2). Data: expand-down. `None` for system.
    pub conforming_or_expand_down: Option<bool>,
    /// Code: readable. Data: writable. `None` for system.
    pub readable_or_writable: Option<bool>,
    /// Code/data accessed bit (type bit 0). `None` for system.
    pub accessed: Option<bool>,
    /// For TSS descriptors: busy flag (type bit 1).
    pub busy: Option<bool>,
}

/// Decode an attribute word (bits 8–23 in place).
pub fn decode_segment(name: SegName, attributes: u64, long_mode: bool) -> SegmentAttrs {
    let ty = ((attributes >> 8) & 0xf) as u8;
    let s = attributes >> 12 & 1 == 1;
    let class = if !s {
        SegmentClass::System
    } else if ty & 8 != 0 {
        SegmentClass::Code
    } else {
        SegmentClass::Data
    };
    let idx = usize::from(ty);
    let type_name = match class {
        SegmentClass::System if long_mode => tables::TYPE_SYSTEM_IA32E[idx],
        SegmentClass::System => tables::TYPE_SYSTEM_LEGACY[idx],
        _ => tables::TYPE_CODE_DATA[idx],
    };
    let is_tss = !s && matches!(ty, 1 | 3 | 9 | 11) && !(long_mode && matches!(ty, 1 | 3));
    let cd = s.then_some(());
    SegmentAttrs {
        name,
        r#type: ty,
        class,
        type_name,
        s,
        dpl: ((attributes >> 13) & 3) as u8,
        p: attributes >> 15 & 1 == 1,
        avl: attributes >> 20 & 1 == 1,
        l: attributes >> 21 & 1 == 1,
        db: attributes >> 22 & 1 == 1,
        g: attributes >> 23 & 1 == 1,
        conforming_or_expand_down: cd.map(|_| ty & 4 != 0),
        readable_or_writable: cd.map(|_| ty & 2 != 0),
        accessed: cd.map(|_| ty & 1 != 0),
        busy: is_tss.then_some(ty & 2 != 0),
    }
}
