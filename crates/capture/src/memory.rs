//! Guest memory through HMP `x` (linear addresses, translated by the chosen vCPU's own paging
//! state) and its text output.
//!
//! QEMU prints `x /Nxb ADDR` as lines of `ADDRESS: 0xNN 0xNN …` and stops with
//! `ADDRESS: Cannot access memory` at the first line it cannot read (no mapping, no RAM behind
//! it). Reads are split at 4 KiB page boundaries so that an unreadable page does not hide a
//! readable one next to it.

use crate::{hmp, Monitor, QmpError};

const PAGE: u64 = 4096;

/// Parses the output of `x /{len}xb {start:#x}`: `len` bytes, `None` from the first unreadable
/// line on. Any other text (an HMP error message) is returned as `Err`.
pub fn parse_x(text: &str, start: u64, len: usize) -> Result<Vec<Option<u8>>, String> {
    let mut bytes: Vec<Option<u8>> = Vec::with_capacity(len);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((addr, rest)) = line.split_once(':') else {
            return Err(line.to_string());
        };
        let Ok(addr) = u64::from_str_radix(addr.trim(), 16) else {
            return Err(line.to_string());
        };
        let expected = start.wrapping_add(bytes.len() as u64);
        if addr != expected {
            return Err(format!(
                "line for {addr:#x} where {expected:#x} was expected: {line}"
            ));
        }
        let rest = rest.trim();
        if rest.starts_with("Cannot access memory") {
            break;
        }
        for tok in rest.split_whitespace() {
            let digits = tok.strip_prefix("0x").ok_or_else(|| line.to_string())?;
            let b = u8::from_str_radix(digits, 16).map_err(|_| line.to_string())?;
            if bytes.len() == len {
                return Err(format!("more than {len} bytes in the reply: {line}"));
            }
            bytes.push(Some(b));
        }
    }
    bytes.resize(len, None);
    Ok(bytes)
}

/// The parts of `[start, start+len)` that do not cross a 4 KiB boundary, in order.
pub fn page_chunks(start: u64, len: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = start;
    let mut left = len;
    while left > 0 {
        let to_boundary = PAGE - (at % PAGE);
        let n = left.min(to_boundary);
        out.push((at, n));
        left -= n;
        at = at.wrapping_add(n);
    }
    out
}

/// What a read of guest memory gave: the bytes and, for each part that failed, why.
#[derive(Debug, Default)]
pub struct Read {
    pub bytes: Vec<Option<u8>>,
    pub notes: Vec<String>,
    /// HMP commands sent.
    pub commands: u32,
}

/// Reads `len` bytes at linear address `start` through vCPU `cpu` (`x`), or at guest-physical
/// `start` (`xp`). Connection-level failures are returned as `Err` (nothing more can be read);
/// HMP error text is a note and leaves the bytes unreadable (`None`).
pub fn read(
    mon: &mut dyn Monitor,
    cpu: u32,
    start: u64,
    len: u64,
    physical: bool,
) -> Result<Read, QmpError> {
    let mut r = Read::default();
    let cmd = if physical { "xp" } else { "x" };
    for (at, n) in page_chunks(start, len) {
        let line = format!("{cmd} /{n}xb {at:#x}");
        r.commands += 1;
        match hmp(mon, &line, Some(cpu)) {
            Ok(text) => match parse_x(&text, at, n as usize) {
                Ok(bytes) => {
                    if let Some(first_bad) = bytes.iter().position(Option::is_none) {
                        r.notes.push(format!(
                            "{:#x}..{:#x}: QEMU cannot access this memory",
                            at.wrapping_add(first_bad as u64),
                            at.wrapping_add(n)
                        ));
                    }
                    r.bytes.extend(bytes);
                }
                Err(msg) => {
                    r.notes.push(format!("`{line}`: {}", msg.trim()));
                    r.bytes.resize(r.bytes.len() + n as usize, None);
                }
            },
            Err(e) if e.is_connection_lost() || matches!(e, QmpError::Timeout { .. }) => {
                return Err(e)
            }
            Err(e) => {
                r.notes.push(format!("`{line}`: {e}"));
                r.bytes.resize(r.bytes.len() + n as usize, None);
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_x_output() {
        let text = "000000000000fff0: 0xf4 0xeb 0xfd 0x00 0x00 0x00 0x00 0x00\n\
                    000000000000fff8: 0x01 0x02 0x03 0x04 0x05 0x06 0x07 0x08\n";
        let b = parse_x(text, 0xfff0, 16).unwrap();
        assert_eq!(b[0], Some(0xf4));
        assert_eq!(b[15], Some(0x08));
    }

    #[test]
    fn unreadable_tail_is_none() {
        let text = "0000000003fffff8: 0x90 0x90 0x90 0x90 0x90 0x90 0x90 0x90\n\
                    0000000004000000: Cannot access memory\n";
        let b = parse_x(text, 0x3fffff8, 16).unwrap();
        assert_eq!(&b[..8], &[Some(0x90); 8]);
        assert_eq!(&b[8..], &[None; 8]);
    }

    #[test]
    fn hmp_error_text_is_an_error() {
        assert!(parse_x("invalid char 'g' in expression\n", 0, 8).is_err());
        assert!(
            parse_x("0000000000000010: 0x00\n", 0, 8).is_err(),
            "wrong address"
        );
        assert!(parse_x("0000000000000000: 0x100\n", 0, 8).is_err());
    }

    #[test]
    fn chunks_split_at_pages() {
        assert_eq!(
            page_chunks(0x3ffff80, 256),
            vec![(0x3ffff80, 128), (0x4000000, 128)]
        );
        assert_eq!(page_chunks(0x1000, 256), vec![(0x1000, 256)]);
        assert_eq!(page_chunks(u64::MAX - 7, 8), vec![(u64::MAX - 7, 8)]);
    }

    proptest::proptest! {
        #[test]
        fn parse_x_never_panics(text in ".{0,400}", start in proptest::prelude::any::<u64>(), len in 0usize..300) {
            let _ = parse_x(&text, start, len);
        }

        #[test]
        fn chunks_cover_the_range(start in proptest::prelude::any::<u64>(), len in 0u64..20000) {
            let c = page_chunks(start, len);
            proptest::prop_assert_eq!(c.iter().map(|(_, n)| n).sum::<u64>(), len);
            for (at, n) in &c {
                proptest::prop_assert!(at % PAGE + n <= PAGE);
            }
        }
    }
}
