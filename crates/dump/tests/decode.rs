//! Decoders: bit names, segment attributes, CPU/paging mode, consistency warnings.

use kvmtriage_dump::decode::{decode_bits, decode_segment};
use kvmtriage_dump::tables;
use kvmtriage_dump::{read, Dump, ModeKind, PagingMode, SegName, SegmentClass, WarningKind};

#[test]
fn cr0_cr4_efer_rflags_names() {
    assert_eq!(
        decode_bits(tables::CR0, 0x80050033).set,
        ["PE", "MP", "ET", "NE", "WP", "AM", "PG"]
    );
    assert_eq!(
        decode_bits(tables::CR4, 0x6e0).set,
        ["PAE", "MCE", "PGE", "OSFXSR", "OSXMMEXCPT"]
    );
    assert_eq!(
        decode_bits(tables::CR4, 0x771ef0).set,
        [
            "PSE",
            "PAE",
            "MCE",
            "PGE",
            "OSFXSR",
            "OSXMMEXCPT",
            "UMIP",
            "LA57",
            "FSGSBASE",
            "PCIDE",
            "OSXSAVE",
            "SMEP",
            "SMAP",
            "PKE"
        ]
    );
    assert_eq!(
        decode_bits(tables::EFER, 0xd01).set,
        ["SCE", "LME", "LMA", "NXE"]
    );
    let rf = decode_bits(tables::RFLAGS, 0x46);
    assert_eq!(rf.set, ["PF", "ZF"]);
    assert_eq!(rf.unnamed_set_bits, [1]);
    let rf = decode_bits(tables::RFLAGS, 0x23246);
    assert_eq!(rf.set, ["PF", "ZF", "IF", "IOPL", "VM"]);
    let iopl = rf.fields.iter().find(|f| f.name == "IOPL").expect("IOPL");
    assert_eq!((iopl.bit, iopl.width, iopl.value), (12, 2, 3));
    // every named field appears, set or not
    assert_eq!(decode_bits(tables::CR0, 0).fields.len(), 11);
}

#[test]
fn dr6_dr7_fields() {
    let dr6 = decode_bits(tables::DR6, 0xffff4ff1);
    assert_eq!(dr6.set, ["B0", "BLD", "BS", "RTM"]);
    let dr7 = decode_bits(tables::DR7, 0x000d0002);
    assert_eq!(dr7.set, ["G0", "R/W0", "LEN0"]);
    let rw0 = dr7.fields.iter().find(|f| f.name == "R/W0").expect("R/W0");
    let len0 = dr7.fields.iter().find(|f| f.name == "LEN0").expect("LEN0");
    assert_eq!((rw0.value, len0.value), (1, 3));
    assert_eq!(decode_bits(tables::DR7, 0x400).unnamed_set_bits, [10]);
}

#[test]
fn segment_attributes() {
    let cs = decode_segment(SegName::Cs, 0x00a09b00, true);
    assert_eq!(cs.class, SegmentClass::Code);
    assert_eq!(cs.type_name, "Execute/Read, accessed");
    assert!(cs.s && cs.p && cs.l && !cs.db && cs.g && !cs.avl);
    assert_eq!(cs.dpl, 0);
    assert_eq!(
        (cs.readable_or_writable, cs.accessed, cs.busy),
        (Some(true), Some(true), None)
    );

    let ds = decode_segment(SegName::Ds, 0x00c0f300, false);
    assert_eq!(
        (ds.class, ds.dpl, ds.type_name),
        (SegmentClass::Data, 3, "Read/Write, accessed")
    );
    assert!(ds.db);

    let tr64 = decode_segment(SegName::Tr, 0x8b00, true);
    assert_eq!(
        (tr64.class, tr64.type_name, tr64.busy),
        (SegmentClass::System, "64-bit TSS (Busy)", Some(true))
    );
    let tr32 = decode_segment(SegName::Tr, 0x8900, false);
    assert_eq!(
        (tr32.type_name, tr32.busy),
        ("32-bit TSS (Available)", Some(false))
    );
    let tr16 = decode_segment(SegName::Tr, 0x8300, false);
    assert_eq!(
        (tr16.type_name, tr16.busy),
        ("16-bit TSS (Busy)", Some(true))
    );
    let ldt = decode_segment(SegName::Ldt, 0x8200, false);
    assert_eq!((ldt.type_name, ldt.busy), ("LDT", None));
    let expand_down = decode_segment(SegName::Ss, 0x00409700, false);
    assert_eq!(expand_down.type_name, "Read/Write, expand-down, accessed");
    assert_eq!(expand_down.conforming_or_expand_down, Some(true));
}

/// A 32-bit-layout dump with the given state (compat, protected, real, v86).
#[allow(clippy::too_many_arguments)]
fn dump32(
    cr0: u32,
    cr4: u32,
    efer: u64,
    efl: u32,
    cpl: u8,
    cs: u32,
    ss: u32,
    cs_text: &str,
) -> Dump {
    let text = format!(
        "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00001000
EIP=00001000 EFL={efl:08x} [-------] CPL={cpl} II=0 A20=1 SMM=0 HLT=0
ES =0010 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]
CS =0008 00000000 ffffffff {cs:08x}{cs_text}
SS =0010 00000000 ffffffff {ss:08x}
DS =0010 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]
FS =0010 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]
GS =0010 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]
LDT=0000 00000000 0000ffff 00008200 DPL=0 LDT
TR =0000 00000000 0000ffff 00008b00 DPL=0 TSS32-busy
GDT=     00001000 0000001f
IDT=     00000000 000003ff
CR0={cr0:08x} CR2=00000000 CR3=00002000 CR4={cr4:08x}
DR0=00000000 DR1=00000000 DR2=00000000 DR3=00000000
DR6=ffff0ff0 DR7=00000400
EFER={efer:016x}
"
    );
    let mut dumps = read(&text).expect("dump");
    assert_eq!(dumps.len(), 1);
    dumps.remove(0)
}

fn evidence(d: &Dump) -> Vec<String> {
    d.mode.evidence.iter().map(ToString::to_string).collect()
}

fn inconsistent(d: &Dump) -> Vec<&str> {
    d.warnings
        .iter()
        .filter(|w| w.kind == WarningKind::Inconsistent)
        .map(|w| w.message.as_str())
        .collect()
}

#[test]
fn modes_from_state() {
    let compat32 = dump32(0x80000011, 0x20, 0x500, 2, 0, 0x00c09b00, 0x00c09300, "");
    assert_eq!(
        (compat32.mode.kind, compat32.mode.bits),
        (ModeKind::Compat32, Some(32))
    );
    assert_eq!(compat32.mode.paging, PagingMode::FourLevel);
    assert!(
        inconsistent(&compat32).is_empty(),
        "{:?}",
        compat32.warnings
    );

    let compat16 = dump32(0x80000011, 0x1020, 0x500, 2, 0, 0x00009b00, 0x00c09300, "");
    assert_eq!(
        (compat16.mode.kind, compat16.mode.bits),
        (ModeKind::Compat16, Some(16))
    );
    assert_eq!(compat16.mode.paging, PagingMode::FiveLevel);

    let pae = dump32(0x80000011, 0x20, 0, 2, 0, 0x00c09b00, 0x00c09300, "");
    assert_eq!(
        (pae.mode.kind, pae.mode.paging),
        (ModeKind::Protected32, PagingMode::Pae)
    );
    let paged32 = dump32(0x80000011, 0, 0, 2, 0, 0x00c09b00, 0x00c09300, "");
    assert_eq!(paged32.mode.paging, PagingMode::Bits32);

    let v86 = dump32(0x11, 0, 0, 0x20002, 3, 0x0000f300, 0x0000f300, "");
    assert_eq!(
        (v86.mode.kind, v86.mode.bits),
        (ModeKind::Virtual8086, Some(16))
    );
    assert!(v86
        .mode
        .evidence
        .iter()
        .any(|e| e.to_string().starts_with("RFLAGS.VM=1")));

    let pm16 = dump32(0x11, 0, 0, 2, 0, 0x00009b00, 0x00009300, "");
    assert_eq!(
        (pm16.mode.kind, pm16.mode.bits),
        (ModeKind::Protected16, Some(16))
    );

    let real = dump32(0x60000010, 0, 0, 2, 0, 0x00009b00, 0x00009300, "");
    assert_eq!(
        (real.mode.kind, real.mode.bits, real.mode.paging),
        (ModeKind::Real, Some(16), PagingMode::None)
    );
    assert_eq!(
        evidence(&real),
        ["CR0.PE=0 (CR0=60000010): real-address mode"]
    );
}

#[test]
fn consistency_warnings() {
    // CS64 label with EFER.LMA=0
    let d = dump32(
        0x11,
        0,
        0,
        2,
        0,
        0x00a09b00,
        0x00c09300,
        " DPL=0 CS64 [-RA]",
    );
    assert_eq!(
        inconsistent(&d),
        ["CS is a 64-bit code segment (L=1, printed CS64) but EFER.LMA=0: the L bit only takes effect in IA-32e mode"]
    );
    // CR0.PG=1 without PE
    let d = dump32(0x80000010, 0, 0, 2, 0, 0x00009b00, 0x00009300, "");
    assert_eq!(
        inconsistent(&d),
        ["CR0.PG=1 with CR0.PE=0 (CR0=80000010): paging requires protected mode (SDM Vol. 3A §2.5; MOV to CR0 raises #GP)"]
    );
    // LMA without PG
    let d = dump32(0x11, 0x20, 0x500, 2, 0, 0x00c09b00, 0x00c09300, "");
    assert_eq!(
        inconsistent(&d),
        ["EFER.LMA=1 but CR0.PG=0: IA-32e mode is active only with paging on (SDM Vol. 3A §9.8.5)"]
    );
    // SS.DPL != CPL in protected mode
    let d = dump32(0x11, 0, 0, 2, 3, 0x00c0fb00, 0x00c09300, "");
    assert_eq!(
        inconsistent(&d),
        ["SS.DPL=0 but CPL=3: in protected mode SS.DPL equals CPL (SDM Vol. 3A §5.7)"]
    );
    // printed DPL disagrees with the attribute word
    let d = dump32(
        0x11,
        0,
        0,
        2,
        0,
        0x00c09b00,
        0x00c09300,
        " DPL=3 CS32 [-RA]",
    );
    assert_eq!(
        inconsistent(&d),
        ["CS printed DPL=3 but its attribute word 00c09b00 has DPL=0"]
    );
}

#[test]
fn origin_dump_decodes() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .expect("origin");
    let d = &read(&text).expect("read")[0];
    assert_eq!(
        (d.mode.kind, d.mode.bits, d.mode.paging),
        (ModeKind::Long64, Some(64), PagingMode::FourLevel)
    );
    assert_eq!(
        evidence(d),
        [
            "CR0.PE=1 (CR0=80050033): protected mode",
            "EFER.LMA=1 (EFER=d01)",
            "QEMU labelled CS CS64",
            "CS.L=1 (attributes 00a09b00): 64-bit mode"
        ]
    );
    assert_eq!(
        d.decoded.efer.as_ref().map(|e| e.set.clone()),
        Some(vec!["SCE", "LME", "LMA", "NXE"])
    );
    let tr = d
        .decoded
        .segments
        .iter()
        .find(|s| s.name == SegName::Tr)
        .expect("TR");
    assert_eq!(tr.type_name, "64-bit TSS (Busy)");
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}
