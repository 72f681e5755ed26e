//! `kvmtriage explain` as a user meets it: inputs from files and standard input, every output
//! format, the options, and the exit codes of docs/exit-codes.md.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const ORIGIN: &str = "examples/origin-x2apic-timer.txt";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kvmtriage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run kvmtriage")
}

fn with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .current_dir(root())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kvmtriage");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).expect("valid JSON on stdout")
}

#[test]
fn origin_json_names_the_wrmsr_and_its_values() {
    let o = kvmtriage(&["explain", "--format", "json", ORIGIN]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    let d = &v["dumps"][0];
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["event"]["kind"], "run_failed");
    assert_eq!(d["event"]["errno"], 1);
    assert_eq!(d["event"]["errno_name"], "EPERM");
    assert_eq!(d["mode"]["bits"], 64);
    assert_eq!(d["source"]["first_line"], 1);
    assert_eq!(d["fault"]["address"], "0xffffffff96070964");
    assert_eq!(d["fault"]["bytes"], "0f 30");
    assert_eq!(d["fault"]["mnemonic"], "wrmsr");
    assert_eq!(d["fault"]["text"], "wrmsr");
    assert_eq!(d["fault"]["synced"], true);
    assert_eq!(d["fault"]["msr"]["index"], "0x838");
    assert_eq!(d["fault"]["msr"]["name"], "IA32_X2APIC_INIT_COUNT");
    assert_eq!(d["fault"]["msr"]["value"], "0x7213cc9");
    let listing = d["listing"].as_array().expect("listing");
    let marked: Vec<_> = listing.iter().filter(|l| l["is_fault"] == true).collect();
    assert_eq!(marked.len(), 1, "exactly one listing line is the fault");
    assert_eq!(marked[0]["address"], "0xffffffff96070964");
    assert!(d["diagnosis"]["verdict"]
        .as_str()
        .is_some_and(|s| s.contains("EPERM")));
}

#[test]
fn standard_input_gives_the_same_analysis_as_the_file() {
    let text = std::fs::read(root().join(ORIGIN)).expect("origin example");
    let from_stdin = with_stdin(&["explain", "--format", "json", "-"], &text);
    let from_file = kvmtriage(&["explain", "--format", "json", ORIGIN]);
    assert_eq!(from_stdin.status.code(), Some(0));
    let (mut a, mut b) = (json(&from_stdin), json(&from_file));
    // Only the input name differs.
    assert_eq!(a["input"]["name"], "-");
    a["input"]["name"] = serde_json::Value::Null;
    b["input"]["name"] = serde_json::Value::Null;
    assert_eq!(a, b);
}

#[test]
fn text_report_leads_with_the_verdict_and_marks_the_fault() {
    let o = kvmtriage(&["explain", "--color", "never", ORIGIN]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let verdict = out.find("Verdict:").expect("verdict line");
    let code = out.find("Code (64-bit").expect("listing heading");
    assert!(verdict < code, "the verdict comes before the listing");
    assert!(out.contains("=> ffffffff96070964  0f 30"), "{out}");
    assert!(out.contains("IA32_X2APIC_INIT_COUNT"));
    assert!(!out.contains('\x1b'), "no colour with --color never");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let always = kvmtriage(&["explain", "--color", "always", ORIGIN]);
    assert!(stdout(&always).contains("\x1b["));
    // stdout is a pipe here, so auto means no colour.
    let auto = kvmtriage(&["explain", ORIGIN]);
    assert!(!stdout(&auto).contains('\x1b'));
}

#[test]
fn markdown_report_has_headings_and_a_fenced_listing() {
    let o = kvmtriage(&["explain", "--format", "markdown", ORIGIN]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.starts_with("## "), "{out}");
    assert!(out.contains("### Evidence"));
    let fence = out.find("```\n").expect("a fenced block");
    let fault_line = out
        .find("\n=> ffffffff96070964  0f 30")
        .expect("the marked fault line");
    assert!(fence < fault_line, "{out}");
}

#[test]
fn mode_override_decodes_the_window_as_asked() {
    // The online-disassembler mistake of the origin note: 64-bit code decoded as 32-bit.
    let o = kvmtriage(&["explain", "--format", "json", "--mode", "32", ORIGIN]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    let d = &v["dumps"][0];
    assert_eq!(d["disassembly"]["bits"], 32);
    assert_eq!(d["disassembly"]["bits_source"], "override");
    let texts: Vec<&str> = d["listing"]
        .as_array()
        .expect("listing")
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert!(
        texts.contains(&"dec eax"),
        "REX.W decodes as dec eax in 32-bit mode: {texts:?}"
    );
    let bad = kvmtriage(&["explain", "--mode", "48", ORIGIN]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(stderr(&bad).contains("48"));
}

#[test]
fn att_syntax_on_request() {
    let o = kvmtriage(&["explain", "--format", "json", "--syntax", "att", ORIGIN]);
    let v = json(&o);
    let texts: Vec<&str> = v["dumps"][0]["listing"]
        .as_array()
        .expect("listing")
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains("%rbp")), "{texts:?}");
}

#[test]
fn cpu_selects_one_dump_of_info_registers_a() {
    let input = "testdata/corpus/qemu-real/kvm-smp2-halt.info-registers-a.txt";
    let all = json(&kvmtriage(&["explain", "--format", "json", input]));
    assert_eq!(all["dumps"].as_array().map(Vec::len), Some(2));
    let one = kvmtriage(&["explain", "--format", "json", "--cpu", "1", input]);
    assert_eq!(one.status.code(), Some(0));
    let v = json(&one);
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["dumps"][0]["cpu_index"], 1);
    let missing = kvmtriage(&["explain", "--cpu", "7", input]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("CPU 7"), "{}", stderr(&missing));
}

#[test]
fn host_kernel_is_parsed_and_bad_versions_are_refused() {
    let ok = kvmtriage(&[
        "explain",
        "--format",
        "json",
        "--host-kernel",
        "5.15.0-91-generic",
        ORIGIN,
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let bad = kvmtriage(&["explain", "--host-kernel", "banana", ORIGIN]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("banana"));
}

#[test]
fn unreadable_and_empty_inputs_exit_3_with_a_message() {
    let missing = kvmtriage(&["explain", "no/such/file.txt"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(stderr(&missing).contains("no/such/file.txt"));
    assert!(missing.stdout.is_empty());

    let empty = with_stdin(&["explain", "-"], b"");
    assert_eq!(empty.status.code(), Some(3));
    assert!(stderr(&empty).contains("empty"), "{}", stderr(&empty));

    let binary = with_stdin(
        &["explain", "-"],
        b"RAX=\x00\x01\x02\xff\xfe binary\n\x7fELF\x00\x00",
    );
    assert_eq!(binary.status.code(), Some(3));
    assert!(stderr(&binary).contains("line 1"), "{}", stderr(&binary));
}

#[test]
fn text_without_a_dump_exits_2() {
    let o = with_stdin(
        &["explain", "-"],
        b"hello\nthis is a mail without any register dump\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no QEMU x86 register dump"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn damaged_dump_still_yields_what_can_be_read() {
    let text = std::fs::read_to_string(root().join(ORIGIN)).expect("origin");
    // Cut mid-line inside the segment block.
    let cut = &text[..text.find("DS =0000").expect("DS line") + 12];
    let o = with_stdin(&["explain", "--format", "json", "-"], cut.as_bytes());
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("kvmtriage: warning: -:10:"),
        "{}",
        stderr(&o)
    );
    let v = json(&o);
    let d = &v["dumps"][0];
    assert_eq!(d["event"]["kind"], "run_failed");
    assert_eq!(d["rip"]["value"], "0xffffffff96070964");
    let warnings = d["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w["line"] == 10),
        "a warning names the cut line 10: {warnings:?}"
    );
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let bad = kvmtriage(&["explain", "--bogus"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--bogus"));
    let help = kvmtriage(&["explain", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--host-kernel"));
}

#[test]
fn malformed_values_exit_7_naming_the_line() {
    let text = std::fs::read_to_string(root().join(ORIGIN)).expect("origin");
    // RAX with 15 hex digits (line 2).
    let short = text.replacen("RAX=0000000007213cc9", "RAX=000000007213cc9", 1);
    let o = with_stdin(&["explain", "--format", "json", "-"], short.as_bytes());
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("-:2:"), "{}", stderr(&o));
    // Two markers in one Code line (line 21).
    let two = text.replacen("<0f> 30", "<0f> <30>", 1);
    let o = with_stdin(&["explain", "--format", "json", "-"], two.as_bytes());
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("-:21:"), "{}", stderr(&o));
    assert!(!o.stdout.is_empty(), "the report is still printed");
}

#[test]
fn json_is_one_line_unless_pretty() {
    let compact = kvmtriage(&["explain", "--format", "json", ORIGIN]);
    let pretty = kvmtriage(&["explain", "--format", "json", "--pretty", ORIGIN]);
    assert_eq!(stdout(&compact).lines().count(), 1);
    assert!(stdout(&pretty).lines().count() > 100);
    assert_eq!(json(&compact), json(&pretty));
}

/// Runs `explain` on `input` (written to a temp file) with standard output piped, reads `take`
/// (one line, or a number of bytes for the one-line JSON), then closes the pipe while kvmtriage
/// still has megabytes to write. Returns what was read, the exit status and standard error.
fn explain_into_closed_pipe(
    tag: &str,
    input: &str,
    format: &str,
    take: Take,
) -> (String, std::process::ExitStatus, String) {
    use std::io::{BufRead, BufReader, Read};
    let path = std::env::temp_dir().join(format!(
        "kvmtriage-closed-pipe-{}-{tag}.txt",
        std::process::id()
    ));
    std::fs::write(&path, input).expect("write the large input");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvmtriage"))
        .current_dir(root())
        .args(["explain", "--format", format])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kvmtriage");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut head = String::new();
    match take {
        Take::Line => {
            reader.read_line(&mut head).expect("read one line");
        }
        Take::Bytes(n) => {
            let mut buf = vec![0; n];
            reader.read_exact(&mut buf).expect("read the first bytes");
            head = String::from_utf8_lossy(&buf).into_owned();
        }
    }
    // Closing our end of the pipe: kvmtriage's next write fails with EPIPE.
    drop(reader);
    let out = child.wait_with_output().expect("wait for kvmtriage");
    let _ = std::fs::remove_file(&path);
    (head, out.status, stderr(&out))
}

#[derive(Clone, Copy)]
enum Take {
    Line,
    Bytes(usize),
}

/// `kvmtriage explain BIG | head -1`: a closed standard output ends the run quietly, with the exit
/// code the analysis had (docs/exit-codes.md): no "failed printing to stdout" panic, no message,
/// no death by SIGPIPE.
#[test]
fn closed_stdout_pipe_ends_the_run_quietly() {
    let one = std::fs::read_to_string(root().join(ORIGIN)).expect("origin");
    let big = one.repeat(2000);
    let (head, status, err) = explain_into_closed_pipe("text", &big, "text", Take::Line);
    assert!(
        head.starts_with("== ") && head.contains("dump 1 of 2000"),
        "{head:?}"
    );
    assert_eq!(status.code(), Some(0), "status {status:?}, stderr: {err}");
    assert_eq!(err, "", "nothing on standard error");

    // JSON is slower to build in a debug binary: 200 dumps are still megabytes of output.
    let (head, status, err) =
        explain_into_closed_pipe("json", &one.repeat(200), "json", Take::Bytes(4096));
    assert!(head.starts_with('{'), "{head:?}");
    assert_eq!(status.code(), Some(0), "status {status:?}, stderr: {err}");
    assert_eq!(err, "", "nothing on standard error");

    // The closed pipe does not hide a damaged dump: still exit code 7, and the damage (printed
    // before the report) is the only thing on standard error.
    let damaged = one.replacen("RAX=0000000007213cc9", "RAX=000000007213cc9", 1) + &one.repeat(200);
    let (_, status, err) = explain_into_closed_pipe("damaged", &damaged, "text", Take::Line);
    assert_eq!(status.code(), Some(7), "status {status:?}, stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("kvmtriage: warning: "), "{err}");
}
