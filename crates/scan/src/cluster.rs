//! Clusters: records grouped by signature, with counts, first and last seen, files and hosts,
//! a representative, and a text histogram over time.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::record::{Kind, Record};
use crate::InputIssue;

/// Version of the cluster summary (`--format json`).
pub const SUMMARY_VERSION: u32 = 1;

/// One cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub signature: String,
    pub signature_id: String,
    pub kind: Kind,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    pub files: BTreeSet<String>,
    pub hosts: BTreeSet<String>,
    /// The representative: the first record in input order (path, then byte offset).
    pub representative: Representative,
    /// Seconds since the epoch of each dated record (for the histogram; not serialised).
    #[serde(skip)]
    pub epochs: Vec<f64>,
    #[serde(skip)]
    first_epoch: Option<f64>,
    #[serde(skip)]
    last_epoch: Option<f64>,
}

/// Where the representative is and what it says.
#[derive(Debug, Clone, Serialize)]
pub struct Representative {
    pub path: String,
    pub first_line: u64,
    pub byte_offset: u64,
    pub title: String,
}

/// All clusters of a scan, and the scan's input issues.
#[derive(Debug, Default, Serialize)]
pub struct Clusters {
    pub summary_version: u32,
    pub signature_version: u32,
    pub reports: u64,
    pub clusters: Vec<Cluster>,
    pub issues: Vec<InputIssue>,
    #[serde(skip)]
    by_sig: BTreeMap<String, usize>,
}

impl Clusters {
    pub fn new() -> Self {
        Clusters {
            summary_version: SUMMARY_VERSION,
            signature_version: crate::SIGNATURE_VERSION,
            ..Default::default()
        }
    }

    pub fn add(&mut self, r: &Record) {
        self.reports += 1;
        let i = *self.by_sig.entry(r.signature.clone()).or_insert_with(|| {
            self.clusters.push(Cluster {
                signature: r.signature.clone(),
                signature_id: r.signature_id.clone(),
                kind: r.kind,
                count: 0,
                first_seen: None,
                last_seen: None,
                files: BTreeSet::new(),
                hosts: BTreeSet::new(),
                representative: rep(r),
                epochs: Vec::new(),
                first_epoch: None,
                last_epoch: None,
            });
            self.clusters.len() - 1
        });
        let c = &mut self.clusters[i];
        c.count += 1;
        c.files.insert(r.source.path.clone());
        if let Some(h) = &r.host {
            c.hosts.insert(h.clone());
        }
        let key = |x: &Representative| (x.path.clone(), x.byte_offset);
        if key(&rep(r)) < key(&c.representative) {
            c.representative = rep(r);
        }
        match (r.epoch, &r.time) {
            (Some(e), Some(t)) => {
                c.epochs.push(e);
                if c.first_epoch.is_none_or(|f| e < f) {
                    c.first_epoch = Some(e);
                    c.first_seen = Some(t.clone());
                }
                if c.last_epoch.is_none_or(|l| e > l) {
                    c.last_epoch = Some(e);
                    c.last_seen = Some(t.clone());
                }
            }
            (None, Some(t)) if c.first_epoch.is_none() => {
                // undated (syslog) times: first and last in input order
                if c.first_seen.is_none() {
                    c.first_seen = Some(t.clone());
                }
                c.last_seen = Some(t.clone());
            }
            _ => {}
        }
    }

    /// Order: most reports first, then signature; call before output.
    pub fn sort(&mut self) {
        self.clusters.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.signature.cmp(&b.signature))
        });
        self.by_sig = self
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (c.signature.clone(), i))
            .collect();
    }

    /// The whole time span of the dated records.
    fn span(&self) -> Option<(f64, f64)> {
        let all = self.clusters.iter().flat_map(|c| c.epochs.iter().copied());
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for e in all {
            lo = lo.min(e);
            hi = hi.max(e);
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// A histogram of `c` over the scan's time span in `width` buckets (`▁▂▃▄▅▆▇█`, blank for
    /// none); `-` when no record has a date.
    pub fn histogram(&self, c: &Cluster, width: usize) -> String {
        let Some((lo, hi)) = self.span() else {
            return "-".into();
        };
        if c.epochs.is_empty() {
            return "-".into();
        }
        let mut b = vec![0u64; width];
        let w = (hi - lo).max(1e-9);
        for &e in &c.epochs {
            let i = (((e - lo) / w) * width as f64) as usize;
            b[i.min(width - 1)] += 1;
        }
        let max = *b.iter().max().unwrap_or(&1);
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        b.iter()
            .map(|&n| {
                if n == 0 {
                    ' '
                } else {
                    BARS[((n * 8 - 1) / max.max(1)).min(7) as usize]
                }
            })
            .collect()
    }

    /// The table: one row per cluster.
    pub fn table(&self) -> String {
        let mut s = String::new();
        if self.clusters.is_empty() {
            s.push_str("no QEMU dump or KVM failure line found\n");
        }
        for (i, c) in self.clusters.iter().enumerate() {
            let where_ = if c.hosts.is_empty() {
                list(&c.files)
            } else {
                format!("hosts {}", list(&c.hosts))
            };
            s.push_str(&format!(
                "#{:<3} {:>6}x  {}  [{}]\n",
                i + 1,
                c.count,
                c.kind.as_str(),
                c.signature_id
            ));
            s.push_str(&format!("      signature: {}\n", c.signature));
            s.push_str(&format!(
                "      seen: {} .. {}  |{}|\n",
                c.first_seen.as_deref().unwrap_or("-"),
                c.last_seen.as_deref().unwrap_or("-"),
                self.histogram(c, 24)
            ));
            s.push_str(&format!("      in: {where_}\n"));
            s.push_str(&format!(
                "      e.g. {}:{}: {}\n",
                c.representative.path, c.representative.first_line, c.representative.title
            ));
        }
        s.push_str(&format!(
            "{} reports in {} clusters",
            self.reports,
            self.clusters.len()
        ));
        if !self.issues.is_empty() {
            s.push_str(&format!("; {} input problems:", self.issues.len()));
            for i in &self.issues {
                s.push_str(&format!("\n  {}: {:?}: {}", i.path, i.kind, i.message));
            }
        }
        s.push('\n');
        s
    }
}

fn rep(r: &Record) -> Representative {
    Representative {
        path: r.source.path.clone(),
        first_line: r.source.first_line,
        byte_offset: r.source.byte_offset,
        title: r.title.clone(),
    }
}

fn list(s: &BTreeSet<String>) -> String {
    let v: Vec<&str> = s.iter().map(String::as_str).take(3).collect();
    let more = s.len().saturating_sub(3);
    if more > 0 {
        format!("{} (+{more} more)", v.join(", "))
    } else {
        v.join(", ")
    }
}
