//! Builders for test inputs: the one CPU-state model, `kvmtriage_model::CpuState`.
#![allow(dead_code)]

use kvmtriage_model::{CpuState, DescriptorTable, Gpr, SegName, Segment, SegmentAttributes};

/// A CPU state that knows only the given general-purpose registers.
pub fn cpu(gprs: &[(Gpr, u64)]) -> CpuState {
    let mut c = CpuState::default();
    for &(r, v) in gprs {
        c.set_gpr(r, v);
    }
    c
}

/// Sets segment `name` to `selector` and `base` (limit and attributes do not matter to
/// kvmtriage-x86).
pub fn set_seg(c: &mut CpuState, name: SegName, selector: u16, base: u64) {
    c.segments[name.index()] = Some(Segment {
        selector,
        base,
        limit: 0xffff_ffff,
        attributes: SegmentAttributes::default(),
    });
}

/// A GDTR/IDTR value.
pub fn table(base: u64, limit: u32) -> Option<DescriptorTable> {
    Some(DescriptorTable { base, limit })
}

/// A listing line's bytes as the JSON shows them (`"0f 30"`, `"??"` for the unreadable line).
pub fn line_bytes(l: &kvmtriage_x86::ListingLine) -> String {
    if l.is_unreadable() {
        "??".to_string()
    } else {
        kvmtriage_x86::hex::bytes(&l.bytes)
    }
}
