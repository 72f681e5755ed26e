//! The vCPU's state, read from KVM straight into the one CPU-state model
//! ([`kvmtriage_model::CpuState`]), and guest-virtual memory reads through the guest's own page
//! tables.

use kvm_bindings::{kvm_debugregs, kvm_dtable, kvm_segment};
use kvm_ioctls::VcpuFd;
use kvmtriage_model::{CpuState, DescriptorTable, Gpr, SegName, Segment, SegmentAttributes};

use crate::error::{ioctl_err, Result};
use crate::memory::GuestMemory;

/// Reads the vCPU's state into the model.
///
/// - `KVM_GET_REGS` (`struct kvm_regs`, arch/x86/include/uapi/asm/kvm.h): RAX … R15, RIP,
///   RFLAGS.
/// - `KVM_GET_SREGS` (`struct kvm_sregs`, same header): the eight segments, GDT/IDT, CR0, CR2,
///   CR3, CR4, CR8, EFER. Segment attributes are built as QEMU's `get_seg()`
///   (target/i386/kvm/kvm.c) builds `SegmentCache.flags` from a `struct kvm_segment`: type, S,
///   DPL, P, AVL, L, D/B, G in descriptor position, with P = `present && !unusable`.
/// - `KVM_GET_DEBUGREGS` (`struct kvm_debugregs`, same header): DR0–DR3, DR6, DR7. Where KVM
///   lacks the ioctl, DR0–DR3 = 0, DR6 = 0xffff0ff0, DR7 = 0x400: the reset values QEMU then
///   keeps and prints.
/// - `KVM_GET_VCPU_EVENTS` (`struct kvm_vcpu_events`, same header): the STI/MOV-SS interrupt
///   shadow (`interrupt.shadow`) and SMM (`smi.smm`); `None` when the ioctl fails.
/// - `KVM_GET_MP_STATE` (`struct kvm_mp_state`, include/uapi/linux/kvm.h): halted =
///   `KVM_MP_STATE_HALTED`; `None` when the ioctl fails.
///
/// CPL is SS.DPL, as QEMU computes it under KVM (`x86_update_hflags()` in target/i386/cpu.c,
/// called from `kvm_get_sregs()`). A20 is enabled: KVM has no A20 gate (QEMU prints `A20=1`).
/// No FPU or vector state is read.
pub fn capture(vcpu: &VcpuFd) -> Result<CpuState> {
    let regs = vcpu.get_regs().map_err(ioctl_err("KVM_GET_REGS"))?;
    let sregs = vcpu.get_sregs().map_err(ioctl_err("KVM_GET_SREGS"))?;
    let debugregs = vcpu.get_debug_regs().unwrap_or(kvm_debugregs {
        dr6: 0xffff_0ff0,
        dr7: 0x400,
        ..Default::default()
    });
    let events = vcpu.get_vcpu_events().ok();
    let mp_state = vcpu.get_mp_state().ok();

    let mut cpu = CpuState::default();
    for (gpr, value) in [
        (Gpr::Rax, regs.rax),
        (Gpr::Rbx, regs.rbx),
        (Gpr::Rcx, regs.rcx),
        (Gpr::Rdx, regs.rdx),
        (Gpr::Rsi, regs.rsi),
        (Gpr::Rdi, regs.rdi),
        (Gpr::Rbp, regs.rbp),
        (Gpr::Rsp, regs.rsp),
        (Gpr::R8, regs.r8),
        (Gpr::R9, regs.r9),
        (Gpr::R10, regs.r10),
        (Gpr::R11, regs.r11),
        (Gpr::R12, regs.r12),
        (Gpr::R13, regs.r13),
        (Gpr::R14, regs.r14),
        (Gpr::R15, regs.r15),
    ] {
        cpu.set_gpr(gpr, value);
    }
    cpu.rip = Some(regs.rip);
    cpu.rflags = Some(regs.rflags);
    for (name, seg) in [
        (SegName::Es, &sregs.es),
        (SegName::Cs, &sregs.cs),
        (SegName::Ss, &sregs.ss),
        (SegName::Ds, &sregs.ds),
        (SegName::Fs, &sregs.fs),
        (SegName::Gs, &sregs.gs),
        (SegName::Ldt, &sregs.ldt),
        (SegName::Tr, &sregs.tr),
    ] {
        cpu.segments[name.index()] = Some(segment(seg));
    }
    cpu.gdt = Some(table(&sregs.gdt));
    cpu.idt = Some(table(&sregs.idt));
    cpu.cr0 = Some(sregs.cr0);
    cpu.cr2 = Some(sregs.cr2);
    cpu.cr3 = Some(sregs.cr3);
    cpu.cr4 = Some(sregs.cr4);
    cpu.cr8 = Some(sregs.cr8);
    cpu.efer = Some(sregs.efer);
    for (i, value) in debugregs.db.iter().enumerate() {
        cpu.dr[i] = Some(*value);
    }
    cpu.dr[6] = Some(debugregs.dr6);
    cpu.dr[7] = Some(debugregs.dr7);
    cpu.cpl = Some(sregs.ss.dpl & 3);
    cpu.interrupt_shadow = events.as_ref().map(|e| e.interrupt.shadow != 0);
    cpu.smm = events.as_ref().map(|e| e.smi.smm != 0);
    cpu.a20 = Some(true);
    // KVM_MP_STATE_HALTED = 3 (include/uapi/linux/kvm.h).
    cpu.halted = mp_state.map(|s| s.mp_state == kvm_bindings::KVM_MP_STATE_HALTED);
    Ok(cpu)
}

/// One segment register as QEMU's `get_seg()` (target/i386/kvm/kvm.c) reads it.
pub fn segment(seg: &kvm_segment) -> Segment {
    Segment {
        selector: seg.selector,
        base: seg.base,
        limit: seg.limit,
        attributes: SegmentAttributes::from_fields(
            seg.type_,
            seg.s != 0,
            seg.dpl,
            seg.present != 0 && seg.unusable == 0,
            seg.avl != 0,
            seg.l != 0,
            seg.db != 0,
            seg.g != 0,
        ),
    }
}

fn table(t: &kvm_dtable) -> DescriptorTable {
    DescriptorTable {
        base: t.base,
        limit: u32::from(t.limit),
    }
}

/// CS.base + RIP, the address QEMU's `x86_cpu_dump_state()` (target/i386/cpu-dump.c) reads the
/// `Code=` window around: no 32-bit wrap-around, unlike the architectural
/// [`kvmtriage_model::ModeDecision::code_address`]. `None` without RIP.
pub fn qemu_code_address(cpu: &CpuState) -> Option<u64> {
    let base = cpu.cs().map_or(0, |cs| cs.base);
    cpu.rip.map(|rip| base.wrapping_add(rip))
}

/// Reads guest-virtual (linear) memory through the guest's page tables; `None` for each byte
/// that is not mapped or not backed by guest RAM.
pub fn read_linear(cpu: &CpuState, mem: &GuestMemory, linear: u64, len: usize) -> Vec<Option<u8>> {
    (0..len as u64)
        .map(|i| {
            let addr = linear.wrapping_add(i);
            translate(cpu, mem, addr).and_then(|gpa| mem.read_u8(gpa))
        })
        .collect()
}

/// Reads a little-endian value of `size` bytes (≤ 8) at a linear address.
pub fn read_linear_le(cpu: &CpuState, mem: &GuestMemory, linear: u64, size: usize) -> Option<u64> {
    let bytes = read_linear(cpu, mem, linear, size);
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        value |= u64::from((*b)?) << (8 * i);
    }
    Some(value)
}

const PTE_PRESENT: u64 = 1;
const PTE_PS: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Translates a linear address to a guest-physical one the way QEMU's debug path
/// (`x86_cpu_get_phys_page_attrs_debug`) does: no paging, 32-bit (with PSE), PAE, 4- and
/// 5-level paging (SDM Vol. 3A §4.3–§4.5). Permission bits are ignored. A control register the
/// state lacks reads as 0 (a state from [`capture`] has them all).
pub fn translate(cpu: &CpuState, mem: &GuestMemory, linear: u64) -> Option<u64> {
    const CR0_PG: u64 = 1 << 31;
    const CR4_PSE: u64 = 1 << 4;
    const CR4_PAE: u64 = 1 << 5;
    const CR4_LA57: u64 = 1 << 12;
    const EFER_LMA: u64 = 1 << 10;
    let cr0 = cpu.cr0.unwrap_or(0);
    let cr3 = cpu.cr3.unwrap_or(0);
    let cr4 = cpu.cr4.unwrap_or(0);
    let efer = cpu.efer.unwrap_or(0);
    if cr0 & CR0_PG == 0 {
        return Some(linear);
    }
    if cr4 & CR4_PAE == 0 {
        let addr = linear & 0xffff_ffff;
        let pde = u64::from(mem.read_u32((cr3 & !0xfff) + ((addr >> 22) << 2))?);
        if pde & PTE_PRESENT == 0 {
            return None;
        }
        if pde & PTE_PS != 0 && cr4 & CR4_PSE != 0 {
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
    if efer & EFER_LMA != 0 {
        let la57 = cr4 & CR4_LA57 != 0;
        let top_bit = if la57 { 56 } else { 47 };
        let sext = (linear as i64) >> top_bit;
        if sext != 0 && sext != -1 {
            return None;
        }
        table = cr3 & ADDR_MASK;
        level = if la57 { 5 } else { 4 };
    } else {
        let addr = linear & 0xffff_ffff;
        let pdpte = mem.read_u64((cr3 & !0x1f) + ((addr >> 30) << 3))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_segment_is_not_present() {
        // KVM marks a null data segment unusable but may leave `present` set; QEMU's get_seg()
        // prints it with P=0.
        let seg = kvm_segment {
            selector: 0,
            type_: 3,
            s: 1,
            present: 1,
            unusable: 1,
            ..Default::default()
        };
        assert_eq!(segment(&seg).attributes.bits(), 0x0000_1300);
        let code64 = kvm_segment {
            selector: 8,
            limit: 0xffff_ffff,
            type_: 0xb,
            s: 1,
            present: 1,
            l: 1,
            g: 1,
            ..Default::default()
        };
        assert_eq!(segment(&code64).attributes.bits(), 0x00a0_9b00);
    }
}
