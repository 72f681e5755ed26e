//! Turns the reviewable data files in `data/` into static tables (`$OUT_DIR/tables.rs`), so that
//! `diagnose()` never parses TOML at run time. Every name used in a matcher is validated here:
//! a typo in the data file is a build error, not a silently dead predicate.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

// The catalogue's enums, shared with the library: the data file deserializes straight into them.
#[allow(dead_code)]
#[path = "src/catalogue_types.rs"]
mod catalogue_types;
use catalogue_types::{
    CommitRole, EventKind, InsnClass, IssueKind, Level, ModeKind, MsrKind, RegName, RegionKind,
    StatePredicate, ValuePredicate,
};

#[derive(Deserialize)]
struct VmInstructionErrors {
    error: Vec<VmInstructionError>,
}
#[derive(Deserialize)]
struct VmInstructionError {
    number: u32,
    description: String,
}

#[derive(Deserialize)]
struct Regions {
    region: Vec<Region>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Region {
    name: String,
    start: u64,
    end: u64,
    kind: RegionKind,
}

#[derive(Deserialize)]
struct Errnos {
    errno: Vec<Errno>,
}
#[derive(Deserialize)]
struct Errno {
    name: String,
    short: String,
    meaning: String,
    sources: Vec<String>,
    next_steps: Vec<String>,
}

#[derive(Deserialize)]
struct Catalogue {
    issue: Vec<Issue>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Issue {
    id: String,
    kind: IssueKind,
    confidence: Level,
    title: String,
    summary: String,
    explanation: String,
    workarounds: Vec<String>,
    next_steps: Vec<String>,
    references: Vec<String>,
    affected: Option<Affected>,
    #[serde(default)]
    commits: Vec<Commit>,
    #[serde(rename = "match")]
    matcher: Match,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Affected {
    from: Option<String>,
    fixed_in: Option<String>,
    #[serde(default)]
    backports: Vec<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Commit {
    id: String,
    title: String,
    first_version: Option<String>,
    role: CommitRole,
    verified: bool,
    note: Option<String>,
}
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Match {
    event: Option<EventKind>,
    #[serde(default)]
    errno: Vec<String>,
    #[serde(default)]
    suberror: Vec<u32>,
    #[serde(default)]
    hardware_reason: Vec<u64>,
    #[serde(default)]
    vector: Vec<u32>,
    #[serde(default)]
    exit_reason: Vec<u32>,
    #[serde(default)]
    instruction: Vec<String>,
    #[serde(default)]
    instruction_class: Vec<InsnClass>,
    #[serde(default)]
    msr_ranges: Vec<[u32; 2]>,
    msr_kind: Option<MsrKind>,
    value: Option<ValuePredicate>,
    #[serde(default)]
    mode: Vec<ModeKind>,
    #[serde(default)]
    reg: Vec<RegPred>,
    #[serde(default)]
    gpa_ranges: Vec<[u64; 2]>,
    emulation_flags: Option<u64>,
    #[serde(default)]
    state: Vec<StatePredicate>,
    #[serde(default)]
    message_contains: Vec<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegPred {
    reg: RegName,
    mask: u64,
    eq: u64,
    #[serde(default)]
    ne: bool,
}

/// `Type::Variant` for generated code (the enums derive Debug with the variant's own name).
fn path<T: std::fmt::Debug>(ty: &str, v: &T) -> String {
    format!("{ty}::{v:?}")
}

/// Errno names and numbers from the one errno table (crates/model/data/errno.toml).
fn errno_table() -> Vec<(i32, String, String)> {
    #[derive(Deserialize)]
    struct File {
        errno: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        number: i32,
        name: String,
        text: Vec<String>,
    }
    let path = "../model/data/errno.toml";
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    file.errno
        .into_iter()
        .map(|e| {
            (
                e.number,
                e.name,
                e.text.into_iter().next().unwrap_or_default(),
            )
        })
        .collect()
}

fn s(v: &str) -> String {
    format!("{v:?}")
}
fn strs(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|x| s(x)).collect();
    format!("&[{}]", items.join(", "))
}
fn opt_s(v: &Option<String>) -> String {
    match v {
        Some(x) => format!("Some({})", s(x)),
        None => "None".into(),
    }
}
fn parse_ver(v: &str) -> String {
    let parts: Vec<u32> = v
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("bad kernel version {v:?} in known-issues.toml"))
        })
        .collect();
    assert!(
        (2..=3).contains(&parts.len()),
        "kernel version {v:?} must be X.Y or X.Y.Z"
    );
    format!(
        "Ver {{ major: {}, minor: {}, patch: {} }}",
        parts[0],
        parts[1],
        parts.get(2).copied().unwrap_or(0)
    )
}
fn opt_ver(v: &Option<String>) -> String {
    match v {
        Some(x) => format!("Some({})", parse_ver(x)),
        None => "None".into(),
    }
}

/// "5.10 up to (not including) 6.0; fixed in stable 5.15.61, ..." (the text used in reports).
fn describe_range(a: &Affected) -> String {
    let mut s = match (&a.from, &a.fixed_in) {
        (Some(x), Some(y)) => format!("{x} up to (not including) {y}"),
        (Some(x), None) => format!("{x} and later (no upstream fix)"),
        (None, Some(y)) => format!("kernels before {y}"),
        (None, None) => "all kernels".to_string(),
    };
    if !a.backports.is_empty() {
        s.push_str(&format!("; fixed in stable {}", a.backports.join(", ")));
    }
    s
}

/// 12-digit commit ids, fixes first.
fn commit_ids(commits: &[Commit]) -> Vec<String> {
    let short = |c: &Commit| c.id.chars().take(12).collect::<String>();
    let mut ids: Vec<String> = commits
        .iter()
        .filter(|c| c.role == CommitRole::Fix)
        .map(short)
        .collect();
    ids.extend(
        commits
            .iter()
            .filter(|c| c.role != CommitRole::Fix)
            .map(short),
    );
    ids
}

fn main() {
    let data = Path::new("data");
    for f in [
        "known-issues.toml",
        "vm-instruction-errors.toml",
        "errnos.toml",
        "platform-regions.toml",
    ] {
        println!("cargo:rerun-if-changed=data/{f}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let read = |name: &str| {
        std::fs::read_to_string(data.join(name))
            .unwrap_or_else(|e| panic!("reading data/{name}: {e}"))
    };

    let mut out = String::new();

    let errs: VmInstructionErrors =
        toml::from_str(&read("vm-instruction-errors.toml")).expect("vm-instruction-errors.toml");
    out.push_str("/// VM-instruction error numbers (SDM Vol. 3C §31.4), from data/vm-instruction-errors.toml.\n");
    out.push_str("pub static VM_INSTRUCTION_ERRORS: &[VmInstructionErrorInfo] = &[\n");
    for e in &errs.error {
        writeln!(
            out,
            "    VmInstructionErrorInfo {{ number: {}, description: {} }},",
            e.number,
            s(&e.description)
        )
        .unwrap();
    }
    out.push_str("];\n\n");

    let errno_names = errno_table();
    let errno = |name: &str| {
        errno_names
            .iter()
            .find(|(_, n, _)| n == name)
            .unwrap_or_else(|| panic!("errno {name} is not in crates/model/data/errno.toml"))
    };
    let errnos: Errnos = toml::from_str(&read("errnos.toml")).expect("errnos.toml");
    out.push_str("/// KVM_RUN errno explanations, from data/errnos.toml.\n");
    out.push_str("pub static ERRNOS: &[ErrnoInfo] = &[\n");
    for e in &errnos.errno {
        let (number, _, strerror) = errno(&e.name);
        writeln!(
            out,
            "    ErrnoInfo {{ number: {}, name: {}, short: {}, strerror: {}, meaning: {}, sources: {}, next_steps: {} }},",
            number,
            s(&e.name),
            s(&e.short),
            s(strerror),
            s(&e.meaning),
            strs(&e.sources),
            strs(&e.next_steps)
        )
        .unwrap();
    }
    out.push_str("];\n\n");

    let cat: Catalogue = toml::from_str(&read("known-issues.toml"))
        .unwrap_or_else(|e| panic!("known-issues.toml: {e}"));
    let mut ids = HashSet::new();
    out.push_str("/// The known-issue catalogue, from data/known-issues.toml.\n");
    out.push_str("pub static CATALOGUE: &[KnownIssue] = &[\n");
    for i in &cat.issue {
        assert!(ids.insert(i.id.clone()), "duplicate issue id {}", i.id);
        assert!(
            i.id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "issue id {:?} must be lower-case kebab",
            i.id
        );
        const PLACEHOLDERS: &[&str] = &[
            "msr",
            "msr_name",
            "value",
            "insn",
            "gpa",
            "vector",
            "second_event",
            "exit_reason",
            "linear_rip",
            "errno",
            "hw",
        ];
        let mut rest = i.summary.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .unwrap_or_else(|| panic!("{}: unclosed placeholder in summary", i.id));
            assert!(
                PLACEHOLDERS.contains(&&after[..close]),
                "{}: unknown placeholder {{{}}}",
                i.id,
                &after[..close]
            );
            rest = &after[close + 1..];
        }
        let m = &i.matcher;
        for e in &m.errno {
            errno(e);
        }
        for c in &i.commits {
            assert!(
                c.id.len() >= 12 && c.id.chars().all(|ch| ch.is_ascii_hexdigit()),
                "{}: commit id {:?} must be >= 12 hex digits",
                i.id,
                c.id
            );
        }
        let event = match &m.event {
            Some(e) => format!("Some({})", path("EventKind", e)),
            None => "None".into(),
        };
        let classes: Vec<String> = m
            .instruction_class
            .iter()
            .map(|c| path("InsnClass", c))
            .collect();
        let modes: Vec<String> = m.mode.iter().map(|c| path("ModeKind", c)).collect();
        let states: Vec<String> = m.state.iter().map(|c| path("StatePredicate", c)).collect();
        let regs: Vec<String> = m
            .reg
            .iter()
            .map(|r| {
                format!(
                    "RegPredicate {{ reg: {}, mask: {:#x}, eq: {:#x}, ne: {} }}",
                    path("RegName", &r.reg),
                    r.mask,
                    r.eq,
                    r.ne
                )
            })
            .collect();
        let msr_ranges: Vec<String> = m
            .msr_ranges
            .iter()
            .map(|r| format!("({:#x}, {:#x})", r[0], r[1]))
            .collect();
        let gpa_ranges: Vec<String> = m
            .gpa_ranges
            .iter()
            .map(|r| format!("({:#x}, {:#x})", r[0], r[1]))
            .collect();
        let instrs: Vec<String> = m
            .instruction
            .iter()
            .map(|x| s(&x.to_ascii_lowercase()))
            .collect();
        let matcher = format!(
            "Matcher {{ event: {event}, errno: {errno}, suberror: &{sub:?}, hardware_reason: &[{hw}], vector: &{vec:?}, exit_reason: &{er:?}, instruction: &[{ins}], instruction_class: &[{cls}], msr_ranges: &[{mr}], msr_kind: {mk}, value: {val}, modes: &[{modes}], regs: &[{regs}], gpa_ranges: &[{gr}], emulation_flags: {ef:?}, state: &[{st}], message_contains: {mc} }}",
            errno = strs(&m.errno),
            sub = m.suberror,
            hw = m.hardware_reason.iter().map(|h| format!("{h:#x}")).collect::<Vec<_>>().join(", "),
            vec = m.vector,
            er = m.exit_reason,
            ins = instrs.join(", "),
            cls = classes.join(", "),
            mr = msr_ranges.join(", "),
            mk = m.msr_kind.as_ref().map_or("None".into(), |k| format!("Some({})", path("MsrKind", k))),
            val = m.value.as_ref().map_or("None".into(), |k| format!("Some({})", path("ValuePredicate", k))),
            modes = modes.join(", "),
            regs = regs.join(", "),
            gr = gpa_ranges.join(", "),
            ef = m.emulation_flags,
            st = states.join(", "),
            mc = strs(&m.message_contains),
        );
        let affected = match &i.affected {
            Some(a) => {
                let bp: Vec<String> = a.backports.iter().map(|b| parse_ver(b)).collect();
                format!(
                    "Some(KernelRange {{ from: {}, fixed_in: {}, backports: &[{}], text: {}, fixed_in_text: {} }})",
                    opt_ver(&a.from),
                    opt_ver(&a.fixed_in),
                    bp.join(", "),
                    s(&describe_range(a)),
                    opt_s(&a.fixed_in)
                )
            }
            None => "None".into(),
        };
        let commits: Vec<String> = i
            .commits
            .iter()
            .map(|c| {
                format!(
                    "Commit {{ id: {}, title: {}, first_version: {}, role: {}, verified: {}, note: {} }}",
                    s(&c.id),
                    s(&c.title),
                    opt_s(&c.first_version),
                    path("CommitRole", &c.role),
                    c.verified,
                    opt_s(&c.note)
                )
            })
            .collect();
        writeln!(
            out,
            "    KnownIssue {{ id: {}, kind: {}, confidence: {}, title: {}, summary: {}, explanation: {}, affected: {}, commits: &[{}], commit_ids: {}, workarounds: {}, next_steps: {}, references: {}, matcher: {} }},",
            s(&i.id),
            path("IssueKind", &i.kind),
            path("Level", &i.confidence),
            s(&i.title),
            s(&i.summary),
            s(i.explanation.trim()),
            affected,
            commits.join(", "),
            strs(&commit_ids(&i.commits)),
            strs(&i.workarounds),
            strs(&i.next_steps),
            strs(&i.references),
            matcher
        )
        .unwrap();
    }
    out.push_str("];\n");

    let regions: Regions =
        toml::from_str(&read("platform-regions.toml")).expect("platform-regions.toml");
    out.push_str("/// Platform regions, from data/platform-regions.toml.\n");
    out.push_str("pub static PLATFORM_REGIONS: &[PlatformRegion] = &[\n");
    for r in &regions.region {
        assert!(
            r.start <= r.end,
            "platform-regions.toml: {} ends before it starts",
            r.name
        );
        writeln!(
            out,
            "    PlatformRegion {{ name: {}, start: {:#x}, end: {:#x}, kind: {} }},",
            s(&r.name),
            r.start,
            r.end,
            path("RegionKind", &r.kind)
        )
        .unwrap();
    }
    out.push_str("];\n");

    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("tables.rs");
    std::fs::write(&dest, out).expect("writing tables.rs");
}
