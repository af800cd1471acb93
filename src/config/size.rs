//! Prometheus byte-size syntax: an integer and a base-2 unit, `10MB`.

use std::fmt;

/// A byte size written as Prometheus's `units.Base2Bytes` reads it: an
/// integer followed by `B`, `KB`, `MB`, `GB`, `TB`, `PB` or `EB`, where 1KB =
/// 1024 bytes. `0` means no limit where the field is a limit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const UNITS: [(&str, u64); 7] = [
    ("EB", 1 << 60),
    ("PB", 1 << 50),
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
    ("B", 1),
];

impl ByteSize {
    /// Parses `10MB`-style sizes; a bare `0` is accepted as zero.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        if s == "0" {
            return Ok(ByteSize(0));
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (num, unit) = s.split_at(digits);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("not a valid byte size: {s:?}"))?;
        let Some((_, mult)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!(
                "not a valid byte size: {s:?} (units: B, KB, MB, GB, TB, PB, EB)"
            ));
        };
        n.checked_mul(*mult)
            .map(ByteSize)
            .ok_or_else(|| format!("byte size out of range: {s:?}"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        for (unit, mult) in UNITS {
            if self.0 % mult == 0 {
                return write!(f, "{}{unit}", self.0 / mult);
            }
        }
        write!(f, "{}B", self.0)
    }
}

text_form!(ByteSize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base2_sizes() {
        assert_eq!(ByteSize::parse("0").unwrap().0, 0);
        assert_eq!(ByteSize::parse("10B").unwrap().0, 10);
        assert_eq!(ByteSize::parse("1KB").unwrap().0, 1024);
        assert_eq!(ByteSize::parse("10MB").unwrap().0, 10 << 20);
        assert_eq!(ByteSize::parse("2GB").unwrap().to_string(), "2GB");
        for bad in ["", "MB", "1.5MB", "10mb", "10 MB", "-1B", "10XB"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?}");
        }
    }
}
