//! kvmtriage-x86
