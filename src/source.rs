//! source: reading log lines (placeholder until the source task lands).
