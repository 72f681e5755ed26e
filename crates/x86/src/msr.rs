//! The MSR catalogue: names, descriptions and field layouts of model-specific registers.
//!
//! The data lives in `data/msrs.toml` (with a source per entry: Intel SDM Vol. 4 tables, AMD APM,
//! Linux `arch/x86/include/asm/msr-index.h`, KVM `Documentation/virt/kvm/x86/msr.rst`, Hyper-V TLFS);
//! `build.rs` turns it into the sorted static tables included below, searched with binary search.

use std::fmt;

use kvmtriage_model::hex;
use serde::{Serialize, Serializer};

/// One field of an MSR layout as generated from the data file.
pub(crate) struct RawField {
    hi: u32,
    lo: u32,
    name: &'static str,
    description: &'static str,
    /// Named values of the field (sorted by value); empty when the field is a plain number or flag.
    values: &'static [(u64, &'static str)],
    /// Show the field masked in place (an address), not shifted down to bit 0.
    address: bool,
}

/// One MSR as generated from the data file.
pub(crate) struct RawMsr {
    index: u32,
    name: &'static str,
    description: &'static str,
    source: &'static str,
    aliases: &'static [&'static str],
    layout: Option<usize>,
    bank: Option<u32>,
}

include!(concat!(env!("OUT_DIR"), "/msr_table.rs"));

/// What the catalogue knows about one MSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsrInfo {
    /// The MSR index (the value of ECX for RDMSR/WRMSR).
    pub index: u32,
    /// Canonical name (Intel SDM name where one exists, else the Linux/AMD/TLFS name).
    pub name: &'static str,
    /// Short description.
    pub description: &'static str,
    /// Where the index and meaning come from.
    pub source: &'static str,
    /// Other accepted spellings (e.g. the Linux `msr-index.h` macro).
    pub aliases: &'static [&'static str],
    /// Machine-check bank number for per-bank registers (IA32_MCi_*), else `None`.
    pub bank: Option<u32>,
    layout: Option<usize>,
}

impl MsrInfo {
    fn from_raw(raw: &'static RawMsr) -> Self {
        MsrInfo {
            index: raw.index,
            name: raw.name,
            description: raw.description,
            source: raw.source,
            aliases: raw.aliases,
            bank: raw.bank,
            layout: raw.layout,
        }
    }

    /// Whether [`decode_value`] knows the fields of this MSR.
    pub fn has_layout(&self) -> bool {
        self.layout.is_some()
    }
}

impl Serialize for MsrInfo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("MsrInfo", 6)?;
        s.serialize_field("index", &hex::Hex(u64::from(self.index)))?;
        s.serialize_field("name", self.name)?;
        s.serialize_field("description", self.description)?;
        s.serialize_field("source", self.source)?;
        s.serialize_field("aliases", self.aliases)?;
        s.serialize_field("bank", &self.bank)?;
        s.end()
    }
}

/// One decoded field of an MSR value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Field name (SDM mnemonic where there is one), e.g. `LME`.
    pub name: &'static str,
    /// Bit range; JSON and `Display`: `"hi:lo"`, or the bit number for one bit.
    pub bits: BitRange,
    /// Field value: shifted down to bit 0, except address fields which keep their position.
    #[serde(serialize_with = "hex::u64")]
    pub value: u64,
    /// Name of the value for enumerated fields (e.g. `"WB (write back)"`), `reserved (n)` if unnamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
    /// What the field controls.
    pub description: &'static str,
}

impl Field {
    /// `NAME=value` with the meaning in parentheses, for one-line reports.
    pub fn short(&self) -> String {
        match &self.meaning {
            Some(m) => format!("{}={} ({m})", self.name, hex::min(self.value)),
            None => format!("{}={}", self.name, hex::min(self.value)),
        }
    }
}

/// The bits a field occupies, `hi` ≥ `lo` (both 0–63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BitRange {
    pub hi: u8,
    pub lo: u8,
}

impl BitRange {
    /// Width in bits.
    pub fn width(self) -> u32 {
        u32::from(self.hi - self.lo) + 1
    }
}

impl fmt::Display for BitRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hi == self.lo {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}:{}", self.hi, self.lo)
        }
    }
}

impl Serialize for BitRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Errors from [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsrError {
    /// The query is a number but no MSR with that index is catalogued.
    #[error("MSR {index:#x} is not in the catalogue{}", region.map(|r| format!(" (it lies in the {r} range)")).unwrap_or_default())]
    UnknownIndex {
        index: u32,
        region: Option<&'static str>,
    },
    /// The query is a name that matches no MSR or alias.
    #[error("no MSR named {0:?} in the catalogue")]
    UnknownName(String),
    /// The query looks like a number but is not a valid 32-bit MSR index.
    #[error("{0:?} is not a valid MSR index (expected 0x0..0xffffffff)")]
    BadIndex(String),
    /// Empty query.
    #[error("empty MSR name")]
    Empty,
}

/// Looks an MSR up by index.
pub fn lookup(index: u32) -> Option<MsrInfo> {
    MSRS.binary_search_by_key(&index, |m| m.index)
        .ok()
        .and_then(|i| MSRS.get(i))
        .map(MsrInfo::from_raw)
}

/// Normalises a name for lookup: upper case, without a leading `MSR_`.
fn normalize_name(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    match upper.strip_prefix("MSR_") {
        Some(rest) => rest.to_string(),
        None => upper,
    }
}

fn lookup_normalized(norm: &str) -> Option<MsrInfo> {
    NAMES
        .binary_search_by(|(n, _)| (*n).cmp(norm))
        .ok()
        .and_then(|i| NAMES.get(i))
        .and_then(|(_, pos)| MSRS.get(*pos))
        .map(MsrInfo::from_raw)
}

/// Looks an MSR up by name, case-insensitively. Accepts the canonical name, any alias, the Linux
/// `MSR_` prefixed form, and the SDM name without its `IA32_` prefix: `IA32_MC1_CTL`, `MC1_CTL`,
/// `msr_ia32_mc1_ctl` and `MSR_IA32_MC1_CTL` all find MSR 0x404.
pub fn lookup_name(name: &str) -> Option<MsrInfo> {
    let norm = normalize_name(name);
    if norm.is_empty() {
        return None;
    }
    lookup_normalized(&norm).or_else(|| {
        if norm.starts_with("IA32_") {
            None
        } else {
            lookup_normalized(&format!("IA32_{norm}"))
        }
    })
}

/// Parses an MSR index written as `0x838`, `838h` or decimal `2104`.
pub fn parse_index(text: &str) -> Option<Result<u32, MsrError>> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
        (hex.replace('_', ""), 16)
    } else if let Some(hex) = lower
        .strip_suffix('h')
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        (hex.to_string(), 16)
    } else if !lower.is_empty() && lower.chars().all(|c| c.is_ascii_digit() || c == '_') {
        (lower.replace('_', ""), 10)
    } else {
        return None;
    };
    Some(u32::from_str_radix(&digits, radix).map_err(|_| MsrError::BadIndex(t.to_string())))
}

/// Resolves a user query (index or name) to a catalogue entry.
pub fn resolve(query: &str) -> Result<MsrInfo, MsrError> {
    if query.trim().is_empty() {
        return Err(MsrError::Empty);
    }
    match parse_index(query) {
        Some(Ok(index)) => lookup(index).ok_or(MsrError::UnknownIndex {
            index,
            region: region(index),
        }),
        Some(Err(e)) => Err(e),
        None => lookup_name(query).ok_or_else(|| MsrError::UnknownName(query.trim().to_string())),
    }
}

/// Names the architectural range an index falls in, for indices the catalogue does not name.
pub fn region(index: u32) -> Option<&'static str> {
    match index {
        0x400..=0x47f => Some("machine-check bank (IA32_MCi_CTL/STATUS/ADDR/MISC)"),
        0x800..=0x8ff => Some("x2APIC register (0x800-0x8ff)"),
        0x4000_0000..=0x4000_ffff => Some("Hyper-V synthetic MSR (0x40000000-0x4000ffff)"),
        0x4b56_4d00..=0x4b56_4dff => Some("KVM paravirtual MSR (0x4b564d00-0x4b564dff)"),
        0xc000_0000..=0xc000_ffff => Some("AMD64 architectural MSR (0xc0000000-0xc000ffff)"),
        0xc001_0000..=0xc001_ffff => Some("AMD model-specific MSR (0xc0010000-0xc001ffff)"),
        _ => None,
    }
}

/// Decodes `value` field by field with the layout of MSR `index`; empty if no layout is known.
pub fn decode_value(index: u32, value: u64) -> Vec<Field> {
    let Some(layout) = lookup(index)
        .and_then(|m| m.layout)
        .and_then(|l| LAYOUTS.get(l))
    else {
        return Vec::new();
    };
    layout.iter().map(|f| decode_field(f, value)).collect()
}

/// Decodes `value` with a named layout from the data file (e.g. `"xcr0"`, `"efer"`); empty if unknown.
pub fn decode_layout(layout: &str, value: u64) -> Vec<Field> {
    let Some(fields) = LAYOUT_NAMES
        .binary_search(&layout)
        .ok()
        .and_then(|i| LAYOUTS.get(i))
    else {
        return Vec::new();
    };
    fields.iter().map(|f| decode_field(f, value)).collect()
}

fn decode_field(f: &RawField, value: u64) -> Field {
    let width = f.hi - f.lo + 1;
    let mask = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let shifted = (value >> f.lo) & mask;
    let meaning = if f.values.is_empty() {
        None
    } else {
        Some(match f.values.binary_search_by_key(&shifted, |(k, _)| *k) {
            Ok(i) => f
                .values
                .get(i)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
            Err(_) => format!("reserved ({shifted})"),
        })
    };
    Field {
        name: f.name,
        // build.rs checks hi >= lo and hi < 64.
        bits: BitRange {
            hi: f.hi as u8,
            lo: f.lo as u8,
        },
        value: if f.address { shifted << f.lo } else { shifted },
        meaning,
        description: f.description,
    }
}

/// Number of catalogued MSRs (series expanded).
pub fn count() -> usize {
    MSRS.len()
}

/// All catalogued MSRs in index order.
pub fn all() -> impl Iterator<Item = MsrInfo> {
    MSRS.iter().map(MsrInfo::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_large() {
        assert!(count() > 400, "only {} MSRs", count());
        assert!(MSRS.windows(2).all(|w| w[0].index < w[1].index));
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn x2apic_timer_initial_count() {
        let m = lookup(0x838).expect("0x838");
        assert_eq!(m.name, "IA32_X2APIC_INIT_COUNT");
        assert_eq!(m.description, "x2APIC timer initial count");
        let f = decode_value(0x838, 0x7213cc9);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].value, 0x7213cc9);
    }

    #[test]
    fn name_variants() {
        for n in [
            "IA32_MC1_CTL",
            "MC1_CTL",
            "mc1_ctl",
            "MSR_IA32_MC1_CTL",
            " ia32_mc1_ctl ",
        ] {
            let m = lookup_name(n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(m.index, 0x404, "{n}");
            assert_eq!(m.bank, Some(1));
        }
        assert_eq!(lookup_name("MSR_IA32_CR_PAT").map(|m| m.index), Some(0x277));
        assert_eq!(lookup_name("EFER").map(|m| m.index), Some(0xc000_0080));
        assert_eq!(
            lookup_name("msr_kvm_system_time_new").map(|m| m.index),
            Some(0x4b56_4d01)
        );
        assert_eq!(lookup_name("IA32_MC31_CTL2").map(|m| m.index), Some(0x29f));
        assert_eq!(lookup_name("IA32_MC31_MISC").map(|m| m.index), Some(0x47f));
        assert_eq!(lookup_name("TMICT").map(|m| m.index), Some(0x838));
        assert_eq!(lookup_name("NO_SUCH_MSR"), None);
        assert_eq!(lookup_name(""), None);
    }

    #[test]
    fn resolve_numbers_and_names() {
        assert_eq!(resolve("0x838").map(|m| m.index), Ok(0x838));
        assert_eq!(resolve("838h").map(|m| m.index), Ok(0x838));
        assert_eq!(resolve("2104").map(|m| m.index), Ok(0x838));
        assert_eq!(
            resolve("0x8ff"),
            Err(MsrError::UnknownIndex {
                index: 0x8ff,
                region: Some("x2APIC register (0x800-0x8ff)")
            })
        );
        assert!(matches!(
            resolve("0x1_0000_0000"),
            Err(MsrError::BadIndex(_))
        ));
        assert_eq!(resolve("  "), Err(MsrError::Empty));
    }

    #[test]
    fn efer_fields() {
        let f = decode_value(0xc000_0080, 0xd01);
        let set: Vec<&str> = f.iter().filter(|f| f.value != 0).map(|f| f.name).collect();
        assert_eq!(set, ["SCE", "LME", "LMA", "NXE"]);
    }

    #[test]
    fn pat_fields() {
        // Linux default PAT: WB, WC, UC-, UC, WB, WP, UC-, WT.
        let f = decode_value(0x277, 0x0407_0504_0007_0106);
        let m: Vec<&str> = f
            .iter()
            .map(|f| f.meaning.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(m[0], "WB (write back)");
        assert_eq!(m[1], "WC (write combining)");
        assert_eq!(m[2], "UC- (uncached, PAT only)");
        assert_eq!(m[3], "UC (uncacheable)");
        assert_eq!(m[5], "WP (write protected)");
        assert_eq!(m[7], "WT (write through)");
    }

    #[test]
    fn apic_base_address_field() {
        let f = decode_value(0x1b, 0xfee0_0900);
        let base = f.iter().find(|f| f.name == "BASE").expect("BASE");
        assert_eq!(base.value, 0xfee0_0000);
        assert_eq!(f.iter().find(|f| f.name == "BSP").map(|f| f.value), Some(1));
        assert_eq!(f.iter().find(|f| f.name == "EN").map(|f| f.value), Some(1));
        assert_eq!(
            f.iter().find(|f| f.name == "EXTD").map(|f| f.value),
            Some(0)
        );
    }

    #[test]
    fn mci_status_and_banks() {
        let m = lookup(0x401 + 4 * 5).expect("MC5_STATUS");
        assert_eq!(m.name, "IA32_MC5_STATUS");
        assert_eq!(m.bank, Some(5));
        let f = decode_value(m.index, 0xbe00_0000_0000_0135);
        let get = |n: &str| f.iter().find(|f| f.name == n).map(|f| f.value);
        assert_eq!(get("VAL"), Some(1));
        assert_eq!(get("UC"), Some(1));
        assert_eq!(get("OVER"), Some(0));
        assert_eq!(get("S"), Some(0));
        assert_eq!(get("EN"), Some(1));
        assert_eq!(get("MISCV"), Some(1));
        assert_eq!(get("ADDRV"), Some(1));
        assert_eq!(get("PCC"), Some(1));
        assert_eq!(get("MCA_ERROR_CODE"), Some(0x135));
        assert_eq!(lookup(0x280 + 31).map(|m| m.name), Some("IA32_MC31_CTL2"));
    }

    #[test]
    fn lvt_timer_mode_enum() {
        let f = decode_value(0x832, 0x400ec);
        assert_eq!(
            f.iter()
                .find(|f| f.name == "TIMER_MODE")
                .and_then(|f| f.meaning.clone())
                .as_deref(),
            Some("TSC-deadline")
        );
        assert_eq!(
            f.iter().find(|f| f.name == "VECTOR").map(|f| f.value),
            Some(0xec)
        );
    }
}
