//! Where each value came from: the side table of input line numbers.
//!
//! The model's fields hold plain values; a reader that knows the input line of a value records it
//! here, so that evidence and warnings can cite `line N` without every field carrying a line.

use crate::cpu::{Gpr, SegName, VectorKind};

/// A value of the model that has an input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Gpr(Gpr),
    Rip,
    Rflags,
    /// The `CPL= II= A20= SMM= HLT=` fields (QEMU prints them on the RIP line).
    State,
    Segment(SegName),
    Gdt,
    Idt,
    /// CR0, CR2, CR3, CR4, CR8 by number.
    Cr(u8),
    /// DR0–DR7 by number.
    Dr(u8),
    Efer,
    Fcw,
    Fsw,
    Ftw,
    Mxcsr,
    Fpr(u8),
    Vector(VectorKind, u8),
    Opmask(u8),
    /// TCG's `CCS= CCD= CCO=` line.
    LazyFlags,
    /// The first line of the `Code=` window.
    Code,
}

impl Field {
    /// Slot in the dense table for the fields there is a fixed number of.
    fn slot(self) -> Option<usize> {
        Some(match self {
            Field::Gpr(r) => r.number(),
            Field::Rip => 32,
            Field::Rflags => 33,
            Field::State => 34,
            Field::Segment(n) => 35 + n.index(),
            Field::Gdt => 43,
            Field::Idt => 44,
            Field::Cr(n) if n <= 8 => 45 + usize::from(n),
            Field::Dr(n) if n <= 7 => 54 + usize::from(n),
            Field::Efer => 62,
            Field::Fcw => 63,
            Field::Fsw => 64,
            Field::Ftw => 65,
            Field::Mxcsr => 66,
            Field::LazyFlags => 67,
            Field::Code => 68,
            _ => return None,
        })
    }
}

const SLOTS: usize = 69;

/// 1-based input lines of the model's values: a dense slot for every register there is a fixed
/// number of (the reader sets and reads them once per value, so a search would cost more than
/// the read), a short list for the rest (FPU, vector and opmask registers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTable {
    /// 0 = not recorded (input lines are 1-based).
    fixed: [u32; SLOTS],
    extra: Vec<(Field, u32)>,
}

impl Default for LineTable {
    fn default() -> Self {
        LineTable {
            fixed: [0; SLOTS],
            extra: Vec::new(),
        }
    }
}

impl LineTable {
    /// Record (or replace) the line of `field`. Line 0 means "no line" and is not recorded.
    pub fn set(&mut self, field: Field, line: u32) {
        if let Some(i) = field.slot() {
            self.fixed[i] = line;
            return;
        }
        if line == 0 {
            return self.remove(field);
        }
        match self.extra.iter_mut().find(|(f, _)| *f == field) {
            Some(e) => e.1 = line,
            None => self.extra.push((field, line)),
        }
    }

    /// The line of `field`, if recorded.
    pub fn get(&self, field: Field) -> Option<u32> {
        match field.slot() {
            Some(i) => Some(self.fixed[i]).filter(|l| *l != 0),
            None => self
                .extra
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, l)| *l),
        }
    }

    /// Forget the line of `field`.
    pub fn remove(&mut self, field: Field) {
        match field.slot() {
            Some(i) => self.fixed[i] = 0,
            None => self.extra.retain(|(f, _)| *f != field),
        }
    }

    /// Every recorded (field, line): the fixed fields in slot order, then the others in
    /// insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, u32)> + '_ {
        ALL_FIXED
            .iter()
            .zip(self.fixed.iter())
            .filter(|(_, l)| **l != 0)
            .map(|(f, l)| (*f, *l))
            .chain(self.extra.iter().copied())
    }
}

/// The fixed fields in slot order (for [`LineTable::iter`]).
const ALL_FIXED: [Field; SLOTS] = {
    let mut out = [Field::Rip; SLOTS];
    let mut i = 0;
    while i < 32 {
        out[i] = Field::Gpr(Gpr::ALL[i]);
        i += 1;
    }
    out[32] = Field::Rip;
    out[33] = Field::Rflags;
    out[34] = Field::State;
    let mut s = 0;
    while s < 8 {
        out[35 + s] = Field::Segment(SegName::ALL[s]);
        s += 1;
    }
    out[43] = Field::Gdt;
    out[44] = Field::Idt;
    let mut c = 0;
    while c <= 8 {
        out[45 + c] = Field::Cr(c as u8);
        c += 1;
    }
    let mut d = 0;
    while d <= 7 {
        out[54 + d] = Field::Dr(d as u8);
        d += 1;
    }
    out[62] = Field::Efer;
    out[63] = Field::Fcw;
    out[64] = Field::Fsw;
    out[65] = Field::Ftw;
    out[66] = Field::Mxcsr;
    out[67] = Field::LazyFlags;
    out[68] = Field::Code;
    out
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip() {
        for (i, f) in ALL_FIXED.iter().enumerate() {
            assert_eq!(f.slot(), Some(i), "{f:?}");
        }
        let mut t = LineTable::default();
        t.set(Field::Cr(3), 7);
        t.set(Field::Fpr(2), 9);
        assert_eq!(t.get(Field::Cr(3)), Some(7));
        assert_eq!(t.get(Field::Fpr(2)), Some(9));
        assert_eq!(t.get(Field::Rip), None);
        let all: Vec<_> = t.iter().collect();
        assert_eq!(all, [(Field::Cr(3), 7), (Field::Fpr(2), 9)]);
        t.remove(Field::Cr(3));
        assert_eq!(t.get(Field::Cr(3)), None);
    }
}
