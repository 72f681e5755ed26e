//! The line layer under the oops reader: undoing the transport and splitting each console line
//! into its printk context and message.
//!
//! Physical lines become logical lines through kvmtriage-dump's public transport layer (the one
//! the QEMU dump reader uses: CRLF, a byte-order mark, quoted-printable mail with its soft line
//! breaks and `=3D` escapes, mailer-wrapped tokens). Then this module removes what carried the
//! line (mail quoting, journald/syslog headers) but keeps the console timestamp and the
//! `[T123]`/`[C1]` caller tag, which tell one CPU's or task's report from another's.

use std::borrow::Cow;

/// A transport layer: how the input's lines are unwrapped before the console-log parsing.
pub trait Transport {
    /// The input's logical lines with their first physical line number (1-based).
    fn lines<'a>(&self, input: &'a str) -> Vec<(u32, Cow<'a, str>)>;
    /// One line with its carrier's prefix (mail quoting, journald/syslog header) removed.
    fn strip_carrier<'a>(&self, line: &'a str) -> &'a str;
}

/// The transport used today: kvmtriage-dump's logical lines, then `>` quoting, journald and
/// syslog prefixes.
#[derive(Debug, Default, Clone, Copy)]
pub struct MailAndJournal;

impl Transport for MailAndJournal {
    fn lines<'a>(&self, input: &'a str) -> Vec<(u32, Cow<'a, str>)> {
        kvmtriage_dump::transport::Lines::new(input)
            .map(|l| (l.number, Cow::Owned(l.text)))
            .collect()
    }

    fn strip_carrier<'a>(&self, line: &'a str) -> &'a str {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = strip_mail_quote(line);
        strip_journal(line)
    }
}

/// `> `, `>> `, `> > ` at the start of a mail line. Kernel lines never start with `>`.
fn strip_mail_quote(line: &str) -> &str {
    let mut s = line;
    loop {
        let t = s.trim_start_matches([' ', '\t']);
        match t.strip_prefix('>') {
            Some(rest) => s = rest.strip_prefix(' ').unwrap_or(rest),
            None => return if std::ptr::eq(s, line) { line } else { s },
        }
    }
}

/// `Jan 02 03:04:05 host kernel: ` (journald short format and classic syslog) and
/// `2024-01-02T03:04:05.123456+00:00 host kernel: ` (ISO/RFC 5424 short-iso).
fn strip_journal(line: &str) -> &str {
    let b = line.as_bytes();
    let after_stamp = if b.len() > 16
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_lowercase()
        && b[2].is_ascii_lowercase()
        && b[3] == b' '
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
    {
        Some(15)
    } else if b.len() > 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
    {
        b.iter().position(|&c| c == b' ')
    } else {
        None
    };
    let Some(start) = after_stamp else {
        return line;
    };
    // " host kernel: " (or "kernel[123]: ")
    let rest = &line[start..];
    let rest = rest.trim_start();
    let Some(sp) = rest.find(' ') else {
        return line;
    };
    let after_host = &rest[sp + 1..];
    for tag in ["kernel: ", "kernel:"] {
        if let Some(msg) = after_host.strip_prefix(tag) {
            return msg;
        }
    }
    line
}

/// The printk context of a console line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context<'a> {
    /// No console timestamp.
    None,
    /// A timestamp without a caller tag.
    Console,
    /// A `[T123]` / `[C1]` caller tag (CONFIG_PRINTK_CALLER), as written (spaces included).
    Tag(&'a str),
}

impl Context<'_> {
    pub fn is_task(&self) -> bool {
        matches!(self, Context::Tag(t) if t.contains('T'))
    }
    pub fn is_cpu(&self) -> bool {
        matches!(self, Context::Tag(t) if t.contains('C'))
    }
}

/// One console line split into context and message.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleLine<'a> {
    pub context: Context<'a>,
    /// The message after the timestamp and caller tag (the whole line when there is none).
    pub message: &'a str,
    /// The `<N>` syslog level, if any.
    pub level: Option<u8>,
}

/// Split `[  12.345678][ T123] message` (optionally after `** N printk messages dropped ** `, a
/// `login: ` prompt and a `<N>` level; PREEMPT_RT's `039: ` CPU prefix after the stamp is dropped).
pub fn split_console(line: &str) -> ConsoleLine<'_> {
    let none = ConsoleLine {
        context: Context::None,
        message: line,
        level: None,
    };
    // Indentation (a report pasted into a list or a code block) before the stamp.
    let mut s = line.trim_start_matches([' ', '\t']);
    if let Some(rest) = s.strip_prefix("** ") {
        if let Some(p) = rest.find(" printk messages dropped ** ") {
            if rest[..p].bytes().all(|c| c.is_ascii_digit()) {
                s = &rest[p + " printk messages dropped ** ".len()..];
            }
        }
    }
    if let Some(p) = s.find(" login: ") {
        if s[p + 8..].contains('[') && !s[..p].contains('[') {
            s = &s[p + 8..];
        }
    }
    let mut level = None;
    if let Some(rest) = s.strip_prefix('<') {
        if let Some(end) = rest.find('>') {
            if end > 0 && end <= 3 && rest[..end].bytes().all(|c| c.is_ascii_digit()) {
                level = rest[..end].parse().ok();
                s = &rest[end + 1..];
            }
        }
    }
    let Some(rest) = s.strip_prefix('[') else {
        return none;
    };
    let Some(close) = rest.find(']') else {
        return none;
    };
    let stamp = rest[..close].trim_start_matches(' ');
    let Some((secs, frac)) = stamp.split_once('.') else {
        return none;
    };
    if secs.is_empty()
        || frac.is_empty()
        || !secs.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return none;
    }
    let mut after = &rest[close + 1..];
    let mut context = Context::Console;
    if let Some(tag_rest) = after.strip_prefix('[') {
        if let Some(tclose) = tag_rest.find(']') {
            let tag = tag_rest[..tclose].trim_start_matches(' ');
            let mut chars = tag.chars();
            if matches!(chars.next(), Some('T' | 'C'))
                && !chars.as_str().is_empty()
                && chars.as_str().bytes().all(|c| c.is_ascii_digit())
            {
                context = Context::Tag(&after[..tclose + 2]);
                after = &tag_rest[tclose + 1..];
            }
        }
    }
    let Some(mut message) = after.strip_prefix(' ') else {
        // "[  1.2]" alone on a line.
        return if after.is_empty() {
            ConsoleLine {
                context,
                message: after,
                level,
            }
        } else {
            none
        };
    };
    // PREEMPT_RT prints the CPU as "039: " after the stamp.
    let mb = message.as_bytes();
    if mb.len() >= 4 && mb[..3].iter().all(u8::is_ascii_digit) && &mb[3..4] == b":" {
        message = message[4..].strip_prefix(' ').unwrap_or(&message[4..]);
    }
    ConsoleLine {
        context,
        message,
        level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_prefixes() {
        let l = split_console("[  12.345678][ T4321] BUG: foo");
        assert_eq!(l.context, Context::Tag("[ T4321]"));
        assert_eq!(l.message, "BUG: foo");
        let l = split_console("<4>[    1.000000] WARNING: x");
        assert_eq!(l.context, Context::Console);
        assert_eq!(l.level, Some(4));
        assert_eq!(l.message, "WARNING: x");
        let l = split_console("no stamp");
        assert_eq!(l.context, Context::None);
        let l = split_console("[  137.183319] 039: RIP: 0010:x");
        assert_eq!(l.message, "RIP: 0010:x");
    }

    #[test]
    fn carriers() {
        let t = MailAndJournal;
        assert_eq!(t.strip_carrier("> > [ 1.0] x"), "[ 1.0] x");
        assert_eq!(
            t.strip_carrier("Jan 02 03:04:05 host kernel: BUG: x"),
            "BUG: x"
        );
        assert_eq!(
            t.strip_carrier("2024-01-02T03:04:05.123+00:00 host kernel: BUG: x"),
            "BUG: x"
        );
        assert_eq!(t.strip_carrier("  plain"), "  plain");
        let l = t.lines("x\r\n> a=3Db=\n> c\n");
        assert_eq!(l[1], (2, Cow::Borrowed("> a=bc")));
    }
}
