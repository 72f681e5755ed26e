//! kvmtriage-kvm
