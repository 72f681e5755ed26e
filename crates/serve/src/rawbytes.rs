//! `POST /api/disasm`: the raw-bytes disassembler, the direct replacement for an online one.
//!
//! The bytes are hex in any of the usual spellings (`0f 30`, `0f30`, `\x0f\x30`, `0x0f, 0x30`,
//! a QEMU `Code=` or kernel `Code:` line with its `<xx>` marker and `??` bytes), or a whole text
//! holding a QEMU dump, whose `Code=` window, mode and register values are then used. Decoding is
//! [`kvmtriage_x86::analyze_code`], the same as `explain`'s listing.

use kvmtriage_analyze::{Options, Syntax};
use kvmtriage_x86::{CodeAnalysis, CodeInput, CodeOptions, FaultInstruction, ListingLine};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, SyntaxParam};

/// Most bytes one request may disassemble (a page of code; QEMU's window is 50).
pub const MAX_BYTES: usize = 4096;

/// Decode width requested: `"auto"` (from the dump, 64-bit for plain bytes) or 16/32/64.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModeChoice {
    #[default]
    Auto,
    Bits(u8),
}

impl<'de> Deserialize<'de> for ModeChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let bits = match Raw::deserialize(d)? {
            Raw::Text(t) if t.eq_ignore_ascii_case("auto") => return Ok(ModeChoice::Auto),
            Raw::Text(t) => t.trim().parse::<u64>().ok(),
            Raw::Number(n) => Some(n),
        };
        match bits {
            Some(b @ (16 | 32 | 64)) => Ok(ModeChoice::Bits(b as u8)),
            _ => Err(serde::de::Error::custom(
                "mode must be \"auto\", 16, 32 or 64",
            )),
        }
    }
}

/// An address as a JSON number or a hex string (`"0xffffffff96070950"`, `"7c00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address(pub u64);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Address(n)),
            Raw::Text(t) => {
                let t = t.trim();
                let digits = t
                    .strip_prefix("0x")
                    .or_else(|| t.strip_prefix("0X"))
                    .unwrap_or(t)
                    .replace(['_', '`'], "");
                u64::from_str_radix(&digits, 16).map(Address).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "address {t:?} is not a hex number (e.g. \"0xffffffff96070950\")"
                    ))
                })
            }
        }
    }
}

/// The body of `POST /api/disasm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisasmRequest {
    /// Hex bytes, or a text holding a QEMU dump.
    pub bytes: String,
    #[serde(default)]
    pub mode: ModeChoice,
    /// Address of the first byte (for 16- and 32-bit code: the offset in CS). Default 0; for a
    /// dump, the window's own address.
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub(crate) syntax: SyntaxParam,
}

impl DisasmRequest {
    /// A request for plain bytes in the given mode and syntax.
    pub fn new(bytes: &str, mode: ModeChoice, address: Option<u64>, syntax: Syntax) -> Self {
        DisasmRequest {
            bytes: bytes.to_string(),
            mode,
            address: address.map(Address),
            syntax: match syntax {
                Syntax::Intel => SyntaxParam::Intel,
                Syntax::Att => SyntaxParam::Att,
            },
        }
    }
}

/// The answer of `POST /api/disasm` (docs: the OpenAPI document).
#[derive(Debug, Clone, Serialize)]
pub struct DisasmResponse {
    /// `bytes` (hex was given) or `dump` (the `Code=` window of a dump).
    pub source: &'static str,
    pub bits: u32,
    /// `request` (16/32/64 given), `dump` (auto, from the dump's mode) or `default` (auto on plain
    /// bytes: 64-bit).
    pub bits_source: &'static str,
    pub syntax: Syntax,
    /// Address of the first byte, `0x` hex.
    pub address: String,
    /// Number of bytes (`??` included).
    pub length: usize,
    /// Index of the `<xx>` byte, if the input marked one.
    pub marker: Option<usize>,
    pub listing: Vec<ListingLine>,
    /// The marked instruction, explained (only when a byte was marked).
    pub fault: Option<FaultInstruction>,
    pub notes: Vec<String>,
}

/// Why a hex text is not bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("no bytes given")]
    Empty,
    #[error("{token:?} at character {at} is not a hex byte (expected e.g. `0f 30`, `0f30`, `\\x0f\\x30`, `0x0f,0x30`, `<0f>` for the faulting byte, `??` for an unknown one)")]
    BadToken { token: String, at: usize },
    #[error("{token:?} at character {at} has an odd number of hex digits")]
    OddDigits { token: String, at: usize },
    #[error("a second <..> marker at character {at}: mark one byte only")]
    SecondMarker { at: usize },
    #[error("an unclosed `<` at character {at}")]
    UnclosedMarker { at: usize },
    #[error("{count} bytes: at most {max} per request")]
    TooMany { count: usize, max: usize },
}

/// Bytes read from hex text: `None` for `??`, and the marked byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedBytes {
    pub bytes: Vec<Option<u8>>,
    pub marker: Option<usize>,
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | ';' | '{' | '}' | '[' | ']' | '"' | '\'' | '(' | ')'
        )
}

/// Reads hex bytes (see the module documentation for the spellings).
pub fn parse_hex(text: &str) -> Result<ParsedBytes, HexError> {
    let trimmed = text.trim_start();
    let skipped = text.len() - trimmed.len();
    let (body, offset) = ["Code=", "Code:", "code=", "code:"]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p).map(|b| (b, skipped + p.len())))
        .unwrap_or((trimmed, skipped));
    let mut out = ParsedBytes::default();
    let chars: Vec<(usize, char)> = body.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let at = offset + pos + 1;
        if is_separator(c) {
            i += 1;
            continue;
        }
        if c == '<' {
            let close = chars[i..]
                .iter()
                .position(|&(_, c)| c == '>')
                .ok_or(HexError::UnclosedMarker { at })?;
            let inner: String = chars[i + 1..i + close].iter().map(|&(_, c)| c).collect();
            if out.marker.is_some() {
                return Err(HexError::SecondMarker { at });
            }
            let before = out.bytes.len();
            token_bytes(inner.trim(), at, &mut out.bytes)?;
            if out.bytes.len() != before + 1 {
                return Err(HexError::BadToken {
                    token: format!("<{inner}>"),
                    at,
                });
            }
            out.marker = Some(before);
            i += close + 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !is_separator(chars[i].1) && chars[i].1 != '<' {
            i += 1;
        }
        let token: String = chars[start..i].iter().map(|&(_, c)| c).collect();
        token_bytes(&token, at, &mut out.bytes)?;
    }
    if out.bytes.is_empty() {
        return Err(HexError::Empty);
    }
    if out.bytes.len() > MAX_BYTES {
        return Err(HexError::TooMany {
            count: out.bytes.len(),
            max: MAX_BYTES,
        });
    }
    Ok(out)
}

/// One token: `??`, `0f`, `0f30…`, `0x0f`, `0xf`, `\x0f\x30`, `0fh`.
fn token_bytes(token: &str, at: usize, out: &mut Vec<Option<u8>>) -> Result<(), HexError> {
    let bad = || HexError::BadToken {
        token: token.chars().take(40).collect(),
        at,
    };
    if token == "??" {
        out.push(None);
        return Ok(());
    }
    if token.contains("\\x") || token.contains("\\X") {
        let mut parts = token.split(['\\']);
        if parts.next() != Some("") {
            return Err(bad());
        }
        for part in parts {
            let digits = part
                .strip_prefix('x')
                .or_else(|| part.strip_prefix('X'))
                .ok_or_else(bad)?;
            if digits.is_empty() || digits.len() > 2 {
                return Err(bad());
            }
            out.push(Some(u8::from_str_radix(digits, 16).map_err(|_| bad())?));
        }
        return Ok(());
    }
    let digits = if let Some(d) = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        if d.len() == 1 {
            // `0xf`: one byte.
            out.push(Some(u8::from_str_radix(d, 16).map_err(|_| bad())?));
            return Ok(());
        }
        d
    } else if let Some(d) = token
        .strip_suffix('h')
        .or_else(|| token.strip_suffix('H'))
        .filter(|d| d.len() == 2)
    {
        d
    } else {
        token
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    if digits.len() % 2 != 0 {
        return Err(HexError::OddDigits {
            token: token.chars().take(40).collect(),
            at,
        });
    }
    for pair in digits.as_bytes().chunks(2) {
        // ASCII hex digits, checked above.
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        out.push(Some(u8::from_str_radix(s, 16).map_err(|_| bad())?));
    }
    Ok(())
}

/// Disassembles the request's bytes (or its dump's `Code=` window).
pub fn disasm(request: &DisasmRequest) -> Result<DisasmResponse, ApiError> {
    let syntax: Syntax = request.syntax.into();
    let mode = match request.mode {
        ModeChoice::Auto => None,
        ModeChoice::Bits(b) => Some(b),
    };
    let parsed = match parse_hex(&request.bytes) {
        Ok(p) => p,
        Err(hex_error) => {
            // Not hex: perhaps a whole dump was pasted.
            return match kvmtriage_dump::read(&request.bytes) {
                Ok(dumps) => from_dump(dumps, mode, request.address, syntax),
                Err(_) => Err(ApiError::BadBytes(hex_error.to_string())),
            };
        }
    };
    let (bits, bits_source) = match mode {
        Some(b) => (u32::from(b), "request"),
        None => (64, "default"),
    };
    let address = request.address.map_or(0, |a| a.0);
    let ip_mask: u64 = match bits {
        16 => 0xffff,
        32 => 0xffff_ffff,
        _ => u64::MAX,
    };
    if address > ip_mask {
        return Err(ApiError::BadParameter(format!(
            "address {address:#x} does not fit a {bits}-bit instruction pointer: for {bits}-bit code give the offset in CS"
        )));
    }
    // Without a marker, decode linearly from the first readable byte (there is nothing to align on).
    let marked = parsed.marker.is_some();
    let marker = parsed
        .marker
        .or_else(|| parsed.bytes.iter().position(Option::is_some))
        .unwrap_or(0);
    let input = CodeInput {
        bytes: &parsed.bytes,
        marker,
        bitness: bits,
        rip: address.wrapping_add(marker as u64) & ip_mask,
        cs_base: 0,
    };
    let code = kvmtriage_x86::analyze_code(
        &input,
        &kvmtriage_model::CpuState::default(),
        &CodeOptions { syntax },
    );
    let mut notes = Vec::new();
    if bits_source == "default" {
        notes.push(
            "no dump to take the mode from: decoded as 64-bit code (choose 16 or 32 for other code)"
                .to_string(),
        );
    }
    Ok(response(
        code,
        "bytes",
        bits_source,
        parsed.bytes.len(),
        marked,
        notes,
    ))
}

fn from_dump(
    dumps: Vec<kvmtriage_dump::Dump>,
    mode: Option<u8>,
    address: Option<Address>,
    syntax: Syntax,
) -> Result<DisasmResponse, ApiError> {
    let count = dumps.len();
    let mut dump = dumps
        .into_iter()
        .find(|d| d.code.as_ref().is_some_and(|c| c.marker.is_some()))
        .ok_or_else(|| {
            ApiError::BadBytes(
                "the text holds a QEMU dump but no Code= line with a <..> marker".to_string(),
            )
        })?;
    // As `explain --mode` does: the override replaces the dump's own decision.
    if let Some(bits) = mode {
        dump.override_mode(bits);
    }
    let opts = Options {
        mode_override: mode,
        syntax,
        host_kernel: None,
        cpu: None,
        symbols: None,
    };
    let length = dump.code.as_ref().map_or(0, |c| c.bytes.len());
    let code = kvmtriage_analyze::disassemble(&dump, &opts).ok_or_else(|| {
        ApiError::BadBytes(
            "the dump's mode is not known (no CR0/EFER/CS lines) or it has no RIP: choose 16, 32 or 64"
                .to_string(),
        )
    })?;
    let mut notes = Vec::new();
    if count > 1 {
        notes.push(format!(
            "the text holds {count} dumps: the first one with a Code= line is disassembled"
        ));
    }
    if address.is_some() {
        notes.push("address ignored: a dump's window is listed at its own address".to_string());
    }
    let source = if mode.is_some() { "request" } else { "dump" };
    Ok(response(code, "dump", source, length, true, notes))
}

fn response(
    code: CodeAnalysis,
    source: &'static str,
    bits_source: &'static str,
    length: usize,
    marked: bool,
    mut notes: Vec<String>,
) -> DisasmResponse {
    let CodeAnalysis {
        bitness,
        syntax,
        window_address,
        marker,
        fault,
        mut listing,
        notes: code_notes,
        ..
    } = code;
    notes.extend(code_notes.iter().map(ToString::to_string));
    if !marked {
        for line in &mut listing {
            line.is_fault = false;
        }
    }
    DisasmResponse {
        source,
        bits: bitness,
        bits_source,
        syntax,
        address: format!("{window_address:#x}"),
        length,
        marker: marked.then_some(marker),
        listing,
        fault: if marked { fault } else { None },
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Vec<u8> {
        parse_hex(text)
            .expect("hex")
            .bytes
            .into_iter()
            .map(|b| b.expect("known"))
            .collect()
    }

    #[test]
    fn spellings() {
        let want = vec![0x0f, 0x30, 0xc3];
        assert_eq!(bytes("0f 30 c3"), want);
        assert_eq!(bytes("0f30c3"), want);
        assert_eq!(bytes("0F30 C3\n"), want);
        assert_eq!(bytes("\\x0f\\x30\\xc3"), want);
        assert_eq!(bytes("0x0f, 0x30, 0xc3"), want);
        assert_eq!(bytes("{0x0f,0x30,0xc3}"), want);
        assert_eq!(bytes("0fh 30h c3h"), want);
        assert_eq!(bytes("Code=0f 30 c3"), want);
        assert_eq!(bytes("0xf 0x30 0xc3"), want);
    }

    #[test]
    fn marker_and_unknown() {
        let p = parse_hex("Code=89 f0 <0f> 30 ?? c3").expect("hex");
        assert_eq!(p.marker, Some(2));
        assert_eq!(
            p.bytes,
            vec![
                Some(0x89),
                Some(0xf0),
                Some(0x0f),
                Some(0x30),
                None,
                Some(0xc3)
            ]
        );
        assert_eq!(parse_hex("<??> 00").expect("hex").marker, Some(0));
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(parse_hex("  "), Err(HexError::Empty));
        assert_eq!(
            parse_hex("0f zz"),
            Err(HexError::BadToken {
                token: "zz".into(),
                at: 4
            })
        );
        assert_eq!(
            parse_hex("0f 301"),
            Err(HexError::OddDigits {
                token: "301".into(),
                at: 4
            })
        );
        assert_eq!(
            parse_hex("<0f> <30>"),
            Err(HexError::SecondMarker { at: 6 })
        );
        assert_eq!(parse_hex("0f <30"), Err(HexError::UnclosedMarker { at: 4 }));
        assert!(matches!(
            parse_hex(&"00 ".repeat(MAX_BYTES + 1)),
            Err(HexError::TooMany { .. })
        ));
    }

    #[test]
    fn rex_prefixes_are_not_dec_eax_in_64_bit() {
        let bytes = "48 c1 e2 20 48 09 d6";
        let r64 = disasm(&DisasmRequest::new(
            bytes,
            ModeChoice::Bits(64),
            None,
            Syntax::Intel,
        ))
        .expect("64");
        let texts: Vec<&str> = r64.listing.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["shl rdx,0x20", "or rsi,rdx"]);
        let r32 = disasm(&DisasmRequest::new(
            bytes,
            ModeChoice::Bits(32),
            None,
            Syntax::Intel,
        ))
        .expect("32");
        assert_eq!(r32.listing[0].text, "dec eax");
        assert!(r64.fault.is_none() && r64.listing.iter().all(|l| !l.is_fault));
    }

    #[test]
    fn address_must_fit_the_mode() {
        let err = disasm(&DisasmRequest::new(
            "90",
            ModeChoice::Bits(16),
            Some(0x10000),
            Syntax::Intel,
        ))
        .expect_err("too big");
        assert_eq!(err.code(), "bad_parameter");
    }
}
