//! The project's one hex formatter, [`kvmtriage_model::hex`], re-exported for callers of this
//! crate. Values stay integers and bytes inside kvmtriage-x86; they become text only at the serde
//! edge (`serialize_with = "kvmtriage_model::hex::…"`) and in the one-line summaries.

pub use kvmtriage_model::hex::*;

/// `0x` + shortest lowercase hex: the same function as [`min`], under its older name.
pub use kvmtriage_model::hex::min as hex_min;
