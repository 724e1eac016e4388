//! detect (placeholder).
