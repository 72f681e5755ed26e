//! kvmtriage-serve: the local web page and JSON API behind `kvmtriage serve`.
//!
//! - `GET /`: the page (HTML, CSS and JavaScript embedded in the binary, no external resources),
//!   which explains a pasted, dropped or linked dump and disassembles raw bytes.
//! - `POST /api/explain`: body = the text; answer = exactly what `kvmtriage explain --format json -`
//!   prints for it (the same [`kvmtriage_analyze::analyze`] and [`kvmtriage_render::render_json`]);
//!   `?format=markdown|text` gives the other renderings.
//! - `POST /api/disasm`: raw bytes (or a dump's `Code=` window) disassembled with
//!   [`kvmtriage_x86::analyze_code`].
//! - `GET /api/openapi.json`: the OpenAPI document of both endpoints.
//!
//! Safety: the page renders every byte of input as text (DOM `textContent`, enforced in the
//! browser by a Trusted Types CSP), the request body is limited ([`Config::max_body`], 413 above),
//! requests time out ([`Config::timeout`]), and nothing is stored: each request is analysed in
//! memory and forgotten.
//!
//! The analysis itself is pure and synchronous; it runs on tokio's blocking pool so that a large
//! input does not stall other connections.

mod api;
mod assets;
pub mod rawbytes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use api::{explain, ApiError, ExplainFormat, ExplainRequest, Explained};
pub use rawbytes::{disasm, DisasmRequest, DisasmResponse, HexError, ModeChoice};

/// Default request body limit: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Default time a request may take, body upload included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time the request body may stall between two pieces.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The page's Content-Security-Policy: only this server's own script, styles and API; no inline
/// script or style, no plug-ins, no framing, and Trusted Types with no policy, so the browser
/// itself refuses any string assigned to `innerHTML` and other HTML sinks.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body: usize,
    /// Time a whole request may take, reading the body included (503 `timeout` above it).
    pub timeout: Duration,
    /// Time the request body may stall between two pieces (408 `body_timeout` above it).
    pub body_idle_timeout: Duration,
    /// Answer only requests whose `Host` is a loopback name (`127.0.0.1`, `[::1]`, `localhost`),
    /// which keeps other web sites from reaching the server through DNS rebinding. On by default;
    /// `kvmtriage serve` turns it off when told to listen on a non-loopback address.
    pub loopback_hosts_only: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body: DEFAULT_MAX_BODY,
            timeout: DEFAULT_TIMEOUT,
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
            loopback_hosts_only: true,
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The whole application: page, assets, API, limits and security headers.
pub fn router(config: Config) -> Router {
    let body_idle_timeout = config.body_idle_timeout;
    let max_body = config.max_body;
    let config = Arc::new(config);
    Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::app_js))
        .route("/style.css", get(assets::style_css))
        .route("/favicon.svg", get(assets::favicon))
        .route("/example.txt", get(assets::example))
        .route("/api/openapi.json", get(assets::openapi))
        .route("/api/explain", post(api::explain_handler))
        .route("/api/disasm", post(api::disasm_handler))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyTimeoutLayer::new(body_idle_timeout))
        .layer(middleware::from_fn_with_state(config.clone(), time_limit))
        .layer(middleware::from_fn_with_state(config.clone(), check_host))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(config)
}

/// Ends a request that takes longer than [`Config::timeout`] with a JSON 503.
async fn time_limit(State(config): State<Arc<Config>>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(config.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => api::ApiError::Timeout {
            limit_ms: config.timeout.as_millis(),
        }
        .into_response_public(),
    }
}

/// Refuses requests addressed to a non-loopback host name when the server is loopback-only.
async fn check_host(State(config): State<Arc<Config>>, request: Request, next: Next) -> Response {
    if config.loopback_hosts_only {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            return api::ApiError::MisdirectedHost(host.chars().take(100).collect())
                .into_response_public();
        }
    }
    next.run(request).await
}

/// `127.0.0.1:8080`, `localhost`, `[::1]:80`, `127.1.2.3` are loopback; anything else is not.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, _)) => inner,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Serves `router(config)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}

/// Binds `addr`, calls `on_ready` with the bound address (port 0 picks a free port), and serves
/// until Ctrl+C or SIGTERM. Blocks; builds its own multi-threaded runtime.
pub fn run(
    addr: SocketAddr,
    config: Config,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        on_ready(bound);
        serve(listener, config, shutdown_signal()).await
    })
}

/// Ctrl+C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, the default action (terminate) still applies.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:7373",
            "127.0.0.1",
            "localhost:1",
            "LOCALHOST",
            "[::1]:80",
            "[::1]",
            "127.9.9.9:5",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            "example.com",
            "evil.example:7373",
            "10.0.0.1:80",
            "[::2]:80",
            "[::1",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
