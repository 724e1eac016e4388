//! config (placeholder until the config task lands).
