//! Turns data/bits.toml and data/errno.toml into Rust tables (OUT_DIR/tables.rs).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=data/bits.toml");
    println!("cargo:rerun-if-changed=data/errno.toml");
    for f in [
        "exceptions.toml",
        "kvm.toml",
        "vmx-exit-reasons.toml",
        "svm-exit-codes.toml",
    ] {
        println!("cargo:rerun-if-changed=data/{f}");
    }
    let mut out = String::new();

    let bits: toml::Table = read("data/bits.toml");
    for reg in ["rflags", "cr0", "cr4", "efer", "dr6", "dr7"] {
        let entries = bits
            .get(reg)
            .and_then(|v| v.as_array())
            .unwrap_or_else(|| panic!("bits.toml: missing [[{reg}]]"));
        let _ = writeln!(out, "pub static {}: &[BitDef] = &[", reg.to_uppercase());
        let mut used = 0u64;
        for e in entries {
            let bit = int(e, "bit");
            let width = e.get("width").and_then(|v| v.as_integer()).unwrap_or(1);
            assert!(
                (1..=8).contains(&width) && bit + width <= 64,
                "{reg}: bad field at bit {bit}"
            );
            let mask = ((1u64 << width) - 1) << bit;
            assert!(used & mask == 0, "{reg}: overlapping field at bit {bit}");
            used |= mask;
            let _ = writeln!(
                out,
                "    BitDef {{ bit: {bit}, width: {width}, name: {:?}, description: {:?}, source: {:?} }},",
                string(e, "name"),
                string(e, "description"),
                string(e, "source"),
            );
        }
        out.push_str("];\n");
    }
    // One constant per named single bit (`CR0_PE`, `EFER_LMA`, `RFLAGS_VM`): the masks every
    // crate tests, from the same table the decoders name bits with.
    out.push_str(
        "/// Single-bit masks from data/bits.toml, `<REGISTER>_<NAME>`.\npub mod flags {\n",
    );
    for reg in ["rflags", "cr0", "cr4", "efer", "dr6", "dr7"] {
        for e in bits.get(reg).and_then(|v| v.as_array()).expect("table") {
            let width = e.get("width").and_then(|v| v.as_integer()).unwrap_or(1);
            let name = string(e, "name");
            if width != 1 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let _ = writeln!(
                out,
                "    pub const {}_{}: u64 = 1 << {};",
                reg.to_uppercase(),
                name.to_uppercase(),
                int(e, "bit")
            );
        }
    }
    out.push_str("}\n");
    let types = bits
        .get("segment_types")
        .expect("bits.toml: [segment_types]");
    for (key, konst) in [
        ("code_data", "TYPE_CODE_DATA"),
        ("system_legacy", "TYPE_SYSTEM_LEGACY"),
        ("system_ia32e", "TYPE_SYSTEM_IA32E"),
    ] {
        let names = types
            .get(key)
            .and_then(|v| v.as_array())
            .expect("segment type list");
        assert_eq!(names.len(), 16, "{key}: need 16 names");
        let _ = writeln!(out, "pub static {konst}: [&str; 16] = [");
        for n in names {
            let _ = writeln!(out, "    {:?},", n.as_str().expect("type name"));
        }
        out.push_str("];\n");
    }

    let errno: toml::Table = read("data/errno.toml");
    out.push_str("pub static ERRNO: &[(i32, &str, &str)] = &[\n");
    for e in errno
        .get("errno")
        .and_then(|v| v.as_array())
        .expect("errno list")
    {
        let number = int(e, "number");
        let name = string(e, "name");
        for t in e.get("text").and_then(|v| v.as_array()).expect("text list") {
            let _ = writeln!(
                out,
                "    ({number}, {name:?}, {:?}),",
                t.as_str().expect("text")
            );
        }
    }
    out.push_str("];\n");
    out.push_str("pub static ERRNO_NAMES: &[(i32, &str)] = &[\n");
    for e in errno
        .get("errno")
        .and_then(|v| v.as_array())
        .expect("errno list")
    {
        let _ = writeln!(out, "    ({}, {:?}),", int(e, "number"), string(e, "name"));
    }
    out.push_str("];\n");

    let exc: toml::Table = read("data/exceptions.toml");
    out.push_str("pub static EXCEPTIONS: &[Exception] = &[\n");
    let mut last = -1;
    for e in exc
        .get("exception")
        .and_then(|v| v.as_array())
        .expect("exception list")
    {
        let v = int(e, "vector");
        assert!(
            v > last && v < 32,
            "exceptions.toml: vectors ascending below 32"
        );
        last = v;
        let ec = e
            .get("error_code")
            .and_then(|x| x.as_bool())
            .expect("error_code");
        let _ = writeln!(
            out,
            "    Exception {{ vector: {v}, mnemonic: {:?}, name: {:?}, error_code: {ec}, class: {:?} }},",
            string(e, "mnemonic"),
            string(e, "name"),
            string(e, "class"),
        );
    }
    out.push_str("];\n");

    let kvm: toml::Table = read("data/kvm.toml");
    out.push_str("pub static KVM_EXITS: &[(u32, &str)] = &[\n");
    for (i, e) in kvm
        .get("exit")
        .and_then(|v| v.as_array())
        .expect("exit list")
        .iter()
        .enumerate()
    {
        assert_eq!(int(e, "number"), i as i64, "kvm.toml: exits dense from 0");
        let _ = writeln!(out, "    ({}, {:?}),", int(e, "number"), string(e, "name"));
    }
    out.push_str("];\n");
    out.push_str("pub static KVM_SUBERRORS: &[Suberror] = &[\n");
    for e in kvm
        .get("suberror")
        .and_then(|v| v.as_array())
        .expect("suberror list")
    {
        let _ = writeln!(
            out,
            "    Suberror {{ number: {}, name: {:?}, short: {:?}, meaning: {:?} }},",
            int(e, "number"),
            string(e, "name"),
            string(e, "short"),
            string(e, "meaning"),
        );
    }
    out.push_str("];\n");

    let vmx: toml::Table = read("data/vmx-exit-reasons.toml");
    out.push_str("pub static VMX_EXIT_REASONS: &[ExitReasonInfo] = &[\n");
    let mut last = -1;
    for e in vmx
        .get("reason")
        .and_then(|v| v.as_array())
        .expect("reason list")
    {
        let n = int(e, "number");
        assert!(n > last, "vmx-exit-reasons.toml must be sorted by number");
        last = n;
        let _ = writeln!(
            out,
            "    ExitReasonInfo {{ number: {n}, name: {:?}, description: {:?} }},",
            string(e, "name"),
            string(e, "description"),
        );
    }
    out.push_str("];\n");

    let svm: toml::Table = read("data/svm-exit-codes.toml");
    out.push_str("pub static SVM_EXIT_CODES: &[(u64, &str)] = &[\n");
    let mut codes: Vec<(u64, String)> = svm
        .get("code")
        .and_then(|v| v.as_array())
        .expect("code list")
        .iter()
        .map(|e| (int(e, "number") as u64, string(e, "name").to_string()))
        .collect();
    codes.sort();
    for (n, name) in codes {
        let _ = writeln!(out, "    ({n:#x}, {name:?}),");
    }
    out.push_str("];\n");

    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("tables.rs");
    std::fs::write(dest, out).expect("write tables.rs");
}

fn read(path: &str) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn int(v: &toml::Value, key: &str) -> i64 {
    v.get(key)
        .and_then(|x| x.as_integer())
        .unwrap_or_else(|| panic!("missing integer {key}"))
}

fn string<'a>(v: &'a toml::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("missing string {key}"))
}
