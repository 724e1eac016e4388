//! `[fleet]`: sharing bans with other servers through Redis. Absent, the daemon is alone;
//! present, every key is checked here, so a fleet that `config check` accepts can start.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{Duration, Problem, WEEK};
use crate::fleet::record::{Origin, valid_node};
use crate::fleet::resp::{Endpoint, Url};
use crate::fleet::tls;

/// `[fleet]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fleet {
    /// `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]`, the same with `rediss://` (TLS), or
    /// `unix:///PATH[?db=N]`.
    #[serde(serialize_with = "without_password")]
    pub url: String,
    /// A file holding the password (its first line), instead of writing it in the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// `rediss://`: the authorities (PEM) trusted to sign Redis's certificate; default
    /// the system's bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// `rediss://`: this node's certificate and key (PEM), for a Redis that asks for one
    /// (`tls-auth-clients`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
    /// This server's name in the fleet; default its host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The Redis keys used all begin with this and `:`.
    pub key_prefix: String,
    /// Which remote bans are applied here.
    pub accept: Accept,
    /// A remote ban lasts at most this long here.
    pub max_remote_time: Duration,
    /// Which of this node's bans it publishes.
    pub share: Vec<Share>,
    /// The stream keeps about this many records; a node away longer reads the bans in
    /// force instead.
    pub stream_length: u64,
}

impl Default for Fleet {
    fn default() -> Fleet {
        Fleet {
            url: String::new(),
            password_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            node: None,
            key_prefix: "authban".into(),
            accept: Accept::All,
            max_remote_time: Duration::from_secs(WEEK),
            share: vec![Share::Detected, Share::Manual],
            stream_length: 100_000,
        }
    }
}

/// The URL as `config check` prints it: a password in it is not shown.
fn without_password<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    match url.parse::<Url>() {
        Ok(u) if u.password.is_some() => s.serialize_str(&u.to_string()),
        _ => s.serialize_str(url),
    }
}

/// `accept = "all"` or `accept = { quorum = N }`: a remote target is banned here once N
/// distinct nodes reported it within `policy.window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    All,
    Quorum(u32),
}

impl Accept {
    /// How many distinct nodes must report a target.
    pub fn quorum(self) -> u32 {
        match self {
            Accept::All => 1,
            Accept::Quorum(n) => n,
        }
    }
}

impl<'de> Deserialize<'de> for Accept {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Accept, D::Error> {
        struct V;
        const WANT: &str = "\"all\" or { quorum = N }";
        impl<'de> Visitor<'de> for V {
            type Value = Accept;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(WANT)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Accept, E> {
                match s {
                    "all" => Ok(Accept::All),
                    _ => Err(E::custom(format!("{s:?} is not {WANT}"))),
                }
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Accept, M::Error> {
                let mut quorum = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "quorum" {
                        return Err(de::Error::custom(format!(
                            "unknown key {key:?}: accept takes {WANT}"
                        )));
                    }
                    quorum = Some(map.next_value::<u32>()?);
                }
                quorum
                    .map(Accept::Quorum)
                    .ok_or_else(|| de::Error::custom(format!("accept takes {WANT}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Accept {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Accept::All => s.serialize_str("all"),
            Accept::Quorum(n) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("quorum", n)?;
                m.end()
            }
        }
    }
}

/// A kind of ban a node publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Share {
    Detected,
    Manual,
    Imported,
}

impl Share {
    pub fn origin(self) -> Origin {
        match self {
            Share::Detected => Origin::Detected,
            Share::Manual => Origin::Manual,
            Share::Imported => Origin::Imported,
        }
    }
}

/// The most records a stream may keep: past it a node away reads the bans in force.
const MAX_STREAM: u64 = 10_000_000;

impl Fleet {
    /// This node's name: `node`, or the host name.
    pub fn node_name(&self) -> String {
        match &self.node {
            Some(n) => n.clone(),
            None => crate::host::name(),
        }
    }

    /// Whether this node publishes its bans of `origin`.
    pub fn shares(&self, origin: Origin) -> bool {
        self.share.iter().any(|s| s.origin() == origin)
    }

    /// The outbox records of bans this node decided (`node` is `None`), of a kind it
    /// shares, as `node_name` publishes them.
    pub fn to_share(
        &self,
        bans: &[crate::decide::BanRecord],
        origin: Origin,
        node_name: &str,
    ) -> Vec<crate::fleet::record::Record> {
        if !self.shares(origin) {
            return Vec::new();
        }
        bans.iter()
            .filter(|b| b.node.is_none())
            .map(|b| b.to_fleet(origin, node_name))
            .collect()
    }

    /// The URL, parsed (the password file is read at start, not here).
    pub fn parsed_url(&self) -> Result<Url, String> {
        self.url.parse::<Url>().map_err(|e| match e {
            crate::fleet::resp::RespError::Url(why) => why,
            other => other.to_string(),
        })
    }

    /// The URL with the files a connection reads.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        Ok(Endpoint {
            url: self.parsed_url()?,
            password_file: self.password_file.clone(),
            tls: tls::Files {
                ca: self.tls_ca_file.clone(),
                cert: self.tls_cert_file.clone(),
                key: self.tls_key_file.clone(),
            },
        })
    }

    /// What `config check` finds wrong with the files a connection reads (the password
    /// file, the TLS files), by reading them as the daemon will. Kept out of
    /// [`Fleet::validate`], which reads no file.
    pub fn check_files(&self) -> Option<String> {
        // A URL that does not parse is said by validate.
        self.endpoint().ok()?.prepare().err()
    }

    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        // Whether the URL, when it parses, is rediss://.
        let mut tls = None;
        if self.url.is_empty() {
            problems.push(Problem::new(
                "fleet.url",
                "must be set: redis://HOST[:PORT], rediss://HOST[:PORT] or unix:///PATH",
            ));
        } else {
            match self.parsed_url() {
                Err(e) => problems.push(Problem::new("fleet.url", e)),
                Ok(url) => {
                    tls = Some(url.tls);
                    if url.tls && !tls::BUILT {
                        problems.push(Problem::new("fleet.url", tls::NOT_BUILT));
                    }
                    if url.password.is_some() && self.password_file.is_some() {
                        problems.push(Problem::new(
                            "fleet.password-file",
                            "the URL holds a password already: give it in one place",
                        ));
                    }
                }
            }
        }
        let files = [
            ("fleet.password-file", &self.password_file, false),
            ("fleet.tls-ca-file", &self.tls_ca_file, true),
            ("fleet.tls-cert-file", &self.tls_cert_file, true),
            ("fleet.tls-key-file", &self.tls_key_file, true),
        ];
        for (key, path, of_tls) in files {
            let Some(p) = path else { continue };
            if !p.is_absolute() {
                problems.push(Problem::new(
                    key,
                    format!("`{}` must be an absolute path", p.display()),
                ));
            }
            if of_tls && tls == Some(false) {
                problems.push(Problem::new(
                    key,
                    "is used only over TLS: the URL must be rediss://",
                ));
            }
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => problems.push(Problem::new(
                "fleet.tls-key-file",
                "must be set with tls-cert-file: the certificate's private key",
            )),
            (None, Some(_)) => problems.push(Problem::new(
                "fleet.tls-cert-file",
                "must be set with tls-key-file: the key's certificate",
            )),
            _ => {}
        }
        let node = self.node_name();
        if !valid_node(&node) {
            let key = "fleet.node";
            let what = if self.node.is_some() {
                format!("{node:?}")
            } else {
                format!("the host name {node:?}")
            };
            problems.push(Problem::new(
                key,
                format!("{what} is not a node name: 1 to 64 letters, digits, `.`, `-`, `_`"),
            ));
        }
        if !valid_node(&self.key_prefix) {
            problems.push(Problem::new(
                "fleet.key-prefix",
                format!(
                    "{:?} is not a key prefix: 1 to 64 letters, digits, `.`, `-`, `_`",
                    self.key_prefix
                ),
            ));
        }
        if let Accept::Quorum(n) = self.accept
            && !(1..=1000).contains(&n)
        {
            problems.push(Problem::new(
                "fleet.accept",
                format!("a quorum of {n}: must be 1 to 1000 nodes"),
            ));
        }
        if self.max_remote_time.is_zero() {
            problems.push(Problem::new(
                "fleet.max-remote-time",
                "must be longer than 0 (to apply no remote ban, leave out [fleet])",
            ));
        }
        if !(1000..=MAX_STREAM).contains(&self.stream_length) {
            problems.push(Problem::new(
                "fleet.stream-length",
                format!("must be 1000 to {MAX_STREAM} records"),
            ));
        }
    }
}
