//! `kvmtriage serve` as a process: the API answers exactly what `kvmtriage explain --format json`
//! prints for the same text, and a non-loopback address is announced with a warning.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_kvmtriage");
const ORIGIN_PATH: &str = "examples/origin-x2apic-timer.txt";

/// A running `kvmtriage serve`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Standard error up to and including the "serving" line.
    stderr_head: String,
}

impl Server {
    fn start(listen: &str) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kvmtriage serve");
        let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
        let mut head = String::new();
        let addr = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read stderr") == 0 {
                let _ = child.kill();
                panic!("kvmtriage serve exited early: {head}");
            }
            head.push_str(&line);
            if let Some(rest) = line.split("serving http://").nth(1) {
                let addr = rest.split('/').next().expect("address");
                break addr.parse::<SocketAddr>().expect("socket address");
            }
        };
        Server {
            child,
            addr,
            stderr_head: head,
        }
    }

    /// The address to connect to (loopback, whatever the server listens on).
    fn connect_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.addr.port()))
    }

    /// One HTTP/1.1 POST; returns the status and the body.
    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(self.connect_addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr.port(),
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(body).expect("write body");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("read answer");
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header end");
        let headers = String::from_utf8_lossy(&answer[..split]).to_string();
        let status: u16 = headers
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        assert!(
            !headers
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "answers have a Content-Length"
        );
        (status, answer[split + 4..].to_vec())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli_explain(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(BIN)
        .arg("explain")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run explain");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("explain output");
    assert_eq!(out.status.code(), Some(0), "explain {args:?} failed");
    out.stdout
}

#[test]
fn api_answers_what_explain_format_json_prints() {
    let server = Server::start("127.0.0.1:0");
    let text = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(ORIGIN_PATH))
        .expect("origin dump");

    // Standard input: input.name is "-" on both sides.
    let cli = cli_explain(&["--format", "json", "-"], &text);
    let (status, api) = server.post("/api/explain", "text/plain", &text);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&api));
    assert_eq!(String::from_utf8_lossy(&api), String::from_utf8_lossy(&cli));
    let doc: serde_json::Value = serde_json::from_slice(&api).expect("JSON");
    assert_eq!(doc["dumps"][0]["fault"]["mnemonic"], "wrmsr");

    // A named file, with options: the same as the CLI given that file and those flags.
    let cli = cli_explain(
        &[
            "--format",
            "json",
            "--pretty",
            "--syntax",
            "att",
            "--host-kernel",
            "5.15.0-91-generic",
            ORIGIN_PATH,
        ],
        b"",
    );
    let (status, api) = server.post(
        &format!(
            "/api/explain?pretty=true&syntax=att&host_kernel=5.15.0-91-generic&name={ORIGIN_PATH}"
        ),
        "text/plain; charset=utf-8",
        &text,
    );
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&api), String::from_utf8_lossy(&cli));

    // Markdown: what --format markdown prints.
    let cli = cli_explain(&["--format", "markdown", "-"], &text);
    let (status, api) = server.post("/api/explain?format=markdown", "text/plain", &text);
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&api), String::from_utf8_lossy(&cli));

    // Stray non-UTF-8 bytes are replaced on both sides, as the CLI does.
    let mut latin1 = b"From: J\xf6rg\n".to_vec();
    latin1.extend_from_slice(&text);
    let cli = cli_explain(&["--format", "json", "-"], &latin1);
    let (status, api) = server.post("/api/explain", "text/plain", &latin1);
    assert_eq!(status, 200);
    assert_eq!(api, cli);
}

#[test]
fn loopback_by_default_and_a_warning_for_any_other_address() {
    let server = Server::start("127.0.0.1:0");
    assert!(server.addr.ip().is_loopback());
    assert!(
        !server.stderr_head.contains("warning"),
        "{}",
        server.stderr_head
    );
    drop(server);

    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 127.0.0.1:7373]"), "{help}");

    // Listening on every interface is allowed only when asked for, and said loudly. (The test
    // talks to it over loopback only.)
    let server = Server::start("0.0.0.0:0");
    assert!(
        server
            .stderr_head
            .contains("not on loopback: the page has no authentication"),
        "{}",
        server.stderr_head
    );
    let (status, _) = server.post("/api/disasm", "application/json", br#"{"bytes":"90"}"#);
    assert_eq!(status, 200);
}
