//! Differential: diagnosing with kvmtriage-x86's CodeAnalysis (the lead's path) gives the same
//! matches, trigger MSR and value as diagnosing from the Code= window alone, on every fixture and
//! the origin dump.

mod common;

use common::testdata;
use kvmtriage_diagnose::{diagnose, DiagnoseOptions, Facts};
use kvmtriage_x86::{analyze_code, CodeInput, CodeOptions, MachineState};

fn analysis(d: &kvmtriage_dump::Dump) -> Option<kvmtriage_x86::CodeAnalysis> {
    let code = d.code.as_ref()?;
    let marker = code.marker?;
    let facts = Facts::from_dump(d, None);
    let state = MachineState {
        rax: facts.rax,
        rcx: facts.rcx,
        rdx: facts.rdx,
        rip: facts.rip,
        ..MachineState::default()
    };
    let input = CodeInput {
        bytes: &code.bytes,
        marker,
        bitness: facts.bitness(),
        rip: facts.rip.unwrap_or(0),
        cs_base: facts.segments.cs.map_or(0, |c| c.base),
    };
    Some(analyze_code(&input, &state, &CodeOptions::default()))
}

#[test]
fn code_analysis_path_agrees_with_own_decoding() {
    let mut files = vec![testdata().join("seed/origin-note.txt")];
    for e in std::fs::read_dir(testdata().join("diagnose")).unwrap() {
        let p = e.unwrap().path();
        if p.join("match.txt").is_file() {
            files.push(p.join("match.txt"));
            files.push(p.join("near-miss.txt"));
        }
    }
    let opts = DiagnoseOptions::default();
    let mut compared = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for d in kvmtriage_dump::read(&text).unwrap() {
            let Some(a) = analysis(&d) else { continue };
            let own = diagnose(&d, None, &opts);
            let with = diagnose(&d, Some(&a), &opts);
            let ids = |g: &kvmtriage_diagnose::Diagnosis| {
                g.known_issues.iter().map(|k| k.id).collect::<Vec<_>>()
            };
            assert_eq!(ids(&own), ids(&with), "{}", f.display());
            let msr = |g: &kvmtriage_diagnose::Diagnosis| {
                g.classification
                    .msr
                    .as_ref()
                    .map(|m| (m.index.clone(), m.value.clone(), m.name.clone()))
            };
            assert_eq!(msr(&own), msr(&with), "{}", f.display());
            let mn = |g: &kvmtriage_diagnose::Diagnosis| {
                g.classification
                    .instruction
                    .as_ref()
                    .map(|i| (i.mnemonic.clone(), i.bytes.clone(), i.class))
            };
            assert_eq!(mn(&own), mn(&with), "{}", f.display());
            compared += 1;
        }
    }
    assert!(compared >= 40, "{compared}");
}
