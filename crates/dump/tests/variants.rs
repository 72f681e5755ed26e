//! The origin dump, re-shaped the ways people publish dumps (mail wrapping,
//! quoted-printable, quoting, log prefixes, CRLF), must read exactly like
//! the clean copy: same event, registers, Code bytes and marker.

use kvmtriage_dump::{read, Dump};
use serde_json::Value;

fn origin_dump_lines() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/seed/origin-note.txt"
    ))
    .expect("origin note");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("error: kvm run failed"))
        .expect("error line");
    let end = lines
        .iter()
        .position(|l| l.starts_with("Code="))
        .expect("Code line");
    lines[start..=end].iter().map(|s| s.to_string()).collect()
}

/// JSON of a dump without anything that depends on line positions.
fn essence(d: &Dump) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in [
                    "line",
                    "first_line",
                    "last_line",
                    "extra_data_lines",
                    "warnings",
                ] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(d).expect("json");
    // Mode evidence names no lines; keep it.
    strip(&mut v);
    v
}

fn clean() -> Dump {
    let text = origin_dump_lines().join("\n");
    let mut dumps = read(&text).expect("clean origin dump reads");
    assert_eq!(dumps.len(), 1);
    let d = dumps.remove(0);
    assert!(
        d.warnings.is_empty(),
        "clean dump has warnings: {:?}",
        d.warnings
    );
    d
}

fn check(name: &str, text: &str) {
    let want = clean();
    let dumps = read(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        dumps.len(),
        1,
        "{name}: expected one dump, got {}",
        dumps.len()
    );
    let got = &dumps[0];
    let code = got
        .code
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no Code window"));
    let want_code = want.code.as_ref().expect("clean code");
    assert_eq!(code.bytes, want_code.bytes, "{name}: Code bytes differ");
    assert_eq!(code.marker, Some(20), "{name}: marker");
    assert_eq!(
        essence(got),
        essence(&want),
        "{name}: dump differs from the clean copy"
    );
    assert!(
        got.warnings.is_empty(),
        "{name}: unexpected warnings {:?}",
        got.warnings
    );
    let total = text.lines().count() as u32;
    assert!(
        got.source.first_line >= 1 && got.source.last_line <= total,
        "{name}: source out of bounds"
    );
}

fn prefixed(prefix: &str) -> String {
    origin_dump_lines()
        .iter()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Wrap at `width` at the last space (format=flowed style, trailing space kept).
fn wrap_soft(width: usize) -> String {
    let mut out = Vec::new();
    for line in origin_dump_lines() {
        let mut rest = line.as_str();
        while rest.len() > width {
            let cut = rest[..width].rfind(' ').map(|p| p + 1).unwrap_or(width);
            out.push(rest[..cut].to_string());
            rest = &rest[cut..];
        }
        out.push(rest.to_string());
    }
    out.join("\n")
}

/// Cut at exactly `width` characters, through tokens (terminal wrap).
fn wrap_hard(width: usize) -> String {
    let mut out = Vec::new();
    for line in origin_dump_lines() {
        let mut rest = line.as_str();
        while rest.len() > width {
            out.push(rest[..width].to_string());
            rest = &rest[width..];
        }
        out.push(rest.to_string());
    }
    out.join("\n")
}

/// Quoted-printable: `=` → `=3D`, soft line breaks at 76 columns; with
/// `break_in_marker`, the Code line is broken inside `<0f>`.
fn quoted_printable(quote: &str, break_in_marker: bool) -> String {
    let mut out = Vec::new();
    for line in origin_dump_lines() {
        let enc = format!("{quote}{}", line.replace('=', "=3D"));
        let mut rest = enc.as_str();
        if break_in_marker && line.starts_with("Code=") {
            let p = rest.find("<0").expect("marker") + 2;
            out.push(format!("{}=", &rest[..p]));
            rest = &rest[p..];
        }
        while rest.len() > 75 {
            // never split an =XX escape
            let mut cut = 75;
            while rest[..cut].ends_with('=') || rest[..cut.saturating_sub(1)].ends_with('=') {
                cut -= 1;
            }
            out.push(format!("{}=", &rest[..cut]));
            rest = &rest[cut..];
        }
        out.push(rest.to_string());
    }
    out.join("\n")
}

#[test]
fn clean_copy_reads_without_warnings() {
    let d = clean();
    assert_eq!(d.event.kind(), "run_failed");
    assert_eq!(d.rip(), Some(0xffffffff96070964));
    assert_eq!(d.code.as_ref().and_then(|c| c.marker), Some(20));
}

#[test]
fn mail_wrapped_soft_72_and_80() {
    check("soft wrap 72", &wrap_soft(72));
    check("soft wrap 80", &wrap_soft(80));
}

#[test]
fn terminal_hard_wrap_72_and_80() {
    check("hard wrap 72", &wrap_hard(72));
    check("hard wrap 80", &wrap_hard(80));
}

#[test]
fn quoted_printable_with_soft_breaks() {
    check("QP", &quoted_printable("", false));
    check("QP, break inside marker", &quoted_printable("", true));
    check("QP, quoted", &quoted_printable(">", true));
}

#[test]
fn mail_quote_markers() {
    for q in ["> ", ">", "> > ", ">> ", ">>> ", "| "] {
        check(&format!("quote {q:?}"), &prefixed(q));
    }
}

#[test]
fn log_prefixes() {
    for p in [
        "Nov 24 01:53:31 host qemu-system-x86_64[1234]: ",
        "2026-11-24T01:53:31.123456+00:00 host libvirtd[99]: ",
        "[Tue Nov 24 01:53:31 2026] ",
        "[   12.345678] ",
        "[T1234] ",
        "[   12.345678] [T1234] ",
        "2026-11-24 01:53:31.123+0000: ",
        "    ",
        "\t",
    ] {
        check(&format!("prefix {p:?}"), &prefixed(p));
    }
}

#[test]
fn crlf_line_ends() {
    check("CRLF", &origin_dump_lines().join("\r\n"));
    check(
        "CRLF + trailing",
        &(origin_dump_lines().join("\r\n") + "\r\n"),
    );
}

#[test]
fn monitor_prompt_and_glued_error_line() {
    let lines = origin_dump_lines();
    let rest = lines[1..].join("\n");
    check("monitor prompt", &format!("(qemu) {}\n{rest}", lines[0]));
    check(
        "glued",
        &format!("Booting the kernel...{}\n{rest}", lines[0]),
    );
}

#[test]
fn surrounded_by_prose() {
    let body = origin_dump_lines().join("\n");
    check(
        "prose",
        &format!(
            "Hi all,\n\nthe guest died with:\n\n{body}\n\nAny idea? RIP points at wrmsr.\nThanks\n"
        ),
    );
}

#[test]
fn reflowed_into_long_lines() {
    // A mailer that joins every two lines into one paragraph line.
    let lines = origin_dump_lines();
    let mut joined = vec![lines[0].clone()];
    for pair in lines[1..lines.len() - 1].chunks(2) {
        joined.push(pair.join(" "));
    }
    joined.push(lines[lines.len() - 1].clone());
    check("reflowed pairs", &joined.join("\n"));
}

#[test]
fn html_escaped_quotes() {
    check("&gt; quotes", &prefixed("&gt; "));
}

#[test]
fn byte_order_mark_and_no_break_space_indentation() {
    let body = origin_dump_lines()[1..].join("\n");
    check(
        "BOM",
        &format!("\u{feff}{}\n{body}", origin_dump_lines()[0]),
    );
    check("NBSP", &prefixed("\u{a0}\u{a0}"));
}

#[test]
fn json_escaped_as_in_a_qmp_answer() {
    // `human-monitor-command` answers carry the dump in one JSON string with `\r\n` escapes.
    let body = origin_dump_lines().join("\\r\\n");
    let text = format!(
        ">> {{\"execute\": \"human-monitor-command\"}}\n<< {{\"return\": \"\\r\\n{body}\\r\\n\"}}\n"
    );
    check("qmp-json", &text);
    let d = &read(&text).expect("dump")[0];
    assert_eq!(
        d.source.first_line, 2,
        "every value points at the JSON line"
    );
    assert_eq!(d.source.last_line, 2);
}
