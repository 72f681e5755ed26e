//! The mini-VM: one vCPU, guest RAM at GPA 0, and a boot state that starts the guest
//! directly in real mode, 32-bit protected mode or 64-bit long mode.

use kvm_bindings::{kvm_enable_cap, kvm_regs, kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vmm_sys_util::ioctl::ioctl_with_ref;
use vmm_sys_util::{ioctl_ior_nr, ioctl_iow_nr};

use crate::error::{ioctl_err, Error, Result};
use crate::memory::GuestMemory;

/// Fixed guest-physical layout shared by every boot mode.
pub mod layout {
    /// Real-mode interrupt vector table (256 × 4 bytes).
    pub const IVT: u64 = 0x0;
    /// GDT: null, code (0x08), data (0x10), TSS (0x18, 16 bytes in long mode).
    pub const GDT: u64 = 0x500;
    /// GDT limit (5 eight-byte slots).
    pub const GDT_LIMIT: u16 = 0x27;
    /// Task-state segment referenced by TR.
    pub const TSS: u64 = 0x600;
    /// Long mode: PML4 table.
    pub const PML4: u64 = 0x1000;
    /// Long mode: PDPT.
    pub const PDPT: u64 = 0x2000;
    /// Long mode: four page directories of 2 MiB pages identity-mapping 0..4 GiB.
    pub const PD: u64 = 0x3000;
    /// IDT (256 gates: 16 bytes each in long mode, 8 in protected mode).
    pub const IDT: u64 = 0x7000;
    /// Exception handlers, `HANDLER_STRIDE` bytes per vector.
    pub const HANDLERS: u64 = 0x8000;
    /// Bytes per exception handler stub.
    pub const HANDLER_STRIDE: u64 = 0x10;
    /// Default top of stack (grows down).
    pub const STACK_TOP: u64 = 0xf000;
    /// Default load and entry address of guest code.
    pub const CODE: u64 = 0x10000;
    /// A guest-physical address with no memory slot (MMIO from KVM's point of view).
    pub const UNBACKED: u64 = 0x3000_0000;
    /// Default guest RAM size.
    pub const DEFAULT_MEM_SIZE: usize = 32 << 20;
}

/// Guest I/O ports understood by the VMM.
pub mod ports {
    /// Debug console (like QEMU's `-debugcon` / Bochs port 0xe9): bytes written are guest output.
    pub const CONSOLE: u16 = 0xe9;
    /// The exception handlers write the vector number here.
    pub const EXCEPTION: u16 = 0xe0;
    /// The guest writes a status byte here to end the run ("done").
    pub const DONE: u16 = 0xf4;
}

/// CPU mode the guest starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CpuMode {
    /// Real mode, CS:IP with CS base = load segment.
    #[serde(rename = "16")]
    Real,
    /// 32-bit protected mode, flat 4 GiB segments, paging off.
    #[serde(rename = "32")]
    Protected,
    /// 64-bit long mode, identity-mapped 4 GiB with 2 MiB pages.
    #[serde(rename = "64")]
    Long,
}

impl CpuMode {
    /// Guest-physical ranges `[start, end)` the VMM's boot structures occupy in this mode
    /// (a user image must not overlap them).
    pub fn reserved_ranges(self) -> &'static [(u64, u64, &'static str)] {
        match self {
            CpuMode::Real => &[
                (layout::IVT, layout::IVT + 0x400, "interrupt vector table"),
                (
                    layout::HANDLERS,
                    layout::HANDLERS + 0x1000,
                    "exception handlers",
                ),
            ],
            CpuMode::Protected => &[
                (layout::GDT, layout::TSS + 0x68, "GDT and TSS"),
                (
                    layout::IDT,
                    layout::HANDLERS + 0x1000,
                    "IDT and exception handlers",
                ),
            ],
            CpuMode::Long => &[
                (layout::GDT, layout::TSS + 0x68, "GDT and TSS"),
                (layout::PML4, layout::IDT, "page tables"),
                (
                    layout::IDT,
                    layout::HANDLERS + 0x1000,
                    "IDT and exception handlers",
                ),
            ],
        }
    }

    /// Code size in bits (16, 32, 64).
    pub fn bitness(self) -> u32 {
        match self {
            CpuMode::Real => 16,
            CpuMode::Protected => 32,
            CpuMode::Long => 64,
        }
    }

    /// Parses `16`, `32` or `64`.
    pub fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            16 => Some(CpuMode::Real),
            32 => Some(CpuMode::Protected),
            64 => Some(CpuMode::Long),
            _ => None,
        }
    }
}

/// Control-register and EFER bits (Intel SDM Vol. 3A §2.5, §2.2.1).
mod bits {
    pub const CR0_PE: u64 = 1 << 0;
    pub const CR0_MP: u64 = 1 << 1;
    pub const CR0_ET: u64 = 1 << 4;
    pub const CR0_NE: u64 = 1 << 5;
    pub const CR0_WP: u64 = 1 << 16;
    pub const CR0_AM: u64 = 1 << 18;
    pub const CR0_PG: u64 = 1 << 31;
    pub const CR4_PAE: u64 = 1 << 5;
    pub const CR4_MCE: u64 = 1 << 6;
    pub const CR4_PGE: u64 = 1 << 7;
    pub const CR4_OSFXSR: u64 = 1 << 9;
    pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
    pub const EFER_SCE: u64 = 1 << 0;
    pub const EFER_LME: u64 = 1 << 8;
    pub const EFER_LMA: u64 = 1 << 10;
    pub const EFER_NXE: u64 = 1 << 11;
}

// KVMIO = 0xAE; ioctl numbers from include/uapi/linux/kvm.h:
// KVM_X86_GET_MCE_CAP_SUPPORTED = _IOR(KVMIO, 0x9d, __u64) (system ioctl),
// KVM_X86_SETUP_MCE = _IOW(KVMIO, 0x9c, __u64) (vCPU ioctl). kvm-ioctls wraps neither.
ioctl_ior_nr!(KVM_X86_GET_MCE_CAP_SUPPORTED, 0xAE, 0x9d, u64);
ioctl_iow_nr!(KVM_X86_SETUP_MCE, 0xAE, 0x9c, u64);

/// `MCG_CTL_P`: IA32_MCG_CTL is present (SDM Vol. 3B §16.3.1.1, bit 8 of IA32_MCG_CAP).
pub const MCG_CTL_P: u64 = 1 << 8;
/// Number of MCE banks given to the guest; QEMU's default (MCE_BANKS_DEF) is also 10.
pub const MCE_BANKS: u64 = 10;

/// How the VM is built.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    /// Guest RAM size in bytes (multiple of 4 KiB).
    pub mem_size: usize,
    /// Boot mode.
    pub mode: CpuMode,
    /// `KVM_CAP_X86_USER_SPACE_MSR` exit mask (`KVM_MSR_EXIT_REASON_*`, include/uapi/linux/kvm.h);
    /// 0 leaves the capability off.
    pub user_space_msr_mask: u32,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            mem_size: layout::DEFAULT_MEM_SIZE,
            mode: CpuMode::Long,
            user_space_msr_mask: 0,
        }
    }
}

/// One VM with one vCPU and its memory.
///
/// KVM's memory slot 0 holds the host address of [`GuestMemory`]'s mapping from
/// `KVM_SET_USER_MEMORY_REGION` until the VM is closed, so the fields are private: safe code
/// outside this crate gets the memory only by shared reference ([`Machine::memory`]; bytes are
/// written through [`GuestMemory::write`] or [`Machine::load`]), and no handle that could replace
/// the mapping, unmap it early, or outlive it (the VM fd, which creates vCPUs; a `&mut` to the
/// vCPU fd, which could be swapped for another VM's) is handed out.
///
/// Field order matters for drop: the vCPU and VM file descriptors close before the memory they
/// reference is unmapped.
///
/// The memory cannot be swapped out, neither through the field:
///
/// ```compile_fail,E0616
/// fn swap(machine: &mut kvmtriage_kvm::Machine, other: kvmtriage_kvm::memory::GuestMemory) {
///     machine.mem = other; // error: field `mem` of struct `Machine` is private
/// }
/// ```
///
/// nor through the accessor, which lends it shared only:
///
/// ```compile_fail,E0308
/// fn swap(machine: &mut kvmtriage_kvm::Machine, mut other: kvmtriage_kvm::memory::GuestMemory) {
///     std::mem::swap(machine.memory(), &mut other); // error: expected `&mut GuestMemory`
/// }
/// ```
///
/// and the VM fd (whose `create_vcpu` would make a vCPU that outlives the mapping) is not public:
///
/// ```compile_fail,E0624
/// fn extra_vcpu(machine: &kvmtriage_kvm::Machine) {
///     let _vcpu = machine.vm().create_vcpu(1); // error: method `vm` is private
/// }
/// ```
///
/// What is allowed: reading and writing guest bytes in place.
///
/// ```no_run
/// # fn main() -> kvmtriage_kvm::Result<()> {
/// let machine = kvmtriage_kvm::Machine::new(&kvmtriage_kvm::MachineConfig::default())?;
/// machine.load(0x10000, &[0xf4])?; // hlt
/// machine.memory().write(0x10001, &[0x90])?;
/// assert_eq!(machine.memory().read_u8(0x10000), Some(0xf4));
/// # Ok(())
/// # }
/// ```
pub struct Machine {
    /// vCPU 0.
    vcpu: VcpuFd,
    /// The VM.
    vm: VmFd,
    /// Guest RAM, registered as KVM memory slot 0.
    mem: GuestMemory,
    /// Boot mode.
    mode: CpuMode,
    /// IA32_MCG_CAP given to the vCPU with KVM_X86_SETUP_MCE.
    mcg_cap: u64,
}

impl Machine {
    /// Opens `/dev/kvm`, creates the VM, memory, vCPU (with the host's supported CPUID and
    /// 10 MCE banks) and writes the boot structures for `config.mode`. Registers are set to the
    /// mode's initial state with RIP = [`layout::CODE`] and RSP = [`layout::STACK_TOP`].
    pub fn new(config: &MachineConfig) -> Result<Self> {
        let kvm = Kvm::new().map_err(Error::NoKvm)?;
        let vm = kvm.create_vm().map_err(ioctl_err("KVM_CREATE_VM"))?;
        if config.user_space_msr_mask != 0 {
            if !vm.check_extension(kvm_ioctls::Cap::X86UserSpaceMsr) {
                return Err(Error::MissingCapability("KVM_CAP_X86_USER_SPACE_MSR"));
            }
            let cap = kvm_enable_cap {
                cap: kvm_bindings::KVM_CAP_X86_USER_SPACE_MSR,
                args: [u64::from(config.user_space_msr_mask), 0, 0, 0],
                ..Default::default()
            };
            vm.enable_cap(&cap)
                .map_err(ioctl_err("KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)"))?;
        }
        let mem = GuestMemory::new(config.mem_size)?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: mem.size() as u64,
            userspace_addr: mem.host_address(),
        };
        // SAFETY: KVM_SET_USER_MEMORY_REGION (include/uapi/linux/kvm.h, struct
        // kvm_userspace_memory_region) makes the kernel access host memory
        // [userspace_addr, userspace_addr + memory_size) for guest-physical 0.. until the slot is
        // deleted or the VM is destroyed. The region describes exactly `mem`, a live anonymous
        // mapping of that size (page-aligned, as the kernel requires) that nothing else uses. It
        // stays mapped as long as the VM: `mem` moves into the returned `Machine`, whose private
        // fields let no safe code replace or drop it early, and whose field order closes the vCPU
        // and VM fds before the mapping is unmapped. No vCPU or VM handle is given out that could
        // outlive it.
        unsafe { vm.set_user_memory_region(region) }
            .map_err(ioctl_err("KVM_SET_USER_MEMORY_REGION"))?;
        let vcpu = vm.create_vcpu(0).map_err(ioctl_err("KVM_CREATE_VCPU"))?;
        let cpuid = kvm
            .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
            .map_err(ioctl_err("KVM_GET_SUPPORTED_CPUID"))?;
        vcpu.set_cpuid2(&cpuid)
            .map_err(ioctl_err("KVM_SET_CPUID2"))?;
        let mcg_cap = setup_mce(&kvm, &vcpu)?;
        let mut machine = Self {
            vcpu,
            vm,
            mem,
            mode: config.mode,
            mcg_cap,
        };
        machine.write_boot_structures()?;
        machine.reset_cpu(layout::CODE, layout::STACK_TOP)?;
        Ok(machine)
    }

    /// Writes the GDT, TSS, IDT or IVT, exception handlers and (long mode) page tables.
    fn write_boot_structures(&mut self) -> Result<()> {
        let mem = &self.mem;
        // Exception handler for vector v: `mov al, v; out 0xe0, al; hlt; jmp $-1`. The same
        // bytes decode identically in 16-, 32- and 64-bit code.
        for vector in 0..256u64 {
            let stub = [
                0xb0,
                vector as u8,
                0xe6,
                ports::EXCEPTION as u8,
                0xf4,
                0xeb,
                0xfd,
            ];
            mem.write(layout::HANDLERS + vector * layout::HANDLER_STRIDE, &stub)?;
        }
        match self.mode {
            CpuMode::Real => {
                for vector in 0..256u64 {
                    let offset = (layout::HANDLERS + vector * layout::HANDLER_STRIDE) as u32;
                    // IVT entry: offset:segment with segment 0.
                    mem.write(layout::IVT + vector * 4, &(offset & 0xffff).to_le_bytes())?;
                }
            }
            CpuMode::Protected => {
                mem.write_u64(layout::GDT, 0)?;
                mem.write_u64(layout::GDT + 0x08, 0x00cf_9b00_0000_ffff)?; // code32, accessed
                mem.write_u64(layout::GDT + 0x10, 0x00cf_9300_0000_ffff)?; // data32, accessed
                mem.write_u64(layout::GDT + 0x18, tss_descriptor_low(layout::TSS, 0x67))?;
                mem.write_u64(layout::GDT + 0x20, 0)?;
                for vector in 0..256u64 {
                    let handler = layout::HANDLERS + vector * layout::HANDLER_STRIDE;
                    // 32-bit interrupt gate (type 0xE, P=1, DPL=0), selector 0x08.
                    let gate = (handler & 0xffff)
                        | (0x08 << 16)
                        | (0x8e00u64 << 32)
                        | ((handler >> 16) << 48);
                    mem.write_u64(layout::IDT + vector * 8, gate)?;
                }
            }
            CpuMode::Long => {
                mem.write_u64(layout::GDT, 0)?;
                mem.write_u64(layout::GDT + 0x08, 0x00af_9b00_0000_ffff)?; // code64, accessed
                mem.write_u64(layout::GDT + 0x10, 0x00cf_9300_0000_ffff)?; // data, accessed
                mem.write_u64(layout::GDT + 0x18, tss_descriptor_low(layout::TSS, 0x67))?;
                mem.write_u64(layout::GDT + 0x20, layout::TSS >> 32)?;
                for vector in 0..256u64 {
                    let handler = layout::HANDLERS + vector * layout::HANDLER_STRIDE;
                    // 64-bit interrupt gate (SDM Vol. 3A §6.14.1): type 0xE, P=1, selector 0x08.
                    let low = (handler & 0xffff)
                        | (0x08 << 16)
                        | (0x8e00u64 << 32)
                        | (((handler >> 16) & 0xffff) << 48);
                    mem.write_u64(layout::IDT + vector * 16, low)?;
                    mem.write_u64(layout::IDT + vector * 16 + 8, handler >> 32)?;
                }
                // PML4[0] -> PDPT; PDPT[0..4] -> PD0..PD3; each PD maps 1 GiB with 2 MiB pages.
                const PRESENT_RW: u64 = 0x3;
                const PAGE_SIZE_2M: u64 = 0x80;
                mem.write_u64(layout::PML4, layout::PDPT | PRESENT_RW)?;
                for gib in 0..4u64 {
                    let pd = layout::PD + gib * 0x1000;
                    mem.write_u64(layout::PDPT + gib * 8, pd | PRESENT_RW)?;
                    for i in 0..512u64 {
                        let phys = (gib << 30) | (i << 21);
                        mem.write_u64(pd + i * 8, phys | PRESENT_RW | PAGE_SIZE_2M)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts the vCPU in the boot mode's initial state with the given entry point and stack.
    /// In real mode `entry` is a linear address below 1 MiB: CS = entry's 64 KiB-aligned
    /// segment, IP = the low 16 bits.
    pub fn reset_cpu(&mut self, entry: u64, stack_top: u64) -> Result<()> {
        let mut sregs = self.vcpu.get_sregs().map_err(ioctl_err("KVM_GET_SREGS"))?;
        let mut regs = kvm_regs {
            rflags: 0x2,
            rsp: stack_top,
            ..Default::default()
        };
        match self.mode {
            CpuMode::Real => {
                let segment_base = entry & 0xf_0000;
                let code = real_segment((segment_base >> 4) as u16, 11);
                let data = real_segment(0, 3);
                sregs.cs = code;
                sregs.ds = data;
                sregs.es = data;
                sregs.fs = data;
                sregs.gs = data;
                sregs.ss = data;
                sregs.cr0 = bits::CR0_ET;
                sregs.cr4 = 0;
                sregs.efer = 0;
                sregs.idt.base = layout::IVT;
                sregs.idt.limit = 0x3ff;
                sregs.gdt.base = 0;
                sregs.gdt.limit = 0xffff;
                regs.rip = entry - segment_base;
            }
            CpuMode::Protected | CpuMode::Long => {
                let long = self.mode == CpuMode::Long;
                sregs.cs = kvm_segment {
                    base: 0,
                    limit: 0xffff_ffff,
                    selector: 0x08,
                    type_: 11,
                    present: 1,
                    dpl: 0,
                    db: u8::from(!long),
                    s: 1,
                    l: u8::from(long),
                    g: 1,
                    avl: 0,
                    unusable: 0,
                    padding: 0,
                };
                let data = kvm_segment {
                    selector: 0x10,
                    type_: 3,
                    db: 1,
                    l: 0,
                    ..sregs.cs
                };
                sregs.ds = data;
                sregs.es = data;
                sregs.ss = data;
                sregs.fs = data;
                sregs.gs = data;
                sregs.tr = kvm_segment {
                    base: layout::TSS,
                    limit: 0x67,
                    selector: 0x18,
                    type_: 11,
                    present: 1,
                    dpl: 0,
                    db: 0,
                    s: 0,
                    l: 0,
                    g: 0,
                    avl: 0,
                    unusable: 0,
                    padding: 0,
                };
                sregs.ldt = kvm_segment {
                    base: 0,
                    limit: 0xffff,
                    selector: 0,
                    type_: 2,
                    present: 1,
                    s: 0,
                    ..sregs.tr
                };
                sregs.gdt.base = layout::GDT;
                sregs.gdt.limit = layout::GDT_LIMIT;
                sregs.idt.base = layout::IDT;
                if long {
                    sregs.idt.limit = 256 * 16 - 1;
                    sregs.cr3 = layout::PML4;
                    sregs.cr4 = bits::CR4_PAE
                        | bits::CR4_MCE
                        | bits::CR4_PGE
                        | bits::CR4_OSFXSR
                        | bits::CR4_OSXMMEXCPT;
                    sregs.cr0 = bits::CR0_PE
                        | bits::CR0_MP
                        | bits::CR0_ET
                        | bits::CR0_NE
                        | bits::CR0_WP
                        | bits::CR0_AM
                        | bits::CR0_PG;
                    sregs.efer = bits::EFER_SCE | bits::EFER_LME | bits::EFER_LMA | bits::EFER_NXE;
                } else {
                    sregs.idt.limit = 256 * 8 - 1;
                    sregs.cr3 = 0;
                    sregs.cr4 = 0;
                    sregs.cr0 = bits::CR0_PE | bits::CR0_ET;
                    sregs.efer = 0;
                }
                regs.rip = entry;
            }
        }
        self.vcpu
            .set_sregs(&sregs)
            .map_err(ioctl_err("KVM_SET_SREGS"))?;
        self.vcpu
            .set_regs(&regs)
            .map_err(ioctl_err("KVM_SET_REGS"))?;
        Ok(())
    }

    /// The vCPU, for reading and setting its state (`KVM_GET_REGS`, `KVM_SET_SREGS`, …). Running
    /// it needs `&mut`, which stays inside this crate ([`crate::run::run`]).
    pub fn vcpu(&self) -> &VcpuFd {
        &self.vcpu
    }

    /// The vCPU for `KVM_RUN` and the shared `kvm_run` page. Crate-private: a `&mut VcpuFd` would
    /// let safe code swap in another VM's vCPU, which could then outlive this VM's memory.
    pub(crate) fn vcpu_mut(&mut self) -> &mut VcpuFd {
        &mut self.vcpu
    }

    /// The VM fd, for VM ioctls such as the MSR filter. Crate-private: its `create_vcpu` would make
    /// a vCPU that keeps the VM, and its memory slot, alive after this `Machine` unmaps the
    /// memory.
    pub(crate) fn vm(&self) -> &VmFd {
        &self.vm
    }

    /// Guest RAM (KVM memory slot 0), shared: bytes can be read and written in place
    /// ([`GuestMemory::write`]), the mapping cannot be replaced or unmapped.
    pub fn memory(&self) -> &GuestMemory {
        &self.mem
    }

    /// The boot mode.
    pub fn mode(&self) -> CpuMode {
        self.mode
    }

    /// IA32_MCG_CAP given to the vCPU with `KVM_X86_SETUP_MCE` (bank count in bits 7:0).
    pub fn mcg_cap(&self) -> u64 {
        self.mcg_cap
    }

    /// Copies a guest program to guest-physical `gpa`.
    pub fn load(&self, gpa: u64, code: &[u8]) -> Result<()> {
        self.mem.write(gpa, code).map_err(|_| {
            Error::Guest(format!(
                "{} bytes at {gpa:#x} do not fit in guest RAM (0..{:#x})",
                code.len(),
                self.mem.size()
            ))
        })
    }
}

fn real_segment(selector: u16, type_: u8) -> kvm_segment {
    kvm_segment {
        base: u64::from(selector) << 4,
        limit: 0xffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: 0,
        s: 1,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Low 8 bytes of a busy-TSS system descriptor (type 0xB, P=1), SDM Vol. 3A §7.2.2.
fn tss_descriptor_low(base: u64, limit: u64) -> u64 {
    (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x8bu64 << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56)
}

/// Gives the vCPU `MCE_BANKS` banks and MCG_CTL_P (what QEMU does), masked by what KVM supports.
fn setup_mce(kvm: &Kvm, vcpu: &VcpuFd) -> Result<u64> {
    let mut supported: u64 = 0;
    // SAFETY: KVM_X86_GET_MCE_CAP_SUPPORTED is _IOR(KVMIO, 0x9d, __u64) on the /dev/kvm fd
    // (include/uapi/linux/kvm.h): the kernel writes one u64 through the pointer, which points at
    // a live, writable local of that size; the return value is checked.
    let ret = unsafe {
        vmm_sys_util::ioctl::ioctl_with_mut_ref(
            kvm,
            KVM_X86_GET_MCE_CAP_SUPPORTED(),
            &mut supported,
        )
    };
    if ret < 0 {
        return Err(Error::Ioctl {
            what: "KVM_X86_GET_MCE_CAP_SUPPORTED",
            source: vmm_sys_util::errno::Error::last(),
        });
    }
    // The supported mask holds capability bits only; the bank maximum is
    // KVM_CHECK_EXTENSION(KVM_CAP_MCE).
    let max_banks = u64::try_from(kvm.check_extension_int(kvm_ioctls::Cap::Mce)).unwrap_or(0);
    let banks = MCE_BANKS.min(max_banks);
    let mcg_cap = banks | (MCG_CTL_P & supported);
    // SAFETY: KVM_X86_SETUP_MCE is _IOW(KVMIO, 0x9c, __u64) on a vCPU fd
    // (include/uapi/linux/kvm.h): the kernel reads one u64 from the pointer, a live local of that
    // size; the return value is checked below.
    let ret = unsafe { ioctl_with_ref(vcpu, KVM_X86_SETUP_MCE(), &mcg_cap) };
    if ret < 0 {
        return Err(Error::Ioctl {
            what: "KVM_X86_SETUP_MCE",
            source: vmm_sys_util::errno::Error::last(),
        });
    }
    Ok(mcg_cap)
}

/// Opens `/dev/kvm` once to tell whether a run can start.
pub fn check_kvm() -> Result<()> {
    Kvm::new().map(drop).map_err(Error::NoKvm)
}
