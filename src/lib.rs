//! authban: protects a server against SSH brute force.
//!
//! Data flows one way through the modules (README, "Architecture"): [`source`] (bytes of
//! log lines with where they came from) → [`parse`] (an [`Event`]) → [`detect`] (who is
//! attacking) → [`decide`] (the bans, their length and target) → [`ban`] (the backends),
//! with [`store`] keeping what must survive between runs. [`engine`] carries out
//! `decide`'s orders for the daemon and [`cli`] for each command; nothing imports from a
//! module above it.
#![forbid(unsafe_code)]

pub mod addr;
pub mod ban;
pub mod blocklist;
pub mod bytes;
pub mod cli;
pub mod config;
pub mod control;
pub mod decide;
pub mod detect;
pub mod engine;
pub mod event;
pub mod fleet;
pub mod host;
pub mod install;
pub mod log;
pub mod metrics;
pub mod parse;
pub(crate) mod print;
pub mod source;
pub mod store;

pub use event::{Event, Kind, Method, Msg};
