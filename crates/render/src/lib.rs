//! kvmtriage-render
