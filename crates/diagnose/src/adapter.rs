//! `Facts::from_dump`: the only place that knows the kvmtriage-dump model.

use kvmtriage_dump::{Dump, Event as DumpEvent, Gpr, SegName};
use kvmtriage_x86::CodeAnalysis;

use crate::facts::{
    insn_class_of, CodeWindow, DescriptorTable, Event, Facts, Insn, MsrAccess, Segment, Segments,
};

fn parse_hex_bytes(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}

fn parse_index(s: &str) -> Option<u32> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(t, 16).ok()
}

fn seg(d: &Dump, n: SegName) -> Option<Segment> {
    d.segment(n).map(|s| Segment {
        selector: (s.selector & 0xffff) as u16,
        base: s.base,
        limit: (s.limit & 0xffff_ffff) as u32,
        // Descriptor bits 8–23 without the limit 19:16 nibble very old QEMU left in.
        attrs: (s.attributes & 0x00f0_ff00) as u32,
    })
}

impl Facts {
    /// Builds the facts from a parsed dump and, when given, kvmtriage-x86's analysis of its Code=
    /// window (the faulting instruction and the MSR it accessed). Without it, the instruction at
    /// the marker is decoded here with iced-x86 and WRMSR/RDMSR operands are read from ECX/EDX:EAX.
    pub fn from_dump(d: &Dump, code: Option<&CodeAnalysis>) -> Facts {
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
        let state = d.state.as_ref();
        let mut f = Facts {
            event,
            rax: d.gpr(Gpr::Rax),
            rbx: d.gpr(Gpr::Rbx),
            rcx: d.gpr(Gpr::Rcx),
            rdx: d.gpr(Gpr::Rdx),
            rsp: d.gpr(Gpr::Rsp),
            rip: d.rip(),
            rflags: d.rflags(),
            cpl: state.and_then(|s| s.cpl),
            smm: state.and_then(|s| s.smm).map(|v| v != 0),
            hlt: state.and_then(|s| s.hlt).map(|v| v != 0),
            cr0: d.cr(0),
            cr2: d.cr(2),
            cr3: d.cr(3),
            cr4: d.cr(4),
            efer: d.efer(),
            segments: Segments {
                es: seg(d, SegName::Es),
                cs: seg(d, SegName::Cs),
                ss: seg(d, SegName::Ss),
                ds: seg(d, SegName::Ds),
                fs: seg(d, SegName::Fs),
                gs: seg(d, SegName::Gs),
                ldt: seg(d, SegName::Ldt),
                tr: seg(d, SegName::Tr),
            },
            gdt: d.gdt.map(|t| DescriptorTable {
                base: t.base,
                limit: (t.limit & 0xffff_ffff) as u32,
            }),
            idt: d.idt.map(|t| DescriptorTable {
                base: t.base,
                limit: (t.limit & 0xffff_ffff) as u32,
            }),
            code: d.code.as_ref().map(|c| CodeWindow {
                bytes: c.bytes.clone(),
                marker: c.marker,
            }),
            insn: None,
            msr: None,
            truncated: d.is_damaged(),
        };
        if let Some(fault) = code.and_then(|c| c.fault.as_ref()).filter(|x| x.valid) {
            let bytes = parse_hex_bytes(&fault.bytes);
            // Re-decode the same bytes for the instruction class (x87/SSE/...): cheap, and keeps
            // one definition of the class.
            let class = insn_class_of(&bytes, f.bitness());
            f.insn = Some(Insn {
                mnemonic: fault.mnemonic.clone(),
                text: fault.text.clone(),
                bytes,
                class,
            });
            if let Some(m) = &fault.msr {
                if let Some(index) = m.index.as_deref().and_then(parse_index) {
                    f.msr = Some(MsrAccess {
                        index,
                        value: m.value,
                        write: m.direction == "write",
                        name: m.name.map(str::to_string),
                    });
                }
            }
        }
        f.decode_code_window();
        f
    }
}
