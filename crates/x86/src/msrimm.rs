//! The immediate forms of RDMSR and WRMSRNS (Intel MSR_IMM, 2024), which iced-x86 1.22 does not
//! decode yet. Encodings (Intel ISE; Linux arch/x86/include/asm/msr.h `ASM_RDMSR_IMM`,
//! `ASM_WRMSRNS_IMM`):
//!
//! - `RDMSR r64, imm32`:   VEX.128.F2.M7.W0 F6 /0 id  (`c4 e7 7b f6 c0 <imm32>` = `rdmsr rax, imm`)
//! - `WRMSRNS imm32, r64`: VEX.128.F3.M7.W0 F6 /0 id  (`c4 e7 7a f6 c0 <imm32>` = `wrmsrns imm, rax`)
//!
//! 64-bit mode only; ModRM.mod must be 3 and ModRM.reg 0. Segment prefixes before the VEX (Linux
//! uses `2e` as a padding prefix) are accepted.

use iced_x86::Register;

/// A decoded immediate-form MSR instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsrImm {
    /// Total length in bytes, prefixes included.
    pub len: usize,
    /// `true` for WRMSRNS imm32, r64; `false` for RDMSR r64, imm32.
    pub write: bool,
    /// The 64-bit register operand.
    pub register: Register,
    /// The MSR index (the immediate).
    pub index: u32,
}

const GPR64: [Register; 16] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];

/// Decodes an immediate-form RDMSR/WRMSRNS at the start of `bytes` (64-bit mode only).
pub fn decode(bytes: &[u8], bitness: u32) -> Option<MsrImm> {
    if bitness != 64 {
        return None;
    }
    let prefixes = bytes
        .iter()
        .take(4)
        .take_while(|b| matches!(b, 0x2e | 0x3e | 0x26 | 0x36 | 0x64 | 0x65))
        .count();
    let rest = bytes.get(prefixes..)?;
    let [0xc4, b1, b2, 0xf6, modrm, i0, i1, i2, i3, ..] = *rest else {
        return None;
    };
    // b1: inverted R X B, then map select 7. b2: W=0, vvvv=1111 (unused), L=0, pp = F3 (2) or F2 (3).
    if b1 & 0x1f != 7 || b2 & 0xfc != 0x78 || modrm & 0xf8 != 0xc0 {
        return None;
    }
    let write = match b2 & 3 {
        2 => true,
        3 => false,
        _ => return None,
    };
    let b_ext = if b1 & 0x20 == 0 { 8 } else { 0 };
    let register = *GPR64.get(usize::from(modrm & 7) + b_ext)?;
    Some(MsrImm {
        len: prefixes + 9,
        write,
        register,
        index: u32::from_le_bytes([i0, i1, i2, i3]),
    })
}

/// Assembler text in the given syntax: `rdmsr rax,0x838` / `wrmsrns 0x838,rax` (Intel),
/// `rdmsr $0x838,%rax` / `wrmsrns %rax,$0x838` (AT&T).
pub fn text(m: &MsrImm, syntax: crate::Syntax) -> String {
    let reg = format!("{:?}", m.register).to_ascii_lowercase();
    match (syntax, m.write) {
        (crate::Syntax::Intel, false) => format!("rdmsr {reg},0x{:x}", m.index),
        (crate::Syntax::Intel, true) => format!("wrmsrns 0x{:x},{reg}", m.index),
        (crate::Syntax::Att, false) => format!("rdmsr $0x{:x},%{reg}", m.index),
        (crate::Syntax::Att, true) => format!("wrmsrns %{reg},$0x{:x}", m.index),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_encodings() {
        let rd = [0xc4, 0xe7, 0x7b, 0xf6, 0xc0, 0x38, 0x08, 0, 0];
        assert_eq!(
            decode(&rd, 64),
            Some(MsrImm {
                len: 9,
                write: false,
                register: Register::RAX,
                index: 0x838
            })
        );
        let wr = [0x2e, 0xc4, 0xe7, 0x7a, 0xf6, 0xc0, 0x48, 0, 0, 0];
        assert_eq!(
            decode(&wr, 64),
            Some(MsrImm {
                len: 10,
                write: true,
                register: Register::RAX,
                index: 0x48
            })
        );
        // VEX.B clear (inverted) selects r8..r15.
        let r9 = [0xc4, 0xc7, 0x7a, 0xf6, 0xc1, 0x48, 0, 0, 0];
        assert_eq!(decode(&r9, 64).map(|d| d.register), Some(Register::R9));
        assert_eq!(decode(&rd, 32), None);
        assert_eq!(decode(&rd[..8], 64), None);
        assert_eq!(
            decode(&[0xc4, 0xe7, 0x7b, 0xf6, 0xc8, 0, 0, 0, 0], 64),
            None,
            "ModRM.reg must be 0"
        );
    }
}
