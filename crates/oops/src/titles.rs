//! Titles: which lines start a report, the report's text, and its syzbot-compatible title,
//! alternative titles, crash type and corruption, all driven by `data/titles.toml`.
//!
//! The engine: every line is checked against each kind's header (a plain substring) and ignore
//! patterns; the first hit starts a report. The report's text is its lines of the same printk
//! context with the console prefix removed and unreliable (`? `) frames dropped, cut where a
//! second report starts. Each of the kind's formats is tried on that text; the format whose title
//! pattern matches earliest wins. Its groups, then the guilty frames found by its stack steps,
//! fill the title template. Finally volatile parts (addresses, numbers, line numbers, executor
//! ids) are replaced by fixed words so that the same bug always gets the same title.

use std::sync::OnceLock;

use memchr::memmem;
use regex::Regex;
use serde::Deserialize;

use crate::text::{ConsoleLine, Context};

/// `data/titles.toml`, converted to JSON by build.rs.
const RULES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/titles.json"));

#[derive(Deserialize)]
struct RulesFile {
    frames: FramesCfg,
    pick: PickCfg,
    kind: Vec<KindCfg>,
    #[serde(rename = "type")]
    types: Vec<TypeCfg>,
}

#[derive(Deserialize)]
struct FramesCfg {
    line: Vec<String>,
    trace_start: Vec<String>,
    #[serde(default)]
    trace_start_optional: Vec<String>,
    corrupted_lines: Vec<String>,
    strip_prefixes: Vec<String>,
    skip: Vec<String>,
}

#[derive(Deserialize)]
struct PickCfg {
    stall_anchors: Vec<String>,
    hang_anchors: Vec<(String, String)>,
    hang_skip: Vec<String>,
}

#[derive(Deserialize)]
struct KindCfg {
    name: String,
    header: String,
    #[serde(default)]
    ignore: Vec<String>,
    format: Vec<FormatCfg>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct FormatCfg {
    title: String,
    report: Option<String>,
    fmt: String,
    #[serde(default)]
    alt: Vec<String>,
    #[serde(default)]
    stack: Vec<String>,
    #[serde(default)]
    stack2: Vec<String>,
    #[serde(default)]
    warning_stack: bool,
    #[serde(default)]
    skip: Vec<String>,
    pick: Option<String>,
    #[serde(default)]
    no_stack_trace: bool,
    #[serde(default)]
    corrupted: bool,
}

#[derive(Deserialize)]
struct TypeCfg {
    prefixes: Vec<String>,
    #[serde(rename = "type")]
    ty: String,
}

/// Replace the placeholders of the rules' regexes.
fn expand(re: &str) -> String {
    re.replace("%ADDR%", "0x[0-9a-f]+")
        .replace("%PC%", r"\[<?(?:0x)?[0-9a-f]+>?\]")
        .replace("%FUNC%", r"([a-zA-Z0-9_]+)(?:\.|\+)")
        .replace("%SRC%", r"([a-zA-Z0-9_/.\-]+\.[a-z]+:[0-9]+)")
        .replace("%TASK%", r"(?s:.){0,100}?")
}

/// `\d`, `\w`, `\s` and their negations as ASCII classes, as in the kernel's (and syzkaller's
/// RE2) sense; Unicode classes would only make the automata bigger and slower to build.
fn ascii_classes(re: &str) -> String {
    let mut out = String::with_capacity(re.len() + 16);
    let mut in_class = 0usize;
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push(c);
                    break;
                };
                let (outside, inside) = match n {
                    'd' => ("[0-9]", "0-9"),
                    'D' => ("[^0-9]", ""),
                    'w' => ("[0-9A-Za-z_]", "0-9A-Za-z_"),
                    'W' => ("[^0-9A-Za-z_]", ""),
                    's' => ("[\\t\\n\\x0B\\x0C\\r ]", "\\t\\n\\x0B\\x0C\\r "),
                    'S' => ("[^\\t\\n\\x0B\\x0C\\r ]", ""),
                    _ => ("", ""),
                };
                let rep = if in_class > 0 { inside } else { outside };
                if rep.is_empty() {
                    out.push(c);
                    out.push(n);
                } else {
                    out.push_str(rep);
                }
            }
            '[' => {
                if in_class > 0 && chars.peek() == Some(&':') {
                    // A POSIX class `[:space:]` inside a bracket: copy it whole.
                    out.push(c);
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == ']' {
                            break;
                        }
                    }
                    continue;
                }
                in_class += 1;
                out.push(c);
                // `[]…]` and `[^]…]`: a leading `]` is literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_class > 0 => {
                in_class -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn compile(re: &str) -> Regex {
    // The rules are embedded data checked by the tests (`rules_compile`): a bad pattern is a
    // build defect, not bad input.
    let p = ascii_classes(&expand(re));
    Regex::new(&p).unwrap_or_else(|e| panic!("data/titles.toml: bad regex {re:?}: {e}"))
}

/// The RIP/IP line of an x86 oops (and the instruction-pointer lines of other architectures'
/// reports in syzkaller's corpus): one group, the function.
const RIP_FRAME: &str = r"(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:%PC% +){0,2}%FUNC%|(?:[0-9]+:)?0x[0-9a-f]+|(?:[0-9]+:)?%PC% +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))";
const CALL_TRACE: &str = r"(?:Call (?:T|t)race:)|(?:Backtrace:)";

enum Part {
    Re(Regex),
    Trace,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pick {
    First,
    Stall,
    Hang,
}

struct Stack {
    parts: Vec<Part>,
    parts2: Vec<Part>,
    /// The format's own skip patterns (the global ones are [`Rules::skip`]).
    skip: Option<Regex>,
    pick: Pick,
}

struct Format {
    title: Regex,
    /// Compiled when the title matched (most formats never get that far).
    report: OnceLock<Option<Regex>>,
    stack: OnceLock<Option<Stack>>,
    cfg: FormatCfg,
    no_stack_trace: bool,
    corrupted: bool,
}

impl Format {
    fn report(&self) -> Option<&Regex> {
        self.report
            .get_or_init(|| self.cfg.report.as_deref().map(compile))
            .as_ref()
    }

    fn stack(&self, rules: &Rules) -> Option<&Stack> {
        self.stack
            .get_or_init(|| rules.build_stack(&self.cfg))
            .as_ref()
    }
}

pub(crate) struct Kind {
    pub name: String,
    pub header: String,
    finder: memmem::Finder<'static>,
    ignore_src: Vec<String>,
    ignore: OnceLock<Vec<Regex>>,
    formats_src: Vec<FormatCfg>,
    formats: OnceLock<Vec<Format>>,
}

pub(crate) struct Rules {
    frame_line: Vec<Regex>,
    trace_start: Vec<Regex>,
    /// Trace starts that need no frame after them (counted last in `trace_start`).
    optional_starts: usize,
    corrupted_lines: Vec<Regex>,
    strip_prefixes: Vec<String>,
    global_skip: Vec<String>,
    skip: OnceLock<SkipList>,
    stall_src: Vec<String>,
    stall_anchors: OnceLock<Regex>,
    hang_anchors: Vec<(String, String)>,
    hang_skip: Vec<String>,
    pub kinds: Vec<Kind>,
    types: Vec<(Vec<String>, String)>,
    questionable: Regex,
    corrupted_title: Regex,
}

/// Load (parse and compile the always-needed parts of) the rules now; for start-up timing.
pub fn load_rules_for_timing() {
    let _ = rules();
}

pub(crate) fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(Rules::load)
}

impl Rules {
    fn load() -> Rules {
        let t = std::time::Instant::now();
        let file: RulesFile = serde_json::from_str(RULES_JSON)
            .unwrap_or_else(|e| panic!("data/titles.toml does not fit the rules' schema: {e}"));
        if std::env::var_os("KVMTRIAGE_OOPS_TIMING").is_some() {
            eprintln!("titles.toml parsed in {:?}", t.elapsed());
        }
        let kinds = file
            .kind
            .into_iter()
            .map(|k| Kind {
                finder: memmem::Finder::new(k.header.as_bytes()).into_owned(),
                name: k.name,
                header: k.header,
                ignore_src: k.ignore,
                ignore: OnceLock::new(),
                formats_src: k.format,
                formats: OnceLock::new(),
            })
            .collect();
        Rules {
            frame_line: file.frames.line.iter().map(|s| compile(s)).collect(),
            trace_start: file
                .frames
                .trace_start
                .iter()
                .chain(file.frames.trace_start_optional.iter())
                .map(|s| compile(s))
                .collect(),
            optional_starts: file.frames.trace_start_optional.len(),
            corrupted_lines: file
                .frames
                .corrupted_lines
                .iter()
                .map(|s| compile(s))
                .collect(),
            strip_prefixes: file.frames.strip_prefixes,
            global_skip: file.frames.skip,
            skip: OnceLock::new(),
            stall_src: file.pick.stall_anchors,
            stall_anchors: OnceLock::new(),
            hang_anchors: file.pick.hang_anchors,
            hang_skip: file.pick.hang_skip,
            kinds,
            types: file.types.into_iter().map(|t| (t.prefixes, t.ty)).collect(),
            questionable: Regex::new(r"(?:\[<[0-9a-f]+>\])? \? ").expect("static regex"),
            corrupted_title: Regex::new(r"\[ *[0-9]+\.[0-9]+\]").expect("static regex"),
        }
    }

    fn build_stack(&self, f: &FormatCfg) -> Option<Stack> {
        let (stack, stack2) = if f.warning_stack {
            (
                vec![
                    format!("(?:{RIP_FRAME}|--- interrupt: [0-9]+ at %FUNC%)"),
                    "@trace".to_string(),
                ],
                vec!["@calltrace".to_string(), "@trace".to_string()],
            )
        } else {
            (f.stack.clone(), f.stack2.clone())
        };
        if stack.is_empty() {
            return None;
        }
        let parts = |v: &[String]| -> Vec<Part> {
            v.iter()
                .map(|p| match p.as_str() {
                    "@trace" => Part::Trace,
                    "@rip" => Part::Re(compile(RIP_FRAME)),
                    "@calltrace" => Part::Re(compile(CALL_TRACE)),
                    other => Part::Re(compile(other)),
                })
                .collect()
        };
        Some(Stack {
            parts: parts(&stack),
            parts2: parts(&stack2),
            skip: (!f.skip.is_empty()).then(|| compile(&f.skip.join("|"))),
            pick: match f.pick.as_deref() {
                Some("stall") => Pick::Stall,
                Some("hang") => Pick::Hang,
                _ => Pick::First,
            },
        })
    }
}

impl Kind {
    fn ignores(&self) -> &[Regex] {
        self.ignore
            .get_or_init(|| self.ignore_src.iter().map(|s| compile(s)).collect())
    }

    fn formats(&self) -> &[Format] {
        self.formats.get_or_init(|| {
            self.formats_src
                .iter()
                .map(|f| Format {
                    title: compile(&f.title),
                    report: OnceLock::new(),
                    stack: OnceLock::new(),
                    cfg: f.clone(),
                    no_stack_trace: f.no_stack_trace,
                    corrupted: f.corrupted,
                })
                .collect()
        })
    }

    /// This kind starts a report on `line` (the line with its console prefix).
    pub fn matches(&self, line: &str) -> bool {
        self.finder.find(line.as_bytes()).is_some()
            && !self.ignores().iter().any(|r| r.is_match(line))
    }
}

/// The global skip list: plain words as substrings, `^word`/`word$`/`^word$` as prefix, suffix
/// or equality tests, only the rest as one regex (compiling 250 alternatives costs more than the
/// whole rest of an oops' reading).
struct SkipList {
    contains: Vec<String>,
    prefix: Vec<String>,
    suffix: Vec<String>,
    exact: Vec<String>,
    regex: Option<Regex>,
}

impl SkipList {
    fn new(patterns: &[String]) -> SkipList {
        let mut l = SkipList {
            contains: Vec::new(),
            prefix: Vec::new(),
            suffix: Vec::new(),
            exact: Vec::new(),
            regex: None,
        };
        let mut rest: Vec<&str> = Vec::new();
        for p in patterns {
            // `a|b`, `(x|y)z`, `k?v?(?:m|z)alloc`: expanded into plain words when that is all
            // they are.
            let Some(alternatives) = expand_words(p) else {
                rest.push(p);
                continue;
            };
            for alt in alternatives {
                let (a, body) = match alt.strip_prefix('^') {
                    Some(b) => (true, b.to_string()),
                    None => (false, alt.clone()),
                };
                let (z, body) = match body.strip_suffix('$') {
                    Some(b) => (true, b.to_string()),
                    None => (false, body),
                };
                if body.is_empty() || body.contains(['^', '$']) {
                    rest.push(p);
                    break;
                }
                let v = match (a, z) {
                    (false, false) => &mut l.contains,
                    (true, false) => &mut l.prefix,
                    (false, true) => &mut l.suffix,
                    (true, true) => &mut l.exact,
                };
                v.push(body);
            }
        }
        l.regex = (!rest.is_empty()).then(|| compile(&rest.join("|")));
        l
    }

    fn matches(&self, name: &str) -> bool {
        self.contains.iter().any(|w| name.contains(w.as_str()))
            || self.prefix.iter().any(|w| name.starts_with(w.as_str()))
            || self.suffix.iter().any(|w| name.ends_with(w.as_str()))
            || self.exact.iter().any(|w| name == w)
            || self.regex.as_ref().is_some_and(|r| r.is_match(name))
    }
}

/// All the plain strings a pattern made of literal characters, `^`/`$` anchors, `|`, groups
/// `(…)`/`(?:…)` and `?` after a character or group can match; `None` for anything else (`.`,
/// `*`, `+`, classes, escapes) or more than 64 strings.
fn expand_words(p: &str) -> Option<Vec<String>> {
    fn alternation(s: &[u8], i: &mut usize) -> Option<Vec<String>> {
        let mut out = Vec::new();
        loop {
            out.extend(sequence(s, i)?);
            if *i < s.len() && s[*i] == b'|' {
                *i += 1;
                continue;
            }
            return Some(out);
        }
    }
    fn sequence(s: &[u8], i: &mut usize) -> Option<Vec<String>> {
        let mut acc = vec![String::new()];
        while *i < s.len() && s[*i] != b'|' && s[*i] != b')' {
            let atom: Vec<String> = match s[*i] {
                b'(' => {
                    *i += 1;
                    if s[*i..].starts_with(b"?:") {
                        *i += 2;
                    }
                    let inner = alternation(s, i)?;
                    if *i >= s.len() || s[*i] != b')' {
                        return None;
                    }
                    *i += 1;
                    inner
                }
                c if c.is_ascii_alphanumeric()
                    || matches!(c, b'_' | b':' | b'^' | b'$' | b'-' | b'<' | b'>' | b' ') =>
                {
                    *i += 1;
                    if s.get(*i) != Some(&b'?') {
                        // A plain character: appended in place (the common case).
                        for a in acc.iter_mut() {
                            a.push(c as char);
                        }
                        continue;
                    }
                    vec![(c as char).to_string()]
                }
                _ => return None,
            };
            let optional = *i < s.len() && s[*i] == b'?';
            if optional {
                *i += 1;
            }
            let mut next = Vec::new();
            for a in &acc {
                if optional {
                    next.push(a.clone());
                }
                for b in &atom {
                    next.push(format!("{a}{b}"));
                }
            }
            if next.len() > 64 {
                return None;
            }
            acc = next;
        }
        Some(acc)
    }
    let b = p.as_bytes();
    let mut i = 0;
    let out = alternation(b, &mut i)?;
    (i == b.len()).then_some(out)
}

/// A line prepared for the report finder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// First physical input line (1-based).
    pub number: u32,
    /// The line without its carrier prefix, console prefix still on.
    pub raw: &'a str,
    pub console: ConsoleLine<'a>,
    /// An unreliable (`? `) frame.
    pub questionable: bool,
    /// The message before an unreliable frame's `? ` was cut off.
    pub full: &'a str,
}

impl<'a> Line<'a> {
    /// The message with an unreliable frame's `? ` kept.
    pub fn raw_message(&self) -> &'a str {
        self.full
    }
}

impl<'a> Line<'a> {
    pub fn new(number: u32, raw: &'a str) -> Line<'a> {
        let console = crate::text::split_console(raw);
        let mut questionable = false;
        let mut console = console;
        let full = console.message;
        if console.context != Context::None && !console.message.contains("<EOI>") {
            if rules().questionable.is_match(console.message) {
                if let Some(p) = console.message.find(" ? ") {
                    console.message = &console.message[p + 2..];
                    questionable = true;
                }
            } else if let Some(m) = console.message.strip_suffix(" (unreliable)") {
                // PowerPC marks unreliable frames at the end.
                console.message = m;
                questionable = true;
            }
        }
        Line {
            number,
            raw,
            console,
            questionable,
            full,
        }
    }
}

/// Every kind's header (`data/titles.toml`; a test keeps the two equal): a text holding none of
/// them, and no `RIP:`/`EIP:` line, has no oops, and the rules are not even loaded.
pub(crate) const HEADERS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "INFO:",
    "Unable to handle kernel",
    "general protection fault",
    "stack segment: ",
    "Kernel panic",
    "PANIC: double fault",
    "rust_kernel: panicked",
    "kernel BUG",
    "Kernel BUG",
    "BUG kmalloc-",
    "divide error:",
    "divide_error:",
    "invalid opcode:",
    "int3:",
    "UBSAN:",
    "Booting the kernel.",
    "unregister_netdevice: waiting for",
    "VFS: Close: file count is 0",
    "VFS: Busy inodes after unmount",
    "Internal error:",
    "Unhandled fault:",
    "Alignment trap:",
    "trusty: panic",
    "fatal error:",
    "SYZFAIL:",
    "SYZFATAL:",
    "panic:",
];

/// True when `text` may hold an oops (a header or a register line somewhere).
pub(crate) fn might_hold_oops(text: &str) -> bool {
    let b = text.as_bytes();
    HEADERS
        .iter()
        .chain(["RIP: ", "EIP: "].iter())
        .any(|h| memmem::find(b, h.as_bytes()).is_some())
}

/// The kind whose header starts a report on this line, if any.
pub(crate) fn header_kind(line: &str) -> Option<usize> {
    rules().kinds.iter().position(|k| k.matches(line))
}

/// Lines that do not start a new report even in the middle of another one.
fn continues_report(line: &str) -> bool {
    [
        "invalid opcode: 0000",
        "Kernel panic - not syncing",
        "unregister_netdevice: waiting for",
        "PANIC: double fault",
        "Internal error:",
    ]
    .iter()
    .any(|p| line.contains(p))
}

/// Info messages that carry a stack but are not bugs: met inside a report, they mark it as mixed.
fn info_with_stack(line: &str) -> bool {
    [
        "vmalloc: allocation failure:",
        "FAULT_INJECTION: forcing a failure",
        "FAULT_FLAG_ALLOW_RETRY missing",
    ]
    .iter()
    .any(|p| line.contains(p))
}

/// The text of the report starting at `start`.
pub(crate) struct ReportText {
    /// Every line of the report (same context, prefix removed, unreliable frames dropped).
    pub text: String,
    /// Bytes of `text` before a second report started (the part the title is taken from).
    pub title_end: usize,
    /// Index of the first line of a second report after `start`, if any.
    pub second: Option<usize>,
    /// More than [`crate::MAX_REPORT_LINES`] lines: the rest was not read.
    pub truncated: bool,
}

/// The printk context of the report starting at `start`: the header line's, or when a tool
/// prefixed the header line (`6 oops line(s); first: [  254.1] WARNING: …`) so that its stamp is
/// not at the start, the next line's.
pub(crate) fn report_context<'a>(lines: &[Line<'a>], start: usize) -> Context<'a> {
    let own = lines[start].console.context;
    if own == Context::None && rules().corrupted_title.is_match(lines[start].raw) {
        if let Some(next) = lines.get(start + 1) {
            return next.console.context;
        }
    }
    own
}

/// Collect the report that starts at line `start` (kind `kind`).
pub(crate) fn report_text(lines: &[Line<'_>], start: usize, kind: usize) -> ReportText {
    let rules = rules();
    let context = report_context(lines, start);
    let task_context = matches!(context, Context::Tag(_));
    let min_lines = if lines[start].raw.contains("BUG: KMSAN:") {
        16
    } else {
        22
    };
    let _ = kind;
    let mut text = String::new();
    let mut title_end = 0;
    let mut second = None;
    let mut text_lines = 0usize;
    let mut skip_text = false;
    let mut cpu_traceback = false;
    let mut truncated = false;
    for (i, l) in lines.iter().enumerate().skip(start) {
        let is_start = i == start;
        if !is_start && second.is_none() {
            if rules.kinds.iter().any(|k| k.matches(l.raw)) {
                if !continues_report(l.raw) {
                    second = Some(i);
                }
            } else if info_with_stack(l.raw) {
                second = Some(i);
            }
        }
        let ctx1 = l.console.context;
        if !is_start && (l.questionable || (ctx1 != context && !(cpu_traceback && ctx1.is_cpu()))) {
            continue;
        }
        text_lines += 1;
        let mut skip_line = skip_text;
        if l.raw
            .contains("Disabling lock debugging due to kernel taint")
        {
            skip_line = true;
        } else if l.raw.contains("Sending NMI from CPU") {
            cpu_traceback = true;
        } else if (l.raw.contains("Kernel panic - not syncing")
            || l.raw
                .contains("WARNING: possible circular locking dependency detected"))
            && text_lines > min_lines
        {
            skip_text = true;
            skip_line = true;
        }
        if !is_start && skip_line {
            continue;
        }
        if text_lines > crate::MAX_REPORT_LINES {
            // A runaway report (a 10 MB call trace): the title comes from its top.
            truncated = true;
            if second.is_some() {
                break;
            }
            continue;
        }
        text.push_str(l.console.message);
        text.push('\n');
        if second.is_none() || task_context {
            title_end = text.len();
        }
    }
    ReportText {
        text,
        title_end,
        second,
        truncated,
    }
}

/// A title, its alternatives, the crash type and why the report looks corrupted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description {
    pub title: String,
    pub alt_titles: Vec<String>,
    pub crash_type: String,
    /// Why the report is considered cut off or mixed up; `None` when it is whole.
    pub corrupted: Option<String>,
    /// The guilty frames the title used (canonical names).
    pub frames: Vec<String>,
}

struct Frame {
    canonical: String,
    raw: String,
}

/// Title the report text of kind `kind`.
pub(crate) fn describe(report: &ReportText, kind: usize) -> Description {
    let rules = rules();
    let k = &rules.kinds[kind];
    let text = &report.text[..report.title_end];
    let (title, corrupted, alts, format, frames) = rules.extract(text, k);
    if !title.is_empty() {
        return finish(rules, title, corrupted, alts, format, frames, &report.text);
    }
    // Nothing matched within the title part: try the whole report.
    let (title, corrupted, alts, format, frames) = rules.extract(&report.text, k);
    if !title.is_empty() {
        return finish(rules, title, corrupted, alts, format, frames, &report.text);
    }
    // The header was on the line but not in its message (cut by a `? ` frame marker or the
    // console prefix): name the kind and call the report corrupted.
    let mut d = finish(
        rules,
        k.header.trim_end_matches(':').to_string(),
        None,
        Vec::new(),
        None,
        Vec::new(),
        &report.text,
    );
    d.corrupted = Some("the header line could not be read".into());
    d
}

fn finish(
    rules: &Rules,
    title: String,
    mut corrupted: Option<String>,
    alts: Vec<String>,
    format: Option<&Format>,
    frames: Vec<String>,
    whole: &str,
) -> Description {
    if corrupted.is_none() {
        corrupted = rules.is_corrupted(&title, whole, format);
    }
    let title = sanitize_title(&replace_volatile(&title));
    let mut alt_titles: Vec<String> = Vec::new();
    for a in alts {
        let a = sanitize_title(&replace_volatile(&a));
        if !alt_titles.contains(&a) {
            alt_titles.push(a);
        }
    }
    let crash_type = rules.crash_type(&title).to_string();
    Description {
        title,
        alt_titles,
        crash_type,
        corrupted,
        frames,
    }
}

type Extracted<'r> = (
    String,
    Option<String>,
    Vec<String>,
    Option<&'r Format>,
    Vec<String>,
);

fn fill(fmt: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(fmt.len() + 32);
    let mut rest = fmt;
    while let Some(p) = rest.find('{') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        match after.find('}') {
            Some(e) if e > 0 && after[..e].bytes().all(|c| c.is_ascii_digit()) => {
                let n: usize = after[..e].parse().unwrap_or(0);
                if let Some(a) = n.checked_sub(1).and_then(|i| args.get(i)) {
                    out.push_str(a);
                }
                rest = &after[e + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl Rules {
    fn extract<'r>(&'r self, text: &str, kind: &'r Kind) -> Extracted<'r> {
        let mut desc = String::new();
        let mut corrupted: Option<String> = None;
        let mut alts: Vec<String> = Vec::new();
        let mut format: Option<&Format> = None;
        let mut frames_out: Vec<String> = Vec::new();
        let mut start_pos = text.len();
        let mut matched_title = false;
        for f in kind.formats() {
            let Some(m) = f.title.find(text) else {
                continue;
            };
            if m.start() > start_pos || (m.start() == start_pos && !desc.is_empty()) {
                continue;
            }
            if m.start() < start_pos {
                desc.clear();
                format = None;
                start_pos = m.start();
            }
            matched_title = true;
            let caps = match f.report() {
                Some(r) => match r.captures(text) {
                    Some(c) => c,
                    None => continue,
                },
                None => match f.title.captures(text) {
                    Some(c) => c,
                    None => continue,
                },
            };
            let whole = caps.get(0).map_or(0, |m| m.start());
            let mut args: Vec<String> = (1..caps.len())
                .map(|i| {
                    caps.get(i)
                        .map_or(String::new(), |m| m.as_str().to_string())
                })
                .collect();
            corrupted = None;
            let mut frames = Vec::new();
            if let Some(stack) = f.stack(self) {
                let (fr, ok) = self.stack_frames(stack, &text[whole..]);
                if !ok {
                    corrupted = Some("no frames in the stack trace".into());
                }
                frames = fr;
            }
            let prefix_len = args.len();
            args.extend(frames.iter().map(|f| f.canonical.clone()));
            desc = fill(&f.cfg.fmt, &args);
            alts.clear();
            for a in &f.cfg.alt {
                alts.push(fill(a, &args));
            }
            // Titles with partly stripped syscall prefixes help matching older titles.
            for i in 0..=self.strip_prefixes.len() {
                let (strip, mut add) = if i == 0 {
                    ("", true)
                } else {
                    (self.strip_prefixes[i - 1].as_str(), false)
                };
                let mut list = args[..prefix_len].to_vec();
                for fr in &frames {
                    let t = fr.raw.strip_prefix(strip).unwrap_or(&fr.raw);
                    if !strip.is_empty() && t.len() != fr.raw.len() {
                        add = true;
                    }
                    list.push(t.to_string());
                }
                if add {
                    let t = fill(&f.cfg.fmt, &list);
                    if t != desc {
                        alts.push(t);
                    }
                    for a in &f.cfg.alt {
                        alts.push(fill(a, &list));
                    }
                }
            }
            frames_out = frames.into_iter().map(|f| f.canonical).collect();
            format = Some(f);
        }
        if desc.is_empty() {
            if matched_title {
                corrupted = Some("the title matched but not the rest of the report".into());
            }
            if let Some(p) = text.find(&kind.header) {
                let end = text[p..].find('\n').map_or(text.len(), |e| p + e);
                desc = text[p..end].to_string();
            }
        }
        if corrupted.is_none() && format.is_some_and(|f| f.corrupted) {
            corrupted = Some("the report format means a cut-off report".into());
        }
        (desc, corrupted, alts, format, frames_out)
    }

    fn strip_frame(&self, f: &str) -> String {
        let mut best = f;
        for p in &self.strip_prefixes {
            if let Some(t) = f.strip_prefix(p.as_str()) {
                if t.len() < best.len() {
                    best = t;
                }
            }
        }
        best.to_string()
    }

    fn pick(&self, stack: &Stack, raw: &[String]) -> Option<Frame> {
        if raw.is_empty() {
            return None;
        }
        let stripped: Vec<String> = raw.iter().map(|f| self.strip_frame(f)).collect();
        let (name, idx) = match stack.pick {
            Pick::First => (stripped[0].clone(), 0),
            Pick::Stall => self.pick_stall(&stripped)?,
            Pick::Hang => self.pick_hang(&stripped)?,
        };
        Some(Frame {
            canonical: name,
            raw: raw[idx].clone(),
        })
    }

    /// The frame just above the first dispatch anchor (syscall entry, work item, timer, ...).
    fn pick_stall(&self, frames: &[String]) -> Option<(String, usize)> {
        let (mut prev, mut prev_i) = (frames[0].clone(), 0);
        for (i, f) in frames.iter().enumerate() {
            let anchors = self
                .stall_anchors
                .get_or_init(|| compile(&self.stall_src.join("|")));
            if anchors.is_match(f) {
                if f.contains("smp_call_function") {
                    return Some(("smp_call_function".to_string(), i));
                }
                return Some((prev, prev_i));
            }
            prev = f.clone();
            prev_i = i;
        }
        None
    }

    /// Hangs group under rtnl_lock / synchronize_rcu, else the first frame that is not a
    /// scheduling or locking helper.
    fn pick_hang(&self, frames: &[String]) -> Option<(String, usize)> {
        for (i, f) in frames.iter().enumerate() {
            for (anchor, repl) in &self.hang_anchors {
                if f.contains(anchor.as_str()) {
                    let name = if repl.is_empty() {
                        f.clone()
                    } else {
                        repl.clone()
                    };
                    return Some((name, i));
                }
            }
        }
        frames
            .iter()
            .enumerate()
            .find(|(_, f)| !self.hang_skip.iter().any(|s| f.contains(s.as_str())))
            .map(|(i, f)| (f.clone(), i))
    }

    fn stack_frames(&self, stack: &Stack, text: &str) -> (Vec<Frame>, bool) {
        let (frames, ok) = self.stack_frames_with(stack, &stack.parts, text);
        if ok || stack.parts2.is_empty() {
            return (frames, ok);
        }
        self.stack_frames_with(stack, &stack.parts2, text)
    }

    fn push_groups(&self, frames: &mut Vec<String>, caps: &regex::Captures<'_>, stack: &Stack) {
        let skip = self.skip.get_or_init(|| SkipList::new(&self.global_skip));
        for g in caps.iter().skip(1).flatten() {
            let name = demangle(g.as_str());
            let skipped =
                skip.matches(&name) || stack.skip.as_ref().is_some_and(|r| r.is_match(&name));
            if !skipped {
                frames.push(name);
            }
        }
    }

    fn stack_frames_with(&self, stack: &Stack, parts: &[Part], text: &str) -> (Vec<Frame>, bool) {
        let mut lines = text.split('\n');
        let mut raw: Vec<String> = Vec::new();
        let mut results = Vec::new();
        let mut ok = true;
        let mut traces = 0;
        let mut idx = 0;
        loop {
            let at_trace = matches!(parts.get(idx), Some(Part::Trace));
            if idx == parts.len() || (at_trace && traces > 0) {
                match self.pick(stack, &raw) {
                    Some(f) => results.push(f),
                    None => {
                        results.push(Frame {
                            canonical: "corrupted".into(),
                            raw: "corrupted".into(),
                        });
                        ok = false;
                    }
                }
                raw.clear();
            }
            if idx == parts.len() {
                break;
            }
            match &parts[idx] {
                Part::Trace => {
                    traces += 1;
                    for ln in lines.by_ref() {
                        if self.corrupted_lines.iter().any(|r| r.is_match(ln)) {
                            ok = false;
                            break;
                        }
                        if self.trace_start.iter().any(|r| r.is_match(ln)) {
                            break;
                        }
                        if let Some(Part::Re(next)) = parts.get(idx + 1) {
                            if let Some(c) = next.captures(ln) {
                                self.push_groups(&mut raw, &c, stack);
                                idx += 1;
                                break;
                            }
                        }
                        if let Some(c) = self.frame_line.iter().find_map(|r| r.captures(ln)) {
                            self.push_groups(&mut raw, &c, stack);
                        }
                    }
                }
                Part::Re(re) => {
                    for ln in lines.by_ref() {
                        if self.corrupted_lines.iter().any(|r| r.is_match(ln)) {
                            ok = false;
                            break;
                        }
                        if let Some(c) = re.captures(ln) {
                            self.push_groups(&mut raw, &c, stack);
                            break;
                        }
                    }
                }
            }
            idx += 1;
        }
        (results, ok)
    }

    /// A report whose title went through and still lacks what a whole report has.
    fn is_corrupted(&self, title: &str, report: &str, format: Option<&Format>) -> Option<String> {
        if self.corrupted_title.is_match(title) {
            return Some("a console timestamp inside the title (interleaved lines)".into());
        }
        let format = format?;
        if format.no_stack_trace {
            return None;
        }
        let mut has_trace = false;
        let required = self.trace_start.len() - self.optional_starts;
        for (ki, key) in self.trace_start.iter().enumerate() {
            let Some(m) = key.find(report) else {
                continue;
            };
            let lines: Vec<&str> = report[m.start()..].split('\n').collect();
            if lines.len() < 4 {
                return Some("the call trace is cut off".into());
            }
            let mut found = false;
            for ln in lines[1..].iter().take(15) {
                if self.trace_start.iter().any(|r| r.is_match(ln)) {
                    break;
                }
                if ln.contains("(stack is not available)")
                    || self.frame_line.iter().any(|r| r.is_match(ln))
                {
                    found = true;
                    has_trace = true;
                    break;
                }
            }
            if !found && ki < required {
                return Some("no frames in a stack trace".into());
            }
        }
        if !has_trace {
            return Some("no stack trace in the report".into());
        }
        None
    }

    fn crash_type(&self, title: &str) -> &str {
        self.types
            .iter()
            .find(|(prefixes, _)| prefixes.iter().any(|p| title.starts_with(p.as_str())))
            .map_or("", |(_, t)| t.as_str())
    }
}

/// Rust symbols (`_RNv…`, `_ZN…17h…E`) as their paths without the hash; others unchanged.
fn demangle(name: &str) -> String {
    if name.starts_with("_R") || name.starts_with("_ZN") {
        if let Ok(d) = rustc_demangle::try_demangle(name) {
            return format!("{d:#}");
        }
    }
    name.to_string()
}

/// Replace what changes between two occurrences of the same bug: executor ids, addresses, IP
/// addresses, line numbers, `func+0x1/0x2` offsets, CPU numbers and other decimal numbers.
pub fn replace_volatile(title: &str) -> String {
    struct Repl {
        src: &'static str,
        re: OnceLock<Regex>,
        with: &'static str,
    }
    static TABLE: OnceLock<Vec<Repl>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        [
            (r"syz-executor\.?[0-9]+((/|:)[0-9]+)?", "syz-executor"),
            (r"syzkaller[0-9]+((/|:)[0-9]+)?", "syzkaller"),
            (r"([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}", "${1}ADDR"),
            (r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", "IP"),
            (r"(\.\w+)(:[0-9]+)+", "${1}:LINE"),
            (r"([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+", "${1}"),
            (r"CPU#[0-9]+", "CPU"),
            (r"(\W)(\d+)(\W|$)", "${1}NUM${3}"),
            (r"(\d+){7,}", "NUM"),
        ]
        .into_iter()
        .map(|(src, with)| Repl {
            src,
            re: OnceLock::new(),
            with,
        })
        .collect()
    });
    let mut s = title.to_string();
    let hex_run = |t: &str| {
        let mut run = 0;
        t.bytes().any(|c| {
            run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
            run >= 6
        })
    };
    for (i, r) in table.iter().enumerate() {
        // Most titles have nothing volatile: test for the trigger before running (and, on first
        // use, compiling) each pattern.
        let may_match = match i {
            0 => s.contains("syz-executor"),
            1 => s.contains("syzkaller"),
            2 => hex_run(&s),
            5 => s.contains("+0x"),
            6 => s.contains("CPU#"),
            _ => s.bytes().any(|c| c.is_ascii_digit()),
        };
        if !may_match {
            continue;
        }
        let re = r.re.get_or_init(|| compile(r.src));
        // Matches may overlap ("0,1,2"): repeat until nothing changes.
        loop {
            let n = re.replace_all(&s, r.with).into_owned();
            if n == s {
                break;
            }
            s = n;
        }
    }
    s
}

/// At most 120 bytes, tabs as spaces, control and non-ASCII bytes dropped, runs of spaces
/// collapsed, trimmed.
pub fn sanitize_title(title: &str) -> String {
    let mut out = String::with_capacity(title.len().min(120));
    let mut prev = b' ';
    for &c in title.as_bytes().iter().take(120) {
        let c = if c == b'\t' { b' ' } else { c };
        if !(0x20..0x7f).contains(&c) {
            continue;
        }
        if c == b' ' && prev == b' ' {
            continue;
        }
        out.push(c as char);
        prev = c;
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_compile() {
        let r = rules();
        for k in &r.kinds {
            let _ = k.ignores();
            assert!(!k.formats().is_empty(), "{} has no formats", k.name);
            for f in k.formats() {
                let _ = f.report();
                let _ = f.stack(r);
            }
        }
        let _ = compile(&r.global_skip.join("|"));
        let _ = compile(&r.stall_src.join("|"));
        // The prefilter knows every header.
        let headers: Vec<&str> = r.kinds.iter().map(|k| k.header.as_str()).collect();
        for h in &headers {
            assert!(HEADERS.contains(h), "HEADERS lacks {h:?}");
        }
        assert_eq!(HEADERS.len(), headers.len());
    }

    #[test]
    fn skip_patterns_as_words() {
        let mut w = expand_words("k?v?(?:m|z)alloc").unwrap();
        w.sort();
        assert_eq!(
            w,
            [
                "kvmalloc", "kvzalloc", "kmalloc", "kzalloc", "vmalloc", "vzalloc", "malloc",
                "zalloc"
            ]
            .iter()
            .map(|s| s.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        assert_eq!(
            expand_words("_trap$|do_trap").unwrap(),
            ["_trap$", "do_trap"]
        );
        assert!(expand_words("(read|write)_once_.*nocheck").is_none());
        let r = rules();
        let list = SkipList::new(&r.global_skip);
        // The word tests decide as the whole regex would.
        let re = compile(&r.global_skip.join("|"));
        for name in [
            "kvmalloc_node",
            "do_trap",
            "foo_trap",
            "mutex_lock",
            "xmutex_",
            "readl",
            "readlx",
            "kthread",
            "kthreadd",
            "crc32_le",
            "atomic64_inc",
            "tty_release",
            "usb_submit_urb",
            "el1h_64_sync_handler",
            "__rustc::rust_begin_unwind",
            "xas_load",
            "dput",
            "netif_receive_skb",
        ] {
            assert_eq!(list.matches(name), re.is_match(name), "{name}");
        }
    }

    #[test]
    fn ascii_class_rewrite() {
        assert_eq!(ascii_classes(r"a\d+[\w.]"), "a[0-9]+[0-9A-Za-z_.]");
        assert_eq!(ascii_classes(r"[[:space:]]\W"), "[[:space:]][^0-9A-Za-z_]");
        assert!(compile(r"(\W)(\d+)(\W|$)").is_match(" 12 "));
    }

    #[test]
    fn volatile_parts() {
        assert_eq!(
            replace_volatile("WARNING in foo+0x12/0x40 at a.c:12 CPU#3 7"),
            "WARNING in foo at a.c:LINE CPU NUM"
        );
        assert_eq!(sanitize_title("  a\t\tb  "), "a b");
    }
}
