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

/// QEMU's flat memory map of the CPU address space (`info mtree -f`, the FlatView of
/// `AS "memory"`): which guest-physical ranges are RAM or ROM, and which are devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryMap {
    /// `(first, last, kind, name)`; `kind` as QEMU prints it: `ram`, `rom`, `romd`, `ramd`
    /// (a RAM device such as a passed-through BAR), `i/o`.
    pub ranges: Vec<(u64, u64, String, String)>,
}

/// What lies behind a guest-physical range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// RAM or ROM (some of it): reading has no side effect.
    Memory,
    /// A device region: reading could change the device; not read.
    Device(String),
    /// Nothing: QEMU would answer `Cannot access memory`.
    Nothing,
}

impl MemoryMap {
    /// Parses `info mtree -f`; `None` when the answer has no FlatView for `AS "memory"`.
    pub fn parse(text: &str) -> Option<MemoryMap> {
        let mut map = MemoryMap::default();
        let mut in_view = false;
        let mut found = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("FlatView") {
                if found {
                    break;
                }
                in_view = false;
                continue;
            }
            if t.starts_with("AS \"memory\"") {
                in_view = true;
                found = true;
                continue;
            }
            if !in_view {
                continue;
            }
            // `0000000000100000-0000000003ffffff (prio 0, ram): pc.ram @0000000000100000 KVM`
            let Some((range, rest)) = t.split_once(' ') else {
                continue;
            };
            let Some((first, last)) = range.split_once('-') else {
                continue;
            };
            let (Ok(first), Ok(last)) = (
                u64::from_str_radix(first, 16),
                u64::from_str_radix(last, 16),
            ) else {
                continue;
            };
            let Some(inner) = rest.strip_prefix('(') else {
                continue;
            };
            let Some((attrs, name)) = inner.split_once("):") else {
                continue;
            };
            let kind = attrs.rsplit(", ").next().unwrap_or("").trim().to_string();
            let name = name.split_whitespace().next().unwrap_or("").to_string();
            map.ranges.push((first, last, kind, name));
        }
        found.then_some(map)
    }

    /// What backs `[gpa, gpa+len)`: any device region in it makes it a device.
    pub fn backing(&self, gpa: u64, len: u64) -> Backing {
        let last = gpa.saturating_add(len.max(1) - 1);
        let mut memory = false;
        for (first, end, kind, name) in &self.ranges {
            if *first > last || *end < gpa {
                continue;
            }
            if matches!(kind.as_str(), "ram" | "rom" | "romd") {
                memory = true;
            } else {
                return Backing::Device(format!("{name} ({kind})"));
            }
        }
        if memory {
            Backing::Memory
        } else {
            Backing::Nothing
        }
    }
}

/// `gva2gpa` answers `gpa: 0x…` or `Unmapped`: `Some(Some(gpa))`, `Some(None)`, or `None` for
/// anything else.
pub fn parse_gva2gpa(text: &str) -> Option<Option<u64>> {
    let t = text.trim();
    if t == "Unmapped" {
        return Some(None);
    }
    // QEMU prints `%#x`: `gpa: 0` for address 0, `gpa: 0x…` otherwise.
    let h = t.strip_prefix("gpa: ")?;
    if h == "0" {
        return Some(Some(0));
    }
    u64::from_str_radix(h.strip_prefix("0x")?, 16)
        .ok()
        .map(Some)
}

/// What a read of guest memory gave: the bytes and, for each part that failed, why.
#[derive(Debug, Default)]
pub struct Read {
    pub bytes: Vec<Option<u8>>,
    pub notes: Vec<String>,
    /// HMP commands sent.
    pub commands: u32,
}

impl Read {
    fn skip(&mut self, n: u64, note: String) {
        self.notes.push(note);
        self.bytes.resize(self.bytes.len() + n as usize, None);
    }
}

fn lost(e: &QmpError) -> bool {
    e.is_connection_lost() || matches!(e, QmpError::Timeout { .. })
}

/// Reads `len` bytes at linear address `start` through vCPU `cpu` with HMP `x`.
///
/// With a memory map, each 4 KiB part is first translated (`gva2gpa`, through the same vCPU) and
/// read only when RAM or ROM is behind it: a device region is not read, because a read can
/// change a device (a read-to-clear status register). Connection-level failures are returned as
/// `Err` (nothing more can be read); HMP error text is a note and leaves the bytes unreadable.
pub fn read(
    mon: &mut dyn Monitor,
    cpu: u32,
    start: u64,
    len: u64,
    map: Option<&MemoryMap>,
) -> Result<Read, QmpError> {
    let mut r = Read::default();
    for (at, n) in page_chunks(start, len) {
        let end = at.wrapping_add(n);
        if let Some(map) = map {
            let line = format!("gva2gpa {at:#x}");
            r.commands += 1;
            match hmp(mon, &line, Some(cpu)) {
                Ok(text) => match parse_gva2gpa(&text) {
                    Some(Some(gpa)) => match map.backing(gpa, n) {
                        Backing::Memory => {}
                        Backing::Device(what) => {
                            r.skip(n, format!(
                                "{at:#x}..{end:#x}: guest-physical {gpa:#x} is the device region {what}; not read (a read can change a device)"
                            ));
                            continue;
                        }
                        Backing::Nothing => {
                            r.skip(
                                n,
                                format!(
                                    "{at:#x}..{end:#x}: no RAM or ROM at guest-physical {gpa:#x}"
                                ),
                            );
                            continue;
                        }
                    },
                    Some(None) => {
                        r.skip(
                            n,
                            format!("{at:#x}..{end:#x}: not mapped by the vCPU's page tables"),
                        );
                        continue;
                    }
                    None => {
                        r.skip(
                            n,
                            format!(
                                "{at:#x}..{end:#x}: `{line}` answered {:?}; not read",
                                text.trim()
                            ),
                        );
                        continue;
                    }
                },
                Err(e) if lost(&e) => return Err(e),
                Err(e) => {
                    r.skip(n, format!("{at:#x}..{end:#x}: `{line}`: {e}; not read"));
                    continue;
                }
            }
        }
        let line = format!("x /{n}xb {at:#x}");
        r.commands += 1;
        match hmp(mon, &line, Some(cpu)) {
            Ok(text) => match parse_x(&text, at, n as usize) {
                Ok(bytes) => {
                    if let Some(first_bad) = bytes.iter().position(Option::is_none) {
                        r.notes.push(format!(
                            "{:#x}..{end:#x}: QEMU cannot access this memory",
                            at.wrapping_add(first_bad as u64),
                        ));
                    }
                    r.bytes.extend(bytes);
                }
                Err(msg) => r.skip(n, format!("`{line}`: {}", msg.trim())),
            },
            Err(e) if lost(&e) => return Err(e),
            Err(e) => r.skip(n, format!("`{line}`: {e}")),
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

    const MTREE: &str = "FlatView #0\n AS \"memory\", root: system\n AS \"cpu-memory-0\", root: system\n Root memory region: system\n  0000000000000000-00000000000bffff (prio 0, ram): pc.ram KVM\n  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom KVM\n  0000000000100000-0000000003ffffff (prio 0, ram): pc.ram @0000000000100000 KVM\n  00000000fec00000-00000000fec00fff (prio 0, i/o): kvm-ioapic\n  00000000fee00000-00000000feefffff (prio 4096, i/o): kvm-apic-msi\n  00000000ffff0000-00000000ffffffff (prio 0, rom): pc.bios KVM\n\nFlatView #1\n AS \"I/O\", root: io\n Root memory region: io\n  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\n";

    #[test]
    fn memory_map_from_qemu_7_2() {
        let m = MemoryMap::parse(MTREE).unwrap();
        assert_eq!(m.ranges.len(), 6, "only the FlatView of AS memory");
        assert_eq!(m.backing(0x7000, 256), Backing::Memory);
        assert_eq!(m.backing(0xffff_fff0, 16), Backing::Memory);
        assert_eq!(m.backing(0x1000_0000, 256), Backing::Nothing);
        assert_eq!(
            m.backing(0xfee0_0000, 256),
            Backing::Device("kvm-apic-msi (i/o)".into())
        );
        // RAM up to 0x3ffffff and nothing after: memory (the x read says where it stops).
        assert_eq!(m.backing(0x3ffff80, 256), Backing::Memory);
        assert_eq!(MemoryMap::parse("unknown command: 'mtree'"), None);
        assert_eq!(parse_gva2gpa("gpa: 0x10000000\n"), Some(Some(0x1000_0000)));
        assert_eq!(parse_gva2gpa("Unmapped\n"), Some(None));
        assert_eq!(parse_gva2gpa("gpa: 0\n"), Some(Some(0)), "QEMU's %#x of 0");
        assert_eq!(parse_gva2gpa("No cpu\n"), None);
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
        fn memory_map_never_panics(text in "(?s).{0,400}", gpa in proptest::prelude::any::<u64>(), len in proptest::prelude::any::<u64>()) {
            if let Some(m) = MemoryMap::parse(&text) {
                let _ = m.backing(gpa, len);
            }
            let _ = parse_gva2gpa(&text);
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
