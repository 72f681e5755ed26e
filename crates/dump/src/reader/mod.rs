//! The reader: finds QEMU x86 register dumps inside arbitrary text, line by line.
//!
//! Layers, each its own module:
//! - [`crate::transport`]: physical lines to logical lines (CRLF, quoted-printable, terminal
//!   wraps, JSON-escaped line breaks) and where a line's content starts after a log or mail
//!   prefix;
//! - [`events`]: event lines (`error: kvm run failed …`, `KVM internal error …`), found anywhere
//!   in a line because QEMU's stderr may be glued to guest output;
//! - [`registers`]: register lines (`RAX=…`, `CS =…`, `CR0=…`, …);
//! - [`code`]: the `Code=` line and its continuations;
//! - [`legacy`]: the qemu-kvm 0.12 format;
//! - [`completion`]: finishing a dump (what is missing, the mode hints, decoding) and the
//!   `kvmtriage repro` exit record;
//! - this module: the state machine that decides which lines belong to which dump, and
//!   [`StreamReader`], the streaming entry.
//!
//! Streaming: [`StreamReader`] takes lines (or chunks of text) and hands back each dump once no
//! later line can change it. It holds, besides the dump being read, one logical line (see
//! [`crate::transport`]) and the last finished dump for at most [`HOLD_LINES`] lines after its
//! end (a TCG `Triple fault` printed after it, or a `kvmtriage: exit record`, still belongs to
//! it), or, when an event line was printed inside it, until that event is placed (at most
//! [`EVENT_REACH`] lines). [`crate::read`] is [`StreamReader`] over a whole text.

pub(crate) mod code;
pub(crate) mod completion;
pub(crate) mod events;
pub(crate) mod legacy;
pub(crate) mod registers;

use kvmtriage_model::Event;

use self::code::{code_bytes, is_byte_line, CodeState};
use self::completion::{exit_field, looks_binary, EXIT_RECORD_HEADER};
use self::events::{classify_event, scan_line, EventLine};
use self::legacy::{legacy_token_at, parse_legacy_line};
use self::registers::{key_of, parse_reg_line, reg_token_at};
use crate::dump::{Dump, ExitRecord, GprLayout, Warning, WarningKind};
use crate::transport::{content_starts, is_prefix_end, Line, Transport};
use crate::ReadError;

/// Lines an event message may precede its dump by (VMX advice paragraph, libvirt `reason=`
/// lines, blank lines).
pub const EVENT_REACH: u32 = 40;
/// Consecutive unrelated lines that close an unfinished dump.
const MAX_GAP: u32 = 8;
/// Lines after its end during which a finished dump may still change: a TCG `Triple fault`
/// (within 3 lines) or a `kvmtriage: exit record` header (within 8 lines) attaches to it.
pub const HOLD_LINES: u32 = 8;
/// Lines after a dump's end within which a TCG `Triple fault` line belongs to it.
const TRIPLE_FAULT_REACH: u32 = 3;

/// What a line (after its prefix) holds.
enum Kind<'a> {
    /// Register tokens (`RAX=…`, `ES =…`, `Code=…`), starting at the slice.
    Regs(&'a str),
    /// Old qemu-kvm 0.12 lowercase (`rax 0000…`, `cs 0008 (…)`).
    Legacy(&'a str),
    /// `CPU#N` header.
    CpuHeader(u32),
    Event(EventLine<'a>),
    /// Code bytes only (continuation of a wrapped `Code=` line).
    Bytes(&'a str),
    Other,
}

/// A dump being read.
#[derive(Default)]
pub(crate) struct Open {
    pub(crate) dump: Dump,
    pub(crate) max_rank: u8,
    /// Bit per register key already seen (duplicates start a new dump).
    pub(crate) seen: u128,
    /// Consecutive lines that were not part of the dump.
    gap: u32,
    pub(crate) code: CodeState,
    /// Incomplete code token cut at a line end (`<4`, `f`).
    pub(crate) code_carry: String,
    pub(crate) legacy: bool,
    pub(crate) legacy_name: Option<String>,
    pub(crate) has_efer: bool,
    /// Bit per segment ([`kvmtriage_model::SegName::index`]) whose line had every field at
    /// QEMU's width (not cut after the attribute word).
    pub(crate) whole_segments: u8,
}

impl Open {
    pub(crate) fn warn(&mut self, line: u32, kind: WarningKind, message: String) {
        self.dump.warnings.push(Warning {
            line,
            kind,
            message,
        });
    }

    fn complete(&self) -> bool {
        self.code == CodeState::Done || self.code == CodeState::Reading || self.has_efer
    }
}

struct Pending {
    event: Event,
    line: u32,
    /// Seen inside an unfinished dump: index of the warning that said so.
    interleaved: Option<usize>,
}

/// The state machine over logical lines.
#[derive(Default)]
struct Reader {
    /// Finished dumps that a later line may still change (normally at most one).
    held: Vec<Dump>,
    /// Finished dumps no later line can change, not yet handed out.
    ready: Vec<Dump>,
    /// Dumps handed out or ready so far.
    released: u32,
    open: Option<Open>,
    /// Last event line not yet attached to a dump.
    pending: Option<Pending>,
    /// Notes for the next dump (orphan events).
    carry_warnings: Vec<Warning>,
    pending_cpu: Option<u32>,
    /// An exit record being read.
    record: Option<ExitRecord>,
    /// Last physical line seen.
    current: u32,
    oops_line: Option<u32>,
    binary_line: Option<u32>,
    /// The line being read has a byte binary data has (see [`events::LineScan::control`]).
    control: bool,
}

impl Reader {
    fn line(&mut self, text: &str, no: u32, last: u32) {
        self.current = last;
        if self.record.is_some() {
            match exit_field(text, no) {
                Some(f) => {
                    if let Some(r) = self.record.as_mut() {
                        r.fields.push(f);
                    }
                }
                None => self.end_record(),
            }
        }
        self.control = false;
        let kind = self.classify(text, no);
        // Binary data matters only when no dump is found at all; `classify` saw every byte of a
        // line that is not a clean register line, so most lines never get here.
        // A register line is never scanned for control bytes, but one that holds a NUL is
        // binary data that happens to start like `RAX=`.
        let regs_with_nul = matches!(kind, Kind::Regs(_))
            && self.released == 0
            && self.binary_line.is_none()
            && text.as_bytes().contains(&0);
        if regs_with_nul
            || self.control
                && self.binary_line.is_none()
                && self.released == 0
                && self.held.is_empty()
                && !matches!(kind, Kind::Regs(_) | Kind::Bytes(_) | Kind::Legacy(_))
                && looks_binary(text)
        {
            self.binary_line = Some(no);
        }
        self.handle(kind, no, last);
        if self.record.is_none() && is_exit_record_header(text) {
            self.record = Some(ExitRecord {
                line: no,
                fields: Vec::new(),
            });
        }
        self.release(false);
    }

    /// End of input.
    fn finish(&mut self) {
        self.finish_open();
        self.end_record();
        self.release(true);
    }

    /// Move the held dumps no later line can change to `ready`.
    fn release(&mut self, all: bool) {
        if self.held.is_empty() {
            return;
        }
        let keep_last = !all && {
            let d = self.held.last().map(|d| d.source.last_line).unwrap_or(0);
            let interleaved = self.pending.as_ref().is_some_and(|p| {
                p.interleaved.is_some() && self.current.saturating_sub(p.line) < EVENT_REACH
            });
            self.record.is_some() || interleaved || self.current.saturating_sub(d) < HOLD_LINES
        };
        let n = self.held.len() - usize::from(keep_last);
        self.released += n as u32;
        self.ready.extend(self.held.drain(..n));
    }

    /// Attach the exit record being read to the dump it follows.
    fn end_record(&mut self) {
        let Some(record) = self.record.take() else {
            return;
        };
        let header = record.line;
        if let Some(o) = self
            .open
            .as_mut()
            .filter(|o| o.dump.source.first_line < header)
        {
            o.dump.exit_record = Some(record);
        } else if let Some(d) = self
            .held
            .iter_mut()
            .rev()
            .find(|d| d.source.first_line < header)
            .filter(|d| header.saturating_sub(d.source.last_line) <= HOLD_LINES)
        {
            d.exit_record = Some(record);
        }
    }

    fn classify<'a>(&mut self, text: &'a str, no: u32) -> Kind<'a> {
        let code_open = self
            .open
            .as_ref()
            .is_some_and(|o| matches!(o.code, CodeState::Reading | CodeState::Interrupted { .. }));
        let legacy_open = self.open.as_ref().is_some_and(|o| o.legacy);
        let b = text.as_bytes();
        // The common case: a clean dump line.
        if reg_token_at(text).is_some() {
            return Kind::Regs(text);
        }
        // One pass over the line: `=`/`#` (every dump line has one, except Code continuations
        // and old qemu-kvm lines), event keywords, and a kernel oops `RIP: 00`.
        let scan = scan_line(b);
        self.control |= scan.control;
        let maybe_dump_line = code_open || legacy_open || scan.eq_or_hash || {
            let skip = b
                .iter()
                .position(|c| !matches!(c, b' ' | b'\t' | b'>'))
                .unwrap_or(b.len());
            b[skip..].starts_with(b"rax ")
        };
        // Prefixes are short: dump tokens start within the first 120 bytes.
        let scan_end = if maybe_dump_line { 120 } else { 0 };
        for rest in content_starts(text, scan_end) {
            if reg_token_at(rest).is_some() {
                return Kind::Regs(rest);
            }
            if let Some(after) = rest.strip_prefix("CPU#") {
                let digits: &str = after
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("");
                if let Ok(n) = digits.parse() {
                    if after[digits.len()..].trim().is_empty() {
                        return Kind::CpuHeader(n);
                    }
                }
            }
            if rest.starts_with('r') && legacy_token_at(rest, legacy_open) {
                return Kind::Legacy(rest);
            }
            if legacy_open && legacy_token_at(rest, true) {
                return Kind::Legacy(rest);
            }
        }
        if scan.event {
            if let Some(ev) = classify_event(text) {
                return Kind::Event(ev);
            }
        }
        if code_open {
            let carry = self.open.as_ref().is_some_and(|o| !o.code_carry.is_empty());
            let mut i = 0usize;
            while i < b.len().min(120) {
                if (i == 0 || is_prefix_end(b[i - 1])) && text.is_char_boundary(i) {
                    let rest = &text[i..];
                    if is_byte_line(rest, carry) {
                        return Kind::Bytes(rest);
                    }
                }
                i += 1;
            }
        }
        if self.oops_line.is_none() && scan.oops_rip {
            self.oops_line = Some(no);
        }
        Kind::Other
    }

    fn handle(&mut self, kind: Kind<'_>, no: u32, last: u32) {
        match kind {
            Kind::Regs(s) => self.regs(s, no, last),
            Kind::Legacy(s) => self.legacy(s, no, last),
            Kind::Bytes(s) => {
                if let Some(open) = self.open.as_mut() {
                    if let CodeState::Interrupted { line } = open.code {
                        open.warn(
                            no,
                            WarningKind::Interleaved,
                            format!("Code bytes resume on line {no} after other output that began on line {line}; bytes printed in between may be lost"),
                        );
                        // The events seen meanwhile were really interleaved.
                        self.pending = None;
                    }
                    open.code = CodeState::Reading;
                    open.gap = 0;
                    open.dump.source.last_line = last;
                    code_bytes(open, s, no);
                }
            }
            Kind::CpuHeader(n) => {
                self.finish_open();
                self.pending_cpu = Some(n);
            }
            Kind::Event(ev) => self.event(ev, no),
            Kind::Other => {
                if let Some(open) = self.open.as_mut() {
                    if open.code == CodeState::Reading {
                        open.code = CodeState::Done;
                    }
                    open.gap += 1;
                    let interrupted = matches!(open.code, CodeState::Interrupted { .. });
                    if (open.complete() && !interrupted) || open.gap > MAX_GAP {
                        self.finish_open();
                    }
                }
            }
        }
    }

    fn event(&mut self, mut ev: EventLine<'_>, no: u32) {
        if let EventLine::New(e) = &mut ev {
            if let Some(line) = e.line_mut() {
                *line = no;
            }
        }
        match ev {
            EventLine::ExtraData { index, value, text } => {
                let target = self.pending.as_mut().map(|p| &mut p.event);
                let problem = match (target, value) {
                    (
                        Some(Event::InternalError {
                            extra_data,
                            extra_data_lines,
                            ..
                        }),
                        Some(v),
                    ) => {
                        let expected = extra_data.len();
                        extra_data.push(v);
                        extra_data_lines.push(no);
                        match index {
                            Some(i) if i != expected => Some((
                                WarningKind::Malformed,
                                format!(
                                    "`extra data[{i}]` out of order: expected index {expected}"
                                ),
                            )),
                            _ => None,
                        }
                    }
                    (Some(Event::InternalError { .. }), None) => Some((
                        WarningKind::Malformed,
                        format!("cannot read the value in `{}`", text.trim()),
                    )),
                    _ => Some((
                        WarningKind::Note,
                        "`extra data` line with no `KVM internal error` before it".to_string(),
                    )),
                };
                if let Some((kind, msg)) = problem {
                    self.warn_here(no, kind, msg);
                }
            }
            EventLine::EmulationFailure => {
                if let Some(Pending {
                    event:
                        Event::InternalError {
                            emulation_failure, ..
                        },
                    ..
                }) = self.pending.as_mut()
                {
                    *emulation_failure = true;
                }
            }
            EventLine::New(Event::TripleFault { line }) => {
                // TCG prints `Triple fault` after the dump it concerns.
                if let Some(open) = self.open.as_mut() {
                    if open.dump.event == Event::None {
                        open.dump.event = Event::TripleFault { line };
                        open.dump.source.last_line = line;
                        self.finish_open();
                        return;
                    }
                }
                if let Some(d) = self.held.last_mut() {
                    if d.event == Event::None
                        && line.saturating_sub(d.source.last_line) <= TRIPLE_FAULT_REACH
                    {
                        d.event = Event::TripleFault { line };
                        d.source.last_line = line;
                        return;
                    }
                }
                self.finish_open();
                self.set_pending(Event::TripleFault { line }, no, None);
            }
            EventLine::New(Event::CpuReset { cpu, line })
                if matches!(
                    self.pending,
                    Some(Pending { event: Event::TripleFault { .. }, line: tf, .. }) if line.saturating_sub(tf) <= 3
                ) =>
            {
                // `-d cpu_reset` after `Triple fault`: the dump that follows is the
                // triple-faulting state; keep the triple fault as the event.
                self.pending_cpu = Some(cpu);
            }
            EventLine::New(event) => {
                let unfinished = self.open.as_ref().is_some_and(|o| {
                    !o.complete() || matches!(o.code, CodeState::Interrupted { .. })
                });
                if unfinished {
                    let Some(open) = self.open.as_mut() else {
                        return;
                    };
                    open.gap = 0;
                    let idx = open.dump.warnings.len();
                    open.warn(
                        no,
                        WarningKind::Interleaved,
                        format!(
                            "`{}` event printed inside this dump (output of another vCPU?); not attached to it",
                            event.kind()
                        ),
                    );
                    if let Some(p) = self.pending.take() {
                        self.orphan(p);
                    }
                    self.pending = Some(Pending {
                        event,
                        line: no,
                        interleaved: Some(idx),
                    });
                } else {
                    self.finish_open();
                    self.set_pending(event, no, None);
                }
            }
        }
    }

    fn set_pending(&mut self, event: Event, line: u32, interleaved: Option<usize>) {
        if let Some(p) = self.pending.take() {
            self.orphan(p);
        }
        self.pending = Some(Pending {
            event,
            line,
            interleaved,
        });
    }

    /// An event that never got a dump of its own.
    fn orphan(&mut self, p: Pending) {
        if p.interleaved.is_some() {
            return; // already reported as interleaved
        }
        self.carry_warnings.push(Warning {
            line: p.line,
            kind: WarningKind::Note,
            message: format!(
                "`{}` event with no dump of its own (another vCPU, or a repeated message)",
                p.event.kind()
            ),
        });
    }

    fn warn_here(&mut self, line: u32, kind: WarningKind, message: String) {
        match self.open.as_mut() {
            Some(o) => o.warn(line, kind, message),
            None => self.carry_warnings.push(Warning {
                line,
                kind,
                message,
            }),
        }
    }

    /// Start a new dump at `no`, taking the pending event and CPU header.
    fn start(&mut self, no: u32) {
        self.finish_open();
        let mut open = Open::default();
        open.dump.source.first_line = no;
        open.dump.source.last_line = no;
        open.dump.cpu_index = self.pending_cpu.take();
        if let Some(p) = self.pending.take() {
            if no.saturating_sub(p.line) <= EVENT_REACH {
                if let Some(idx) = p.interleaved {
                    // It was not interleaved after all: it introduces this dump.
                    if let Some(prev) = self.held.last_mut() {
                        let same = prev.warnings.get(idx).is_some_and(|w| {
                            w.line == p.line && w.kind == WarningKind::Interleaved
                        });
                        if same {
                            prev.warnings.remove(idx);
                        }
                    }
                }
                if let Event::CpuReset { cpu, .. } = p.event {
                    open.dump.cpu_index.get_or_insert(cpu);
                }
                open.dump.source.first_line = p.line;
                open.dump.event = p.event;
            } else {
                self.orphan(p);
            }
        }
        open.dump.warnings.append(&mut self.carry_warnings);
        self.open = Some(open);
    }

    fn finish_open(&mut self) {
        if let Some(open) = self.open.take() {
            if let Some(dump) = completion::finish(open) {
                // An older held dump can no longer change: only the last one can.
                let n = self.held.len();
                self.released += n as u32;
                self.ready.extend(self.held.drain(..n));
                self.held.push(dump);
            }
        }
    }

    fn regs(&mut self, s: &str, no: u32, last: u32) {
        let first = reg_token_at(s).map(|(n, _)| n).unwrap_or("");
        let key = key_of(first);
        let needs_new = match self.open.as_ref() {
            None => true,
            Some(o) => {
                o.legacy
                    || o.seen & key.bit() != 0
                    || key.rank() < o.max_rank
                    || (o.code != CodeState::None && first != "Code")
            }
        };
        if needs_new {
            self.start(no);
        } else if let Some(p) = self.pending.take() {
            // Events between lines of this dump were interleaved output.
            if p.interleaved.is_none() {
                self.pending = Some(p);
            }
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.gap = 0;
        open.dump.source.last_line = last;
        if let Some(glued) = parse_reg_line(open, s, no) {
            // `Code=` glued to other output (another vCPU's error message).
            let kind = self.classify(glued, no);
            if !matches!(kind, Kind::Regs(_) | Kind::Bytes(_)) {
                self.handle(kind, no, last);
            }
        }
    }

    fn legacy(&mut self, s: &str, no: u32, last: u32) {
        let starts = s.split_ascii_whitespace().next() == Some("rax");
        if starts || !self.open.as_ref().is_some_and(|o| o.legacy) {
            self.start(no);
            if let Some(o) = self.open.as_mut() {
                o.legacy = true;
                o.dump.printed.gprs = true;
                o.dump.printed.layout = GprLayout::Legacy;
            }
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.gap = 0;
        open.dump.source.last_line = last;
        parse_legacy_line(open, s, no);
    }
}

/// `kvmtriage: exit record` after blanks (a byte test first: this runs for every line).
fn is_exit_record_header(text: &str) -> bool {
    let b = text.as_bytes();
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    b[start..].first() == Some(&b'k') && text.trim_start().starts_with(EXIT_RECORD_HEADER)
}

/// Reads dumps from text that arrives a line (or a chunk) at a time, handing back each dump once
/// no later line can change it; the input never has to be in memory whole. What it holds is
/// bounded: see the module documentation of `reader` ([`HOLD_LINES`], [`EVENT_REACH`],
/// [`crate::transport::MAX_LOGICAL_LINE`]) and, for [`StreamReader::feed`], the unfinished last
/// line of the chunks so far.
///
/// ```
/// use kvmtriage_dump::StreamReader;
/// let text = std::fs::read_to_string(concat!(
///     env!("CARGO_MANIFEST_DIR"),
///     "/../../testdata/seed/origin-note.txt"
/// ))
/// .unwrap();
/// let mut reader = StreamReader::new();
/// let mut dumps = Vec::new();
/// for line in text.lines() {
///     dumps.extend(reader.feed_line(line));
/// }
/// dumps.extend(reader.finish());
/// assert_eq!(dumps, kvmtriage_dump::read(&text).unwrap());
/// ```
#[derive(Default)]
pub struct StreamReader {
    transport: Transport,
    reader: Reader,
    /// The unfinished last line of the chunks given to [`StreamReader::feed`].
    partial: String,
    /// Some line had more than blanks (and a byte-order mark).
    content: bool,
    /// One of the first 64 lines opens a `kvmtriage capture` ([`crate::capture::is_capture`]).
    capture: bool,
}

impl StreamReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Read one line (a trailing `\n` or `\r\n` is dropped; a line holding `\n` is read as
    /// several). Returns the dumps finished by it, in input order.
    pub fn feed_line(&mut self, line: &str) -> Vec<Dump> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        for piece in line.split('\n') {
            self.push(piece);
        }
        std::mem::take(&mut self.reader.ready)
    }

    /// Read a chunk of text cut anywhere (lines end at `\n`). Returns the dumps finished by it.
    pub fn feed(&mut self, chunk: &str) -> Vec<Dump> {
        let mut rest = chunk;
        while let Some(nl) = rest.find('\n') {
            let piece = &rest[..nl];
            if self.partial.is_empty() {
                self.push(piece);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.push_str(piece);
                self.push(&line);
            }
            rest = &rest[nl + 1..];
        }
        self.partial.push_str(rest);
        std::mem::take(&mut self.reader.ready)
    }

    /// End of input: the remaining dumps.
    pub fn finish(self) -> Vec<Dump> {
        self.finish_read().unwrap_or_default()
    }

    /// End of input: the remaining dumps, or, when the whole input held no dump at all (none was
    /// handed out earlier either), why not.
    pub fn finish_read(mut self) -> Result<Vec<Dump>, ReadError> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.push(&line);
        }
        let reader = &mut self.reader;
        self.transport
            .finish(&mut |l: Line<'_>| reader.line(l.text, l.number, l.last));
        self.reader.finish();
        let r = self.reader;
        if r.released > 0 {
            return Ok(r.ready);
        }
        if !self.content {
            return Err(ReadError::Empty);
        }
        if let Some(line) = r.binary_line {
            return Err(ReadError::Binary { line });
        }
        if let Some(line) = r.oops_line {
            return Err(ReadError::KernelOops { line });
        }
        Err(ReadError::NoDump {
            lines_scanned: self.transport.physical_lines(),
        })
    }

    /// Physical lines read so far.
    pub fn lines_read(&self) -> u32 {
        self.transport.physical_lines()
    }

    fn push(&mut self, physical: &str) {
        if self.transport.physical_lines() < 64
            && physical.as_bytes().first() == Some(&b'k')
            && physical.starts_with(crate::capture::BEGIN)
        {
            self.capture = true;
        }
        if !self.content {
            let text = if self.transport.physical_lines() == 0 {
                physical.strip_prefix('\u{feff}').unwrap_or(physical)
            } else {
                physical
            };
            self.content = !text.trim().is_empty();
        }
        let reader = &mut self.reader;
        self.transport.push(physical, &mut |l: Line<'_>| {
            reader.line(l.text, l.number, l.last)
        });
    }
}

/// A [`StreamReader`] over the whole text.
pub(crate) fn read(text: &str) -> Result<Vec<Dump>, ReadError> {
    read_noting_capture(text).0
}

/// [`read`], and whether the text is a `kvmtriage capture` (then [`crate::read`] reads it with
/// [`crate::capture::read`] instead): the check rides on the line loop instead of a pass of its
/// own.
pub(crate) fn read_noting_capture(text: &str) -> (Result<Vec<Dump>, ReadError>, bool) {
    let mut s = StreamReader::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut dumps = Vec::new();
    for line in body.split('\n') {
        s.push(line);
        dumps.append(&mut s.reader.ready);
    }
    let capture = s.capture;
    // Dumps handed out above count: an error only when there was none at all.
    let result = s.finish_read().map(|mut rest| {
        dumps.append(&mut rest);
        dumps
    });
    (result, capture)
}
