//! engine: the daemon behind `authban run`, carrying out what `decide` orders. One thread
//! owns the decision core, the store and the backends; the sources, the control socket and the signal handler only send it
//! messages through one channel, so no state is shared and nothing needs a lock.
//!
//! The store is the truth. For each batch of lines the engine first tells the backends
//! (the attacker is cut off without waiting for the disk), then saves, in one
//! transaction, the source's new position, the bans it decided and the detection windows
//! the lines changed. A crash before the transaction re-reads the batch at the next start
//! and decides its bans again (nothing counted twice: the old windows are in the store,
//! and the restore at start drops what the kernel holds beyond the store); a crash after it
//! re-applies the bans at start (`restore`). A backend that fails is marked, reported in
//! `status`, retried with back-off and reconciled with `restore`.

//!
//! This file holds the lifecycle (start, the loop, stop, systemd notification, threads);
//! `batch` handles lines and ticks, `backends` builds and tends the backends,
//! `sources` the log followers, `requests` the control requests and reloads.

mod backends;
mod batch;
mod fleet;
pub mod link;
mod observe;
mod requests;
mod sources;

pub use backends::{check as check_backends, missing_programs, remove_firewall};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{self, Config, Overrides, StopPolicy};
use crate::control::{self, Incoming};
use crate::decide::Core;
use crate::host;
use crate::parse::Parser;
use crate::source::{Feed, Stop};
use crate::store::{self, InstanceLock, LockRole, Store};
use backends::Slot;

use crate::log::{error, info as log, warn};

const TICK: Duration = Duration::from_millis(500);
/// Inputs (batches of at most 256 KiB, signals, control requests) waiting for the engine.
const INPUT_QUEUE: usize = 4;
/// Events kept for `status`.
const RECENT: usize = 10;

/// Everything that reaches the engine.
#[derive(Debug)]
pub enum Input {
    Feed(Feed),
    Control(Incoming),
    /// SIGTERM/SIGINT (stop) or SIGHUP (reload).
    Signal(nix::sys::signal::Signal),
    /// Other fleet nodes' records.
    Fleet(link::Arrival),
}

/// What can stop the daemon from starting.
#[derive(Debug)]
pub enum DaemonError {
    Config(config::ConfigError),
    Store(store::StoreError),
    Control(control::ControlError),
    /// Another authban works on the state directory.
    Locked(store::LockError),
    /// A configured backend cannot exist with this configuration.
    Backend(crate::ban::BackendError),
    /// No log, no journal: nothing to protect with.
    NoSource(String),
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Config(e) => write!(f, "{e}"),
            DaemonError::Store(e) => write!(f, "{e}"),
            DaemonError::Control(e) => write!(f, "{e}"),
            DaemonError::Locked(e) => write!(f, "{e}"),
            DaemonError::Backend(e) => write!(f, "{e}"),
            DaemonError::NoSource(m) => f.write_str(m),
            DaemonError::Io { what, source } => write!(f, "cannot {what}: {source}"),
        }
    }
}

impl std::error::Error for DaemonError {}

/// The running daemon's state. Lives on one thread.
pub struct Engine {
    options: Overrides,
    config: Config,
    /// This process's hold on the state directory, for as long as it runs.
    _lock: InstanceLock,
    store: Store,
    /// The decisions, and the bans in force (a cache of the store's).
    core: Core,
    /// What could not be saved yet (the store failed): kept, merged into the next save and
    /// retried on ticks, so no decided ban is lost while the disk is full.
    unsaved: batch::Unsaved,
    tz: jiff::tz::TimeZone,
    /// One parser per source, with when it was made (see [`batch`]).
    parsers: HashMap<String, (Parser, Instant)>,
    slots: Vec<Slot>,
    sources: BTreeMap<String, control::SourceInfo>,
    /// The line counts of the sources stopped for a reload, until they start again.
    source_lines: HashMap<String, u64>,
    source_stop: Stop,
    source_threads: Vec<thread::JoinHandle<()>>,
    counts: [u64; 4],
    /// Logins that granted no trust (`policy.trust-logins`).
    untrusted_logins: u64,
    lines: u64,
    recent: VecDeque<control::RecentEvent>,
    started_at: i64,
    last_check: Instant,
    last_reconcile: Instant,
    /// The bans of the last `list`, kept while they stay the same.
    list_cache: Option<Arc<control::BanSnapshot>>,
    /// The channel sources feed, kept to start new sources on reload.
    feed_tx: SyncSender<Feed>,
    counters: observe::Counters,
    /// The metrics listener, when `[metrics] listen` is set.
    exporter: Option<observe::Exporter>,
    /// The link to the other servers, when `[fleet]` is set.
    fleet: Option<fleet::Fleet>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("active", &self.core.active_count())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the store, restores the bans into every backend and starts the sources.
    pub fn start(options: Overrides, feed_tx: SyncSender<Feed>) -> Result<Engine, DaemonError> {
        let (config, _) = options.load().map_err(DaemonError::Config)?;
        backends::check(&config).map_err(DaemonError::Backend)?;
        // Before the store and any backend: a second instance must change nothing.
        let lock = InstanceLock::acquire(&config.paths.state_dir, LockRole::Run)
            .map_err(DaemonError::Locked)?;
        let mut store = Store::open(&config.paths.state_dir).map_err(DaemonError::Store)?;
        store.set_history_limits(config.history_limits());
        let now = host::now_s();
        let mut core = Core::new(
            config.detect_policy(host::local_addresses(), host::session_client()),
            config.ban_policy(),
            store.bans().map_err(DaemonError::Store)?,
            now,
        );
        let detector = core.detector_mut();
        detector.set_max_tracked(usize::try_from(config.daemon.max_tracked).unwrap_or(usize::MAX));
        detector.restore_history(store.history().map_err(DaemonError::Store)?);
        detector.restore_trusted(store.trusted().map_err(DaemonError::Store)?);
        let mut engine = Engine {
            tz: host::local_zone(),
            options,
            config,
            _lock: lock,
            store,
            core,
            unsaved: batch::Unsaved::default(),
            parsers: HashMap::new(),
            slots: Vec::new(),
            sources: BTreeMap::new(),
            source_lines: HashMap::new(),
            source_stop: Stop::new(),
            source_threads: Vec::new(),
            counts: [0; 4],
            untrusted_logins: 0,
            lines: 0,
            recent: VecDeque::new(),
            started_at: now,
            last_check: Instant::now(),
            last_reconcile: Instant::now(),
            list_cache: None,
            feed_tx,
            counters: observe::Counters::default(),
            exporter: None,
            fleet: None,
        };
        let restored = engine.core.active_count();
        engine
            .counters
            .imposed(observe::Imposed::Restored, restored);
        engine.install_backends();
        engine.lift_protected();
        engine.start_sources()?;
        engine.exporter = engine
            .config
            .metrics
            .listen
            .clone()
            .map(observe::Exporter::new);
        engine.publish_metrics();
        Ok(engine)
    }

    /// Handles one input; returns false when the daemon must stop.
    pub fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Feed(Feed::Lines(batch)) => self.lines(batch),
            Input::Feed(Feed::Status { source, state }) => self.source_state(source, state),
            Input::Control(incoming) => self.answer(incoming),
            Input::Fleet(arrival) => self.arrival(arrival),
            Input::Signal(sig) => match sig {
                nix::sys::signal::Signal::SIGHUP => {
                    if let Err(e) = self.reload() {
                        error(&format!(
                            "reload failed, keeping the running configuration: {e}"
                        ));
                    }
                }
                _ => return false,
            },
        }
        true
    }

    /// Stops the sources and applies the stop policy.
    pub fn shutdown(mut self) {
        self.stop_sources();
        if self.config.daemon.on_stop == StopPolicy::Flush {
            self.teardown_backends();
        }
        log("stopped");
    }
}

fn list<T: std::fmt::Display>(addrs: &[T]) -> String {
    let shown: Vec<String> = addrs.iter().take(LISTED).map(ToString::to_string).collect();
    listed(&shown, addrs.len())
}

/// How many items a log line names before "and N more".
const LISTED: usize = 10;

/// `shown`, the first [`LISTED`] of `total` items, as a log line names them.
fn listed(shown: &[String], total: usize) -> String {
    if total > shown.len() {
        format!("{} and {} more", shown.join(", "), total - shown.len())
    } else {
        shown.join(", ")
    }
}

/// Tells systemd (Type=notify) how we are, if it is listening.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sock = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s,
        Err(_) => return,
    };
    let bytes = path.as_encoded_bytes();
    let result = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), Path::new(&path))
    };
    if let Err(e) = result {
        warn(&format!("cannot notify systemd: {e}"));
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Blocks the signals first (so every thread
/// inherits the mask and only the signal thread receives them).
pub fn run(options: Overrides) -> Result<(), DaemonError> {
    use nix::sys::signal::{SigSet, Signal};
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block().map_err(|e| DaemonError::Io {
        what: "block signals".into(),
        source: e.into(),
    })?;

    // Bounded, so a flood of lines waits in the log file, not in memory: the readers
    // block (they give up on a stop), and a control request waits behind at most
    // INPUT_QUEUE batches.
    let (tx, rx) = mpsc::sync_channel::<Input>(INPUT_QUEUE);
    let (feed_tx, feed_rx) = mpsc::sync_channel::<Feed>(1);
    forward(feed_rx, tx.clone(), Input::Feed);
    {
        let tx = tx.clone();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                while let Ok(sig) = signals.wait() {
                    if tx.send(Input::Signal(sig)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| DaemonError::Io {
                what: "start the signal thread".into(),
                source,
            })?;
    }

    let mut engine = Engine::start(options, feed_tx)?;
    engine.start_fleet(tx.clone());
    let (ctl_tx, ctl_rx) = mpsc::channel::<Incoming>();
    forward(ctl_rx, tx.clone(), Input::Control);
    let stop = Arc::new(AtomicBool::new(false));
    let server = control::serve(
        &engine.config.daemon.socket,
        control::ServerOptions::default(),
        ctl_tx,
        stop.clone(),
    )
    .map_err(DaemonError::Control)?;
    drop(tx);
    let names: Vec<&str> = engine.sources.keys().map(String::as_str).collect();
    log(&format!(
        "running: {} source{} ({}), control socket {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        engine.config.daemon.socket.display()
    ));
    notify("READY=1\nSTATUS=protecting");
    serve(&mut engine, &rx);
    notify("STOPPING=1");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.shutdown();
    engine.shutdown();
    Ok(())
}

/// The engine loop: inputs as they come, expiry and retries every tick.
fn serve(engine: &mut Engine, rx: &Receiver<Input>) {
    let mut next_tick = Instant::now() + TICK;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Input::Signal(nix::sys::signal::Signal::SIGHUP)) => {
                notify("RELOADING=1");
                engine.handle(Input::Signal(nix::sys::signal::Signal::SIGHUP));
                notify("READY=1");
            }
            Ok(input) => {
                if !engine.handle(input) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if Instant::now() >= next_tick {
            engine.tick();
            next_tick = Instant::now() + TICK;
        }
    }
}

/// Moves messages of one channel into the engine's channel.
fn forward<T: Send + 'static>(rx: Receiver<T>, tx: SyncSender<Input>, wrap: fn(T) -> Input) {
    let _ = thread::Builder::new()
        .name("forward".into())
        .spawn(move || {
            for m in rx {
                if tx.send(wrap(m)).is_err() {
                    break;
                }
            }
        });
}
