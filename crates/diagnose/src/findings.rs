//! Findings: small rules that relate the dump's values to each other, as a maintainer's first
//! moves do (CR2 against RIP and RSP, a GPA against CR3, the reset and SMM entry states, platform
//! regions, the code window's contents, impossible combinations in the exit data).
//!
//! Each rule is a function over [`Facts`] and the decoded [`Classification`]; it returns a
//! [`Finding`] only when the values it needs are in the dump, and its evidence lists exactly those
//! fields and values. Sources of each rule are in docs/diagnosis.md.

use kvmtriage_model::{Gpr, SegName};
use serde::Serialize;

use crate::catalogue::{platform_region, PlatformRegion};
use crate::facts::{CodeWindowExt, Event, Facts, SegmentExt, CR0_PG, EFER_LMA, EFER_LME};
use crate::verdict::Classification;

/// One value a finding used: a field of the dump (`cr2`, `rip`, `cs.base`, `extra_data[3]`,
/// `hardware_error`, …) and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub field: String,
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub value: u64,
}

/// An address inside a platform region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionHit {
    /// What the address is: `code address`, `GPA from the exit data`, `memory operand`, ….
    pub what: &'static str,
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub address: u64,
    #[serde(flatten)]
    pub region: PlatformRegion,
}

/// A fact computed from the dump by relating its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier (docs/diagnosis.md lists them).
    pub id: &'static str,
    /// One line, every value in it taken from `evidence`.
    pub text: String,
    pub evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionHit>,
}

fn ev(field: impl Into<String>, value: u64) -> Evidence {
    Evidence {
        field: field.into(),
        value,
    }
}

fn finding(id: &'static str, text: String, evidence: Vec<Evidence>) -> Finding {
    Finding {
        id,
        text,
        evidence,
        region: None,
    }
}

/// Every rule, in the order the report lists them.
pub fn findings(f: &Facts, cls: &Classification) -> Vec<Finding> {
    let mut out = Vec::new();
    let rules: [fn(&Facts, &Classification) -> Option<Finding>; 13] = [
        svm_vmrun_failed,
        invalid_suberror,
        long_mode_cs_without_lma,
        impossible_vectoring,
        gpa_in_page_table,
        code_fetch_fault,
        stack_access_fault,
        reset_state,
        stale_state_after_reset,
        smm_entry_state,
        split_lock,
        filler_code,
        not_kvm,
    ];
    for rule in rules {
        if let Some(x) = rule(f, cls) {
            out.push(x);
        }
    }
    out.extend(mmio_regions(f, cls));
    out
}

/// Linear address of the instruction pointer, with the evidence it was computed from.
fn linear_rip(f: &Facts) -> Option<(u64, Vec<Evidence>)> {
    let rip = f.rip()?;
    let la = f.mode.code_address(f.cpu)?;
    let mut e = vec![ev("rip", rip)];
    if f.mode.bits != Some(64) {
        let cs = f.seg(SegName::Cs)?;
        e.push(ev("cs.base", cs.base));
    }
    Some((la, e))
}

/// `code-fetch-fault`: CR2 equals the linear RIP: the last page fault was on fetching the
/// instruction at RIP (SDM Vol. 3A §4.7: CR2 holds the linear address that faulted).
fn code_fetch_fault(f: &Facts, _: &Classification) -> Option<Finding> {
    let cr2 = f.cr2()?;
    let (la, mut e) = linear_rip(f)?;
    if cr2 != la || cr2 == 0 {
        return None;
    }
    e.insert(0, ev("cr2", cr2));
    Some(finding(
        "code-fetch-fault",
        format!("CR2={cr2:#x} equals the linear RIP: the last page fault was on fetching the instruction itself"),
        e,
    ))
}

/// `stack-access-fault`: CR2 within 16 bytes of the stack pointer: a push, call or pop faulted.
fn stack_access_fault(f: &Facts, _: &Classification) -> Option<Finding> {
    let cr2 = f.cr2()?;
    let rsp = f.rsp()?;
    let mut e = vec![ev("cr2", cr2), ev("rsp", rsp)];
    let sp = if f.mode.bits == Some(64) {
        rsp
    } else {
        let ss = f.seg(SegName::Ss)?;
        e.push(ev("ss.base", ss.base));
        ss.base.wrapping_add(rsp) & 0xffff_ffff
    };
    if cr2 == 0 || cr2.abs_diff(sp) > 16 {
        return None;
    }
    let delta = cr2 as i128 - sp as i128;
    Some(finding(
        "stack-access-fault",
        format!(
            "CR2={cr2:#x} is {} bytes {} the stack pointer {sp:#x}: a push, call or pop faulted (the stack is not mapped or not writable)",
            delta.unsigned_abs(),
            if delta < 0 { "below" } else { "at or above" }
        ),
        e,
    ))
}

/// The root paging-structure page CR3 points to, its entry size, level name and the number of
/// linear-address bits each root entry maps (SDM Vol. 3A §4.5, §4.4, §4.3).
struct Root {
    base: u64,
    size: u64,
    entry: u64,
    level: &'static str,
    shift: u32,
    sign_extend_from: u32,
}

fn paging_root(f: &Facts) -> Option<Root> {
    use kvmtriage_model::PagingMode as P;
    let cr3 = f.cr3()?;
    Some(match f.mode.paging {
        P::FourLevel => Root {
            base: cr3 & 0x000f_ffff_ffff_f000,
            size: 4096,
            entry: 8,
            level: "PML4",
            shift: 39,
            sign_extend_from: 48,
        },
        P::FiveLevel => Root {
            base: cr3 & 0x000f_ffff_ffff_f000,
            size: 4096,
            entry: 8,
            level: "PML5",
            shift: 48,
            sign_extend_from: 57,
        },
        P::Pae => Root {
            base: cr3 & 0xffff_ffe0,
            size: 32,
            entry: 8,
            level: "PDPT",
            shift: 30,
            sign_extend_from: 64,
        },
        P::Bits32 => Root {
            base: cr3 & 0xffff_f000,
            size: 4096,
            entry: 4,
            level: "page directory",
            shift: 22,
            sign_extend_from: 64,
        },
        _ => return None,
    })
}

/// `gpa-in-page-table`: a GPA from the exit data lies in the page CR3 points to: the guest's own
/// top-level page table sits in memory KVM treats as MMIO (or unbacked).
fn gpa_in_page_table(f: &Facts, cls: &Classification) -> Option<Finding> {
    let ie = cls.internal_error.as_ref()?;
    let gpa = ie.gpa_value?;
    let gpa_index = ie
        .fields
        .iter()
        .find(|x| x.name == "guest_physical_address")
        .map(|x| x.index)?;
    let root = paging_root(f)?;
    if gpa < root.base || gpa >= root.base + root.size {
        return None;
    }
    let index = (gpa - root.base) / root.entry;
    let lo = index << root.shift;
    let lo = if root.sign_extend_from < 64 && lo >> (root.sign_extend_from - 1) & 1 == 1 {
        lo | !((1u64 << root.sign_extend_from) - 1)
    } else {
        lo
    };
    let hi = lo.wrapping_add((1u64 << root.shift) - 1);
    let cr3 = f.cr3()?;
    Some(finding(
        "gpa-in-page-table",
        format!(
            "the GPA {gpa:#x} from the exit data lies in the {} page CR3={cr3:#x} points to (entry {index}, which maps linear {lo:#x}-{hi:#x}): the guest's top-level page table is in memory KVM treats as MMIO",
            root.level
        ),
        vec![ev(format!("extra_data[{gpa_index}]"), gpa), ev("cr3", cr3)],
    ))
}

/// True when RIP/CS/CR0 hold the architectural reset values (SDM Vol. 3A §10.1.1, Table 10-1).
fn reset_core(f: &Facts) -> Option<Vec<Evidence>> {
    let cs = f.seg(SegName::Cs)?;
    let rip = f.rip()?;
    if rip != 0xfff0 || cs.selector != 0xf000 || cs.base != 0xffff_0000 {
        return None;
    }
    Some(vec![
        ev("rip", rip),
        ev("cs.selector", u64::from(cs.selector)),
        ev("cs.base", cs.base),
    ])
}

/// Values that contradict the reset state, each with its evidence.
fn reset_contradictions(f: &Facts) -> Vec<(String, Evidence)> {
    let mut out = Vec::new();
    if let Some(cs) = f.seg(SegName::Cs) {
        if cs.l() || cs.g() || cs.db() {
            out.push((
                format!("CS attributes {:08x} set L/G/D", cs.attrs()),
                ev("cs.attributes", u64::from(cs.attrs())),
            ));
        }
    }
    if let Some(ss) = f.seg(SegName::Ss) {
        if ss.db() {
            out.push((
                format!("SS.DB=1 (attributes {:08x})", ss.attrs()),
                ev("ss.attributes", u64::from(ss.attrs())),
            ));
        }
    }
    if let Some(cr4) = f.cr4().filter(|v| *v != 0) {
        out.push((format!("CR4={cr4:#x}"), ev("cr4", cr4)));
    }
    if let Some(efer) = f.efer().filter(|v| *v != 0) {
        out.push((format!("EFER={efer:#x}"), ev("efer", efer)));
    }
    if let Some(rf) = f.rflags().filter(|v| *v != 2) {
        out.push((format!("RFLAGS={rf:#x}"), ev("rflags", rf)));
    }
    if let Some(cr0) = f.cr0().filter(|v| *v & 1 != 0 || *v & CR0_PG != 0) {
        out.push((format!("CR0={cr0:#x}"), ev("cr0", cr0)));
    }
    out
}

/// `reset-state`: the vCPU holds the reset values and nothing contradicts them: it never ran.
fn reset_state(f: &Facts, _: &Classification) -> Option<Finding> {
    let mut e = reset_core(f)?;
    if !reset_contradictions(f).is_empty() {
        return None;
    }
    let cr0 = f.cr0()?;
    if cr0 != 0x6000_0010 {
        return None;
    }
    e.push(ev("cr0", cr0));
    let mut text = "RIP=0xfff0, CS=f000 base 0xffff0000, CR0=0x60000010: the architectural reset state; the vCPU has not executed an instruction since reset".to_string();
    if let Some(edx) = f.cpu.gpr(Gpr::Rdx).filter(|v| *v != 0) {
        text.push_str(&format!(
            " (EDX={edx:#x} is the processor signature it starts with)"
        ));
        e.push(ev("rdx", edx));
    }
    Some(finding("reset-state", text, e))
}

/// `stale-state-after-reset`: reset values in RIP/CS but other registers still hold state from
/// before: a reset applied over nested or SMM state, or an incomplete INIT.
fn stale_state_after_reset(f: &Facts, _: &Classification) -> Option<Finding> {
    let mut e = reset_core(f)?;
    let bad = reset_contradictions(f);
    if bad.is_empty() {
        return None;
    }
    let words: Vec<String> = bad.iter().map(|(w, _)| w.clone()).collect();
    e.extend(bad.into_iter().map(|(_, x)| x));
    Some(finding(
        "stale-state-after-reset",
        format!(
            "RIP and CS hold the reset values but {} do not: state left from before the reset (a reset applied over nested-guest or SMM state)",
            words.join(", ")
        ),
        e,
    ))
}

/// `smm-entry-state`: the state KVM loads on an SMI (arch/x86/kvm/smm.c enter_smm(); SDM Vol. 3C
/// §32.5.1 Table 32-4): SMM=1, EIP=0x8000, CS.base = SMBASE, CS.selector = SMBASE >> 4.
fn smm_entry_state(f: &Facts, _: &Classification) -> Option<Finding> {
    if f.smm() != Some(true) {
        return None;
    }
    let rip = f.rip()?;
    let cs = f.seg(SegName::Cs)?;
    if rip != 0x8000 || u64::from(cs.selector) != (cs.base >> 4) & 0xffff || cs.base & 0xf != 0 {
        return None;
    }
    Some(finding(
        "smm-entry-state",
        format!(
            "SMM=1, EIP=0x8000, CS={:04x} base {:#x}: the state of an SMI just taken (SMBASE {:#x}); the fault is in the SMM handler's first instruction",
            cs.selector, cs.base, cs.base
        ),
        vec![
            ev("smm", 1),
            ev("rip", rip),
            ev("cs.selector", u64::from(cs.selector)),
            ev("cs.base", cs.base),
        ],
    ))
}

/// `long-mode-cs-without-lma`: CS.L=1 while IA-32e mode is not active. KVM_SET_SREGS rejects
/// that state with EINVAL (arch/x86/kvm/x86.c __kvm_is_valid_sregs(): without EFER.LME and
/// CR0.PG, EFER.LMA and CS.L must be 0).
fn long_mode_cs_without_lma(f: &Facts, _: &Classification) -> Option<Finding> {
    let cs = f.seg(SegName::Cs)?;
    let efer = f.efer()?;
    if !cs.l() || !cs.is_code() || efer & EFER_LMA != 0 {
        return None;
    }
    let mut e = vec![ev("cs.attributes", u64::from(cs.attrs())), ev("efer", efer)];
    let lme_pg = efer & EFER_LME != 0 && f.cr0().is_some_and(|c| c & CR0_PG != 0);
    if let Some(cr0) = f.cr0() {
        e.push(ev("cr0", cr0));
    }
    let why = if lme_pg {
        "EFER.LME=1 and CR0.PG=1 but EFER.LMA=0, which KVM_SET_SREGS rejects with EINVAL"
    } else {
        "CS.L=1 outside IA-32e mode, which KVM_SET_SREGS rejects with EINVAL"
    };
    let mut text = format!(
        "CS is a 64-bit code segment (L=1, attributes {:08x}) but EFER.LMA=0 (EFER={efer:#x}): {why}",
        cs.attrs()
    );
    if matches!(&f.event, Event::Other { message } if message.contains("put registers")) {
        text.push_str("; this is why QEMU could not put the registers");
    }
    Some(finding("long-mode-cs-without-lma", text, e))
}

/// VMX basic exit reasons that only happen at an instruction boundary (the instruction caused
/// the exit), so IDT-vectoring information cannot be valid with them (SDM Vol. 3C §28.2.4: only
/// exits during event delivery have valid IDT-vectoring information).
const BOUNDARY_EXITS: &[u32] = &[
    10, // CPUID
    12, // HLT
    13, // INVD
    14, // INVLPG
    15, // RDPMC
    16, // RDTSC
    18, // VMCALL
    28, // control-register access
    29, // MOV DR
    30, // I/O instruction
    31, // RDMSR
    32, // WRMSR
    36, // MWAIT
    39, // MONITOR
    40, // PAUSE
    51, // RDTSCP
    54, // WBINVD
    55, // XSETBV
];

/// `impossible-vectoring`: valid IDT-vectoring info on an exit that only happens at an
/// instruction boundary: the extra data is not what KVM's VMX code writes (a vendor kernel,
/// another hypervisor underneath, or a corrupted report).
fn impossible_vectoring(_f: &Facts, cls: &Classification) -> Option<Finding> {
    let ie = cls.internal_error.as_ref()?;
    let er = ie.exit_reason.as_ref()?;
    let idt = ie.events.first().filter(|e| e.valid)?;
    if !BOUNDARY_EXITS.contains(&er.basic) || er.name.is_none() {
        return None;
    }
    let field = |name: &str| ie.fields.iter().find(|x| x.name.starts_with(name));
    let er_field = field("exit_reason")?;
    let idt_field = field("idt_vectoring_info")?;
    Some(finding(
        "impossible-vectoring",
        format!(
            "valid IDT-vectoring info (vector {}) on a {} exit, which only happens at an instruction boundary, never during event delivery: the extra data does not describe one real VM exit",
            idt.vector,
            er.name.unwrap_or("?")
        ),
        vec![
            ev(format!("extra_data[{}]", er_field.index), u64::from(er.basic)),
            ev(
                format!("extra_data[{}]", idt_field.index),
                idt_field.value,
            ),
        ],
    ))
}

/// `svm-vmrun-failed`: an entry failure whose code is SVM_EXIT_ERR (all ones, 32 or 64 bits):
/// VMRUN's consistency checks failed on an AMD host (arch/x86/kvm/svm/svm.c svm_handle_exit()).
fn svm_vmrun_failed(f: &Facts, _: &Classification) -> Option<Finding> {
    let Event::EntryFailed { hardware_reason } = f.event else {
        return None;
    };
    if hardware_reason != u64::MAX && hardware_reason != 0xffff_ffff {
        return None;
    }
    Some(finding(
        "svm-vmrun-failed",
        format!("hardware error {hardware_reason:#x} is SVM_EXIT_ERR (-1): VMRUN refused the VMCB on an AMD host; it is not a VMX exit reason"),
        vec![ev("hardware_error", hardware_reason)],
    ))
}

/// `invalid-suberror`: a KVM_EXIT_INTERNAL_ERROR suberror include/uapi/linux/kvm.h does not
/// define.
fn invalid_suberror(f: &Facts, _: &Classification) -> Option<Finding> {
    let Event::InternalError { suberror, .. } = f.event else {
        return None;
    };
    if kvmtriage_model::tables::suberror(suberror).is_some() {
        return None;
    }
    Some(finding(
        "invalid-suberror",
        format!("suberror {suberror} is not a KVM_INTERNAL_ERROR_* value (upstream defines 1-4): a vendor kernel or a corrupted report"),
        vec![ev("suberror", u64::from(suberror))],
    ))
}

/// `not-kvm`: the failure came from QEMU's TCG (a `qemu: fatal:` abort), not from KVM.
fn not_kvm(f: &Facts, _: &Classification) -> Option<Finding> {
    match &f.event {
        Event::TcgFatal { .. } => Some(finding(
            "not-kvm",
            "the failure line is QEMU's own fatal error under TCG (software emulation): KVM was not involved".into(),
            Vec::new(),
        )),
        _ => None,
    }
}

/// `split-lock`: an #AC exception exit (vector 17) at a locked access whose operand crosses a
/// cache line (SDM Vol. 3A §9.1.2.3 split locks; arch/x86/kernel/cpu/bus_lock.c).
fn split_lock(f: &Facts, _: &Classification) -> Option<Finding> {
    let Event::ExceptionExit { vector: 17, .. } = f.event else {
        return None;
    };
    let fault = f.fault?;
    let instr = fault.instruction.as_ref()?;
    // LOCK prefix, XCHG with memory (implicitly locked), or a descriptor access (segment load,
    // far branch: the CPU sets the accessed bit with a locked update).
    use kvmtriage_x86::EffectKind as K;
    let implicit = matches!(
        fault.effect.kind,
        K::SegmentLoad | K::FarBranch | K::FarReturn | K::InterruptReturn
    );
    let locked = instr.has_lock_prefix() || instr.mnemonic() == iced_x86::Mnemonic::Xchg;
    for (i, m) in fault.memory.iter().enumerate() {
        let (Some(addr), size) = (m.address, m.size as u64) else {
            continue;
        };
        if size == 0 {
            continue;
        }
        let last = addr.wrapping_add(size - 1);
        if addr / 64 != last / 64 && (locked || implicit) {
            return Some(finding(
                "split-lock",
                format!(
                    "#AC at a locked {size}-byte access to {addr:#x}-{last:#x}, which straddles the cache lines at {:#x} and {:#x}: a split lock (the host's split-lock detection sends #AC)",
                    addr & !63,
                    last & !63
                ),
                vec![ev("exception", 17), ev(format!("fault.memory[{i}].address"), addr)],
            ));
        }
    }
    None
}

/// `filler-code`: the code window is mostly one or two filler bytes (00, ff, cc, 90): the vCPU
/// executes data or unbacked memory.
fn filler_code(f: &Facts, _: &Classification) -> Option<Finding> {
    let code = f.code?;
    let known: Vec<u8> = code.bytes.iter().flatten().copied().collect();
    if known.len() < 16 {
        return None;
    }
    let mut counts = [0usize; 256];
    for b in &known {
        counts[usize::from(*b)] += 1;
    }
    let mut fillers: Vec<(u8, usize)> = [0x00u8, 0xff, 0xcc, 0x90]
        .iter()
        .map(|b| (*b, counts[usize::from(*b)]))
        .filter(|(_, n)| *n > 0)
        .collect();
    fillers.sort_by_key(|x| std::cmp::Reverse(x.1));
    let top: usize = fillers.iter().take(2).map(|x| x.1).sum();
    if top * 10 < known.len() * 9 || !code.is_filler() && top != known.len() {
        return None;
    }
    let names: Vec<String> = fillers
        .iter()
        .take(2)
        .map(|(b, _)| format!("{b:02x}"))
        .collect();
    Some(finding(
        "filler-code",
        format!(
            "{top} of the {} readable code bytes are {}: the vCPU is executing filler (zeroed, unbacked or padding memory), not code",
            known.len(),
            names.join("/")
        ),
        vec![ev("code.filler_bytes", top as u64), ev("code.readable_bytes", known.len() as u64)],
    ))
}

/// `mmio-region`: an address the failure involves lies in a platform region that is not RAM.
fn mmio_regions(f: &Facts, cls: &Classification) -> Vec<Finding> {
    let mut out = Vec::new();
    let paging_off = f.cr0().is_some_and(|c| c & CR0_PG == 0);
    let mut candidates: Vec<(&'static str, u64, Evidence)> = Vec::new();
    if paging_off {
        if let Some((la, e)) = linear_rip(f) {
            if let Some(last) = e.last().cloned() {
                candidates.push((
                    "code address",
                    la,
                    if f.mode.bits == Some(64) {
                        e[0].clone()
                    } else {
                        last
                    },
                ));
            }
        }
        if let Some(fault) = f.fault {
            for (i, m) in fault.memory.iter().enumerate() {
                if let Some(a) = m.address.filter(|_| m.size > 0) {
                    candidates.push((
                        "memory operand",
                        a,
                        ev(format!("fault.memory[{i}].address"), a),
                    ));
                }
            }
        }
    }
    if let Some(ie) = &cls.internal_error {
        if let (Some(gpa), Some(field)) = (
            ie.gpa_value,
            ie.fields
                .iter()
                .find(|x| x.name == "guest_physical_address"),
        ) {
            candidates.push((
                "GPA from the exit data",
                gpa,
                ev(format!("extra_data[{}]", field.index), gpa),
            ));
        }
    }
    let mut seen = Vec::new();
    for (what, address, e) in candidates {
        let Some(region) = platform_region(address) else {
            continue;
        };
        // Running or reading firmware from ROM is what firmware does; only a GPA the exit
        // data names is worth a finding there.
        if region.kind == crate::catalogue::RegionKind::Rom && what != "GPA from the exit data" {
            continue;
        }
        if seen.contains(&region.name) {
            continue;
        }
        seen.push(region.name);
        out.push(Finding {
            id: "mmio-region",
            text: format!(
                "the {what} {address:#x} is in the {} ({:#x}-{:#x}), which is {} rather than RAM",
                region.name,
                region.start,
                region.end,
                match region.kind {
                    crate::catalogue::RegionKind::Mmio => "device memory (MMIO)",
                    crate::catalogue::RegionKind::Rom => "firmware ROM",
                }
            ),
            evidence: vec![e],
            region: Some(RegionHit {
                what,
                address,
                region: *region,
            }),
        });
    }
    out
}
