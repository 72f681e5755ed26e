//! vCPU state snapshot and guest-virtual memory reads through the guest's own page tables.

use kvm_bindings::{kvm_debugregs, kvm_regs, kvm_sregs};
use kvm_ioctls::VcpuFd;

use crate::error::{ioctl_err, Result};
use crate::memory::GuestMemory;

/// Everything QEMU's `x86_cpu_dump_state` prints, as read from KVM.
#[derive(Clone, Debug)]
pub struct CpuState {
    /// General registers (KVM_GET_REGS).
    pub regs: kvm_regs,
    /// Segment, table and control registers (KVM_GET_SREGS).
    pub sregs: kvm_sregs,
    /// Debug registers (KVM_GET_DEBUGREGS); DR6/DR7 reset values if unavailable.
    pub debugregs: kvm_debugregs,
    /// STI/MOV-SS interrupt shadow (kvm_vcpu_events.interrupt.shadow).
    pub interrupt_shadow: bool,
    /// In System Management Mode (kvm_vcpu_events.smi.smm).
    pub smm: bool,
    /// vCPU halted (KVM_MP_STATE_HALTED).
    pub halted: bool,
}

impl CpuState {
    /// Reads the vCPU's state.
    pub fn capture(vcpu: &VcpuFd) -> Result<Self> {
        let regs = vcpu.get_regs().map_err(ioctl_err("KVM_GET_REGS"))?;
        let sregs = vcpu.get_sregs().map_err(ioctl_err("KVM_GET_SREGS"))?;
        let debugregs = vcpu.get_debug_regs().unwrap_or(kvm_debugregs {
            dr6: 0xffff_0ff0,
            dr7: 0x400,
            ..Default::default()
        });
        let (interrupt_shadow, smm) = match vcpu.get_vcpu_events() {
            Ok(events) => (events.interrupt.shadow != 0, events.smi.smm != 0),
            Err(_) => (false, false),
        };
        // KVM_MP_STATE_HALTED = 3 (include/uapi/linux/kvm.h).
        let halted = vcpu
            .get_mp_state()
            .map(|s| s.mp_state == kvm_bindings::KVM_MP_STATE_HALTED)
            .unwrap_or(false);
        Ok(Self {
            regs,
            sregs,
            debugregs,
            interrupt_shadow,
            smm,
            halted,
        })
    }

    /// EFER.LMA (long mode active).
    pub fn long_mode(&self) -> bool {
        self.sregs.efer & (1 << 10) != 0
    }

    /// QEMU's HF_CS64: long mode active and CS.L set.
    pub fn cs64(&self) -> bool {
        self.long_mode() && self.sregs.cs.l != 0
    }

    /// CR0.PE.
    pub fn protected(&self) -> bool {
        self.sregs.cr0 & 1 != 0
    }

    /// Current privilege level as QEMU computes it under KVM: SS.DPL.
    pub fn cpl(&self) -> u8 {
        self.sregs.ss.dpl & 3
    }

    /// Linear address of CS:RIP.
    pub fn pc_linear(&self) -> u64 {
        self.sregs.cs.base.wrapping_add(self.regs.rip)
    }

    /// Reads guest-virtual (linear) memory through the guest's page tables; `None` for each
    /// byte that is not mapped or not backed by guest RAM.
    pub fn read_linear(&self, mem: &GuestMemory, linear: u64, len: usize) -> Vec<Option<u8>> {
        (0..len as u64)
            .map(|i| {
                let addr = linear.wrapping_add(i);
                translate(&self.sregs, mem, addr).and_then(|gpa| mem.read_u8(gpa))
            })
            .collect()
    }

    /// Reads a little-endian value of `size` bytes (≤ 8) at a linear address.
    pub fn read_linear_le(&self, mem: &GuestMemory, linear: u64, size: usize) -> Option<u64> {
        let bytes = self.read_linear(mem, linear, size);
        let mut value = 0u64;
        for (i, b) in bytes.iter().enumerate() {
            value |= u64::from((*b)?) << (8 * i);
        }
        Some(value)
    }
}

const PTE_PRESENT: u64 = 1;
const PTE_PS: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Translates a linear address to a guest-physical one the way QEMU's debug path
/// (`x86_cpu_get_phys_page_attrs_debug`) does: no paging, 32-bit (with PSE), PAE, 4- and
/// 5-level paging (SDM Vol. 3A §4.3–§4.5). Permission bits are ignored.
pub fn translate(sregs: &kvm_sregs, mem: &GuestMemory, linear: u64) -> Option<u64> {
    const CR0_PG: u64 = 1 << 31;
    const CR4_PSE: u64 = 1 << 4;
    const CR4_PAE: u64 = 1 << 5;
    const CR4_LA57: u64 = 1 << 12;
    const EFER_LMA: u64 = 1 << 10;
    if sregs.cr0 & CR0_PG == 0 {
        return Some(linear);
    }
    if sregs.cr4 & CR4_PAE == 0 {
        let addr = linear & 0xffff_ffff;
        let pde = u64::from(mem.read_u32((sregs.cr3 & !0xfff) + ((addr >> 22) << 2))?);
        if pde & PTE_PRESENT == 0 {
            return None;
        }
        if pde & PTE_PS != 0 && sregs.cr4 & CR4_PSE != 0 {
            // 4 MiB page; bits 13..20 of the PDE hold physical address bits 32..39.
            let base = (pde & 0xffc0_0000) | ((pde & 0x1f_e000) << 19);
            return Some(base | (addr & 0x3f_ffff));
        }
        let pte = u64::from(mem.read_u32((pde & 0xffff_f000) + (((addr >> 12) & 0x3ff) << 2))?);
        if pte & PTE_PRESENT == 0 {
            return None;
        }
        return Some((pte & 0xffff_f000) | (addr & 0xfff));
    }
    let mut table;
    let mut level;
    if sregs.efer & EFER_LMA != 0 {
        let la57 = sregs.cr4 & CR4_LA57 != 0;
        let top_bit = if la57 { 56 } else { 47 };
        let sext = (linear as i64) >> top_bit;
        if sext != 0 && sext != -1 {
            return None;
        }
        table = sregs.cr3 & ADDR_MASK;
        level = if la57 { 5 } else { 4 };
    } else {
        let addr = linear & 0xffff_ffff;
        let pdpte = mem.read_u64((sregs.cr3 & !0x1f) + ((addr >> 30) << 3))?;
        if pdpte & PTE_PRESENT == 0 {
            return None;
        }
        table = pdpte & ADDR_MASK;
        level = 2;
    }
    loop {
        let shift = 12 + 9 * (level - 1);
        let index = (linear >> shift) & 0x1ff;
        let entry = mem.read_u64(table + index * 8)?;
        if entry & PTE_PRESENT == 0 {
            return None;
        }
        if level == 1 || (level <= 3 && entry & PTE_PS != 0) {
            let page_mask = (1u64 << shift) - 1;
            return Some((entry & ADDR_MASK & !page_mask) | (linear & page_mask));
        }
        table = entry & ADDR_MASK;
        level -= 1;
    }
}
