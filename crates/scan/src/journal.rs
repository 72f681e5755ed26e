//! journald input: `journalctl -o json` (one JSON object per line) and `journalctl -o export`
//! (`KEY=value` lines, binary fields length-prefixed, entries separated by a blank line).
//! Each entry's `MESSAGE` goes to the region of its stream, keyed by `_BOOT_ID` and `_PID`, so a
//! dump that QEMU printed one line per entry is put together again even when other processes'
//! entries are interleaved.

use std::collections::HashMap;
use std::io::BufRead;

use aho_corasick::AhoCorasick;

use crate::prefilter::Region;
use crate::stamp;

/// Streams kept open at once; the least recently used one is closed beyond this.
const MAX_STREAMS: usize = 1024;

/// One journal entry, the fields scan uses.
#[derive(Default, Debug)]
pub struct Entry {
    pub message: Option<Vec<u8>>,
    pub boot: String,
    pub pid: String,
    pub host: Option<String>,
    pub realtime_us: Option<i64>,
}

struct Stream {
    region: Option<Region>,
    host: Option<String>,
    last_used: u64,
}

/// Demultiplexes entries into per-stream regions.
pub struct Demux<'a> {
    ac: &'a AhoCorasick,
    streams: HashMap<(String, String), Stream>,
    tick: u64,
}

impl<'a> Demux<'a> {
    pub fn new(ac: &'a AhoCorasick) -> Self {
        Demux {
            ac,
            streams: HashMap::new(),
            tick: 0,
        }
    }

    /// One entry at input line `line`, byte `offset`; closed regions go to `emit` with the host.
    pub fn entry(
        &mut self,
        e: Entry,
        line: u64,
        offset: u64,
        emit: &mut impl FnMut(Region, Option<String>),
    ) {
        let Some(msg) = e.message else { return };
        self.tick += 1;
        let key = (e.boot, e.pid);
        let hit = self.ac.is_match(&msg);
        if !hit && self.streams.get(&key).is_none_or(|s| s.region.is_none()) {
            return;
        }
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            if let Some(old) = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                if let Some(s) = self.streams.remove(&old) {
                    if let Some(r) = s.region {
                        emit(r, s.host);
                    }
                }
            }
        }
        let s = self.streams.entry(key).or_insert(Stream {
            region: None,
            host: None,
            last_used: 0,
        });
        s.last_used = self.tick;
        if e.host.is_some() {
            s.host = e.host;
        }
        let r = s.region.get_or_insert_with(Region::new);
        // The entry's time as a libvirt-style prefix, which the dump reader strips and
        // `stamp` reads back.
        for piece in msg.split(|&b| b == b'\n') {
            let text = match e.realtime_us {
                Some(us) => {
                    let t = stamp::rfc3339(us);
                    let mut v = format!("{} {}+0000: ", &t[..10], &t[11..26]).into_bytes();
                    v.extend_from_slice(piece);
                    v
                }
                None => piece.to_vec(),
            };
            r.push(&text, line, offset, self.ac.is_match(piece));
        }
        if r.closed() {
            if let Some(r) = s.region.take() {
                emit(r, s.host.clone());
            }
        }
    }

    /// End of input: every open region.
    pub fn finish(self, emit: &mut impl FnMut(Region, Option<String>)) {
        let mut open: Vec<_> = self
            .streams
            .into_values()
            .filter_map(|s| s.region.map(|r| (r, s.host)))
            .collect();
        open.sort_by_key(|(r, _)| r.lines.first().map_or(0, |l| l.offset));
        for (r, h) in open {
            emit(r, h);
        }
    }
}

fn json_str(v: &serde_json::Value) -> Option<Vec<u8>> {
    match v {
        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
        // journald prints non-UTF-8 or binary messages as an array of byte values
        serde_json::Value::Array(a) => Some(
            a.iter()
                .filter_map(|b| b.as_u64().map(|b| b as u8))
                .collect(),
        ),
        _ => None,
    }
}

/// Parse one `journalctl -o json` line.
pub fn parse_json_line(line: &[u8]) -> Option<Entry> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let o = v.as_object()?;
    let s = |k: &str| {
        o.get(k)
            .and_then(json_str)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    Some(Entry {
        message: o.get("MESSAGE").and_then(json_str),
        boot: s("_BOOT_ID").unwrap_or_default(),
        pid: s("_PID").unwrap_or_default(),
        host: s("_HOSTNAME"),
        realtime_us: s("__REALTIME_TIMESTAMP").and_then(|t| t.parse().ok()),
    })
}

/// Read `journalctl -o json` from `r`.
pub fn read_json(
    r: &mut impl BufRead,
    demux: &mut Demux<'_>,
    emit: &mut impl FnMut(Region, Option<String>),
) -> std::io::Result<u64> {
    let mut buf = Vec::new();
    let (mut line, mut off) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(off);
        }
        line += 1;
        if let Some(e) = parse_json_line(&buf) {
            demux.entry(e, line, off, emit);
        }
        off += n as u64;
    }
}

/// Read `journalctl -o export` from `r`.
pub fn read_export(
    r: &mut impl BufRead,
    demux: &mut Demux<'_>,
    emit: &mut impl FnMut(Region, Option<String>),
) -> std::io::Result<u64> {
    let mut buf = Vec::new();
    let (mut line, mut off) = (0u64, 0u64);
    let mut entry = Entry::default();
    let (mut entry_line, mut entry_off) = (1u64, 0u64);
    let mut any = false;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        line += 1;
        let l = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if n == 0 || l.is_empty() {
            if any {
                demux.entry(std::mem::take(&mut entry), entry_line, entry_off, emit);
                any = false;
            }
            off += n as u64;
            if n == 0 {
                return Ok(off);
            }
            entry_line = line + 1;
            entry_off = off;
            continue;
        }
        any = true;
        off += n as u64;
        let (key, value) = match memchr::memchr(b'=', l) {
            Some(i) => (&l[..i], l[i + 1..].to_vec()),
            None => {
                // binary field: KEY\n, little-endian u64 length, data, \n
                let mut len = [0u8; 8];
                r.read_exact(&mut len)?;
                let len = u64::from_le_bytes(len);
                let mut data = vec![0u8; len.min(1 << 24) as usize];
                r.read_exact(&mut data)?;
                if len > 1 << 24 {
                    std::io::copy(&mut r.take(len - (1 << 24)), &mut std::io::sink())?;
                }
                let mut nl = [0u8; 1];
                r.read_exact(&mut nl)?;
                off += 8 + len + 1;
                line += u64::from(memchr::memchr_iter(b'\n', &data).count() as u32) + 1;
                (l, data)
            }
        };
        let text = || String::from_utf8_lossy(&value).into_owned();
        match key {
            b"MESSAGE" => entry.message = Some(value.clone()),
            b"_BOOT_ID" => entry.boot = text(),
            b"_PID" => entry.pid = text(),
            b"_HOSTNAME" => entry.host = Some(text()),
            b"__REALTIME_TIMESTAMP" => entry.realtime_us = text().parse().ok(),
            _ => {}
        }
    }
}

use std::io::Read;
