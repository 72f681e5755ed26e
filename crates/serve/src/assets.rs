//! The page and its files, embedded in the binary (no external resources: the page works offline).

use axum::http::header;
use axum::response::IntoResponse;

pub(crate) const INDEX_HTML: &str = include_str!("../assets/index.html");
pub(crate) const APP_JS: &str = include_str!("../assets/app.js");
pub(crate) const STYLE_CSS: &str = include_str!("../assets/style.css");
pub(crate) const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");
pub(crate) const OPENAPI_JSON: &str = include_str!("../assets/openapi.json");
/// The dump from the project's origin story, behind the page's "Example" button.
pub(crate) const EXAMPLE: &str = include_str!("../../../examples/origin-x2apic-timer.txt");

pub(crate) async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
}

pub(crate) async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
}

pub(crate) async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
}

pub(crate) async fn favicon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON_SVG)
}

pub(crate) async fn example() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        EXAMPLE,
    )
}

pub(crate) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
