//! The VMX guest-state checks that can be evaluated from a QEMU dump.
//!
//! Source: Intel SDM Vol. 3C §28.3.1 "Checks on the Guest State Area" (§27.3.1 in the editions
//! before 2023, §26.3.1 before 2020). The dump does not contain the VMX controls, so checks that
//! depend on "unrestricted guest" are evaluated for both settings and reported as conditional.
//! "IA-32e mode guest" is taken from EFER.LMA, which KVM keeps equal to that entry control.
//! A segment with P=0 is treated as unusable, as KVM does (vmx_segment_access_rights()).

use serde::Serialize;

use kvmtriage_model::{SegName, Segment};

use crate::facts::{
    Facts, SegmentExt, CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFER_LME, RFLAGS_VM,
};

const SEC_CR: &str = "SDM Vol. 3C §28.3.1.1 (27.3.1.1 in pre-2023 editions) Checks on Guest Control Registers, Debug Registers, and MSRs";
const SEC_SEG: &str = "SDM Vol. 3C §28.3.1.2 (27.3.1.2) Checks on Guest Segment Registers";
const SEC_DT: &str = "SDM Vol. 3C §28.3.1.3 (27.3.1.3) Checks on Guest Descriptor-Table Registers";
const SEC_RIP: &str = "SDM Vol. 3C §28.3.1.4 (27.3.1.4) Checks on Guest RIP, RSP, and RFLAGS";
const SEC_NONREG: &str = "SDM Vol. 3C §28.3.1.5 (27.3.1.5) Checks on Guest Non-Register State";

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckFailure {
    pub section: &'static str,
    pub check: String,
    pub detail: String,
    /// When set, the check fails only under this condition (the dump does not show the VMX
    /// controls), e.g. "only if unrestricted guest is off".
    pub condition: Option<&'static str>,
}

/// A segment real mode cannot produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealModeViolation {
    pub segment: &'static str,
    pub reason: String,
}

/// Result of the guest-state checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GuestStateReport {
    /// False when the dump lacks the control or segment registers.
    pub evaluated: bool,
    pub checks_run: usize,
    pub failures: Vec<CheckFailure>,
    /// CR0.PE=0 with segment state real mode cannot have ("big real mode").
    pub big_real_mode: Vec<RealModeViolation>,
    pub not_evaluable: Vec<&'static str>,
}

impl GuestStateReport {
    /// Failures that hold whatever the VMX controls are.
    pub fn definite(&self) -> impl Iterator<Item = &CheckFailure> {
        self.failures.iter().filter(|f| f.condition.is_none())
    }
}

#[derive(Clone, Copy)]
enum Cond {
    Always,
    NoUnrestrictedGuest,
    HltActivity,
}

struct Ctx<'a> {
    rep: &'a mut GuestStateReport,
}

impl Ctx<'_> {
    fn check(
        &mut self,
        ok: bool,
        section: &'static str,
        check: &str,
        detail: impl FnOnce() -> String,
        condition: Cond,
    ) {
        self.rep.checks_run += 1;
        if !ok {
            self.rep.failures.push(CheckFailure {
                section,
                check: check.to_string(),
                detail: detail(),
                condition: match condition {
                    Cond::Always => None,
                    Cond::NoUnrestrictedGuest => Some("only if VMX unrestricted guest is off"),
                    Cond::HltActivity => {
                        Some("only if KVM entered the guest in activity state HLT")
                    }
                },
            });
        }
    }
}

fn limit_g_ok(s: &Segment) -> bool {
    // "If any bit in the limit field in the range 11:0 is 0, G must be 0. If any bit in the
    // limit field in the range 31:20 is 1, G must be 1."
    let low_all_ones = s.limit & 0xfff == 0xfff;
    let high_any = s.limit & 0xfff0_0000 != 0;
    if s.g() {
        low_all_ones
    } else {
        !high_any
    }
}

fn canonical(v: u64, la57: bool) -> bool {
    let bits = if la57 { 57 } else { 48 };
    let shift = 64 - bits;
    (((v << shift) as i64) >> shift) as u64 == v
}

/// A real-mode segment must have base = selector << 4, limit 0xffff and the attributes KVM's
/// rmode_segment_valid() accepts (present read/write data, byte granular, 16-bit).
pub fn real_mode_violations(f: &Facts) -> Vec<RealModeViolation> {
    let mut out = Vec::new();
    // Zeroed segment registers are hidden (TDX, SEV-ES) or never-loaded state, not big real mode.
    if f.cr0().is_none_or(|c| c & CR0_PE != 0) || f.segments_all_null() {
        return out;
    }
    // In SMM, 4 GiB limits are the architectural entry state (SDM Vol. 3C §32.5.1; KVM's
    // enter_smm()), not segments a guest set up for big real mode.
    if f.smm() == Some(true) {
        return out;
    }
    for (name, seg) in f.user_segments() {
        let Some(s) = seg else { continue };
        // An all-zero attribute word is a register that was never loaded (power-on dump).
        if s.attrs() == 0 {
            continue;
        }
        // The architectural reset state (CS f000, base ffff0000) is not real-mode reachable
        // either, but every CPU starts there; KVM handles it.
        if name == "CS" && s.selector == 0xf000 && s.base == 0xffff_0000 && s.limit == 0xffff {
            continue;
        }
        let mut reasons = Vec::new();
        if s.base != u64::from(s.selector) << 4 {
            reasons.push(format!(
                "base {:#x} != selector {:#06x} << 4",
                s.base, s.selector
            ));
        }
        if s.limit != 0xffff {
            reasons.push(format!("limit {:#x} != 0xffff", s.limit));
        }
        if s.g() || s.db() || s.l() {
            reasons.push(format!("attributes {:#010x} set G/D/L", s.attrs()));
        }
        if !reasons.is_empty() {
            out.push(RealModeViolation {
                segment: name,
                reason: reasons.join(", "),
            });
        }
    }
    out
}

/// Runs the checks.
pub fn check_guest_state(f: &Facts) -> GuestStateReport {
    let mut rep = GuestStateReport::default();
    let (Some(cr0), Some(cs)) = (f.cr0(), f.seg(SegName::Cs)) else {
        rep.not_evaluable
            .push("control registers or segment registers missing from the dump");
        return rep;
    };
    rep.evaluated = true;
    rep.not_evaluable.push(
        "VM-entry controls, activity and interruptibility state, pending debug exceptions, VMCS link pointer and the MSR-load area are not in the dump",
    );
    let cr4 = f.cr4().unwrap_or(0);
    let efer = f.efer().unwrap_or(0);
    let ia32e = efer & EFER_LMA != 0;
    let rflags = f.rflags().unwrap_or(2);
    let vm86 = rflags & RFLAGS_VM != 0;
    let pe = cr0 & CR0_PE != 0;
    let la57 = cr4 & (1 << 12) != 0;
    rep.big_real_mode = real_mode_violations(f);
    let mut c = Ctx { rep: &mut rep };

    // --- Control registers and MSRs.
    c.check(
        cr0 & CR0_PG == 0 || pe,
        SEC_CR,
        "CR0.PG=1 requires CR0.PE=1",
        || format!("CR0={cr0:#x}"),
        Cond::Always,
    );
    c.check(
        cr0 >> 32 == 0,
        SEC_CR,
        "CR0 bits 63:32 must be 0",
        || format!("CR0={cr0:#x}"),
        Cond::Always,
    );
    c.check(
        pe && cr0 & CR0_PG != 0,
        SEC_CR,
        "CR0.PE and CR0.PG must be 1 unless unrestricted guest is on (IA32_VMX_CR0_FIXED0)",
        || format!("CR0={cr0:#x} (PE={}, PG={}): KVM can only enter this with unrestricted guest, or by running real mode as virtual-8086", cr0 & 1, (cr0 >> 31) & 1), Cond::NoUnrestrictedGuest,
    );
    if ia32e {
        c.check(
            cr0 & CR0_PG != 0,
            SEC_CR,
            "IA-32e mode guest requires CR0.PG=1",
            || format!("CR0={cr0:#x}, EFER={efer:#x}"),
            Cond::Always,
        );
        c.check(
            cr4 & CR4_PAE != 0,
            SEC_CR,
            "IA-32e mode guest requires CR4.PAE=1",
            || format!("CR4={cr4:#x}"),
            Cond::Always,
        );
    } else {
        c.check(
            cr4 & CR4_PCIDE == 0,
            SEC_CR,
            "CR4.PCIDE must be 0 outside IA-32e mode",
            || format!("CR4={cr4:#x}"),
            Cond::Always,
        );
    }
    if let Some(cr3) = f.cr3() {
        c.check(
            cr3 >> 52 == 0,
            SEC_CR,
            "CR3 bits beyond the physical-address width must be 0",
            || format!("CR3={cr3:#x}"),
            Cond::Always,
        );
    }
    if f.efer().is_some() {
        const EFER_KNOWN: u64 = 0x1 | 0x100 | 0x400 | 0x800 | 0x1000 | 0x2000 | 0x4000 | 0x8000;
        c.check(
            efer & !EFER_KNOWN == 0,
            SEC_CR,
            "IA32_EFER reserved bits must be 0",
            || format!("EFER={efer:#x}"),
            Cond::Always,
        );
        if cr0 & CR0_PG != 0 {
            c.check(
                (efer & EFER_LMA != 0) == (efer & EFER_LME != 0),
                SEC_CR,
                "with CR0.PG=1, IA32_EFER.LMA must equal IA32_EFER.LME",
                || format!("EFER={efer:#x}"),
                Cond::Always,
            );
        }
    }

    // --- Segment registers (not virtual-8086).
    if vm86 {
        for (name, seg) in f.user_segments() {
            let Some(s) = seg else { continue };
            c.check(
                s.base == u64::from(s.selector) << 4
                    && s.limit == 0xffff
                    && (s.attrs() & 0xf0ff00) == 0xf300,
                SEC_SEG,
                "virtual-8086: base = selector << 4, limit 0xffff, attributes 0xf3",
                || {
                    format!(
                        "{name}: sel {:#06x} base {:#x} limit {:#x} attrs {:#x}",
                        s.selector,
                        s.base,
                        s.limit,
                        s.attrs()
                    )
                },
                Cond::Always,
            );
        }
    } else {
        let ss = f.seg(SegName::Ss).filter(|s| s.present());
        let cs_type = cs.seg_type();
        // CS
        c.check(
            matches!(cs_type, 9 | 11 | 13 | 15),
            SEC_SEG,
            "CS type must be 9, 11, 13 or 15 (accessed code; 3 only with unrestricted guest)",
            || format!("CS type {cs_type}"),
            if cs_type == 3 {
                Cond::NoUnrestrictedGuest
            } else {
                Cond::Always
            },
        );
        c.check(
            cs.s(),
            SEC_SEG,
            "CS.S must be 1 (code/data descriptor)",
            || format!("CS attrs {:#x}", cs.attrs()),
            Cond::Always,
        );
        c.check(
            cs.present(),
            SEC_SEG,
            "CS.P must be 1",
            || format!("CS attrs {:#x}", cs.attrs()),
            Cond::Always,
        );
        c.check(
            limit_g_ok(&cs),
            SEC_SEG,
            "CS limit and G must agree",
            || format!("CS limit {:#x}, G={}", cs.limit, u8::from(cs.g())),
            Cond::Always,
        );
        if ia32e && cs.l() {
            c.check(
                !cs.db(),
                SEC_SEG,
                "64-bit CS (L=1) requires D/B=0",
                || format!("CS attrs {:#x}", cs.attrs()),
                Cond::Always,
            );
        }
        if let Some(ss) = ss {
            match cs_type {
                9 | 11 => c.check(
                    cs.dpl() == ss.dpl(),
                    SEC_SEG,
                    "non-conforming CS: CS.DPL must equal SS.DPL",
                    || format!("CS.DPL={} SS.DPL={}", cs.dpl(), ss.dpl()),
                    Cond::Always,
                ),
                13 | 15 => c.check(
                    cs.dpl() <= ss.dpl(),
                    SEC_SEG,
                    "conforming CS: CS.DPL must not exceed SS.DPL",
                    || format!("CS.DPL={} SS.DPL={}", cs.dpl(), ss.dpl()),
                    Cond::Always,
                ),
                3 => c.check(
                    cs.dpl() == 0,
                    SEC_SEG,
                    "CS type 3: CS.DPL must be 0",
                    || format!("CS.DPL={}", cs.dpl()),
                    Cond::Always,
                ),
                _ => {}
            }
            c.check(
                ss.rpl() == cs.rpl(),
                SEC_SEG,
                "SS.RPL must equal CS.RPL (without unrestricted guest)",
                || {
                    format!(
                        "SS selector {:#x}, CS selector {:#x}",
                        ss.selector, cs.selector
                    )
                },
                Cond::NoUnrestrictedGuest,
            );
            c.check(
                matches!(ss.seg_type(), 3 | 7) && ss.s(),
                SEC_SEG,
                "SS type must be 3 or 7 with S=1 (accessed writable data)",
                || format!("SS attrs {:#x}", ss.attrs()),
                Cond::Always,
            );
            c.check(
                ss.dpl() == ss.rpl(),
                SEC_SEG,
                "SS.DPL must equal SS.RPL (without unrestricted guest)",
                || format!("SS.DPL={} SS.RPL={}", ss.dpl(), ss.rpl()),
                Cond::NoUnrestrictedGuest,
            );
            if cs_type == 3 || !pe {
                c.check(
                    ss.dpl() == 0,
                    SEC_SEG,
                    "SS.DPL must be 0 when CS type is 3 or CR0.PE=0",
                    || format!("SS.DPL={}", ss.dpl()),
                    Cond::Always,
                );
            }
            c.check(
                limit_g_ok(&ss),
                SEC_SEG,
                "SS limit and G must agree",
                || format!("SS limit {:#x}, G={}", ss.limit, u8::from(ss.g())),
                Cond::Always,
            );
            c.check(
                ss.base >> 32 == 0,
                SEC_SEG,
                "SS base bits 63:32 must be 0",
                || format!("SS base {:#x}", ss.base),
                Cond::Always,
            );
        }
        // DS, ES, FS, GS
        for (name, seg) in [
            ("DS", f.seg(SegName::Ds)),
            ("ES", f.seg(SegName::Es)),
            ("FS", f.seg(SegName::Fs)),
            ("GS", f.seg(SegName::Gs)),
        ] {
            let Some(s) = seg.filter(|s| s.present()) else {
                continue;
            };
            let t = s.seg_type();
            c.check(
                t & 1 == 1,
                SEC_SEG,
                &format!("{name} type must be accessed (bit 0 = 1)"),
                || format!("{name} type {t}"),
                Cond::Always,
            );
            if t & 8 != 0 {
                c.check(
                    t & 2 != 0,
                    SEC_SEG,
                    &format!("{name}: a code segment must be readable"),
                    || format!("{name} type {t}"),
                    Cond::Always,
                );
            }
            c.check(
                s.s(),
                SEC_SEG,
                &format!("{name}.S must be 1"),
                || format!("{name} attrs {:#x}", s.attrs()),
                Cond::Always,
            );
            if t <= 11 {
                c.check(
                    s.dpl() >= s.rpl(),
                    SEC_SEG,
                    &format!("{name}.DPL must not be below its RPL (without unrestricted guest)"),
                    || format!("{name}.DPL={} RPL={}", s.dpl(), s.rpl()),
                    Cond::NoUnrestrictedGuest,
                );
            }
            c.check(
                limit_g_ok(&s),
                SEC_SEG,
                &format!("{name} limit and G must agree"),
                || format!("{name} limit {:#x}, G={}", s.limit, u8::from(s.g())),
                Cond::Always,
            );
            if name == "FS" || name == "GS" {
                c.check(
                    canonical(s.base, la57),
                    SEC_SEG,
                    &format!("{name} base must be canonical"),
                    || format!("{name} base {:#x}", s.base),
                    Cond::Always,
                );
            } else {
                c.check(
                    s.base >> 32 == 0,
                    SEC_SEG,
                    &format!("{name} base bits 63:32 must be 0"),
                    || format!("{name} base {:#x}", s.base),
                    Cond::Always,
                );
            }
        }
        c.check(
            cs.base >> 32 == 0,
            SEC_SEG,
            "CS base bits 63:32 must be 0",
            || format!("CS base {:#x}", cs.base),
            Cond::Always,
        );
    }
    // TR and LDTR
    match f.seg(SegName::Tr) {
        Some(tr) => {
            let t = tr.seg_type();
            c.check(
                tr.selector & 4 == 0,
                SEC_SEG,
                "TR selector TI flag must be 0",
                || format!("TR selector {:#x}", tr.selector),
                Cond::Always,
            );
            c.check(
                if ia32e { t == 11 } else { t == 3 || t == 11 },
                SEC_SEG,
                "TR type must be 11 (busy 32/64-bit TSS), or 3 (busy 16-bit TSS) outside IA-32e mode",
                || format!("TR type {t}"), Cond::Always,
            );
            c.check(
                !tr.s(),
                SEC_SEG,
                "TR.S must be 0 (system descriptor)",
                || format!("TR attrs {:#x}", tr.attrs()),
                Cond::Always,
            );
            c.check(
                tr.present(),
                SEC_SEG,
                "TR.P must be 1 (TR must be usable)",
                || format!("TR attrs {:#x}", tr.attrs()),
                Cond::Always,
            );
            c.check(
                limit_g_ok(&tr),
                SEC_SEG,
                "TR limit and G must agree",
                || format!("TR limit {:#x}", tr.limit),
                Cond::Always,
            );
            c.check(
                canonical(tr.base, la57),
                SEC_SEG,
                "TR base must be canonical",
                || format!("TR base {:#x}", tr.base),
                Cond::Always,
            );
        }
        None => c.rep.not_evaluable.push("TR not in the dump"),
    }
    if let Some(ldt) = f.seg(SegName::Ldt).filter(|s| s.present()) {
        c.check(
            ldt.selector & 4 == 0,
            SEC_SEG,
            "LDTR selector TI flag must be 0",
            || format!("LDTR selector {:#x}", ldt.selector),
            Cond::Always,
        );
        c.check(
            ldt.seg_type() == 2 && !ldt.s(),
            SEC_SEG,
            "LDTR type must be 2 with S=0",
            || format!("LDTR attrs {:#x}", ldt.attrs()),
            Cond::Always,
        );
        c.check(
            limit_g_ok(&ldt),
            SEC_SEG,
            "LDTR limit and G must agree",
            || format!("LDTR limit {:#x}", ldt.limit),
            Cond::Always,
        );
    }

    // --- GDTR / IDTR
    for (name, t) in [("GDTR", f.cpu.gdt), ("IDTR", f.cpu.idt)] {
        let Some(t) = t else { continue };
        c.check(
            t.limit >> 16 == 0,
            SEC_DT,
            &format!("{name} limit bits 31:16 must be 0"),
            || format!("{name} limit {:#x}", t.limit),
            Cond::Always,
        );
        c.check(
            canonical(t.base, la57),
            SEC_DT,
            &format!("{name} base must be canonical"),
            || format!("{name} base {:#x}", t.base),
            Cond::Always,
        );
    }

    // --- RIP and RFLAGS
    if let Some(rip) = f.rip() {
        if ia32e && cs.l() {
            c.check(
                canonical(rip, la57),
                SEC_RIP,
                "RIP must be canonical in 64-bit mode",
                || format!("RIP={rip:#x}"),
                Cond::Always,
            );
        } else {
            c.check(
                rip >> 32 == 0,
                SEC_RIP,
                "RIP bits 63:32 must be 0 outside 64-bit mode",
                || format!("RIP={rip:#x}"),
                Cond::Always,
            );
        }
    }
    if let Some(fl) = f.rflags() {
        let reserved =
            (fl >> 22 != 0) || fl & (1 << 15) != 0 || fl & (1 << 5) != 0 || fl & (1 << 3) != 0;
        c.check(
            !reserved,
            SEC_RIP,
            "RFLAGS reserved bits 63:22, 15, 5 and 3 must be 0",
            || format!("RFLAGS={fl:#x}"),
            Cond::Always,
        );
        c.check(
            fl & 2 != 0,
            SEC_RIP,
            "RFLAGS bit 1 must be 1",
            || format!("RFLAGS={fl:#x}"),
            Cond::Always,
        );
        if fl & RFLAGS_VM != 0 {
            c.check(
                pe && !ia32e,
                SEC_RIP,
                "RFLAGS.VM requires CR0.PE=1 and no IA-32e mode",
                || format!("RFLAGS={fl:#x} CR0={cr0:#x}"),
                Cond::Always,
            );
        }
    }
    // --- Activity state
    if f.hlt() == Some(true) {
        if let Some(ss) = f.seg(SegName::Ss) {
            c.check(
                ss.dpl() == 0,
                SEC_NONREG,
                "activity state HLT requires SS.DPL=0",
                || format!("HLT=1 with SS.DPL={}", ss.dpl()),
                Cond::HltActivity,
            );
        }
    }
    rep
}
