//! Symbolization in-process: System.map, a copy of /proc/kallsyms, a vmlinux (ELF symbols, DWARF
//! line tables and inline frames through the `object` and `addr2line` crates) and module `.ko`
//! files (plain, `.ko.xz`, `.ko.zst`; their symbols). The KASLR slide comes from `Kernel Offset:`
//! or from a frame that prints both an address and `func+off`.
//!
//! A frame `func+0x1b/0xb0` is looked up by name: the function's link-time address in the vmlinux
//! plus the offset is the probe for DWARF, so no slide is needed for file:line. The slide is what
//! turns link-time addresses into the running kernel's (the code listing's RIP).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use addr2line::gimli;
use object::{Object, ObjectSection, ObjectSymbol};
use serde::Serialize;

use crate::{Oops, SymRef};

/// Why a symbol file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SymbolError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a System.map, kallsyms copy, ELF vmlinux or kernel module ({what})")]
    Format { path: PathBuf, what: String },
    #[error("{path}: cannot decompress: {what}")]
    Decompress { path: PathBuf, what: String },
    #[error("{path}: bad DWARF: {what}")]
    Dwarf { path: PathBuf, what: String },
}

/// What a symbol file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// `nm`-style text with link-time addresses (needs the KASLR slide).
    SystemMap,
    /// A copy of /proc/kallsyms: run-time addresses, module symbols tagged `[mod]`.
    Kallsyms,
    /// The kernel ELF image.
    Vmlinux,
    /// A module object (`.ko`, possibly compressed).
    Module,
}

/// One source location: a function and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLine {
    pub function: String,
    pub file: String,
    pub line: u32,
}

impl std::fmt::Display for SourceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}:{}", self.function, self.file, self.line)
    }
}

type Reader = gimli::EndianArcSlice<gimli::RunTimeEndian>;

struct Table {
    /// (address, name, module) sorted by address.
    by_addr: Vec<(u64, String, Option<String>)>,
    /// Function name → address (first definition).
    by_name: HashMap<String, u64>,
}

impl Table {
    fn new(mut v: Vec<(u64, String, Option<String>)>) -> Table {
        v.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut by_name = HashMap::with_capacity(v.len());
        for (a, n, m) in &v {
            let key = match m {
                Some(m) => format!("{m}:{n}"),
                None => n.clone(),
            };
            by_name.entry(key).or_insert(*a);
        }
        Table {
            by_addr: v,
            by_name,
        }
    }

    fn lookup(&self, name: &str, module: Option<&str>) -> Option<u64> {
        match module {
            Some(m) => self.by_name.get(&format!("{m}:{name}")).copied(),
            None => self.by_name.get(name).copied(),
        }
    }

    /// The symbol at or below `addr`: (name, offset, module).
    fn at(&self, addr: u64) -> Option<(&str, u64, Option<&str>)> {
        let i = self.by_addr.partition_point(|e| e.0 <= addr);
        let (a, n, m) = self.by_addr.get(i.checked_sub(1)?)?;
        Some((n.as_str(), addr - a, m.as_deref()))
    }
}

/// One loaded symbol file.
pub struct SymbolFile {
    pub path: PathBuf,
    pub kind: FileKind,
    /// For a module: its name (from `.modinfo`, else the file name).
    pub module: Option<String>,
    table: Table,
    /// DWARF lookups fill lazy caches inside the context: behind a lock, so that loaded symbols
    /// can be shared between threads (a server's workers).
    dwarf: Option<std::sync::Mutex<addr2line::Context<Reader>>>,
}

impl std::fmt::Debug for SymbolFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SymbolFile")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("module", &self.module)
            .field("symbols", &self.table.by_addr.len())
            .field("dwarf", &self.dwarf.is_some())
            .finish()
    }
}

fn decompress(path: &Path, data: Vec<u8>) -> Result<Vec<u8>, SymbolError> {
    use std::io::Read;
    let err = |what: String| SymbolError::Decompress {
        path: path.to_path_buf(),
        what,
    };
    if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        let mut out = Vec::new();
        xz2::read::XzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .map_err(|e| err(e.to_string()))?;
        Ok(out)
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::decode_all(&data[..]).map_err(|e| err(e.to_string()))
    } else {
        Ok(data)
    }
}

impl SymbolFile {
    /// Load a file, telling its kind from its content.
    pub fn load(path: &Path) -> Result<SymbolFile, SymbolError> {
        let data = std::fs::read(path).map_err(|source| SymbolError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let data = decompress(path, data)?;
        if data.starts_with(b"\x7fELF") {
            Self::from_elf(path, data)
        } else {
            Self::from_text(path, &data)
        }
    }

    fn from_text(path: &Path, data: &[u8]) -> Result<SymbolFile, SymbolError> {
        let text = String::from_utf8_lossy(data);
        let mut v = Vec::new();
        let mut kallsyms = false;
        let mut bad = 0usize;
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(a), Some(t), Some(name)) = (it.next(), it.next(), it.next()) else {
                bad += usize::from(!line.trim().is_empty());
                continue;
            };
            let (Ok(addr), true) = (u64::from_str_radix(a, 16), t.len() == 1) else {
                bad += 1;
                continue;
            };
            let module = it
                .next()
                .and_then(|m| m.strip_prefix('[').and_then(|m| m.strip_suffix(']')))
                .map(str::to_string);
            kallsyms |= module.is_some();
            // Text symbols only: functions are what frames name.
            if matches!(t, "T" | "t" | "W" | "w") {
                v.push((addr, name.to_string(), module));
            }
        }
        if v.is_empty() || bad > v.len() {
            return Err(SymbolError::Format {
                path: path.to_path_buf(),
                what: format!("{} text symbols, {bad} unreadable lines", v.len()),
            });
        }
        // A /proc/kallsyms copy lists module symbols; System.map never does.
        let kind = if kallsyms {
            FileKind::Kallsyms
        } else {
            FileKind::SystemMap
        };
        Ok(SymbolFile {
            path: path.to_path_buf(),
            kind,
            module: None,
            table: Table::new(v),
            dwarf: None,
        })
    }

    fn from_elf(path: &Path, data: Vec<u8>) -> Result<SymbolFile, SymbolError> {
        let file = object::File::parse(&data[..]).map_err(|e| SymbolError::Format {
            path: path.to_path_buf(),
            what: e.to_string(),
        })?;
        let is_module = file.kind() == object::ObjectKind::Relocatable;
        let mut v = Vec::new();
        for s in file.symbols() {
            if s.kind() != object::SymbolKind::Text || !s.is_definition() {
                continue;
            }
            let Ok(name) = s.name() else { continue };
            if name.is_empty() {
                continue;
            }
            v.push((s.address(), name.to_string(), None));
        }
        let module = if is_module {
            Some(module_name(&file).unwrap_or_else(|| {
                let n = path
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into());
                n.split(".ko").next().unwrap_or(&n).replace('-', "_")
            }))
        } else {
            None
        };
        // DWARF for the kernel image (module DWARF needs relocations applied: not done yet).
        let dwarf = if is_module || file.section_by_name(".debug_info").is_none() {
            None
        } else {
            Some(std::sync::Mutex::new(load_dwarf(&file).map_err(
                |what| SymbolError::Dwarf {
                    path: path.to_path_buf(),
                    what,
                },
            )?))
        };
        Ok(SymbolFile {
            path: path.to_path_buf(),
            kind: if is_module {
                FileKind::Module
            } else {
                FileKind::Vmlinux
            },
            module,
            table: Table::new(v),
            dwarf,
        })
    }

    /// File:line and inline callers at a link-time address (innermost first), as `addr2line -i`.
    pub fn source_at(&self, addr: u64) -> Vec<SourceLine> {
        let Some(ctx) = &self.dwarf else {
            return Vec::new();
        };
        // A panic while holding the lock cannot leave the context inconsistent for reading.
        let ctx = ctx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::new();
        let Ok(mut frames) = ctx.find_frames(addr).skip_all_loads() else {
            return out;
        };
        while let Ok(Some(f)) = frames.next() {
            let function = f
                .function
                .as_ref()
                .and_then(|n| n.demangle().ok().map(Cow::into_owned))
                .unwrap_or_else(|| "??".into());
            let (file, line) = match &f.location {
                Some(l) => (l.file.unwrap_or("??").to_string(), l.line.unwrap_or(0)),
                None => ("??".into(), 0),
            };
            out.push(SourceLine {
                function,
                file,
                line,
            });
        }
        out
    }

    /// Link-time address of a function (for a module file: its section-relative value).
    pub fn function_address(&self, name: &str) -> Option<u64> {
        self.table.lookup(name, None)
    }
}

fn module_name(file: &object::File<'_>) -> Option<String> {
    let s = file.section_by_name(".modinfo")?;
    let data = s.data().ok()?;
    data.split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"name="))
        .map(|n| String::from_utf8_lossy(n).into_owned())
}

fn load_dwarf(file: &object::File<'_>) -> Result<addr2line::Context<Reader>, String> {
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        let data: Arc<[u8]> = match file.section_by_name(id.name()) {
            Some(s) => match s.uncompressed_data() {
                Ok(d) => Arc::from(&*d),
                Err(_) => Arc::from(&[][..]),
            },
            None => Arc::from(&[][..]),
        };
        Ok(gimli::EndianArcSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).map_err(|e| e.to_string())?;
    addr2line::Context::from_dwarf(dwarf).map_err(|e| e.to_string())
}

/// Where the KASLR slide came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum SlideSource {
    /// The oops' `Kernel Offset:` line.
    KernelOffset,
    /// A frame printing both an address and `func+off` (address − symbol − offset).
    Frame { line: u32 },
    /// The symbols are a /proc/kallsyms copy: already run-time addresses.
    Kallsyms,
}

/// The KASLR slide: run-time address − link-time address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slide {
    #[serde(serialize_with = "kvmtriage_model::hex::u64")]
    pub value: u64,
    #[serde(flatten)]
    pub source: SlideSource,
}

/// A frame (or the RIP line) after symbolization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedFrame {
    /// Index into `Oops::stack`; `None` for the RIP line.
    pub frame: Option<usize>,
    /// `func+0x1b/0xb0 [mod]` as `decode_stacktrace.sh` starts its line.
    pub symbol: String,
    /// Run-time address when the slide is known (or the symbols are run-time).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "kvmtriage_model::hex::opt_u64"
    )]
    pub address: Option<u64>,
    /// The location and its inline callers, innermost first.
    pub source: Vec<SourceLine>,
}

/// What symbolization gave for one oops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Symbolized {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slide: Option<Slide>,
    /// The faulting instruction's run-time address.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "kvmtriage_model::hex::opt_u64"
    )]
    pub rip: Option<u64>,
    pub frames: Vec<ResolvedFrame>,
    /// Files that could not help (e.g. a module whose `.ko` was not given).
    pub notes: Vec<String>,
}

/// Every symbol file given with `--symbols`.
#[derive(Debug, Default)]
pub struct Symbols {
    /// In the order given.
    pub files: Vec<SymbolFile>,
}

fn symref_text(s: &SymRef) -> String {
    let mut t = format!("{}+{:#x}", s.function, s.offset);
    if let Some(z) = s.size {
        t.push_str(&format!("/{z:#x}"));
    }
    if let Some(m) = &s.module {
        t.push_str(&format!(" [{m}]"));
    }
    t
}

impl Symbols {
    /// Load every path; the first unusable one is the error.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Symbols, SymbolError> {
        let files = paths
            .iter()
            .map(|p| SymbolFile::load(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Symbols { files })
    }

    fn kernel_files(&self) -> impl Iterator<Item = &SymbolFile> {
        self.files.iter().filter(|f| f.kind != FileKind::Module)
    }

    /// Link-time (or kallsyms run-time) address of a kernel or module function.
    fn function(&self, name: &str, module: Option<&str>) -> Option<(&SymbolFile, u64)> {
        match module {
            None => self
                .kernel_files()
                .find_map(|f| f.table.lookup(name, None).map(|a| (f, a))),
            Some(m) => self
                .files
                .iter()
                .filter(|f| f.kind == FileKind::Kallsyms)
                .find_map(|f| f.table.lookup(name, Some(m)).map(|a| (f, a)))
                .or_else(|| {
                    self.files
                        .iter()
                        .filter(|f| f.module.as_deref() == Some(m))
                        .find_map(|f| f.table.lookup(name, None).map(|a| (f, a)))
                }),
        }
    }

    /// The KASLR slide for this oops.
    pub fn slide(&self, oops: &Oops) -> Option<Slide> {
        if self.kernel_files().any(|f| f.kind == FileKind::Kallsyms)
            && !self
                .kernel_files()
                .any(|f| matches!(f.kind, FileKind::Vmlinux | FileKind::SystemMap))
        {
            return Some(Slide {
                value: 0,
                source: SlideSource::Kallsyms,
            });
        }
        if let Some(v) = oops.kernel.kernel_offset {
            return Some(Slide {
                value: v,
                source: SlideSource::KernelOffset,
            });
        }
        // A frame with an address and a kernel (non-module) symbol.
        let printed = oops
            .rip
            .iter()
            .map(|r| (r.address, r.symbol.as_ref(), r.line))
            .chain(
                oops.stack
                    .iter()
                    .map(|f| (f.address, f.symbol.as_ref(), f.line)),
            );
        for (addr, sym, line) in printed {
            let (Some(addr), Some(sym)) = (addr, sym) else {
                continue;
            };
            if sym.module.is_some() {
                continue;
            }
            let Some((file, link)) = self.function(&sym.function, None) else {
                continue;
            };
            if file.kind == FileKind::Kallsyms {
                continue;
            }
            return Some(Slide {
                value: addr.wrapping_sub(link).wrapping_sub(sym.offset),
                source: SlideSource::Frame { line },
            });
        }
        None
    }

    fn resolve(&self, sym: &SymRef, slide: Option<&Slide>) -> (Option<u64>, Vec<SourceLine>) {
        let Some((file, base)) = self.function(&sym.function, sym.module.as_deref()) else {
            return (None, Vec::new());
        };
        let link = base.wrapping_add(sym.offset);
        let runtime = match file.kind {
            FileKind::Kallsyms => Some(link),
            FileKind::Module => None,
            _ => slide.map(|s| link.wrapping_add(s.value)),
        };
        // DWARF: the kernel image's own, probed at the link-time address; for a kallsyms hit on
        // a kernel function, the vmlinux's address of the same name.
        let dwarf_file = if file.dwarf.is_some() {
            Some((file, link))
        } else if sym.module.is_none() {
            self.files
                .iter()
                .filter(|f| f.dwarf.is_some())
                .find_map(|f| {
                    f.table
                        .lookup(&sym.function, None)
                        .map(|a| (f, a.wrapping_add(sym.offset)))
                })
        } else {
            None
        };
        let source = dwarf_file.map_or(Vec::new(), |(f, a)| f.source_at(a));
        (runtime, source)
    }

    /// Symbolize the RIP line and every frame of `oops`.
    pub fn symbolize(&self, oops: &Oops) -> Symbolized {
        let slide = self.slide(oops);
        let mut out = Symbolized {
            slide: slide.clone(),
            ..Symbolized::default()
        };
        if let Some(sym) = oops.rip.as_ref().and_then(|r| r.symbol.as_ref()) {
            let (addr, source) = self.resolve(sym, slide.as_ref());
            out.rip = oops.cpu.rip.or(addr);
            out.frames.push(ResolvedFrame {
                frame: None,
                symbol: symref_text(sym),
                address: addr,
                source,
            });
        }
        let mut missing_modules: Vec<String> = Vec::new();
        for (i, f) in oops.stack.iter().enumerate() {
            if let Some(sym) = &f.symbol {
                let (addr, source) = self.resolve(sym, slide.as_ref());
                if addr.is_none() && source.is_empty() {
                    if let Some(m) = &sym.module {
                        if !missing_modules.contains(m) {
                            missing_modules.push(m.clone());
                        }
                    }
                }
                out.frames.push(ResolvedFrame {
                    frame: Some(i),
                    symbol: symref_text(sym),
                    address: addr.or(f.address),
                    source,
                });
            } else if let (Some(a), Some(s)) = (f.address, slide.as_ref()) {
                // An address-only frame: the symbol below it.
                let link = a.wrapping_sub(s.value);
                if let Some(file) = self.kernel_files().find(|x| x.table.at(link).is_some()) {
                    if let Some((name, off, _)) = file.table.at(link) {
                        out.frames.push(ResolvedFrame {
                            frame: Some(i),
                            symbol: format!("{name}+{off:#x}"),
                            address: Some(a),
                            source: file.source_at(link),
                        });
                    }
                }
            }
        }
        for m in missing_modules {
            out.notes.push(format!(
                "module {m}: no symbols given (pass its .ko with --symbols)"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn symbols_are_shareable() {
        fn sync_send<T: Send + Sync>() {}
        sync_send::<super::Symbols>();
    }
}
