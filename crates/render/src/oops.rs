//! The text and Markdown report of a kernel oops: title, task and kernel, the trapping
//! instruction and listing, the call trace (symbolized when `--symbols` was given), registers.

use std::fmt::Write;

use kvmtriage_analyze::OopsAnalysis;
use kvmtriage_dump::hex;
use kvmtriage_oops::decode::AddressBase;

use crate::text::{Flavor, Out, Style};
use crate::InputInfo;

pub(crate) fn oops_report(
    out: &mut Out,
    o: &OopsAnalysis,
    n: usize,
    total: usize,
    input: &InputInfo,
) {
    let head = format!(
        "{}: kernel oops {n} of {total}, lines {}-{}",
        input.name, o.source.first_line, o.source.last_line
    );
    match out.flavor {
        Flavor::Markdown => out.line(&format!("## {head}")),
        Flavor::Terminal { .. } => {
            let t = out.paint(Style::Bold, &format!("== {head}"));
            out.line(&t);
        }
    }
    out.blank();
    let label = out.paint(Style::Red, "Title:");
    out.line(&format!("{label} {}", o.title));
    if !o.crash_type.is_empty() {
        out.line(&format!("Type: {}", o.crash_type));
    }
    if !o.alt_titles.is_empty() {
        out.line(&format!("Also known as: {}", o.alt_titles.join("; ")));
    }
    if let Some(why) = &o.corrupted_reason {
        let c = out.paint(Style::Yellow, "Corrupted:");
        out.line(&format!("{c} {why}"));
    }
    out.line(&format!(
        "Header (line {}): {}",
        o.source.first_line, o.header
    ));
    if o.kvm {
        out.line("In KVM: the faulting code or its first callers are KVM's (kvm, kvm_intel, kvm_amd, arch/x86/kvm, virt/kvm)");
    }
    if !o.near_dumps.is_empty() {
        let list: Vec<String> = o.near_dumps.iter().map(|i| (i + 1).to_string()).collect();
        out.line(&format!(
            "Near QEMU dump {} of this input (within 200 lines): read them together",
            list.join(", ")
        ));
    }

    kernel(out, o);
    fault(out, o);
    listing(out, o);
    stack(out, o);
    registers(out, o);
    if !o.warnings.is_empty() {
        out.heading("Warnings");
        for w in &o.warnings {
            out.bullet(w);
        }
    }
}

fn kernel(out: &mut Out, o: &OopsAnalysis) {
    let k = &o.kernel;
    let mut items = Vec::new();
    if let Some(c) = k.cpu {
        items.push(format!("CPU {c}"));
    }
    if let Some(p) = k.pid {
        items.push(format!("PID {p}"));
    }
    if let Some(c) = &k.comm {
        items.push(format!("Comm {c}"));
    }
    match &k.taint {
        Some(t) => items.push(format!("tainted {t}")),
        None if k.release.is_some() => items.push("not tainted".into()),
        None => {}
    }
    if let Some(r) = &k.release {
        let b = k
            .build
            .as_deref()
            .map(|b| format!(" {b}"))
            .unwrap_or_default();
        items.push(format!("kernel {r}{b}"));
    }
    if items.is_empty() && k.hardware.is_none() && k.modules.is_empty() {
        return;
    }
    out.heading("Task and kernel");
    if !items.is_empty() {
        out.line(&format!("  {}", items.join(", ")));
    }
    if let Some(h) = &k.hardware {
        out.line(&format!("  hardware: {h}"));
    }
    if let Some(x) = &k.oops_line {
        out.line(&format!("  oops: {x}"));
    }
    if !k.modules.is_empty() {
        let mut m = format!("  modules ({}): {}", k.modules.len(), k.modules.join(" "));
        if let Some(l) = &k.last_unloaded {
            let _ = write!(m, " [last unloaded: {l}]");
        }
        out.line(&m);
    }
    if let Some(off) = k.kernel_offset {
        out.line(&format!("  KASLR offset: {off:#x}"));
    }
}

fn fault(out: &mut Out, o: &OopsAnalysis) {
    let rip = o.rip.as_ref();
    let sym = rip.and_then(|r| r.symbol.as_ref());
    if rip.is_none() && o.code.is_none() {
        return;
    }
    out.heading("Faulting instruction");
    if let Some(r) = rip {
        let mut s = String::from("  RIP");
        if let Some(cs) = r.cs {
            let _ = write!(s, " {cs:04x}");
            s.push_str(match cs & 3 {
                0 => " (kernel mode)",
                3 => " (user mode)",
                _ => "",
            });
        }
        if let Some(sym) = sym {
            let _ = write!(s, ": {}+{:#x}", sym.function, sym.offset);
            if let Some(z) = sym.size {
                let _ = write!(s, "/{z:#x}");
            }
            if let Some(m) = &sym.module {
                let _ = write!(s, " [{m}]");
            }
        }
        if let Some(a) = r.address {
            let _ = write!(s, " at {a:#x}");
        } else if let Some(a) = o.symbols.as_ref().and_then(|s| s.rip) {
            let _ = write!(s, " at {a:#x} (from the symbols)");
        }
        let _ = write!(s, " (line {})", r.line);
        out.line(&s);
    }
    if let Some(note) = &o.code_note {
        out.line(&format!("  Code: {note}"));
    }
    let Some(f) = &o.fault else {
        if o.code.as_ref().is_some_and(|c| c.marker.is_none()) {
            out.line("  not decoded: the Code: line has no <..> marker");
        }
        return;
    };
    let sync = if f.synced {
        "listing in sync"
    } else {
        "bytes before it uncertain"
    };
    let insn = out.paint(Style::Bold, &f.text);
    out.line(&format!("  {insn}  ({}; {sync})", hex::bytes(&f.bytes)));
    // A kernel trap is explained from the oops' header; other instructions by their effect.
    match o.disassembly.as_ref().and_then(|d| d.trap_explained) {
        Some(t) => out.line(&format!("  {t}")),
        None => out.line(&format!("  {}", f.effect.summary)),
    }
    for m in &f.memory {
        let addr = match m.address {
            Some(a) => format!("{a:#x}"),
            None => "unknown".to_string(),
        };
        out.line(&format!(
            "  memory {} {}: {} bytes at {addr}",
            m.access, m.expression, m.size
        ));
    }
}

fn listing(out: &mut Out, o: &OopsAnalysis) {
    let Some(d) = &o.disassembly else { return };
    if o.listing.is_empty() {
        return;
    }
    let base = match &d.address_base {
        AddressBase::Printed => "addresses as printed".to_string(),
        AddressBase::Symbolized => "addresses from the symbols and KASLR offset".to_string(),
        AddressBase::FunctionRelative { function } => {
            format!("addresses are offsets in {function} (RIP is printed only as func+off)")
        }
        AddressBase::Unknown => "addresses are window offsets".to_string(),
    };
    let sync = if d.alignment.synced {
        format!("in sync from window offset {}", d.alignment.start_offset)
    } else {
        "decoded from the marker".to_string()
    };
    out.heading(&format!("Code ({}-bit, {sync}; {base})", d.bits));
    let digits = if matches!(
        d.address_base,
        AddressBase::Printed | AddressBase::Symbolized
    ) {
        if d.bits == 64 {
            16
        } else {
            8
        }
    } else {
        4
    };
    crate::text::listing_block(out, &o.listing, digits);
    for note in &d.notes {
        out.bullet(&note.to_string());
    }
}

fn stack(out: &mut Out, o: &OopsAnalysis) {
    if o.stack.is_empty() {
        return;
    }
    let resolved = |i: usize| {
        o.symbols
            .as_ref()
            .and_then(|s| s.frames.iter().find(|f| f.frame == Some(i)))
    };
    let mut trace = "";
    let mut lines: Vec<String> = Vec::new();
    let mut section = None;
    out.heading("Call trace");
    if let Some(s) = &o.symbols {
        if let Some(sl) = &s.slide {
            out.line(&format!("  KASLR slide {:#x} ({:?})", sl.value, sl.source));
        }
        for n in &s.notes {
            out.bullet(n);
        }
    }
    for (i, f) in o.stack.iter().enumerate() {
        if f.trace != trace {
            if !lines.is_empty() {
                out.block(&lines);
                lines.clear();
            }
            trace = &f.trace;
            out.line(&format!("  {trace}:"));
            section = None;
        }
        if f.section != section {
            if let Some(s) = f.section {
                lines.push(format!("<{}>", format!("{s:?}").to_uppercase()));
            }
            section = f.section;
        }
        let q = if f.reliable { "" } else { "? " };
        let mut t = match &f.symbol {
            Some(s) => {
                let mut t = format!("{q}{}+{:#x}", s.function, s.offset);
                if let Some(z) = s.size {
                    let _ = write!(t, "/{z:#x}");
                }
                if let Some(m) = &s.module {
                    let _ = write!(t, " [{m}]");
                }
                t
            }
            None => format!("{q}{:#x}", f.address.unwrap_or(0)),
        };
        match resolved(i) {
            Some(r) if !r.source.is_empty() => {
                let first = &r.source[r.source.len() - 1];
                let _ = write!(t, " {}:{}", first.file, first.line);
                lines.push(t);
                // Inline callers, innermost first (decode_stacktrace.sh's order).
                for inl in &r.source[..r.source.len() - 1] {
                    lines.push(format!(
                        "    {} {}:{} (inlined)",
                        inl.function, inl.file, inl.line
                    ));
                }
            }
            _ => {
                if !f.source.is_empty() {
                    let _ = write!(t, " ({})", f.source.join(" "));
                }
                lines.push(t);
            }
        }
    }
    if !lines.is_empty() {
        out.block(&lines);
    }
}

fn registers(out: &mut Out, o: &OopsAnalysis) {
    if o.registers.0.is_empty() {
        return;
    }
    out.heading("Registers");
    let w = o
        .registers
        .0
        .iter()
        .map(|(k, _)| k.len())
        .max()
        .unwrap_or(3)
        + 1;
    let cells: Vec<String> = o
        .registers
        .0
        .iter()
        .map(|(k, v)| format!("{:<w$}{v:#018x}", k.to_uppercase()))
        .collect();
    let lines: Vec<String> = cells.chunks(3).map(|c| c.join("  ")).collect();
    out.block(&lines);
}
