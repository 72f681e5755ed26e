//! `kvmtriage msr`: look an MSR up by index or name in the catalogue of kvmtriage-x86, and
//! optionally decode a value field by field.

use kvmtriage_x86::hex::{hex64, hex_min};
use kvmtriage_x86::msr::{self, MsrError};

use crate::cmd::{error, finish};
use crate::exit;

/// Output format of `msr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Readable text.
    Text,
    /// JSON (docs/json.md, section `kvmtriage msr`).
    Json,
}

/// Arguments of `kvmtriage msr`.
#[derive(clap::Args)]
pub struct Args {
    /// MSR index (`0x838`, `838h`, `2104`) or name (`IA32_MC1_CTL`, `MC1_CTL`, `MSR_IA32_MC1_CTL`;
    /// case-insensitive).
    #[arg(value_name = "INDEX|NAME")]
    query: String,
    /// Decode this value (`0x...` hex or decimal) with the MSR's field layout.
    #[arg(long, value_name = "VALUE", value_parser = parse_value)]
    value: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn parse_value(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse::<u64>(),
    };
    parsed.map_err(|_| format!("{s:?} is not a 64-bit value (use 0x-prefixed hex or decimal)"))
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let info = match msr::resolve(&args.query) {
        Ok(info) => info,
        Err(err) => {
            let code = match err {
                MsrError::UnknownIndex { .. } | MsrError::UnknownName(_) => exit::NOT_FOUND,
                MsrError::BadIndex(_) | MsrError::Empty => exit::ERROR,
            };
            return match args.format {
                Format::Json => {
                    let doc = serde_json::json!({ "query": args.query, "found": false, "error": err.to_string() });
                    finish(&(serde_json::to_string_pretty(&doc)? + "\n"), code)
                }
                Format::Text => {
                    error(format_args!("kvmtriage: {err}"));
                    Ok(code)
                }
            };
        }
    };
    let fields = args.value.map(|v| msr::decode_value(info.index, v));
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "query": args.query,
                "found": true,
                "msr": info,
                "has_layout": info.has_layout(),
                "value": args.value.map(hex_min),
                "fields": fields,
            });
            finish(&(serde_json::to_string_pretty(&doc)? + "\n"), exit::OK)
        }
        Format::Text => {
            let mut out = format!(
                "MSR {}  {}\n  {}\n",
                hex_min(u64::from(info.index)),
                info.name,
                info.description
            );
            if !info.aliases.is_empty() {
                out.push_str(&format!("  also known as: {}\n", info.aliases.join(", ")));
            }
            if let Some(bank) = info.bank {
                out.push_str(&format!("  machine-check bank: {bank}\n"));
            }
            out.push_str(&format!("  source: {}\n", info.source));
            if let (Some(v), Some(fields)) = (args.value, &fields) {
                out.push_str(&format!("value {}:\n", hex64(v)));
                if fields.is_empty() {
                    out.push_str("  (no field layout for this MSR in the catalogue)\n");
                }
                let width = fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
                for f in fields {
                    let meaning = f
                        .meaning
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "  {:>5}  {:<width$} = {}{meaning}  {}\n",
                        f.bits,
                        f.name,
                        hex_min(f.value),
                        f.description
                    ));
                }
            }
            finish(&out, exit::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(query: &str, value: Option<u64>, format: Format) -> Args {
        Args {
            query: query.to_string(),
            value,
            format,
        }
    }

    #[test]
    fn values_parse_as_hex_or_decimal() {
        assert_eq!(parse_value("0x7213cc9"), Ok(0x7213cc9));
        assert_eq!(parse_value("0XFF_FF"), Ok(0xffff));
        assert_eq!(parse_value("2104"), Ok(2104));
        assert!(parse_value("0xg").is_err());
        assert!(parse_value("0x1_0000_0000_0000_0000").is_err());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(run(args("0x838", None, Format::Text)).ok(), Some(exit::OK));
        assert_eq!(
            run(args("IA32_MC1_CTL", Some(u64::MAX), Format::Json)).ok(),
            Some(exit::OK)
        );
        assert_eq!(
            run(args("0x1234", None, Format::Text)).ok(),
            Some(exit::NOT_FOUND)
        );
        assert_eq!(
            run(args("NO_SUCH_MSR", None, Format::Json)).ok(),
            Some(exit::NOT_FOUND)
        );
        assert_eq!(
            run(args("0x123456789", None, Format::Text)).ok(),
            Some(exit::ERROR)
        );
    }
}
