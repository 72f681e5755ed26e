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

/// 1-based input lines of the model's values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineTable {
    entries: Vec<(Field, u32)>,
}

impl LineTable {
    /// Record (or replace) the line of `field`.
    pub fn set(&mut self, field: Field, line: u32) {
        match self.entries.iter_mut().find(|(f, _)| *f == field) {
            Some(e) => e.1 = line,
            None => self.entries.push((field, line)),
        }
    }

    /// The line of `field`, if recorded.
    pub fn get(&self, field: Field) -> Option<u32> {
        self.entries
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, l)| *l)
    }

    /// Forget the line of `field`.
    pub fn remove(&mut self, field: Field) {
        self.entries.retain(|(f, _)| *f != field);
    }

    /// Every recorded (field, line), in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, u32)> + '_ {
        self.entries.iter().copied()
    }
}
