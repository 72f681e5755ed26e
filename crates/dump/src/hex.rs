//! Serde helpers: register values become `"0x…"` lowercase hex strings so that
//! JSON consumers never lose precision on 64-bit values.

use serde::Serializer;

/// Serialize a `u64` as `"0x…"` (lowercase, no padding).
pub fn u64<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{value:#x}"))
}

/// Serialize an `Option<u64>` as `"0x…"` or `null`.
pub fn opt_u64<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => u64(v, s),
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

/// A `u64` that serializes as a `"0x…"` hex string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Hex(pub u64);

impl serde::Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        u64(&self.0, s)
    }
}

/// Serialize quadwords (most significant first) as one `"0x…"` string with
/// every quadword zero-padded to 16 digits.
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
