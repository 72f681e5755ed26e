//! Hex formatting shared by the JSON and text output.
//!
//! JSON: every number that can exceed 32 bits is a string, `0x` + the shortest lowercase hex
//! (`"0x7213cc9"`, `"0xffffffff96070964"`), like the rest of the kvmtriage JSON (docs/json.md).
//! Text one-liners print 64-bit values with 16 digits (`0x0000000007213cc9`) so widths line up.

/// `0x` + 16 lowercase hex digits.
pub fn hex64(v: u64) -> String {
    format!("0x{v:016x}")
}

/// `0x` + shortest lowercase hex (MSR indices).
pub fn hex32(v: u32) -> String {
    format!("0x{v:x}")
}

/// `0x` + shortest lowercase hex.
pub fn hex_min(v: u64) -> String {
    format!("0x{v:x}")
}

/// Bytes as space-separated lowercase pairs: `0f 30`.
pub fn hex_bytes(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// JSON form of a 64-bit value: shortest hex.
pub(crate) fn ser_hex64<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex_min(*v))
}

pub(crate) fn ser_hex_min<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex_min(*v))
}

pub(crate) fn ser_opt_hex64<S: serde::Serializer>(
    v: &Option<u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&hex_min(*v)),
        None => s.serialize_none(),
    }
}
