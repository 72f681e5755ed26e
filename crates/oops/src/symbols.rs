//! Symbolization (placeholder).
