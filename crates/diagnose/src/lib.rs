//! kvmtriage-diagnose
