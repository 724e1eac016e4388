//! The configuration's span of time (`90s`, `1h30m`, `7d`), in whole seconds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub(super) const MINUTE: u64 = 60;
pub(super) const HOUR: u64 = 60 * MINUTE;
pub(super) const DAY: u64 = 24 * HOUR;
pub(super) const WEEK: u64 = 7 * DAY;
const UNITS: [(char, u64); 5] = [
    ('w', WEEK),
    ('d', DAY),
    ('h', HOUR),
    ('m', MINUTE),
    ('s', 1),
];

/// A span of time written as `90s`, `10m`, `1h30m`, `7d`, `2w` or `0`, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

/// The longest span accepted: 5,200 weeks (about 100 years). Every backend can hold a ban
/// this long (nftables timeouts end near 550 years; ipset's near 25 days, past which the
/// ipset backend writes the ban without a timeout and lifts it itself), and anything longer
/// is meant as permanent (`ban.permanent-after`).
pub const MAX: Duration = Duration::from_secs(5200 * WEEK);

/// Why a text is not a [`Duration`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    text: String,
    too_long: bool,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.too_long {
            return write!(
                f,
                "`{}` is longer than the longest duration authban accepts ({MAX}, about 100 \
                 years); ban.permanent-after makes repeat offenders' bans permanent",
                self.text
            );
        }
        write!(
            f,
            "`{}` is not a duration: write numbers with units w, d, h, m, s from largest to \
             smallest, like \"90s\", \"10m\", \"1h30m\", \"7d\", or \"0\"",
            self.text
        )
    }
}

impl std::error::Error for DurationError {}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Duration, DurationError> {
        let err = || DurationError {
            text: text.to_owned(),
            too_long: false,
        };
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        let mut rest = text;
        let mut total: u64 = 0;
        // Units must come from largest to smallest, each once: "1h30m", never "30m1h".
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
            if digits == 0 || digits > 12 {
                return Err(err());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| err())?;
            let unit = rest[digits..].chars().next().ok_or_else(err)?;
            let pos = UNITS[next_unit..]
                .iter()
                .position(|&(u, _)| u == unit)
                .ok_or_else(err)?;
            let (_, secs) = UNITS[next_unit + pos];
            next_unit += pos + 1;
            total = n
                .checked_mul(secs)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(err)?;
            rest = &rest[digits + 1..];
        }
        if text.is_empty() {
            return Err(err());
        }
        if total > MAX.0.as_secs() {
            return Err(DurationError {
                text: text.to_owned(),
                too_long: true,
            });
        }
        Ok(Duration::from_secs(total))
    }
}

impl fmt::Display for Duration {
    /// The canonical short form: largest units first, zero parts left out (`1h30m`, `2w`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0");
        }
        for (unit, size) in UNITS {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"10m\", \"1h30m\" or \"7d\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                // A bare 0 is unambiguous; any other number needs its unit.
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "{v} has no unit: write a string such as \"{v}s\", \"{v}m\" or \"{v}d\""
                    )))
                }
            }
        }
        de.deserialize_any(Visitor)
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_str(self)
    }
}
