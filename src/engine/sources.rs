//! The engine's log sources: which logs and whether the journal are followed, one thread
//! each, resuming at the positions saved in the store; and what each last said of itself,
//! for `status`.

use std::path::{Path, PathBuf};

use super::{DaemonError, Engine, warn};
use crate::config::JournalMode;
use crate::control;
use crate::source::{self, FollowOptions, SourceState, Stop};

impl Engine {
    pub(super) fn start_sources(&mut self) -> Result<(), DaemonError> {
        let mut files: Vec<PathBuf> = Vec::new();
        let mut stdin = false;
        let configured = if self.config.paths.logs.is_empty() {
            source::default_log(Path::new("/"))
                .map(PathBuf::from)
                .into_iter()
                .collect()
        } else {
            self.config.paths.logs.clone()
        };
        for pattern in &configured {
            if pattern.as_os_str() == "-" {
                stdin = true;
            } else if pattern.to_string_lossy().contains(['*', '?', '[']) {
                files.extend(source::expand_glob(pattern));
            } else if !self.config.paths.logs.is_empty() || pattern.exists() {
                // A configured log that does not exist yet is followed when it appears.
                files.push(pattern.clone());
            }
        }
        let journal = match self.config.daemon.journal {
            JournalMode::Always => true,
            JournalMode::Never => false,
            JournalMode::Auto => files.is_empty() && !stdin,
        };
        if files.is_empty() && !stdin && !journal {
            return Err(DaemonError::NoSource(
                "no log to read: none of the configured logs exists and the journal is disabled \
                 (set paths.logs, or daemon.journal = \"auto\")"
                    .into(),
            ));
        }
        let opts = FollowOptions::default();
        for path in &files {
            // A log sshd does not write to protects nothing: say so, without stopping (it
            // may be a fresh log, or one that appears later).
            match std::fs::metadata(path) {
                Ok(m) if m.len() == 0 => warn(&format!(
                    "warning: {} is empty: if sshd logs elsewhere (the journal, another \
                     file), nothing is detected until lines arrive here",
                    path.display()
                )),
                Err(_) => warn(&format!(
                    "warning: {} does not exist: it is followed once it appears; until \
                     then nothing is detected from it",
                    path.display()
                )),
                Ok(_) => {}
            }
        }
        for path in files {
            let key = source::source_key(&path);
            let cursor = self.store.cursor(&key).map_err(DaemonError::Store)?;
            let handle = source::follow_file(
                path.clone(),
                cursor,
                self.feed_tx.clone(),
                self.source_stop.clone(),
                opts.clone(),
            )
            .map_err(|source| DaemonError::Io {
                what: format!("follow {}", path.display()),
                source,
            })?;
            let lines = self.source_lines.remove(&key).unwrap_or(0);
            self.sources.insert(
                key,
                control::SourceInfo {
                    name: path.display().to_string(),
                    state: "starting".into(),
                    lines,
                },
            );
            self.source_threads.push(handle);
        }
        if journal {
            let cursor = self
                .store
                .position(source::JOURNAL)
                .map_err(DaemonError::Store)?;
            let opts = self.journal_options();
            let handle = source::journal::follow_journal(
                opts,
                cursor,
                self.feed_tx.clone(),
                self.source_stop.clone(),
            )
            .map_err(|source| DaemonError::Io {
                what: "read the journal".into(),
                source,
            })?;
            self.sources.insert(
                source::JOURNAL.into(),
                control::SourceInfo {
                    name: source::JOURNAL.into(),
                    state: "starting".into(),
                    lines: self.source_lines.remove(source::JOURNAL).unwrap_or(0),
                },
            );
            self.source_threads.push(handle);
        }
        if stdin {
            self.source_threads.push(source::follow_stdin(
                self.feed_tx.clone(),
                self.source_stop.clone(),
            ));
            self.sources.insert(
                "-".into(),
                control::SourceInfo {
                    name: "stdin".into(),
                    state: "reading".into(),
                    lines: self.source_lines.remove("-").unwrap_or(0),
                },
            );
        }
        Ok(())
    }

    fn journal_options(&self) -> source::journal::JournalOptions {
        source::journal::JournalOptions {
            journalctl: self.config.daemon.journalctl.clone(),
            ..source::journal::JournalOptions::default()
        }
    }

    pub(super) fn stop_sources(&mut self) {
        self.source_stop.stop();
        for h in self.source_threads.drain(..) {
            let _ = h.join();
        }
        self.source_stop = Stop::new();
        // A reload starts the sources again: their line counts go on where they were.
        self.source_lines = std::mem::take(&mut self.sources)
            .into_iter()
            .map(|(key, info)| (key, info.lines))
            .collect();
    }

    /// Records what a source says about itself; errors and rotations are logged.
    pub(super) fn source_state(&mut self, source: String, state: SourceState) {
        let text = match &state {
            SourceState::Following { path } => format!("following {}", path.display()),
            SourceState::Waiting { why } => format!("waiting: {why}"),
            SourceState::Rotated { from } => format!("rotated from {}", from.display()),
            SourceState::Error { message } => format!("error: {message}"),
            SourceState::Gap { before, why } => {
                format!(
                    "lines may be lost: {why}; going on with {}",
                    before.display()
                )
            }
            SourceState::Damaged { path, why } => format!(
                "{} is damaged ({why}): its lines up to the damage were read, the rest is skipped",
                path.display()
            ),
            SourceState::Stopped => "stopped".into(),
        };
        if matches!(
            state,
            SourceState::Error { .. }
                | SourceState::Rotated { .. }
                | SourceState::Damaged { .. }
                | SourceState::Gap { .. }
        ) {
            warn(&format!("{source}: {text}"));
        }
        self.sources
            .entry(source.clone())
            .or_insert_with(|| control::SourceInfo {
                name: source,
                ..Default::default()
            })
            .state = text;
    }
}
