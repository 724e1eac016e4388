//! hosts.deny backend (placeholder until the hosts.deny task lands).
