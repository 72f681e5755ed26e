//! MSR policies: which answer the VMM gives to each MSR access that reaches it.
//!
//! The VM enables `KVM_CAP_X86_USER_SPACE_MSR` with INVAL|UNKNOWN|FILTER
//! (include/uapi/linux/kvm.h: `KVM_MSR_EXIT_REASON_*`) and installs an MSR filter
//! (`KVM_X86_SET_MSR_FILTER`) that denies exactly the accesses a model or rule must decide, so
//! those arrive as `KVM_EXIT_X86_RDMSR`/`KVM_EXIT_X86_WRMSR` exits. Each is then answered by, in
//! order: the `--inject` rules, the scenario's own filter, the `--kvm-model`'s `set_msr_mce`,
//! the VMM's x2APIC stub, and finally "what KVM would do".

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// `KVM_MSR_EXIT_REASON_INVAL` (include/uapi/linux/kvm.h): KVM would inject #GP.
pub const MSR_EXIT_REASON_INVAL: u32 = 1 << 0;
/// `KVM_MSR_EXIT_REASON_UNKNOWN`: the MSR is unknown to KVM.
pub const MSR_EXIT_REASON_UNKNOWN: u32 = 1 << 1;
/// `KVM_MSR_EXIT_REASON_FILTER`: the access was denied by the MSR filter.
pub const MSR_EXIT_REASON_FILTER: u32 = 1 << 2;

/// First IA32_MCi_CTL MSR (SDM Vol. 3B §16.3.2.1; `MSR_IA32_MC0_CTL` in msr-index.h).
pub const MSR_IA32_MC0_CTL: u32 = 0x400;
/// KVM_MAX_MCE_BANKS = 32: KVM routes 0x400..0x47f to `set_msr_mce` (arch/x86/kvm/x86.c).
pub const MSR_MCE_BANK_END: u32 = MSR_IA32_MC0_CTL + 4 * 32;
/// x2APIC MSR range (SDM Vol. 3A §11.12.1.2).
pub const X2APIC_FIRST: u32 = 0x800;
/// Last x2APIC MSR.
pub const X2APIC_LAST: u32 = 0x8ff;

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MsrAccess {
    /// RDMSR.
    Rdmsr,
    /// WRMSR.
    Wrmsr,
}

impl fmt::Display for MsrAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MsrAccess::Rdmsr => "rdmsr",
            MsrAccess::Wrmsr => "wrmsr",
        })
    }
}

/// Name of a `KVM_MSR_EXIT_REASON_*` value.
pub fn msr_exit_reason_name(reason: u32) -> &'static str {
    match reason {
        MSR_EXIT_REASON_INVAL => "INVAL",
        MSR_EXIT_REASON_UNKNOWN => "UNKNOWN",
        MSR_EXIT_REASON_FILTER => "FILTER",
        _ => "?",
    }
}

/// Which kernel's MSR handling the VMM imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvmModel {
    /// This host's KVM decides everything it can.
    Host,
    /// Linux 5.10 … 5.19 before 0471a7bd1bca / 2368048bf5c2 (set_msr_mce returns -1 for an
    /// invalid MCi_CTL or a non-zero MCi_STATUS; since 5.10 that -1 fails KVM_RUN with EPERM).
    /// The number is the minor version.
    Linux5(u8),
    /// Linux 6.0: both fixes; such writes get #GP, MCi_CTL may also clear bit 0.
    Linux6_0,
}

impl FromStr for KvmModel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "host" => Ok(KvmModel::Host),
            "linux-6.0" => Ok(KvmModel::Linux6_0),
            _ => s
                .strip_prefix("linux-5.")
                .and_then(|m| m.parse::<u8>().ok())
                .filter(|m| (10..=19).contains(m))
                .map(KvmModel::Linux5)
                .ok_or_else(|| Error::UnknownModel(s.to_string())),
        }
    }
}

impl fmt::Display for KvmModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvmModel::Host => f.write_str("host"),
            KvmModel::Linux5(minor) => write!(f, "linux-5.{minor}"),
            KvmModel::Linux6_0 => f.write_str("linux-6.0"),
        }
    }
}

/// All model names, for help texts.
pub fn model_names() -> Vec<String> {
    let mut names = vec!["host".to_string()];
    names.extend((10..=19).map(|m| format!("linux-5.{m}")));
    names.push("linux-6.0".to_string());
    names
}

/// What `set_msr_mce()` returned for a guest write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MceWrite {
    /// 0: stored.
    Accepted,
    /// 1: #GP.
    GeneralProtection,
    /// -1: in 5.10–5.19 `kvm_emulate_wrmsr` passes it up and KVM_RUN fails with EPERM.
    MinusOne,
}

/// Evaluates `set_msr_mce()` for a guest (not host-initiated) write to an MCi MSR in
/// 0x400..0x47f, as the model's kernel did (arch/x86/kvm/x86.c). `bank_count` is
/// IA32_MCG_CAP[7:0]; `can_set_mci_status` is the AMD HWCR.McStatusWrEn exception.
pub fn set_msr_mce(
    model: KvmModel,
    index: u32,
    data: u64,
    bank_count: u32,
    can_set_mci_status: bool,
) -> MceWrite {
    if index < MSR_IA32_MC0_CTL || index >= MSR_IA32_MC0_CTL + 4 * bank_count {
        return MceWrite::GeneralProtection;
    }
    let offset = index - MSR_IA32_MC0_CTL;
    let (ctl_ok, reject) = match model {
        // Pre-fix: only 0, all-ones, or all-ones with bit 10 clear (AMD K8 GART erratum).
        KvmModel::Linux5(_) => (
            data == 0 || (data | (1 << 10)) == u64::MAX,
            MceWrite::MinusOne,
        ),
        // 0471a7bd1bca also permits clearing bit 0; 2368048bf5c2 turns -1 into #GP.
        KvmModel::Linux6_0 | KvmModel::Host => (
            data == 0 || (data | (1 << 10) | 1) == u64::MAX,
            MceWrite::GeneralProtection,
        ),
    };
    match offset & 3 {
        0 if !ctl_ok => reject,
        1 if data != 0 && !can_set_mci_status => reject,
        _ => MceWrite::Accepted,
    }
}

/// The answer to one MSR access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Let the access happen: the VMM performs it with KVM_SET_MSRS / KVM_GET_MSRS (or its own
    /// state) and completes the exit with error = 0.
    Allow,
    /// Complete the exit with error = 1: KVM injects #GP(0).
    GeneralProtection,
    /// Writes dropped, reads return 0 (what `kvm.ignore_msrs=Y` does).
    Ignore,
    /// The modelled kernel would fail KVM_RUN with this errno: the run ends here.
    Fatal {
        /// errno (positive).
        errno: i32,
    },
}

/// A verdict and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The answer.
    pub verdict: Verdict,
    /// Human-readable origin, e.g. "inject rule `wrmsr:0x838=EPERM`".
    pub decided_by: String,
}

/// What an `--inject` rule does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectAction {
    /// #GP in the guest.
    GeneralProtection,
    /// KVM_RUN fails with this errno.
    Errno(i32),
    /// Write dropped / read returns 0.
    Ignore,
}

/// The one errno table (crates/model/data/errno.toml): (number, name).
use kvmtriage_model::tables::ERRNO_NAMES;

/// Symbolic name of an errno, e.g. `EPERM`.
pub fn errno_name(errno: i32) -> String {
    ERRNO_NAMES
        .iter()
        .find(|(n, _)| *n == errno)
        .map_or_else(|| format!("errno {errno}"), |(_, name)| (*name).to_string())
}

/// A predicate on the value a WRMSR writes (EDX:EAX).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValuePredicate {
    /// `value=N`
    Equals(u64),
    /// `value!=N`
    NotEquals(u64),
    /// `value&MASK=N`
    Masked {
        /// Bits compared.
        mask: u64,
        /// Expected value of those bits.
        value: u64,
    },
}

impl ValuePredicate {
    fn matches(self, data: u64) -> bool {
        match self {
            ValuePredicate::Equals(v) => data == v,
            ValuePredicate::NotEquals(v) => data != v,
            ValuePredicate::Masked { mask, value } => data & mask == value,
        }
    }
}

/// One `--inject` rule (grammar in docs/repro.md).
#[derive(Clone, Debug)]
pub struct InjectRule {
    /// The rule as written.
    pub text: String,
    /// Applies to reads.
    pub reads: bool,
    /// Applies to writes.
    pub writes: bool,
    /// Inclusive MSR index range; `None` = every MSR.
    pub indices: Option<(u32, u32)>,
    /// All must hold (writes only).
    pub predicates: Vec<ValuePredicate>,
    /// Probability of firing when everything else matches (1.0 = always).
    pub rate: f64,
    /// Seed of the rule's deterministic generator.
    pub seed: u64,
    /// What happens when it fires.
    pub action: InjectAction,
    rng: u64,
}

fn parse_number(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => t.replace('_', "").parse().ok(),
    }
}

impl FromStr for InjectRule {
    type Err = Error;

    /// `TARGET:FIELD[,FIELD…]=ACTION`, e.g. `wrmsr:0x838=EPERM`,
    /// `rdmsr:0x400-0x47f=GP`, `random:rate=0.05,seed=7=EPERM`, `wrmsr:0x404,value&1=0=EPERM`.
    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::InjectRule {
            rule: text.to_string(),
            why: why.to_string(),
        };
        let (head, action_text) = text
            .rsplit_once('=')
            .ok_or_else(|| bad("missing `=ACTION` at the end (e.g. `=EPERM` or `=GP`)"))?;
        let action = match action_text.trim().to_ascii_uppercase().as_str() {
            "GP" | "#GP" => InjectAction::GeneralProtection,
            "IGNORE" => InjectAction::Ignore,
            name => ERRNO_NAMES
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(e, _)| InjectAction::Errno(*e))
                .ok_or_else(|| {
                    bad(&format!(
                        "unknown action `{action_text}` (GP, IGNORE or an errno name such as EPERM, EINVAL, EFAULT, EIO, ENOMEM)"
                    ))
                })?,
        };
        let (target, fields) = head
            .split_once(':')
            .ok_or_else(|| bad("missing `TARGET:` (wrmsr:, rdmsr:, msr: or random:)"))?;
        let (reads, writes, random) = match target.trim() {
            "wrmsr" => (false, true, false),
            "rdmsr" => (true, false, false),
            "msr" => (true, true, false),
            "random" => (false, true, true),
            other => {
                return Err(bad(&format!(
                    "unknown target `{other}` (wrmsr, rdmsr, msr or random)"
                )))
            }
        };
        let mut rule = InjectRule {
            text: text.to_string(),
            reads,
            writes,
            indices: None,
            predicates: Vec::new(),
            rate: 1.0,
            seed: 0,
            action,
            rng: 0,
        };
        let mut saw_index = false;
        let mut saw_rate = false;
        for field in fields.split(',').map(str::trim) {
            if field.is_empty() {
                return Err(bad("empty field between commas"));
            }
            if let Some(rate) = field.strip_prefix("rate=") {
                let r: f64 = rate
                    .parse()
                    .map_err(|_| bad(&format!("rate `{rate}` is not a number")))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(bad("rate must be between 0 and 1"));
                }
                rule.rate = r;
                saw_rate = true;
            } else if let Some(seed) = field.strip_prefix("seed=") {
                rule.seed = parse_number(seed)
                    .ok_or_else(|| bad(&format!("seed `{seed}` is not a number")))?;
            } else if let Some(pred) = field.strip_prefix("value") {
                if !rule.writes || rule.reads {
                    return Err(bad("value predicates apply to wrmsr rules only"));
                }
                let predicate = if let Some(v) = pred.strip_prefix("!=") {
                    ValuePredicate::NotEquals(
                        parse_number(v).ok_or_else(|| bad(&format!("bad value `{v}`")))?,
                    )
                } else if let Some(rest) = pred.strip_prefix('&') {
                    // `&MASK=N`: the last '=' was taken by the action, so the inner one is here.
                    let (mask, value) = rest
                        .split_once("==")
                        .or_else(|| rest.split_once('='))
                        .ok_or_else(|| bad("expected `value&MASK=N`"))?;
                    ValuePredicate::Masked {
                        mask: parse_number(mask)
                            .ok_or_else(|| bad(&format!("bad mask `{mask}`")))?,
                        value: parse_number(value)
                            .ok_or_else(|| bad(&format!("bad value `{value}`")))?,
                    }
                } else if let Some(v) = pred.strip_prefix("==").or_else(|| pred.strip_prefix('=')) {
                    ValuePredicate::Equals(
                        parse_number(v).ok_or_else(|| bad(&format!("bad value `{v}`")))?,
                    )
                } else {
                    return Err(bad(&format!("bad value predicate `{field}`")));
                };
                rule.predicates.push(predicate);
            } else if field == "*" {
                saw_index = true;
            } else {
                let (lo, hi) = match field.split_once('-') {
                    Some((lo, hi)) => (lo, hi),
                    None => (field, field),
                };
                let lo = parse_number(lo).and_then(|v| u32::try_from(v).ok());
                let hi = parse_number(hi).and_then(|v| u32::try_from(v).ok());
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo <= hi => rule.indices = Some((lo, hi)),
                    _ => {
                        return Err(bad(&format!(
                            "`{field}` is not an MSR index (0x838), range (0x400-0x47f), `*`, value predicate, rate= or seed="
                        )))
                    }
                }
                saw_index = true;
            }
        }
        if random && !saw_rate {
            return Err(bad("random rules need rate=R"));
        }
        if !random && !saw_index {
            return Err(bad("name the MSR: an index, a range or `*`"));
        }
        rule.rng = rule.seed;
        Ok(rule)
    }
}

impl InjectRule {
    fn matches(&self, access: MsrAccess, index: u32, data: u64) -> bool {
        let access_ok = match access {
            MsrAccess::Rdmsr => self.reads,
            MsrAccess::Wrmsr => self.writes,
        };
        access_ok
            && match self.indices {
                None => true,
                Some((lo, hi)) => (lo..=hi).contains(&index),
            }
            && (access == MsrAccess::Rdmsr || self.predicates.iter().all(|p| p.matches(data)))
    }

    /// splitmix64: deterministic per rule and seed.
    fn draw(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn fires(&mut self, access: MsrAccess, index: u32, data: u64) -> bool {
        if !self.matches(access, index, data) {
            return false;
        }
        self.rate >= 1.0 || self.draw() < self.rate
    }
}

/// One denied span of the MSR filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeniedRange {
    /// First MSR.
    pub first: u32,
    /// Last MSR (inclusive).
    pub last: u32,
    /// Deny reads.
    pub reads: bool,
    /// Deny writes.
    pub writes: bool,
}

/// The MSR filter to install.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterPlan {
    /// `KVM_MSR_FILTER_DEFAULT_DENY` with no ranges: every guest MSR access exits.
    pub deny_all: bool,
    /// Denied spans (default allow).
    pub ranges: Vec<DeniedRange>,
}

/// Largest span one filter range can cover: KVM_MSR_FILTER_MAX_BITMAP_SIZE (0x600) × 8.
pub const MAX_RANGE_MSRS: u32 = 0x600 * 8;
/// KVM_MSR_FILTER_MAX_RANGES.
pub const MAX_RANGES: usize = 16;

/// The complete policy of one run.
#[derive(Clone, Debug)]
pub struct MsrPolicy {
    /// Kernel model.
    pub model: KvmModel,
    /// Injection rules, first match wins.
    pub rules: Vec<InjectRule>,
    /// Accesses the scenario's VMM filter denies (answered with #GP).
    pub scenario_denied: Vec<DeniedRange>,
    /// `kvm.ignore_msrs` of the host (applies to UNKNOWN exits).
    pub ignore_msrs: bool,
    x2apic: std::collections::BTreeMap<u32, u64>,
}

impl MsrPolicy {
    /// A policy for `model` with `rules`.
    pub fn new(model: KvmModel, rules: Vec<InjectRule>) -> Self {
        Self {
            model,
            rules,
            scenario_denied: Vec::new(),
            ignore_msrs: false,
            x2apic: Default::default(),
        }
    }

    /// The filter that makes every access this policy must decide exit to user space.
    pub fn filter_plan(&self) -> FilterPlan {
        let mut ranges: Vec<DeniedRange> = self.scenario_denied.clone();
        if self.model != KvmModel::Host {
            ranges.push(DeniedRange {
                first: MSR_IA32_MC0_CTL,
                last: MSR_MCE_BANK_END - 1,
                reads: false,
                writes: true,
            });
        }
        let mut deny_all = false;
        for rule in &self.rules {
            match rule.indices {
                None => deny_all = true,
                Some((first, last)) => ranges.push(DeniedRange {
                    first,
                    last,
                    reads: rule.reads,
                    writes: rule.writes,
                }),
            }
        }
        if ranges.len() > MAX_RANGES || ranges.iter().any(|r| r.last - r.first >= MAX_RANGE_MSRS) {
            deny_all = true;
        }
        if deny_all {
            ranges.clear();
        }
        FilterPlan { deny_all, ranges }
    }

    /// Decides one MSR exit. `kvm_reason` is `kvm_run.msr.reason`; `bank_count` is
    /// IA32_MCG_CAP[7:0]; `can_set_mci_status` evaluates AMD's HWCR.McStatusWrEn lazily.
    pub fn decide(
        &mut self,
        access: MsrAccess,
        index: u32,
        data: u64,
        kvm_reason: u32,
        bank_count: u32,
        can_set_mci_status: impl FnOnce() -> bool,
    ) -> Decision {
        for rule in &mut self.rules {
            if rule.fires(access, index, data) {
                let verdict = match rule.action {
                    InjectAction::GeneralProtection => Verdict::GeneralProtection,
                    InjectAction::Errno(errno) => Verdict::Fatal { errno },
                    InjectAction::Ignore => Verdict::Ignore,
                };
                return Decision {
                    verdict,
                    decided_by: format!("inject rule `{}`", rule.text),
                };
            }
        }
        let denied = |r: &DeniedRange| {
            (r.first..=r.last).contains(&index)
                && match access {
                    MsrAccess::Rdmsr => r.reads,
                    MsrAccess::Wrmsr => r.writes,
                }
        };
        if self.scenario_denied.iter().any(denied) {
            return Decision {
                verdict: Verdict::GeneralProtection,
                decided_by: format!("scenario MSR filter denies {access} {index:#x} -> #GP"),
            };
        }
        if access == MsrAccess::Wrmsr
            && self.model != KvmModel::Host
            && (MSR_IA32_MC0_CTL..MSR_MCE_BANK_END).contains(&index)
        {
            let result = set_msr_mce(self.model, index, data, bank_count, can_set_mci_status());
            let what = match (index - MSR_IA32_MC0_CTL) & 3 {
                _ if index >= MSR_IA32_MC0_CTL + 4 * bank_count => "MSR past the last bank",
                0 => "MCi_CTL",
                1 => "MCi_STATUS",
                2 => "MCi_ADDR",
                _ => "MCi_MISC",
            };
            let (verdict, returned) = match result {
                MceWrite::Accepted => (Verdict::Allow, "0 (accepted)"),
                MceWrite::GeneralProtection => (Verdict::GeneralProtection, "1 -> #GP"),
                MceWrite::MinusOne => (
                    Verdict::Fatal { errno: libc::EPERM },
                    "-1 -> KVM_RUN fails with EPERM",
                ),
            };
            return Decision {
                verdict,
                decided_by: format!(
                    "kvm model {}: set_msr_mce({what}) returns {returned}",
                    self.model
                ),
            };
        }
        if (X2APIC_FIRST..=X2APIC_LAST).contains(&index) && kvm_reason == MSR_EXIT_REASON_INVAL {
            return Decision {
                verdict: Verdict::Allow,
                decided_by: "VMM x2APIC stub (no in-kernel LAPIC, KVM reported INVAL)".into(),
            };
        }
        match kvm_reason {
            MSR_EXIT_REASON_FILTER => Decision {
                verdict: Verdict::Allow,
                decided_by: "no rule fired: passed to KVM (KVM_GET_MSRS/KVM_SET_MSRS)".into(),
            },
            MSR_EXIT_REASON_UNKNOWN if self.ignore_msrs => Decision {
                verdict: Verdict::Ignore,
                decided_by: "KVM: unknown MSR, kvm.ignore_msrs=Y -> ignored".into(),
            },
            MSR_EXIT_REASON_UNKNOWN => Decision {
                verdict: Verdict::GeneralProtection,
                decided_by: "KVM: unknown MSR, kvm.ignore_msrs=N -> #GP".into(),
            },
            _ => Decision {
                verdict: Verdict::GeneralProtection,
                decided_by: "KVM: invalid access (INVAL) -> #GP".into(),
            },
        }
    }

    /// The VMM's x2APIC register file (for the stub).
    pub fn x2apic_read(&self, index: u32) -> u64 {
        self.x2apic.get(&index).copied().unwrap_or(0)
    }

    /// Stores an x2APIC register write.
    pub fn x2apic_write(&mut self, index: u32, data: u64) {
        self.x2apic.insert(index, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_fix_mci_ctl_rules() {
        let m = KvmModel::Linux5(15);
        assert_eq!(set_msr_mce(m, 0x404, 0, 10, false), MceWrite::Accepted);
        assert_eq!(
            set_msr_mce(m, 0x404, u64::MAX, 10, false),
            MceWrite::Accepted
        );
        assert_eq!(
            set_msr_mce(m, 0x410, !(1 << 10), 10, false),
            MceWrite::Accepted
        );
        // UnixWare: bit 0 clear.
        assert_eq!(set_msr_mce(m, 0x404, !1, 10, false), MceWrite::MinusOne);
        assert_eq!(set_msr_mce(m, 0x404, 0x1234, 10, false), MceWrite::MinusOne);
        assert_eq!(set_msr_mce(m, 0x405, 1, 10, false), MceWrite::MinusOne);
        assert_eq!(set_msr_mce(m, 0x405, 1, 10, true), MceWrite::Accepted);
        assert_eq!(set_msr_mce(m, 0x406, 0x1234, 10, false), MceWrite::Accepted);
        assert_eq!(
            set_msr_mce(m, 0x428, 0, 10, false),
            MceWrite::GeneralProtection
        );
    }

    #[test]
    fn linux_6_0_mci_ctl_rules() {
        let m = KvmModel::Linux6_0;
        assert_eq!(set_msr_mce(m, 0x404, !1, 10, false), MceWrite::Accepted);
        assert_eq!(
            set_msr_mce(m, 0x404, !1 & !(1 << 10), 10, false),
            MceWrite::Accepted
        );
        assert_eq!(
            set_msr_mce(m, 0x404, !2, 10, false),
            MceWrite::GeneralProtection
        );
        assert_eq!(
            set_msr_mce(m, 0x404, 0x1234, 10, false),
            MceWrite::GeneralProtection
        );
        assert_eq!(
            set_msr_mce(m, 0x405, 1, 10, false),
            MceWrite::GeneralProtection
        );
        assert_eq!(set_msr_mce(m, 0x405, 0, 10, false), MceWrite::Accepted);
    }

    #[test]
    fn models_parse() {
        assert_eq!(
            "linux-5.10".parse::<KvmModel>().unwrap(),
            KvmModel::Linux5(10)
        );
        assert_eq!(
            "linux-5.19".parse::<KvmModel>().unwrap(),
            KvmModel::Linux5(19)
        );
        assert!("linux-5.9".parse::<KvmModel>().is_err());
        assert!("linux-5.20".parse::<KvmModel>().is_err());
        assert_eq!("linux-6.0".parse::<KvmModel>().unwrap(), KvmModel::Linux6_0);
        assert_eq!(model_names().len(), 12);
    }

    #[test]
    fn rules_parse() {
        let r: InjectRule = "wrmsr:0x838=EPERM".parse().unwrap();
        assert_eq!(r.indices, Some((0x838, 0x838)));
        assert_eq!(r.action, InjectAction::Errno(libc::EPERM));
        assert!(r.writes && !r.reads);
        let r: InjectRule = "rdmsr:0x400-0x47f=GP".parse().unwrap();
        assert_eq!(r.indices, Some((0x400, 0x47f)));
        assert_eq!(r.action, InjectAction::GeneralProtection);
        let r: InjectRule = "random:rate=0.05,seed=7=EPERM".parse().unwrap();
        assert_eq!((r.rate, r.seed, r.indices), (0.05, 7, None));
        let r: InjectRule = "wrmsr:0x404,value&1=0=EPERM".parse().unwrap();
        assert_eq!(
            r.predicates,
            vec![ValuePredicate::Masked { mask: 1, value: 0 }]
        );
        let r: InjectRule = "wrmsr:0x404,value!=0=GP".parse().unwrap();
        assert_eq!(r.predicates, vec![ValuePredicate::NotEquals(0)]);
        let r: InjectRule = "wrmsr:0x404,value=0x1234=GP".parse().unwrap();
        assert_eq!(r.predicates, vec![ValuePredicate::Equals(0x1234)]);
        for bad in [
            "wrmsr:0x838",
            "wrmsr=EPERM",
            "foo:0x1=GP",
            "wrmsr:0x838=EWHAT",
            "random:seed=1=EPERM",
            "rdmsr:0x10,value=1=GP",
            "wrmsr:0x20-0x10=GP",
            "wrmsr:zz=GP",
            "random:rate=2=GP",
        ] {
            let err = bad.parse::<InjectRule>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn random_rule_is_deterministic_and_near_rate() {
        let mut a: InjectRule = "random:rate=0.05,seed=7=EPERM".parse().unwrap();
        let mut b = a.clone();
        let fa: Vec<bool> = (0..2000)
            .map(|_| a.fires(MsrAccess::Wrmsr, 0x838, 1))
            .collect();
        let fb: Vec<bool> = (0..2000)
            .map(|_| b.fires(MsrAccess::Wrmsr, 0x838, 1))
            .collect();
        assert_eq!(fa, fb);
        let hits = fa.iter().filter(|&&f| f).count();
        assert!((50..=150).contains(&hits), "{hits}");
        assert!(!a.fires(MsrAccess::Rdmsr, 0x838, 1));
    }

    #[test]
    fn decision_order() {
        let mut p = MsrPolicy::new(
            KvmModel::Linux5(15),
            vec!["wrmsr:0x404,value=0=GP".parse().unwrap()],
        );
        let d = p.decide(
            MsrAccess::Wrmsr,
            0x404,
            0,
            MSR_EXIT_REASON_FILTER,
            10,
            || false,
        );
        assert_eq!(d.verdict, Verdict::GeneralProtection);
        assert!(d.decided_by.contains("inject rule"));
        let d = p.decide(
            MsrAccess::Wrmsr,
            0x404,
            !1,
            MSR_EXIT_REASON_FILTER,
            10,
            || false,
        );
        assert_eq!(d.verdict, Verdict::Fatal { errno: libc::EPERM });
        assert!(d.decided_by.contains("linux-5.15"), "{}", d.decided_by);
        let d = p.decide(
            MsrAccess::Wrmsr,
            0xdead,
            0,
            MSR_EXIT_REASON_UNKNOWN,
            10,
            || false,
        );
        assert_eq!(d.verdict, Verdict::GeneralProtection);
        let plan = p.filter_plan();
        assert!(!plan.deny_all);
        assert_eq!(plan.ranges.len(), 2);
        p.rules.push("random:rate=0.5=GP".parse().unwrap());
        assert!(p.filter_plan().deny_all);
    }
}
