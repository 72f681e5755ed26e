//! iced-x86 registers looked up in the one CPU-state model, [`kvmtriage_model::CpuState`].
//!
//! Nothing is copied: every function reads the `CpuState` it is given. A value the input does not
//! give is `None`.
//!
//! APX: `CpuState` holds R16–R31, but iced-x86 (1.22, the version this workspace builds with)
//! decodes no APX encodings (REX2, extended EVEX) and has no `Register` for R16–R31, so no decoded
//! operand can name them and [`register_value`] never needs them. Callers that want R16–R31 read
//! them with [`CpuState::gpr`].

use iced_x86::Register;
use kvmtriage_model::{CpuState, Gpr, SegName};

/// CR4.DE (debugging extensions): with it set, DR4/DR5 are reserved (#UD) instead of aliases of
/// DR6/DR7 (SDM Vol. 3B §18.2.2).
use kvmtriage_model::tables::flags::CR4_DE;

/// The general-purpose register holding `reg`: RAX for AL, AH, AX, EAX and RAX; R8 for R8L, R8W,
/// R8D and R8. `None` for anything that is not a GPR (RIP included).
pub fn gpr(reg: Register) -> Option<Gpr> {
    let full = reg.full_register();
    if full.is_gpr64() {
        Gpr::from_number(full.number())
    } else {
        None
    }
}

/// The segment register `reg` names (ES, CS, SS, DS, FS, GS).
pub fn seg_name(reg: Register) -> Option<SegName> {
    Some(match reg {
        Register::ES => SegName::Es,
        Register::CS => SegName::Cs,
        Register::SS => SegName::Ss,
        Register::DS => SegName::Ds,
        Register::FS => SegName::Fs,
        Register::GS => SegName::Gs,
        _ => return None,
    })
}

/// Value of `reg` as far as `cpu` knows it: any general-purpose register or sub-register (AL, AH,
/// AX, EAX, RAX, R8L, R8W, R8D, …: the low bits of the full register, bits 8–15 for AH/BH/CH/DH),
/// RIP/EIP, a segment register (its selector), CR0/CR2/CR3/CR4/CR8 or DR0–DR7 (DR4/DR5 read
/// DR6/DR7 unless CR4.DE is known to be set, when they do not exist).
pub fn register_value(cpu: &CpuState, reg: Register) -> Option<u64> {
    if let Some(g) = gpr(reg) {
        let v = cpu.gpr(g)?;
        if matches!(
            reg,
            Register::AH | Register::BH | Register::CH | Register::DH
        ) {
            return Some((v >> 8) & 0xff);
        }
        return Some(match reg.size() {
            1 => v & 0xff,
            2 => v & 0xffff,
            4 => v & 0xffff_ffff,
            _ => v,
        });
    }
    if reg.is_segment_register() {
        return segment_selector(cpu, reg).map(u64::from);
    }
    if reg.is_cr() {
        return cpu.cr(u8::try_from(reg.number()).ok()?);
    }
    if reg.is_dr() {
        let n = u8::try_from(reg.number()).ok()?;
        if matches!(n, 4 | 5) && cpu.cr4.is_some_and(|c| c & CR4_DE != 0) {
            return None;
        }
        return cpu.dr(n);
    }
    match reg {
        Register::RIP => cpu.rip,
        Register::EIP => cpu.rip.map(|v| v & 0xffff_ffff),
        _ => None,
    }
}

/// Selector of the segment register `reg` (ES, CS, SS, DS, FS, GS).
pub fn segment_selector(cpu: &CpuState, reg: Register) -> Option<u16> {
    cpu.segment(seg_name(reg)?).map(|s| s.selector)
}

/// The base `reg` contributes to a linear address. In 64-bit mode the ES/CS/SS/DS bases are
/// treated as 0 whether or not the input gives them (SDM Vol. 3A §3.4.4), and FS/GS use their
/// bases; outside 64-bit mode every segment's base counts.
pub fn segment_base(cpu: &CpuState, reg: Register, bitness: u32) -> Option<u64> {
    let name = seg_name(reg)?;
    if bitness == 64 && !matches!(name, SegName::Fs | SegName::Gs) {
        return Some(0);
    }
    cpu.segment(name).map(|s| s.base)
}

/// Register value for iced's address computation (`UsedMemory::virtual_address`): a segment
/// register gives its [`segment_base`], RIP/EIP the address of the next instruction, anything else
/// its [`register_value`].
pub(crate) fn address_register(
    cpu: &CpuState,
    reg: Register,
    bitness: u32,
    next_ip: u64,
) -> Option<u64> {
    if reg.is_segment_register() {
        return segment_base(cpu, reg, bitness);
    }
    match reg {
        Register::RIP | Register::EIP => Some(next_ip),
        _ => register_value(cpu, reg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvmtriage_model::{Segment, SegmentAttributes};

    fn cpu() -> CpuState {
        let mut c = CpuState::default();
        c.set_gpr(Gpr::Rax, 0x1122_3344_5566_7788);
        c.set_gpr(Gpr::R9, 0xffff_0000_1234_abcd);
        c.rip = Some(0xffff_ffff_8100_0010);
        c.segments[SegName::Gs.index()] = Some(Segment {
            selector: 0x2b,
            base: 0xffff_8880_0000_0000,
            limit: 0xffff_ffff,
            attributes: SegmentAttributes::default(),
        });
        c.segments[SegName::Ds.index()] = Some(Segment {
            selector: 0x18,
            base: 0x1000,
            limit: 0xffff,
            attributes: SegmentAttributes::default(),
        });
        c.cr0 = Some(0x8005_0033);
        c.cr8 = Some(0xf);
        c.dr[6] = Some(0xffff_0ff0);
        c
    }

    #[test]
    fn sub_registers() {
        let c = cpu();
        assert_eq!(register_value(&c, Register::AL), Some(0x88));
        assert_eq!(register_value(&c, Register::AH), Some(0x77));
        assert_eq!(register_value(&c, Register::AX), Some(0x7788));
        assert_eq!(register_value(&c, Register::EAX), Some(0x5566_7788));
        assert_eq!(
            register_value(&c, Register::RAX),
            Some(0x1122_3344_5566_7788)
        );
        assert_eq!(register_value(&c, Register::R9L), Some(0xcd));
        assert_eq!(register_value(&c, Register::R9W), Some(0xabcd));
        assert_eq!(register_value(&c, Register::R9D), Some(0x1234_abcd));
        assert_eq!(register_value(&c, Register::RBX), None);
        assert_eq!(gpr(Register::SIL), Some(Gpr::Rsi));
        assert_eq!(gpr(Register::RIP), None);
    }

    #[test]
    fn ip_segments_control_debug() {
        let c = cpu();
        assert_eq!(register_value(&c, Register::RIP), c.rip);
        assert_eq!(register_value(&c, Register::EIP), Some(0x8100_0010));
        assert_eq!(register_value(&c, Register::GS), Some(0x2b));
        assert_eq!(register_value(&c, Register::FS), None);
        assert_eq!(register_value(&c, Register::CR0), Some(0x8005_0033));
        assert_eq!(register_value(&c, Register::CR8), Some(0xf));
        assert_eq!(register_value(&c, Register::CR3), None);
        assert_eq!(register_value(&c, Register::DR6), Some(0xffff_0ff0));
        // DR4 aliases DR6 unless CR4.DE is set.
        assert_eq!(register_value(&c, Register::DR4), Some(0xffff_0ff0));
        let mut de = c.clone();
        de.cr4 = Some(CR4_DE);
        assert_eq!(register_value(&de, Register::DR4), None);
    }

    #[test]
    fn segment_bases_follow_the_64_bit_rule() {
        let c = cpu();
        assert_eq!(segment_base(&c, Register::DS, 64), Some(0));
        assert_eq!(segment_base(&c, Register::SS, 64), Some(0));
        assert_eq!(segment_base(&c, Register::DS, 32), Some(0x1000));
        assert_eq!(segment_base(&c, Register::SS, 32), None);
        assert_eq!(
            segment_base(&c, Register::GS, 64),
            Some(0xffff_8880_0000_0000)
        );
        assert_eq!(segment_base(&c, Register::FS, 64), None);
        assert_eq!(segment_base(&c, Register::RAX, 64), None);
        assert_eq!(address_register(&c, Register::RIP, 64, 0x42), Some(0x42));
    }
}
