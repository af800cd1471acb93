//! Number and time formats byte-for-byte as Prometheus writes them (Go's
//! `strconv` and `time` conventions), so clients that compare strings see
//! no difference.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Shortest decimal digits and decimal exponent of a finite, non-zero `v`:
/// `v = 0.d1d2d3... × 10^dp`.
fn shortest_digits(v: f64) -> (String, i32) {
    // `{:e}` is the shortest round-trip representation: `d.ddde±x`.
    let s = format!("{:e}", v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    (mantissa.replace('.', ""), exp + 1)
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: exponent with sign and at
/// least two digits (`1e-07`, `1.5e+21`).
fn go_exp(v: f64) -> String {
    let (digits, dp) = shortest_digits(v);
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let exp = dp - 1;
    let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    out
}

fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// A sample value in the query API (`jsonutil.MarshalValue`): `'f'` format,
/// `'e'` below 1e-6 and from 1e21; `NaN`, `+Inf`, `-Inf`.
pub fn api_value(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        go_exp(v)
    } else {
        // Rust's `{}` is the shortest round-trip decimal, like Go's 'f', -1.
        format!("{v}")
    }
}

/// A float field in JSON as Go's `encoding/json` writes it: like
/// [`api_value`] but `e-07` is shortened to `e-7`. Non-finite values (which
/// Go refuses) are written as 0.
pub fn json_float(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = api_value(v);
    match s.split_once("e-0") {
        Some((m, e)) => format!("{m}e-{e}"),
        None => s,
    }
}

/// A sample value in the text exposition format (`expfmt`'s `writeFloat`):
/// Go's `'g'` with shortest precision.
pub fn text_value(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let (digits, dp) = shortest_digits(v);
    let exp = dp - 1;
    // As strconv: %e when exp < -4 or exp >= eprec, eprec = 6 unless all
    // digits sit before the point and there are fewer than 6 of them.
    let nd = digits.len() as i32;
    let eprec = if 6 > nd && nd >= dp { nd } else { 6 };
    if exp < -4 || exp >= eprec {
        go_exp(v)
    } else {
        format!("{v}")
    }
}

/// A millisecond timestamp as seconds in the query API
/// (`jsonutil.MarshalTimestamp`): `1435781451.781`, `1435781451`, `1.05`.
pub fn api_timestamp(t_ms: i64) -> String {
    let sign = if t_ms < 0 { "-" } else { "" };
    let t = t_ms.unsigned_abs();
    let (secs, frac) = (t / 1000, t % 1000);
    if frac == 0 {
        format!("{sign}{secs}")
    } else {
        format!("{sign}{secs}.{frac:03}")
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A time as Go's `time.Time` marshals to JSON (RFC 3339 with nanoseconds,
/// trailing zeros cut, UTC as `Z`). `UNIX_EPOCH` stands for "never" and is
/// written as Go's zero time, `0001-01-01T00:00:00Z`, as Prometheus shows
/// targets not scraped yet.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let Ok(d) = t.duration_since(UNIX_EPOCH) else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    if d.is_zero() {
        return "0001-01-01T00:00:00Z".to_string();
    }
    let secs = d.as_secs() as i64;
    let (y, mo, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{mo:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    let nanos = d.subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Earliest and latest Unix seconds the query API takes: Prometheus's
/// `minTime` and `maxTime` (`math.MinInt64/1000 + 62135596801` and
/// `math.MaxInt64/1000 - 62135596801`), so every accepted time is a valid
/// millisecond timestamp.
const API_MIN_SECS: i64 = i64::MIN / 1000 + 62_135_596_801;
const API_MAX_SECS: i64 = i64::MAX / 1000 - 62_135_596_801;

/// Parses a query API time (Prometheus's `parseTime`): Unix seconds with an
/// optional fraction (rounded to milliseconds) or RFC 3339. Returns ms;
/// `None` for text that is neither, and for seconds outside Prometheus's
/// `minTime`..`maxTime` (`1e300`), which no millisecond timestamp holds.
pub fn parse_api_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        let secs = f.trunc();
        if !(API_MIN_SECS as f64..=API_MAX_SECS as f64).contains(&secs) {
            return None;
        }
        let ms = ((f - secs) * 1000.0).round() as i64;
        return (secs as i64).checked_mul(1000)?.checked_add(ms);
    }
    parse_rfc3339(s)
}

/// `2006-01-02T15:04:05(.999999999)?(Z|±07:00)` → ms since the epoch.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = format!("{:0<3}", &frac[..n.min(3)]);
        ms = digits.parse::<i64>().ok()?;
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let (oh, om) = rest.get(1..)?.split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[track_caller]
    fn floats(v: f64, api: &str, json: &str, text: &str) {
        assert_eq!(api_value(v), api, "api_value({v:e})");
        assert_eq!(json_float(v), json, "json_float({v:e})");
        assert_eq!(text_value(v), text, "text_value({v:e})");
    }

    #[test]
    fn floats_format_as_go() {
        floats(0.0, "0", "0", "0");
        floats(1.0, "1", "1", "1");
        floats(-1.0, "-1", "-1", "-1");
        floats(0.1, "0.1", "0.1", "0.1");
        floats(1.5, "1.5", "1.5", "1.5");
        floats(123456.0, "123456", "123456", "123456");
        floats(1e6, "1000000", "1000000", "1e+06");
        floats(1234567.0, "1234567", "1234567", "1.234567e+06");
        floats(0.0001, "0.0001", "0.0001", "0.0001");
        floats(0.00001, "0.00001", "0.00001", "1e-05");
        floats(1e-7, "1e-07", "1e-7", "1e-07");
        floats(-2.5e-9, "-2.5e-09", "-2.5e-9", "-2.5e-09");
        floats(1e21, "1e+21", "1e+21", "1e+21");
        floats(
            1e20,
            "100000000000000000000",
            "100000000000000000000",
            "1e+20",
        );
        floats(
            0.30000000000000004,
            "0.30000000000000004",
            "0.30000000000000004",
            "0.30000000000000004",
        );
        floats(f64::NAN, "NaN", "0", "NaN");
        floats(f64::INFINITY, "+Inf", "0", "+Inf");
        floats(f64::NEG_INFINITY, "-Inf", "0", "-Inf");
    }

    #[test]
    fn timestamps_format_as_prometheus() {
        assert_eq!(api_timestamp(1_435_781_451_781), "1435781451.781");
        assert_eq!(api_timestamp(1_435_781_451_000), "1435781451");
        assert_eq!(api_timestamp(1_050), "1.050");
        assert_eq!(api_timestamp(5), "0.005");
        assert_eq!(api_timestamp(-1_500), "-1.500");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "0001-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_400_000);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.1234Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_nano(t), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn api_times_parse() {
        assert_eq!(parse_api_time("1435781451.781"), Some(1_435_781_451_781));
        assert_eq!(parse_api_time("1435781451"), Some(1_435_781_451_000));
        assert_eq!(
            parse_api_time("2023-11-14T22:13:20.1234Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_api_time("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_api_time("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        assert_eq!(parse_api_time("yesterday"), None);
        assert_eq!(parse_api_time("NaN"), None);
        for huge in [
            "1e300",
            "-1e300",
            "inf",
            "-Inf",
            "9223372036854775807",
            "1.8e19",
        ] {
            assert_eq!(parse_api_time(huge), None, "{huge}");
        }
        let (min, max) = (API_MIN_SECS, API_MAX_SECS);
        assert_eq!(parse_api_time(&max.to_string()), Some(max * 1000));
        assert_eq!(parse_api_time(&min.to_string()), Some(min * 1000));
        assert_eq!(parse_api_time(&(max + 2).to_string()), None);
        assert_eq!(parse_api_time(&(min - 2).to_string()), None);
        assert_eq!(parse_api_time("2023-13-14T22:13:20Z"), None);
    }
}
