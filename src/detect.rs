//! detect: decides which addresses are attacking. Pure: it is fed events with their log
//! time and returns decisions; it never reads the clock, a file or the store (the caller
//! loads and saves its state through [`Detector::history`] and friends).
//!
//! Each address has a score: the sum of the weights of its events inside a sliding window
//! measured in log time, so scanning last week's log gives the same answer as watching it
//! live. When the score reaches the threshold the address is banned, unless it is exempt
//! (loopback, this host, the SSH session running us, the allowlist, or a recent login).
//! Slower attackers meet the [`Rule`]s with longer windows: each is a counter that fills
//! with the same points and drains its threshold once per window (a leaky bucket), so it
//! costs 4 bytes per address however many events the window would hold.
//! With `ipv6_prefix` under 128 the addresses of one IPv6 network are scored together and
//! the network is what is banned: an attacker owns its whole /64 and hops through it. Such
//! a network is spared while it holds an exempt address.
//!
//! One attempt counts once although sshd logs it in several lines: the lines of one
//! connection share the address and the pid of the sshd process logging them (the source
//! port shows on some lines only: PAM's and old releases' `Invalid user` carry none), and
//! each message shape has a [`Role`] saying how it relates to the connection's attempts.
//! Two exceptions are followed: keyboard-interactive's PAM runs in a forked process with
//! its own pid, and up to 5.8 the pre-auth child logs with the monitor's pid + 1.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::addr::{Allowlist, Cidr};
use crate::event::{Event, Kind, Method, Msg, Role};

/// Scores are fixed-point: 100 points are a weight of 1.0.
pub const POINTS_PER_UNIT: f64 = 100.0;

/// Points per event, by what it says about the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub auth_failure: u32,
    pub invalid_user: u32,
    /// A failed attempt on `root`.
    pub root: u32,
    pub probe: u32,
    /// A failed public key for an existing user: agents offer several keys in turn.
    pub publickey: u32,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            auth_failure: 100,
            invalid_user: 150,
            root: 150,
            probe: 50,
            publickey: 20,
        }
    }
}

/// Converts a configured weight or threshold to points.
pub fn points(value: f64) -> u32 {
    (value * POINTS_PER_UNIT)
        .round()
        .clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Most rules beyond the first (exact) window: each costs every tracked address 4 bytes.
pub const MAX_SLOW_RULES: usize = 3;

/// A rule for slow attackers: ban when `threshold` points come faster than they drain,
/// `threshold` per `window_ms` (a leaky bucket of capacity `threshold`). A steady rate
/// under `threshold` per window never bans; a burst of `threshold` at once does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub window_ms: i64,
    pub threshold: u32,
}

impl Rule {
    /// How much log time `points` keep in the counter before they drain. Rounded up, so
    /// that `threshold` points at once always fill it.
    fn fill_ms(self, points: u32) -> i64 {
        let t = u64::from(self.threshold.max(1));
        let window = self.window_ms.max(0).cast_unsigned();
        // On every event: u64 unless the product overflows (a weight of millions over a
        // window of years), where i128's slower division takes over.
        let ms = match u64::from(points).checked_mul(window) {
            Some(p) => p.div_ceil(t),
            None => {
                let t = u128::from(t);
                u64::try_from((u128::from(points) * u128::from(window)).div_ceil(t))
                    .unwrap_or(u64::MAX)
            }
        };
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    /// The points in a counter that drains empty at `until_ms`, at log time `at_ms`.
    pub fn level(self, until_ms: i64, at_ms: i64) -> u32 {
        let left = i128::from(until_ms.saturating_sub(at_ms).max(0));
        let points = left * i128::from(self.threshold) / i128::from(self.window_ms.max(1));
        u32::try_from(points).unwrap_or(u32::MAX)
    }

    /// Whether a counter that drains empty at `until_ms` is full at `at_ms`.
    fn full(self, until_ms: i64, at_ms: i64) -> bool {
        until_ms.saturating_sub(at_ms) >= self.window_ms
    }
}

/// What an address's score is made of, as saved between runs: its marks inside the
/// window, and when the counter of each slow rule drains empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub marks: Vec<Mark>,
    pub levels: Vec<Level>,
}

/// The counter of one slow rule: full of points until it drains empty at `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub rule: Rule,
    pub until_ms: i64,
}

/// The ban policy, as the detector needs it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub window_ms: i64,
    /// Ban when the score inside the window reaches this many points.
    pub threshold: u32,
    /// Rules with longer windows, for slow attackers (at most [`MAX_SLOW_RULES`]; more
    /// are ignored, and `config check` refuses them).
    pub slow: Vec<Rule>,
    pub weights: Weights,
    pub allowlist: Allowlist,
    /// This host's own addresses: never banned.
    pub local: Vec<IpAddr>,
    /// The client of the SSH session that runs this command: never banned.
    pub session_client: Option<IpAddr>,
    /// How long a successful login protects its address; 0 turns trust off.
    pub trust_ms: i64,
    /// IPv6 addresses are scored together by networks of this prefix length (an attacker
    /// hopping through its /64 is one attacker); 128 scores each address alone.
    pub ipv6_prefix: u8,
    /// Weights of attempts on these accounts (as sshd logs the name), in place of the
    /// kind's: `mail`, which never logs in by password, can ban at its first attempt.
    pub users: HashMap<Box<[u8]>, u32>,
    /// Local accounts that cannot log in: an attempt on one weighs as on an invalid user.
    pub unusable: std::collections::HashSet<Box<[u8]>>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            window_ms: 10 * 60 * 1000,
            threshold: 500,
            slow: Vec::new(),
            weights: Weights::default(),
            allowlist: Allowlist::default(),
            local: Vec::new(),
            session_client: None,
            trust_ms: 7 * 24 * 3600 * 1000,
            ipv6_prefix: 128,
            users: HashMap::new(),
            unusable: Default::default(),
        }
    }
}

/// Why an address that reached the threshold is not banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    Loopback,
    LocalAddress,
    SshSession,
    Allowlisted(Cidr),
    /// It logged in successfully at this log time (unix ms).
    TrustedLogin(i64),
    /// A network that holds an address exempt for the reason given: banning the network
    /// would ban that address.
    Holds(IpAddr, Box<Exemption>),
    /// A network that holds (or is inside) an allowlisted network.
    HoldsAllowlisted(Cidr),
}

impl std::fmt::Display for Exemption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exemption::Loopback => f.write_str("loopback"),
            Exemption::LocalAddress => f.write_str("an address of this host"),
            Exemption::SshSession => f.write_str("the client of this SSH session (SSH_CONNECTION)"),
            Exemption::Allowlisted(net) => write!(f, "allowlisted by {net}"),
            Exemption::TrustedLogin(at) => match jiff::Timestamp::from_millisecond(*at) {
                Ok(ts) => write!(f, "logged in successfully at {ts}"),
                Err(_) => f.write_str("logged in successfully"),
            },
            Exemption::Holds(addr, why) => write!(f, "it holds {addr} ({why})"),
            Exemption::HoldsAllowlisted(net) => write!(f, "it overlaps allowlisted {net}"),
        }
    }
}

/// What the events of one address added up to when it reached the threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offender {
    /// What is scored, and banned: the address, or its IPv6 network under prefix scoring.
    pub target: Cidr,
    /// The address of the event that crossed the threshold.
    pub addr: IpAddr,
    /// Points inside the window of the rule that fired (for a slow rule, in its counter).
    pub score: u32,
    /// The rule that fired: the first (exact) window, or a slow one.
    pub rule: Rule,
    pub slow: bool,
    /// The points in each slow rule's counter (as `Policy::slow`) when it fired.
    pub levels: [u32; MAX_SLOW_RULES],
    /// Events per kind inside the first window (index: [`Kind::index`]).
    pub by_kind: [u32; 4],
    /// The points they added, per kind.
    pub points_by_kind: [u32; 4],
    pub first_ms: i64,
    pub last_ms: i64,
    /// The first window's scored events, oldest first: kept with the ban as its evidence.
    pub marks: Vec<Mark>,
}

impl Offender {
    /// A one-line reason for logs and the store, with the arithmetic: `score 6.0 within
    /// 600s: 3 invalid-user = 4.5, 1 root = 1.5` (events counted by kind and the points they
    /// added; lines repeating an attempt already counted add none and are not listed). A
    /// slow rule's reason says how its counter drains, then lists the first window's events.
    pub fn reason(&self) -> String {
        let mut parts = Vec::new();
        for kind in Kind::ALL {
            let n = self.by_kind[kind.index()];
            if n > 0 {
                let points = f64::from(self.points_by_kind[kind.index()]) / POINTS_PER_UNIT;
                parts.push(format!("{n} {kind} = {points:.1}"));
            }
        }
        let last = if self.target.is_host() {
            String::new()
        } else {
            format!(
                " (addresses of the network scored together; last {})",
                self.addr
            )
        };
        let score = f64::from(self.score) / POINTS_PER_UNIT;
        let window_s = self.rule.window_ms / 1000;
        if self.slow {
            let drain = f64::from(self.rule.threshold) / POINTS_PER_UNIT;
            let recent = if parts.is_empty() {
                String::new()
            } else {
                format!("; the last attempts: {}", parts.join(", "))
            };
            format!(
                "score {score:.1} within {window_s}s, a slow attack (the count drains {drain:.1} \
                 per {window_s}s){recent}{last}"
            )
        } else {
            format!(
                "score {score:.1} within {window_s}s: {}{last}",
                parts.join(", ")
            )
        }
    }
}

/// What the detector concluded from one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ban this address.
    Ban(Offender),
    /// The address reached the threshold but must not be banned.
    Spared(Offender, Exemption),
    /// A successful login from an address that was failing: maybe a guessed password.
    LoginAfterFailures {
        addr: IpAddr,
        score: u32,
        at_ms: i64,
    },
}

/// What the detector made of the last event it observed: the connection it was tied to
/// and the points it added (`check --score` shows them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scored {
    /// The pid of the connection's sshd process (0: the log has none) and its source port
    /// (0: no line of it showed one yet).
    pub conn_pid: u32,
    pub conn_port: u16,
    pub points: u32,
}

/// One scored event inside an address's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub at_ms: i64,
    pub points: u32,
    pub kind: Kind,
}

/// A short list kept inline while it holds one item: most addresses have one event in
/// their window and one connection open, and a heap allocation would double what they
/// cost (the daemon must stay under 200 bytes per tracked address).
#[derive(Debug, Clone, Default)]
enum Few<T> {
    #[default]
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> Few<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Few::Empty => &[],
            Few::One(x) => std::slice::from_ref(x),
            Few::Many(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Few::Empty => &mut [],
            Few::One(x) => std::slice::from_mut(x),
            Few::Many(v) => v,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn push(&mut self, item: T) {
        *self = match std::mem::take(self) {
            Few::Empty => Few::One(item),
            Few::One(first) => Few::Many(vec![first, item]),
            Few::Many(mut v) => {
                v.push(item);
                Few::Many(v)
            }
        };
    }

    fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        *self = match std::mem::take(self) {
            Few::One(x) if keep(&x) => Few::One(x),
            Few::Many(mut v) => {
                v.retain(|x| keep(x));
                match v.len() {
                    0 => Few::Empty,
                    1 => Few::One(v.remove(0)),
                    _ => Few::Many(v),
                }
            }
            _ => Few::Empty,
        };
    }

    fn remove_first(&mut self) {
        let mut first = true;
        self.retain(|_| !std::mem::take(&mut first));
    }

    fn clear(&mut self) {
        *self = Few::Empty;
    }
}

#[derive(Debug, Default)]
struct AddrState {
    marks: Few<Mark>,
    /// The connections seen recently (by source port), for counting each attempt once.
    conns: Few<Conn>,
    /// Per slow rule (as `Policy::slow`), when its counter drains empty; any time past is
    /// empty.
    slow: [Drain; MAX_SLOW_RULES],
}

/// When a slow rule's counter drains empty, in whole seconds of log time rounded up: 4
/// bytes per rule and address rather than 8, and a second is nothing to a rule longer
/// than the first window (a day's 15 points drain one per 96 minutes).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Drain(u32);

impl Drain {
    fn from_ms(ms: i64) -> Drain {
        let secs = ms.max(0).saturating_add(999) / 1000;
        Drain(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    fn ms(self) -> i64 {
        i64::from(self.0) * 1000
    }
}

impl AddrState {
    /// Whether the address is at least half way to a ban by some rule at `now_ms`: the
    /// last to be evicted.
    fn close(&self, p: &Policy, now_ms: i64) -> bool {
        let horizon = now_ms.saturating_sub(p.window_ms);
        self.score_after(horizon) >= p.threshold / 2
            || p.slow
                .iter()
                .zip(self.slow)
                .any(|(r, until)| r.level(until.ms(), now_ms) >= r.threshold / 2)
    }

    /// The points in each slow rule's counter at `now_ms` (0 past the rules there are).
    fn levels(&self, slow: &[Rule], now_ms: i64) -> [u32; MAX_SLOW_RULES] {
        let mut levels = [0; MAX_SLOW_RULES];
        for ((level, r), until) in levels.iter_mut().zip(slow).zip(self.slow) {
            *level = r.level(until.ms(), now_ms);
        }
        levels
    }

    /// Whether some slow counter still holds points at `now_ms`.
    fn filling(&self, now_ms: i64) -> bool {
        self.slow.iter().any(|until| until.ms() > now_ms)
    }

    /// The saved form of this state at `now_ms`: marks after `horizon`, counters not empty.
    fn tally(&self, slow: &[Rule], horizon: i64, now_ms: i64) -> Tally {
        Tally {
            marks: self
                .marks
                .as_slice()
                .iter()
                .copied()
                .filter(|m| m.at_ms > horizon)
                .collect(),
            levels: slow
                .iter()
                .zip(self.slow)
                .filter(|(_, until)| until.ms() > now_ms)
                .map(|(&rule, until)| Level {
                    rule,
                    until_ms: until.ms(),
                })
                .collect(),
        }
    }

    /// The points of the marks after `horizon`.
    fn score_after(&self, horizon: i64) -> u32 {
        self.marks
            .as_slice()
            .iter()
            .filter(|m| m.at_ms > horizon)
            .map(|m| m.points)
            .sum()
    }

    /// When the address was last active, for pruning and eviction.
    fn last_ms(&self) -> i64 {
        let marks = self.marks.as_slice().iter().map(|m| m.at_ms);
        let conns = self.conns.as_slice().iter().map(|c| c.last_ms);
        marks.chain(conns).max().unwrap_or(i64::MIN)
    }

    /// The connection a line of `pid` (the logging sshd process) and `port` belongs to:
    /// the one of the same pid, else (no pid in the log) the one of the same port. A pid
    /// seen again with another port, or with a line that opens or attempts after its
    /// connection closed, is a new connection (the pid was reused); so is an unknown one.
    fn conn(&mut self, pid: Option<u32>, port: Option<u16>, role: Role, at_ms: i64) -> &mut Conn {
        let port_fits = |c: &Conn| match port {
            Some(p) => c.port == 0 || c.port == p,
            None => !c.closed || role == Role::Closing,
        };
        let key = pid.unwrap_or(0);
        let conns = self.conns.as_slice();
        let found = conns
            .iter()
            .position(|c| match pid {
                Some(_) => c.pid == key && port_fits(c),
                // Without pids (`sshd -E`), by port; portless lines share one connection
                // whose credit the next attempt takes.
                None => c.pid == 0 && c.port == port.unwrap_or(0),
            })
            .or_else(|| {
                // Up to 5.8 the pre-auth child logs with its own pid, the monitor's + 1.
                let parent = pid?.checked_sub(1)?;
                (role == Role::Closing)
                    .then(|| conns.iter().position(|c| c.pid == parent && port_fits(c)))
                    .flatten()
            });
        let i = match found {
            Some(i) => i,
            None => {
                let mut credit = 0;
                if key != 0 {
                    // The pid's old connection (another port) is over. A PAM line logged
                    // before this line, without a port, was taken for the old connection's:
                    // its credit is this connection's.
                    if let Some(old) = self.conns.as_slice().iter().find(|c| c.pid == key) {
                        credit = old.credit;
                    }
                    self.conns.retain(|c| c.pid != key);
                }
                self.push(Conn {
                    pid: key,
                    credit,
                    pam_only: role == Role::Pam,
                    ..Conn::default()
                })
            }
        };
        let conn = &mut self.conns.as_mut_slice()[i];
        if let Some(p) = port {
            conn.port = p;
        }
        conn.closed |= role == Role::Closing;
        conn.pam_only &= role == Role::Pam;
        conn.last_ms = at_ms;
        conn
    }

    /// Adds a connection, forgetting the oldest beyond [`MAX_CONNS`]; returns its index.
    fn push(&mut self, conn: Conn) -> usize {
        if self.conns.len() >= MAX_CONNS {
            // An address juggling hundreds of connections: forget the oldest.
            let oldest = self
                .conns
                .as_slice()
                .iter()
                .map(|c| c.last_ms)
                .min()
                .unwrap_or(i64::MIN);
            let mut gone = false;
            self.conns
                .retain(|c| gone || c.last_ms != oldest || !std::mem::replace(&mut gone, true));
        }
        self.conns.push(conn);
        self.conns.len() - 1
    }
}

/// One connection of an address, known by the pid of the sshd process that logs its lines
/// (every line of a connection carries it, on every OpenSSH release), and by its source port
/// once a line showed it (0 until then: PAM lines and old releases' `Invalid user` carry
/// none).
#[derive(Debug, Default, Clone, Copy)]
struct Conn {
    last_ms: i64,
    /// 0 when the log gives no pid.
    pid: u32,
    /// Points counted ahead of the `Failed` line that will repeat them (by `Invalid user`
    /// or a PAM line); the next attempt consumes them instead of counting again.
    credit: u32,
    port: u16,
    /// Something of this connection already counted.
    counted: bool,
    /// The connection logged in: its closing lines are not probes.
    success: bool,
    /// A closing line was seen: a later opening or attempt of the same pid without a port
    /// belongs to a new connection.
    closed: bool,
    /// Only PAM lines so far: maybe the forked PAM process of keyboard-interactive.
    pam_only: bool,
}

/// How long a connection's dedup state lives: longer than any LoginGraceTime.
const CONN_TTL_MS: i64 = 15 * 60 * 1000;
/// A forked PAM process's line gives its credit to an attempt only if it is this recent.
const PAM_ATTACH_MS: i64 = 120 * 1000;
/// Bound on remembered marks per address: enough for the threshold at the smallest weight,
/// without letting one address grow without bound.
pub const MAX_MARKS: usize = 256;
/// Bound on the connections remembered per address.
const MAX_CONNS: usize = 64;

/// Maps keyed by address are touched on every event: foldhash is several times faster than
/// SipHash and still seeded per process, so attackers cannot aim at collisions.
type Hasher = foldhash::fast::RandomState;

/// The per-address state machine.
#[derive(Debug)]
pub struct Detector {
    policy: Policy,
    addrs: HashMap<IpAddr, AddrState, Hasher>,
    trusted: HashMap<IpAddr, i64, Hasher>,
    /// Addresses already banned: their further events change nothing until unbanned.
    banned: std::collections::HashSet<IpAddr, Hasher>,
    latest_ms: i64,
    observed: u64,
    /// Addresses whose window changed since [`Detector::take_touched`].
    touched: std::collections::HashSet<IpAddr, Hasher>,
    /// Most addresses with state; beyond it the least recently active are forgotten.
    max_tracked: usize,
    last: Scored,
}

impl Detector {
    pub fn new(policy: Policy) -> Detector {
        Detector {
            policy,
            addrs: HashMap::default(),
            trusted: HashMap::default(),
            banned: Default::default(),
            latest_ms: i64::MIN,
            observed: 0,
            touched: Default::default(),
            max_tracked: usize::MAX,
            last: Scored::default(),
        }
    }

    /// Replaces the policy (a reload); windows and trust are kept, and so are the
    /// counters of the slow rules the new policy still has.
    pub fn set_policy(&mut self, policy: Policy) {
        if policy.slow != self.policy.slow {
            let moved: Vec<Option<usize>> = policy
                .slow
                .iter()
                .map(|r| self.policy.slow.iter().position(|old| old == r))
                .collect();
            for st in self.addrs.values_mut() {
                let old = std::mem::take(&mut st.slow);
                for (new, from) in st.slow.iter_mut().zip(&moved) {
                    *new = from.and_then(|i| old.get(i).copied()).unwrap_or_default();
                }
            }
        }
        self.policy = policy;
    }

    /// Caps the number of addresses with state. Under a flood of distinct addresses the
    /// least recently active un-banned ones are forgotten; bans are kept elsewhere and
    /// never evicted.
    pub fn set_max_tracked(&mut self, max: usize) {
        self.max_tracked = max.max(1);
    }

    /// The key `addr` is scored under: the address, or the first address of its IPv6
    /// network under prefix scoring.
    fn key(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V6(_) if self.policy.ipv6_prefix < 128 => {
                Cidr::network(addr, self.policy.ipv6_prefix).map_or(addr, |n| n.net().network())
            }
            _ => addr,
        }
    }

    /// What is scored, and banned, for `addr`: the address, or its IPv6 network.
    pub fn target(&self, addr: IpAddr) -> Cidr {
        let key = self.key(addr);
        if key == addr {
            Cidr::host(addr)
        } else {
            Cidr::network(key, self.policy.ipv6_prefix).unwrap_or_else(|| Cidr::host(addr))
        }
    }

    /// The scoring key a ban of `target` stops, if it is one: a ban of another shape
    /// (a network by hand, an address under prefix scoring) leaves scoring alone.
    fn key_of(&self, target: &Cidr) -> Option<IpAddr> {
        let first = target.net().network();
        (self.target(first) == *target).then_some(first)
    }

    /// Forgets that `target` is banned (its ban expired or was lifted), and its window.
    pub fn unban(&mut self, target: &Cidr) {
        let Some(key) = self.key_of(target) else {
            return;
        };
        self.banned.remove(&key);
        if self.addrs.remove(&key).is_some() {
            self.touched.insert(key);
        }
    }

    /// Marks `target` as banned (a manual ban).
    pub fn ban(&mut self, target: &Cidr) {
        let Some(key) = self.key_of(target) else {
            return;
        };
        self.banned.insert(key);
        if let Some(st) = self.addrs.get_mut(&key) {
            st.marks.clear();
            st.slow = Default::default();
            self.touched.insert(key);
        }
    }

    /// The tallies that changed since the last call (an empty one: forget the address),
    /// for saving with the lines that changed them.
    pub fn take_touched(&mut self) -> Vec<(IpAddr, Tally)> {
        let now = self.latest_ms;
        let horizon = now.saturating_sub(self.policy.window_ms);
        let slow = &self.policy.slow;
        let mut out: Vec<(IpAddr, Tally)> = self
            .touched
            .drain()
            .map(|addr| {
                let tally = self
                    .addrs
                    .get(&addr)
                    .map(|st| st.tally(slow, horizon, now))
                    .unwrap_or_default();
                (addr, tally)
            })
            .collect();
        out.sort_unstable_by_key(|(a, _)| *a);
        out
    }

    /// Forgets an eighth of the tracked addresses (and their connections), so memory stays
    /// bounded and eviction costs O(1) per new address on average: those under half of
    /// every rule's threshold first, the least recently active of them first; an address
    /// close to a ban (a slow attacker under a flood of one-shot ones) goes only after all
    /// of those. Bans are kept apart (`banned`) and never forgotten here.
    fn evict(&mut self) {
        let now = self.latest_ms;
        let mut ages: Vec<(bool, i64, IpAddr)> = self
            .addrs
            .iter()
            .map(|(a, st)| (st.close(&self.policy, now), st.last_ms(), *a))
            .collect();
        let n = (ages.len() / 8).max(1);
        ages.select_nth_unstable(n - 1);
        for (_, _, addr) in &ages[..n] {
            self.addrs.remove(addr);
            self.touched.insert(*addr);
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Marks targets as already banned (from the store), so they are not decided again.
    pub fn set_banned<'a>(&mut self, targets: impl IntoIterator<Item = &'a Cidr>) {
        let banned = targets.into_iter().filter_map(|t| self.key_of(t)).collect();
        self.banned = banned;
    }

    /// Restores tallies saved by an earlier run. The counter of a slow rule the policy no
    /// longer has is dropped.
    pub fn restore_history(&mut self, history: impl IntoIterator<Item = (IpAddr, Tally)>) {
        for (addr, mut tally) in history {
            tally.marks.truncate(MAX_MARKS);
            let st = self.addrs.entry(addr).or_default();
            st.marks.clear();
            for m in tally.marks {
                st.marks.push(m);
            }
            st.slow = Default::default();
            for level in tally.levels {
                if let Some(i) = self.policy.slow.iter().position(|r| *r == level.rule)
                    && let Some(slot) = st.slow.get_mut(i)
                {
                    *slot = Drain::from_ms(level.until_ms);
                }
            }
        }
    }

    /// Restores successful logins saved by an earlier run.
    pub fn restore_trusted(&mut self, trusted: impl IntoIterator<Item = (IpAddr, i64)>) {
        for (addr, at) in trusted {
            let slot = self.trusted.entry(addr).or_insert(at);
            *slot = (*slot).max(at);
        }
    }

    /// The tallies worth saving: marks that can still count at log time `now_ms`, and
    /// counters not yet empty.
    pub fn history(&self, now_ms: i64) -> Vec<(IpAddr, Tally)> {
        let horizon = now_ms.saturating_sub(self.policy.window_ms);
        let mut out: Vec<(IpAddr, Tally)> = self
            .addrs
            .iter()
            .filter_map(|(addr, st)| {
                let tally = st.tally(&self.policy.slow, horizon, now_ms);
                (!tally.marks.is_empty() || !tally.levels.is_empty()).then_some((*addr, tally))
            })
            .collect();
        out.sort_unstable_by_key(|(addr, _)| *addr);
        out
    }

    /// Successful logins still inside the trust period at `now_ms`.
    pub fn trusted(&self, now_ms: i64) -> Vec<(IpAddr, i64)> {
        let mut out: Vec<(IpAddr, i64)> = self
            .trusted
            .iter()
            .filter(|(_, at)| {
                self.policy.trust_ms > 0 && **at > now_ms.saturating_sub(self.policy.trust_ms)
            })
            .map(|(a, t)| (*a, *t))
            .collect();
        out.sort();
        out
    }

    /// The latest log time seen (or `i64::MIN` before any event).
    pub fn latest_ms(&self) -> i64 {
        self.latest_ms
    }

    /// The current score of `addr` (of its network, under prefix scoring) at log time
    /// `now_ms`.
    pub fn score(&self, addr: IpAddr, now_ms: i64) -> u32 {
        let horizon = now_ms.saturating_sub(self.policy.window_ms);
        self.addrs
            .get(&self.key(addr))
            .map_or(0, |st| st.score_after(horizon))
    }

    /// The points in each slow rule's counter for `addr` at log time `now_ms`.
    pub fn slow_levels(&self, addr: IpAddr, now_ms: i64) -> Vec<u32> {
        let rules = &self.policy.slow;
        let levels = self
            .addrs
            .get(&self.key(addr))
            .map_or([0; MAX_SLOW_RULES], |st| st.levels(rules, now_ms));
        levels[..rules.len().min(MAX_SLOW_RULES)].to_vec()
    }

    /// Why `addr` must never be banned at log time `at_ms`, if it must not.
    pub fn exemption(&self, addr: IpAddr, at_ms: i64) -> Option<Exemption> {
        self.exemption_at(addr, Some(at_ms))
    }

    /// Why `target` must not be banned: it is, holds or overlaps an address or network
    /// that must never be; with `at_ms`, also one that logged in recently. A ban by hand
    /// passes `None`: the admin may ban an address that logged in.
    pub fn protected(&self, target: &Cidr, at_ms: Option<i64>) -> Option<Exemption> {
        if target.is_host() {
            return self.exemption_at(target.net().network(), at_ms);
        }
        let p = &self.policy;
        let first = target.net().network();
        let holds = |a: IpAddr, why: Exemption| Some(Exemption::Holds(a, Box::new(why)));
        let loopback = [
            IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED),
        ];
        if first.is_loopback() {
            return holds(first, Exemption::Loopback);
        }
        if let Some(a) = loopback.into_iter().find(|a| target.contains(*a)) {
            return holds(a, Exemption::Loopback);
        }
        if let Some(a) = p.local.iter().find(|a| target.contains(**a)) {
            return holds(*a, Exemption::LocalAddress);
        }
        if let Some(a) = p.session_client.filter(|a| target.contains(*a)) {
            return holds(a, Exemption::SshSession);
        }
        if let Some(net) = p.allowlist.iter().find(|n| n.covers(target)) {
            return Some(Exemption::Allowlisted(*net));
        }
        if let Some(net) = p.allowlist.iter().find(|n| target.covers(n)) {
            return Some(Exemption::HoldsAllowlisted(*net));
        }
        let at = at_ms.filter(|_| p.trust_ms > 0)?;
        let (addr, login) = self
            .trusted
            .iter()
            .filter(|(a, login)| target.contains(**a) && at.saturating_sub(**login) <= p.trust_ms)
            .min()?;
        holds(*addr, Exemption::TrustedLogin(*login))
    }

    fn exemption_at(&self, addr: IpAddr, at_ms: Option<i64>) -> Option<Exemption> {
        if addr.is_loopback() || addr.is_unspecified() {
            return Some(Exemption::Loopback);
        }
        if self.policy.local.contains(&addr) {
            return Some(Exemption::LocalAddress);
        }
        if self.policy.session_client == Some(addr) {
            return Some(Exemption::SshSession);
        }
        if let Some(net) = self.policy.allowlist.find(addr) {
            return Some(Exemption::Allowlisted(*net));
        }
        if self.policy.trust_ms > 0
            && let Some(at_ms) = at_ms
            && let Some(&login) = self.trusted.get(&addr)
            && at_ms.saturating_sub(login) <= self.policy.trust_ms
        {
            return Some(Exemption::TrustedLogin(login));
        }
        None
    }

    fn weight(&self, ev: &Event<'_>) -> u32 {
        let p = &self.policy;
        let w = &p.weights;
        if matches!(ev.kind, Kind::AuthFailure | Kind::InvalidUser)
            && let Some(user) = ev.user
            && let Some(&weight) = p.users.get(user)
        {
            return weight;
        }
        match ev.kind {
            Kind::Success => 0,
            Kind::Probe => w.probe,
            Kind::InvalidUser => w.invalid_user,
            Kind::AuthFailure => {
                if ev.msg == Msg::Failed && ev.method == Some(Method::Publickey) {
                    w.publickey
                } else if ev.user == Some(b"root".as_slice()) || ev.msg == Msg::RootRefused {
                    w.root
                } else if ev.user.is_some_and(|u| p.unusable.contains(u)) {
                    w.invalid_user
                } else {
                    w.auth_failure
                }
            }
        }
    }

    /// The connection and points of the last event observed.
    pub fn last_scored(&self) -> Scored {
        self.last
    }

    /// Feeds one event that happened at log time `at_ms` (the caller substitutes the time
    /// of reading for lines without a timestamp).
    pub fn observe(&mut self, ev: &Event<'_>, at_ms: i64) -> Option<Decision> {
        self.last = Scored::default();
        self.latest_ms = self.latest_ms.max(at_ms);
        self.observed += 1;
        if self.observed.is_multiple_of(1 << 16) {
            self.prune();
        }
        let addr = ev.addr;
        if ev.kind == Kind::Success {
            return self.login(ev, at_ms);
        }
        let key = self.key(addr);
        if self.addrs.len() >= self.max_tracked && !self.addrs.contains_key(&key) {
            self.evict();
        }
        let full = self.weight(ev).saturating_mul(ev.count.max(1));
        let points = self.dedup(ev, key, at_ms, full);
        if points == 0 || self.banned.contains(&key) {
            return None;
        }
        self.last.points = points;
        let main = Rule {
            window_ms: self.policy.window_ms,
            threshold: self.policy.threshold,
        };
        let target = self.target(addr);
        self.touched.insert(key);
        let st = self.addrs.entry(key).or_default();
        let horizon = at_ms.saturating_sub(main.window_ms);
        st.marks.retain(|m| m.at_ms > horizon);
        if st.marks.len() >= MAX_MARKS {
            st.marks.remove_first();
        }
        st.marks.push(Mark {
            at_ms,
            points,
            kind: ev.kind,
        });
        let score: u32 = st.marks.as_slice().iter().map(|m| m.points).sum();
        let mut fired = (score >= main.threshold).then_some((main, score, false));
        for (rule, until) in self.policy.slow.iter().zip(st.slow.iter_mut()) {
            // A log line older than the last one (several files) still adds its points.
            *until = Drain::from_ms(until.ms().max(at_ms).saturating_add(rule.fill_ms(points)));
            if fired.is_none() && rule.full(until.ms(), at_ms) {
                fired = Some((*rule, rule.level(until.ms(), at_ms), true));
            }
        }
        let (rule, score, slow) = fired?;
        let levels = st.levels(&self.policy.slow, at_ms);
        let mut offender = Offender {
            target,
            addr,
            score,
            rule,
            slow,
            levels,
            by_kind: [0; 4],
            points_by_kind: [0; 4],
            first_ms: at_ms,
            last_ms: at_ms,
            marks: st.marks.as_slice().to_vec(),
        };
        for m in st.marks.as_slice() {
            offender.by_kind[m.kind.index()] += 1;
            offender.points_by_kind[m.kind.index()] += m.points;
            offender.first_ms = offender.first_ms.min(m.at_ms);
            offender.last_ms = offender.last_ms.max(m.at_ms);
        }
        // The window starts over either way: a spared address is reported once per
        // threshold crossing, not once per line.
        st.marks.clear();
        st.slow = Default::default();
        let why = self.exemption(addr, at_ms).or_else(|| {
            (!target.is_host())
                .then(|| self.protected(&target, Some(at_ms)))
                .flatten()
        });
        match why {
            Some(why) => Some(Decision::Spared(offender, why)),
            None => {
                self.banned.insert(key);
                Some(Decision::Ban(offender))
            }
        }
    }

    fn login(&mut self, ev: &Event<'_>, at_ms: i64) -> Option<Decision> {
        let addr = ev.addr;
        let key = self.key(addr);
        if ev.port.is_some() || ev.pid.is_some() {
            let conn =
                self.addrs
                    .entry(key)
                    .or_default()
                    .conn(ev.pid, ev.port, Role::Attempt, at_ms);
            conn.success = true;
            (self.last.conn_pid, self.last.conn_port) = (conn.pid, conn.port);
        }
        if self.policy.trust_ms > 0 {
            let slot = self.trusted.entry(addr).or_insert(at_ms);
            *slot = (*slot).max(at_ms);
        }
        let score = self.score(addr, at_ms);
        if let Some(st) = self.addrs.get_mut(&key) {
            st.marks.clear();
            st.slow = Default::default();
            self.touched.insert(key);
        }
        (score > 0).then_some(Decision::LoginAfterFailures { addr, score, at_ms })
    }

    /// How many of `full` points this line adds, given what the same connection already
    /// counted.
    fn dedup(&mut self, ev: &Event<'_>, key: IpAddr, at_ms: i64, full: u32) -> u32 {
        let role = ev.msg.role();
        let horizon = at_ms.saturating_sub(self.policy.window_ms);
        let st = self.addrs.entry(key).or_default();
        let seen = role == Role::Summary && st.marks.as_slice().iter().any(|m| m.at_ms > horizon);
        let conn = st.conn(ev.pid, ev.port, role, at_ms);
        let pid = conn.pid;
        (self.last.conn_pid, self.last.conn_port) = (pid, conn.port);
        match role {
            Role::Opening => {
                if conn.counted {
                    0
                } else {
                    conn.counted = true;
                    conn.credit = full;
                    full
                }
            }
            Role::Pam => {
                if conn.credit > 0 {
                    // Already counted by `Invalid user` or an earlier PAM line of this
                    // attempt; the `Failed` line will consume the credit.
                    0
                } else {
                    conn.counted = true;
                    conn.credit = full;
                    full
                }
            }
            Role::Attempt => {
                conn.counted = true;
                let mut credit = std::mem::take(&mut conn.credit);
                let forked = ev.method == Some(Method::KeyboardInteractive);
                if credit == 0 && (forked || pid == 0) {
                    // keyboard-interactive runs PAM in a forked process: its line, with
                    // the child's pid and no port, holds the credit of this attempt. The
                    // child is forked by this connection's process: of the PAM-only
                    // connections, the one whose pid follows this one's most closely.
                    // A log without pids has its portless lines' credit in the one
                    // portless connection.
                    if let Some(fork) = st
                        .conns
                        .as_mut_slice()
                        .iter_mut()
                        .filter(|c| {
                            (if pid == 0 {
                                c.pid == 0 && c.port == 0
                            } else {
                                c.pam_only && c.pid != pid
                            }) && c.credit > 0
                                && at_ms.saturating_sub(c.last_ms) <= PAM_ATTACH_MS
                        })
                        .min_by_key(|c| c.pid.wrapping_sub(pid))
                    {
                        credit = std::mem::take(&mut fork.credit);
                    }
                }
                full.saturating_sub(credit)
            }
            // Once it counts, the window holds it: later verdicts add nothing.
            Role::Summary => {
                if seen {
                    0
                } else {
                    full
                }
            }
            Role::Closing => {
                if conn.counted || conn.success {
                    0
                } else {
                    conn.counted = true;
                    full
                }
            }
        }
    }

    /// Forgets connections and windows that can no longer matter, so memory follows the
    /// number of active addresses, not the length of the log.
    pub fn prune(&mut self) {
        let now = self.latest_ms;
        let conn_horizon = now.saturating_sub(CONN_TTL_MS);
        let horizon = now.saturating_sub(self.policy.window_ms);
        let touched = &mut self.touched;
        self.addrs.retain(|addr, st| {
            st.conns.retain(|c| c.last_ms > conn_horizon);
            let before = st.marks.len();
            st.marks.retain(|m| m.at_ms > horizon);
            let keep = !st.marks.is_empty() || !st.conns.is_empty() || st.filling(now);
            if st.marks.len() != before || !keep {
                touched.insert(*addr);
            }
            keep
        });
        if self.policy.trust_ms > 0 {
            let trust_horizon = now.saturating_sub(self.policy.trust_ms);
            self.trusted.retain(|_, at| *at > trust_horizon);
        }
    }

    /// How many addresses have state (for the summary and memory checks).
    pub fn tracked(&self) -> usize {
        self.addrs.len()
    }

    /// The bytes the detector's state takes as it allocated them: each table's capacity
    /// times its entry (plus the control byte per slot of a swiss table), and the lists of
    /// addresses that spilled to the heap. The allocator's own overhead is not counted.
    pub fn heap_bytes(&self) -> usize {
        fn table<T>(capacity: usize) -> usize {
            // hashbrown keeps at most 7/8 of its slots full, in power-of-two slot counts.
            let slots = (capacity * 8 / 7).next_power_of_two();
            slots * (std::mem::size_of::<T>() + 1)
        }
        let spilled: usize = self
            .addrs
            .values()
            .map(|st| {
                let marks = match &st.marks {
                    Few::Many(v) => v.capacity() * std::mem::size_of::<Mark>(),
                    _ => 0,
                };
                let conns = match &st.conns {
                    Few::Many(v) => v.capacity() * std::mem::size_of::<Conn>(),
                    _ => 0,
                };
                marks + conns
            })
            .sum();
        table::<(IpAddr, AddrState)>(self.addrs.capacity())
            + table::<(IpAddr, i64)>(self.trusted.capacity())
            + table::<IpAddr>(self.banned.capacity())
            + table::<IpAddr>(self.touched.capacity())
            + spilled
    }
}

#[cfg(test)]
mod tests;
