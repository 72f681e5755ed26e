//! Tables generated at build time from `data/bits.toml` and `data/errno.toml`.

/// One named bit field of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitDef {
    pub bit: u8,
    pub width: u8,
    pub name: &'static str,
    pub description: &'static str,
    pub source: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/tables.rs"));

/// Linux errno (number, symbolic name) for a strerror text (glibc or musl),
/// or for glibc's `Unknown error N`.
pub fn errno_from_text(text: &str) -> Option<(i32, Option<&'static str>)> {
    let text = text.trim().trim_end_matches('.');
    if let Some(&(n, name, _)) = ERRNO.iter().find(|(_, _, t)| t.eq_ignore_ascii_case(text)) {
        return Some((n, Some(name)));
    }
    let n: i32 = text.strip_prefix("Unknown error ")?.trim().parse().ok()?;
    let name = ERRNO_NAMES
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, name)| *name);
    Some((n, name))
}
