use std::collections::HashMap;
use iced_x86::{Decoder, DecoderOptions, Code};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

fn funcs(data: &[u8]) -> Vec<(Vec<u8>, Vec<usize>)> {
    let file = object::File::parse(data).unwrap();
    let mut symbols: Vec<(u64, u64, usize)> = file.symbols().chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| Some((s.address(), s.size(), s.section_index()?.0))).collect();
    symbols.sort(); symbols.dedup_by_key(|s| s.0);
    let mut out = Vec::new();
    for (a, sz, si) in symbols {
        let Ok(sec) = file.section_by_index(object::SectionIndex(si)) else { continue };
        let Ok(Some(b)) = sec.data_range(a, sz) else { continue };
        let mut d = Decoder::with_ip(64, b, a, DecoderOptions::NONE);
        let mut st = Vec::new(); let mut ok = true;
        while d.can_decode() { st.push(d.position()); if d.decode().is_invalid() { ok = false; break; } }
        if ok && d.position() == b.len() { out.push((b.to_vec(), st)); }
    }
    out
}

#[test]
fn freq() {
    let mut t: HashMap<Code, (u64, u64)> = HashMap::new();
    let (mut nt, mut ng) = (0u64, 0u64);
    for p in [std::env::current_exe().unwrap(), "/usr/lib/x86_64-linux-gnu/libc.so.6".into()] {
        let data = std::fs::read(p).unwrap();
        for (b, st) in funcs(&data) {
            let set: std::collections::HashSet<usize> = st.iter().copied().collect();
            let mut d = Decoder::with_ip(64, &b, 0, DecoderOptions::NONE);
            for pos in 0..b.len() {
                d.set_position(pos).unwrap();
                let i = d.decode();
                let e = t.entry(i.code()).or_default();
                if set.contains(&pos) { e.0 += 1; nt += 1 } else { e.1 += 1; ng += 1 }
            }
        }
    }
    let mut v: Vec<_> = t.into_iter().collect();
    v.sort_by(|a, b| (b.1.1 as f64 * ((b.1.1 as f64 / ng as f64 + 1e-9) / (b.1.0 as f64 / nt as f64 + 1e-7)).ln()).partial_cmp(&(a.1.1 as f64 * ((a.1.1 as f64 / ng as f64 + 1e-9)/(a.1.0 as f64 / nt as f64 + 1e-7)).ln())).unwrap());
    println!("true {nt} garbage {ng}");
    for (c, (a, g)) in v.iter().take(70) { println!("{c:?} true {a} garbage {g} ratio {:.1}", (*g as f64 / ng as f64) / (*a as f64 / nt as f64 + 1e-7)); }
    println!("---- most common true");
    v.sort_by_key(|x| std::cmp::Reverse(x.1.0));
    for (c, (a, g)) in v.iter().take(60) { println!("{c:?} true {a} garbage {g} ratio {:.2}", (*g as f64 / ng as f64) / (*a as f64 / nt as f64 + 1e-7)); }
}
