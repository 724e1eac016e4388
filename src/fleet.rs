//! fleet: bans shared between servers through Redis (issue 11). What is here so far is
//! the connection it talks over ([`resp`]) and the form a ban or unban takes on the
//! stream ([`record`]); the outbox, the daemon's fleet thread and the `[fleet]`
//! configuration build on them.

pub mod record;
pub mod resp;
