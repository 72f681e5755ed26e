//! Placeholder so the workspace manifest loads; the diagnose owner replaces it with the real bench.
fn main() {}
