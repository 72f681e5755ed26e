//! What the faulting instruction did, computed from the register values in a
//! [`kvmtriage_model::CpuState`].

use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};
use kvmtriage_model::{hex, tables::BitDef, CpuState};
use serde::Serialize;

use crate::disasm::{intel_mnemonic, Access, FACTORY};
use crate::msr::{self, Field};
use crate::ports::port_name;
use crate::registers::{address_register, register_value, segment_base};
use crate::ser;

named_enum! {
    /// Direction of an MSR or control/debug-register access.
    pub enum Direction {
        Read = "read",
        Write = "write",
    }
}

named_enum! {
    /// Direction of an I/O port access.
    pub enum PortDirection {
        /// IN/INS: port to register or memory.
        In = "in",
        /// OUT/OUTS: register or memory to port.
        Out = "out",
    }
}

named_enum! {
    /// What kind of thing the instruction did ([`Effect::kind`]).
    pub enum EffectKind {
        MsrWrite = "msr_write",
        MsrRead = "msr_read",
        PortOut = "port_out",
        PortIn = "port_in",
        Cpuid = "cpuid",
        Xsetbv = "xsetbv",
        CrWrite = "cr_write",
        CrRead = "cr_read",
        DrWrite = "dr_write",
        DrRead = "dr_read",
        DescriptorTableLoad = "descriptor_table_load",
        SegmentLoad = "segment_load",
        FarBranch = "far_branch",
        FarReturn = "far_return",
        InterruptReturn = "interrupt_return",
        SoftwareInterrupt = "software_interrupt",
        UndefinedOpcode = "undefined_opcode",
        Halt = "halt",
        Hypercall = "hypercall",
        SmmReturn = "smm_return",
        TlbInvalidate = "tlb_invalidate",
        Xsave = "xsave",
        Xrstor = "xrstor",
        /// Any other instruction (its memory accesses are described).
        Other = "other",
        /// The bytes are not an instruction in this mode.
        Invalid = "invalid",
        /// The code window ends inside the instruction.
        Truncated = "truncated",
    }
}

named_enum! {
    /// Why an XSETBV raises #GP (SDM Vol. 1 §13.3).
    pub enum XcrProblem {
        X87Clear = "bit 0 (x87) must be 1",
        AvxWithoutSse = "AVX (bit 2) requires SSE (bit 1)",
        MpxHalf = "MPX bits 3 and 4 must be set together",
        Avx512Partial = "AVX-512 bits 5-7 must be all set, and only with AVX (bit 2)",
        AmxHalf = "AMX bits 17 and 18 must be set together",
        Xcr1ReadOnly = "XCR1 (XINUSE) is read-only via XGETBV",
        NoSuchXcr = "no such XCR",
    }
}

/// The MSR an RDMSR/WRMSR/WRMSRNS accessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MsrAccess {
    pub direction: Direction,
    /// ECX (or the immediate); `None` when ECX is not in the dump. JSON: `"0x838"`.
    #[serde(serialize_with = "hex::opt_uint")]
    pub index: Option<u32>,
    pub name: Option<&'static str>,
    pub description: Option<&'static str>,
    pub source: Option<&'static str>,
    /// Machine-check bank for IA32_MCi_* registers.
    pub bank: Option<u32>,
    /// Range the index falls in when the catalogue does not name it.
    pub region: Option<&'static str>,
    /// EDX:EAX (or the register of the immediate form) for writes; `None` for reads or when the
    /// registers are unknown.
    #[serde(serialize_with = "hex::opt_u64")]
    pub value: Option<u64>,
    /// Field-by-field decoding of `value` (writes only, when the layout is known).
    pub fields: Vec<Field>,
}

impl MsrAccess {
    /// WRMSR/WRMSRNS (true) or RDMSR (false).
    pub fn is_write(&self) -> bool {
        self.direction == Direction::Write
    }
}

/// An I/O port access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortAccess {
    pub direction: PortDirection,
    pub port: Option<u16>,
    pub port_name: Option<String>,
    /// Access width in bytes.
    pub width: u32,
    /// Value written (OUT only; string OUTS reads it from memory, so `None`).
    #[serde(serialize_with = "hex::opt_u64")]
    pub value: Option<u64>,
    /// Repetition count from (E/R)CX for REP INS/OUTS.
    #[serde(serialize_with = "hex::opt_u64")]
    pub repeat: Option<u64>,
}

/// CPUID leaf and subleaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuidQuery {
    #[serde(serialize_with = "hex::opt_u64")]
    pub leaf: Option<u64>,
    #[serde(serialize_with = "hex::opt_u64")]
    pub subleaf: Option<u64>,
    pub leaf_name: Option<&'static str>,
    /// Whether the leaf uses ECX as a subleaf.
    pub subleaf_used: bool,
}

/// XSETBV operands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XcrWrite {
    #[serde(serialize_with = "hex::opt_u64")]
    pub index: Option<u64>,
    #[serde(serialize_with = "hex::opt_u64")]
    pub value: Option<u64>,
    pub fields: Vec<Field>,
    /// Reasons the write raises #GP (SDM Vol. 1 §13.3), empty if none found.
    pub problems: Vec<XcrProblem>,
}

/// MOV to/from a control or debug register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemRegisterAccess {
    /// CR0…CR8 or DR0…DR7; JSON: the upper-case name (`"CR0"`).
    #[serde(serialize_with = "ser::register_upper")]
    pub register: Register,
    pub direction: Direction,
    /// Value written (write) or the dumped value (read).
    #[serde(serialize_with = "hex::opt_u64")]
    pub value: Option<u64>,
    /// Dumped value of the register (before the instruction).
    #[serde(serialize_with = "hex::opt_u64")]
    pub previous: Option<u64>,
    /// Named bits the write sets / clears compared with the dumped value (`bit N` where the bit
    /// has no name).
    pub bits_set: Vec<String>,
    pub bits_cleared: Vec<String>,
}

/// A KVM hypercall (VMCALL/VMMCALL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hypercall {
    #[serde(serialize_with = "hex::opt_u64")]
    pub number: Option<u64>,
    /// `KVM_HC_*` name from include/uapi/linux/kvm_para.h.
    pub name: Option<&'static str>,
    /// Arguments from RBX, RCX, RDX, RSI (EBX.. outside 64-bit mode); JSON: `"0x…"` or `null`.
    #[serde(serialize_with = "ser::vec_opt_u64")]
    pub arguments: Vec<Option<u64>>,
}

/// What the instruction did, with the real values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub kind: EffectKind,
    /// One line for the terminal report.
    pub summary: String,
    /// The MSR access (RDMSR/WRMSR/WRMSRNS). Not serialised here: the JSON carries it once, as `fault.msr`.
    #[serde(skip)]
    pub msr: Option<MsrAccess>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortAccess>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuid: Option<CpuidQuery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xcr: Option<XcrWrite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_register: Option<SystemRegisterAccess>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypercall: Option<Hypercall>,
    /// Interrupt/exception vector raised (INT n, INT3, UD2, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<u8>,
    /// Main memory operand's linear address (descriptor, far pointer, stack, XSAVE area, page).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "hex::opt_u64"
    )]
    pub memory_address: Option<u64>,
}

impl Effect {
    fn new(kind: EffectKind, summary: String) -> Self {
        Effect {
            kind,
            summary,
            msr: None,
            port: None,
            cpuid: None,
            xcr: None,
            system_register: None,
            hypercall: None,
            vector: None,
            memory_address: None,
        }
    }

    pub(crate) fn truncated(bytes: &[u8]) -> Self {
        Effect::new(
            EffectKind::Truncated,
            format!(
                "(truncated): the instruction starting with {} runs past the readable bytes of the code window, so it cannot be decoded",
                hex::bytes(bytes)
            ),
        )
    }

    pub(crate) fn invalid(bytes: &[u8]) -> Self {
        Effect::new(
            EffectKind::Invalid,
            format!("(bad): the bytes {} do not decode to an instruction in this mode (the CPU raises #UD)", hex::bytes(bytes)),
        )
    }
}

fn gpr(state: &CpuState, r: Register) -> Option<u64> {
    register_value(state, r)
}

fn edx_eax(state: &CpuState) -> Option<u64> {
    Some((gpr(state, Register::EDX)? << 32) | gpr(state, Register::EAX)?)
}

fn value_or_unknown(v: Option<u64>, what: &str) -> String {
    match v {
        Some(v) => hex::hex64(v),
        None => format!("{what} (not in the dump)"),
    }
}

/// Width-appropriate hex for an I/O value.
fn hex_width(v: u64, width: u32) -> String {
    match width {
        1 => format!("0x{:02x}", v & 0xff),
        2 => format!("0x{:04x}", v & 0xffff),
        _ => format!("0x{:08x}", v & 0xffff_ffff),
    }
}

fn ip_mask(bitness: u32) -> u64 {
    match bitness {
        16 => 0xffff,
        32 => 0xffff_ffff,
        _ => u64::MAX,
    }
}

/// Linear address of the instruction's explicit memory operand, or the registers it lacks.
pub(crate) fn memory_operand_address(
    instr: &Instruction,
    state: &CpuState,
    bitness: u32,
) -> Result<u64, Vec<String>> {
    let mut missing = Vec::new();
    let mut ea = if instr.is_ip_rel_memory_operand() {
        instr.ip_rel_memory_address()
    } else {
        instr.memory_displacement64()
    };
    let mut addr_bits = 64;
    // String instructions address through (E/R)SI or (E/R)DI implicitly (SDM Vol. 1 §7.3.9).
    let string_base = (0..instr.op_count()).find_map(|i| match instr.op_kind(i) {
        OpKind::MemorySegSI => Some(Register::SI),
        OpKind::MemorySegESI => Some(Register::ESI),
        OpKind::MemorySegRSI => Some(Register::RSI),
        OpKind::MemoryESDI => Some(Register::DI),
        OpKind::MemoryESEDI => Some(Register::EDI),
        OpKind::MemoryESRDI => Some(Register::RDI),
        _ => None,
    });
    if let Some(r) = string_base {
        ea = 0;
        addr_bits = r.size() as u32 * 8;
        match gpr(state, r) {
            Some(v) => ea = v,
            None => missing.push(ser::register_name(r)),
        }
    } else if !instr.is_ip_rel_memory_operand() {
        for (r, scale) in [
            (instr.memory_base(), 1u64),
            (instr.memory_index(), u64::from(instr.memory_index_scale())),
        ] {
            if r == Register::None {
                continue;
            }
            addr_bits = addr_bits.min(r.size() as u32 * 8);
            match gpr(state, r) {
                Some(v) => ea = ea.wrapping_add(v.wrapping_mul(scale)),
                None => missing.push(ser::register_name(r)),
            }
        }
        if instr.memory_base() == Register::None && instr.memory_index() == Register::None {
            addr_bits = match (bitness, instr.memory_displ_size()) {
                (_, 2) => 16,
                (64, _) => 64,
                _ => 32,
            };
        }
    }
    if addr_bits < 64 {
        ea &= (1u64 << addr_bits) - 1;
    }
    let seg = match string_base {
        Some(Register::DI | Register::EDI | Register::RDI) => Register::ES,
        _ => instr.memory_segment(),
    };
    let base = if seg == Register::None {
        Some(0)
    } else {
        segment_base(state, seg, bitness)
    };
    match base {
        Some(b) if missing.is_empty() => {
            Ok(b.wrapping_add(ea) & if bitness == 64 { u64::MAX } else { 0xffff_ffff })
        }
        Some(_) => Err(missing),
        None => {
            missing.push(format!("{} base", ser::register_name(seg)));
            Err(missing)
        }
    }
}

fn address_text(r: &Result<u64, Vec<String>>) -> String {
    match r {
        Ok(a) => hex::hex64(*a),
        Err(m) => format!("an address needing {} (not in the dump)", m.join(", ")),
    }
}

/// Stack top linear address (SS base + RSP, masked to the mode's stack width).
fn stack_address(state: &CpuState, bitness: u32) -> Option<u64> {
    let sp = gpr(state, Register::RSP)? & ip_mask(bitness);
    let base = segment_base(state, Register::SS, bitness)?;
    Some(base.wrapping_add(sp))
}

fn selector_text(sel: u16) -> String {
    let table = if sel & 4 != 0 { "LDT" } else { "GDT" };
    if sel & !3 == 0 {
        format!("selector 0x{sel:04x}: null selector")
    } else {
        format!(
            "selector 0x{sel:04x}: {table} index {}, RPL {}",
            sel >> 3,
            sel & 3
        )
    }
}

/// Name of an exception/interrupt vector: the mnemonic and name from the one exception table
/// (crates/model/data/exceptions.toml, SDM Vol. 3A Table 6-1), plus the Linux i386 system-call
/// gate.
pub fn vector_name(v: u8) -> Option<String> {
    if v == 0x80 {
        return Some("Linux i386 system call (int 0x80)".into());
    }
    kvmtriage_model::tables::exception(u32::from(v)).map(|e| {
        if e.mnemonic.starts_with('#') {
            format!("{} {}", e.mnemonic, e.name)
        } else {
            e.mnemonic.to_string()
        }
    })
}

/// KVM hypercall names: include/uapi/linux/kvm_para.h (`KVM_HC_*`).
pub fn kvm_hypercall_name(nr: u64) -> Option<&'static str> {
    Some(match nr {
        1 => "KVM_HC_VAPIC_POLL_IRQ",
        2 => "KVM_HC_MMU_OP",
        3 => "KVM_HC_FEATURES",
        4 => "KVM_HC_PPC_MAP_MAGIC_PAGE",
        5 => "KVM_HC_KICK_CPU",
        6 => "KVM_HC_MIPS_GET_CLOCK_FREQ",
        7 => "KVM_HC_MIPS_EXIT_VM",
        8 => "KVM_HC_MIPS_CONSOLE_OUTPUT",
        9 => "KVM_HC_CLOCK_PAIRING",
        10 => "KVM_HC_SEND_IPI",
        11 => "KVM_HC_SCHED_YIELD",
        12 => "KVM_HC_MAP_GPA_RANGE",
        _ => return None,
    })
}

/// CPUID leaf names and whether ECX selects a subleaf (SDM Vol. 2A CPUID; AMD APM Vol. 3 App. E).
fn cpuid_leaf(leaf: u64) -> (Option<&'static str>, bool) {
    match leaf {
        0x0 => (Some("maximum basic leaf and vendor string"), false),
        0x1 => (Some("processor signature and feature flags"), false),
        0x2 => (Some("cache and TLB descriptors"), false),
        0x4 => (Some("deterministic cache parameters"), true),
        0x5 => (Some("MONITOR/MWAIT"), false),
        0x6 => (Some("thermal and power management"), false),
        0x7 => (Some("structured extended feature flags"), true),
        0xa => (Some("architectural performance monitoring"), false),
        0xb => (Some("extended topology (x2APIC IDs)"), true),
        0xd => (Some("XSAVE state components"), true),
        0xf => (Some("RDT monitoring"), true),
        0x10 => (Some("RDT allocation"), true),
        0x12 => (Some("SGX capabilities"), true),
        0x14 => (Some("Intel PT"), true),
        0x15 => (Some("TSC / core crystal clock ratio"), false),
        0x16 => (Some("processor frequency"), false),
        0x1f => (Some("V2 extended topology"), true),
        0x4000_0000 => (
            Some("hypervisor vendor (KVMKVMKVM, Microsoft Hv, ...) and maximum hypervisor leaf"),
            false,
        ),
        0x4000_0001 => (
            Some("KVM paravirtual features (KVM_FEATURE_*) / Hyper-V interface"),
            false,
        ),
        0x8000_0000 => (Some("maximum extended leaf"), false),
        0x8000_0001 => (Some("extended feature flags (LM, NX, SYSCALL, SVM)"), false),
        0x8000_0002..=0x8000_0004 => (Some("processor brand string"), false),
        0x8000_0007 => (Some("advanced power management (invariant TSC)"), false),
        0x8000_0008 => (Some("address sizes and extended features"), false),
        0x8000_000a => (Some("SVM revision and features"), false),
        0x8000_001d => (Some("AMD cache topology"), true),
        0x8000_001f => (Some("AMD memory encryption (SME/SEV)"), false),
        0x8000_0020 => (Some("AMD platform QoS"), true),
        0x8000_0026 => (Some("AMD extended CPU topology"), true),
        _ => (None, false),
    }
}

/// CR3 flags (SDM Vol. 3A ch. 4: PWT/PCD, LAM_U57/LAM_U48, and bit 63, NOFLUSH with PCIDE=1).
/// The other registers' bits come from the one table in kvmtriage-model (`data/bits.toml`).
const CR3_BITS: &[BitDef] = &[
    cr3_bit(3, "PWT", "page-level write-through"),
    cr3_bit(4, "PCD", "page-level cache disable"),
    cr3_bit(61, "LAM_U57", "LAM for user pointers, 57-bit"),
    cr3_bit(62, "LAM_U48", "LAM for user pointers, 48-bit"),
    cr3_bit(
        63,
        "NOFLUSH",
        "do not flush PCID TLB entries (MOV to CR3 with PCIDE=1)",
    ),
];

const fn cr3_bit(bit: u8, name: &'static str, description: &'static str) -> BitDef {
    BitDef {
        bit,
        width: 1,
        name,
        description,
        source: "SDM Vol. 3A ch. 4 (CR3 formats, PCID, LAM)",
    }
}

fn named_bits(reg: Register) -> &'static [BitDef] {
    use kvmtriage_model::tables;
    match reg {
        Register::CR0 => tables::CR0,
        Register::CR3 => CR3_BITS,
        Register::CR4 => tables::CR4,
        Register::DR6 => tables::DR6,
        Register::DR7 => tables::DR7,
        _ => &[],
    }
}

/// Names of the bits in `mask`, in bit order: a flag by its name, a multi-bit field (DR7 R/Wn,
/// LENn) once by its name, other bits as `bit N`.
fn bit_names(mask: u64, table: &[BitDef]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last_field = None;
    for b in (0..64u8).filter(|b| mask & (1u64 << b) != 0) {
        match table.iter().position(|d| d.bit <= b && b - d.bit < d.width) {
            Some(i) if last_field == Some(i) => {}
            Some(i) => {
                last_field = Some(i);
                out.push(table[i].name.to_string());
            }
            None => out.push(format!("bit {b}")),
        }
    }
    out
}

fn msr_access(direction: Direction, index: Option<u32>, value: Option<u64>) -> MsrAccess {
    let info = index.and_then(msr::lookup);
    MsrAccess {
        direction,
        index,
        name: info.map(|i| i.name),
        description: info.map(|i| i.description),
        source: info.map(|i| i.source),
        bank: info.and_then(|i| i.bank),
        region: if info.is_none() {
            index.and_then(msr::region)
        } else {
            None
        },
        value,
        fields: match (index, value) {
            (Some(i), Some(v)) => msr::decode_value(i, v),
            _ => Vec::new(),
        },
    }
}

fn msr_label(access: &MsrAccess) -> String {
    match (access.index, access.name, access.description) {
        (Some(idx), Some(name), Some(desc)) => format!("MSR {idx:#x} ({name}: {desc})"),
        (Some(idx), _, _) => match access.region {
            Some(region) => format!("MSR {idx:#x} (not in the catalogue; {region})"),
            None => format!("MSR {idx:#x} (not in the catalogue)"),
        },
        (None, _, _) => "the MSR in ECX (not in the dump)".to_string(),
    }
}

fn describe_msr(instr: &Instruction, state: &CpuState, m: &str) -> Effect {
    let index = gpr(state, Register::ECX).map(|v| v as u32);
    if instr.mnemonic() == Mnemonic::Rdmsr {
        let access = msr_access(Direction::Read, index, None);
        let mut e = Effect::new(
            EffectKind::MsrRead,
            format!("{m}: reads {} into EDX:EAX", msr_label(&access)),
        );
        e.msr = Some(access);
        return e;
    }
    let value = edx_eax(state);
    let access = msr_access(Direction::Write, index, value);
    let what = match value {
        Some(v) => hex::hex64(v),
        None => {
            let missing: Vec<&str> = [("EDX", Register::EDX), ("EAX", Register::EAX)]
                .iter()
                .filter(|(_, r)| gpr(state, *r).is_none())
                .map(|(n, _)| *n)
                .collect();
            format!("EDX:EAX ({} not in the dump)", missing.join(", "))
        }
    };
    let mut e = Effect::new(
        EffectKind::MsrWrite,
        format!("{m}: writes {what} to {}", msr_label(&access)),
    );
    e.msr = Some(access);
    e
}

/// Effect of an immediate-form RDMSR/WRMSRNS: the index is the immediate, the value a 64-bit register.
pub fn describe_msr_imm(m: &crate::msrimm::MsrImm, state: &CpuState) -> Effect {
    let reg = ser::register_name_upper(m.register);
    if m.write {
        let value = gpr(state, m.register);
        let access = msr_access(Direction::Write, Some(m.index), value);
        let what = match value {
            Some(v) => hex::hex64(v),
            None => format!("{reg} (not in the dump)"),
        };
        let mut e = Effect::new(
            EffectKind::MsrWrite,
            format!(
                "wrmsrns (immediate form): writes {what} to {}",
                msr_label(&access)
            ),
        );
        e.msr = Some(access);
        e
    } else {
        let access = msr_access(Direction::Read, Some(m.index), None);
        let mut e = Effect::new(
            EffectKind::MsrRead,
            format!(
                "rdmsr (immediate form): reads {} into {reg}",
                msr_label(&access)
            ),
        );
        e.msr = Some(access);
        e
    }
}

fn describe_port(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    let mn = instr.mnemonic();
    let is_out = matches!(
        mn,
        Mnemonic::Out | Mnemonic::Outsb | Mnemonic::Outsw | Mnemonic::Outsd
    );
    let is_string = matches!(
        mn,
        Mnemonic::Insb
            | Mnemonic::Insw
            | Mnemonic::Insd
            | Mnemonic::Outsb
            | Mnemonic::Outsw
            | Mnemonic::Outsd
    );
    // Port operand: imm8 or DX.
    let port_op = if is_out { 0 } else { 1 };
    let port = if is_string {
        gpr(state, Register::DX).map(|v| v as u16)
    } else if instr.op_kind(port_op) == OpKind::Immediate8 {
        Some(u16::from(instr.immediate8()))
    } else {
        gpr(state, Register::DX).map(|v| v as u16)
    };
    let (width, data_reg) = match mn {
        Mnemonic::Insb | Mnemonic::Outsb => (1, None),
        Mnemonic::Insw | Mnemonic::Outsw => (2, None),
        Mnemonic::Insd | Mnemonic::Outsd => (4, None),
        _ => {
            let r = instr.op_register(if is_out { 1 } else { 0 });
            (r.size() as u32, Some(r))
        }
    };
    let name = port.and_then(port_name);
    let port_text = match (port, &name) {
        (Some(p), Some(n)) => format!("I/O port 0x{p:x} ({n})"),
        (Some(p), None) => format!("I/O port 0x{p:x}"),
        (None, _) => "the I/O port in DX (not in the dump)".to_string(),
    };
    let bytes = if width == 1 {
        "1 byte".to_string()
    } else {
        format!("{width} bytes")
    };
    let repeat = if is_string && (instr.has_rep_prefix() || instr.has_repne_prefix()) {
        // The count register follows the address size, which the implicit SI/DI operand shows.
        let count_reg = match (0..instr.op_count()).map(|i| instr.op_kind(i)).find(|k| {
            matches!(
                k,
                OpKind::MemorySegSI
                    | OpKind::MemorySegESI
                    | OpKind::MemorySegRSI
                    | OpKind::MemoryESDI
                    | OpKind::MemoryESEDI
                    | OpKind::MemoryESRDI
            )
        }) {
            Some(OpKind::MemorySegRSI | OpKind::MemoryESRDI) => Register::RCX,
            Some(OpKind::MemorySegESI | OpKind::MemoryESEDI) => Register::ECX,
            Some(_) => Register::CX,
            None if bitness == 64 => Register::RCX,
            None if bitness == 32 => Register::ECX,
            None => Register::CX,
        };
        gpr(state, count_reg)
    } else {
        None
    };
    let mut value = None;
    let summary = if is_string {
        let mem = memory_operand_address(instr, state, bitness);
        let rep = if instr.has_rep_prefix() || instr.has_repne_prefix() {
            match repeat {
                Some(n) => format!(", repeated {n} times (rep, count register)"),
                None => ", repeated (rep; count register not in the dump)".to_string(),
            }
        } else {
            String::new()
        };
        let mem_text = match &mem {
            Ok(a) => format!("memory at {}", hex::hex64(*a)),
            Err(_) => format!("memory at {}", address_text(&mem)),
        };
        if is_out {
            format!("{m}: writes {bytes} from {mem_text} to {port_text}{rep}")
        } else {
            format!("{m}: reads {bytes} from {port_text} into {mem_text}{rep}")
        }
    } else if is_out {
        let r = data_reg.unwrap_or(Register::AL);
        value = gpr(state, r);
        match value {
            Some(v) => format!(
                "{m}: writes {} ({bytes} from {}) to {port_text}",
                hex_width(v, width),
                ser::register_name_upper(r)
            ),
            None => format!(
                "{m}: writes {} (not in the dump) to {port_text}",
                ser::register_name_upper(r)
            ),
        }
    } else {
        let r = data_reg.unwrap_or(Register::AL);
        format!(
            "{m}: reads {bytes} from {port_text} into {}",
            ser::register_name_upper(r)
        )
    };
    let mut e = Effect::new(
        if is_out {
            EffectKind::PortOut
        } else {
            EffectKind::PortIn
        },
        summary,
    );
    e.port = Some(PortAccess {
        direction: if is_out {
            PortDirection::Out
        } else {
            PortDirection::In
        },
        port,
        port_name: name,
        width,
        value,
        repeat,
    });
    e
}

fn describe_cpuid(state: &CpuState) -> Effect {
    let leaf = gpr(state, Register::EAX);
    let subleaf = gpr(state, Register::ECX);
    let (name, uses_sub) = leaf.map_or((None, false), cpuid_leaf);
    let summary = match leaf {
        None => "cpuid: queries the leaf in EAX (not in the dump)".to_string(),
        Some(l) => {
            let mut s = format!("cpuid: queries leaf {}", hex::min(l));
            if let Some(n) = name {
                s.push_str(&format!(" ({n})"));
            }
            if uses_sub {
                match subleaf {
                    Some(sl) => s.push_str(&format!(", subleaf {}", hex::min(sl))),
                    None => s.push_str(", subleaf in ECX (not in the dump)"),
                }
            }
            s
        }
    };
    let mut e = Effect::new(EffectKind::Cpuid, summary);
    e.cpuid = Some(CpuidQuery {
        leaf,
        subleaf,
        leaf_name: name,
        subleaf_used: uses_sub,
    });
    e
}

/// XCR0 consistency rules from SDM Vol. 1 §13.3 (XSETBV #GP conditions).
fn xcr0_problems(v: u64) -> Vec<XcrProblem> {
    let mut p = Vec::new();
    if v & 1 == 0 {
        p.push(XcrProblem::X87Clear);
    }
    if v & 4 != 0 && v & 2 == 0 {
        p.push(XcrProblem::AvxWithoutSse);
    }
    if (v >> 3) & 3 == 1 || (v >> 3) & 3 == 2 {
        p.push(XcrProblem::MpxHalf);
    }
    let avx512 = (v >> 5) & 7;
    if avx512 != 0 && (avx512 != 7 || v & 4 == 0) {
        p.push(XcrProblem::Avx512Partial);
    }
    if (v >> 17) & 3 == 1 || (v >> 17) & 3 == 2 {
        p.push(XcrProblem::AmxHalf);
    }
    p
}

fn describe_xsetbv(state: &CpuState) -> Effect {
    let index = gpr(state, Register::ECX);
    let value = edx_eax(state);
    let fields = match (index, value) {
        (Some(0), Some(v)) => msr::decode_layout("xcr0", v),
        _ => Vec::new(),
    };
    let mut problems = Vec::new();
    match index {
        Some(0) => {
            if let Some(v) = value {
                problems = xcr0_problems(v);
            }
        }
        Some(1) => problems.push(XcrProblem::Xcr1ReadOnly),
        Some(_) => problems.push(XcrProblem::NoSuchXcr),
        None => {}
    }
    let target = match index {
        Some(i) => format!("XCR{i}"),
        None => "the XCR in ECX (not in the dump)".to_string(),
    };
    let mut summary = format!(
        "xsetbv: writes {} to {target}",
        value_or_unknown(value, "EDX:EAX")
    );
    let set: Vec<&str> = fields
        .iter()
        .filter(|f| f.value != 0)
        .map(|f| f.name)
        .collect();
    if index == Some(0) && value.is_some() {
        summary.push_str(&format!(
            " ({})",
            if set.is_empty() {
                "no components".to_string()
            } else {
                set.join(", ")
            }
        ));
    }
    if !problems.is_empty() {
        let reasons: Vec<&str> = problems.iter().map(|p| p.as_str()).collect();
        summary.push_str(&format!("; raises #GP: {}", reasons.join("; ")));
    }
    let mut e = Effect::new(EffectKind::Xsetbv, summary);
    e.xcr = Some(XcrWrite {
        index,
        value,
        fields,
        problems,
    });
    e
}

fn describe_mov_system(instr: &Instruction, state: &CpuState, m: &str) -> Option<Effect> {
    let r0 = instr.op_register(0);
    let r1 = instr.op_register(1);
    let is_sys = |r: Register| r.is_cr() || r.is_dr();
    let (sys, gp, write) =
        if instr.op_count() == 2 && instr.op_kind(0) == OpKind::Register && is_sys(r0) {
            (r0, r1, true)
        } else if instr.op_count() == 2 && instr.op_kind(1) == OpKind::Register && is_sys(r1) {
            (r1, r0, false)
        } else {
            return None;
        };
    let kind = match (sys.is_cr(), write) {
        (true, true) => EffectKind::CrWrite,
        (true, false) => EffectKind::CrRead,
        (false, true) => EffectKind::DrWrite,
        (false, false) => EffectKind::DrRead,
    };
    let sys_name = ser::register_name_upper(sys);
    let gp_name = ser::register_name_upper(gp);
    let previous = register_value(state, sys);
    let mut access = SystemRegisterAccess {
        register: sys,
        direction: if write {
            Direction::Write
        } else {
            Direction::Read
        },
        value: None,
        previous,
        bits_set: Vec::new(),
        bits_cleared: Vec::new(),
    };
    let summary = if write {
        let value = gpr(state, gp);
        access.value = value;
        let change = match (value, previous) {
            (Some(v), Some(p)) if v == p => " (same as the dumped value)".to_string(),
            (Some(v), Some(p)) => {
                let names = named_bits(sys);
                access.bits_set = bit_names(v & !p, names);
                access.bits_cleared = bit_names(p & !v, names);
                let mut parts = Vec::new();
                if !access.bits_set.is_empty() {
                    parts.push(format!("sets {}", access.bits_set.join(" ")));
                }
                if !access.bits_cleared.is_empty() {
                    parts.push(format!("clears {}", access.bits_cleared.join(" ")));
                }
                format!(" (dumped value {}: {})", hex::hex64(p), parts.join("; "))
            }
            (Some(_), None) => format!(" ({sys_name} not in the dump)"),
            (None, _) => String::new(),
        };
        match value {
            Some(v) => format!(
                "{m}: writes {} from {gp_name} to {sys_name}{change}",
                hex::hex64(v)
            ),
            None => format!("{m}: writes {gp_name} (not in the dump) to {sys_name}"),
        }
    } else {
        access.value = previous;
        match previous {
            Some(p) => format!(
                "{m}: reads {sys_name} (dumped value {}) into {gp_name}",
                hex::hex64(p)
            ),
            None => format!("{m}: reads {sys_name} (not in the dump) into {gp_name}"),
        }
    };
    let mut e = Effect::new(kind, summary);
    e.system_register = Some(access);
    Some(e)
}

fn describe_table_load(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    let addr = memory_operand_address(instr, state, bitness);
    let (reg, current) = if instr.mnemonic() == Mnemonic::Lgdt {
        ("GDTR", state.gdt)
    } else {
        ("IDTR", state.idt)
    };
    let size = if bitness == 64 { 10 } else { 6 };
    let cur = match current {
        Some(t) => format!(
            "; dumped {reg}: base {}, limit 0x{:x}",
            hex::hex64(t.base),
            t.limit
        ),
        None => String::new(),
    };
    let mut e = Effect::new(
        EffectKind::DescriptorTableLoad,
        format!(
            "{m}: loads {reg} from the {size}-byte pseudo-descriptor at {}{cur}",
            address_text(&addr)
        ),
    );
    e.memory_address = addr.ok();
    e
}

fn describe_segment_load(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    let target = if instr.mnemonic() == Mnemonic::Ltr {
        "TR"
    } else {
        "LDTR"
    };
    let summary = if instr.op_kind(0) == OpKind::Register {
        let r = instr.op_register(0);
        match gpr(state, r) {
            Some(v) => {
                let sel = v as u16;
                let extra = if target == "LDTR" && sel & !3 == 0 {
                    " (null: no LDT)"
                } else {
                    ""
                };
                format!(
                    "{m}: loads {target} with {}{extra} from {}",
                    selector_text(sel),
                    word_register_name(r)
                )
            }
            None => format!(
                "{m}: loads {target} with the selector in {} (not in the dump)",
                word_register_name(r)
            ),
        }
    } else {
        let addr = memory_operand_address(instr, state, bitness);
        format!(
            "{m}: loads {target} with the selector stored at {}",
            address_text(&addr)
        )
    };
    Effect::new(EffectKind::SegmentLoad, summary)
}

/// The 16-bit name of a GPR (`EAX` -> `AX`, `R8D` -> `R8W`): LTR/LLDT use only the low word.
fn word_register_name(r: Register) -> String {
    let n = ser::register_name_upper(r);
    if n.len() == 3
        && (n.starts_with('E')
            || (n.starts_with('R') && !n[1..].starts_with(|c: char| c.is_ascii_digit())))
    {
        n[1..].to_string()
    } else if n.starts_with('R') && (n.ends_with('D') || n.ends_with('W')) {
        format!("{}W", &n[..n.len() - 1])
    } else {
        n
    }
}

fn describe_far_branch(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    let is_call = instr.mnemonic() == Mnemonic::Call;
    let verb = if is_call { "calls" } else { "jumps to" };
    match instr.op_kind(0) {
        OpKind::FarBranch16 | OpKind::FarBranch32 => {
            let sel = instr.far_branch_selector();
            let off = if instr.op_kind(0) == OpKind::FarBranch16 {
                u64::from(instr.far_branch16())
            } else {
                u64::from(instr.far_branch32())
            };
            Effect::new(
                EffectKind::FarBranch,
                format!(
                    "{m} far: {verb} 0x{sel:04x}:{} ({})",
                    hex::min(off),
                    selector_text(sel)
                ),
            )
        }
        _ => {
            let addr = memory_operand_address(instr, state, bitness);
            let size = instr.memory_size().size();
            let ptr = match size {
                4 => "m16:16",
                6 => "m16:32",
                10 => "m16:64",
                _ => "far pointer",
            };
            let mut e = Effect::new(
                EffectKind::FarBranch,
                format!(
                    "{m} far: {verb} the {ptr} far pointer stored at {} (target not in the dump)",
                    address_text(&addr)
                ),
            );
            e.memory_address = addr.ok();
            e
        }
    }
}

fn describe_interrupt(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    let vector: u8 = match instr.code() {
        Code::Int3 => 3,
        Code::Into => 4,
        Code::Int1 => 1,
        _ => instr.immediate8(),
    };
    let name = vector_name(vector)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let mut summary = match instr.code() {
        Code::Into => {
            let of = state.rflags.map(|f| (f >> 11) & 1);
            match of {
                Some(1) => format!("{m}: RFLAGS.OF=1, so it raises vector 4{name}"),
                Some(_) => {
                    format!("{m}: RFLAGS.OF=0, so no exception (would raise vector 4{name})")
                }
                None => {
                    format!("{m}: raises vector 4{name} if RFLAGS.OF=1 (RFLAGS not in the dump)")
                }
            }
        }
        Code::Int3 => format!("{m}: breakpoint trap, vector 3{name}"),
        Code::Int1 => format!("{m}: debug trap (ICEBP), vector 1{name}"),
        _ => format!("{m} 0x{vector:x}: software interrupt, vector 0x{vector:x}{name}"),
    };
    // Where the CPU looks for the gate (SDM Vol. 3A §6.10-6.14; real mode: IVT, 4 bytes per vector).
    let real_mode = bitness == 16 && state.cr0.is_some_and(|c| c & 1 == 0);
    let entry_size: u64 = match (real_mode, bitness) {
        (true, _) => 4,
        (false, 64) => 16,
        _ => 8,
    };
    if let Some(idt) = state.idt {
        let entry = idt.base.wrapping_add(entry_size * u64::from(vector));
        let table = if real_mode { "IVT" } else { "IDT" };
        summary.push_str(&format!("; {table} entry at {}", hex::hex64(entry)));
        let last = entry_size * u64::from(vector) + entry_size - 1;
        if last > u64::from(idt.limit) {
            summary.push_str(&format!(
                " lies beyond the {table} limit 0x{:x}{}",
                idt.limit,
                if real_mode {
                    ""
                } else {
                    ": #GP, then #DF, then a triple fault if the IDT is unusable"
                }
            ));
        }
    }
    let mut e = Effect::new(EffectKind::SoftwareInterrupt, summary);
    e.vector = Some(vector);
    e
}

fn describe_ud(instr: &Instruction, m: &str, bitness: u32) -> Effect {
    let summary = match instr.mnemonic() {
        Mnemonic::Ud2 => format!(
            "{m}: raises #UD (vector 6) on purpose; Linux uses it for BUG() and WARN() (the __bug_table entry for this address says which: the oops reads \"kernel BUG at\" or \"WARNING:\")"
        ),
        Mnemonic::Ud1 => {
            // Linux UBSAN traps: `ud1 eax,[eax+type]` (ModRM 0x40 + disp8, arch/x86/include/asm/bug.h).
            let ubsan = instr.op_count() == 2
                && instr.op_register(0) == Register::EAX
                && matches!(instr.memory_base(), Register::EAX | Register::RAX)
                && instr.memory_index() == Register::None
                && instr.memory_displ_size() == 1;
            if ubsan {
                format!(
                    "{m}: raises #UD (vector 6); Linux with CONFIG_UBSAN_TRAP (Clang) encodes UBSAN traps as ud1 eax,[eax+type] (arch/x86/kernel/traps.c decode_bug): check type 0x{:x}",
                    instr.memory_displacement64() & 0xff
                )
            } else {
                format!("{m}: raises #UD (vector 6) on purpose")
            }
        }
        _ => {
            let _ = bitness;
            format!("{m}: raises #UD (vector 6) on purpose")
        }
    };
    let mut e = Effect::new(EffectKind::UndefinedOpcode, summary);
    e.vector = Some(6);
    e
}

fn describe_hypercall(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    let (nr_reg, args) = if bitness == 64 {
        (
            Register::RAX,
            [Register::RBX, Register::RCX, Register::RDX, Register::RSI],
        )
    } else {
        (
            Register::EAX,
            [Register::EBX, Register::ECX, Register::EDX, Register::ESI],
        )
    };
    let number = gpr(state, nr_reg);
    let name = number.and_then(kvm_hypercall_name);
    let arguments: Vec<Option<u64>> = args.iter().map(|r| gpr(state, *r)).collect();
    let arg_text: Vec<String> = args
        .iter()
        .map(|r| {
            let v = gpr(state, *r).map_or_else(|| "?".to_string(), hex::hex64);
            format!("{}={v}", ser::register_name_upper(*r))
        })
        .collect();
    let vendor = if instr.mnemonic() == Mnemonic::Vmmcall {
        " (AMD encoding; KVM patches it on Intel)"
    } else {
        ""
    };
    let summary = match (number, name) {
        (Some(n), Some(nm)) => format!("{m}{vendor}: KVM hypercall {n} ({nm}) with {}", arg_text.join(", ")),
        (Some(n), None) => format!(
            "{m}{vendor}: hypercall number {} in {} is not a KVM_HC_* number (KVM returns -KVM_ENOSYS unless another interface, e.g. Hyper-V or Xen, is enabled)",
            hex::min(n),
            ser::register_name_upper(nr_reg)
        ),
        (None, _) => format!("{m}{vendor}: hypercall; the number in {} is not in the dump", ser::register_name_upper(nr_reg)),
    };
    let mut e = Effect::new(EffectKind::Hypercall, summary);
    e.hypercall = Some(Hypercall {
        number,
        name,
        arguments,
    });
    e
}

fn describe_xsave(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    let restore = matches!(
        instr.mnemonic(),
        Mnemonic::Xrstor | Mnemonic::Xrstor64 | Mnemonic::Xrstors | Mnemonic::Xrstors64
    );
    let addr = memory_operand_address(instr, state, bitness);
    let mask = match edx_eax(state) {
        Some(v) => format!("EDX:EAX={}", hex::hex64(v)),
        None => "EDX:EAX (not in the dump)".to_string(),
    };
    let supervisor = matches!(
        instr.mnemonic(),
        Mnemonic::Xsaves | Mnemonic::Xsaves64 | Mnemonic::Xrstors | Mnemonic::Xrstors64
    );
    let enabled = if supervisor {
        "XCR0 | IA32_XSS"
    } else {
        "XCR0"
    };
    let mut summary = if restore {
        format!(
            "{m}: restores the state components in {mask} AND {enabled} from the XSAVE area at {}",
            address_text(&addr)
        )
    } else {
        format!(
            "{m}: saves the state components in {mask} AND {enabled} to the XSAVE area at {}",
            address_text(&addr)
        )
    };
    if let Ok(a) = addr {
        if a % 64 != 0 {
            summary.push_str(" (not 64-byte aligned: #GP)");
        }
    }
    let mut e = Effect::new(
        if restore {
            EffectKind::Xrstor
        } else {
            EffectKind::Xsave
        },
        summary,
    );
    e.memory_address = addr.ok();
    e
}

fn describe_generic(instr: &Instruction, state: &CpuState, m: &str, bitness: u32) -> Effect {
    // The per-thread factory: building one allocates, and describe_effect runs once per dump.
    let used_memory = FACTORY.with(|f| f.borrow_mut().info(instr).used_memory().to_vec());
    let next_ip = instr.next_ip();
    let mut parts = Vec::new();
    for mem in used_memory {
        let size = mem.memory_size().size();
        let access = Access::from(mem.access());
        let verb = match (access.reads(), access.writes()) {
            (true, true) => "reads and writes",
            (true, false) => "reads",
            (false, true) => "writes",
            (false, false) => continue,
        };
        let missing: Vec<String> = [mem.segment(), mem.base(), mem.index()]
            .into_iter()
            .filter(|r| {
                *r != Register::None && address_register(state, *r, bitness, next_ip).is_none()
            })
            .map(ser::register_name)
            .collect();
        let addr = if missing.is_empty() {
            mem.virtual_address(0, |r, _, _| address_register(state, r, bitness, next_ip))
        } else {
            None
        };
        let what = if size == 0 {
            "memory".to_string()
        } else if size == 1 {
            "1 byte".to_string()
        } else {
            format!("{size} bytes")
        };
        parts.push(match addr {
            Some(a) => format!("{verb} {what} at {}", hex::hex64(a)),
            None => format!(
                "{verb} {what} at an address needing {} (not in the dump)",
                missing.join(", ")
            ),
        });
    }
    let summary = if parts.is_empty() {
        format!("{m}: no memory access")
    } else {
        format!("{m}: {}", parts.join("; "))
    };
    Effect::new(EffectKind::Other, summary)
}

/// Describes what `instr` does with the dumped register values (`state` holds values *before* it).
pub fn describe_effect(instr: &Instruction, state: &CpuState, bitness: u32) -> Effect {
    if instr.is_invalid() {
        return Effect::new(
            EffectKind::Invalid,
            "(bad): not a valid instruction in this mode (the CPU raises #UD)".to_string(),
        );
    }
    let m = intel_mnemonic(instr);
    let m = m.as_str();
    match instr.mnemonic() {
        Mnemonic::Wrmsr | Mnemonic::Rdmsr | Mnemonic::Wrmsrns => describe_msr(instr, state, m),
        Mnemonic::Wrmsrlist | Mnemonic::Rdmsrlist => Effect::new(
            if instr.mnemonic() == Mnemonic::Wrmsrlist { EffectKind::MsrWrite } else { EffectKind::MsrRead },
            format!("{m}: accesses the MSRs listed in the table at RSI (values at RDI) selected by the bitmap in RCX"),
        ),
        Mnemonic::In | Mnemonic::Out | Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd | Mnemonic::Outsb | Mnemonic::Outsw | Mnemonic::Outsd => {
            describe_port(instr, state, m, bitness)
        }
        Mnemonic::Cpuid => describe_cpuid(state),
        Mnemonic::Xsetbv => describe_xsetbv(state),
        Mnemonic::Mov => describe_mov_system(instr, state, m).unwrap_or_else(|| describe_generic(instr, state, m, bitness)),
        Mnemonic::Lgdt | Mnemonic::Lidt => describe_table_load(instr, state, m, bitness),
        Mnemonic::Lldt | Mnemonic::Ltr => describe_segment_load(instr, state, m, bitness),
        Mnemonic::Jmp | Mnemonic::Call
            if matches!(instr.op_kind(0), OpKind::FarBranch16 | OpKind::FarBranch32)
                || matches!(
                    instr.code(),
                    Code::Jmp_m1616 | Code::Jmp_m1632 | Code::Jmp_m1664 | Code::Call_m1616 | Code::Call_m1632 | Code::Call_m1664
                ) =>
        {
            describe_far_branch(instr, state, m, bitness)
        }
        Mnemonic::Retf => {
            let stack = stack_address(state, bitness);
            let release = if instr.op_count() > 0 { format!(", then releases {} bytes", instr.immediate(0)) } else { String::new() };
            let mut e = Effect::new(
                EffectKind::FarReturn,
                format!("{m}: pops the return offset and CS from the stack at {}{release}", value_or_unknown(stack, "SS:RSP")),
            );
            e.memory_address = stack;
            e
        }
        Mnemonic::Iret | Mnemonic::Iretd | Mnemonic::Iretq => {
            let stack = stack_address(state, bitness);
            let what = match instr.mnemonic() {
                Mnemonic::Iretq => "RIP, CS, RFLAGS, RSP and SS",
                Mnemonic::Iretd => "EIP, CS, EFLAGS (and ESP, SS when returning to an outer privilege level)",
                _ => "IP, CS and FLAGS",
            };
            let mut e = Effect::new(
                EffectKind::InterruptReturn,
                format!("{m}: pops {what} from the stack at {}", value_or_unknown(stack, "SS:RSP")),
            );
            e.memory_address = stack;
            e
        }
        Mnemonic::Int | Mnemonic::Int3 | Mnemonic::Into | Mnemonic::Int1 => describe_interrupt(instr, state, m, bitness),
        Mnemonic::Ud0 | Mnemonic::Ud1 | Mnemonic::Ud2 => describe_ud(instr, m, bitness),
        Mnemonic::Hlt => {
            let iflag = match state.rflags.map(|f| (f >> 9) & 1) {
                Some(1) => " (RFLAGS.IF=1: an interrupt resumes it)",
                Some(_) => " (RFLAGS.IF=0: only NMI, SMI or INIT can wake it)",
                None => "",
            };
            Effect::new(EffectKind::Halt, format!("{m}: halts the vCPU until the next interrupt{iflag}"))
        }
        Mnemonic::Vmcall | Mnemonic::Vmmcall => describe_hypercall(instr, state, m, bitness),
        Mnemonic::Rsm => Effect::new(EffectKind::SmmReturn, format!("{m}: returns from system-management mode (#UD outside SMM)")),
        Mnemonic::Invlpg => {
            let addr = memory_operand_address(instr, state, bitness);
            let mut e = Effect::new(EffectKind::TlbInvalidate, format!("{m}: invalidates TLB entries for linear address {}", address_text(&addr)));
            e.memory_address = addr.ok();
            e
        }
        Mnemonic::Xsave
        | Mnemonic::Xsave64
        | Mnemonic::Xsavec
        | Mnemonic::Xsavec64
        | Mnemonic::Xsaveopt
        | Mnemonic::Xsaveopt64
        | Mnemonic::Xsaves
        | Mnemonic::Xsaves64
        | Mnemonic::Xrstor
        | Mnemonic::Xrstor64
        | Mnemonic::Xrstors
        | Mnemonic::Xrstors64 => describe_xsave(instr, state, m, bitness),
        _ => describe_generic(instr, state, m, bitness),
    }
}

/// Decodes the first instruction of `bytes` at `ip` and describes it; `None` if no bytes.
/// A convenience for callers that hold only the instruction bytes.
pub fn describe_bytes(bytes: &[u8], bitness: u32, ip: u64, state: &CpuState) -> Option<Effect> {
    if bytes.is_empty() || !matches!(bitness, 16 | 32 | 64) {
        return None;
    }
    let mut decoder =
        iced_x86::Decoder::with_ip(bitness, bytes, ip, iced_x86::DecoderOptions::NONE);
    let instr = decoder.decode();
    Some(describe_effect(&instr, state, bitness))
}
