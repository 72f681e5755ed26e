//! Well-known x86 I/O ports on PCs and QEMU machines.
//!
//! Sources: the classic PC/AT port map (8259 PIC, 8254 PIT, MC146818 RTC, 8042, 16550 UART), the
//! PCI Local Bus spec (configuration mechanism #1 at 0xcf8/0xcfc), QEMU's `hw/nvram/fw_cfg.c`
//! (FW_CFG_IO_BASE 0x510), `hw/char/debugcon.c` (0xe9 by default, 0x402 as used by SeaBIOS/OVMF),
//! `hw/misc/debugexit.c` (0x501 default), `hw/isa/lpc_ich9.c`/`hw/acpi/piix4.c` (ACPI PM blocks).

/// Name of the device register behind I/O port `port`, if it is a well-known one.
pub fn port_name(port: u16) -> Option<String> {
    let uart = |base: u16, name: &str| -> String {
        let reg = match port - base {
            0 => "data (THR/RBR, or DLL when DLAB=1)",
            1 => "IER (or DLM when DLAB=1)",
            2 => "IIR/FCR",
            3 => "LCR",
            4 => "MCR",
            5 => "LSR",
            6 => "MSR",
            _ => "scratch",
        };
        format!("{name} {reg}")
    };
    let fixed = match port {
        0x20 => "PIC1 (master 8259) command/status",
        0x21 => "PIC1 (master 8259) data/IMR",
        0xa0 => "PIC2 (slave 8259) command/status",
        0xa1 => "PIC2 (slave 8259) data/IMR",
        0x40 => "PIT (8254) channel 0 counter",
        0x41 => "PIT (8254) channel 1 counter",
        0x42 => "PIT (8254) channel 2 counter (PC speaker)",
        0x43 => "PIT (8254) mode/command",
        0x60 => "i8042 keyboard controller data",
        0x61 => "system control port B (PIT gate, speaker, NMI status)",
        0x64 => "i8042 keyboard controller status/command",
        0x70 => "CMOS/RTC index (bit 7 masks NMI)",
        0x71 => "CMOS/RTC data",
        0x80 => "POST diagnostic port (also used as an I/O delay)",
        0x92 => "system control port A (fast A20, reset)",
        0xb2 => "APM/SMI command port (ACPI SMI_CMD on QEMU)",
        0xb3 => "APM status port",
        0xe9 => "QEMU/Bochs debug console (isa-debugcon default port, 'port e9 hack')",
        0xf4 => "isa-debug-exit as commonly configured (iobase=0xf4): exits QEMU",
        0x402 => "QEMU debug console as used by SeaBIOS/OVMF (isa-debugcon iobase=0x402)",
        0x501 => "QEMU isa-debug-exit default port: exits QEMU",
        0x510 => "QEMU fw_cfg selector",
        0x511 => "QEMU fw_cfg data",
        0x514..=0x51b => "QEMU fw_cfg DMA address",
        0x600 | 0x601 => "ACPI PM1a event status (QEMU q35/ICH9, PM base 0x600)",
        0x602 | 0x603 => "ACPI PM1a event enable (QEMU q35/ICH9)",
        0x604 | 0x605 => "ACPI PM1a control (QEMU q35/ICH9): SLP_TYP/SLP_EN",
        0x608..=0x60b => "ACPI PM timer (QEMU q35/ICH9)",
        0x620..=0x62f => "ACPI GPE0 block (QEMU q35/ICH9)",
        0xb000 | 0xb001 => "ACPI PM1a event status (QEMU pc/PIIX4, PM base 0xb000)",
        0xb002 | 0xb003 => "ACPI PM1a event enable (QEMU pc/PIIX4)",
        0xb004 | 0xb005 => "ACPI PM1a control (QEMU pc/PIIX4): SLP_TYP/SLP_EN",
        0xb008..=0xb00b => "ACPI PM timer (QEMU pc/PIIX4)",
        0xafe0..=0xafe3 => "ACPI GPE0 block (QEMU pc/PIIX4)",
        0xcf9 => "reset control register (byte access; a dword access is PCI CONFIG_ADDRESS)",
        0xcf8..=0xcfb => "PCI configuration address (CONFIG_ADDRESS)",
        0xcfc..=0xcff => "PCI configuration data (CONFIG_DATA)",
        0x1f0..=0x1f7 => "primary ATA (IDE) command block",
        0x3f6 => "primary ATA (IDE) control",
        0x170..=0x177 => "secondary ATA (IDE) command block",
        0x376 => "secondary ATA (IDE) control",
        0x3c0..=0x3df => "VGA registers",
        0x5658 => "VMware backdoor",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_string());
    }
    Some(match port {
        0x3f8..=0x3ff => uart(0x3f8, "COM1"),
        0x2f8..=0x2ff => uart(0x2f8, "COM2"),
        0x3e8..=0x3ef => uart(0x3e8, "COM3"),
        0x2e8..=0x2ef => uart(0x2e8, "COM4"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            port_name(0x3f8).as_deref(),
            Some("COM1 data (THR/RBR, or DLL when DLAB=1)")
        );
        assert_eq!(port_name(0x2fd).as_deref(), Some("COM2 LSR"));
        assert_eq!(
            port_name(0xcf8).as_deref(),
            Some("PCI configuration address (CONFIG_ADDRESS)")
        );
        assert_eq!(
            port_name(0xcfe).as_deref(),
            Some("PCI configuration data (CONFIG_DATA)")
        );
        assert_eq!(port_name(0x510).as_deref(), Some("QEMU fw_cfg selector"));
        assert_eq!(
            port_name(0x70).as_deref(),
            Some("CMOS/RTC index (bit 7 masks NMI)")
        );
        assert_eq!(port_name(0x1234), None);
    }
}
