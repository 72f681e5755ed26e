//! One test per semantic describer, with exact expected one-liners.

mod common;

use common::{cpu, set_seg, table};
use kvmtriage_model::{CpuState, Gpr, SegName};
use kvmtriage_x86::{describe_bytes, Effect, EffectKind};

fn effect(bytes: &[u8], bitness: u32, state: &CpuState) -> Effect {
    describe_bytes(bytes, bitness, 0x1000, state).expect("effect")
}

fn s64() -> CpuState {
    {
        let mut c = cpu(&[
            (Gpr::Rax, 0x7213cc9),
            (Gpr::Rbx, 0x1111),
            (Gpr::Rcx, 0x838),
            (Gpr::Rdx, 0),
            (Gpr::Rsi, 0x2222),
            (Gpr::Rdi, 0x3000),
            (Gpr::Rsp, 0x7ff0),
        ]);
        c.rflags = Some(0x246);
        set_seg(&mut c, SegName::Ss, 0x18, 0);
        set_seg(&mut c, SegName::Ds, 0, 0);
        set_seg(&mut c, SegName::Es, 0, 0);
        set_seg(&mut c, SegName::Gs, 0, 0xffff_9f30_ffcc_0000);
        c.cr0 = Some(0x8005_0033);
        c.cr4 = Some(0x6e0);
        c.dr = [
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            None,
            None,
            Some(0xffff_0ff0),
            Some(0x400),
        ];
        c.idt = table(0xffff_fe00_0000_0000, 0xfff);
        c.gdt = table(0xffff_fe00_0008_5000, 0x7f);
        c
    }
}

#[test]
fn wrmsr_x2apic_tmict() {
    let e = effect(&[0x0f, 0x30], 64, &s64());
    assert_eq!(e.kind, EffectKind::MsrWrite);
    assert_eq!(e.summary, "wrmsr: writes 0x0000000007213cc9 to MSR 0x838 (IA32_X2APIC_INIT_COUNT: x2APIC timer initial count)");
}

#[test]
fn wrmsr_mce_bank_with_unknown_edx() {
    let st = cpu(&[(Gpr::Rcx, 0x404), (Gpr::Rax, 0xffff_fffe)]);
    let e = effect(&[0x0f, 0x30], 64, &st);
    assert_eq!(
        e.summary,
        "wrmsr: writes EDX:EAX (EDX not in the dump) to MSR 0x404 (IA32_MC1_CTL: Machine-check bank 1 control: which error types the bank reports)"
    );
    assert_eq!(e.msr.as_ref().and_then(|m| m.bank), Some(1));
}

#[test]
fn rdmsr_and_unknown_msr() {
    let st = cpu(&[(Gpr::Rcx, 0xc000_0080)]);
    assert_eq!(
        effect(&[0x0f, 0x32], 64, &st).summary,
        "rdmsr: reads MSR 0xc0000080 (IA32_EFER: Extended feature enables (SYSCALL, long mode, NX, SVM)) into EDX:EAX"
    );
    let st = cpu(&[(Gpr::Rcx, 0x8ff), (Gpr::Rax, 1), (Gpr::Rdx, 0)]);
    assert_eq!(
        effect(&[0x0f, 0x30], 64, &st).summary,
        "wrmsr: writes 0x0000000000000001 to MSR 0x8ff (not in the catalogue; x2APIC register (0x800-0x8ff))"
    );
}

#[test]
fn wrmsrns() {
    // WRMSRNS: 0f 01 c6.
    let e = effect(&[0x0f, 0x01, 0xc6], 64, &s64());
    assert_eq!(e.summary, "wrmsrns: writes 0x0000000007213cc9 to MSR 0x838 (IA32_X2APIC_INIT_COUNT: x2APIC timer initial count)");
}

#[test]
fn port_out_dx_al_com1() {
    let st = cpu(&[(Gpr::Rax, 0x41), (Gpr::Rdx, 0x3f8)]);
    let e = effect(&[0xee], 32, &st);
    assert_eq!(e.kind, EffectKind::PortOut);
    assert_eq!(e.summary, "out: writes 0x41 (1 byte from AL) to I/O port 0x3f8 (COM1 data (THR/RBR, or DLL when DLAB=1))");
}

#[test]
fn port_out_imm8_and_in_dx_eax() {
    let st = cpu(&[(Gpr::Rax, 0x8000_0000), (Gpr::Rdx, 0xcfc)]);
    assert_eq!(effect(&[0xe6, 0xe9], 16, &st).summary, "out: writes 0x00 (1 byte from AL) to I/O port 0xe9 (QEMU/Bochs debug console (isa-debugcon default port, 'port e9 hack'))");
    assert_eq!(
        effect(&[0xed], 32, &st).summary,
        "in: reads 4 bytes from I/O port 0xcfc (PCI configuration data (CONFIG_DATA)) into EAX"
    );
    assert_eq!(effect(&[0x66, 0xef], 32, &st).summary, "out: writes 0x0000 (2 bytes from AX) to I/O port 0xcfc (PCI configuration data (CONFIG_DATA))");
}

#[test]
fn rep_outsb() {
    let st = {
        let mut c = cpu(&[(Gpr::Rsi, 0x7c00), (Gpr::Rcx, 5), (Gpr::Rdx, 0x402)]);
        set_seg(&mut c, SegName::Ds, 0, 0);
        c
    };
    assert_eq!(
        effect(&[0xf3, 0x6e], 16, &st).summary,
        "outsb: writes 1 byte from memory at 0x0000000000007c00 to I/O port 0x402 (QEMU debug console as used by SeaBIOS/OVMF (isa-debugcon iobase=0x402)), repeated 5 times (rep, count register)"
    );
}

#[test]
fn rep_insw_count_follows_address_size() {
    // 67 f3 6d in 16-bit code: rep insw with a 32-bit address size, so ECX counts and EDI addresses.
    let st = {
        let mut c = cpu(&[
            (Gpr::Rcx, 0x1_0002),
            (Gpr::Rdi, 0x2_0000),
            (Gpr::Rdx, 0x1f0),
        ]);
        set_seg(&mut c, SegName::Es, 0, 0);
        c
    };
    assert_eq!(
        effect(&[0x67, 0xf3, 0x6d], 16, &st).summary,
        "insw: reads 2 bytes from I/O port 0x1f0 (primary ATA (IDE) command block) into memory at 0x0000000000020000, repeated 65538 times (rep, count register)"
    );
}

#[test]
fn cpuid_leaf_and_subleaf() {
    let st = cpu(&[(Gpr::Rax, 7), (Gpr::Rcx, 0)]);
    assert_eq!(
        effect(&[0x0f, 0xa2], 64, &st).summary,
        "cpuid: queries leaf 0x7 (structured extended feature flags), subleaf 0x0"
    );
    let st = cpu(&[(Gpr::Rax, 0x4000_0000), (Gpr::Rcx, 3)]);
    assert_eq!(
        effect(&[0x0f, 0xa2], 64, &st).summary,
        "cpuid: queries leaf 0x40000000 (hypervisor vendor (KVMKVMKVM, Microsoft Hv, ...) and maximum hypervisor leaf)"
    );
}

#[test]
fn xsetbv_valid_and_invalid() {
    let st = cpu(&[(Gpr::Rcx, 0), (Gpr::Rax, 7), (Gpr::Rdx, 0)]);
    assert_eq!(
        effect(&[0x0f, 0x01, 0xd1], 64, &st).summary,
        "xsetbv: writes 0x0000000000000007 to XCR0 (X87, SSE, AVX)"
    );
    let st = cpu(&[(Gpr::Rcx, 0), (Gpr::Rax, 4), (Gpr::Rdx, 0)]);
    assert_eq!(
        effect(&[0x0f, 0x01, 0xd1], 64, &st).summary,
        "xsetbv: writes 0x0000000000000004 to XCR0 (AVX); raises #GP: bit 0 (x87) must be 1; AVX (bit 2) requires SSE (bit 1)"
    );
}

#[test]
fn mov_to_cr0_and_from_cr3() {
    // mov cr0,rax with RAX = CR0 without WP, plus CD.
    let mut st = s64();
    st.set_gpr(Gpr::Rax, 0xc004_0033);
    assert_eq!(
        effect(&[0x0f, 0x22, 0xc0], 64, &st).summary,
        "mov: writes 0x00000000c0040033 from RAX to CR0 (dumped value 0x0000000080050033: sets CD; clears WP)"
    );
    st.cr3 = Some(0x1_35db_6000);
    assert_eq!(
        effect(&[0x0f, 0x20, 0xd8], 64, &st).summary,
        "mov: reads CR3 (dumped value 0x0000000135db6000) into RAX"
    );
}

#[test]
fn mov_to_dr7() {
    let mut st = s64();
    st.set_gpr(Gpr::Rax, 0x401);
    assert_eq!(
        effect(&[0x0f, 0x23, 0xf8], 64, &st).summary,
        "mov: writes 0x0000000000000401 from RAX to DR7 (dumped value 0x0000000000000400: sets L0)"
    );
}

#[test]
fn lgdt_lidt_ltr_lldt() {
    let st = s64();
    // lgdt [rdi]
    assert_eq!(
        effect(&[0x0f, 0x01, 0x17], 64, &st).summary,
        "lgdt: loads GDTR from the 10-byte pseudo-descriptor at 0x0000000000003000; dumped GDTR: base 0xfffffe0000085000, limit 0x7f"
    );
    // lidt [0x7fa6] in 32-bit (from the qemu-real triple-fault guest: 0f 01 1d a6 7f 00 00)
    let st32 = {
        let mut c = CpuState::default();
        set_seg(&mut c, SegName::Ds, 0x10, 0);
        c
    };
    assert_eq!(
        effect(&[0x0f, 0x01, 0x1d, 0xa6, 0x7f, 0x00, 0x00], 32, &st32).summary,
        "lidt: loads IDTR from the 6-byte pseudo-descriptor at 0x0000000000007fa6"
    );
    let st = cpu(&[(Gpr::Rax, 0x40)]);
    assert_eq!(
        effect(&[0x0f, 0x00, 0xd8], 64, &st).summary,
        "ltr: loads TR with selector 0x0040: GDT index 8, RPL 0 from AX"
    );
    let st = cpu(&[(Gpr::Rax, 0)]);
    assert_eq!(
        effect(&[0x0f, 0x00, 0xd0], 64, &st).summary,
        "lldt: loads LDTR with selector 0x0000: null selector (null: no LDT) from AX"
    );
}

#[test]
fn far_jmp_call_retf_iret() {
    // jmp 0x0008:0x00100000 (32-bit ptr16:32)
    assert_eq!(
        effect(
            &[0xea, 0x00, 0x00, 0x10, 0x00, 0x08, 0x00],
            32,
            &CpuState::default()
        )
        .summary,
        "jmp far: jumps to 0x0008:0x100000 (selector 0x0008: GDT index 1, RPL 0)"
    );
    // jmp fword ptr gs:[0] in 16-bit (corpus 011)
    let st = {
        let mut c = CpuState::default();
        set_seg(&mut c, SegName::Gs, 0x20, 0x9000);
        c
    };
    assert_eq!(
        effect(&[0x65, 0x66, 0xff, 0x2e, 0x00, 0x00], 16, &st).summary,
        "jmp far: jumps to the m16:32 far pointer stored at 0x0000000000009000 (target not in the dump)"
    );
    let st = {
        let mut c = cpu(&[(Gpr::Rsp, 0x7bf0)]);
        set_seg(&mut c, SegName::Ss, 0, 0);
        c
    };
    assert_eq!(
        effect(&[0xcb], 16, &st).summary,
        "retf: pops the return offset and CS from the stack at 0x0000000000007bf0"
    );
    assert_eq!(
        effect(&[0x48, 0xcf], 64, &s64()).summary,
        "iretq: pops RIP, CS, RFLAGS, RSP and SS from the stack at 0x0000000000007ff0"
    );
}

#[test]
fn int_n_int3_into() {
    assert_eq!(
        effect(&[0xcd, 0x80], 64, &s64()).summary,
        "int 0x80: software interrupt, vector 0x80 (Linux i386 system call (int 0x80)); IDT entry at 0xfffffe0000000800"
    );
    // Zero-limit IDT then int3 (qemu-real triple scenario).
    let st = CpuState {
        idt: table(0, 0),
        cr0: Some(0x11),
        ..Default::default()
    };
    assert_eq!(
        effect(&[0xcc], 32, &st).summary,
        "int3: breakpoint trap, vector 3 (#BP breakpoint); IDT entry at 0x0000000000000018 lies beyond the IDT limit 0x0: #GP, then #DF, then a triple fault if the IDT is unusable"
    );
    let st = CpuState {
        rflags: Some(0x2),
        ..Default::default()
    };
    assert_eq!(
        effect(&[0xce], 32, &st).summary,
        "into: RFLAGS.OF=0, so no exception (would raise vector 4 (#OF overflow))"
    );
}

#[test]
fn ud2_and_ud1_ubsan() {
    assert_eq!(
        effect(&[0x0f, 0x0b], 64, &s64()).summary,
        "ud2: raises #UD (vector 6) on purpose; Linux uses it for BUG() and WARN() (the __bug_table entry for this address says which: the oops reads \"kernel BUG at\" or \"WARNING:\")"
    );
    // 67 0f b9 40 12: ud1 eax,[eax+0x12]
    assert_eq!(
        effect(&[0x67, 0x0f, 0xb9, 0x40, 0x12], 64, &s64()).summary,
        "ud1: raises #UD (vector 6); Linux with CONFIG_UBSAN_TRAP (Clang) encodes UBSAN traps as ud1 eax,[eax+type] (arch/x86/kernel/traps.c decode_bug): check type 0x12"
    );
}

#[test]
fn hlt_with_interrupts_disabled() {
    let st = CpuState {
        rflags: Some(0x2),
        ..Default::default()
    };
    assert_eq!(effect(&[0xf4], 16, &st).summary, "hlt: halts the vCPU until the next interrupt (RFLAGS.IF=0: only NMI, SMI or INIT can wake it)");
}

#[test]
fn vmcall_kvm_hypercalls() {
    let st = cpu(&[
        (Gpr::Rax, 5),
        (Gpr::Rbx, 0),
        (Gpr::Rcx, 3),
        (Gpr::Rdx, 0),
        (Gpr::Rsi, 0),
    ]);
    assert_eq!(
        effect(&[0x0f, 0x01, 0xc1], 64, &st).summary,
        "vmcall: KVM hypercall 5 (KVM_HC_KICK_CPU) with RBX=0x0000000000000000, RCX=0x0000000000000003, RDX=0x0000000000000000, RSI=0x0000000000000000"
    );
    let st = cpu(&[(Gpr::Rax, 12)]);
    assert_eq!(
        effect(&[0x0f, 0x01, 0xd9], 64, &st).summary,
        "vmmcall (AMD encoding; KVM patches it on Intel): KVM hypercall 12 (KVM_HC_MAP_GPA_RANGE) with RBX=?, RCX=?, RDX=?, RSI=?"
    );
}

#[test]
fn rsm_invlpg_xsave() {
    assert_eq!(
        effect(&[0x0f, 0xaa], 64, &s64()).summary,
        "rsm: returns from system-management mode (#UD outside SMM)"
    );
    assert_eq!(
        effect(&[0x0f, 0x01, 0x3f], 64, &s64()).summary,
        "invlpg: invalidates TLB entries for linear address 0x0000000000003000"
    );
    let mut st = s64();
    st.set_gpr(Gpr::Rax, 7);
    st.set_gpr(Gpr::Rdx, 0);
    st.set_gpr(Gpr::Rdi, 0x3010);
    assert_eq!(
        effect(&[0x48, 0x0f, 0xae, 0x27], 64, &st).summary,
        "xsave64: saves the state components in EDX:EAX=0x0000000000000007 AND XCR0 to the XSAVE area at 0x0000000000003010 (not 64-byte aligned: #GP)"
    );
    assert_eq!(
        effect(&[0x0f, 0xae, 0x2f], 64, &s64()).summary,
        "xrstor: restores the state components in EDX:EAX=0x0000000007213cc9 AND XCR0 from the XSAVE area at 0x0000000000003000"
    );
}

#[test]
fn generic_memory_access_with_unknown_register() {
    // mov rdi,[r13+0x80] with R13 = 0: NULL-pointer dereference (corpus 028).
    let st = cpu(&[(Gpr::R13, 0)]);
    assert_eq!(
        effect(&[0x49, 0x8b, 0xbd, 0x80, 0, 0, 0], 64, &st).summary,
        "mov: reads 8 bytes at 0x0000000000000080"
    );
    assert_eq!(
        effect(&[0x49, 0x8b, 0xbd, 0x80, 0, 0, 0], 64, &CpuState::default()).summary,
        "mov: reads 8 bytes at an address needing r13 (not in the dump)"
    );
    // gs-relative access uses the GS base in 64-bit mode.
    assert_eq!(
        effect(&[0x65, 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0], 64, &s64()).summary,
        "mov: reads 8 bytes at 0xffff9f30ffcc0010"
    );
}

#[test]
fn immediate_form_msr_instructions() {
    use kvmtriage_x86::{analyze_code, CodeInput, CodeOptions};
    // push rbp; cs wrmsrns 0x838,rax; rdmsr rax,0x10; ret  (Linux ASM_WRMSRNS_IMM / ASM_RDMSR_IMM)
    let code = [
        0x55, 0x2e, 0xc4, 0xe7, 0x7a, 0xf6, 0xc0, 0x38, 0x08, 0x00, 0x00, 0xc4, 0xe7, 0x7b, 0xf6,
        0xc0, 0x10, 0x00, 0x00, 0x00, 0xc3,
    ];
    let bytes: Vec<Option<u8>> = code.iter().copied().map(Some).collect();
    let st = s64();
    let a = analyze_code(
        &CodeInput {
            bytes: &bytes,
            marker: 1,
            bitness: 64,
            rip: 0x1001,
            cs_base: 0,
        },
        &st,
        &CodeOptions::default(),
    );
    let f = a.fault.as_ref().expect("fault");
    assert_eq!(
        (f.mnemonic.as_str(), f.text.as_str(), f.length, f.valid),
        ("wrmsrns", "wrmsrns 0x838,rax", 10, true)
    );
    assert_eq!(
        f.effect.summary,
        "wrmsrns (immediate form): writes 0x0000000007213cc9 to MSR 0x838 (IA32_X2APIC_INIT_COUNT: x2APIC timer initial count)"
    );
    assert_eq!(f.msr.as_ref().and_then(|m| m.index), Some(0x838));
    let texts: Vec<&str> = a.listing.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        ["push rbp", "wrmsrns 0x838,rax", "rdmsr rax,0x10", "ret"]
    );
    // The rdmsr immediate form as the fault, with alignment over the wrmsrns before it.
    let a = analyze_code(
        &CodeInput {
            bytes: &bytes,
            marker: 11,
            bitness: 64,
            rip: 0x100b,
            cs_base: 0,
        },
        &st,
        &CodeOptions::default(),
    );
    assert!(a.alignment.synced);
    let f = a.fault.as_ref().expect("fault");
    assert_eq!(
        f.effect.summary,
        "rdmsr (immediate form): reads MSR 0x10 (IA32_TIME_STAMP_COUNTER: Time-stamp counter (TSC)) into RAX"
    );
}
