//! kvmtriage-scan: finds every QEMU x86 register dump and every lone KVM failure line in
//! arbitrary logs (plain, gzip, zstd, xz; journald `-o json` / `-o export`; mail archives through
//! the dump reader's transport layer), gives each a versioned signature and clusters them.
//!
//! Streaming: a file is read in [`CHUNK`] pieces; a literal prefilter ([`prefilter`]) skips
//! everything but a few lines around its hits, and only those regions go through
//! `kvmtriage_dump::StreamReader` and `kvmtriage_analyze::analyze_dump`. Memory does not grow
//! with the input. Files are scanned in parallel (rayon); one file is read by one thread.
//!
//! No printing: records go to a sink, problems with the input come back as [`InputIssue`]s.

pub mod cluster;
pub mod journal;
pub mod prefilter;
pub mod record;
pub mod stamp;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kvmtriage_analyze::Options;
use rayon::prelude::*;
use serde::Serialize;

pub use cluster::{Cluster, Clusters};
pub use record::{Kind, Record, Source, RECORD_VERSION, SIGNATURE_VERSION};

/// Bytes read per step.
pub const CHUNK: usize = 1 << 20;
/// Bytes looked at for binary data (a NUL byte) before a file is skipped as binary.
pub const SNIFF: usize = 8 << 10;

/// What went wrong with a piece of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueKind {
    /// The file or directory could not be opened or read.
    Unreadable,
    /// A NUL byte in the first 8 KiB: a binary file, skipped.
    Binary,
    /// NUL bytes later in a text file: read on, lines with NUL may be misread.
    NulBytes,
    /// A line longer than 1 MiB: cut into pieces (reported once per file).
    LineCut,
    /// A compressed stream ended early or is corrupt: what came before was scanned.
    Truncated,
}

/// A problem with the input, reported with its path; the scan goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InputIssue {
    pub path: String,
    pub kind: IssueKind,
    pub message: String,
}

/// Scan settings.
#[derive(Default)]
pub struct ScanOptions {
    /// Worker threads (0: rayon's default, one per CPU).
    pub threads: usize,
    pub analyze: Options,
}

/// One input: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "-".into(),
        }
    }
}

/// Expand the given paths: directories recursively (sorted), `-` as standard input. A directory
/// that cannot be read is an issue; a missing path is one too.
pub fn expand(paths: &[String], issues: &mut Vec<InputIssue>) -> Vec<Input> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(Input::Stdin);
        } else {
            walk(Path::new(p), &mut out, issues);
        }
    }
    out
}

fn walk(p: &Path, out: &mut Vec<Input>, issues: &mut Vec<InputIssue>) {
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => {
            issues.push(issue(p, IssueKind::Unreadable, e.to_string()));
            return;
        }
    };
    if !meta.is_dir() {
        out.push(Input::File(p.to_path_buf()));
        return;
    }
    let rd = match std::fs::read_dir(p) {
        Ok(rd) => rd,
        Err(e) => {
            issues.push(issue(p, IssueKind::Unreadable, format!("directory: {e}")));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        walk(&e, out, issues);
    }
}

fn issue(p: &Path, kind: IssueKind, message: String) -> InputIssue {
    InputIssue {
        path: p.display().to_string(),
        kind,
        message,
    }
}

/// The input format found by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    JournalJson,
    JournalExport,
}

fn sniff_format(head: &[u8]) -> Format {
    let t = head.trim_ascii_start();
    if t.starts_with(b"{") && memchr::memmem::find(t, b"\"MESSAGE\"").is_some() {
        Format::JournalJson
    } else if t.starts_with(b"__CURSOR=") {
        Format::JournalExport
    } else {
        Format::Text
    }
}

/// Open a decompressor by magic bytes.
fn decompress<'a>(mut r: Box<dyn BufRead + 'a>) -> io::Result<Box<dyn BufRead + 'a>> {
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            CHUNK,
            flate2::bufread::MultiGzDecoder::new(r),
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(BufReader::with_capacity(
            CHUNK,
            zstd::stream::read::Decoder::with_buffer(r)?,
        ))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(BufReader::with_capacity(
            CHUNK,
            xz2::bufread::XzDecoder::new_multi_decoder(r),
        ))
    } else {
        r
    })
}

/// Scan one reader (already opened; decompression and format are detected here). Records go to
/// `sink` as they are found; the issues met are returned. `progress` gets the bytes read from
/// `r`'s underlying source (compressed bytes for compressed input) is not tracked here.
pub fn scan_reader(
    name: &str,
    r: Box<dyn BufRead + '_>,
    opts: &Options,
    sink: &mut dyn FnMut(Record),
) -> Vec<InputIssue> {
    let mut issues = Vec::new();
    let path = Path::new(name);
    let mut r = match decompress(r) {
        Ok(r) => r,
        Err(e) => {
            issues.push(issue(path, IssueKind::Unreadable, e.to_string()));
            return issues;
        }
    };
    let ac = prefilter::automaton();
    // The first bytes decide the format and binary files.
    let mut head = Vec::with_capacity(SNIFF);
    if let Err(e) = (&mut r).take(SNIFF as u64).read_to_end(&mut head) {
        issues.push(read_issue(path, &e));
        return issues;
    }
    let format = sniff_format(&head);
    if format == Format::Text && memchr::memchr(0, &head).is_some() {
        issues.push(issue(
            path,
            IssueKind::Binary,
            "binary file (NUL byte in the first 8 KiB): skipped".into(),
        ));
        return issues;
    }
    let mut chained: Box<dyn BufRead + '_> = Box::new(BufReader::with_capacity(
        CHUNK,
        io::Cursor::new(head).chain(r),
    ));
    match format {
        Format::JournalJson | Format::JournalExport => {
            let mut demux = journal::Demux::new(&ac);
            let mut emit = |reg: prefilter::Region, host: Option<String>| {
                record::region_records(&reg, name, host.as_deref(), opts, &mut *sink)
            };
            let res = if format == Format::JournalJson {
                journal::read_json(&mut chained, &mut demux, &mut emit)
            } else {
                journal::read_export(&mut chained, &mut demux, &mut emit)
            };
            if let Err(e) = res {
                issues.push(read_issue(path, &e));
            }
            demux.finish(&mut emit);
        }
        Format::Text => {
            let mut sc = prefilter::ChunkScanner::new(&ac);
            let mut nul_seen = false;
            let mut handle = |ev: prefilter::Event, issues: &mut Vec<InputIssue>| match ev {
                prefilter::Event::Region(reg) => {
                    record::region_records(&reg, name, None, opts, &mut *sink)
                }
                prefilter::Event::LineCut { line } => issues.push(issue(
                    path,
                    IssueKind::LineCut,
                    format!("line {line} is longer than 1 MiB: cut into 1 MiB pieces"),
                )),
            };
            loop {
                let buf = sc.buffer();
                let old = buf.len();
                buf.resize(old + CHUNK, 0);
                let (n, err) = read_full(&mut chained, &mut buf[old..]);
                buf.truncate(old + n);
                let stop = n == 0 || err.is_some();
                if let Some(e) = err {
                    issues.push(read_issue(path, &e));
                }
                if !nul_seen && memchr::memchr(0, &buf[old..]).is_some() {
                    nul_seen = true;
                    issues.push(issue(
                        path,
                        IssueKind::NulBytes,
                        "NUL bytes in a text file: read on".into(),
                    ));
                }
                let mut evs = Vec::new();
                sc.process(&mut |e| evs.push(e));
                for e in evs {
                    handle(e, &mut issues);
                }
                if stop {
                    break;
                }
            }
            let mut evs = Vec::new();
            sc.finish(&mut |e| evs.push(e));
            for e in evs {
                handle(e, &mut issues);
            }
        }
    }
    issues
}

/// Fill `buf` as far as the reader goes (short only at the end or at an error): the bytes read,
/// and the error that stopped it.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

fn read_issue(path: &Path, e: &io::Error) -> InputIssue {
    let kind = match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            IssueKind::Truncated
        }
        _ => IssueKind::Unreadable,
    };
    let message = match kind {
        IssueKind::Truncated => {
            format!("compressed stream is truncated or corrupt ({e}): scanned up to there")
        }
        _ => format!("read error: {e}"),
    };
    issue(path, kind, message)
}

/// A reader over `f` that reports the bytes read.
struct Counted<R> {
    inner: R,
    progress: Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p(n as u64);
        }
        Ok(n)
    }
}

/// Open and scan one input.
pub fn scan_input(
    input: &Input,
    opts: &Options,
    progress: Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>,
    sink: &mut dyn FnMut(Record),
) -> Vec<InputIssue> {
    let name = input.name();
    match input {
        Input::Stdin => {
            let r = Counted {
                inner: io::stdin(),
                progress,
            };
            scan_reader(
                &name,
                Box::new(BufReader::with_capacity(CHUNK, r)),
                opts,
                sink,
            )
        }
        Input::File(p) => match File::open(p) {
            Ok(f) => {
                let r = Counted { inner: f, progress };
                scan_reader(
                    &name,
                    Box::new(BufReader::with_capacity(CHUNK, r)),
                    opts,
                    sink,
                )
            }
            Err(e) => vec![issue(p, IssueKind::Unreadable, e.to_string())],
        },
    }
}

/// Scan every input in parallel (one file per thread at a time). Records go to `sink` as found
/// (from several threads: the sink is called under a lock, records of one file in order);
/// issues go to `on_issue` as met. Returns all issues, in input order.
pub fn scan_all(
    inputs: &[Input],
    opts: &ScanOptions,
    progress: Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>,
    sink: &(dyn Fn(Record) + Sync),
    on_issue: &(dyn Fn(&InputIssue) + Sync),
) -> Vec<InputIssue> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .expect("thread pool");
    let lock = Mutex::new(());
    pool.install(|| {
        inputs
            .par_iter()
            .with_max_len(1)
            .map(|input| {
                let issues = scan_input(input, &opts.analyze, progress.clone(), &mut |r| {
                    let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
                    sink(r)
                });
                for i in &issues {
                    on_issue(i);
                }
                issues
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect()
    })
}
