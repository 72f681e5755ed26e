//! Evaluation of catalogue matchers against `Facts`.

use crate::catalogue::{
    EventKind, KnownIssue, Matcher, ModeKind, MsrKind, RegName, StatePredicate, ValuePredicate,
};
use crate::decode::{vector_name, InternalErrorReport};
use crate::facts::{CodeWindowExt, Event, Facts};

/// How an entry relates to a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Match,
    /// The failure class matches but a specific predicate does not: reported as ruled out.
    RuledOut(String),
    NoMatch,
}

/// Everything a matcher looks at, computed once per diagnosis.
pub struct Ctx<'a> {
    pub facts: &'a Facts<'a>,
    pub errno_name: Option<&'static str>,
    pub internal: Option<&'a InternalErrorReport>,
    pub big_real_mode: bool,
    pub mode: Option<ModeKind>,
    /// "MSR 0x838 (IA32_X2APIC_INIT_COUNT)", computed once for all ruled-out reasons.
    pub msr_label: String,
}

/// set_msr_mce() before 0471a7bd1bca: only 0, all ones, or all ones with bit 10 clear.
pub fn mci_ctl_rejected_before_fix(v: u64) -> bool {
    v != 0 && (v | (1 << 10)) != u64::MAX
}

/// set_msr_mce() since 0471a7bd1bca: bit 0 may also be clear.
pub fn mci_ctl_rejected_after_fix(v: u64) -> bool {
    v != 0 && (v | (1 << 10) | 1) != u64::MAX
}

pub fn is_mci_ctl(index: u32) -> bool {
    (0x400..0x480).contains(&index) && (index - 0x400) & 3 == 0
}

pub fn is_mci_status(index: u32) -> bool {
    (0x400..0x480).contains(&index) && (index - 0x400) & 3 == 1
}

/// MSRs set_msr_mce() handles: MCG_CAP/STATUS/CTL, MCi_CTL2 (0x280..), MCi_* banks.
pub fn is_mce_msr(index: u32) -> bool {
    (0x179..=0x17b).contains(&index)
        || (0x280..0x2a0).contains(&index)
        || (0x400..0x480).contains(&index)
}

fn event_kind(e: &Event) -> Option<EventKind> {
    Some(match e {
        Event::RunFailed { .. } => EventKind::RunFailed,
        Event::InternalError { .. } => EventKind::InternalError,
        Event::EntryFailed { .. } => EventKind::EntryFailed,
        Event::ExceptionExit { .. } => EventKind::ExceptionExit,
        Event::UnknownExit { .. } => EventKind::UnknownExit,
        Event::TripleFault => EventKind::TripleFault,
        Event::TcgFatal { .. } => EventKind::TcgFatal,
        Event::None | Event::Snapshot { .. } | Event::Other { .. } => return None,
    })
}

fn message(e: &Event) -> &str {
    match e {
        Event::RunFailed { message, .. }
        | Event::TcgFatal { message }
        | Event::Other { message } => message,
        _ => "",
    }
}

fn anchor_matches(m: &Matcher, cx: &Ctx) -> bool {
    let f = cx.facts;
    if let Some(ev) = m.event {
        if event_kind(&f.event) != Some(ev) {
            return false;
        }
    }
    if !m.errno.is_empty() && !cx.errno_name.is_some_and(|n| m.errno.contains(&n)) {
        return false;
    }
    if !m.suberror.is_empty()
        && !matches!(&f.event, Event::InternalError { suberror, .. } if m.suberror.contains(suberror))
    {
        return false;
    }
    if !m.hardware_reason.is_empty() {
        let hw = match &f.event {
            Event::EntryFailed { hardware_reason } | Event::UnknownExit { hardware_reason } => {
                Some(*hardware_reason)
            }
            _ => None,
        };
        if !hw.is_some_and(|h| m.hardware_reason.contains(&h)) {
            return false;
        }
    }
    if !m.vector.is_empty()
        && !matches!(&f.event, Event::ExceptionExit { vector, .. } if m.vector.contains(vector))
    {
        return false;
    }
    if !m.message_contains.is_empty() {
        let msg = message(&f.event);
        if !m.message_contains.iter().any(|s| msg.contains(s)) {
            return false;
        }
    }
    true
}

fn reg_value(f: &Facts, r: RegName) -> Option<u64> {
    match r {
        RegName::Cr0 => f.cr0(),
        RegName::Cr3 => f.cr3(),
        RegName::Cr4 => f.cr4(),
        RegName::Efer => f.efer(),
        RegName::Rflags => f.rflags(),
        RegName::Rip => f.rip(),
        RegName::Rax => f.rax(),
        RegName::Rcx => f.rcx(),
        RegName::Rdx => f.rdx(),
        RegName::Rsp => f.rsp(),
    }
}

/// "MSR 0x838 (IA32_X2APIC_INIT_COUNT)" for ruled-out reasons ([`Ctx::msr_label`]).
pub fn msr_label(f: &Facts) -> String {
    match &f.msr {
        Some(m) => match &m.name {
            Some(n) => format!("MSR {:#x} ({n})", m.index),
            None => format!("MSR {:#x}", m.index),
        },
        None => "no MSR access".into(),
    }
}

/// Evaluates one entry. Predicates after the anchor (event, errno, suberror, hardware reason,
/// vector, message) produce a `RuledOut` reason naming the first one that fails.
pub fn evaluate(issue: &KnownIssue, cx: &Ctx) -> Outcome {
    let m = &issue.matcher;
    if !anchor_matches(m, cx) {
        return Outcome::NoMatch;
    }
    match specific_predicates(issue, cx) {
        None => Outcome::Match,
        // Entries without an event anchor (e.g. a UD2 snapshot) are not "weighed" against
        // unrelated failures: they simply do not match.
        Some(_) if m.event.is_none() => Outcome::NoMatch,
        Some(why) => Outcome::RuledOut(why),
    }
}

/// The first predicate after the anchor that fails, with the reason.
fn specific_predicates(issue: &KnownIssue, cx: &Ctx) -> Option<String> {
    let m = &issue.matcher;
    let f = cx.facts;
    let insn = f.insn.as_ref();
    if !m.instruction.is_empty() {
        match insn {
            None => {
                return Some(format!(
                    "needs {} at RIP, but the instruction could not be decoded",
                    m.instruction.join("/")
                ))
            }
            Some(i) if !m.instruction.contains(&i.mnemonic.as_str()) => {
                return Some(format!(
                    "needs {} at RIP, but the instruction is {}",
                    m.instruction.join("/"),
                    i.text
                ))
            }
            _ => {}
        }
    }
    if !m.instruction_class.is_empty()
        && !insn
            .and_then(|i| i.class)
            .is_some_and(|c| m.instruction_class.contains(&c))
    {
        let what = insn.map_or("undecodable".to_string(), |i| i.text.clone());
        return Some(format!(
            "needs an x87/SSE/AVX/XSAVE-class instruction, but the instruction is {what}"
        ));
    }
    if !m.msr_ranges.is_empty()
        && !f.msr.as_ref().is_some_and(|a| {
            m.msr_ranges
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&a.index))
        })
    {
        return Some(format!(
            "{} is outside the MSR range of this issue",
            cx.msr_label
        ));
    }
    if let Some(kind) = m.msr_kind {
        let Some(a) = &f.msr else {
            return Some("needs an MSR access (ECX) but the dump does not show one".into());
        };
        let ok = match kind {
            MsrKind::MciCtl => is_mci_ctl(a.index),
            MsrKind::MciStatus => is_mci_status(a.index),
            MsrKind::NotMce => !is_mce_msr(a.index),
        };
        if !ok {
            return Some(match kind {
                MsrKind::MciCtl => format!("{} is not an MCE bank control MSR (IA32_MCi_CTL = 0x400 + 4*i, i < 32), so set_msr_mce() never saw this write", cx.msr_label),
                MsrKind::MciStatus => format!("{} is not an MCE bank status MSR (IA32_MCi_STATUS = 0x401 + 4*i), so set_msr_mce() never saw this write", cx.msr_label),
                MsrKind::NotMce => format!("{} is an MCE MSR handled by set_msr_mce(); a more specific entry applies", cx.msr_label),
            });
        }
    }
    if let Some(vp) = m.value {
        let Some(v) = f.msr.as_ref().and_then(|a| a.value) else {
            return Some("needs the WRMSR value (EDX:EAX), which the dump does not show".into());
        };
        let pre = mci_ctl_rejected_before_fix(v);
        let post = mci_ctl_rejected_after_fix(v);
        let ok = match vp {
            ValuePredicate::MciCtlRejectedBeforeBit0FixOnly => pre && !post,
            ValuePredicate::MciCtlRejectedByAll => post,
            ValuePredicate::MciCtlAcceptedByAll => !pre,
            ValuePredicate::NonZero => v != 0,
            ValuePredicate::Zero => v == 0,
        };
        if !ok {
            let why = match vp {
                ValuePredicate::NonZero => "the value is 0, which every kernel accepts".to_string(),
                ValuePredicate::Zero => "the value is not 0".to_string(),
                _ if !pre => "every kernel accepts this MCi_CTL value (0, all ones, or all ones with bit 10 clear)".to_string(),
                _ if post => "the value is illegal for old and new kernels alike, not only before 0471a7bd1bca".to_string(),
                _ => "the value has only bit 0 (and perhaps bit 10) clear: rejected only before 0471a7bd1bca".to_string(),
            };
            return Some(format!("value {v:#x}: {why}"));
        }
    }
    if !m.modes.is_empty() && !cx.mode.is_some_and(|md| m.modes.contains(&md)) {
        return Some(format!("the CPU mode is {:?}, not {:?}", cx.mode, m.modes));
    }
    for rp in m.regs {
        let Some(v) = reg_value(f, rp.reg) else {
            return Some(format!("{:?} is not in the dump", rp.reg));
        };
        if ((v & rp.mask) == rp.eq) == rp.ne {
            return Some(format!(
                "{:?}={v:#x} does not satisfy the register predicate",
                rp.reg
            ));
        }
    }
    if !m.exit_reason.is_empty() {
        let er = cx.internal.and_then(|i| i.exit_reason.as_ref());
        if !er.is_some_and(|r| r.name.is_some() && m.exit_reason.contains(&r.basic)) {
            return Some(format!(
                "needs exit reason {:?}, got {}",
                m.exit_reason,
                er.map_or("none".to_string(), |r| r.raw.clone())
            ));
        }
    }
    if !m.gpa_ranges.is_empty() {
        let gpa = cx.internal.and_then(|i| i.gpa_value);
        if !gpa.is_some_and(|g| m.gpa_ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&g))) {
            return Some("the guest-physical address is outside this issue's range".into());
        }
    }
    if let Some(flags) = m.emulation_flags {
        let got = match &f.event {
            Event::InternalError {
                suberror: 1, data, ..
            } => data.first().copied(),
            _ => None,
        };
        if got != Some(flags) {
            return Some(format!(
                "needs emulation-failure flags {flags}, got {got:?}"
            ));
        }
    }
    for sp in m.state {
        if let Some(why) = state_fails(*sp, cx) {
            return Some(why);
        }
    }
    None
}

fn state_fails(sp: StatePredicate, cx: &Ctx) -> Option<String> {
    let f = cx.facts;
    let code_unreadable = f.code.is_some_and(|c| c.unreadable());
    let ok = match sp {
        StatePredicate::BigRealMode => cx.big_real_mode,
        StatePredicate::NotBigRealMode => !cx.big_real_mode,
        StatePredicate::CodeUnreadable => code_unreadable,
        StatePredicate::CodeIsFiller => f.code.is_some_and(|c| c.is_filler()),
        StatePredicate::FetchFailed => {
            let flags0 = matches!(&f.event, Event::InternalError { suberror: 1, data, .. } if data.len() >= 6 && data.first() == Some(&0));
            flags0 || code_unreadable
        }
        StatePredicate::SegmentsAllNull => f.segments_all_null(),
        StatePredicate::NotSegmentsAllNull => !f.segments_all_null(),
        StatePredicate::ResetStateNonResetRip => f.reset_state_with_non_reset_rip(),
        StatePredicate::Smm => f.smm() == Some(true),
        StatePredicate::NotSmm => f.smm() != Some(true),
        StatePredicate::NoExtraData => {
            matches!(&f.event, Event::InternalError { data, .. } if data.is_empty())
        }
        StatePredicate::ModernEmulationLayout => cx
            .internal
            .is_some_and(|i| i.layout_recognised && i.suberror == 1 && !i.fields.is_empty()),
        StatePredicate::InsnNotMsr => f
            .insn
            .as_ref()
            .is_some_and(|i| i.mnemonic != "wrmsr" && i.mnemonic != "rdmsr"),
        StatePredicate::ExitReasonNotEptMisconfig => cx
            .internal
            .and_then(|i| i.exit_reason.as_ref())
            .is_some_and(|r| !(r.basic == 49 && r.name.is_some())),
        StatePredicate::RipInVgaWindow => f.linear_rip_in_vga_window(),
        StatePredicate::NoFailureEvent => matches!(f.event, Event::None | Event::Snapshot { .. }),
    };
    if ok {
        None
    } else {
        Some(match sp {
            StatePredicate::BigRealMode => {
                "no segment has a base/limit/attribute real mode cannot produce (not big real mode)"
                    .into()
            }
            StatePredicate::NotBigRealMode => {
                "the segments show big real mode; a more specific entry applies".into()
            }
            StatePredicate::CodeUnreadable => "the Code= bytes at RIP are readable".into(),
            StatePredicate::CodeIsFiller => {
                "the Code= window looks like real code, not filler bytes".into()
            }
            StatePredicate::FetchFailed => {
                "KVM had the instruction bytes (flags bit 0 set) and the code is readable".into()
            }
            StatePredicate::SegmentsAllNull => {
                "the segment registers hold real values (not an encrypted/zeroed state)".into()
            }
            StatePredicate::NotSegmentsAllNull => {
                "all segment registers are zero (encrypted or never-initialised state)".into()
            }
            StatePredicate::ResetStateNonResetRip => {
                "CR0/CS/RIP are not the reset values with a foreign RIP".into()
            }
            StatePredicate::Smm => "the vCPU is not in SMM".into(),
            StatePredicate::NotSmm => "the vCPU is in SMM; the SMM entry applies".into(),
            StatePredicate::NoExtraData => "KVM sent extra data".into(),
            StatePredicate::ModernEmulationLayout => {
                "the extra data does not have the 5.14+ layout".into()
            }
            StatePredicate::InsnNotMsr => "the instruction is an MSR access (or unknown)".into(),
            StatePredicate::ExitReasonNotEptMisconfig => {
                "the exit reason is EPT misconfiguration (or unknown)".into()
            }
            StatePredicate::RipInVgaWindow => {
                "RIP is not inside the 0xa0000-0xbffff window (or paging is on)".into()
            }
            StatePredicate::NoFailureEvent => {
                "a failure line precedes the dump; the failure entries apply instead".into()
            }
        })
    }
}

fn write_event(out: &mut String, e: Option<&crate::decode::EventInfo>, none: &str) {
    use std::fmt::Write as _;
    match e {
        Some(e) => {
            let _ = write!(out, "{} vector {}", e.event_type, e.vector);
            if let Some(n) = e.vector_name {
                out.push(' ');
                out.push_str(n);
            }
        }
        None => out.push_str(none),
    }
}

/// Expands `{msr}`-style placeholders in a summary, in one pass over the template.
pub fn render_summary(template: &str, cx: &Ctx) -> String {
    use std::fmt::Write as _;
    let f = cx.facts;
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = &after[..close];
        rest = &after[close + 1..];
        match key {
            "msr" => match &f.msr {
                Some(m) => {
                    let _ = write!(out, "{:#x}", m.index);
                }
                None => out.push('?'),
            },
            "msr_name" => match &f.msr {
                Some(m) => match &m.name {
                    Some(n) => out.push_str(n),
                    None => {
                        let _ = write!(out, "MSR {:#x}", m.index);
                    }
                },
                None => out.push('?'),
            },
            "value" => match f.msr.as_ref().and_then(|m| m.value) {
                Some(v) => {
                    let _ = write!(out, "{v:#x}");
                }
                None => out.push('?'),
            },
            "insn" => out.push_str(
                f.insn
                    .as_ref()
                    .map_or("an undecodable instruction", |i| i.text.as_str()),
            ),
            "gpa" => match (&f.event, cx.internal.and_then(|i| i.gpa.as_deref())) {
                (_, Some(g)) => out.push_str(g),
                (Event::TcgFatal { message }, None) => {
                    out.push_str(message.rsplit(' ').next().unwrap_or("?"))
                }
                _ => out.push('?'),
            },
            "vector" => write_event(&mut out, cx.internal.and_then(|i| i.events.first()), "none"),
            "second_event" => write_event(
                &mut out,
                cx.internal.and_then(|i| i.events.get(1)),
                "unknown",
            ),
            "exit_reason" => match cx.internal.and_then(|i| i.exit_reason.as_ref()) {
                Some(r) => match r.name {
                    Some(n) => {
                        let _ = write!(out, "{} {n}", r.basic);
                    }
                    None => out.push_str(&r.raw),
                },
                None => out.push('?'),
            },
            "linear_rip" => match f.linear_rip() {
                Some(v) => {
                    let _ = write!(out, "{v:#x}");
                }
                None => out.push('?'),
            },
            "errno" => out.push_str(cx.errno_name.unwrap_or("?")),
            "hw" => match &f.event {
                Event::EntryFailed { hardware_reason } | Event::UnknownExit { hardware_reason } => {
                    let _ = write!(out, "{hardware_reason:#x}");
                }
                Event::ExceptionExit { vector, .. } => {
                    let _ = write!(out, "{vector} ({})", vector_name(*vector).unwrap_or("?"));
                }
                _ => out.push('?'),
            },
            // Unknown placeholders are kept verbatim (build.rs data is reviewed; never panic).
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
    }
    out.push_str(rest);
    out
}
