//! ban: carrying out ban decisions.
pub mod hosts_deny;
