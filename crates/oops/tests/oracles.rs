//! Differential tests against independent tools (test-only oracles; the product never calls them):
//!
//! - `addr2line -i` (GNU binutils) on a C program with inlined functions, built here with `cc -g
//!   -O2`: for every byte of the function, the same function, file:line and inline chain as the
//!   in-process symbolizer (object + addr2line crates).
//! - the kernel's `scripts/decodecode` (from Debian's linux-source package; `.ci/run` extracts it
//!   to `target/oracles/scripts/decodecode`, or set `KVMTRIAGE_DECODECODE`): the same trapping
//!   instruction bytes on every x86 `Code:` line with a marker in the repository's fixtures.
//!
//! A trial whose tool is missing is reported as ignored, never as passed; with `CI` set in the
//! environment a missing tool fails the run instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn decodecode_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KVMTRIAGE_DECODECODE") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    [
        target.join("oracles/scripts/decodecode"),
        root().join("target/oracles/scripts/decodecode"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// A trial that needs `tools`: ignored (or, under CI, failing) when one is missing.
fn trial(name: &str, tools: &[&str], extra_ok: bool, f: fn() -> Result<(), Failed>) -> Trial {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    let ready = missing.is_empty() && extra_ok;
    if ready {
        return Trial::test(name, f);
    }
    if std::env::var_os("CI").is_some() {
        let why = format!("required tool missing under CI: {missing:?} (or decodecode)");
        return Trial::test(name, move || Err(why.clone().into()));
    }
    eprintln!(
        "{name}: skipped: missing {missing:?}{}",
        if extra_ok { "" } else { " decodecode" }
    );
    Trial::test(name, f).with_ignored_flag(true)
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        trial(
            "addr2line_inline_chain",
            &["cc", "addr2line", "nm"],
            true,
            addr2line_inline_chain,
        ),
        trial(
            "symbolize_oops_frames_against_addr2line",
            &["cc", "addr2line"],
            true,
            symbolize_oops,
        ),
        trial("module_files_plain_xz_zst", &["cc"], true, module_files),
        trial(
            "decodecode_trapping_instruction",
            &["objdump", "as"],
            decodecode_path().is_some(),
            decodecode_trapping,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

const C_SOURCE: &str = r#"
volatile int g = 7;
static inline __attribute__((always_inline)) int leaf(int x) { return x * g + 3; }
static inline __attribute__((always_inline)) int mid(int x) { int y = leaf(x); return y ^ (y >> 3); }
__attribute__((noinline)) int outer(int x) {
    int s = 0;
    for (int i = 0; i < x; i++)
        s += mid(i);
    return s;
}
__attribute__((noinline)) int caller(int x) { return outer(x) + mid(x); }
int main(int argc, char **argv) { (void)argv; return caller(argc); }
"#;

struct Built {
    _dir: TempDir,
    exe: PathBuf,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("kvmtriage-oops-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

fn build_c(tag: &str, extra: &[&str]) -> Result<Built, Failed> {
    let dir = tempdir(tag);
    let src = dir.0.join("inl.c");
    std::fs::write(&src, C_SOURCE)?;
    let exe = dir.0.join(if extra.contains(&"-c") {
        "inl.ko"
    } else {
        "inl"
    });
    let out = Command::new("cc")
        .args(["-O2", "-g", "-fno-omit-frame-pointer"])
        .args(extra)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()?;
    if !out.status.success() {
        return Err(format!("cc failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(Built { _dir: dir, exe })
}

/// GNU addr2line -i -f for many addresses: per address, (function, file, line) innermost first.
/// (function, file, line), innermost first.
type Chain = Vec<(String, String, u32)>;

fn gnu_addr2line(exe: &Path, addrs: &[u64]) -> Result<Vec<Chain>, Failed> {
    // -a prints each address first, which separates the answers.
    let out = Command::new("addr2line")
        .args(["-a", "-i", "-f", "-e"])
        .arg(exe)
        .args(addrs.iter().map(|a| format!("{a:#x}")))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut res: Vec<Chain> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.starts_with("0x") {
            res.push(Vec::new());
            continue;
        }
        let func = l.to_string();
        let loc = lines.next().unwrap_or("??:0");
        let loc = loc.split(" (discriminator").next().unwrap_or(loc);
        let (file, line) = loc.rsplit_once(':').unwrap_or((loc, "0"));
        let line = line.parse().unwrap_or(0);
        if let Some(last) = res.last_mut() {
            last.push((func, file.to_string(), line));
        }
    }
    Ok(res)
}

fn nm_function(exe: &Path, name: &str) -> Result<(u64, u64), Failed> {
    let out = Command::new("nm").args(["-S"]).arg(exe).output()?;
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 4 && f[3] == name {
            return Ok((
                u64::from_str_radix(f[0], 16)?,
                u64::from_str_radix(f[1], 16)?,
            ));
        }
    }
    Err(format!("nm: no {name}").into())
}

fn addr2line_inline_chain() -> Result<(), Failed> {
    let b = build_c("a2l", &[])?;
    let file = kvmtriage_oops::symbols::SymbolFile::load(&b.exe)?;
    let mut compared = 0;
    let mut inlined = 0;
    for func in ["outer", "caller", "main"] {
        let (start, size) = nm_function(&b.exe, func)?;
        assert_eq!(
            file.function_address(func),
            Some(start),
            "{func}: symbol address vs nm"
        );
        let addrs: Vec<u64> = (start..start + size).collect();
        let gnu = gnu_addr2line(&b.exe, &addrs)?;
        assert_eq!(gnu.len(), addrs.len());
        for (a, want) in addrs.iter().zip(&gnu) {
            let got: Vec<(String, String, u32)> = file
                .source_at(*a)
                .into_iter()
                .map(|s| (s.function, s.file, s.line))
                .collect();
            if &got != want {
                return Err(format!("{a:#x}: addr2line -i {want:?}, kvmtriage {got:?}").into());
            }
            compared += 1;
            inlined += usize::from(want.len() > 1);
        }
    }
    println!("addr2line -i: {compared} addresses agree ({inlined} with inline chains)");
    if inlined == 0 {
        return Err("the test program produced no inlined frames".into());
    }
    Ok(())
}

fn symbolize_oops() -> Result<(), Failed> {
    let b = build_c("sym", &[])?;
    let syms = kvmtriage_oops::symbols::Symbols::load(&[&b.exe])?;
    let (outer, outer_size) = nm_function(&b.exe, "outer")?;
    let (caller, caller_size) = nm_function(&b.exe, "caller")?;
    // An oops whose RIP is in outer and whose trace names caller, with a KASLR offset.
    let log = format!(
        "BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
         RIP: 0010:outer+0x9/{outer_size:#x}\n\
         Call Trace:\n <TASK>\n caller+0x5/{caller_size:#x}\n </TASK>\n\
         Kernel Offset: 0x1000000 from 0xffffffff81000000\n"
    );
    let o = &kvmtriage_oops::read_oopses(&log)[0];
    let s = syms.symbolize(o);
    assert_eq!(s.slide.as_ref().map(|s| s.value), Some(0x100_0000));
    assert_eq!(s.rip, Some(outer + 9 + 0x100_0000));
    let gnu = gnu_addr2line(&b.exe, &[outer + 9, caller + 5])?;
    for (rf, want) in s.frames.iter().zip(&gnu) {
        let got: Vec<(String, String, u32)> = rf
            .source
            .iter()
            .map(|l| (l.function.clone(), l.file.clone(), l.line))
            .collect();
        if &got != want {
            return Err(format!("{}: addr2line {want:?}, kvmtriage {got:?}", rf.symbol).into());
        }
    }
    Ok(())
}

fn module_files() -> Result<(), Failed> {
    let b = build_c("ko", &["-c"])?;
    let raw = std::fs::read(&b.exe)?;
    let dir = b.exe.parent().unwrap().to_path_buf();
    let xz = dir.join("inl.ko.xz");
    let zst = dir.join("inl.ko.zst");
    {
        use std::io::Write;
        let mut e = xz2::write::XzEncoder::new(std::fs::File::create(&xz)?, 6);
        e.write_all(&raw)?;
        e.finish()?;
        std::fs::write(&zst, zstd::stream::encode_all(&raw[..], 3)?)?;
    }
    for p in [&b.exe, &xz, &zst] {
        let f = kvmtriage_oops::symbols::SymbolFile::load(p)?;
        assert_eq!(f.kind, kvmtriage_oops::symbols::FileKind::Module, "{p:?}");
        assert_eq!(f.module.as_deref(), Some("inl"), "{p:?}");
        assert!(f.function_address("outer").is_some(), "{p:?}: outer");
    }
    // A /proc/kallsyms copy and a System.map.
    let ks = dir.join("kallsyms");
    std::fs::write(
        &ks,
        "ffffffff9e000000 T _text\nffffffff9e123400 T do_thing\nffffffffc0a01000 t outer\t[inl]\n",
    )?;
    let sm = dir.join("System.map");
    std::fs::write(
        &sm,
        "ffffffff81000000 T _text\nffffffff81123400 T do_thing\n",
    )?;
    let log =
        "general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP\n\
               RIP: 0010:do_thing+0x10/0x80\nCall Trace:\n outer+0x4/0x40 [inl]\n";
    let o = &kvmtriage_oops::read_oopses(log)[0];
    let s = kvmtriage_oops::symbols::Symbols::load(&[&ks])?.symbolize(o);
    assert_eq!(s.rip, Some(0xffffffff9e123410));
    assert_eq!(s.frames[1].address, Some(0xffffffffc0a01004));
    // System.map alone: no slide in the oops, so no run-time address; a frame with a printed
    // address gives the slide.
    let s = kvmtriage_oops::symbols::Symbols::load(&[&sm])?.symbolize(o);
    assert_eq!(s.rip, None);
    let log2 = format!("{log} [<ffffffff9e123420>] do_thing+0x20/0x80\n");
    let o2 = &kvmtriage_oops::read_oopses(&log2)[0];
    let s = kvmtriage_oops::symbols::Symbols::load(&[&sm])?.symbolize(o2);
    assert_eq!(s.slide.map(|s| s.value), Some(0x1d00_0000));
    assert_eq!(s.rip, Some(0xffffffff9e123410));
    Ok(())
}

/// Every x86 Code: window with a marker and no `??` in the fixtures.
fn fixture_windows() -> Vec<(String, kvmtriage_oops::Oops)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for d in ["testdata/corpus/real", "testdata/oops/syzkaller"] {
        for e in std::fs::read_dir(root().join(d)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    for p in files {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for o in kvmtriage_oops::read_oopses(&text) {
            let Some(w) = &o.code else { continue };
            if w.marker.is_none() || w.bytes.iter().any(Option::is_none) || o.bits == Some(32) {
                continue;
            }
            let name = format!("{}:{}", p.file_name().unwrap().to_string_lossy(), w.line);
            out.push((name, o));
        }
    }
    out
}

fn decodecode_trapping() -> Result<(), Failed> {
    let dc = decodecode_path().ok_or("no decodecode")?;
    let windows = fixture_windows();
    let mut agree = 0;
    let mut elided = 0;
    let mut failures = Vec::new();
    // Two workers: decodecode runs as + objdump per line (~0.5 s each).
    let results: Vec<Option<String>> = std::thread::scope(|sc| {
        let half = windows.len().div_ceil(2);
        let hs: Vec<_> = windows
            .chunks(half.max(1))
            .map(|chunk| {
                let dc = dc.clone();
                sc.spawn(move || {
                    chunk
                        .iter()
                        .map(|(_, o)| run_decodecode(&dc, o).ok().flatten())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    for ((name, o), want) in windows.iter().zip(results) {
        let code = kvmtriage_oops::decode::decode_oops(o, None).ok_or("not decoded")?;
        let got = kvmtriage_model::hex::bytes(&code.fault_bytes);
        let zeros = !code.fault_bytes.is_empty() && code.fault_bytes.iter().all(|&b| b == 0);
        match want {
            Some(w) if w == got => agree += 1,
            Some(w) if w == "..." && zeros => {
                agree += 1;
                elided += 1;
            }
            other => failures.push(format!("{name}: decodecode {other:?}, kvmtriage {got:?}")),
        }
    }
    println!(
        "decodecode: {agree}/{} Code lines give the same trapping instruction \
         ({elided} of them all-zero bytes, which objdump prints as `...`)",
        windows.len()
    );
    if windows.len() < 10 {
        return Err(format!("only {} Code windows found in the fixtures", windows.len()).into());
    }
    if !failures.is_empty() {
        return Err(failures.join("\n").into());
    }
    Ok(())
}

/// decodecode's trapping instruction bytes for the oops' window (`...` for elided zeros).
fn run_decodecode(dc: &Path, o: &kvmtriage_oops::Oops) -> Result<Option<String>, Failed> {
    let w = o.code.as_ref().unwrap();
    let line = format!("Code: {}\n", w.text());
    let mut child = Command::new("bash")
        .arg(dc)
        .env("ARCH", "x86_64")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(line.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "Code starting with the faulting instruction" section: its first instruction, with
    // objdump's continuation lines (it prints at most 7 bytes per line).
    let section = text
        .split("Code starting with the faulting instruction")
        .nth(1);
    let want = section.and_then(|sec| {
        let mut lines = sec
            .lines()
            .skip_while(|l| !l.starts_with("   0:") && l.trim() != "...");
        let first = lines.next()?;
        if first.trim() == "..." {
            // objdump elides runs of zero bytes: the instruction is made of zeros.
            return Some("...".to_string());
        }
        let mut bytes = first.split('\t').nth(1)?.trim().to_string();
        for l in lines {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() == 2
                && l.trim_start()
                    .split(':')
                    .next()
                    .is_some_and(|a| a.bytes().all(|c| c.is_ascii_hexdigit()))
            {
                bytes.push(' ');
                bytes.push_str(f[1].trim());
            } else {
                break;
            }
        }
        Some(bytes)
    });
    Ok(want)
}
