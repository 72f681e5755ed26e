//! The literal prefilter and the candidate regions.
//!
//! [`ChunkScanner`] takes a byte stream in chunks (1 MiB from [`crate::scan_reader`]), runs one
//! Aho-Corasick automaton (SIMD "Teddy" for this handful of literals) over each chunk and skips
//! everything between hits without looking at lines: only the newline count is taken (memchr),
//! for line numbers. Around each hit a [`Region`] collects a few lines before it and up to
//! [`FORWARD`] lines after the last hit; a closed region goes to the dump reader.
//!
//! Memory: the pending buffer holds at most one chunk plus one unfinished line, and a line is cut
//! at [`MAX_LINE`] bytes (with a warning); a region holds at most [`REGION_MAX_LINES`] lines of
//! at most [`REGION_LINE_MAX`] bytes each.

use aho_corasick::AhoCorasick;

/// The literals that open a candidate region: register lines of both widths and QEMU's and
/// KVM's failure lines.
pub const LITERALS: &[&str] = &[
    "RAX=",
    "EAX=",
    "kvm run failed",
    "KVM internal error",
    "KVM: entry failed",
    "emulation failure",
    "KVM: exception ",
    "KVM: unknown exit",
];

/// Lines kept before a hit (a `CPU#0` header, a monitor prompt).
pub const BACK: usize = 4;
/// Lines a region runs on after its last hit (a 64-bit dump with XMM registers is about 40
/// lines after `RAX=`).
pub const FORWARD: u32 = 64;
/// Longest line read whole; longer lines are cut (and reported).
pub const MAX_LINE: usize = 1 << 20;
/// Longest line kept in a region.
pub const REGION_LINE_MAX: usize = 64 << 10;
/// Most lines in one region (a file of back-to-back dumps gives several regions).
pub const REGION_MAX_LINES: usize = 4096;

/// The prefilter automaton. Leftmost-first semantics, because only they let aho-corasick use
/// its SIMD packed searcher (Teddy) for a handful of literals.
pub fn automaton() -> AhoCorasick {
    AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(LITERALS)
        .expect("fixed literals")
}

/// One line of a region.
#[derive(Debug, Clone)]
pub struct RegionLine {
    pub text: String,
    /// 1-based line number in the input (the journal entry's line for journald input).
    pub line: u64,
    /// Byte offset of the line in the (decompressed) input.
    pub offset: u64,
}

/// A candidate block: lines around prefilter hits.
#[derive(Debug, Default)]
pub struct Region {
    pub lines: Vec<RegionLine>,
    /// Lines still to take after the last hit.
    remaining: u32,
}

impl Region {
    pub fn new() -> Self {
        Region {
            lines: Vec::new(),
            remaining: FORWARD,
        }
    }

    /// Add a line; `hit` says it holds a literal.
    pub fn push(&mut self, text: &[u8], line: u64, offset: u64, hit: bool) {
        let text = &text[..text.len().min(REGION_LINE_MAX)];
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.lines.push(RegionLine {
            text: String::from_utf8_lossy(text).into_owned(),
            line,
            offset,
        });
        if hit {
            self.remaining = FORWARD;
        } else {
            self.remaining = self.remaining.saturating_sub(1);
        }
    }

    /// The region takes no more lines.
    pub fn closed(&self) -> bool {
        self.remaining == 0 || self.lines.len() >= REGION_MAX_LINES
    }
}

/// What the chunk scanner tells its owner.
pub enum Event {
    Region(Region),
    /// A line longer than [`MAX_LINE`] was cut there (1-based line number).
    LineCut {
        line: u64,
    },
}

/// Count of `\n` in `s`.
pub fn count_newlines(s: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', s).count() as u64
}

/// The streaming prefilter over one byte stream.
pub struct ChunkScanner<'a> {
    ac: &'a AhoCorasick,
    buf: Vec<u8>,
    /// Input offset of `buf[0]`.
    buf_off: u64,
    /// Line number of `buf[0]` (1-based).
    line: u64,
    region: Option<Region>,
    /// The last line handed over was cut without a newline: the next bytes continue it.
    cut_open: bool,
}

impl<'a> ChunkScanner<'a> {
    pub fn new(ac: &'a AhoCorasick) -> Self {
        ChunkScanner {
            ac,
            buf: Vec::new(),
            buf_off: 0,
            line: 1,
            region: None,
            cut_open: false,
        }
    }

    /// The pending buffer, to read the next chunk into (append only).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes held (for the memory bound).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// Process what is in the buffer up to its last newline (or a cut of an over-long line).
    pub fn process(&mut self, emit: &mut impl FnMut(Event)) {
        let end = match memchr::memrchr(b'\n', &self.buf) {
            Some(i) => (i + 1, false),
            None if self.buf.len() >= MAX_LINE => (MAX_LINE, true),
            None => return,
        };
        self.run(end.0, end.1, emit);
    }

    /// End of input.
    pub fn finish(mut self, emit: &mut impl FnMut(Event)) {
        let end = self.buf.len();
        self.run(end, false, emit);
        if let Some(r) = self.region.take() {
            if !r.lines.is_empty() {
                emit(Event::Region(r));
            }
        }
    }

    fn run(&mut self, end: usize, cut: bool, emit: &mut impl FnMut(Event)) {
        let mut pos = 0usize;
        let p = &self.buf[..end];
        loop {
            if pos >= end {
                break;
            }
            if let Some(r) = self.region.as_mut() {
                while pos < end && !r.closed() {
                    let (le, next) = match memchr::memchr(b'\n', &p[pos..]) {
                        Some(i) => (pos + i, pos + i + 1),
                        None => (end, end),
                    };
                    let l = &p[pos..le];
                    let hit = self.ac.is_match(l);
                    r.push(l, self.line, self.buf_off + pos as u64, hit);
                    if next > le {
                        self.line += 1;
                    }
                    pos = next;
                }
                if r.closed() {
                    if let Some(r) = self.region.take() {
                        emit(Event::Region(r));
                    }
                }
                continue;
            }
            match self.ac.find(&p[pos..]) {
                None => {
                    self.line += count_newlines(&p[pos..end]);
                    pos = end;
                }
                Some(m) => {
                    let hit = pos + m.start();
                    let ls = memchr::memrchr(b'\n', &p[pos..hit]).map_or(pos, |i| pos + i + 1);
                    let mut start = ls;
                    for _ in 0..BACK {
                        if start <= pos {
                            break;
                        }
                        start =
                            memchr::memrchr(b'\n', &p[pos..start - 1]).map_or(pos, |i| pos + i + 1);
                    }
                    self.line += count_newlines(&p[pos..start]);
                    pos = start;
                    self.region = Some(Region::new());
                }
            }
        }
        if cut {
            if !self.cut_open {
                emit(Event::LineCut { line: self.line });
            }
            self.cut_open = true;
        } else {
            self.cut_open = false;
        }
        self.buf.drain(..end);
        self.buf_off += end as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(text: &str, piece: usize) -> Vec<Vec<(u64, u64, String)>> {
        let ac = automaton();
        let mut sc = ChunkScanner::new(&ac);
        let mut out = Vec::new();
        let mut take = |e: Event| {
            if let Event::Region(r) = e {
                out.push(
                    r.lines
                        .into_iter()
                        .map(|l| (l.line, l.offset, l.text))
                        .collect::<Vec<_>>(),
                );
            }
        };
        for c in text.as_bytes().chunks(piece) {
            sc.buffer().extend_from_slice(c);
            sc.process(&mut take);
        }
        sc.finish(&mut take);
        out
    }

    #[test]
    fn regions_do_not_depend_on_where_chunks_are_cut() {
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("noise {i}\n"));
            if i % 100 == 50 {
                text.push_str("error: kvm run failed Bad address\nRAX=0 RBX=1\nRSI=2\nCode=00\n");
            }
        }
        let whole = regions(&text, text.len());
        assert_eq!(whole.len(), 3);
        for (i, r) in whole.iter().enumerate() {
            // the last region ends with the input, 49 noise lines after its dump
            let after = if i == 2 { 49 + 2 } else { FORWARD as usize };
            assert_eq!(r.len(), BACK + 2 + after, "region {i}");
            let (line, off, t) = &r[BACK];
            assert_eq!(t, "error: kvm run failed Bad address");
            assert!(text[*off as usize..].starts_with("error: kvm"));
            assert_eq!(
                text[..*off as usize].matches('\n').count() as u64 + 1,
                *line
            );
        }
        for piece in [1, 7, 64, 1000] {
            // a hit cut by a chunk boundary loses at most the lines before it in the earlier
            // chunk, never the hit or what follows
            let got = regions(&text, piece);
            assert_eq!(got.len(), 3, "piece {piece}");
            for (g, w) in got.iter().zip(&whole) {
                assert_eq!(g.last(), w.last(), "piece {piece}");
                assert!(g.iter().any(|l| l.2.starts_with("error: kvm")));
            }
        }
    }

    #[test]
    fn an_over_long_line_is_cut_once_and_counted_as_one_line() {
        let ac = automaton();
        let mut sc = ChunkScanner::new(&ac);
        let mut cuts = Vec::new();
        let mut regs = Vec::new();
        let mut take = |e: Event| match e {
            Event::LineCut { line } => cuts.push(line),
            Event::Region(r) => regs.push(r),
        };
        sc.buffer().extend_from_slice(b"a\nb\n");
        for _ in 0..3 {
            sc.buffer().extend_from_slice(&vec![b'x'; MAX_LINE]);
            sc.process(&mut take);
            assert!(sc.held() < 3 * MAX_LINE);
        }
        sc.buffer().extend_from_slice(b"\nRAX=0\n");
        sc.process(&mut take);
        sc.finish(&mut take);
        assert_eq!(cuts, vec![3]);
        assert_eq!(regs.len(), 1);
        let hit = regs[0].lines.iter().find(|l| l.text == "RAX=0").unwrap();
        assert_eq!(hit.line, 4);
    }
}
