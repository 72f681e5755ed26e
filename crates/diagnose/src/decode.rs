//! Decoding of what KVM reported: errno, internal-error suberrors and their extra data, entry-
//! failure codes, exception exits. Layouts are from the kernel's arch/x86/kvm (x86.c
//! prepare_emulation_failure_exit(), vmx/vmx.c handle_exception_nmi() and __vmx_handle_exit())
//! and include/uapi/linux/kvm.h.

use serde::Serialize;

use crate::catalogue::{errno_by_number, exit_reason, vm_instruction_error};
use crate::facts::{Facts, Insn};

/// KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES (include/uapi/linux/kvm.h).
const EMULATION_FLAG_INSTRUCTION_BYTES: u64 = 1;

/// A named extra-data word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataField {
    pub index: usize,
    pub name: &'static str,
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub value: u64,
    pub decoded: Option<String>,
}

/// A VMX exit reason word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExitReasonReport {
    pub raw: String,
    pub basic: u32,
    pub name: Option<&'static str>,
    pub description: Option<&'static str>,
    /// Bit 31: VM-entry failure (SDM Vol. 3C §28.2.1).
    pub failed_entry: bool,
}

/// Interruption information (exit interruption info or IDT-vectoring info; SDM Vol. 3C §25.9.2,
/// §25.9.3; §24.9 in pre-2023 editions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    pub raw: String,
    pub valid: bool,
    pub vector: u32,
    pub vector_name: Option<&'static str>,
    pub event_type: &'static str,
    pub error_code_valid: bool,
}

/// The instruction bytes KVM attached to an emulation failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmulatedInstruction {
    pub length_field: u8,
    pub bytes: String,
    pub decoded: Option<Insn>,
    /// Whether the bytes agree with the Code= window at the marker (None: nothing to compare).
    pub matches_code_window: Option<bool>,
}

/// Decoded KVM_EXIT_INTERNAL_ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InternalErrorReport {
    pub suberror: u32,
    pub name: &'static str,
    pub meaning: &'static str,
    /// Which layout the extra data was decoded with, or why it was not.
    pub layout: String,
    pub layout_recognised: bool,
    pub fields: Vec<DataField>,
    pub instruction: Option<EmulatedInstruction>,
    pub exit_reason: Option<ExitReasonReport>,
    pub events: Vec<EventInfo>,
    pub gpa: Option<String>,
    pub gpa_value: Option<u64>,
    pub notes: Vec<String>,
}

/// Decoded KVM_EXIT_FAIL_ENTRY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryFailureReport {
    pub hardware_reason: String,
    /// vmx_failed_entry | vm_instruction_error | svm_vmexit_invalid | unknown
    pub kind: &'static str,
    pub exit_reason: Option<ExitReasonReport>,
    pub vm_instruction_error: Option<u32>,
    pub description: String,
}

pub use kvmtriage_model::hex::{bytes as hex_bytes, min as hex, push_min as push_hex};

pub fn exit_reason_report(raw: u64) -> ExitReasonReport {
    let basic = (raw & 0xffff) as u32;
    let info = if raw >> 32 == 0 {
        exit_reason(basic)
    } else {
        None
    };
    ExitReasonReport {
        raw: hex(raw),
        basic,
        name: info.map(|i| i.name),
        description: info.map(|i| i.description),
        failed_entry: raw >> 32 == 0 && raw & (1 << 31) != 0,
    }
}

/// KVM_EXIT_* names by number (include/uapi/linux/kvm.h).
pub fn kvm_exit_name(n: u64) -> Option<&'static str> {
    kvmtriage_model::tables::kvm_exit_name(n)
}

/// Exception mnemonics for vectors 0–31 (SDM Vol. 3A Table 6-1).
pub fn vector_name(v: u32) -> Option<&'static str> {
    Some(kvmtriage_model::tables::exception(v).map_or("reserved", |e| e.mnemonic))
        .filter(|_| v < 32)
}

pub fn event_info(raw: u64) -> EventInfo {
    let r = raw as u32;
    let event_type = match (r >> 8) & 7 {
        0 => "external interrupt",
        1 => "reserved",
        2 => "NMI",
        3 => "hardware exception",
        4 => "software interrupt",
        5 => "privileged software exception",
        6 => "software exception",
        _ => "other event",
    };
    let vector = r & 0xff;
    let typ = (r >> 8) & 7;
    EventInfo {
        raw: hex(raw),
        valid: r & (1 << 31) != 0,
        vector,
        vector_name: if typ == 3 || typ == 5 || typ == 6 {
            vector_name(vector)
        } else {
            None
        },
        event_type,
        error_code_valid: r & (1 << 11) != 0,
    }
}

fn field(index: usize, name: &'static str, value: u64, decoded: Option<String>) -> DataField {
    DataField {
        index,
        name,
        value,
        decoded,
    }
}

fn describe_event(e: &EventInfo) -> String {
    if !e.valid {
        return "not valid".to_string();
    }
    match e.vector_name {
        Some(n) => format!(
            "valid, {} vector {} ({n}){}",
            e.event_type,
            e.vector,
            if e.error_code_valid {
                ", error code valid"
            } else {
                ""
            }
        ),
        None => format!("valid, {} vector {}", e.event_type, e.vector),
    }
}

fn describe_reason(r: &ExitReasonReport) -> String {
    match r.name {
        Some(n) => format!("{} {} ({})", r.basic, n, r.description.unwrap_or("")),
        None => format!(
            "{} (not a VMX basic exit reason known to this table)",
            r.raw
        ),
    }
}

/// Decodes KVM_EXIT_INTERNAL_ERROR extra data.
pub fn internal_error(suberror: u32, data: &[u64], facts: &Facts) -> InternalErrorReport {
    let (name, meaning) = match suberror {
        1 => (
            "KVM_INTERNAL_ERROR_EMULATION",
            "the instruction emulator could not emulate an instruction",
        ),
        2 => (
            "KVM_INTERNAL_ERROR_SIMUL_EX",
            "an exception occurred while another event was being delivered",
        ),
        3 => (
            "KVM_INTERNAL_ERROR_DELIVERY_EV",
            "a VM exit KVM cannot handle happened during event delivery",
        ),
        4 => (
            "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON",
            "the CPU reported an exit reason KVM has no handler for",
        ),
        _ => ("unknown suberror", "a suberror this tool does not know"),
    };
    let mut rep = InternalErrorReport {
        suberror,
        name,
        meaning,
        layout: String::new(),
        layout_recognised: false,
        fields: Vec::new(),
        instruction: None,
        exit_reason: None,
        events: Vec::new(),
        gpa: None,
        gpa_value: None,
        notes: Vec::new(),
    };
    let n = data.len();
    let get = |i: usize| data.get(i).copied().unwrap_or(0);
    match suberror {
        1 => {
            if n == 0 {
                rep.layout =
                    "no extra data: kernels before 5.14 sent none for a plain emulation failure"
                        .into();
                rep.layout_recognised = true;
                return rep;
            }
            let flags = get(0);
            let with_bytes = flags & EMULATION_FLAG_INSTRUCTION_BYTES != 0;
            let base = if with_bytes { 3 } else { 1 };
            if flags & !EMULATION_FLAG_INSTRUCTION_BYTES != 0 || n < base + 5 {
                rep.layout = format!(
                    "{n} words that do not fit the 5.14+ emulation-failure layout (flags, [insn size+bytes], 5 exit-info words): older kernel or vendor layout, not decoded"
                );
                for (i, v) in data.iter().enumerate() {
                    rep.fields.push(field(i, "unknown", *v, None));
                }
                return rep;
            }
            rep.layout_recognised = true;
            rep.layout = if with_bytes {
                "5.14+ emulation-failure layout with instruction bytes".into()
            } else {
                "5.14+ emulation-failure layout without instruction bytes (the instruction could not be fetched)".into()
            };
            rep.fields.push(field(
                0,
                "flags",
                flags,
                Some(if with_bytes {
                    "instruction bytes present".into()
                } else {
                    "no instruction bytes".into()
                }),
            ));
            if with_bytes {
                let mut raw = [0u8; 16];
                raw[..8].copy_from_slice(&get(1).to_le_bytes());
                raw[8..].copy_from_slice(&get(2).to_le_bytes());
                let size = raw[0];
                let len = usize::from(size.min(15));
                let bytes: Vec<u8> = raw[1..1 + len].to_vec();
                let decoded = facts
                    .bitness()
                    .and_then(|b| decode_extra_data_insn(&bytes, b, facts.rip().unwrap_or(0)));
                let window = facts
                    .code
                    .as_ref()
                    .map(|c| c.at_marker())
                    .unwrap_or_default();
                let matches_code_window = if window.is_empty() || bytes.is_empty() {
                    None
                } else {
                    let k = window.len().min(bytes.len());
                    Some(window[..k] == bytes[..k])
                };
                rep.fields.push(field(
                    1,
                    "insn_size + insn_bytes[0..7]",
                    get(1),
                    Some(format!("size {size}")),
                ));
                rep.fields.push(field(2, "insn_bytes[7..15]", get(2), None));
                rep.instruction = Some(EmulatedInstruction {
                    length_field: size,
                    bytes: hex_bytes(&bytes),
                    decoded,
                    matches_code_window,
                });
                if matches_code_window == Some(false) {
                    rep.notes.push("the instruction bytes KVM fetched differ from QEMU's Code= window at RIP (the guest changed the code, or the window was read through different mappings)".into());
                }
            }
            let er = exit_reason_report(get(base));
            rep.fields.push(field(
                base,
                "exit_reason",
                get(base),
                Some(describe_reason(&er)),
            ));
            rep.fields.push(field(
                base + 1,
                "exit_qualification (info1)",
                get(base + 1),
                None,
            ));
            let idt = event_info(get(base + 2));
            rep.fields.push(field(
                base + 2,
                "idt_vectoring_info (info2)",
                get(base + 2),
                Some(describe_event(&idt)),
            ));
            let intr = event_info(get(base + 3));
            rep.fields.push(field(
                base + 3,
                "exit_interrupt_info",
                get(base + 3),
                Some(describe_event(&intr)),
            ));
            rep.fields
                .push(field(base + 4, "error_code", get(base + 4), None));
            for i in base + 5..n {
                let name = if i == n - 1 {
                    "last_vmentry_cpu (if the path adds it)"
                } else {
                    "extra"
                };
                rep.fields.push(field(i, name, get(i), None));
            }
            if er.name.is_none() && get(base) != 0 {
                rep.notes.push(format!(
                    "exit reason {} is not a VMX basic exit reason: an SVM exit code or a non-VMX implementation (PVM reports 0x1000)",
                    hex(get(base))
                ));
            }
            if er.basic == 49 && er.name.is_some() {
                rep.notes.push("exit reason 49 (EPT misconfiguration) is KVM's MMIO path: the instruction accessed MMIO".into());
            }
            rep.exit_reason = Some(er);
            if idt.valid {
                rep.events.push(idt);
            }
        }
        2 => {
            if n < 2 {
                rep.layout = format!("{n} words: too few for the SIMUL_EX layout, not decoded");
                return rep;
            }
            rep.layout_recognised = true;
            rep.layout = match n {
                2 => "old layout: IDT-vectoring info, exit interrupt info".into(),
                3 => "layout: IDT-vectoring info, exit interrupt info, error code".into(),
                _ => "5.x layout: IDT-vectoring info, exit interrupt info, error code, last VM-entry CPU".into(),
            };
            let idt = event_info(get(0));
            let intr = event_info(get(1));
            rep.fields.push(field(
                0,
                "idt_vectoring_info",
                get(0),
                Some(describe_event(&idt)),
            ));
            rep.fields.push(field(
                1,
                "exit_interrupt_info",
                get(1),
                Some(describe_event(&intr)),
            ));
            if n >= 3 {
                rep.fields.push(field(2, "error_code", get(2), None));
            }
            if n >= 4 {
                rep.fields.push(field(3, "last_vmentry_cpu", get(3), None));
            }
            rep.events.push(idt);
            rep.events.push(intr);
        }
        3 => {
            if n < 3 {
                rep.layout = format!("{n} words: too few for the DELIVERY_EV layout, not decoded");
                return rep;
            }
            rep.layout_recognised = true;
            let idt = event_info(get(0));
            let er = exit_reason_report(get(1));
            rep.fields.push(field(
                0,
                "idt_vectoring_info",
                get(0),
                Some(describe_event(&idt)),
            ));
            rep.fields
                .push(field(1, "exit_reason", get(1), Some(describe_reason(&er))));
            rep.fields
                .push(field(2, "exit_qualification", get(2), None));
            let misconfig = er.basic == 49 && er.name.is_some();
            let mut next = 3;
            if misconfig && n >= 4 {
                rep.fields.push(field(
                    3,
                    "guest_physical_address",
                    get(3),
                    Some("GPA of the EPT misconfiguration (MMIO)".into()),
                ));
                rep.gpa = Some(hex(get(3)));
                rep.gpa_value = Some(get(3));
                next = 4;
            }
            if n > next {
                rep.fields
                    .push(field(next, "last_vmentry_cpu", get(next), None));
            }
            rep.layout = format!(
                "DELIVERY_EV layout: vectoring info, exit reason, qualification{}{}",
                if next == 4 { ", GPA" } else { "" },
                if n > next { ", last VM-entry CPU" } else { "" }
            );
            rep.exit_reason = Some(er);
            rep.events.push(idt);
        }
        4 => {
            if n == 0 {
                rep.layout = "no extra data".into();
                return rep;
            }
            rep.layout_recognised = true;
            rep.layout = "UNEXPECTED_EXIT_REASON layout: exit reason, last VM-entry CPU".into();
            let er = exit_reason_report(get(0));
            let decoded = if get(0) >> 32 != 0 {
                format!(
                    "{}: high bits set, not a VMX exit reason (e.g. a TDX module status)",
                    hex(get(0))
                )
            } else {
                describe_reason(&er)
            };
            rep.fields
                .push(field(0, "exit_reason", get(0), Some(decoded)));
            if n >= 2 {
                rep.fields.push(field(1, "last_vmentry_cpu", get(1), None));
            }
            rep.exit_reason = Some(er);
        }
        _ => {
            rep.layout = "unknown suberror: extra data not decoded".into();
            for (i, v) in data.iter().enumerate() {
                rep.fields.push(field(i, "unknown", *v, None));
            }
        }
    }
    rep
}

/// Decodes KVM_EXIT_FAIL_ENTRY's hardware_entry_failure_reason.
pub fn entry_failure(reason: u64) -> EntryFailureReport {
    if reason == u64::MAX {
        return EntryFailureReport {
            hardware_reason: hex(reason),
            kind: "svm_vmexit_invalid",
            exit_reason: None,
            vm_instruction_error: None,
            description: "SVM VMEXIT_INVALID (-1): VMRUN's consistency checks on the VMCB failed"
                .into(),
        };
    }
    if reason >> 32 == 0 && reason & (1 << 31) != 0 {
        let er = exit_reason_report(reason);
        let description = match er.name {
            Some(_) => format!(
                "VMX VM-entry failure (bit 31) with basic exit reason {} ({})",
                er.basic,
                er.description.unwrap_or("")
            ),
            None => format!(
                "VMX VM-entry failure (bit 31) with unknown basic exit reason {}",
                er.basic
            ),
        };
        return EntryFailureReport {
            hardware_reason: hex(reason),
            kind: "vmx_failed_entry",
            exit_reason: Some(er),
            vm_instruction_error: None,
            description,
        };
    }
    if reason < 0x100 {
        let e = vm_instruction_error(reason);
        return EntryFailureReport {
            hardware_reason: hex(reason),
            kind: "vm_instruction_error",
            exit_reason: None,
            vm_instruction_error: Some(reason as u32),
            description: match e {
                Some(e) => format!("VMLAUNCH/VMRESUME failed (VMfailValid) with VM-instruction error {}: {}", e.number, e.description),
                None => format!(
                    "{reason} is not a defined VM-instruction error number (SDM §31.4); the entry failed without a recorded error"
                ),
            },
        };
    }
    EntryFailureReport {
        hardware_reason: hex(reason),
        kind: "unknown",
        exit_reason: None,
        vm_instruction_error: None,
        description: format!(
            "{} is neither a VMX failed-entry reason nor a VM-instruction error nor SVM's -1",
            hex(reason)
        ),
    }
}

/// Errno number for a strerror text (via the errno table).
pub fn errno_name(errno: Option<i32>) -> Option<&'static str> {
    errno.and_then(errno_by_number).map(|e| e.name)
}

/// Decodes the instruction bytes KVM put in an internal error's extra data (a source of its own,
/// distinct from the dump's code window, which kvmtriage-x86 decodes), in the dump's mode.
fn decode_extra_data_insn(bytes: &[u8], bitness: u32, ip: u64) -> Option<Insn> {
    use iced_x86::{Decoder, DecoderOptions, Instruction};
    let mut decoder = Decoder::try_with_ip(bitness, bytes, ip, DecoderOptions::NONE).ok()?;
    if !decoder.can_decode() {
        return None;
    }
    let mut instr = Instruction::default();
    decoder.decode_out(&mut instr);
    if instr.is_invalid() {
        return None;
    }
    Some(Insn {
        mnemonic: kvmtriage_x86::intel_mnemonic(&instr),
        text: kvmtriage_x86::format_instruction(&instr, kvmtriage_x86::Syntax::Intel),
        bytes: bytes
            .get(..instr.len())
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        class: kvmtriage_x86::insn_class(&instr).map(crate::catalogue::InsnClass::from),
    })
}
