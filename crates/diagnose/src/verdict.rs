//! The verdict: one sentence, evidence, confidence, next steps, known issues.

use std::borrow::Cow;

use serde::Serialize;

use kvmtriage_dump::Dump;
use kvmtriage_x86::CodeAnalysis;

use crate::catalogue::{
    errno_by_number, errno_by_strerror, CommitRole, ErrnoInfo, IssueKind, KnownIssue, Level,
    CATALOGUE,
};
use crate::decode::{self, hex, hex_bytes, vector_name, EntryFailureReport, InternalErrorReport};
use crate::facts::{CodeWindowExt, Event, Facts, Insn};
use crate::kernel::KernelVersion;
use crate::matcher::{self, evaluate, is_mci_ctl, is_mci_status, Ctx, Outcome};
use crate::vmx::{check_guest_state, real_mode_violations, GuestStateReport};

/// Options for [`diagnose`].
#[derive(Debug, Clone, Default)]
pub struct DiagnoseOptions {
    /// The host kernel the failure happened on (`uname -r`), to say whether known bugs apply.
    pub host_kernel: Option<KernelVersion>,
}

/// How sure the verdict is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confidence {
    pub level: Level,
    pub reason: String,
}

/// A catalogue entry as it applies (or not) to this dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueReport {
    pub id: &'static str,
    pub title: &'static str,
    pub kind: IssueKind,
    /// First upstream release with the fix ("6.0"), if any.
    pub fixed_in: Option<&'static str>,
    /// Upstream commit ids (fixes first, then the commits that introduced the problem).
    pub commits: &'static [&'static str],
    /// The subset of `commits` that fix the issue (12-digit ids).
    pub fix_commits: Vec<&'static str>,
    /// Kernels that carry the issue, in words.
    pub affected: Option<&'static str>,
    /// Whether the given host kernel is affected (only with `--host-kernel`; judged by version
    /// number, see `host_note` for distribution kernels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affects_host: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_note: Option<String>,
    /// Why it matches, or why it was ruled out.
    pub why: String,
    pub explanation: &'static str,
    pub workarounds: &'static [&'static str],
    pub references: &'static [&'static str],
}

/// What the WRMSR would have done on each generation of set_msr_mce().
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MceEvaluation {
    pub register: String,
    pub bank: u32,
    /// Kernels up to 5.9: a -1 from set_msr_mce() became #GP.
    pub up_to_5_9: &'static str,
    /// 5.10 up to the fixes: -1 fails KVM_RUN with EPERM.
    pub from_5_10_before_fix: &'static str,
    /// 6.0+, 5.10.137+, 5.15.61+, 5.18.18+, 5.19.2+.
    pub with_fixes: &'static str,
    pub note: Option<String>,
}

/// The MSR access at RIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MsrReport {
    pub index: String,
    pub name: Option<String>,
    pub write: bool,
    pub value: Option<String>,
    pub mce: Option<MceEvaluation>,
}

/// Errno of a failed KVM_RUN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrnoReport {
    pub number: Option<i32>,
    pub name: Option<&'static str>,
    pub strerror: String,
    pub meaning: Option<&'static str>,
    pub returned_by: &'static [&'static str],
}

/// The failure class and everything decoded from the event line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// kvm_run_failed | internal_error | entry_failed | exception_exit | unknown_exit |
    /// triple_fault | tcg_fatal | other | no_failure_line
    pub class: &'static str,
    /// What KVM (or QEMU) said, decoded, in one sentence.
    pub summary: String,
    pub errno: Option<ErrnoReport>,
    pub internal_error: Option<InternalErrorReport>,
    pub entry_failure: Option<EntryFailureReport>,
    pub exception: Option<String>,
    /// The dump's CPU mode (the same decision the dump's `mode` shows).
    pub mode: kvmtriage_model::ModeKind,
    pub instruction: Option<Insn>,
    pub msr: Option<MsrReport>,
    pub guest_state: Option<GuestStateReport>,
}

/// The diagnosis of one dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub verdict: String,
    pub confidence: Confidence,
    pub evidence: Vec<String>,
    /// Facts computed by relating the dump's values to each other (crate::findings).
    pub findings: Vec<crate::findings::Finding>,
    /// Commands to run, parameters to set, data to collect (static text where possible).
    pub next_steps: Vec<Cow<'static, str>>,
    /// Catalogue entries that match, best first.
    pub known_issues: Vec<IssueReport>,
    /// Entries of the same failure class that were weighed and do not apply, with the reason.
    pub ruled_out: Vec<IssueReport>,
    pub classification: Classification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_kernel: Option<String>,
}

/// Diagnoses one dump. `code` is kvmtriage-x86's analysis of the dump's code window; without it
/// the window is disassembled here with [`disassemble`], in the dump's own mode.
pub fn diagnose(dump: &Dump, code: Option<&CodeAnalysis>, opts: &DiagnoseOptions) -> Diagnosis {
    match code {
        Some(code) => diagnose_facts(&Facts::from_dump(dump, Some(code)), opts),
        None => {
            let code = disassemble(dump, kvmtriage_x86::Syntax::Intel);
            diagnose_facts(&Facts::from_dump(dump, code.as_ref()), opts)
        }
    }
}

/// Disassemble the dump's code window in the dump's own mode (`dump.mode`, which `--mode` may
/// have overridden): the one place the pipeline turns a dump's window into a [`CodeAnalysis`].
/// `None` without a window, a marker, RIP or a known code width.
pub fn disassemble(dump: &Dump, syntax: kvmtriage_x86::Syntax) -> Option<CodeAnalysis> {
    let window = dump.code.as_ref()?;
    let marker = window.marker?;
    let bits = dump.mode.bits?;
    let rip = dump.rip()?;
    // Outside 64-bit mode the code sits at CS.base + IP (real mode too).
    let cs_base = if bits == 64 {
        0
    } else {
        dump.segment(kvmtriage_model::SegName::Cs)
            .map_or(0, |cs| cs.base)
    };
    let input = kvmtriage_x86::CodeInput {
        bytes: &window.bytes,
        marker,
        bitness: u32::from(bits),
        rip,
        cs_base,
    };
    Some(kvmtriage_x86::analyze_code(
        &input,
        &dump.cpu,
        &kvmtriage_x86::CodeOptions { syntax },
    ))
}

fn errno_info(f: &Facts) -> Option<&'static ErrnoInfo> {
    match &f.event {
        Event::RunFailed { errno: Some(n), .. } => errno_by_number(*n),
        Event::RunFailed {
            errno: None,
            message,
        } => errno_by_strerror(message),
        _ => None,
    }
}

fn mce_evaluation(index: u32, value: Option<u64>) -> Option<MceEvaluation> {
    let bank = index.checked_sub(0x400)? / 4;
    let beyond_qemu = if bank >= 10 {
        Some(format!(
            "bank {bank} is beyond QEMU's default 10 banks (MCG_CAP): set_msr_mce() returns 1 (#GP) for MSRs past the last bank on every kernel"
        ))
    } else {
        None
    };
    if is_mci_ctl(index) {
        let v = value?;
        let pre = matcher::mci_ctl_rejected_before_fix(v);
        let post = matcher::mci_ctl_rejected_after_fix(v);
        return Some(MceEvaluation {
            register: format!("IA32_MC{bank}_CTL"),
            bank,
            up_to_5_9: if pre {
                "rejected: -1 from set_msr_mce(), turned into #GP in the guest"
            } else {
                "accepted"
            },
            from_5_10_before_fix: if pre {
                "rejected: -1 from set_msr_mce() fails KVM_RUN with EPERM (VM stops)"
            } else {
                "accepted"
            },
            with_fixes: if post {
                "rejected: set_msr_mce() returns 1, #GP in the guest (2368048bf5c2)"
            } else if pre {
                "accepted (0471a7bd1bca allows bit 0 clear)"
            } else {
                "accepted"
            },
            note: beyond_qemu,
        });
    }
    if is_mci_status(index) {
        let v = value?;
        let bad = v != 0;
        return Some(MceEvaluation {
            register: format!("IA32_MC{bank}_STATUS"),
            bank,
            up_to_5_9: if bad {
                "rejected (unless HWCR.McStatusWrEn on AMD): #GP in the guest"
            } else {
                "accepted"
            },
            from_5_10_before_fix: if bad {
                "rejected (unless HWCR.McStatusWrEn on AMD): -1 fails KVM_RUN with EPERM"
            } else {
                "accepted"
            },
            with_fixes: if bad {
                "rejected (unless HWCR.McStatusWrEn on AMD): #GP in the guest (2368048bf5c2)"
            } else {
                "accepted"
            },
            note: Some(format!(
                "the -1 for non-zero MCi_STATUS writes came from 9ffd986c6e4e; {}",
                beyond_qemu.unwrap_or_else(|| "host-initiated writes are not checked".into())
            )),
        });
    }
    None
}

fn event_phrase(f: &Facts, errno: Option<&ErrnoInfo>, cls: &Classification) -> String {
    match &f.event {
        Event::RunFailed { message, .. } => match errno {
            Some(e) => format!("KVM_RUN failed with {} ({})", e.name, e.short),
            None => format!("KVM_RUN failed with \"{message}\""),
        },
        Event::InternalError { suberror, .. } => {
            let name = cls.internal_error.as_ref().map_or("", |i| i.name);
            format!("KVM stopped the vCPU with an internal error, suberror {suberror} ({name})")
        }
        Event::EntryFailed { hardware_reason } => {
            let d = cls
                .entry_failure
                .as_ref()
                .map_or(String::new(), |e| e.description.clone());
            format!(
                "VM entry failed with hardware error {} ({d})",
                hex(*hardware_reason)
            )
        }
        Event::ExceptionExit { vector, error_code } => format!(
            "KVM exited to userspace with exception {vector} ({}), error code {}",
            vector_name(*vector).unwrap_or("?"),
            hex(*error_code)
        ),
        Event::UnknownExit { hardware_reason } => {
            format!(
                "KVM reported an unknown exit, hardware reason {}",
                hex(*hardware_reason)
            )
        }
        Event::TripleFault => "The guest triple-faulted".to_string(),
        Event::TcgFatal { message } => format!("QEMU (TCG) aborted: {message}"),
        Event::Snapshot { origin } => format!("No failure: a register snapshot from a {origin}"),
        Event::Other { message } => format!("QEMU reported: {message}"),
        Event::None => {
            "No KVM failure message precedes this dump (a register snapshot)".to_string()
        }
    }
}

fn trigger_phrase(f: &Facts) -> Option<String> {
    let insn = f.insn.as_ref()?;
    let rip = f.rip().map(hex).unwrap_or_else(|| "?".into());
    Some(match &f.msr {
        Some(m) if m.write => format!(
            " while the guest executed WRMSR at RIP {rip} (ECX={:#x}{}, EDX:EAX={})",
            m.index,
            m.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default(),
            m.value.map(hex).unwrap_or_else(|| "?".into())
        ),
        Some(m) => format!(
            " while the guest executed RDMSR at RIP {rip} (ECX={:#x}{})",
            m.index,
            m.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
        ),
        None => format!(" at RIP {rip} ({})", insn.text),
    })
}

fn host_assessment(issue: &KnownIssue, host: &KernelVersion) -> (Option<bool>, Option<String>) {
    let Some(range) = issue.affected else {
        return (None, None);
    };
    let affected = range.contains(host);
    let fix = issue
        .commits
        .iter()
        .find(|c| c.role == CommitRole::Fix)
        .map(|c| c.short());
    let mut note = if affected {
        format!(
            "your kernel {} is in the affected range ({})",
            host.release,
            range.describe()
        )
    } else if range
        .from
        .is_some_and(|f| (host.major, host.minor, host.patch) < (f.major, f.minor, f.patch))
    {
        format!(
            "your kernel {} predates the affected range ({}), so this issue cannot be the cause there",
            host.release,
            range.describe()
        )
    } else if let Some(bp) = range
        .backport_for(host)
        .filter(|bp| host.patch >= bp.patch && host.minor == bp.minor)
    {
        format!("your kernel {} has the fix (stable {bp})", host.release)
    } else if range.fixed_in.is_some() {
        format!(
            "your kernel {} has the fix (upstream {})",
            host.release,
            range.fixed_in.map(|v| v.to_string()).unwrap_or_default()
        )
    } else {
        format!(
            "your kernel {} is outside the affected range ({})",
            host.release,
            range.describe()
        )
    };
    if host.is_distribution_build() {
        note.push_str(&format!(
            " by its version number; {} is a distribution kernel, which may carry backports{}",
            host.release,
            fix.map(|c| format!(": check its changelog for {c}"))
                .unwrap_or_default()
        ));
    }
    (Some(affected), Some(note))
}

fn issue_report(
    issue: &'static KnownIssue,
    why: String,
    host: Option<&KernelVersion>,
    with_note: bool,
) -> IssueReport {
    let (affects_host, host_note) = match host {
        Some(h) if with_note => host_assessment(issue, h),
        // Ruled-out entries only say whether the kernel is in range (no sentence to build).
        Some(h) => (issue.affects(h), None),
        None => (None, None),
    };
    IssueReport {
        id: issue.id,
        title: issue.title,
        kind: issue.kind,
        fixed_in: issue.affected.and_then(|a| a.fixed_in_text),
        commits: issue.commit_ids,
        fix_commits: issue
            .commits
            .iter()
            .filter(|c| c.role == CommitRole::Fix)
            .map(|c| c.id.get(..12).unwrap_or(c.id))
            .collect(),
        affected: issue.affected.map(|a| a.describe()),
        affects_host,
        host_note,
        why,
        explanation: issue.explanation,
        workarounds: issue.workarounds,
        references: issue.references,
    }
}

fn kind_rank(k: IssueKind) -> u8 {
    match k {
        IssueKind::Bug => 0,
        IssueKind::Configuration => 1,
        IssueKind::Signature => 2,
        IssueKind::Guest => 2,
    }
}

fn push_unique(v: &mut Vec<Cow<'static, str>>, s: &'static str) {
    // One reproduction step is enough: the first comes from the most specific matching entry.
    let repeats_reproduction =
        s.starts_with("Reproduce") && v.iter().any(|x| x.starts_with("Reproduce"));
    if !repeats_reproduction && !v.iter().any(|x| x == s) {
        v.push(Cow::Borrowed(s));
    }
}

/// "; the dump fails 2 guest-state checks, first: TR type must be 11 ... (§28.3.1.2)".
fn guest_state_clause(cls: &Classification, big_real: bool, f: &Facts) -> String {
    let mut out = String::new();
    if let Some(g) = &cls.guest_state {
        let definite: Vec<_> = g.definite().collect();
        if let Some(first) = definite.first() {
            out.push_str(&format!(
                "; the dump fails {} VMX guest-state check{}, first: {} ({}) [{}]",
                definite.len(),
                if definite.len() == 1 { "" } else { "s" },
                first.check,
                first.detail,
                first.section
            ));
        } else if g.evaluated {
            out.push_str(
                "; every guest-state check the dump allows passes, so the offending field is not in the dump (VMX controls, interruptibility, pending events, nested state)",
            );
        }
    }
    if big_real && matches!(f.event, Event::EntryFailed { .. }) {
        out.push_str(
            "; the segments are in big real mode, which VMX can only enter with unrestricted guest",
        );
    }
    out
}

/// Concatenation with one allocation (the verdict is long; `format!` would grow it repeatedly).
fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// Diagnoses from already extracted facts.
pub fn diagnose_facts(f: &Facts, opts: &DiagnoseOptions) -> Diagnosis {
    let host = opts.host_kernel.as_ref();
    let errno = errno_info(f);
    let mode = f.mode();

    // --- Classification.
    let internal = match &f.event {
        Event::InternalError { suberror, data } => Some(decode::internal_error(*suberror, data, f)),
        _ => None,
    };
    let entry = match &f.event {
        Event::EntryFailed { hardware_reason } => Some(decode::entry_failure(*hardware_reason)),
        _ => None,
    };
    let run_guest_checks = matches!(&f.event, Event::EntryFailed { hardware_reason } if *hardware_reason == 0x8000_0021 || *hardware_reason == u64::MAX);
    let guest_state = if run_guest_checks {
        Some(check_guest_state(f))
    } else {
        None
    };
    let big_real = match &guest_state {
        Some(g) => !g.big_real_mode.is_empty(),
        None => !real_mode_violations(f).is_empty(),
    };
    let class = match &f.event {
        Event::RunFailed { .. } => "kvm_run_failed",
        Event::InternalError { .. } => "internal_error",
        Event::EntryFailed { .. } => "entry_failed",
        Event::ExceptionExit { .. } => "exception_exit",
        Event::UnknownExit { .. } => "unknown_exit",
        Event::TripleFault => "triple_fault",
        Event::TcgFatal { .. } => "tcg_fatal",
        Event::Snapshot { .. } => "snapshot",
        Event::Other { .. } => "other",
        Event::None => "no_failure_line",
    };
    let msr_report = f.msr.as_ref().map(|m| MsrReport {
        index: hex(u64::from(m.index)),
        name: m.name.clone(),
        write: m.write,
        value: m.value.map(hex),
        mce: if m.write {
            mce_evaluation(m.index, m.value)
        } else {
            None
        },
    });
    let mut classification = Classification {
        class,
        summary: String::new(),
        errno: match &f.event {
            Event::RunFailed { errno: n, message } => Some(ErrnoReport {
                number: n.or(errno.map(|e| e.number)),
                name: errno.map(|e| e.name),
                strerror: message.clone(),
                meaning: errno.map(|e| e.meaning),
                returned_by: errno.map_or(&[][..], |e| e.sources),
            }),
            _ => None,
        },
        internal_error: internal,
        entry_failure: entry,
        exception: match &f.event {
            Event::ExceptionExit { vector, error_code } => Some(format!(
                "vector {vector} ({}), error code {}",
                vector_name(*vector).unwrap_or("?"),
                hex(*error_code)
            )),
            _ => None,
        },
        mode: f.mode.kind,
        instruction: f.insn.clone(),
        msr: msr_report,
        guest_state,
    };
    let phrase = event_phrase(f, errno, &classification);
    classification.summary = phrase.clone();

    // --- Catalogue.
    let cx = Ctx {
        facts: f,
        errno_name: errno.map(|e| e.name),
        internal: classification.internal_error.as_ref(),
        big_real_mode: big_real,
        mode,
        msr_label: if f.msr.is_some() {
            matcher::msr_label(f)
        } else {
            String::new()
        },
    };
    let mut matched: Vec<(&'static KnownIssue, String)> = Vec::new();
    let mut ruled_out: Vec<IssueReport> = Vec::new();
    for issue in CATALOGUE {
        match evaluate(issue, &cx) {
            Outcome::Match => matched.push((issue, matcher::render_summary(issue.summary, &cx))),
            Outcome::RuledOut(why) => ruled_out.push(issue_report(issue, why, host, false)),
            Outcome::NoMatch => {}
        }
    }
    matched.sort_by_key(|(i, _)| (kind_rank(i.kind), std::cmp::Reverse(i.confidence)));
    let known_issues: Vec<IssueReport> = matched
        .iter()
        .map(|(i, s)| issue_report(i, s.clone(), host, true))
        .collect();

    // --- Evidence.
    let mut evidence = Vec::new();
    evidence.push(phrase.clone());
    if let Some(e) = &classification.errno {
        if !e.returned_by.is_empty() {
            evidence.push(format!(
                "{} comes from: {}",
                e.name.unwrap_or("this errno"),
                e.returned_by.join("; ")
            ));
        }
    }
    if f.segments_all_null() {
        evidence.push("all segment registers are zero: the guest state is hidden from QEMU (TDX, SEV-ES/SNP) or was never loaded, so the CPU mode and segment checks are not meaningful".into());
    } else if mode.is_some() {
        let cpl: &str = match f.cpl() {
            Some(0) => ", CPL 0",
            Some(1) => ", CPL 1",
            Some(2) => ", CPL 2",
            Some(3) => ", CPL 3",
            _ => "",
        };
        evidence.push(concat(&["CPU mode: ", f.mode.kind.describe(), cpl]));
    }
    if let Some(i) = &f.insn {
        let rip = f.rip().map(hex);
        evidence.push(concat(&[
            "instruction at RIP ",
            rip.as_deref().unwrap_or("?"),
            ": ",
            &i.text,
            " (",
            &hex_bytes(&i.bytes),
            "), decoded from the Code= bytes at the <..> marker",
        ]));
    } else if let Some(c) = &f.code {
        if c.unreadable() {
            evidence.push("the Code= bytes at RIP are unreadable (??): guest memory there was not accessible to QEMU".into());
        }
    } else if !matches!(f.event, Event::None) {
        evidence.push("the dump has no Code= line, so the instruction at RIP is unknown".into());
    }
    if let Some(m) = &classification.msr {
        let mut s = format!(
            "{}: ECX={} ({})",
            if m.write { "WRMSR" } else { "RDMSR" },
            m.index,
            m.name
                .clone()
                .unwrap_or_else(|| "MSR not in the catalogue".into())
        );
        if let Some(v) = &m.value {
            s.push_str(&format!(", EDX:EAX={v}"));
        }
        evidence.push(s);
        if let Some(mce) = &m.mce {
            evidence.push(format!(
                "{}: up to 5.9 {}; 5.10 to the fix {}; with the fixes {}",
                mce.register, mce.up_to_5_9, mce.from_5_10_before_fix, mce.with_fixes
            ));
            if let Some(n) = &mce.note {
                evidence.push(n.clone());
            }
        }
    }
    if let Some(ie) = &classification.internal_error {
        evidence.push(format!("extra data: {}", ie.layout));
        for fld in &ie.fields {
            evidence.push(match &fld.decoded {
                Some(d) => format!(
                    "data[{}] {} = {}: {}",
                    fld.index,
                    fld.name,
                    hex(fld.value),
                    d
                ),
                None => format!("data[{}] {} = {}", fld.index, fld.name, hex(fld.value)),
            });
        }
        if let Some(ins) = &ie.instruction {
            evidence.push(format!(
                "instruction bytes from KVM: {} → {}{}",
                ins.bytes,
                ins.decoded
                    .as_ref()
                    .map_or("undecodable".to_string(), |d| d.text.clone()),
                match ins.matches_code_window {
                    Some(true) => ", same as the Code= bytes at RIP",
                    Some(false) => ", DIFFERENT from the Code= bytes at RIP",
                    None => "",
                }
            ));
        }
        for n in &ie.notes {
            evidence.push(n.clone());
        }
    }
    if let Some(g) = &classification.guest_state {
        if g.evaluated {
            let definite: Vec<_> = g.definite().collect();
            evidence.push(format!(
                "VMX guest-state checks (SDM §28.3.1): {} evaluated, {} failed{}",
                g.checks_run,
                definite.len(),
                if g.failures.len() > definite.len() {
                    format!(
                        ", {} more fail only without unrestricted guest / in HLT activity state",
                        g.failures.len() - definite.len()
                    )
                } else {
                    String::new()
                }
            ));
            for fl in &g.failures {
                evidence.push(format!(
                    "failed check: {} ({}){} [{}]",
                    fl.check,
                    fl.detail,
                    fl.condition.map(|c| format!(", {c}")).unwrap_or_default(),
                    fl.section
                ));
            }
        } else {
            evidence.push(format!(
                "VMX guest-state checks not possible: {}",
                g.not_evaluable.join("; ")
            ));
        }
    }
    if big_real
        && matches!(
            f.event,
            Event::InternalError { .. } | Event::EntryFailed { .. }
        )
    {
        for v in real_mode_violations(f) {
            evidence.push(format!("big real mode: {} {}", v.segment, v.reason));
        }
    }
    if f.reset_state_with_non_reset_rip() {
        evidence.push(format!(
            "CR0=0x60000010 and CS=f000/ffff0000 are the x86 reset values, but RIP={} is not the reset vector 0xfff0",
            f.rip().map(hex).unwrap_or_default()
        ));
    }
    if f.truncated {
        evidence
            .push("the dump text is damaged or truncated; missing registers were not used".into());
    }
    for r in &ruled_out {
        evidence.push(concat(&["ruled out ", r.id, ": ", &r.why]));
    }

    // --- Verdict and confidence.
    let trigger = trigger_phrase(f).unwrap_or_default();
    let (verdict, confidence) = match matched.first() {
        Some((best, summary)) => {
            let host_clause = known_issues
                .first()
                .and_then(|r| r.host_note.clone())
                .map(|n| format!("; {n}"))
                .unwrap_or_default();
            let range_clause = if host.is_none() && best.kind == IssueKind::Bug {
                best.affected
                    .map(|a| {
                        let fixes: Vec<&str> = best
                            .commits
                            .iter()
                            .filter(|c| c.role == CommitRole::Fix)
                            .map(|c| c.short())
                            .collect();
                        format!(
                            " (affected kernels: {}{})",
                            a.describe(),
                            if fixes.is_empty() {
                                String::new()
                            } else {
                                format!("; fix {}", fixes.join(" + "))
                            }
                        )
                    })
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let mut level = best.confidence;
            let mut reason = match best.kind {
                IssueKind::Bug => format!(
                    "the dump matches every predicate of the known bug {}",
                    best.id
                ),
                _ => format!(
                    "the failure matches the signature {}; the specific root cause is not certain",
                    best.id
                ),
            };
            if f.truncated && level > Level::Low {
                level = if level == Level::High {
                    Level::Medium
                } else {
                    Level::Low
                };
                reason.push_str("; lowered because the dump is damaged");
            }
            let bugs_ruled_out = ruled_out.iter().filter(|r| r.kind == IssueKind::Bug).count();
            if bugs_ruled_out > 0 && best.kind != IssueKind::Bug {
                reason.push_str(&format!(
                    "; {bugs_ruled_out} known bug{} of this failure class {} weighed and ruled out",
                    if bugs_ruled_out == 1 { "" } else { "s" },
                    if bugs_ruled_out == 1 { "was" } else { "were" }
                ));
            }
            let state_clause = guest_state_clause(&classification, big_real, f);
            (
                concat(&[&phrase, &trigger, ": ", summary, &state_clause, &range_clause, &host_clause, "."]),
                Confidence { level, reason },
            )
        }
        None if matches!(f.event, Event::None | Event::Snapshot { .. }) => (
            format!("{phrase}{trigger}; nothing in it points at a KVM failure (no failure line, no catalogue entry matches)."),
            Confidence {
                level: Level::Low,
                reason: "a snapshot without a failure message: there is no failure to explain".into(),
            },
        ),
        None => {
            let known = match &classification.guest_state {
                Some(g) if g.definite().next().is_some() => format!(
                    "the guest state fails {} VMX check(s), first: {}",
                    g.definite().count(),
                    g.definite()
                        .next()
                        .map(|c| c.check.clone())
                        .unwrap_or_default()
                ),
                _ => "no catalogue entry matches".to_string(),
            };
            (
                format!("{phrase}{trigger}; cause unknown: {known}."),
                Confidence {
                    level: Level::Low,
                    reason:
                        "the failure class is decoded, but nothing in the dump identifies the cause"
                            .into(),
                },
            )
        }
    };

    // --- Next steps.
    let mut next_steps = Vec::new();
    for (i, _) in &matched {
        for s in i.next_steps {
            push_unique(&mut next_steps, s);
        }
    }
    if let Some(e) = errno {
        for s in e.next_steps {
            push_unique(&mut next_steps, s);
        }
    }
    if f.msr.is_some() {
        push_unique(
            &mut next_steps,
            "kvm.ignore_msrs=1 does not help here: it only silences accesses to MSRs KVM does not know (KVM_MSR_RET_UNSUPPORTED), not rejected values or negative handler returns",
        );
    }
    match &f.event {
        Event::EntryFailed { .. } => push_unique(
            &mut next_steps,
            "Set kvm_intel.dump_invalid_vmcs=1 (echo Y > /sys/module/kvm_intel/parameters/dump_invalid_vmcs) and reproduce: dmesg then shows the VMCS that failed",
        ),
        Event::InternalError { .. } => push_unique(
            &mut next_steps,
            "Record a KVM trace of the failure: trace-cmd record -e kvm:kvm_exit -e kvm:kvm_emulate_insn -e kvm:kvm_mmio",
        ),
        Event::TripleFault | Event::TcgFatal { .. } => {
            push_unique(&mut next_steps, "Re-run under TCG with -d int,cpu_reset -no-reboot -D qemu.log to see the exception chain")
        }
        _ => {}
    }
    if host.is_none() && known_issues.iter().any(|k| k.affected.is_some()) {
        push_unique(
            &mut next_steps,
            "Tell kvmtriage the host kernel: kvmtriage explain --host-kernel \"$(uname -r)\" <dump>",
        );
    }
    push_unique(
        &mut next_steps,
        "Collect with the report: host kernel (uname -r), QEMU version and full command line, CPU model, host dmesg around the failure",
    );

    let findings = crate::findings::findings(f, &classification);
    Diagnosis {
        verdict,
        confidence,
        evidence,
        findings,
        next_steps,
        known_issues,
        ruled_out,
        classification,
        host_kernel: host.map(|h| h.release.clone()),
    }
}
