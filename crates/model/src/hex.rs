//! The one hex formatter. Values are integers and bytes inside kvmtriage; they become text here,
//! at the serde and rendering edge.
//!
//! JSON: every number that can exceed 32 bits is a string, `0x` + the shortest lowercase hex
//! (`"0x7213cc9"`), so JSON consumers never lose precision. Text one-liners pad 64-bit values to
//! 16 digits ([`hex64`]); instruction bytes are space-separated pairs ([`bytes`]).

use serde::Serializer;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Append one byte as two lowercase hex digits.
pub fn push_byte(s: &mut String, b: u8) {
    s.push(char::from(DIGITS[usize::from(b >> 4)]));
    s.push(char::from(DIGITS[usize::from(b & 15)]));
}

/// Bytes as space-separated lowercase pairs: `0f 30`.
pub fn bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        push_byte(&mut s, *x);
    }
    s
}

/// `0x` + shortest lowercase hex (without the formatting machinery: reports call it for every
/// register value).
pub fn min(v: u64) -> String {
    let mut s = String::with_capacity(18);
    push_min(&mut s, v);
    s
}

/// Append `0x` + shortest lowercase hex.
pub fn push_min(out: &mut String, v: u64) {
    out.push_str("0x");
    let digits = if v == 0 {
        1
    } else {
        (64 - v.leading_zeros()).div_ceil(4)
    };
    for i in (0..digits).rev() {
        out.push(char::from(DIGITS[((v >> (i * 4)) & 0xf) as usize]));
    }
}

/// `0x` + 16 lowercase hex digits.
pub fn hex64(v: u64) -> String {
    format!("0x{v:016x}")
}

/// Serialize a `u64` as `"0x…"` (lowercase, no padding).
pub fn u64<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{value:#x}"))
}

/// Serialize any unsigned integer that fits u64 as `"0x…"`.
pub fn uint<T: Copy + Into<u64>, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    u64(&(*value).into(), s)
}

/// Serialize an `Option<u64>` as `"0x…"` or `null`.
pub fn opt_u64<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => u64(v, s),
        None => s.serialize_none(),
    }
}

/// Serialize an optional unsigned integer as `"0x…"` or `null`.
pub fn opt_uint<T: Copy + Into<u64>, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => u64(&(*v).into(), s),
        None => s.serialize_none(),
    }
}

/// Serialize a slice of `u64` as an array of `"0x…"` strings.
pub fn vec_u64<S: Serializer>(values: &[u64], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for v in values {
        seq.serialize_element(&Hex(*v))?;
    }
    seq.end()
}

/// Serialize bytes as one `"0f 30"` string.
pub fn byte_string<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&bytes(b))
}

/// A `u64` that serializes as a `"0x…"` hex string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Hex(pub u64);

impl serde::Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        u64(&self.0, s)
    }
}

/// Serialize quadwords (most significant first) as one `"0x…"` string with every quadword
/// zero-padded to 16 digits.
pub fn wide<S: Serializer>(quads: &[u64], s: S) -> Result<S::Ok, S::Error> {
    struct Wide<'a>(&'a [u64]);
    impl std::fmt::Display for Wide<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("0x")?;
            for q in self.0 {
                write!(f, "{q:016x}")?;
            }
            Ok(())
        }
    }
    s.collect_str(&Wide(quads))
}
