//! Prometheus duration syntax: `1y2w3d4h5m6s7ms`, `y` = 365 days, `0` alone.

use std::fmt;
use std::time::Duration as StdDuration;

/// A duration written in Prometheus syntax (`30s`, `1m30s`, `1y`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub StdDuration);

/// Units in the order Prometheus requires them, with their length in ms.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// The longest duration in milliseconds: Go's `time.Duration` holds at most
/// `i64::MAX` nanoseconds (about 292 years), and Prometheus refuses longer
/// ones as out of range. Every deadline, tick and offset computed from a
/// config duration stays far from overflowing `Instant` and `SystemTime`
/// within this bound.
const MAX_MILLIS: u64 = i64::MAX as u64 / 1_000_000;

impl Duration {
    /// The longest duration Prometheus syntax may express (`292y24w3d23h47m16s854ms`).
    pub const MAX: Duration = Duration::from_millis(MAX_MILLIS);

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(StdDuration::from_secs(secs))
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(StdDuration::from_millis(ms))
    }

    /// Parses Prometheus duration syntax. Units must appear largest first,
    /// each at most once; the empty string and bare numbers other than `0` are
    /// refused.
    pub fn parse(s: &str) -> Result<Duration, String> {
        if s == "0" {
            return Ok(Duration::default());
        }
        if s.is_empty() {
            return Err("empty duration string".to_string());
        }
        let mut rest = s;
        let mut total: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("not a valid duration string: {s:?}"));
            }
            // Only digits: a parse can fail by overflow alone.
            let n: u64 = rest[..digits].parse().unwrap_or(u64::MAX);
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let Some(pos) = UNITS[next_unit..].iter().position(|(u, _)| *u == unit) else {
                return Err(format!("not a valid duration string: {s:?}"));
            };
            let ms = UNITS[next_unit + pos].1;
            next_unit += pos + 1;
            total = n
                .checked_mul(ms)
                .and_then(|v| total.checked_add(v))
                .filter(|&v| v <= MAX_MILLIS)
                .ok_or_else(|| {
                    format!("duration out of range: {s:?} (at most {})", Duration::MAX)
                })?;
        }
        Ok(Duration(StdDuration::from_millis(total)))
    }

    /// The duration as a standard library value.
    pub fn get(self) -> StdDuration {
        self.0
    }
}

/// Formats as Prometheus does: largest units first, `0s` for zero.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in UNITS {
            if ms >= len {
                write!(f, "{}{unit}", ms / len)?;
                ms %= len;
            }
        }
        Ok(())
    }
}

text_form!(Duration);

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(s: &str, ms: u64, shown: &str) {
        let d = Duration::parse(s).unwrap();
        assert_eq!(d.0.as_millis() as u64, ms, "{s}");
        assert_eq!(d.to_string(), shown, "{s}");
    }

    #[test]
    fn parses_prometheus_durations() {
        ok("0", 0, "0s");
        ok("0s", 0, "0s");
        ok("324ms", 324, "324ms");
        ok("3s", 3000, "3s");
        ok("5m", 300_000, "5m");
        ok("1h", 3_600_000, "1h");
        ok("4d", 4 * 86_400_000, "4d");
        ok("4d1h", 4 * 86_400_000 + 3_600_000, "4d1h");
        ok("14d", 14 * 86_400_000, "2w");
        ok("3w", 21 * 86_400_000, "3w");
        ok("1y", 365 * 86_400_000, "1y");
        ok("1m30s", 90_000, "1m30s");
        ok("1h30m", 5_400_000, "1h30m");
        ok("1s500ms", 1500, "1s500ms");
    }

    #[test]
    fn durations_beyond_prometheus_range_are_refused() {
        ok("292y", 292 * 365 * 86_400_000, "292y");
        ok(
            &Duration::MAX.to_string(),
            MAX_MILLIS,
            "292y24w3d23h47m16s854ms",
        );
        for s in [
            "293y",
            "1000y",
            "292y24w3d23h47m16s855ms",
            "9223372036854776ms",
            "18446744073709551615ms",
            "18446744073709551616ms",
            "99999999999999999999999y",
        ] {
            let err = Duration::parse(s).unwrap_err();
            assert!(err.contains("out of range"), "{s}: {err}");
        }
        let err = Duration::parse("1000y").unwrap_err();
        assert_eq!(
            err,
            "duration out of range: \"1000y\" (at most 292y24w3d23h47m16s854ms)"
        );
    }

    #[test]
    fn refuses_bad_durations() {
        for s in [
            "", "1", "1.5s", "s", "1x", "1s1m", "1m1m", "-1s", " 1s", "1s ", "1mss",
        ] {
            assert!(Duration::parse(s).is_err(), "{s:?} should fail");
        }
    }
}
