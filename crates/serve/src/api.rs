//! `POST /api/explain` and `POST /api/disasm`, and the API's error type.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kvmtriage_analyze::{AnalyzeError, KernelVersion, Options, Syntax};
use kvmtriage_render::InputInfo;
use serde::Deserialize;

use crate::rawbytes::{self, DisasmRequest};
use crate::Config;

/// Everything that can go wrong with an API request; each variant has one HTTP status and a
/// stable `code` in the JSON error body `{"error": {"status", "code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is empty: send the text holding the dump")]
    EmptyBody,
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("cannot read the request body: {0}")]
    BodyRead(String),
    #[error("the request body stalled: nothing arrived for {idle_ms} ms")]
    BodyTimeout { idle_ms: u128 },
    #[error("the request took longer than the limit of {limit_ms} ms (body upload and analysis included)")]
    Timeout { limit_ms: u128 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the body is not valid JSON for this endpoint: {0}")]
    BadJson(String),
    #[error("bad query string: {0}")]
    BadQuery(String),
    #[error("{0}")]
    BadParameter(String),
    /// The text is not text (NUL or control bytes).
    #[error("{0}")]
    NotText(String),
    /// Text, but no QEMU dump in it.
    #[error("{0}")]
    NoDump(String),
    #[error("{0}")]
    NoSuchCpu(String),
    #[error("{0}")]
    BadBytes(String),
    #[error("requests must be addressed to a loopback name (127.0.0.1, [::1], localhost), not {0:?}: the server listens on loopback only")]
    MisdirectedHost(String),
    #[error("no such page or endpoint: {0}")]
    NotFound(String),
    #[error("the analysis failed unexpectedly: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::EmptyBody
            | ApiError::BodyRead(_)
            | ApiError::BadJson(_)
            | ApiError::BadQuery(_)
            | ApiError::BadParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotText(_)
            | ApiError::NoDump(_)
            | ApiError::NoSuchCpu(_)
            | ApiError::BadBytes(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable name (documented in the OpenAPI document).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::EmptyBody => "empty_body",
            ApiError::TooLarge { .. } => "body_too_large",
            ApiError::BodyRead(_) => "body_unreadable",
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::Timeout { .. } => "timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::BadJson(_) => "bad_json",
            ApiError::BadQuery(_) => "bad_query",
            ApiError::BadParameter(_) => "bad_parameter",
            ApiError::NotText(_) => "not_text",
            ApiError::NoDump(_) => "no_dump",
            ApiError::NoSuchCpu(_) => "no_such_cpu",
            ApiError::BadBytes(_) => "bad_bytes",
            ApiError::MisdirectedHost(_) => "misdirected_host",
            ApiError::NotFound(_) => "not_found",
            ApiError::Internal(_) => "internal",
        }
    }

    pub(crate) fn into_response_public(self) -> Response {
        self.into_response()
    }

    fn from_body(rejection: BytesRejection, config: &Config) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge {
                limit: config.max_body,
            };
        }
        // The body-idle timeout (tower-http) surfaces as the body's error.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        while let Some(e) = source {
            if e.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::BodyTimeout {
                    idle_ms: config.body_idle_timeout.as_millis(),
                };
            }
            source = e.source();
        }
        ApiError::BodyRead(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "status": self.status().as_u16(),
                "code": self.code(),
                "message": self.to_string(),
            }
        });
        let mut text = body.to_string();
        text.push('\n');
        (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            text,
        )
            .into_response()
    }
}

/// Output format of `POST /api/explain` (`?format=`), as `kvmtriage explain --format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExplainFormat {
    #[default]
    Json,
    Markdown,
    Text,
}

/// Assembler syntax as a query value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SyntaxParam {
    #[default]
    Intel,
    Att,
}

impl From<SyntaxParam> for Syntax {
    fn from(s: SyntaxParam) -> Syntax {
        match s {
            SyntaxParam::Intel => Syntax::Intel,
            SyntaxParam::Att => Syntax::Att,
        }
    }
}

/// The query string of `POST /api/explain`: the `kvmtriage explain` options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExplainQuery {
    #[serde(default)]
    format: ExplainFormat,
    #[serde(default)]
    pretty: bool,
    mode: Option<u8>,
    #[serde(default)]
    syntax: SyntaxParam,
    cpu: Option<u32>,
    host_kernel: Option<String>,
    name: Option<String>,
}

/// One `explain` request, as the CLI's arguments would give it.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    pub format: ExplainFormat,
    pub pretty: bool,
    /// The input's name in the report (`input.name`); `-` (standard input) by default.
    pub name: String,
    pub options: Options,
}

impl Default for ExplainRequest {
    fn default() -> Self {
        ExplainRequest {
            format: ExplainFormat::Json,
            pretty: false,
            name: "-".to_string(),
            options: Options::default(),
        }
    }
}

impl ExplainQuery {
    fn into_request(self) -> Result<ExplainRequest, ApiError> {
        if let Some(bits) = self.mode {
            if !matches!(bits, 16 | 32 | 64) {
                return Err(ApiError::BadParameter(format!(
                    "mode={bits}: use 16, 32 or 64 (or leave it out to use the dump's mode)"
                )));
            }
        }
        let host_kernel = match &self.host_kernel {
            Some(v) => Some(
                KernelVersion::parse(v)
                    .map_err(|e| ApiError::BadParameter(format!("host_kernel: {e}")))?,
            ),
            None => None,
        };
        let name = match self.name {
            Some(n) if n.is_empty() || n.len() > 255 || n.chars().any(char::is_control) => {
                return Err(ApiError::BadParameter(
                    "name must be 1 to 255 bytes without control characters".to_string(),
                ))
            }
            Some(n) => n,
            None => "-".to_string(),
        };
        Ok(ExplainRequest {
            format: self.format,
            pretty: self.pretty,
            name,
            options: Options {
                mode_override: self.mode,
                syntax: self.syntax.into(),
                host_kernel,
                cpu: self.cpu,
                // A server reads no symbol files named by its clients.
                symbols: None,
            },
        })
    }
}

/// A rendered report and its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub content_type: &'static str,
    pub body: String,
}

/// What `kvmtriage explain` prints for `bytes` (read as UTF-8 with stray bytes replaced, as the
/// CLI does), in the requested format: the same [`kvmtriage_analyze::analyze`] and renderers.
/// A damaged dump still gets its report (the damage is in the JSON's `warnings`); the cases in
/// which the CLI prints nothing on standard output are errors here.
pub fn explain(bytes: &[u8], request: &ExplainRequest) -> Result<Explained, ApiError> {
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() {
        return Err(ApiError::EmptyBody);
    }
    let analysis = match kvmtriage_analyze::analyze(&text, &request.options) {
        Ok(a) => a,
        Err(AnalyzeError::Read(e)) if e.is_no_dump() => {
            return Err(ApiError::NoDump(e.to_string()))
        }
        Err(AnalyzeError::Read(e)) => return Err(ApiError::NotText(e.to_string())),
        Err(e @ AnalyzeError::NoSuchCpu { .. }) => return Err(ApiError::NoSuchCpu(e.to_string())),
        Err(e @ AnalyzeError::BadMode(_)) => return Err(ApiError::BadParameter(e.to_string())),
    };
    let info = InputInfo {
        name: &request.name,
        lines: text.lines().count(),
    };
    Ok(match request.format {
        ExplainFormat::Json => Explained {
            content_type: "application/json",
            body: kvmtriage_render::render_json(&analysis, &info, request.pretty),
        },
        ExplainFormat::Markdown => Explained {
            content_type: "text/markdown; charset=utf-8",
            body: kvmtriage_render::render_markdown(&analysis, &info),
        },
        ExplainFormat::Text => Explained {
            content_type: "text/plain; charset=utf-8",
            body: kvmtriage_render::render_text(&analysis, &info, kvmtriage_render::Color::Never),
        },
    })
}

/// The media type's essence (`text/plain` of `text/plain; charset=utf-8`), lowercase.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Runs a pure, CPU-bound job off the async workers.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

pub(crate) async fn explain_handler(
    State(config): State<Arc<Config>>,
    query: Result<Query<ExplainQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let request = query.into_request()?;
    match media_type(&headers).as_deref() {
        Some("application/json") => {
            return Err(ApiError::UnsupportedMediaType(
                "POST /api/explain takes the dump text itself as the body (Content-Type: text/plain), not JSON; options go in the query string".to_string(),
            ))
        }
        Some(t) if t.starts_with("multipart/") => {
            return Err(ApiError::UnsupportedMediaType(
                "POST /api/explain takes the dump text itself as the body (Content-Type: text/plain), not a multipart form (with curl: --data-binary @FILE)".to_string(),
            ))
        }
        _ => {}
    }
    let body = body.map_err(|e| ApiError::from_body(e, &config))?;
    if body.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    let explained = blocking(move || explain(&body, &request)).await?;
    Ok((
        [(header::CONTENT_TYPE, explained.content_type)],
        explained.body,
    )
        .into_response())
}

pub(crate) async fn disasm_handler(
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    match media_type(&headers).as_deref() {
        None | Some("application/json") => {}
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "POST /api/disasm takes a JSON object (Content-Type: application/json), not {other}"
            )))
        }
    }
    let body = body.map_err(|e| ApiError::from_body(e, &config))?;
    if body.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    let request: DisasmRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    let response = blocking(move || rawbytes::disasm(&request)).await?;
    let mut text =
        serde_json::to_string(&response).map_err(|e| ApiError::Internal(e.to_string()))?;
    text.push('\n');
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(uri.path().chars().take(200).collect())
}
