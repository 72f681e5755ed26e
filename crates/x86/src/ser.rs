//! Serde helpers for the typed fields of this crate's JSON: registers by name and the byte forms
//! [`kvmtriage_model::hex`] does not cover on its own. All hex goes through that one formatter.

use iced_x86::Register;
use kvmtriage_model::hex;
use serde::Serializer;

/// Lowercase register name as in Intel syntax (`rax`, `r13d`, `gs`, `cr0`).
pub(crate) fn register_name(reg: Register) -> String {
    let mut s = format!("{reg:?}");
    s.make_ascii_lowercase();
    s
}

/// Upper-case register name (`CR0`, `DR7`, `EAX`).
pub(crate) fn register_name_upper(reg: Register) -> String {
    format!("{reg:?}")
}

pub(crate) fn register<S: Serializer>(reg: &Register, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&register_name(*reg))
}

pub(crate) fn register_upper<S: Serializer>(reg: &Register, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&register_name_upper(*reg))
}

pub(crate) fn opt_register<S: Serializer>(reg: &Option<Register>, s: S) -> Result<S::Ok, S::Error> {
    match reg {
        Some(r) => register(r, s),
        None => s.serialize_none(),
    }
}

/// A segment register's name, `""` for none.
pub(crate) fn segment_or_empty<S: Serializer>(
    reg: &Option<Register>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match reg {
        Some(r) => register(r, s),
        None => s.serialize_str(""),
    }
}

pub(crate) fn registers<S: Serializer>(regs: &[Register], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(regs.iter().map(|r| register_name(*r)))
}

/// One byte as two hex digits (`"66"`).
pub(crate) fn byte<S: Serializer>(b: &u8, s: S) -> Result<S::Ok, S::Error> {
    hex::byte_string(std::slice::from_ref(b), s)
}

/// A listing line's bytes, `"??"` for the byte-less line at an unreadable marker.
pub(crate) fn listing_bytes<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if b.is_empty() {
        s.serialize_str("??")
    } else {
        hex::byte_string(b, s)
    }
}

/// Optional values as `"0x…"` strings or `null`.
pub(crate) fn vec_opt_u64<S: Serializer>(values: &[Option<u64>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(|v| v.map(hex::Hex)))
}
