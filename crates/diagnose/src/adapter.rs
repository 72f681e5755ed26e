//! `Facts::from_dump`: the failure class from the dump's event line, and the faulting
//! instruction as kvmtriage-x86 decoded it. Registers stay in the dump's `CpuState`.

use kvmtriage_dump::{Dump, Event as DumpEvent};
use kvmtriage_x86::CodeAnalysis;

use crate::facts::{Event, Facts, Insn, MsrAccess};

impl<'a> Facts<'a> {
    /// The facts of a parsed dump and, when given, kvmtriage-x86's analysis of its code window
    /// (the faulting instruction and the MSR it accessed). Without an analysis (the mode is
    /// unknown, or there is no window) the diagnosis has no instruction: nothing here decodes
    /// bytes a second time or in another mode.
    pub fn from_dump(d: &'a Dump, code: Option<&'a CodeAnalysis>) -> Facts<'a> {
        let event = match &d.event {
            DumpEvent::RunFailed { errno, message, .. } => Event::RunFailed {
                errno: *errno,
                message: message.clone(),
            },
            DumpEvent::InternalError {
                suberror,
                extra_data,
                ..
            } => Event::InternalError {
                suberror: *suberror,
                data: extra_data.clone(),
            },
            DumpEvent::EntryFailed { hardware_error, .. } => Event::EntryFailed {
                hardware_reason: *hardware_error,
            },
            DumpEvent::ExceptionExit {
                exception,
                error_code,
                ..
            } => Event::ExceptionExit {
                vector: *exception,
                error_code: *error_code,
            },
            // "hardware reason" is the VMX/SVM exit code KVM could not map (KVM_EXIT_UNKNOWN);
            // "unknown exit reason N" is a KVM_EXIT_* code QEMU does not handle: different things.
            DumpEvent::UnknownExit { hardware_reason: Some(r), .. } => Event::UnknownExit { hardware_reason: *r },
            DumpEvent::UnknownExit { exit_reason: Some(r), .. } => Event::Other {
                message: format!(
                    "QEMU does not handle KVM exit reason {r} ({}); the VMM and the kernel disagree about which exits can happen",
                    crate::decode::kvm_exit_name(*r).unwrap_or("not in this table")
                ),
            },
            DumpEvent::UnknownExit { message, .. } => Event::Other { message: message.clone() },
            DumpEvent::TripleFault { .. } => Event::TripleFault,
            DumpEvent::Fatal { message, .. } => Event::TcgFatal {
                message: message.clone(),
            },
            DumpEvent::NotifyExit { .. } => Event::Other {
                message: "KVM internal error: notify VM exit with invalid context in the guest"
                    .into(),
            },
            DumpEvent::RegistersFailed { message, .. } => Event::Other {
                message: message.clone(),
            },
            DumpEvent::CpuReset { cpu, .. } => Event::Snapshot {
                origin: format!(
                    "-d cpu_reset log (CPU Reset, CPU {cpu}): the state just before a reset"
                ),
            },
            DumpEvent::None => Event::None,
        };
        let mut f = Facts {
            event,
            cpu: &d.cpu,
            mode: &d.mode,
            code: d.code.as_ref(),
            fault: None,
            insn: None,
            msr: None,
            truncated: damage_used(d),
        };
        if let Some(fault) = code.and_then(|c| c.fault.as_ref()).filter(|x| x.valid) {
            f.fault = Some(fault);
            f.insn = Some(Insn {
                mnemonic: fault.mnemonic.clone(),
                text: fault.text.clone(),
                bytes: fault.bytes.clone(),
                class: fault.class().map(crate::catalogue::InsnClass::from),
            });
            if let Some(m) = &fault.msr {
                if let Some(index) = m.index {
                    f.msr = Some(MsrAccess {
                        index,
                        value: m.value,
                        write: m.direction == kvmtriage_x86::Direction::Write,
                        name: m.name.map(str::to_string),
                    });
                }
            }
        }
        if f.msr.is_none() {
            f.msr = f.msr_access_from_regs();
        }
        f
    }
}

/// Whether a damage warning concerns a value the diagnosis relies on: the event line, the code
/// window, RIP and the registers of the instruction analysis (RAX, RCX, RDX), and the inputs of the
/// CPU mode (CR0, EFER, CS, RFLAGS). A damaged line elsewhere (an FPU register, a cut-off trailing
/// line) does not lower the confidence (issue 8 item 9). A warning with no line (0) counts.
fn damage_used(d: &Dump) -> bool {
    use kvmtriage_model::{Field, Gpr, SegName};
    let used: Vec<u32> = [
        Field::Rip,
        Field::Rflags,
        Field::Gpr(Gpr::Rax),
        Field::Gpr(Gpr::Rcx),
        Field::Gpr(Gpr::Rdx),
        Field::Cr(0),
        Field::Efer,
        Field::Segment(SegName::Cs),
    ]
    .iter()
    .filter_map(|f| d.line(*f))
    .chain(d.event.line())
    .collect();
    let code = d.code.as_ref().map(|c| c.line);
    // A dump cut short lacks lines; that matters when what it lacks is what the mode and the
    // instruction analysis read (a missing CR0 is read as "paging off" by the region checks).
    let key_missing = [
        Field::Rip,
        Field::Cr(0),
        Field::Efer,
        Field::Segment(SegName::Cs),
    ]
    .iter()
    .any(|f| d.line(*f).is_none())
        || code.is_none();
    d.warnings.iter().filter(|w| w.kind.is_damage()).any(|w| {
        w.line == 0
            || (w.kind == kvmtriage_dump::WarningKind::Truncated && key_missing)
            || used.contains(&w.line)
            // The Code= line and its continuations.
            || code.is_some_and(|c| w.line >= c && w.line <= d.source.last_line)
    })
}
