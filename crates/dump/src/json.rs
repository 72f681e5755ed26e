//! The dump's JSON (docs/json.md, section "The dump"), put together by hand from the one CPU
//! model, the line table and what QEMU printed, so that every value is stored once and the JSON
//! keeps the shape it always had: a register is `{"value": "0x…", "line": N}`, a segment
//! `{name, selector, base, limit, attributes, printed_decode, line}`, and so on.

use kvmtriage_model::hex::{self, Hex};
use kvmtriage_model::{Field, Gpr, SegName, Segment, VectorReg};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::dump::{Dump, GprLayout};

/// A register value with its line: `{"value": "0x…", "line": N}`.
#[derive(Serialize)]
struct Reg {
    value: Hex,
    line: u32,
}

fn reg(dump: &Dump, value: Option<u64>, field: Field) -> Option<Reg> {
    value.map(|v| Reg {
        value: Hex(v),
        line: dump.lines.get(field).unwrap_or(0),
    })
}

struct General<'a>(&'a Dump);

impl Serialize for General<'_> {
    /// `{"layout": "bits64", "apx": false, "values": {"rax": {"value": "0x…", "line": 3}, …}}`;
    /// names follow the layout (`eax` … in the 32-bit layout), in encoding order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Values<'a>(&'a Dump);
        impl Serialize for Values<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let d = self.0;
                let mut m = s.serialize_map(None)?;
                for r in Gpr::ALL {
                    if let Some(v) = reg(d, d.cpu.gpr(r), Field::Gpr(r)) {
                        let name = if d.printed.layout == GprLayout::Bits32 {
                            r.name32()
                        } else {
                            r.name64()
                        };
                        m.serialize_entry(name, &v)?;
                    }
                }
                m.end()
            }
        }
        let mut st = s.serialize_struct("GeneralRegisters", 3)?;
        st.serialize_field("layout", &self.0.printed.layout)?;
        st.serialize_field("apx", &self.0.cpu.has_apx())?;
        st.serialize_field("values", &Values(self.0))?;
        st.end()
    }
}

/// The small fields of the RIP line.
#[derive(Serialize)]
struct State<'a> {
    flags_text: Option<&'a str>,
    cpl: Option<u8>,
    ii: Option<u8>,
    a20: Option<u8>,
    smm: Option<u8>,
    hlt: Option<u8>,
    line: u32,
}

struct SegmentJson<'a> {
    name: SegName,
    seg: &'a Segment,
    printed: Option<&'a str>,
    line: u32,
}

impl Serialize for SegmentJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Segment", 7)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("selector", &Hex(u64::from(self.seg.selector)))?;
        st.serialize_field("base", &Hex(self.seg.base))?;
        st.serialize_field("limit", &Hex(u64::from(self.seg.limit)))?;
        st.serialize_field("attributes", &Hex(u64::from(self.seg.attributes.bits())))?;
        st.serialize_field("printed_decode", &self.printed)?;
        st.serialize_field("line", &self.line)?;
        st.end()
    }
}

struct Segments<'a>(&'a Dump);

impl Serialize for Segments<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const KEYS: [&str; 8] = ["es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"];
        let d = self.0;
        let mut st = s.serialize_struct("Segments", 8)?;
        for n in SegName::ALL {
            let seg = d.cpu.segment(n).map(|seg| SegmentJson {
                name: n,
                seg,
                printed: d.printed.segment_label(n),
                line: d.lines.get(Field::Segment(n)).unwrap_or(0),
            });
            st.serialize_field(KEYS[n.index()], &seg)?;
        }
        st.end()
    }
}

#[derive(Serialize)]
struct Table {
    base: Hex,
    limit: Hex,
    line: u32,
}

fn table(d: &Dump, t: Option<&kvmtriage_model::DescriptorTable>, f: Field) -> Option<Table> {
    t.map(|t| Table {
        base: Hex(t.base),
        limit: Hex(u64::from(t.limit)),
        line: d.lines.get(f).unwrap_or(0),
    })
}

#[derive(Serialize)]
struct Cr {
    cr0: Option<Reg>,
    cr2: Option<Reg>,
    cr3: Option<Reg>,
    cr4: Option<Reg>,
}

#[derive(Serialize)]
struct Dr {
    dr0: Option<Reg>,
    dr1: Option<Reg>,
    dr2: Option<Reg>,
    dr3: Option<Reg>,
    dr6: Option<Reg>,
    dr7: Option<Reg>,
}

#[derive(Serialize)]
struct LazyFlagsJson<'a> {
    ccs: Hex,
    ccd: Hex,
    cco: &'a str,
    line: u32,
}

#[derive(Serialize)]
struct FpRegJson {
    index: u8,
    mantissa: Hex,
    sign_exponent: Hex,
    line: u32,
}

#[derive(Serialize)]
struct FpuJson {
    fcw: Option<Reg>,
    fsw: Option<Reg>,
    st: Option<u8>,
    ftw: Option<Reg>,
    mxcsr: Option<Reg>,
    fpr: Vec<FpRegJson>,
}

struct Opmasks<'a>(&'a Dump);

impl Serialize for Opmasks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Opmask {
            index: u8,
            value: Hex,
            line: u32,
        }
        let d = self.0;
        let mut seq = s.serialize_seq(Some(d.cpu.opmask.len()))?;
        for k in &d.cpu.opmask {
            seq.serialize_element(&Opmask {
                index: k.index,
                value: Hex(k.value),
                line: d.lines.get(Field::Opmask(k.index)).unwrap_or(0),
            })?;
        }
        seq.end()
    }
}

struct Vectors<'a>(&'a Dump);

impl Serialize for Vectors<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Vector<'a>(&'a VectorReg, u32);
        impl Serialize for Vector<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                struct Quads<'a>(&'a [u64]);
                impl Serialize for Quads<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        hex::wide(self.0, s)
                    }
                }
                let mut st = s.serialize_struct("VectorReg", 4)?;
                st.serialize_field("kind", &self.0.kind)?;
                st.serialize_field("index", &self.0.index)?;
                st.serialize_field("quads", &Quads(&self.0.quads))?;
                st.serialize_field("line", &self.1)?;
                st.end()
            }
        }
        let d = self.0;
        let mut seq = s.serialize_seq(Some(d.cpu.vectors.len()))?;
        for v in &d.cpu.vectors {
            let line = d.lines.get(Field::Vector(v.kind, v.index)).unwrap_or(0);
            seq.serialize_element(&Vector(v, line))?;
        }
        seq.end()
    }
}

impl Serialize for Dump {
    /// The JSON of docs/json.md, section "The dump".
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self;
        let c = &d.cpu;
        let line = |f: Field| d.lines.get(f).unwrap_or(0);
        let bit = |b: Option<bool>| b.map(u8::from);
        let mut st = s.serialize_struct("Dump", 23)?;
        st.serialize_field("cpu_index", &d.cpu_index)?;
        st.serialize_field("event", &d.event)?;
        st.serialize_field("source", &d.source)?;
        st.serialize_field("warnings", &d.warnings)?;
        st.serialize_field("mode", &d.mode)?;
        st.serialize_field("general", &d.printed.gprs.then_some(General(d)))?;
        st.serialize_field("rip", &reg(d, c.rip, Field::Rip))?;
        st.serialize_field("rflags", &reg(d, c.rflags, Field::Rflags))?;
        // The CPL/II/A20/SMM/HLT fields: from QEMU's RIP line, or from a model filled without
        // text (kvmtriage repro --explain), which has no line (0).
        let has_state = d.lines.get(Field::State).is_some()
            || c.cpl.is_some()
            || c.smm.is_some()
            || c.halted.is_some();
        let state = has_state.then(|| line(Field::State)).map(|line| State {
            flags_text: d.printed.flags_text.as_deref(),
            cpl: c.cpl,
            ii: bit(c.interrupt_shadow),
            a20: bit(c.a20),
            smm: bit(c.smm),
            hlt: bit(c.halted),
            line,
        });
        st.serialize_field("state", &state)?;
        st.serialize_field("segments", &Segments(d))?;
        st.serialize_field("gdt", &table(d, c.gdt.as_ref(), Field::Gdt))?;
        st.serialize_field("idt", &table(d, c.idt.as_ref(), Field::Idt))?;
        let cr = |n: u8| reg(d, c.cr(n), Field::Cr(n));
        st.serialize_field(
            "cr",
            &Cr {
                cr0: cr(0),
                cr2: cr(2),
                cr3: cr(3),
                cr4: cr(4),
            },
        )?;
        let dr = |n: u8| reg(d, c.dr[usize::from(n)], Field::Dr(n));
        st.serialize_field(
            "dr",
            &Dr {
                dr0: dr(0),
                dr1: dr(1),
                dr2: dr(2),
                dr3: dr(3),
                dr6: dr(6),
                dr7: dr(7),
            },
        )?;
        st.serialize_field("efer", &reg(d, c.efer, Field::Efer))?;
        let lazy = d.lazy_flags.as_ref().map(|l| LazyFlagsJson {
            ccs: Hex(l.ccs),
            ccd: Hex(l.ccd),
            cco: &l.cco,
            line: line(Field::LazyFlags),
        });
        st.serialize_field("lazy_flags", &lazy)?;
        let fpu = c.fpu.as_ref().map(|f| FpuJson {
            fcw: reg(d, f.fcw.map(u64::from), Field::Fcw),
            fsw: reg(d, f.fsw.map(u64::from), Field::Fsw),
            st: f.st,
            ftw: reg(d, f.ftw.map(u64::from), Field::Ftw),
            mxcsr: reg(d, f.mxcsr.map(u64::from), Field::Mxcsr),
            fpr: f
                .fpr
                .iter()
                .map(|r| FpRegJson {
                    index: r.index,
                    mantissa: Hex(r.mantissa),
                    sign_exponent: Hex(u64::from(r.sign_exponent)),
                    line: line(Field::Fpr(r.index)),
                })
                .collect(),
        });
        st.serialize_field("fpu", &fpu)?;
        st.serialize_field("opmask", &Opmasks(d))?;
        st.serialize_field("vectors", &Vectors(d))?;
        st.serialize_field("code", &d.code)?;
        if let Some(r) = &d.exit_record {
            st.serialize_field("exit_record", r)?;
        } else {
            st.skip_field("exit_record")?;
        }
        st.serialize_field("decoded", &d.decoded)?;
        if let Some(c) = &d.capture {
            st.serialize_field("capture", c)?;
        } else {
            st.skip_field("capture")?;
        }
        st.end()
    }
}
