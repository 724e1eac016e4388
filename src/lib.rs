//! authban: protects a server against SSH brute force.
//!
//! Data flows one way through the modules, following DESIGN.md:
//! [`source`] (bytes of log lines with where they came from) → [`parse`] (an [`Event`])
//! → [`detect`] (a ban decision) → [`ban`] (hosts.deny), with [`store`] keeping what must
//! survive between runs. [`cli`] wires them together for each command.
#![forbid(unsafe_code)]

pub mod addr;
pub mod ban;
pub mod bytes;
pub mod cli;
pub mod config;
pub mod control;
pub mod decide;
pub mod detect;
pub mod engine;
pub mod event;
pub mod host;
pub mod install;
pub mod parse;
pub(crate) mod print;
pub mod source;
pub mod store;

pub use event::{Event, Kind, Method, Msg};
