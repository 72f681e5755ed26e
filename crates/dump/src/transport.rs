//! The transport layer: from the text as it reached the user (a terminal copy, a mail, a journal,
//! a libvirt log, a JSON string) back to the lines the program printed. Reusable by any reader of
//! machine output (the QEMU dump reader here, a kernel-oops reader, a log scanner).
//!
//! - [`Transport`] turns physical lines into logical lines, one at a time: CRLF, a byte-order
//!   mark, quoted-printable mail (soft line breaks `=` joined, `=3D`-style escapes decoded, quote
//!   markers on continuation lines dropped), line breaks escaped as `\n` inside a JSON string
//!   (QMP `human-monitor-command` answers), and register tokens cut in two by a terminal or
//!   mailer that wraps at a fixed column (`RDX=00000000fff` / `d7b03`, `R1` / `1=…`).
//!   [`Lines`] does the same over a whole text.
//! - [`strip_prefix`] removes what loggers and mailers put before a line: journald/syslog
//!   (`Mar  3 12:34:56 host qemu-kvm[1234]: `), `dmesg` (`[   12.345678] `, `[Mon Mar  3 …] `,
//!   `[T1234] `), libvirt (`2025-03-03 12:34:56.789+0000: `), ISO timestamps, mail quotes
//!   (`>`, `> >`, `>>>`, `&gt;`) and indentation. [`content_starts`] lists every place a line's
//!   content may start after such a prefix, for readers that recognise their own tokens (the
//!   dump reader does: it takes the first position where a register token starts).
//!
//! Look-ahead is bounded: a logical line that ends the way a line cut by a terminal wrap does (a
//! register value with too few digits, part of a register name) is held until the next physical
//! line shows whether it continues it; every other line is passed on at once, without a copy.
//! A logical line never grows beyond [`MAX_LOGICAL_LINE`] bytes through joins (a quoted-printable
//! soft-break run or a chain of wraps that reaches it is ended there, the next physical line
//! starting a new logical line).

use std::collections::VecDeque;

/// Longest logical line the transport builds by joining physical lines (bytes).
pub const MAX_LOGICAL_LINE: usize = 64 * 1024;

/// One logical line: its text and the physical lines it came from (1-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// First physical line.
    pub number: u32,
    /// Last physical line (greater than `number` when lines were joined).
    pub last: u32,
    pub text: &'a str,
}

impl<'a> Line<'a> {
    /// The text without a log or mail prefix ([`strip_prefix`]).
    pub fn body(&self) -> &'a str {
        strip_prefix(self.text)
    }
}

/// An owned [`Line`], as [`Lines`] yields them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    pub number: u32,
    pub last: u32,
    pub text: String,
}

impl LogicalLine {
    pub fn as_line(&self) -> Line<'_> {
        Line {
            number: self.number,
            last: self.last,
            text: &self.text,
        }
    }
}

/// Physical lines in, logical lines out (see the module documentation).
///
/// ```
/// use kvmtriage_dump::transport::Transport;
/// let mut t = Transport::new();
/// let mut out = Vec::new();
/// for l in ["> RAX=3D0000000000000001 RBX=3D00000000=", "> 00000002\r", "next"] {
///     t.push(l, &mut |line| out.push((line.number, line.last, line.text.to_string())));
/// }
/// t.finish(&mut |line| out.push((line.number, line.last, line.text.to_string())));
/// assert_eq!(out[0], (1, 2, "> RAX=0000000000000001 RBX=0000000000000002".to_string()));
/// assert_eq!(out[1], (3, 3, "next".to_string()));
/// ```
#[derive(Debug, Default)]
pub struct Transport {
    /// Physical lines pushed so far.
    physical: u32,
    /// The last logical line, held until the next physical line shows whether it continues it.
    held: Option<Held>,
    /// A quoted-printable soft-break run being joined: raw (still encoded) text and first line.
    qp: Option<(String, u32)>,
    /// The buffer of the last held line, for the next one.
    spare: String,
}

#[derive(Debug)]
struct Held {
    text: String,
    number: u32,
    last: u32,
}

impl Transport {
    pub fn new() -> Self {
        Self::default()
    }

    /// Physical lines pushed so far.
    pub fn physical_lines(&self) -> u32 {
        self.physical
    }

    /// Push one physical line (without its `\n`; a trailing `\r` is dropped here). Every logical
    /// line that is now complete is passed to `emit`, in order.
    pub fn push(&mut self, physical: &str, emit: &mut impl FnMut(Line<'_>)) {
        self.physical = self.physical.saturating_add(1);
        let no = self.physical;
        let mut line = physical.strip_suffix('\r').unwrap_or(physical);
        if no == 1 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if let Some((joined, first)) = self.qp.as_mut() {
            let cur = strip_quote(line);
            match cur.strip_suffix('=') {
                Some(body) if joined.len() + body.len() <= MAX_LOGICAL_LINE => {
                    joined.push_str(body);
                }
                _ => {
                    joined.push_str(cur);
                    let first = *first;
                    self.end_qp(first, no, emit);
                }
            }
            return;
        }
        // A dump inside a JSON string (QMP `human-monitor-command` answers, `virsh
        // qemu-monitor-command` output) has its line breaks escaped as `\r\n`.
        if line.as_bytes().contains(&b'\\') && line.contains("\\n") && has_dump_token(line) {
            for piece in line.split("\\n") {
                let piece = piece.strip_suffix("\\r").unwrap_or(piece);
                let text = piece.replace("\\\"", "\"").replace("\\\\", "\\");
                self.hold(text, no, no, emit);
            }
            return;
        }
        if line.contains("=3D") {
            self.flush(emit);
            match line.strip_suffix('=') {
                Some(body) => self.qp = Some((body.to_string(), no)),
                None => {
                    self.qp = Some((line.to_string(), no));
                    self.end_qp(no, no, emit);
                }
            }
            return;
        }
        if let Some(held) = self.held.as_mut() {
            if held.last + 1 == no && held.text.len() < MAX_LOGICAL_LINE {
                if let Some(cont) = hard_wrap_continues(&held.text, line) {
                    held.text.push_str(cont);
                    held.last = no;
                    if !may_continue(&held.text) {
                        self.flush(emit);
                    }
                    return;
                }
            }
        }
        self.flush(emit);
        if may_continue(line) {
            // Keep a copy until the next line shows whether it continues this one; reuse the
            // buffer.
            let mut text = std::mem::take(&mut self.spare);
            text.clear();
            text.push_str(line);
            self.held = Some(Held {
                text,
                number: no,
                last: no,
            });
        } else {
            // Nothing can continue this line: no copy, no delay.
            emit(Line {
                number: no,
                last: no,
                text: line,
            });
        }
    }

    /// End of input: emit what is still held.
    pub fn finish(&mut self, emit: &mut impl FnMut(Line<'_>)) {
        if let Some((_, first)) = self.qp {
            // A soft break on the last line: nothing follows.
            self.end_qp(first, self.physical, emit);
        }
        self.flush(emit);
    }

    fn end_qp(&mut self, first: u32, last: u32, emit: &mut impl FnMut(Line<'_>)) {
        if let Some((joined, _)) = self.qp.take() {
            self.hold(qp_decode(&joined), first, last, emit);
        }
    }

    fn hold(&mut self, text: String, number: u32, last: u32, emit: &mut impl FnMut(Line<'_>)) {
        self.flush(emit);
        if may_continue(&text) {
            self.held = Some(Held { text, number, last });
        } else {
            emit(Line {
                number,
                last,
                text: &text,
            });
        }
    }

    fn flush(&mut self, emit: &mut impl FnMut(Line<'_>)) {
        if let Some(h) = self.held.take() {
            emit(Line {
                number: h.number,
                last: h.last,
                text: &h.text,
            });
            self.spare = h.text;
        }
    }
}

/// The logical lines of a whole text (see [`Transport`]).
///
/// ```
/// use kvmtriage_dump::transport::Lines;
/// let lines: Vec<_> = Lines::new("a\r\nb=3Dc\n").collect();
/// assert_eq!(lines[1].text, "b=c");
/// assert_eq!(lines[1].number, 2);
/// ```
pub struct Lines<'a> {
    physical: std::str::Split<'a, char>,
    transport: Transport,
    ready: VecDeque<LogicalLine>,
    done: bool,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Self {
        let body = text.strip_suffix('\n').unwrap_or(text);
        Lines {
            physical: body.split('\n'),
            transport: Transport::new(),
            ready: VecDeque::new(),
            done: text.is_empty(),
        }
    }
}

impl Iterator for Lines<'_> {
    type Item = LogicalLine;

    fn next(&mut self) -> Option<LogicalLine> {
        loop {
            if let Some(l) = self.ready.pop_front() {
                return Some(l);
            }
            if self.done {
                return None;
            }
            let ready = &mut self.ready;
            let mut emit = |l: Line<'_>| {
                ready.push_back(LogicalLine {
                    number: l.number,
                    last: l.last,
                    text: l.text.to_string(),
                })
            };
            match self.physical.next() {
                Some(p) => self.transport.push(p, &mut emit),
                None => {
                    self.transport.finish(&mut emit);
                    self.done = true;
                }
            }
        }
    }
}

/// Whether a line holds a piece of a register dump (used to decide whether escaped line breaks
/// in it are worth splitting).
fn has_dump_token(line: &str) -> bool {
    ["RIP=", "EIP=", "RAX=", "EAX=", "CS =", "Code=", "EFER="]
        .iter()
        .any(|t| line.contains(t))
}

/// Whether some next line could continue `prev` ([`hard_wrap_continues`] looks at `prev` the same
/// way first): a long line ending in a register value with too few digits, or in the first part
/// of a register name.
fn may_continue(prev: &str) -> bool {
    use crate::reader::registers::{is_reg_name, is_wide_reg_name};
    let pb = prev.as_bytes();
    let Some(&end) = pb.last() else {
        return false;
    };
    if pb.len() < 60 || !(end.is_ascii_alphanumeric() || end == b'=') {
        return false;
    }
    let last = &prev[pb
        .iter()
        .rposition(|c| *c == b' ' || *c == b'\t')
        .map_or(0, |p| p + 1)..];
    if let Some((name, digits)) = last.split_once('=') {
        if matches!(digits.len(), 2 | 4 | 8 | 16 | 32) {
            return false;
        }
        let name = if name.is_empty() {
            prev[..prev.len() - last.len()]
                .trim_end()
                .rsplit(' ')
                .next()
                .unwrap_or("")
        } else {
            name
        };
        return is_wide_reg_name(name) && digits.bytes().all(is_lower_hex);
    }
    // Every register name starts with an upper-case letter.
    !last.is_empty()
        && last.len() <= 5
        && last.bytes().all(|c| c.is_ascii_alphanumeric())
        && last.as_bytes()[0].is_ascii_uppercase()
        && !is_reg_name(last)
}

/// A terminal or mailer that wraps at a fixed column cuts register tokens (`RDX=00000000fff` /
/// `d7b03`, `R1` / `1=…`). If `prev` ends in such a cut and `next` completes it, return the part
/// of `next` to append.
fn hard_wrap_continues<'a>(prev: &str, next: &'a str) -> Option<&'a str> {
    use crate::reader::registers::{is_reg_name, is_wide_reg_name};
    let pb = prev.as_bytes();
    let end = *pb.last()?;
    if pb.len() < 60 || !(end.is_ascii_alphanumeric() || end == b'=') {
        return None;
    }
    let last = &prev[pb
        .iter()
        .rposition(|c| *c == b' ' || *c == b'\t')
        .map_or(0, |p| p + 1)..];
    if let Some((_, digits)) = last.split_once('=') {
        if matches!(digits.len(), 2 | 4 | 8 | 16 | 32) {
            return None; // complete value
        }
    }
    let skip = next
        .bytes()
        .position(|c| c != b'>' && c != b' ')
        .unwrap_or(next.len());
    let next = &next[skip..];
    let first_len = next
        .bytes()
        .position(|c| c == b' ' || c == b'\t')
        .unwrap_or(next.len());
    let first = &next[..first_len];
    if let Some((name, digits)) = last.split_once('=') {
        let name = if name.is_empty() {
            // `R8 =…`: the name is the previous token.
            prev[..prev.len() - last.len()]
                .trim_end()
                .rsplit(' ')
                .next()?
        } else {
            name
        };
        let hex = |s: &str| s.bytes().all(is_lower_hex);
        // Only wide values are cut by a wrap; `HLT=0` is complete.
        if !is_wide_reg_name(name) || !hex(digits) || !hex(first) || first.is_empty() {
            return None;
        }
        let total = digits.len() + first.len();
        if !matches!(digits.len(), 2 | 4 | 8 | 16 | 32) && matches!(total, 4 | 8 | 16 | 32) {
            return Some(next);
        }
        return None;
    }
    if last.is_empty() || last.len() > 5 || !last.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    // Name cut in two: `R1` + `1=…`, `EF` + `ER=…`.
    let eq = first.find('=')?;
    let mut name = String::with_capacity(8);
    name.push_str(last);
    name.push_str(&first[..eq]);
    (!is_reg_name(last) && is_reg_name(&name)).then_some(next)
}

pub(crate) fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// Continuation lines of a quoted-printable soft break may carry their own quote marker when the
/// quoting happened after encoding.
fn strip_quote(s: &str) -> &str {
    if s.starts_with('>') {
        s.trim_start_matches(['>', ' '])
    } else {
        s
    }
}

/// Decode `=XX` (upper-case hex) quoted-printable escapes.
pub fn qp_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hi = b.get(i + 1).copied().and_then(upper_hex);
            let lo = b.get(i + 2).copied().and_then(upper_hex);
            if let (Some(h), Some(l)) = (hi, lo) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn upper_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Characters after which a line's content may start (the end of a log or mail prefix). 0xa0 is
/// the last byte of U+00A0, the no-break space of HTML copies.
pub fn is_prefix_end(c: u8) -> bool {
    PREFIX_END[usize::from(c)]
}

const PREFIX_END: [bool; 256] = byte_set(b" \t>]:|/*`#\";\xa0");

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

/// Every position in the first `limit` bytes of `text` (and at `limit` itself) where content may
/// start after a prefix: the start, and each non-blank character that follows a prefix character
/// ([`is_prefix_end`]). Yields the text from there on.
pub fn content_starts(text: &str, limit: usize) -> impl Iterator<Item = &str> + '_ {
    let b = text.as_bytes();
    let end = b.len().min(limit);
    (0..=end).filter_map(move |i| {
        let candidate = (i == 0 || is_prefix_end(b[i - 1]))
            && b.get(i).is_some_and(|c| !matches!(c, b' ' | b'\t'))
            && text.is_char_boundary(i);
        candidate.then(|| &text[i..])
    })
}

/// `text` without the prefixes loggers and mailers put before a program's line: mail quotes
/// (`>`, `> >`, `&gt;`), indentation, `dmesg` brackets (`[   12.345678]`, `[T1234]`,
/// `[Mon Mar  3 12:34:56 2025]`), syslog/journald headers (`Mar  3 12:34:56 host tag[pid]: `),
/// ISO and libvirt timestamps (`2025-03-03 12:34:56.789+0000: `, `2025-03-03T12:34:56Z `) with
/// an optional `host tag[pid]: ` after them. Removes them repeatedly, in any order; a line with
/// none is returned as it is (without leading blanks).
///
/// ```
/// use kvmtriage_dump::transport::strip_prefix;
/// assert_eq!(strip_prefix("Mar  3 12:34:56 host qemu-kvm[1234]: RAX=0"), "RAX=0");
/// assert_eq!(strip_prefix("> > [   12.345678] RIP: 0010:foo"), "RIP: 0010:foo");
/// assert_eq!(strip_prefix("2025-03-03 12:34:56.789+0000: error: kvm run failed"), "error: kvm run failed");
/// assert_eq!(strip_prefix("plain text"), "plain text");
/// ```
pub fn strip_prefix(text: &str) -> &str {
    let mut s = text;
    // Each round removes at least one byte, so this ends; the bound keeps it linear.
    for _ in 0..16 {
        let before = s.len();
        s = s.trim_start_matches([' ', '\t', '\u{a0}']);
        if let Some(rest) = s.strip_prefix("&gt;") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix('>') {
            s = rest;
        } else if let Some(rest) = strip_bracket(s) {
            s = rest;
        } else if let Some(rest) = strip_syslog(s) {
            s = rest;
        } else if let Some(rest) = strip_iso(s) {
            s = rest;
        }
        if s.len() == before {
            break;
        }
    }
    s
}

/// `[   12.345678] `, `[T1234] `, `[C0] `, `[Mon Mar  3 12:34:56 2025] `: a bracket group of
/// digits, dots, colons, blanks and letters (no `=`: `[-RA]` is content).
fn strip_bracket(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?;
    let close = inner.find(']')?;
    let body = &inner[..close];
    if body.is_empty() || body.len() > 40 {
        return None;
    }
    let ok = body
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b' ' | b'.' | b':' | b'+' | b'-'))
        && body.bytes().any(|c| c.is_ascii_digit());
    ok.then(|| &inner[close + 1..])
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mar  3 12:34:56 host tag[pid]: ` (RFC 3164 syslog, `journalctl` short format).
fn strip_syslog(s: &str) -> Option<&str> {
    let month = s.get(..3)?;
    if !MONTHS.contains(&month) {
        return None;
    }
    let rest = s[3..].trim_start_matches(' ');
    let day_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let rest = rest[day_len..].strip_prefix(' ')?;
    let rest = strip_clock(rest)?;
    Some(strip_host_tag(rest.trim_start_matches(' ')))
}

/// `12:34:56` with optional fraction.
fn strip_clock(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let digits2 = |i: usize| {
        b.get(i..i + 2)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if !(digits2(0)
        && b.get(2) == Some(&b':')
        && digits2(3)
        && b.get(5) == Some(&b':')
        && digits2(6))
    {
        return None;
    }
    let mut i = 8;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    Some(&s[i..])
}

/// `2025-03-03 12:34:56.789+0000: ` or `2025-03-03T12:34:56.789Z ` (libvirt, ISO 8601, `journalctl
/// -o short-iso`), then an optional `host tag[pid]: `.
fn strip_iso(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10))
    {
        return None;
    }
    let sep = *b.get(10)?;
    if sep != b' ' && sep != b'T' {
        return None;
    }
    let mut rest = strip_clock(&s[11..])?;
    // Time zone: `Z`, `+0000`, `+00:00`, `-05:00`.
    if let Some(r) = rest.strip_prefix('Z') {
        rest = r;
    } else if rest.starts_with(['+', '-']) {
        let n = rest[1..]
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b':')
            .count();
        rest = &rest[1 + n..];
    }
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let rest = rest.trim_start_matches(' ');
    Some(strip_host_tag(rest))
}

/// `host tag[pid]: ` or `host tag: ` after a timestamp (journald/syslog); left alone when the
/// line does not look like one (no `: ` within the first three words).
fn strip_host_tag(s: &str) -> &str {
    let mut words = 0;
    for (i, c) in s.char_indices() {
        match c {
            ':' if s[i + 1..].starts_with(' ') || i + 1 == s.len() => {
                if words >= 1 {
                    return s[i + 1..].trim_start_matches(' ');
                }
                return s;
            }
            ' ' => {
                words += 1;
                if words > 1 {
                    return s;
                }
            }
            '=' => return s,
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(text: &str) -> Vec<(u32, u32, String)> {
        Lines::new(text)
            .map(|l| (l.number, l.last, l.text))
            .collect()
    }

    #[test]
    fn prefixes_are_stripped() {
        for (line, body) in [
            ("Mar  3 12:34:56 host qemu-kvm[1234]: RAX=0", "RAX=0"),
            (
                "Mar 13 02:04:05 host kernel: [  1.5] RIP: 0010:x",
                "RIP: 0010:x",
            ),
            ("[Mon Mar  3 12:34:56 2025] CS =0010", "CS =0010"),
            ("[T1234] [   12.345678] RIP: 0010:x", "RIP: 0010:x"),
            (
                "2025-03-03 12:34:56.789+0000: KVM internal error",
                "KVM internal error",
            ),
            (
                "2025-03-03T12:34:56.123456+01:00 host qemu[9]: EAX=0",
                "EAX=0",
            ),
            ("> > &gt; Code=0f 0b", "Code=0f 0b"),
            ("    RIP=0", "RIP=0"),
            ("error: kvm run failed", "error: kvm run failed"),
            ("[-RA] stays", "[-RA] stays"),
            ("", ""),
        ] {
            assert_eq!(strip_prefix(line), body, "{line}");
        }
    }

    #[test]
    fn content_starts_follow_prefix_characters() {
        let starts: Vec<&str> = content_starts("> [1.0] RAX=1", 120).collect();
        assert_eq!(starts, ["> [1.0] RAX=1", "[1.0] RAX=1", "RAX=1"]);
        assert_eq!(content_starts("abc", 0).count(), 1);
    }

    #[test]
    fn crlf_bom_and_quoted_printable() {
        assert_eq!(
            logical("\u{feff}a\r\nb=3D1=\n> 2\n"),
            [(1, 1, "a".to_string()), (2, 3, "b=12".to_string())]
        );
        // A soft break on the last line.
        assert_eq!(logical("x=3D1="), [(1, 1, "x=1".to_string())]);
    }

    #[test]
    fn json_escaped_breaks_are_split() {
        assert_eq!(
            logical("{\"return\": \"RAX=1\\r\\nRIP=2 \\\"q\\\"\"}"),
            [
                (1, 1, "{\"return\": \"RAX=1".to_string()),
                (1, 1, "RIP=2 \"q\"\"}".to_string()),
            ]
        );
    }

    #[test]
    fn terminal_wraps_are_joined() {
        let first =
            "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=00000000fff";
        let text = format!("{first}\nd7b03 RSI=0000000000000000\nnext");
        let lines = logical(&text);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].0, lines[0].1), (1, 2));
        assert!(lines[0]
            .2
            .ends_with("RDX=00000000fffd7b03 RSI=0000000000000000"));
        // A complete value is not continued.
        let text = format!("{}0\nd7b03", &first[..first.len() - 3]);
        assert_eq!(logical(&text).len(), 2);
    }

    #[test]
    fn joins_are_bounded() {
        let mut text = String::from("A=3D");
        for _ in 0..20_000 {
            text.push_str("0123456789=\n");
        }
        text.push_str("end\n");
        let lines = logical(&text);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.2.len() <= MAX_LOGICAL_LINE + 16));
    }
}
