//! `kvmtriage host`: this host's KVM — access, API version, capabilities, module parameters,
//! kernel and vendor module, and the known issues of the catalogue that affect its kernel.

use kvmtriage_diagnose::{issues_affecting, KernelVersion};
use kvmtriage_kvm::host::{host_report, HostReport};

use crate::cmd::finish;
use crate::exit;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `kvmtriage host`.
#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

struct AffectingIssue {
    id: &'static str,
    title: &'static str,
    fixed_in: Option<String>,
}

struct HostJson {
    report: HostReport,
    /// The kernel release parsed as an upstream version.
    kernel_version: Option<String>,
    /// True when the release carries a distribution suffix: backports may have fixed issues.
    distribution_build: Option<bool>,
    known_issues: Vec<AffectingIssue>,
    kernel_parse_error: Option<String>,
}

impl HostJson {
    fn to_json(&self) -> anyhow::Result<serde_json::Value> {
        let mut value = serde_json::to_value(&self.report)?;
        let issues: Vec<serde_json::Value> = self
            .known_issues
            .iter()
            .map(|i| serde_json::json!({"id": i.id, "title": i.title, "fixed_in": i.fixed_in}))
            .collect();
        if let Some(obj) = value.as_object_mut() {
            obj.insert(
                "kernel_version".into(),
                serde_json::json!(self.kernel_version),
            );
            obj.insert(
                "distribution_build".into(),
                serde_json::json!(self.distribution_build),
            );
            obj.insert("known_issues".into(), serde_json::Value::Array(issues));
            obj.insert(
                "kernel_parse_error".into(),
                serde_json::json!(self.kernel_parse_error),
            );
        }
        Ok(value)
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let report = host_report();
    let parsed = KernelVersion::parse(&report.kernel_release);
    let (kernel_version, distribution_build, known_issues, kernel_parse_error) = match &parsed {
        Ok(v) => (
            Some(v.upstream()),
            Some(v.is_distribution_build()),
            issues_affecting(v)
                .into_iter()
                .map(|i| AffectingIssue {
                    id: i.id,
                    title: i.title,
                    fixed_in: i.fixed_in().map(|f| f.to_string()),
                })
                .collect(),
            None,
        ),
        Err(e) => (None, None, Vec::new(), Some(e.to_string())),
    };
    let json = HostJson {
        report,
        kernel_version,
        distribution_build,
        known_issues,
        kernel_parse_error,
    };
    let output = match args.format {
        Format::Json => serde_json::to_string_pretty(&json.to_json()?)? + "\n",
        Format::Text => text(&json),
    };
    finish(&output, exit::OK)
}

fn text(h: &HostJson) -> String {
    use std::fmt::Write as _;
    let r = &h.report;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/dev/kvm:             {}",
        if r.dev_kvm_accessible {
            "accessible (read-write)".to_string()
        } else {
            r.dev_kvm_error
                .clone()
                .unwrap_or_else(|| "not accessible".into())
        }
    );
    if let Some(v) = r.api_version {
        let _ = writeln!(s, "KVM API version:      {v}");
    }
    let _ = writeln!(s, "kernel:               {}", r.kernel_release);
    let _ = writeln!(
        s,
        "vendor module:        {}",
        if r.vendor_modules.is_empty() {
            "none loaded".to_string()
        } else {
            r.vendor_modules.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "cpu flags:            {}",
        if r.cpu_flags.is_empty() {
            "no vmx/svm/hypervisor".to_string()
        } else {
            r.cpu_flags.join(" ")
        }
    );
    let _ = writeln!(
        s,
        "kvm.ignore_msrs:      {}",
        r.ignore_msrs.as_deref().unwrap_or("(unreadable)")
    );
    let _ = writeln!(
        s,
        "kvm.report_ignored_msrs: {}",
        r.report_ignored_msrs.as_deref().unwrap_or("(unreadable)")
    );
    if !r.capabilities.is_empty() {
        let _ = writeln!(s, "capabilities:");
        for c in &r.capabilities {
            let _ = writeln!(
                s,
                "  {:<42} {:>4}  {}",
                format!("{} ({})", c.name, c.number),
                c.value,
                c.why
            );
        }
    }
    match (&h.kernel_version, &h.kernel_parse_error) {
        (Some(v), _) => {
            let _ = writeln!(
                s,
                "known issues affecting {v}{}:",
                if h.distribution_build == Some(true) {
                    " (by upstream version; this build may carry backports)"
                } else {
                    ""
                }
            );
            if h.known_issues.is_empty() {
                let _ = writeln!(s, "  none in the catalogue");
            }
            for i in &h.known_issues {
                let _ = writeln!(
                    s,
                    "  {:<34} {}{}",
                    i.id,
                    i.title,
                    i.fixed_in
                        .as_ref()
                        .map(|f| format!(" (fixed in {f})"))
                        .unwrap_or_default()
                );
            }
        }
        (None, Some(e)) => {
            let _ = writeln!(s, "known issues: kernel release not understood: {e}");
        }
        _ => {}
    }
    s
}
