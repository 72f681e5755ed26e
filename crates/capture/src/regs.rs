//! The few values the capture needs from QEMU's `info registers -a` answer: per vCPU the
//! instruction and stack pointers, the segments, GDTR/IDTR, CR0 and EFER, filled into the one CPU
//! model ([`kvmtriage_model::CpuState`]) and given to the one mode decider
//! ([`kvmtriage_model::ModeDecision`]).
//!
//! This reads only what this crate asked QEMU for a moment earlier (`x86_cpu_dump_state`'s
//! `NAME=value` layout, `CPU#N` headers); finding dumps in arbitrary text is `kvmtriage-dump`'s
//! job, and `explain` reads the capture with that reader.

use kvmtriage_model::{
    CpuState, DescriptorTable, Gpr, ModeDecision, ModeHints, SegName, Segment, SegmentAttributes,
};

/// One vCPU of the answer.
#[derive(Debug, Clone)]
pub struct VcpuRegs {
    /// From the `CPU#N` header; the position in the answer when there is none.
    pub index: u32,
    pub cpu: CpuState,
    pub mode: ModeDecision,
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s, 16).ok()
}

/// Splits the answer at `CPU#N` headers (or reads it as one vCPU) and reads each part.
pub fn read(text: &str) -> Vec<VcpuRegs> {
    let mut parts: Vec<(Option<u32>, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(n) = t.strip_prefix("CPU#").and_then(|n| n.parse::<u32>().ok()) {
            parts.push((Some(n), Vec::new()));
            continue;
        }
        if parts.is_empty() {
            parts.push((None, Vec::new()));
        }
        if let Some(p) = parts.last_mut() {
            p.1.push(t);
        }
    }
    parts
        .into_iter()
        .enumerate()
        .filter_map(|(i, (n, lines))| {
            let (cpu, hints) = read_one(&lines)?;
            let mode = ModeDecision::decide(&cpu, &hints);
            Some(VcpuRegs {
                index: n.unwrap_or(i as u32),
                cpu,
                mode,
            })
        })
        .collect()
}

fn read_one(lines: &[&str]) -> Option<(CpuState, ModeHints)> {
    let mut cpu = CpuState::default();
    let mut hints = ModeHints::default();
    let mut any = false;
    for line in lines {
        // Segment and descriptor-table lines: `CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]`.
        if let Some((name, rest)) = line.split_once('=') {
            let name = name.trim();
            let seg = SegName::ALL.iter().find(|s| s.name() == name).copied();
            if seg.is_some() || name == "GDT" || name == "IDT" {
                let f: Vec<&str> = rest.split_whitespace().collect();
                if let Some(seg) = seg {
                    if f.len() >= 4 {
                        if let (Some(sel), Some(base), Some(limit), Some(attr)) =
                            (hex(f[0]), hex(f[1]), hex(f[2]), hex(f[3]))
                        {
                            cpu.segments[seg.index()] = Some(Segment {
                                selector: sel as u16,
                                base,
                                limit: limit as u32,
                                attributes: SegmentAttributes(
                                    attr as u32 & SegmentAttributes::MASK,
                                ),
                            });
                            any = true;
                        }
                    }
                    if f.iter().any(|w| w.starts_with("DPL=")) {
                        hints.printed_dpl = true;
                    }
                } else if f.len() >= 2 {
                    if let (Some(base), Some(limit)) = (hex(f[0]), hex(f[1])) {
                        let t = Some(DescriptorTable {
                            base,
                            limit: limit as u32,
                        });
                        if name == "GDT" {
                            cpu.gdt = t;
                        } else {
                            cpu.idt = t;
                        }
                    }
                }
                continue;
            }
        }
        for tok in line.split_whitespace() {
            let Some((name, value)) = tok.split_once('=') else {
                continue;
            };
            let Some(v) = hex(value) else { continue };
            match name {
                "RIP" | "EIP" => {
                    cpu.rip = Some(v);
                    any = true;
                }
                "RSP" => {
                    cpu.set_gpr(Gpr::Rsp, v);
                    hints.layout64 = Some(true);
                }
                "ESP" => {
                    cpu.set_gpr(Gpr::Rsp, v);
                    hints.layout64.get_or_insert(false);
                }
                "CR0" => cpu.cr0 = Some(v),
                "CR3" => cpu.cr3 = Some(v),
                "CR4" => cpu.cr4 = Some(v),
                "EFER" => cpu.efer = Some(v),
                _ => {}
            }
        }
    }
    any.then_some((cpu, hints))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "\nCPU#0\n\
RAX=0000000010000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000\n\
RSI=0000000000000000 RDI=0000000000000000 RBP=0000000000000000 RSP=0000000000007000\n\
RIP=0000000010000000 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n\
ES =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n\
CS =0018 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\n\
SS =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n\
GDT=     0000000000007e00 0000001f\n\
IDT=     0000000000000000 00000000\n\
CR0=80000011 CR2=0000000000000000 CR3=0000000000010000 CR4=00000020\n\
EFER=0000000000000500\n\
CPU#1\n\
EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000\n\
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000ff0\n\
EIP=00000012 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1\n\
CS =0900 00009000 0000ffff 00009b00\n\
SS =0000 00000000 0000ffff 00009300\n\
CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\n\
EFER=0000000000000000\n";

    #[test]
    fn reads_both_vcpus_and_their_modes() {
        let v = read(TWO);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].index, 0);
        assert_eq!(v[0].mode.bits, Some(64));
        assert_eq!(v[0].mode.code_address(&v[0].cpu), Some(0x1000_0000));
        assert_eq!(v[0].cpu.gdt.unwrap().base, 0x7e00);
        assert_eq!(v[1].index, 1);
        assert_eq!(v[1].mode.bits, Some(16));
        assert_eq!(v[1].mode.code_address(&v[1].cpu), Some(0x9012));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "(?s).{0,600}") {
            let _ = read(&text);
        }
    }
}
