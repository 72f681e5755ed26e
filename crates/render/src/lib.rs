//! kvmtriage-render: turns an [`Analysis`] into text for people (terminal, Markdown) or
//! programs (JSON, documented in `docs/json.md`). No analysis happens here.

mod oops;
mod text;

use kvmtriage_analyze::Analysis;
use serde::Serialize;

pub use text::{render_markdown, render_text};

/// Whether terminal output carries ANSI colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Color {
    #[default]
    Never,
    Always,
}

/// Where the analysed text came from, for headers and JSON.
#[derive(Debug, Clone, Serialize)]
pub struct InputInfo<'a> {
    /// File name as given, or `-` for standard input.
    pub name: &'a str,
    /// Lines in the input.
    pub lines: usize,
}

/// The JSON document: `{"schema_version": N, "tool": {...}, "input": {...}, "dumps": [...],
/// "oopses": [...]}`.
#[derive(Serialize)]
struct JsonDocument<'a> {
    schema_version: u32,
    tool: Tool,
    input: &'a InputInfo<'a>,
    dumps: &'a [kvmtriage_analyze::DumpAnalysis],
    oopses: &'a [kvmtriage_analyze::OopsAnalysis],
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

/// Render the analysis as JSON: one document on one line (for pipes, `jq` and log collectors),
/// or indented when `pretty`; always with a trailing newline.
pub fn render_json(analysis: &Analysis, input: &InputInfo, pretty: bool) -> String {
    let doc = JsonDocument {
        schema_version: analysis.schema_version,
        tool: Tool {
            name: "kvmtriage",
            version: env!("CARGO_PKG_VERSION"),
        },
        input,
        dumps: &analysis.dumps,
        oopses: &analysis.oopses,
    };
    // Serialising plain data structs into a String cannot fail.
    let result = if pretty {
        serde_json::to_string_pretty(&doc)
    } else {
        serde_json::to_string(&doc)
    };
    let mut out = result.unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    out.push('\n');
    out
}
