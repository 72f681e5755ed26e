//! The HTTP API in process (the router as a tower service): answers, errors, limits, headers.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use kvmtriage_serve::{router, Config, CONTENT_SECURITY_POLICY, DEFAULT_MAX_BODY};
use tower::ServiceExt;

const ORIGIN: &str = include_str!("../../../examples/origin-x2apic-timer.txt");
/// The origin dump's Code= bytes without the marker.
const ORIGIN_BYTES: &str = "c3 0f 21 f0 5d c3 0f 0b 0f 1f 84 00 00 00 00 00 89 f9 89 f0 0f 30 0f 1f 44 00 00 c3 55 48 c1 e2 20 89 f6 48 09 d6 31 d2 48 89 e5 e8 40 bf 39 00 5d c3";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error.code` of an error answer.
    fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.body))
            .to_string()
    }
}

async fn send_to(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8 answer"),
    }
}

async fn send(request: Request<Body>) -> Answer {
    send_to(router(Config::default()), request).await
}

fn post(uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post(uri).header(header::HOST, "127.0.0.1:7373");
    if let Some(t) = content_type {
        b = b.header(header::CONTENT_TYPE, t);
    }
    b.body(body.into()).expect("request")
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::HOST, "127.0.0.1:7373")
        .body(Body::empty())
        .expect("request")
}

fn disasm_body(v: serde_json::Value) -> Request<Body> {
    post("/api/disasm", Some("application/json"), v.to_string())
}

fn listing_texts(v: &serde_json::Value) -> Vec<String> {
    v["listing"]
        .as_array()
        .expect("listing")
        .iter()
        .map(|l| l["text"].as_str().expect("text").to_string())
        .collect()
}

#[tokio::test]
async fn explain_answers_the_cli_renderers_output() {
    let a = send(post("/api/explain", Some("text/plain"), ORIGIN)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
    let analysis = kvmtriage_analyze::analyze(ORIGIN, &Default::default()).expect("analysis");
    let info = kvmtriage_render::InputInfo {
        name: "-",
        lines: ORIGIN.lines().count(),
    };
    assert_eq!(
        a.body,
        kvmtriage_render::render_json(&analysis, &info, false)
    );
    let doc = a.json();
    assert_eq!(doc["dumps"][0]["fault"]["mnemonic"], "wrmsr");
    assert_eq!(
        doc["dumps"][0]["fault"]["msr"]["name"],
        "IA32_X2APIC_INIT_COUNT"
    );

    let md = send(post(
        "/api/explain?format=markdown&name=origin.txt",
        Some("text/plain; charset=utf-8"),
        ORIGIN,
    ))
    .await;
    assert_eq!(md.status, StatusCode::OK);
    assert!(md.headers[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("text/markdown"));
    let info = kvmtriage_render::InputInfo {
        name: "origin.txt",
        lines: ORIGIN.lines().count(),
    };
    assert_eq!(md.body, kvmtriage_render::render_markdown(&analysis, &info));
}

#[tokio::test]
async fn explain_options_are_the_cli_options() {
    let a = send(post(
        "/api/explain?mode=32&syntax=att&pretty=true",
        None,
        ORIGIN,
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.starts_with("{\n"), "pretty JSON is indented");
    let doc = a.json();
    let dis = &doc["dumps"][0]["disassembly"];
    assert_eq!(dis["bits"], 32);
    assert_eq!(dis["bits_source"], "override");
    assert_eq!(dis["syntax"], "att");
}

#[tokio::test]
async fn a_body_above_the_limit_is_413() {
    let big = "a".repeat(DEFAULT_MAX_BODY + 1);
    let a = send(post("/api/explain", Some("text/plain"), big.clone())).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.error_code(), "body_too_large");

    // Without a Content-Length (chunked): the limit holds while reading.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(String::from_utf8(c.to_vec()).expect("ascii")))
        .collect();
    let stream = Body::from_stream(futures_util::stream::iter(chunks));
    let a = send(post("/api/explain", Some("text/plain"), stream)).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    let a = send(post(
        "/api/disasm",
        Some("application/json"),
        "x".repeat(DEFAULT_MAX_BODY + 1),
    ))
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Exactly at the limit is read (and then found to hold no dump).
    let at_limit = "a".repeat(DEFAULT_MAX_BODY);
    let a = send(post("/api/explain", Some("text/plain"), at_limit)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.error_code(), "no_dump");
}

#[tokio::test]
async fn malformed_explain_requests_get_a_clear_4xx() {
    let cases: Vec<(Request<Body>, StatusCode, &str, &str)> = vec![
        (
            post("/api/explain", Some("text/plain"), ""),
            StatusCode::BAD_REQUEST,
            "empty_body",
            "empty",
        ),
        (
            post("/api/explain", Some("text/plain"), "  \n\t\n"),
            StatusCode::BAD_REQUEST,
            "empty_body",
            "empty",
        ),
        (
            post("/api/explain", Some("text/plain"), "just some words\n"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_dump",
            "no QEMU x86 register dump",
        ),
        (
            post(
                "/api/explain",
                Some("text/plain"),
                "RAX=0\0\0\0\u{1}\u{2}\n",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_text",
            "not text",
        ),
        (
            post(
                "/api/explain",
                Some("application/json"),
                r#"{"text":"RAX=0"}"#,
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "text/plain",
        ),
        (
            post(
                "/api/explain",
                Some("multipart/form-data; boundary=x"),
                "--x\r\n",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "--data-binary",
        ),
        (
            post("/api/explain?mode=15", None, ORIGIN),
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "mode=15",
        ),
        (
            post("/api/explain?format=html", None, ORIGIN),
            StatusCode::BAD_REQUEST,
            "bad_query",
            "format",
        ),
        (
            post("/api/explain?colour=always", None, ORIGIN),
            StatusCode::BAD_REQUEST,
            "bad_query",
            "colour",
        ),
        (
            post("/api/explain?host_kernel=banana", None, ORIGIN),
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "banana",
        ),
        (
            post("/api/explain?cpu=3", None, ORIGIN),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_such_cpu",
            "CPU 3",
        ),
    ];
    for (request, status, code, needle) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let a = send(request).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        assert_eq!(a.error_code(), code, "{what}");
        let message = a.json()["error"]["message"]
            .as_str()
            .expect("message")
            .to_string();
        assert!(
            message.contains(needle),
            "{what}: {message:?} lacks {needle:?}"
        );
        assert_eq!(a.json()["error"]["status"], status.as_u16());
    }
}

#[tokio::test]
async fn malformed_disasm_requests_get_a_clear_4xx() {
    let cases: Vec<(Request<Body>, StatusCode, &str, &str)> = vec![
        (
            post(
                "/api/disasm",
                Some("application/json"),
                "{\"bytes\": \"0f 30\"",
            ),
            StatusCode::BAD_REQUEST,
            "bad_json",
            "EOF",
        ),
        (
            post("/api/disasm", Some("application/json"), "[1,2]"),
            StatusCode::BAD_REQUEST,
            "bad_json",
            "invalid type",
        ),
        (
            disasm_body(serde_json::json!({"bytes": "0f 30", "bitness": 64})),
            StatusCode::BAD_REQUEST,
            "bad_json",
            "unknown field `bitness`",
        ),
        (
            disasm_body(serde_json::json!({"bytes": "0f 30", "mode": 8})),
            StatusCode::BAD_REQUEST,
            "bad_json",
            "mode must be",
        ),
        (
            disasm_body(serde_json::json!({"bytes": "0f 30", "address": "xyz"})),
            StatusCode::BAD_REQUEST,
            "bad_json",
            "not a hex number",
        ),
        (
            disasm_body(serde_json::json!({"bytes": "0f 3g"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_bytes",
            "\"3g\" at character 4",
        ),
        (
            disasm_body(serde_json::json!({"bytes": "90 ".repeat(5000)})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_bytes",
            "at most 4096",
        ),
        (
            disasm_body(serde_json::json!({"bytes": "90", "mode": 16, "address": "0x12345"})),
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "16-bit",
        ),
        (
            post("/api/disasm", Some("text/plain"), "0f 30"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "application/json",
        ),
        (
            post("/api/disasm", Some("application/json"), ""),
            StatusCode::BAD_REQUEST,
            "empty_body",
            "empty",
        ),
    ];
    for (request, status, code, needle) in cases {
        let a = send(request).await;
        assert_eq!(a.status, status, "{}", a.body);
        assert_eq!(a.error_code(), code, "{}", a.body);
        let message = a.json()["error"]["message"]
            .as_str()
            .expect("message")
            .to_string();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[tokio::test]
async fn wrong_methods_and_paths() {
    let a = send(get("/api/explain")).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    let a = send(get("/nope")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.error_code(), "not_found");
}

#[tokio::test]
async fn disasm_lists_the_origin_bytes_in_64_and_differently_in_32_bit() {
    let a = send(disasm_body(serde_json::json!({
        "bytes": ORIGIN_BYTES, "mode": 64, "address": "0xffffffff96070950"
    })))
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = a.json();
    let texts = listing_texts(&v);
    // The same listing as `kvmtriage explain` prints for the origin dump (README).
    assert_eq!(
        texts,
        [
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
        ]
    );
    assert_eq!(v["listing"][8]["address"], "0xffffffff96070964");
    assert_eq!(v["bits"], 64);
    assert_eq!(v["bits_source"], "request");
    assert!(v["fault"].is_null(), "no marker, no fault");

    let a = send(disasm_body(serde_json::json!({
        "bytes": ORIGIN_BYTES, "mode": "32", "address": "0x96070950"
    })))
    .await;
    let v32 = a.json();
    let texts32 = listing_texts(&v32);
    assert_ne!(texts32, texts);
    assert!(texts32.iter().any(|t| t == "dec eax"), "{texts32:?}");
    assert!(!texts32.iter().any(|t| t.contains("rdx")), "{texts32:?}");

    // AT&T syntax.
    let a = send(disasm_body(serde_json::json!({
        "bytes": "48 c1 e2 20", "mode": 64, "syntax": "att"
    })))
    .await;
    assert_eq!(listing_texts(&a.json()), ["shl $0x20,%rdx"]);
}

#[tokio::test]
async fn disasm_reads_a_code_line_with_its_marker_and_a_whole_dump() {
    let code_line = ORIGIN
        .lines()
        .find(|l| l.starts_with("Code="))
        .expect("code line");
    let a = send(disasm_body(serde_json::json!({
        "bytes": code_line, "mode": 64, "address": 0xffff_ffff_9607_0950u64
    })))
    .await;
    let v = a.json();
    assert_eq!(v["marker"], 20);
    assert_eq!(v["fault"]["mnemonic"], "wrmsr");
    let fault_rows: Vec<_> = v["listing"]
        .as_array()
        .expect("listing")
        .iter()
        .filter(|l| l["is_fault"] == true)
        .collect();
    assert_eq!(fault_rows.len(), 1);
    assert_eq!(fault_rows[0]["address"], "0xffffffff96070964");

    // A whole dump: mode, address and register values come from it.
    let a = send(disasm_body(
        serde_json::json!({ "bytes": ORIGIN, "syntax": "intel" }),
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = a.json();
    assert_eq!(v["source"], "dump");
    assert_eq!(v["bits"], 64);
    assert_eq!(v["bits_source"], "dump");
    assert_eq!(v["address"], "0xffffffff96070950");
    assert_eq!(v["fault"]["msr"]["name"], "IA32_X2APIC_INIT_COUNT");
    assert_eq!(v["fault"]["msr"]["value"], "0x7213cc9");

    // Plain bytes with mode auto: 64-bit, and the answer says why.
    let a = send(disasm_body(serde_json::json!({ "bytes": "48 c1 e2 20" }))).await;
    let v = a.json();
    assert_eq!(v["bits"], 64);
    assert_eq!(v["bits_source"], "default");
    assert!(v["notes"][0].as_str().expect("note").contains("64-bit"));
}

#[tokio::test]
async fn the_page_and_its_files_carry_the_security_headers() {
    for (path, ty) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
        ("/example.txt", "text/plain; charset=utf-8"),
        ("/api/openapi.json", "application/json"),
    ] {
        let a = send(get(path)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.headers[header::CONTENT_TYPE], ty, "{path}");
        assert_eq!(
            a.headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    }
    let csp = CONTENT_SECURITY_POLICY;
    assert!(csp.contains("script-src 'self';"), "no inline script");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert!(csp.contains("require-trusted-types-for 'script'"));
    // API errors carry them too.
    let a = send(post("/api/explain", None, "")).await;
    assert_eq!(
        a.headers[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY
    );
}

#[tokio::test]
async fn the_page_has_no_inline_script_and_no_external_resource() {
    let html = send(get("/")).await.body;
    let js = send(get("/app.js")).await.body;
    let css = send(get("/style.css")).await.body;
    // Exactly one script element, loaded from this server.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"/app.js\" defer></script>"));
    // No inline event handlers or styles.
    for attr in [" onclick=", " onload=", " onerror=", " style="] {
        assert!(!html.contains(attr), "{attr}");
    }
    // Nothing from elsewhere.
    for (name, text) in [("index.html", &html), ("app.js", &js), ("style.css", &css)] {
        assert!(!text.contains("http://"), "{name} refers to http://");
        assert!(!text.contains("https://"), "{name} refers to https://");
        assert!(!text.contains("@import"), "{name}");
    }
    // The page builds its DOM from text only.
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(sink), "app.js uses {sink}");
    }
}

#[tokio::test]
async fn openapi_describes_both_endpoints() {
    let a = send(get("/api/openapi.json")).await;
    let v = a.json();
    assert!(v["openapi"].as_str().expect("version").starts_with("3."));
    assert_eq!(v["info"]["version"], env!("CARGO_PKG_VERSION"));
    for path in ["/api/explain", "/api/disasm"] {
        let op = &v["paths"][path]["post"];
        assert!(op.is_object(), "{path}");
        for status in ["200", "400", "413", "415", "422"] {
            assert!(op["responses"][status].is_object(), "{path} {status}");
        }
    }
    // Every error code the server can answer is documented.
    let codes = v["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
        ["enum"]
        .as_array()
        .expect("codes")
        .len();
    assert_eq!(codes, 16);
}

#[tokio::test]
async fn only_loopback_host_names_when_loopback_only() {
    let request = Request::post("/api/explain")
        .header(header::HOST, "attacker.example:7373")
        .body(Body::from(ORIGIN))
        .expect("request");
    let a = send(request).await;
    assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(a.error_code(), "misdirected_host");

    let open = Config {
        loopback_hosts_only: false,
        ..Config::default()
    };
    let request = Request::post("/api/explain")
        .header(header::HOST, "kvm-host.example:7373")
        .body(Body::from(ORIGIN))
        .expect("request");
    let a = send_to(router(open), request).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_a_slow_request_503() {
    // The body stalls after its first piece: 408 once it has been idle too long.
    let config = Config {
        body_idle_timeout: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        ..Config::default()
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(1);
    tx.send(Ok("RAX=".to_string())).await.expect("send");
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let started = std::time::Instant::now();
    let a = send_to(router(config), post("/api/explain", None, body)).await;
    assert_eq!(a.status, StatusCode::REQUEST_TIMEOUT, "{}", a.body);
    assert_eq!(a.error_code(), "body_timeout");
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(tx);

    // A body that trickles in (never idle for long) meets the whole-request limit: 503.
    let config = Config {
        body_idle_timeout: Duration::from_secs(5),
        timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let trickle = futures_util::stream::unfold(0u32, |n| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        (n < 1000).then(|| (Ok::<_, std::io::Error>("RAX=0 ".to_string()), n + 1))
    });
    let started = std::time::Instant::now();
    let a = send_to(
        router(config),
        post("/api/explain", None, Body::from_stream(trickle)),
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(a.error_code(), "timeout");
    assert!(started.elapsed() < Duration::from_secs(4));
}
