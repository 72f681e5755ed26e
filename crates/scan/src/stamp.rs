//! Timestamps and host names from log line prefixes: ISO-8601 / RFC 3339 (libvirt's
//! `2026-11-28 08:07:41.123+0000: `, `journalctl -o short-iso`), syslog (`Nov 28 08:07:41 host
//! prog[pid]: `), and journald's `__REALTIME_TIMESTAMP` (microseconds).

/// A time found on a line: as printed (normalised to RFC 3339 when it has a date) and, when it
/// has a date, seconds since the epoch (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    pub text: String,
    pub epoch: Option<f64>,
    pub host: Option<String>,
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days from 1970-01-01 to a civil date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// RFC 3339 text (UTC, microseconds) for seconds since the epoch.
pub fn rfc3339(epoch_us: i64) -> String {
    let secs = epoch_us.div_euclid(1_000_000);
    let us = epoch_us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    // civil_from_days
    let z = days + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// An ISO-8601 date-time at the start of `b`: (epoch seconds, bytes used).
fn iso(b: &[u8]) -> Option<(f64, usize)> {
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b.get(10), Some(b'T' | b' ')) {
        return None;
    }
    let (h, mi, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 19;
    let mut frac = 0f64;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let st = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if let Ok(f) = format!("0.{}", std::str::from_utf8(&b[st..i]).unwrap_or("0")).parse() {
            frac = f;
        }
    }
    let mut off = 0i64;
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(&c @ (b'+' | b'-')) => {
            if let (Some(oh), Some(om)) = (digits(b, i + 1, 2), {
                let colon = usize::from(b.get(i + 3) == Some(&b':'));
                digits(b, i + 3 + colon, 2).map(|v| (v, colon))
            }) {
                let (om, colon) = om;
                off = (oh * 3600 + om * 60) * if c == b'+' { 1 } else { -1 };
                i += 5 + colon;
            }
        }
        _ => {}
    }
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
    Some((secs as f64 + frac, i))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The time (and host) a log line starts with, if any.
pub fn parse_line(line: &str) -> Option<Stamp> {
    let t = line.trim_start();
    let b = t.as_bytes();
    if let Some((epoch, used)) = iso(b) {
        let rest = &t[used..];
        // `journalctl -o short-iso`: `<time> host prog[pid]: …`
        let host = rest.strip_prefix(' ').and_then(|r| {
            let mut it = r.split(' ');
            let h = it.next()?;
            let prog = it.next()?;
            (!h.ends_with(':') && prog.ends_with(':')).then(|| h.to_string())
        });
        return Some(Stamp {
            text: rfc3339((epoch * 1e6).round() as i64),
            epoch: Some(epoch),
            host,
        });
    }
    // syslog: `Nov 28 08:07:41 host prog[pid]: …` (no year: not placed on a time axis)
    if b.len() >= 16 && MONTHS.contains(&&t[..3.min(t.len())]) && b[3] == b' ' {
        let (d1, d2) = (b[4], b[5]);
        let day_ok = (d1 == b' ' || d1.is_ascii_digit()) && d2.is_ascii_digit();
        if day_ok && b[6] == b' ' && b[9] == b':' && b[12] == b':' {
            let host = t[16..]
                .split(' ')
                .next()
                .filter(|h| !h.is_empty() && !h.ends_with(':'));
            return Some(Stamp {
                text: t[..15].to_string(),
                epoch: None,
                host: host.map(str::to_string),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let s = parse_line("2026-11-28 08:07:41.123+0000: error: kvm run failed").unwrap();
        assert_eq!(s.text, "2026-11-28T08:07:41.123000Z");
        assert_eq!(s.host, None);
        let s = parse_line("2026-11-28T09:07:41+01:00 hv7 qemu-kvm[12]: RAX=0").unwrap();
        assert_eq!(s.text, "2026-11-28T08:07:41.000000Z");
        assert_eq!(s.host.as_deref(), Some("hv7"));
        let s = parse_line("Nov  3 08:07:41 hv3 libvirtd[99]: x").unwrap();
        assert_eq!(s.text, "Nov  3 08:07:41");
        assert_eq!(s.host.as_deref(), Some("hv3"));
        assert!(parse_line("RAX=0000 RBX=0000").is_none());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_795_853_261_000_000),
            "2026-11-28T08:07:41.000000Z"
        );
    }
}
