//! kvmtriage-analyze
