//! Host kernel versions as printed by `uname -r`.

use serde::Serialize;
use thiserror::Error;

/// A kernel release string split into the upstream version and the local/distribution suffix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// Everything after `major.minor[.patch]`: `-91-generic`, `-513.el8.x86_64`, `-rc1`.
    pub suffix: String,
    /// The string as given.
    pub release: String,
}

/// Why a `uname -r` string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KernelVersionError {
    #[error("empty kernel version")]
    Empty,
    #[error("kernel version {0:?} does not start with MAJOR.MINOR (e.g. 5.15.0-91-generic)")]
    NoMajorMinor(String),
    #[error("kernel version {input:?}: number {part:?} is out of range")]
    OutOfRange { input: String, part: String },
}

impl KernelVersion {
    /// Parses `5.15.0-91-generic`, `6.18.44-fc-v669`, `4.18.0-513.el8.x86_64`, `6.0-rc1`, `6.1`.
    pub fn parse(input: &str) -> Result<Self, KernelVersionError> {
        let release = input.trim();
        if release.is_empty() {
            return Err(KernelVersionError::Empty);
        }
        let release = release.strip_prefix('v').unwrap_or(release);
        // Numeric head: digits and dots.
        let head_len = release
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(release.len(), |(i, _)| i);
        let head = release[..head_len].trim_end_matches('.');
        let parts: Vec<&str> = head.split('.').filter(|p| !p.is_empty()).collect();
        if parts.len() < 2 {
            return Err(KernelVersionError::NoMajorMinor(input.to_string()));
        }
        let num = |p: &str| -> Result<u32, KernelVersionError> {
            p.parse().map_err(|_| KernelVersionError::OutOfRange {
                input: input.to_string(),
                part: p.to_string(),
            })
        };
        let major = num(parts[0])?;
        let minor = num(parts[1])?;
        let patch = match parts.get(2) {
            Some(p) => num(p)?,
            None => 0,
        };
        Ok(KernelVersion {
            major,
            minor,
            patch,
            suffix: release[head_len..].to_string(),
            release: input.trim().to_string(),
        })
    }

    /// True for distribution builds whose version number does not show the stable patch level
    /// they were rebased on or which carry backports: Ubuntu `-NN-generic`, Debian `-NN-amd64`,
    /// RHEL/CentOS/Fedora `.elN`/`.fcNN`, SUSE `-default`, cloud flavours.
    pub fn is_distribution_build(&self) -> bool {
        let s = self.suffix.as_str();
        const MARKERS: &[&str] = &[
            "generic",
            "lowlatency",
            "amd64",
            "default",
            "azure",
            "aws",
            "gcp",
            "oracle",
            "kvm",
            "-cloud",
            ".el",
            ".fc",
            "uek",
            "pve",
            "-arch",
            "lts",
        ];
        if MARKERS.iter().any(|m| s.contains(m)) {
            return true;
        }
        // "X.Y.0-NNN..." : an ABI number after a zero patch level is the distro pattern.
        self.patch == 0 && s.starts_with('-') && s[1..].starts_with(|c: char| c.is_ascii_digit())
    }

    /// `major.minor.patch` (without the suffix).
    pub fn upstream(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.release)
    }
}

impl std::str::FromStr for KernelVersion {
    type Err = KernelVersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KernelVersion::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uname_strings() {
        let k = KernelVersion::parse("5.15.0-91-generic").unwrap();
        assert_eq!(
            (k.major, k.minor, k.patch, k.suffix.as_str()),
            (5, 15, 0, "-91-generic")
        );
        assert!(k.is_distribution_build());
        let k = KernelVersion::parse("6.18.44-fc-v669").unwrap();
        assert_eq!(
            (k.major, k.minor, k.patch, k.suffix.as_str()),
            (6, 18, 44, "-fc-v669")
        );
        assert!(!k.is_distribution_build());
        let k = KernelVersion::parse("4.18.0-513.el8.x86_64").unwrap();
        assert_eq!((k.major, k.minor, k.patch), (4, 18, 0));
        assert!(k.is_distribution_build());
        let k = KernelVersion::parse("6.0-rc1").unwrap();
        assert_eq!(
            (k.major, k.minor, k.patch, k.suffix.as_str()),
            (6, 0, 0, "-rc1")
        );
        let k = KernelVersion::parse("5.19.2").unwrap();
        assert_eq!(
            (k.major, k.minor, k.patch, k.suffix.as_str()),
            (5, 19, 2, "")
        );
        assert!(!k.is_distribution_build());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(KernelVersion::parse("  "), Err(KernelVersionError::Empty));
        assert!(matches!(
            KernelVersion::parse("linux"),
            Err(KernelVersionError::NoMajorMinor(_))
        ));
        assert!(matches!(
            KernelVersion::parse("6"),
            Err(KernelVersionError::NoMajorMinor(_))
        ));
        assert!(matches!(
            KernelVersion::parse("99999999999.1"),
            Err(KernelVersionError::OutOfRange { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = KernelVersion::parse(&s);
        }
        #[test]
        fn roundtrips_numbers(a in 0u32..100, b in 0u32..100, c in 0u32..1000, suf in "(-[a-z0-9.]{1,12})?") {
            let k = KernelVersion::parse(&format!("{a}.{b}.{c}{suf}")).unwrap();
            proptest::prop_assert_eq!((k.major, k.minor, k.patch), (a, b, c));
            proptest::prop_assert_eq!(k.suffix, suf);
        }
    }
}
