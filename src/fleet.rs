//! fleet: bans shared between servers through Redis. [`resp`] is the connection ([`tls`]
//! for `rediss://`), [`record`] the form a ban or unban takes on the stream. The outbox is
//! in the store (`store::outbox`); the daemon's threads that publish this node's decisions
//! and follow the others' are `engine::link`, and applying remote records is
//! `engine::fleet`, through the decision core.

pub mod record;
pub mod resp;
pub mod tls;
