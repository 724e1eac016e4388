//! log: the lines authban writes about what it does and what went wrong, on stderr: with
//! the journal's priority prefix when stderr is the journal, as text or as JSON. Every
//! module below the commands writes its lines through here, so one setting (`run
//! --log-format`) and one test cover them all.

/// How much a line of the daemon's log matters: sd-daemon(3)'s priorities, which the
/// journal reads from a `<N>` prefix so that `journalctl -p warning` finds the problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Error = 3,
    Warning = 4,
    Info = 6,
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM` to the `device:inode` of
/// the stream it connects, and a child that inherited the variable but not the stream
/// must not prefix its lines.
fn stderr_is_journal() -> bool {
    static IS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IS.get_or_init(|| {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let stderr = std::io::stderr();
        let Ok(fd) = stderr.as_fd().try_clone_to_owned() else {
            return false;
        };
        let Ok(meta) = std::fs::File::from(fd).metadata() else {
            return false;
        };
        stream.to_str() == Some(&format!("{}:{}", meta.dev(), meta.ino()))
    })
}

/// How the daemon writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `authban: message`, as on a terminal.
    Text,
    /// One JSON object per line (`time`, `level`, `priority`, `message`) for log shippers.
    Json,
}

static LOG_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Chooses the format of every log line from now on (`run --log-format`).
pub fn set_format(format: LogFormat) {
    LOG_JSON.store(
        format == LogFormat::Json,
        std::sync::atomic::Ordering::Relaxed,
    );
}

fn write(priority: Priority, msg: &str) {
    let prefix = if stderr_is_journal() {
        format!("<{}>", priority as u8)
    } else {
        String::new()
    };
    if LOG_JSON.load(std::sync::atomic::Ordering::Relaxed) {
        let level = match priority {
            Priority::Error => "error",
            Priority::Warning => "warning",
            Priority::Info => "info",
        };
        let line = serde_json::json!({
            "time": jiff::Timestamp::now().to_string(),
            "level": level,
            "priority": priority as u8,
            "message": msg,
        });
        eprintln!("{prefix}{line}");
    } else {
        eprintln!("{prefix}authban: {msg}");
    }
}

/// Writes one line for the journal (or the terminal): what happened.
/// `text` from outside (another node's reason, a list's name) as one printable line of at
/// most `max` characters, for a log line or a stored reason: control characters, line
/// ends and terminal escapes among them, are dropped.
pub fn one_line(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

pub fn info(msg: &str) {
    write(Priority::Info, msg);
}

/// A line about something that needs the administrator's eye but is handled.
pub fn warn(msg: &str) {
    write(Priority::Warning, msg);
}

/// A line about something that failed: a ban not enforced yet, state not saved.
pub fn error(msg: &str) {
    write(Priority::Error, msg);
}
