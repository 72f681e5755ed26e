//! kvmtriage-model: the one model of a vCPU's state that every kvmtriage reader fills and every
//! analysis reads.
//!
//! - [`CpuState`]: all GPRs (APX R16–R31 included), RIP, RFLAGS, segments with typed
//!   [`SegmentAttributes`], GDT/IDT, CR0/2/3/4/8, DR0–7, EFER, CPL/SMM/HLT/A20/II, FPU and vector
//!   state. Plain values; the input line of each lives in a [`LineTable`].
//! - [`Event`]: what the VMM said happened, with its line. [`CodeWindow`]: bytes around RIP.
//! - [`ModeDecision::decide`]: the one CPU-mode decider (mode, code width, paging, evidence).
//! - [`bits`] and [`tables`]: the architectural names (bits, segment types, errno), generated at
//!   build time from `data/*.toml`.
//! - [`hex`]: the one hex formatter, used at the serde and rendering edge.
//!
//! No I/O, no disassembler: this crate sits at the bottom of the crate graph.
//!
//! ```
//! use kvmtriage_model::{CpuState, Gpr, ModeDecision, ModeHints, ModeKind};
//! let mut cpu = CpuState::default();
//! cpu.set_gpr(Gpr::Rcx, 0x838);
//! cpu.rip = Some(0xffff_ffff_9607_0964);
//! // No CR0, EFER or CS in the input: an instruction pointer above 4 GiB still decides.
//! let mode = ModeDecision::decide(&cpu, &ModeHints::default());
//! assert_eq!(mode.kind, ModeKind::Long64);
//! assert_eq!(mode.code_address(&cpu), Some(0xffff_ffff_9607_0964));
//! ```

pub mod bits;
pub mod code;
pub mod cpu;
pub mod event;
pub mod hex;
pub mod lines;
pub mod mode;
pub mod tables;

pub use bits::{decode_bits, decode_segment, BitField, RegisterBits, SegmentAttrs, SegmentClass};
pub use code::CodeWindow;
pub use cpu::{
    CpuState, DescriptorTable, FpReg, Fpu, Gpr, OpmaskReg, SegName, Segment, SegmentAttributes,
    VectorKind, VectorReg,
};
pub use event::Event;
pub use lines::{Field, LineTable};
pub use mode::{paging_mode, CsLabel, ModeDecision, ModeEvidence, ModeHints, ModeKind, PagingMode};
