//! kvmtriage-dump
