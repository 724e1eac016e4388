//! store: SQLite state (placeholder until the store task lands).
