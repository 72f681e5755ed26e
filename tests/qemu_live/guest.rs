//! Bare-metal guests for the live QEMU tests, assembled at test time with iced-x86.
//!
//! The guest is its own firmware (`-bios`): QEMU maps the 64 KiB ROM below 4 GiB and aliases it
//! at 0xf0000; the vCPU starts at the reset vector (F000:FFF0), where a far jump leads to a
//! loader that copies the guest image to 0x7c00 and jumps there with DL=0x80, as a BIOS does
//! with a boot sector. The same image is also a bootable disk: its first sector is a boot sector
//! (0x55aa) that loads the remaining sectors with INT 13h when a real BIOS (SeaBIOS) booted it.
//! The firmware route is the default because SeaBIOS needs 6-10 s per boot under the nested KVM
//! of the test machine (0.2 s under TCG); see docs/qemu-live-tests.md.
//!
//! The image's first 512 bytes are a real-mode entry that either runs the scenario in real mode
//! or switches to 32-bit protected mode and, for long mode, on to 64-bit mode with identity
//! paging. Every address the assertions need (where the vCPU halts or faults, which bytes are
//! around it, which bitness the code there has) comes from the assembler, not from QEMU.
//!
//! Memory map (guest-physical = linear, all segment bases 0 except the AP trampoline):
//!
//! | address     | content                                                    | bitness |
//! |-------------|------------------------------------------------------------|---------|
//! | 0x7c00      | real-mode entry: scenario, or switch to protected mode      | 16      |
//! | 0x7e00      | GDT, GDTR, zero-limit IDTR, AP-alive flag                   | data    |
//! | 0x8000      | 32-bit code: segments, AP start-up, scenario or long mode   | 32      |
//! | 0x8800      | 64-bit code: scenario                                       | 64      |
//! | 0x9000      | AP trampoline (SIPI vector 0x09, CS=0x0900, IP=0)            | 16      |
//! | 0x10000     | page tables (PML4, PDPT, PD), built by the 32-bit code      | data    |
//! | 0x3ffffec   | last 20 bytes of RAM (`-m 64`): `nop` run for `RunOffRamEnd`   | 32/64   |
//! | 0x4000000   | end of RAM: nothing behind it (identity-mapped in long mode)  | –       |
//! | 0x1000_0000 | no RAM behind it with `-m 64` (identity-mapped in long mode) | –       |
//! | 0xf0000     | ROM alias: image copy, loader at 0xff00, reset vector 0xfff0 | 16      |

use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;

/// Where the image starts in guest RAM (where a BIOS puts a boot sector).
pub const LOAD_ADDR: u64 = 0x7c00;
const DATA_ADDR: u64 = 0x7e00;
/// The GDT sits at the start of the data area; 4 descriptors.
pub const GDT_ADDR: u64 = DATA_ADDR;
pub const GDT_LIMIT: u64 = 4 * 8 - 1;
const GDTR_ADDR: u64 = DATA_ADDR + 0x20;
/// Pseudo-descriptor with limit 0 and base 0: `lidt` from here makes every vector unusable.
const NULL_IDTR_ADDR: u64 = DATA_ADDR + 0x30;
/// The AP sets this byte to 1 once it runs our trampoline.
const AP_FLAG_ADDR: u64 = DATA_ADDR + 0x40;
const CODE32_ADDR: u64 = 0x8000;
const CODE64_ADDR: u64 = 0x8800;
/// SIPI start-up vector V starts the AP at V << 12 in real mode (SDM Vol. 3A §8.4.4.1 / §10.6.1).
const AP_ADDR: u64 = 0x9000;
const AP_SIPI_VECTOR: u32 = (AP_ADDR >> 12) as u32;
/// End of the image in guest memory; a multiple of 512 bytes.
const IMAGE_END: u64 = 0x9400;
pub const PML4_ADDR: u32 = 0x10000;
/// With `-m 64` nothing (RAM or device) answers at 256 MiB.
pub const NO_RAM_ADDR: u64 = 0x1000_0000;
/// End of guest RAM with `-m 64` (the tests always pass `-m 64`).
pub const RAM_END: u64 = 64 << 20;
/// Length of the `nop` run the guest writes just below `RAM_END`: the 20 bytes QEMU shows before
/// the marker in `Code=`.
pub const NOP_SLED_LEN: u64 = 20;

/// GDT selectors (see `data_area`).
pub const SEL_CODE32: u16 = 0x08;
pub const SEL_DATA: u16 = 0x10;
pub const SEL_CODE64: u16 = 0x18;

/// xAPIC interrupt command register, default APIC base 0xfee00000 (SDM Vol. 3A §10.6.1).
const APIC_ICR_LOW: u64 = 0xfee0_0300;
const APIC_ICR_HIGH: u64 = 0xfee0_0310;
const APIC_SVR: u64 = 0xfee0_00f0;
/// QEMU gives the second vCPU APIC ID 1.
const AP_APIC_ID: u32 = 1;
/// ICR delivery mode INIT (101b) with level=assert; start-up (110b) with level=assert.
const ICR_INIT: u32 = 0x0000_4500;
const ICR_STARTUP: u32 = 0x0000_4600;

/// QEMU's `-debugcon` default I/O port.
const DEBUGCON_PORT: u32 = 0xe9;
/// Printed on the debug console once the guest is about to halt.
pub const READY_TEXT: &str = "READY";
/// Last 4 bytes of the image: tells the entry code that the whole image is in RAM already.
const IMAGE_MAGIC: u32 = 0x4b56_5447; // "GTVK"
/// Printed on the debug console if INT 13h could not load the image.
pub const BOOT_FAILED_MARK: u8 = b'!';

/// Firmware size: QEMU wants a multiple of 64 KiB; 64 KiB is aliased at 0xf0000..0xfffff.
const ROM_SIZE: usize = 0x10000;
/// Real-mode segment of the ROM alias below 1 MiB.
const ROM_SEGMENT: u16 = 0xf000;
/// Offset of the loader inside the ROM (and in segment 0xf000).
const ROM_LOADER_OFFSET: u64 = 0xff00;
/// The reset vector: CS base 0xffff0000, IP 0xfff0 (SDM Vol. 3A §9.1.4).
const ROM_RESET_OFFSET: usize = 0xfff0;

/// CPU mode the guest is in when the scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Real16,
    Protected32,
    Long64,
}

impl Mode {
    /// kvmtriage's `mode.kind` for this mode.
    pub fn kind(self) -> &'static str {
        match self {
            Mode::Real16 => "real",
            Mode::Protected32 => "protected32",
            Mode::Long64 => "long64",
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            Mode::Real16 => 16,
            Mode::Protected32 => 32,
            Mode::Long64 => 64,
        }
    }
}

/// What the guest does once it is in its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Load recognisable register values, print READY, `cli; hlt` forever.
    Halt,
    /// Jump to `NO_RAM_ADDR`.
    JumpToNoRam,
    /// Fill the last `NOP_SLED_LEN` bytes of RAM with `nop`, jump there, run off the end of RAM
    /// into `RAM_END`, where nothing answers.
    RunOffRamEnd,
    /// `lidt` a zero-limit IDT, then `int3`.
    NullIdtInt3,
}

/// Everything the tests know about a built guest, independently of QEMU.
pub struct Guest {
    pub mode: Mode,
    pub scenario: Scenario,
    /// Guest image; byte 0 sits at `LOAD_ADDR` in guest memory.
    pub image: Vec<u8>,
    /// The 64 KiB firmware (`-bios`) that loads `image` and jumps to it.
    pub firmware: Vec<u8>,
    /// Linear address RIP must have when the scenario ends: the instruction after `hlt` (a halted
    /// CPU resumes there), the `int3`, or `NO_RAM_ADDR`.
    pub expected_rip: u64,
    /// Register values the guest loaded, by their name in the JSON (`eax`.. or `rax`..).
    pub registers: Vec<(&'static str, u64)>,
    /// For the multi-CPU guest: what the second vCPU does.
    pub ap: Option<ApTruth>,
    /// Every code region of the image with its bitness and instruction start addresses.
    pub code: Vec<CodeRegion>,
}

/// The application processor's state, known from the trampoline's assembly.
pub struct ApTruth {
    /// CS base of the trampoline (real mode, CS = SIPI vector << 8).
    pub cs_base: u64,
    /// IP after the AP's `hlt` (offset in CS).
    pub expected_ip: u64,
    pub registers: Vec<(&'static str, u64)>,
}

pub struct CodeRegion {
    pub name: &'static str,
    pub bitness: u32,
    /// Linear start and end (exclusive) of the bytes this region's assembler produced.
    pub start: u64,
    pub end: u64,
    /// Linear address of every instruction (and `db` run) the assembler emitted.
    pub instruction_starts: Vec<u64>,
    /// Mnemonic of each instruction (iced's name, lower case), parallel to `instruction_starts`.
    pub mnemonics: Vec<String>,
    /// CPU mode kind (kvmtriage's `mode.kind` names) from each address on: a region can change
    /// mode mid-way (CR0.PE set while CS is still a real-mode segment: `protected16`; paging on
    /// with EFER.LME while CS is 32-bit: `compat32`).
    pub kinds: Vec<(u64, &'static str)>,
}

impl CodeRegion {
    /// The mnemonic of the instruction the assembler put at `address`, if one starts there.
    pub fn mnemonic_at(&self, address: u64) -> Option<&str> {
        let i = self.instruction_starts.iter().position(|s| *s == address)?;
        Some(self.mnemonics[i].as_str())
    }

    /// The mode kind the CPU is in when it executes the instruction at `address`.
    pub fn kind_at(&self, address: u64) -> &'static str {
        self.kinds
            .iter()
            .rev()
            .find(|(from, _)| *from <= address)
            .map_or("?", |(_, kind)| kind)
    }
}

impl Guest {
    /// Bytes of guest memory at `address..address+len` as loaded from the image; `None` outside it.
    pub fn memory(&self, address: u64, len: usize) -> Vec<Option<u8>> {
        (0..len as u64)
            .map(|i| {
                let a = address.checked_add(i)?;
                let off = a.checked_sub(LOAD_ADDR)?;
                self.image.get(usize::try_from(off).ok()?).copied()
            })
            .collect()
    }

    /// The code region holding `address`, if any.
    pub fn region_at(&self, address: u64) -> Option<&CodeRegion> {
        self.code
            .iter()
            .find(|r| (r.start..r.end).contains(&address))
    }
}

/// Result of one assembler: bytes, label addresses, instruction starts.
struct Assembled {
    bytes: Vec<u8>,
    labels: Vec<u64>,
    starts: Vec<u64>,
    /// Mnemonic of each instruction, parallel to `starts` (`db` for raw bytes).
    mnemonics: Vec<String>,
}

fn assemble(mut a: CodeAssembler, ip: u64, labels: &[CodeLabel]) -> Result<Assembled, IcedError> {
    let mnemonics = a
        .instructions()
        .iter()
        .map(|i| format!("{:?}", i.mnemonic()).to_lowercase())
        .collect();
    let result = a.assemble_options(ip, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let labels = labels
        .iter()
        .map(|l| result.label_ip(l))
        .collect::<Result<Vec<_>, _>>()?;
    let starts = result
        .inner
        .new_instruction_offsets
        .iter()
        .map(|off| ip + u64::from(*off))
        .collect();
    Ok(Assembled {
        bytes: result.inner.code_buffer,
        labels,
        starts,
        mnemonics,
    })
}

/// `mov al, c; out 0xe9, al` for each character of READY and a newline.
fn print_ready(a: &mut CodeAssembler) -> Result<(), IcedError> {
    for c in READY_TEXT.bytes().chain(*b"\n") {
        a.mov(al, u32::from(c))?;
        a.out(DEBUGCON_PORT, al)?;
    }
    Ok(())
}

/// Recognisable values: the mode's bit count in the top byte, a per-register pattern below.
fn register_values(mode: Mode) -> Vec<(&'static str, u64)> {
    match mode {
        Mode::Real16 | Mode::Protected32 => {
            let top = u64::from(mode.bits()) << 24;
            ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"]
                .iter()
                .enumerate()
                .map(|(i, n)| (*n, top | (0x1111 * (i as u64 + 1))))
                .collect()
        }
        Mode::Long64 => [
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
            "r13", "r14", "r15",
        ]
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, 0x6464_0000_0000_0000 | (0x0101_0101 * (i as u64 + 1))))
        .collect(),
    }
}

fn reg32(name: &str) -> AsmRegister32 {
    match name {
        "eax" => eax,
        "ebx" => ebx,
        "ecx" => ecx,
        "edx" => edx,
        "esi" => esi,
        "edi" => edi,
        "ebp" => ebp,
        _ => unreachable!("not a 32-bit GPR used by the guest: {name}"),
    }
}

fn reg64(name: &str) -> AsmRegister64 {
    match name {
        "rax" => rax,
        "rbx" => rbx,
        "rcx" => rcx,
        "rdx" => rdx,
        "rsi" => rsi,
        "rdi" => rdi,
        "rbp" => rbp,
        "r8" => r8,
        "r9" => r9,
        "r10" => r10,
        "r11" => r11,
        "r12" => r12,
        "r13" => r13,
        "r14" => r14,
        "r15" => r15,
        _ => unreachable!("not a 64-bit GPR used by the guest: {name}"),
    }
}

fn load_registers(a: &mut CodeAssembler, regs: &[(&'static str, u64)]) -> Result<(), IcedError> {
    for (name, value) in regs {
        if name.starts_with('r') {
            a.mov(reg64(name), *value)?;
        } else {
            a.mov(reg32(name), *value as u32)?;
        }
    }
    Ok(())
}

/// Emits the scenario; returns the label whose address RIP must show at the end (`None` for the
/// jump to `NO_RAM_ADDR`, whose RIP is that constant).
fn emit_scenario(
    a: &mut CodeAssembler,
    mode: Mode,
    scenario: Scenario,
    regs: &[(&'static str, u64)],
) -> Result<Option<CodeLabel>, IcedError> {
    match scenario {
        Scenario::Halt => {
            print_ready(a)?;
            load_registers(a, regs)?;
            let mut halt = a.create_label();
            let mut after_halt = a.create_label();
            a.cli()?;
            a.set_label(&mut halt)?;
            a.hlt()?;
            a.set_label(&mut after_halt)?;
            a.jmp(halt)?;
            Ok(Some(after_halt))
        }
        Scenario::JumpToNoRam => {
            load_registers(a, regs)?;
            match mode {
                Mode::Long64 => {
                    a.mov(rax, NO_RAM_ADDR)?;
                    a.jmp(rax)?;
                }
                _ => {
                    a.mov(eax, NO_RAM_ADDR as u32)?;
                    a.jmp(eax)?;
                }
            }
            Ok(None)
        }
        Scenario::RunOffRamEnd => {
            let sled = RAM_END - NOP_SLED_LEN;
            a.cld()?;
            match mode {
                Mode::Long64 => a.mov(rdi, sled)?,
                _ => a.mov(edi, sled as u32)?,
            }
            a.mov(ecx, NOP_SLED_LEN as u32)?;
            a.mov(al, 0x90u32)?;
            a.rep().stosb()?;
            load_registers(a, regs)?;
            match mode {
                Mode::Long64 => {
                    a.mov(rax, sled)?;
                    a.jmp(rax)?;
                }
                _ => {
                    a.mov(eax, sled as u32)?;
                    a.jmp(eax)?;
                }
            }
            Ok(None)
        }
        Scenario::NullIdtInt3 => {
            load_registers(a, regs)?;
            a.lidt(ptr(NULL_IDTR_ADDR))?;
            let mut breakpoint = a.create_label();
            a.set_label(&mut breakpoint)?;
            a.int3()?;
            let mut spin = a.create_label();
            a.set_label(&mut spin)?;
            a.jmp(spin)?;
            Ok(Some(breakpoint))
        }
    }
}

/// GDT (null, code32, data, code64), GDTR, zero IDTR, AP flag. Descriptor encodings: SDM Vol. 3A
/// §3.4.5 (base 0, limit 0xfffff with G=1; 0x9a = present code exec/read, 0x92 = data r/w).
fn data_area() -> Vec<u8> {
    let mut d = vec![0u8; 0x48];
    let gdt: [u64; 4] = [
        0,
        0x00cf_9a00_0000_ffff, // 0x08: 32-bit code, D=1
        0x00cf_9200_0000_ffff, // 0x10: data
        0x00af_9a00_0000_ffff, // 0x18: 64-bit code, L=1
    ];
    for (i, desc) in gdt.iter().enumerate() {
        d[i * 8..i * 8 + 8].copy_from_slice(&desc.to_le_bytes());
    }
    let gdtr = (GDTR_ADDR - DATA_ADDR) as usize;
    assert_eq!(GDT_LIMIT as usize, gdt.len() * 8 - 1);
    d[gdtr..gdtr + 2].copy_from_slice(&(GDT_LIMIT as u16).to_le_bytes());
    d[gdtr + 2..gdtr + 6].copy_from_slice(&(GDT_ADDR as u32).to_le_bytes());
    // NULL_IDTR (10 bytes) and the AP flag stay zero.
    d
}

/// `jmp far sel:offset` as bytes (iced's assembler has no far-immediate form). In 16-bit code
/// the 0x66 prefix selects the ptr16:32 operand so the 32-bit offset is taken whole.
fn far_jump(
    a: &mut CodeAssembler,
    prefix_66: bool,
    offset: u32,
    selector: u16,
) -> Result<(), IcedError> {
    let mut bytes = Vec::with_capacity(8);
    if prefix_66 {
        bytes.push(0x66);
    }
    bytes.push(0xea);
    bytes.extend_from_slice(&offset.to_le_bytes());
    bytes.extend_from_slice(&selector.to_le_bytes());
    a.db(&bytes)
}

/// Builds the guest for `mode` doing `scenario`; with `start_ap` the 32-bit code first starts the
/// second vCPU in the real-mode trampoline (INIT, SIPI, SIPI) and waits for it.
pub fn build(mode: Mode, scenario: Scenario, start_ap: bool) -> Result<Guest, IcedError> {
    assert!(
        !(start_ap && mode == Mode::Real16),
        "the AP is started from 32-bit code"
    );
    let regs = register_values(mode);
    let mut expected_label_region: Option<(usize, usize)> = None; // (region index, label index)

    // ---- real-mode entry (16-bit) ----
    let mut boot = CodeAssembler::new(16)?;
    boot.cli()?;
    boot.xor(ax, ax)?;
    boot.mov(ds, ax)?;
    boot.mov(es, ax)?;
    boot.mov(ss, ax)?;
    boot.mov(sp, LOAD_ADDR as u32)?;
    // Booted from disk by a BIOS only this sector is in RAM: read the rest with INT 13h AH=02h
    // (CHS 0/0/2 onwards to 0000:7e00; DL still holds the boot drive). Loaded by our firmware the
    // whole image is there already, which the magic in its last 4 bytes shows.
    let mut loaded = boot.create_label();
    let mut load_failed = boot.create_label();
    boot.cmp(dword_ptr(IMAGE_END - 4), IMAGE_MAGIC)?;
    boot.je(loaded)?;
    boot.mov(ax, 0x0200 | ((IMAGE_END - LOAD_ADDR) / 512 - 1) as u32)?;
    boot.mov(cx, 0x0002u32)?;
    boot.xor(dh, dh)?;
    boot.mov(bx, DATA_ADDR as u32)?;
    boot.int(0x13)?;
    boot.jc(load_failed)?;
    boot.set_label(&mut loaded)?;
    boot.nop()?;
    let mut boot_labels = Vec::new();
    let mut pe_on_index = None;
    if mode == Mode::Real16 {
        if let Some(l) = emit_scenario(&mut boot, mode, scenario, &regs)? {
            boot_labels.push(l);
            expected_label_region = Some((0, 0));
        }
    } else {
        // Fast A20, GDT, CR0.PE, far jump into the 32-bit code (SDM Vol. 3A §9.9.1).
        boot.in_(al, 0x92)?;
        boot.or(al, 2)?;
        boot.out(0x92, al)?;
        boot.lgdt(ptr(GDTR_ADDR))?;
        boot.mov(eax, cr0)?;
        boot.or(eax, 1)?;
        boot.mov(cr0, eax)?;
        let mut pe_on = boot.create_label();
        boot.set_label(&mut pe_on)?;
        far_jump(&mut boot, true, CODE32_ADDR as u32, SEL_CODE32)?;
        boot_labels.push(pe_on);
        pe_on_index = Some(boot_labels.len() - 1);
    }
    boot.set_label(&mut load_failed)?;
    boot.mov(al, u32::from(BOOT_FAILED_MARK))?;
    boot.out(DEBUGCON_PORT, al)?;
    let mut stop = boot.create_label();
    boot.set_label(&mut stop)?;
    boot.hlt()?;
    boot.jmp(stop)?;
    let boot = assemble(boot, LOAD_ADDR, &boot_labels)?;
    assert!(
        boot.bytes.len() <= 510,
        "real-mode entry too long: {}",
        boot.bytes.len()
    );

    // ---- 32-bit code ----
    let mut c32 = CodeAssembler::new(32)?;
    let mut c32_labels = Vec::new();
    let mut pg_on_index = None;
    c32.mov(ax, u32::from(SEL_DATA))?;
    c32.mov(ds, ax)?;
    c32.mov(es, ax)?;
    c32.mov(ss, ax)?;
    c32.mov(fs, ax)?;
    c32.mov(gs, ax)?;
    c32.mov(esp, 0x7000u32)?;
    if start_ap {
        emit_start_ap(&mut c32)?;
    }
    if mode == Mode::Protected32 {
        if let Some(l) = emit_scenario(&mut c32, mode, scenario, &regs)? {
            c32_labels.push(l);
            expected_label_region = Some((1, 0));
        }
    } else {
        // Identity-map 0..2 MiB and 256 MiB..+2 MiB with 2 MiB pages (SDM Vol. 3A §4.5) ...
        c32.cld()?;
        c32.mov(edi, PML4_ADDR)?;
        c32.xor(eax, eax)?;
        c32.mov(ecx, 3 * 1024u32)?;
        c32.rep().stosd()?;
        c32.mov(dword_ptr(u64::from(PML4_ADDR)), PML4_ADDR + 0x1000 + 3)?;
        c32.mov(
            dword_ptr(u64::from(PML4_ADDR) + 0x1000),
            PML4_ADDR + 0x2000 + 3,
        )?;
        c32.mov(dword_ptr(u64::from(PML4_ADDR) + 0x2000), 0x83u32)?;
        // ... and the 2 MiB pages on both sides of RAM_END (identity, 2 MiB pages).
        for page in [NO_RAM_ADDR, RAM_END - (2 << 20), RAM_END] {
            let pde = u64::from(PML4_ADDR) + 0x2000 + (page >> 21) * 8;
            c32.mov(dword_ptr(pde), page as u32 | 0x83)?;
        }
        c32.mov(eax, cr4)?;
        c32.or(eax, 0x20 | 0x200)?; // PAE | OSFXSR
        c32.mov(cr4, eax)?;
        c32.mov(eax, PML4_ADDR)?;
        c32.mov(cr3, eax)?;
        c32.mov(ecx, 0xc000_0080u32)?; // IA32_EFER
        c32.rdmsr()?;
        c32.or(eax, 0x100)?; // LME
        c32.wrmsr()?;
        c32.mov(eax, cr0)?;
        c32.or(eax, 0x8000_0000u32 as i32)?; // PG
        c32.mov(cr0, eax)?;
        let mut pg_on = c32.create_label();
        c32.set_label(&mut pg_on)?;
        far_jump(&mut c32, false, CODE64_ADDR as u32, SEL_CODE64)?;
        c32_labels.push(pg_on);
        pg_on_index = Some(c32_labels.len() - 1);
    }
    let c32 = assemble(c32, CODE32_ADDR, &c32_labels)?;
    assert!(CODE32_ADDR + c32.bytes.len() as u64 <= CODE64_ADDR);

    // ---- 64-bit code ----
    let mut c64 = CodeAssembler::new(64)?;
    let mut c64_labels = Vec::new();
    if mode == Mode::Long64 {
        c64.mov(rsp, 0x7000u64)?;
        if let Some(l) = emit_scenario(&mut c64, mode, scenario, &regs)? {
            c64_labels.push(l);
            expected_label_region = Some((2, 0));
        }
    } else {
        c64.hlt()?; // never reached; keeps the region non-empty
    }
    let c64 = assemble(c64, CODE64_ADDR, &c64_labels)?;
    assert!(CODE64_ADDR + c64.bytes.len() as u64 <= AP_ADDR);

    // ---- AP trampoline (16-bit, CS=0x0900, IP=0) ----
    let ap_regs: Vec<(&'static str, u64)> = vec![("eax", 0x0a0a_1616), ("edx", 0x0a0a_dddd)];
    let mut tramp = CodeAssembler::new(16)?;
    tramp.cli()?;
    tramp.xor(ax, ax)?;
    tramp.mov(ds, ax)?;
    tramp.mov(byte_ptr(AP_FLAG_ADDR), 1u32)?;
    load_registers(&mut tramp, &ap_regs)?;
    let mut ap_halt = tramp.create_label();
    let mut ap_after = tramp.create_label();
    tramp.set_label(&mut ap_halt)?;
    tramp.hlt()?;
    tramp.set_label(&mut ap_after)?;
    tramp.jmp(ap_halt)?;
    let tramp = assemble(tramp, 0, &[ap_after])?;

    // ---- image ----
    let mut image = vec![0u8; (IMAGE_END - LOAD_ADDR) as usize];
    let mut put = |addr: u64, bytes: &[u8]| {
        let off = (addr - LOAD_ADDR) as usize;
        image[off..off + bytes.len()].copy_from_slice(bytes);
    };
    put(LOAD_ADDR, &boot.bytes);
    put(LOAD_ADDR + 510, &[0x55, 0xaa]);
    put(DATA_ADDR, &data_area());
    put(CODE32_ADDR, &c32.bytes);
    put(CODE64_ADDR, &c64.bytes);
    put(AP_ADDR, &tramp.bytes);
    put(IMAGE_END - 4, &IMAGE_MAGIC.to_le_bytes());
    let firmware = firmware(&image)?;

    let expected_rip = match expected_label_region {
        Some((0, i)) => boot.labels[i],
        Some((1, i)) => c32.labels[i],
        Some((2, i)) => c64.labels[i],
        _ => match scenario {
            Scenario::JumpToNoRam => NO_RAM_ADDR,
            Scenario::RunOffRamEnd => RAM_END,
            Scenario::Halt | Scenario::NullIdtInt3 => unreachable!("scenario ends at a label"),
        },
    };
    let region = |name, bitness, start: u64, a: &Assembled, kinds| CodeRegion {
        name,
        bitness,
        start,
        end: start + a.bytes.len() as u64,
        instruction_starts: a.starts.clone(),
        mnemonics: a.mnemonics.clone(),
        kinds,
    };
    let mut boot_kinds = vec![(LOAD_ADDR, "real")];
    boot_kinds.extend(pe_on_index.map(|i| (boot.labels[i], "protected16")));
    let mut c32_kinds = vec![(CODE32_ADDR, "protected32")];
    c32_kinds.extend(pg_on_index.map(|i| (c32.labels[i], "compat32")));
    let code = vec![
        region("real-mode entry", 16, LOAD_ADDR, &boot, boot_kinds),
        region("32-bit code", 32, CODE32_ADDR, &c32, c32_kinds),
        region(
            "64-bit code",
            64,
            CODE64_ADDR,
            &c64,
            vec![(CODE64_ADDR, "long64")],
        ),
        CodeRegion {
            instruction_starts: tramp.starts.iter().map(|s| s + AP_ADDR).collect(),
            ..region(
                "AP trampoline",
                16,
                AP_ADDR,
                &tramp,
                vec![(AP_ADDR, "real")],
            )
        },
    ];
    Ok(Guest {
        mode,
        scenario,
        image,
        firmware,
        expected_rip,
        registers: regs,
        ap: start_ap.then(|| ApTruth {
            cs_base: AP_ADDR,
            expected_ip: tramp.labels[0],
            registers: ap_regs,
        }),
        code,
    })
}

/// 64 KiB ROM: `image` at offset 0, the loader at `ROM_LOADER_OFFSET`, the reset vector's far
/// jump at `ROM_RESET_OFFSET`. The loader copies the image from the ROM alias (F000:0000) to
/// 0000:7c00 and jumps there with DL=0x80 (first hard disk, what a BIOS passes).
fn firmware(image: &[u8]) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(16)?;
    a.cli()?;
    a.mov(ax, u32::from(ROM_SEGMENT))?;
    a.mov(ds, ax)?;
    a.xor(ax, ax)?;
    a.mov(es, ax)?;
    a.mov(ss, ax)?;
    a.mov(sp, LOAD_ADDR as u32)?;
    a.xor(si, si)?;
    a.mov(di, LOAD_ADDR as u32)?;
    a.mov(cx, image.len() as u32)?;
    a.cld()?;
    a.rep().movsb()?;
    a.mov(dl, 0x80u32)?;
    far_jump16(&mut a, LOAD_ADDR as u16, 0)?;
    let loader = assemble(a, ROM_LOADER_OFFSET, &[])?;
    let mut reset = CodeAssembler::new(16)?;
    far_jump16(&mut reset, ROM_LOADER_OFFSET as u16, ROM_SEGMENT)?;
    let reset = assemble(reset, ROM_RESET_OFFSET as u64, &[])?;

    let mut rom = vec![0u8; ROM_SIZE];
    assert!(image.len() <= ROM_LOADER_OFFSET as usize);
    rom[..image.len()].copy_from_slice(image);
    let at = ROM_LOADER_OFFSET as usize;
    assert!(at + loader.bytes.len() <= ROM_RESET_OFFSET);
    rom[at..at + loader.bytes.len()].copy_from_slice(&loader.bytes);
    rom[ROM_RESET_OFFSET..ROM_RESET_OFFSET + reset.bytes.len()].copy_from_slice(&reset.bytes);
    Ok(rom)
}

/// `jmp far segment:offset` in real mode (ptr16:16).
fn far_jump16(a: &mut CodeAssembler, offset: u16, segment: u16) -> Result<(), IcedError> {
    let mut bytes = vec![0xea];
    bytes.extend_from_slice(&offset.to_le_bytes());
    bytes.extend_from_slice(&segment.to_le_bytes());
    a.db(&bytes)
}

/// INIT-SIPI-SIPI to APIC ID 1 (SDM Vol. 3A §8.4.4.1), then wait (bounded) for the AP's flag.
fn emit_start_ap(a: &mut CodeAssembler) -> Result<(), IcedError> {
    // Software-enable the local APIC (SVR bit 8, SDM Vol. 3A §10.9); no BIOS did it.
    a.or(dword_ptr(APIC_SVR), 0x100)?;
    let send = |a: &mut CodeAssembler, icr: u32| -> Result<(), IcedError> {
        a.mov(dword_ptr(APIC_ICR_HIGH), AP_APIC_ID << 24)?;
        a.mov(dword_ptr(APIC_ICR_LOW), icr)?;
        // Short delay between IPIs; emulated APICs need no real 10 ms / 200 us wait.
        a.mov(ecx, 0x1000u32)?;
        let mut delay = a.create_label();
        a.set_label(&mut delay)?;
        a.pause()?;
        a.loop_(delay)?;
        Ok(())
    };
    send(a, ICR_INIT)?;
    send(a, ICR_STARTUP | AP_SIPI_VECTOR)?;
    send(a, ICR_STARTUP | AP_SIPI_VECTOR)?;
    let mut wait = a.create_label();
    let mut done = a.create_label();
    a.mov(ecx, 0x0400_0000u32)?;
    a.set_label(&mut wait)?;
    a.cmp(byte_ptr(AP_FLAG_ADDR), 1)?;
    a.je(done)?;
    a.pause()?;
    a.loop_(wait)?;
    a.set_label(&mut done)?;
    a.nop()?;
    Ok(())
}
