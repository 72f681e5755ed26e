//! The page in a real headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs both).
//!
//! Without the browser or its driver every trial is reported as ignored, never as passed; with
//! `CI` set they fail instead (kvmtriage-testkit's rule). `CHROMIUM` and `CHROMEDRIVER` override the paths.
//! `KVMTRIAGE_SCREENSHOT_DIR=docs` writes the screenshots used in docs/web.md and the README.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use libtest_mimic::{Arguments, Failed};
use serde_json::{json, Value};

const ORIGIN: &str = include_str!("../../../examples/origin-x2apic-timer.txt");
const ORIGIN_BYTES: &str = "c3 0f 21 f0 5d c3 0f 0b 0f 1f 84 00 00 00 00 00 89 f9 89 f0 0f 30 0f 1f 44 00 00 c3 55 48 c1 e2 20 89 f6 48 09 d6 31 d2 48 89 e5 e8 40 bf 39 00 5d c3";
/// The origin window as 64-bit code (the README's listing).
const ORIGIN_64: [&str; 20] = [
    "ret",
    "mov rax,dr6",
    "pop rbp",
    "ret",
    "ud2",
    "nop dword ptr [rax+rax]",
    "mov ecx,edi",
    "mov eax,esi",
    "wrmsr",
    "nop dword ptr [rax+rax]",
    "ret",
    "push rbp",
    "shl rdx,0x20",
    "mov esi,esi",
    "or rsi,rdx",
    "xor edx,edx",
    "mov rbp,rsp",
    "call 0xffffffff9640c8c0",
    "pop rbp",
    "ret",
];

type R<T> = Result<T, Failed>;

fn fail(msg: impl Into<String>) -> Failed {
    Failed::from(msg.into())
}

// ---- Tools -----------------------------------------------------------------------------------

struct Tools {
    chromium: PathBuf,
    driver: PathBuf,
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn find_tools() -> Result<Tools, String> {
    let chromium = match std::env::var_os("CHROMIUM") {
        Some(p) => Some(PathBuf::from(p)),
        None => ["chromium", "chromium-browser"]
            .iter()
            .find_map(|n| find_in_path(n)),
    }
    .filter(|p| p.is_file())
    .ok_or("no chromium (apt-get install chromium, or set CHROMIUM)")?;
    let driver = match std::env::var_os("CHROMEDRIVER") {
        Some(p) => Some(PathBuf::from(p)),
        None => find_in_path("chromedriver"),
    }
    .filter(|p| p.is_file())
    .ok_or("no chromedriver (apt-get install chromium-driver, or set CHROMEDRIVER)")?;
    Ok(Tools { chromium, driver })
}

// ---- The server under test, in process ---------------------------------------------------------

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                kvmtriage_serve::serve(
                    listener,
                    kvmtriage_serve::Config::default(),
                    std::future::pending(),
                )
                .await
                .expect("serve");
            });
        });
        addr
    })
}

fn base_url() -> String {
    format!("http://127.0.0.1:{}/", server().port())
}

fn b64url(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes())
}

// ---- A minimal WebDriver client ----------------------------------------------------------------

struct Driver {
    child: Child,
    port: u16,
}

static DRIVER: Mutex<Option<Driver>> = Mutex::new(None);

fn driver_port(tools: &Tools) -> R<u16> {
    let mut slot = DRIVER.lock().map_err(|_| fail("driver lock poisoned"))?;
    if let Some(d) = slot.as_ref() {
        return Ok(d.port);
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| fail(format!("free port: {e}")))?
        .port();
    let child = Command::new(&tools.driver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("start {}: {e}", tools.driver.display())))?;
    let started = Instant::now();
    loop {
        if let Ok(v) = http(port, "GET", "/status", None) {
            if v["value"]["ready"] == true {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err(fail("chromedriver did not become ready in 20 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    *slot = Some(Driver { child, port });
    Ok(port)
}

fn stop_driver() {
    if let Ok(mut slot) = DRIVER.lock() {
        if let Some(mut d) = slot.take() {
            let _ = d.child.kill();
            let _ = d.child.wait();
        }
    }
}

/// One WebDriver command over HTTP/1.1 (loopback only).
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> R<Value> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| fail(format!("connect to chromedriver: {e}")))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| fail(e.to_string()))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let (head, payload) = read_answer(&mut stream)?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let v: Value = serde_json::from_slice(&payload)
        .map_err(|e| fail(format!("chromedriver answer is not JSON ({e}): {head}")))?;
    if status != 200 {
        return Err(fail(format!(
            "WebDriver {method} {path}: {status} {}",
            v["value"]["message"].as_str().unwrap_or("")
        )));
    }
    Ok(v)
}

/// Reads one HTTP/1.1 answer: headers, then a Content-Length or chunked body (chromedriver keeps
/// the connection open, so reading to the end would wait for its idle timeout).
fn read_answer(stream: &mut TcpStream) -> R<(String, Vec<u8>)> {
    let io = |e: std::io::Error| fail(format!("read from chromedriver: {e}"));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let split = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).map_err(io)?;
        if n == 0 {
            return Err(fail(
                "chromedriver closed the connection before its headers",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut body = buf[split + 4..].to_vec();
    let lower = head.to_ascii_lowercase();
    let length = lower.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    if let Some(len) = length {
        while body.len() < len {
            let n = stream.read(&mut chunk).map_err(io)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(len);
        return Ok((head, body));
    }
    if lower.contains("transfer-encoding: chunked") {
        // Read until the terminating zero-size chunk, then decode.
        while !body.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut chunk).map_err(io)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        return Ok((head, dechunk(&body)));
    }
    stream.read_to_end(&mut body).map_err(io)?;
    Ok((head, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

struct Session {
    port: u16,
    id: String,
}

impl Session {
    fn new(tools: &Tools, width: u32, height: u32) -> R<Session> {
        let port = driver_port(tools)?;
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": tools.chromium.to_string_lossy(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--hide-scrollbars",
                            "--force-device-scale-factor=1",
                            "--no-first-run",
                            "--disable-extensions",
                            "--disable-background-networking",
                            format!("--window-size={width},{height}"),
                        ]
                    }
                }
            }
        });
        let v = http(port, "POST", "/session", Some(&caps))?;
        let id = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| fail(format!("no session id: {v}")))?
            .to_string();
        Ok(Session { port, id })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> R<Value> {
        let v = http(
            self.port,
            method,
            &format!("/session/{}{path}", self.id),
            body.as_ref(),
        )?;
        Ok(v["value"].clone())
    }

    fn goto(&self, url: &str) -> R<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))?;
        self.wait(
            "document.documentElement.dataset.ready === 'true'",
            "the page to start",
        )?;
        Ok(())
    }

    fn js(&self, script: &str, args: Value) -> R<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Polls a JavaScript expression until it is truthy; returns its value.
    fn wait(&self, expr: &str, what: &str) -> R<Value> {
        let started = Instant::now();
        loop {
            let v = self.js(&format!("return ({expr});"), json!([]))?;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return Ok(v);
            }
            if started.elapsed() > Duration::from_secs(20) {
                let status = self.js(
                    "return (document.getElementById('status')||{}).textContent + ' | ' + (document.getElementById('bytes-status')||{}).textContent;",
                    json!([]),
                )?;
                return Err(fail(format!(
                    "timed out waiting for {what} ({expr}); status: {status}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn find(&self, css: &str) -> R<String> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        // The web element reference: the single `element-…` key of the answer.
        v.as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.starts_with("element-")))
            .and_then(|(_, id)| id.as_str())
            .map(str::to_string)
            .ok_or_else(|| fail(format!("no element {css}: {v}")))
    }

    fn click(&self, css: &str) -> R<()> {
        let e = self.find(css)?;
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})))?;
        Ok(())
    }

    /// Types into an element (WebDriver key codes: \u{E009} Control, \u{E007} Enter).
    fn type_into(&self, css: &str, text: &str) -> R<()> {
        let e = self.find(css)?;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )?;
        Ok(())
    }

    /// Key presses to the focused element, through the Actions API.
    fn keys(&self, keys: &[&str]) -> R<()> {
        let mut actions = Vec::new();
        for chord in keys {
            let parts: Vec<&str> = chord.split('+').collect();
            for p in &parts {
                actions.push(json!({ "type": "keyDown", "value": key(p) }));
            }
            for p in parts.iter().rev() {
                actions.push(json!({ "type": "keyUp", "value": key(p) }));
            }
        }
        self.cmd(
            "POST",
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        )?;
        self.cmd("DELETE", "/actions", None)?;
        Ok(())
    }

    fn text(&self, css: &str) -> R<String> {
        let v = self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            json!([css]),
        )?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| fail(format!("no element {css}")))
    }

    fn screenshot(&self) -> R<Vec<u8>> {
        let v = self.cmd("GET", "/screenshot", None)?;
        let b64 = v.as_str().ok_or_else(|| fail("no screenshot"))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| fail(format!("screenshot is not base64: {e}")))
    }
}

fn key(name: &str) -> &str {
    match name {
        "Ctrl" => "\u{E009}",
        "Alt" => "\u{E00A}",
        "Shift" => "\u{E008}",
        "Enter" => "\u{E007}",
        "Escape" => "\u{E00C}",
        "Tab" => "\u{E004}",
        "Right" => "\u{E014}",
        "Left" => "\u{E012}",
        "Space" => " ",
        other => other,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = http(self.port, "DELETE", &format!("/session/{}", self.id), None);
    }
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> R<()> {
    if cond {
        Ok(())
    } else {
        Err(fail(msg()))
    }
}

/// The instruction texts of the listing under `root`.
fn listing(s: &Session, root: &str) -> R<Vec<String>> {
    let v = s.js(
        "return Array.from(document.querySelectorAll(arguments[0] + ' table.listing td.insn')).map(e => e.textContent);",
        json!([root]),
    )?;
    serde_json::from_value(v).map_err(|e| fail(e.to_string()))
}

// ---- Trials --------------------------------------------------------------------------------------

fn permalink_shows_wrmsr_and_the_msr(tools: &Tools) -> R<()> {
    let s = Session::new(tools, 1280, 1000)?;
    s.goto(&format!("{}#d={}", base_url(), b64url(ORIGIN)))?;
    s.wait(
        "document.querySelector('#report tr.fault')",
        "the report from the permalink",
    )?;
    let report = s.text("#report")?;
    for needle in ["wrmsr", "IA32_X2APIC_INIT_COUNT", "x2apic-msr-eperm"] {
        check(report.contains(needle), || format!("report lacks {needle}"))?;
    }
    let fault = s.text("#report tr.fault")?;
    check(
        fault.contains("wrmsr") && fault.contains("ffffffff96070964"),
        || format!("fault row: {fault}"),
    )?;
    let input = s.js(
        "return document.getElementById('dump-text').value;",
        json!([]),
    )?;
    check(input == json!(ORIGIN), || {
        "the text area holds the dump".into()
    })?;

    // The page re-encodes the case compressed (#z=, deflate-raw); that link works too.
    let hash = s
        .wait(
            "location.hash.startsWith('#z=') && location.hash",
            "a compressed permalink",
        )?
        .as_str()
        .unwrap_or_default()
        .to_string();
    check(hash.len() < b64url(ORIGIN).len(), || {
        format!("compressed link is shorter: {}", hash.len())
    })?;
    let s2 = Session::new(tools, 1280, 1000)?;
    s2.goto(&format!("{}{hash}", base_url()))?;
    s2.wait(
        "document.querySelector('#report tr.fault')",
        "the report from the compressed permalink",
    )?;
    let report2 = s2.text("#report")?;
    check(report2.contains("IA32_X2APIC_INIT_COUNT"), || {
        "compressed permalink report".into()
    })?;
    let input2 = s2.js(
        "return document.getElementById('dump-text').value;",
        json!([]),
    )?;
    check(input2 == json!(ORIGIN), || {
        "the compressed link carries the exact text".into()
    })
}

fn pasting_a_dump_renders_the_report(tools: &Tools) -> R<()> {
    let s = Session::new(tools, 1280, 1000)?;
    s.goto(&base_url())?;
    check(s.text("#report")?.is_empty(), || {
        "no report before input".into()
    })?;
    // A paste anywhere on the page (outside the text boxes), as from the clipboard.
    s.js(
        "const dt = new DataTransfer(); dt.setData('text/plain', arguments[0]);
         document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));",
        json!([ORIGIN]),
    )?;
    s.wait(
        "document.querySelector('#report tr.fault')",
        "the report after a paste",
    )?;
    // The report, in order: verdict and hypotheses first, then findings, the instruction, the
    // listing, registers, control registers, segments.
    let headings: Vec<String> = serde_json::from_value(s.js(
        "return Array.from(document.querySelectorAll('#report .dump > .card > h3')).map(h => h.textContent);",
        json!([]),
    )?)
    .map_err(|e| fail(e.to_string()))?;
    check(
        headings
            == [
                "Verdict",
                "Hypotheses",
                "Findings",
                "Faulting instruction",
                "Code",
                "Registers",
                "Control, debug and flag registers",
                "Segments and descriptor tables",
            ],
        || format!("sections: {headings:?}"),
    )?;
    check(listing(&s, "#report")? == ORIGIN_64, || "listing".into())?;
    let verdict = s.text("#report .verdict-text")?;
    check(verdict.starts_with("KVM_RUN failed with EPERM"), || {
        verdict.clone()
    })?;
    let effect = s.text("#report .card.fault .effect")?;
    check(
        effect.contains("writes 0x0000000007213cc9 to MSR 0x838"),
        || effect.clone(),
    )?;
    let fields = s.text("#report .card.fault table.fields")?;
    check(fields.contains("INITIAL_COUNT"), || fields.clone())?;
    let findings = s.text("#report .card.findings")?;
    check(
        findings.contains("Next steps") && findings.contains("kvmtriage repro"),
        || findings.clone(),
    )?;
    let hyp = s.text("#report .card.hypotheses")?;
    check(hyp.contains("nox2apic"), || {
        format!("workarounds shown: {hyp}")
    })?;
    let regs = s.text("#report .card.registers")?;
    check(regs.contains("RCX") && regs.contains("0x838"), || {
        regs.clone()
    })?;
    let segs = s.text("#report .card.segments")?;
    check(
        segs.contains("Execute/Read, accessed") && segs.contains("TSS64-busy"),
        || segs.clone(),
    )?;

    // Register bits expand from the keyboard: focus CR0's line, press Enter.
    s.js(
        "Array.from(document.querySelectorAll('details.bitreg > summary')).find(x => x.textContent.startsWith('CR0')).focus();",
        json!([]),
    )?;
    s.keys(&["Enter"])?;
    let open = s.wait(
        "Array.from(document.querySelectorAll('details.bitreg')).find(d => d.open && d.textContent.startsWith('CR0'))",
        "CR0's bits to open",
    );
    check(open.is_ok(), || "CR0 did not open with Enter".into())?;
    let cr0 = s.js(
        "const d = Array.from(document.querySelectorAll('details.bitreg')).find(d => d.open); return Array.from(d.querySelectorAll('tr.set td:nth-child(2)')).map(t => t.textContent);",
        json!([]),
    )?;
    check(
        cr0 == json!(["PE", "MP", "ET", "NE", "WP", "AM", "PG"]),
        || format!("CR0 set bits: {cr0}"),
    )?;

    // Typing and Ctrl+Enter: the same report for another mode.
    s.js(
        "document.getElementById('dump-text').value = '';",
        json!([]),
    )?;
    s.type_into("#dump-text", ORIGIN)?;
    s.js(
        "document.getElementById('dump-mode').value = '32';",
        json!([]),
    )?;
    s.keys(&["Ctrl+Enter"])?;
    s.wait(
        "document.querySelector('#report .card.code .caption') && document.querySelector('#report .card.code .caption').textContent.startsWith('32-bit')",
        "the 32-bit report after Ctrl+Enter",
    )?;

    // Copy as Markdown hands the CLI's Markdown report to the clipboard.
    s.js(
        "document.getElementById('dump-mode').value = '';",
        json!([]),
    )?;
    s.js(
        "window.__copied = null; navigator.clipboard.writeText = (t) => { window.__copied = t; return Promise.resolve(); };",
        json!([]),
    )?;
    s.click("#copy-md")?;
    let md = s.wait("window.__copied", "the Markdown copy")?;
    let md = md.as_str().unwrap_or_default();
    check(
        md.contains("wrmsr") && md.contains('#') && md.contains("IA32_X2APIC_INIT_COUNT"),
        || format!("markdown: {}", &md[..md.len().min(300)]),
    )?;

    // Dropping a file: its name becomes the report's input name.
    s.js(
        "const dt = new DataTransfer(); dt.items.add(new File([arguments[0]], 'guest-crash.log', { type: 'text/plain' }));
         document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));",
        json!([ORIGIN]),
    )?;
    s.wait(
        "document.querySelector('#report .card.json summary') && document.querySelector('#report .card.json summary').textContent.includes('guest-crash.log')",
        "the report of the dropped file",
    )?;
    Ok(())
}

/// A dump with a computed finding (testdata/findings: CR2 equals RIP).
const CODE_FETCH_FAULT: &str =
    include_str!("../../../testdata/findings/code-fetch-fault/match.txt");

fn computed_findings_are_shown(tools: &Tools) -> R<()> {
    let s = Session::new(tools, 1280, 1000)?;
    s.goto(&format!("{}#d={}", base_url(), b64url(CODE_FETCH_FAULT)))?;
    s.wait(
        "document.querySelector('#report ul.computed li')",
        "the computed finding",
    )?;
    let finding = s.text("#report ul.computed li")?;
    check(
        finding.starts_with("code-fetch-fault")
            && finding.contains("CR2=")
            && finding.contains("cr2=0x"),
        || finding.clone(),
    )
}

fn raw_bytes_64_and_32_bit(tools: &Tools) -> R<()> {
    let s = Session::new(tools, 1280, 1000)?;
    s.goto(&base_url())?;
    // Alt+2 switches to the raw-bytes mode.
    s.js("document.body.focus();", json!([]))?;
    s.keys(&["Alt+2"])?;
    s.wait(
        "!document.getElementById('panel-bytes').hidden",
        "the raw-bytes panel",
    )?;
    s.type_into("#bytes-text", ORIGIN_BYTES)?;
    s.click("input[name=bytes-mode][value='64']")?;
    s.type_into("#bytes-address", "0xffffffff96070950")?;
    s.click("#disasm")?;
    s.wait(
        "document.querySelectorAll('#bytes-out td.insn').length === 20",
        "the 64-bit listing",
    )?;
    let l64 = listing(&s, "#bytes-out")?;
    check(l64 == ORIGIN_64, || format!("64-bit: {l64:?}"))?;
    let addr = s.text("#bytes-out tbody tr:nth-child(9) td.addr")?;
    check(addr == "ffffffff96070964", || format!("wrmsr at {addr}"))?;

    // 32-bit: the REX prefixes become `dec eax`, the listing changes.
    s.js(
        "document.getElementById('bytes-address').value = '0x96070950';",
        json!([]),
    )?;
    s.click("input[name=bytes-mode][value='32']")?;
    s.wait(
        "Array.from(document.querySelectorAll('#bytes-out td.insn')).some(e => e.textContent === 'dec eax')",
        "the 32-bit listing",
    )?;
    let l32 = listing(&s, "#bytes-out")?;
    check(l32 != l64, || "32-bit listing equals 64-bit".into())?;
    check(!l32.iter().any(|t| t.contains("rdx")), || {
        format!("32-bit: {l32:?}")
    })?;
    let caption = s.text("#bytes-out .caption")?;
    check(caption.starts_with("32-bit"), || caption.clone())?;

    // AT&T syntax, and the raw-bytes permalink (#x=) restores the same listing.
    s.click("input[name=bytes-syntax][value='att']")?;
    s.wait(
        "Array.from(document.querySelectorAll('#bytes-out td.insn')).some(e => e.textContent.includes('%'))",
        "the AT&T listing",
    )?;
    let hash = s.js("return location.hash;", json!([]))?;
    let hash = hash.as_str().unwrap_or_default().to_string();
    check(
        hash.starts_with("#x=") && hash.contains("mode=32") && hash.contains("syntax=att"),
        || hash.clone(),
    )?;
    let att = listing(&s, "#bytes-out")?;
    let s2 = Session::new(tools, 1280, 1000)?;
    s2.goto(&format!("{}{hash}", base_url()))?;
    s2.wait(
        "document.querySelectorAll('#bytes-out td.insn').length > 0",
        "the listing from #x=",
    )?;
    check(listing(&s2, "#bytes-out")? == att, || {
        "permalinked listing".into()
    })?;

    // Mode auto on a whole dump: 64-bit from the registers, the marked instruction explained.
    s2.js("document.getElementById('bytes-text').value = arguments[0]; document.getElementById('bytes-address').value = '';", json!([ORIGIN]))?;
    s2.click("input[name=bytes-mode][value='auto']")?;
    s2.click("input[name=bytes-syntax][value='intel']")?;
    s2.wait(
        "document.querySelector('#bytes-out .caption') && document.querySelector('#bytes-out .caption').textContent.startsWith('64-bit (from the dump)') && document.querySelector('#bytes-out tr.fault')",
        "the dump's window in auto mode",
    )?;
    let fault = s2.text("#bytes-out .card.fault")?;
    check(fault.contains("IA32_X2APIC_INIT_COUNT"), || fault.clone())
}

/// A dump whose event line, a stray line and a segment line carry markup and script.
fn hostile_dump() -> String {
    let mut lines: Vec<String> = ORIGIN.lines().map(str::to_string).collect();
    lines[0] = "error: kvm run failed <img src=x onerror=\"window.__xss=1\"> <script>window.__xss=2</script>".to_string();
    lines.insert(
        1,
        "<script>window.__xss=3</script><img src=x onerror=window.__xss=4>".to_string(),
    );
    lines[7].push_str(" <img src=x onerror=window.__xss=5>");
    lines.join("\n") + "\n"
}

fn markup_in_a_dump_stays_text(tools: &Tools) -> R<()> {
    let hostile = hostile_dump();
    let s = Session::new(tools, 1280, 1000)?;
    for how in ["permalink", "paste"] {
        if how == "permalink" {
            s.goto(&format!("{}#d={}", base_url(), b64url(&hostile)))?;
        } else {
            s.goto(&base_url())?;
            s.js(
                "window.__violations = 0; document.addEventListener('securitypolicyviolation', () => window.__violations++);
                 const dt = new DataTransfer(); dt.setData('text/plain', arguments[0]);
                 document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));",
                json!([hostile]),
            )?;
        }
        s.wait(
            "document.querySelector('#report .verdict-text')",
            "the report",
        )?;
        // Give an injected handler every chance to run.
        std::thread::sleep(Duration::from_millis(300));
        let state = s.js(
            "return {
                xss: window.__xss === undefined ? null : window.__xss,
                imgs: Array.from(document.images).map(i => i.getAttribute('src')),
                scripts: Array.from(document.scripts).map(x => x.getAttribute('src')),
                handlers: Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length,
                verdict: document.querySelector('#report .verdict-text').textContent,
                event: document.querySelector('#report .event').textContent,
                segments: document.querySelector('#report .card.segments').textContent,
                violations: window.__violations === undefined ? null : window.__violations,
            };",
            json!([]),
        )?;
        check(state["xss"].is_null(), || {
            format!("{how}: script ran: {state}")
        })?;
        check(state["imgs"] == json!(["/favicon.svg"]), || {
            format!("{how}: an image element was created: {state}")
        })?;
        check(state["scripts"] == json!(["/app.js"]), || {
            format!("{how}: a script element was created: {state}")
        })?;
        check(state["handlers"] == json!(0), || {
            format!("{how}: on* attributes: {state}")
        })?;
        let verdict = state["verdict"].as_str().unwrap_or_default();
        check(
            verdict.contains("<img src=x onerror=\"window.__xss=1\">")
                && verdict.contains("<script>window.__xss=2</script>"),
            || format!("{how}: the markup is shown as text: {verdict}"),
        )?;
        check(
            state["segments"]
                .as_str()
                .unwrap_or_default()
                .contains("<img src=x onerror=window.__xss=5>"),
            || format!("{how}: segment text: {state}"),
        )?;
        if how == "paste" {
            check(state["violations"] == json!(0), || {
                format!("{how}: CSP violations: {state}")
            })?;
        }
    }
    Ok(())
}

fn keyboard_and_themes(tools: &Tools) -> R<()> {
    let s = Session::new(tools, 1280, 900)?;
    s.goto(&base_url())?;
    let theme = |s: &Session| -> R<String> {
        Ok(
            s.js("return document.documentElement.dataset.theme;", json!([]))?
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let before = theme(&s)?;
    s.js("document.body.focus();", json!([]))?;
    s.keys(&["t"])?;
    let after = theme(&s)?;
    check(
        before != after && ["light", "dark"].contains(&after.as_str()),
        || format!("t: {before} -> {after}"),
    )?;
    s.click("#theme")?;
    check(theme(&s)? == before, || {
        "the theme button switches back".into()
    })?;
    // Dark theme really is dark.
    s.js(
        "document.documentElement.dataset.theme = 'dark';",
        json!([]),
    )?;
    let bg = s.js(
        "return getComputedStyle(document.documentElement).backgroundColor;",
        json!([]),
    )?;
    check(bg == json!("rgb(15, 20, 27)"), || {
        format!("dark background: {bg}")
    })?;

    // Tabs: arrow keys move between them.
    s.js("document.getElementById('tab-dump').focus();", json!([]))?;
    s.keys(&["Right"])?;
    s.wait(
        "document.activeElement.id === 'tab-bytes' && !document.getElementById('panel-bytes').hidden",
        "the raw-bytes tab from the arrow key",
    )?;
    s.keys(&["Left"])?;
    s.wait(
        "!document.getElementById('panel-dump').hidden",
        "the dump tab",
    )?;
    // ? opens the help, Escape closes it.
    s.js("document.body.focus();", json!([]))?;
    s.keys(&["Shift+?"])?;
    s.wait("document.getElementById('help').open", "the help dialog")?;
    s.keys(&["Escape"])?;
    s.wait(
        "!document.getElementById('help').open",
        "the help dialog to close",
    )?;
    // The Example button from the keyboard: Tab to it, Enter.
    s.js("document.getElementById('explain').focus();", json!([]))?;
    s.keys(&["Tab", "Tab", "Enter"])?;
    s.wait(
        "document.querySelector('#report tr.fault')",
        "the example's report",
    )?;
    Ok(())
}

fn screenshots(tools: &Tools) -> R<()> {
    let dir = match std::env::var_os("KVMTRIAGE_SCREENSHOT_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("kvmtriage-screens-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
    let save = |name: &str, png: Vec<u8>| -> R<()> {
        check(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
            || format!("{name}: not a real screenshot ({} bytes)", png.len()),
        )?;
        std::fs::write(dir.join(name), png).map_err(|e| fail(e.to_string()))
    };
    let s = Session::new(tools, 1280, 1500)?;
    s.goto(&format!("{}#d={}", base_url(), b64url(ORIGIN)))?;
    s.wait("document.querySelector('#report tr.fault')", "the report")?;
    s.js(
        "document.documentElement.dataset.theme = 'light';",
        json!([]),
    )?;
    s.js(
        "document.getElementById('dump-text').blur(); window.scrollTo(0, 0);",
        json!([]),
    )?;
    save("web-report-light.png", s.screenshot()?)?;
    // The listing, instruction and registers further down, in the dark theme.
    s.js(
        "document.documentElement.dataset.theme = 'dark';",
        json!([]),
    )?;
    s.js(
        "document.querySelector('#report .card.code').scrollIntoView();",
        json!([]),
    )?;
    s.js(
        "Array.from(document.querySelectorAll('details.bitreg')).find(d => d.textContent.startsWith('CR0')).open = true;",
        json!([]),
    )?;
    save("web-report-dark.png", s.screenshot()?)?;

    let s = Session::new(tools, 1280, 900)?;
    let code_line = ORIGIN
        .lines()
        .find(|l| l.starts_with("Code="))
        .ok_or_else(|| fail("no Code= line"))?;
    s.goto(&format!(
        "{}#x={}&mode=64&addr=0xffffffff96070950",
        base_url(),
        b64url(code_line)
    ))?;
    s.wait(
        "document.querySelector('#bytes-out tr.fault')",
        "the raw listing",
    )?;
    s.js(
        "document.documentElement.dataset.theme = 'light';",
        json!([]),
    )?;
    save("web-raw-bytes.png", s.screenshot()?)?;
    eprintln!("screenshots in {}", dir.display());
    Ok(())
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let tools = find_tools();
    // The project's rule for tests that need an outside tool (kvmtriage-testkit): ignored when it
    // is missing, failed under CI.
    let browser =
        kvmtriage_testkit::custom("chromium and chromedriver", tools.as_ref().err().cloned());
    if let (Some(why), false) = (&browser.missing, args.list) {
        if kvmtriage_testkit::ci() {
            eprintln!("CI is set and {why}: the browser tests FAIL");
        } else {
            eprintln!("{why}: the browser tests are ignored");
        }
    }
    let tools: &'static Result<Tools, String> = Box::leak(Box::new(tools));
    type TrialFn = fn(&Tools) -> R<()>;
    let trials: [(&str, TrialFn); 7] = [
        (
            "permalink_shows_wrmsr_and_the_msr",
            permalink_shows_wrmsr_and_the_msr,
        ),
        (
            "pasting_a_dump_renders_the_report",
            pasting_a_dump_renders_the_report,
        ),
        ("computed_findings_are_shown", computed_findings_are_shown),
        ("raw_bytes_64_and_32_bit", raw_bytes_64_and_32_bit),
        ("markup_in_a_dump_stays_text", markup_in_a_dump_stays_text),
        ("keyboard_and_themes", keyboard_and_themes),
        ("screenshots", screenshots),
    ];
    let trials = trials
        .into_iter()
        .map(|(name, f)| {
            kvmtriage_testkit::trial(name, &[&browser], move || {
                if let Ok(t) = tools {
                    if let Err(e) = f(t) {
                        panic!("{}", e.message().unwrap_or("failed"));
                    }
                }
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // Not `kvmtriage_testkit::run`, which exits at once: chromedriver is stopped first.
    stop_driver();
    conclusion.exit_code()
}
