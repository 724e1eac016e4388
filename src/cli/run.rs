//! `authban run`: the daemon in the foreground (systemd `Type=notify`). The work is in
//! [`crate::engine`]; this only turns arguments into its options.

use std::path::PathBuf;

use clap::Args;

use super::{Global, exit};
use crate::config::Overrides;
use crate::engine::{self, DaemonError};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The control socket [default: daemon.socket, /run/authban/authban.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Logs to follow instead of the configured ones; `-` reads standard input
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// How log lines are written: `text` (`authban: …`) or `json`, one object per line
    /// with `time`, `level`, `priority` and `message`, for log shippers
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

pub fn run(global: &Global, args: RunArgs) -> u8 {
    if args.log_format == "json" {
        crate::log::set_format(crate::log::LogFormat::Json);
    }
    let options = Overrides {
        socket: args.socket,
        logs: args.logs,
        ..global.overrides()
    };
    match engine::run(options) {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::log::error(&e.to_string());
            match e {
                DaemonError::Config(_) | DaemonError::Backend(_) => exit::CONFIG,
                DaemonError::NoSource(_) => exit::NOINPUT,
                DaemonError::Locked(_) => exit::TEMPFAIL,
                _ => exit::FAILURE,
            }
        }
    }
}
