//! fleet: bans shared between servers through Redis (issue 11). What is here so far is
//! the connection it talks over ([`resp`]); the stream of bans, the outbox and the
//! `[fleet]` configuration build on it.

pub mod resp;
