//! The code line: `Code=c3 0f … <0f> 30 …`, with its continuations when a terminal or mailer
//! wrapped it (bytes and the `<..>` marker cut at a line end included) and the other output that
//! may interrupt or end it.

use super::registers::{first_words, parse_hex};
use super::Open;
use crate::dump::WarningKind;
use crate::transport::is_lower_hex;

/// Bytes QEMU prints in a `Code=` window.
pub(crate) const CODE_BYTES: usize = 50;

#[derive(Default, PartialEq, Eq, Clone, Copy, Debug)]
pub(crate) enum CodeState {
    #[default]
    None,
    /// Reading bytes; continuation lines welcome.
    Reading,
    /// `Code=` followed by other output; bytes may resume later.
    Interrupted {
        line: u32,
    },
    Done,
}

pub(crate) fn is_byte_token_start(s: &str) -> bool {
    let b = s.as_bytes();
    match b {
        [b'<', ..] => true,
        [b'?', b'?', ..] => true,
        [x, y, rest @ ..] => {
            is_lower_hex(*x) && is_lower_hex(*y) && rest.first().is_none_or(|c| *c == b' ')
        }
        [x] => is_lower_hex(*x),
        [] => false,
    }
}

/// A line holding only Code bytes (`?? 0f <30> …`), possibly ending in glued junk
/// (`??./start-qemu.sh: …`). A lone hex digit is accepted first (when a byte was cut at the
/// previous line end) or last (cut at this line end).
pub(crate) fn is_byte_line(s: &str, carry: bool) -> bool {
    let mut toks = s.split_ascii_whitespace().peekable();
    let mut full = 0usize;
    let mut first = true;
    while let Some(t) = toks.next() {
        let last = toks.peek().is_none();
        let tb = t.as_bytes();
        let whole = match tb {
            [b'?', b'?'] => true,
            [x, y] => is_lower_hex(*x) && is_lower_hex(*y),
            [b'<', inner @ .., b'>'] => {
                inner == b"??" || (inner.len() == 2 && inner.iter().all(|c| is_lower_hex(*c)))
            }
            _ => false,
        };
        if whole {
            full += 1;
        } else if tb.len() == 1 && is_lower_hex(tb[0]) && ((first && carry) || last) {
            // piece of a cut byte
        } else if tb.len() <= 3 && tb.first() == Some(&b'<') && last {
            // marker cut at the line end
        } else if full > 0
            && tb.len() > 2
            && (tb.starts_with(b"??") || is_lower_hex(tb[0]) && is_lower_hex(tb[1]))
        {
            return true; // glued junk after bytes
        } else if tb.starts_with(b"<??>") || (tb.len() > 4 && tb[0] == b'<' && tb[3] == b'>') {
            return full > 0 || first;
        } else {
            return false;
        }
        first = false;
    }
    full > 0 || carry
}

/// Append the bytes of a `Code=` line (or its continuation) to the window.
pub(crate) fn code_bytes(open: &mut Open, s: &str, no: u32) {
    let mut carry = std::mem::take(&mut open.code_carry);
    let mut toks = s.split_ascii_whitespace().peekable();
    while let Some(raw) = toks.next() {
        let joined;
        let tok: &str = if carry.is_empty() {
            raw
        } else {
            carry.push_str(raw);
            joined = std::mem::take(&mut carry);
            &joined
        };
        let is_last = toks.peek().is_none();
        let Some(code) = open.dump.code.as_mut() else {
            return;
        };
        let (marked, body) = match tok.strip_prefix('<') {
            Some(inner) => match inner.strip_suffix('>') {
                Some(b) => (true, b),
                None if is_last && inner.len() < 3 => {
                    open.code_carry = tok.to_string();
                    return;
                }
                None => (true, inner.get(..2).unwrap_or(inner)),
            },
            None => (false, tok),
        };
        if is_last && body.len() == 1 && !marked && is_lower_hex(body.as_bytes()[0]) {
            // A byte cut in two by a line wrap.
            open.code_carry = tok.to_string();
            return;
        }
        let byte = match body {
            "??" => Some(None),
            b if b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()) => {
                parse_hex(b).map(|v| Some(v as u8))
            }
            _ => None,
        };
        let byte = match byte {
            Some(b) => b,
            None => {
                // Glued junk (`??./start-qemu.sh`): keep a leading byte, stop.
                let lead = tok.get(..2).unwrap_or("");
                let lead_byte = match lead {
                    "??" => Some(None),
                    l if l.bytes().all(is_lower_hex) && l.len() == 2 => {
                        parse_hex(l).map(|v| Some(v as u8))
                    }
                    _ => None,
                };
                if let (Some(b), false) = (lead_byte, marked) {
                    code.bytes.push(b);
                }
                open.warn(
                    no,
                    WarningKind::Interleaved,
                    format!("Code bytes end in other output (`{}`)", first_words(tok)),
                );
                open.code = CodeState::Done;
                return;
            }
        };
        if marked {
            if let Some(first) = code.marker {
                let at = code.bytes.len();
                open.warn(
                    no,
                    WarningKind::Malformed,
                    format!("second `<..>` marker in the Code line (byte {at}); the first one (byte {first}) is kept"),
                );
                if let Some(code) = open.dump.code.as_mut() {
                    code.bytes.push(byte);
                }
                continue;
            }
            code.marker = Some(code.bytes.len());
        }
        code.bytes.push(byte);
    }
    if open
        .dump
        .code
        .as_ref()
        .is_some_and(|c| c.bytes.len() >= CODE_BYTES)
    {
        open.code = CodeState::Done;
    }
}
