//! Numbers as Prometheus reads them: Go's `strconv.ParseFloat` and
//! `strconv.ParseInt`, plus Prometheus's refusal of `p`, `P` and `_`.

/// The NaN bit pattern Prometheus stores for a scraped NaN
/// (`value.NormalNaN`), distinct from the staleness marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Parses a sample value or OpenMetrics timestamp the way Prometheus 2.42
/// does (`textparse.parseFloat`): Go float syntax without hex floats or
/// underscores; `NaN`, `Inf` and `Infinity` in any case, the infinities
/// with an optional sign. An out-of-range number (`1e400`) is an error, as
/// Go reports `ErrRange` for it. Every NaN comes back as
/// [`NORMAL_NAN_BITS`].
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, String> {
    // Fast path: up to 15 digits are an exact integer in an f64.
    if !s.is_empty() && s.len() <= 15 && s.iter().all(u8::is_ascii_digit) {
        let n = s.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
        return Ok(n as f64);
    }
    if let Some(v) = exact_decimal(s) {
        return Ok(v);
    }
    if s.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err("unsupported character in float".to_string());
    }
    if let Some(v) = special(s) {
        return Ok(v);
    }
    let text = match std::str::from_utf8(s) {
        Ok(t) if is_decimal(s) => t,
        _ => return Err(go_syntax_error("ParseFloat", s)),
    };
    match text.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s)
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(go_syntax_error("ParseFloat", s)),
    }
}

/// Powers of ten an f64 holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common decimal spellings (`-12.5`, `1.446025e+06`, `4.9351e-05`)
/// without the general algorithm: when the digits form an integer below
/// 2^53 and the decimal exponent is at most 22 either way, one exact
/// multiplication or division by a power of ten is correctly rounded
/// (Clinger's fast path), so the result is the one `str::parse` gives.
/// `None` for anything else, which the general path then reads.
fn exact_decimal(s: &[u8]) -> Option<f64> {
    let (negative, mut i) = match s.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0;
    let mut exponent: i32 = 0;
    let mut seen_point = false;
    while let Some(&c) = s.get(i) {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if digits > 15 {
                    return None;
                }
                exponent -= i32::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        let negative_exp = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            e = e.checked_mul(10)?.checked_add(i32::from(c - b'0'))?;
            i += 1;
        }
        if i == start || i - start > 4 {
            return None;
        }
        exponent += if negative_exp { -e } else { e };
    }
    if i != s.len() {
        return None;
    }
    // Up to 15 digits: below 2^53, exact in an f64.
    let m = mantissa as f64;
    let power = *EXACT_POWERS_OF_TEN.get(exponent.unsigned_abs() as usize)?;
    let v = if exponent < 0 { m / power } else { m * power };
    Some(if negative { -v } else { v })
}

/// Parses a text-format timestamp (only digits reach here), as Go's
/// `strconv.ParseInt(s, 10, 64)`.
pub(crate) fn parse_int(s: &[u8]) -> Result<i64, String> {
    let mut v: i64 = 0;
    if s.is_empty() {
        return Err(go_syntax_error("ParseInt", s));
    }
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(go_syntax_error("ParseInt", s));
        }
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
        {
            Some(v) => v,
            None => {
                return Err(format!(
                    "strconv.ParseInt: parsing {}: value out of range",
                    go_quote(s)
                ))
            }
        };
    }
    Ok(v)
}

/// Seconds (OpenMetrics) to milliseconds as Prometheus: `int64(ts * 1000)`.
/// Go on amd64 turns an out-of-range float into `i64::MIN`; so does this,
/// where a plain `as` cast would saturate.
pub(crate) fn seconds_to_millis(ts: f64) -> i64 {
    let ms = ts * 1000.0;
    // 2^63 as f64; the range check also rejects NaN.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    }
}

fn go_syntax_error(func: &str, s: &[u8]) -> String {
    format!("strconv.{func}: parsing {}: invalid syntax", go_quote(s))
}

/// Go's `special`: `[+-]?(inf|infinity)` and `nan`, any case, whole input.
fn special(s: &[u8]) -> Option<f64> {
    let (sign, rest, signed) = match s.first() {
        Some(b'+') => (1.0, &s[1..], true),
        Some(b'-') => (-1.0, &s[1..], true),
        _ => (1.0, s, false),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(sign * f64::INFINITY);
    }
    if !signed && rest.eq_ignore_ascii_case(b"nan") {
        return Some(f64::from_bits(NORMAL_NAN_BITS));
    }
    None
}

/// Go's decimal float syntax: `[+-]? (d+ (. d*)? | . d+) ([eE] [+-]? d+)?`.
fn is_decimal(s: &[u8]) -> bool {
    let mut i = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut digits = 0;
    while s.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        digits += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == s.len()
}

/// Quotes bytes as Go's `%q` does for a string, closely enough for error
/// messages: printable ASCII as is, common escapes, other bytes as `\xNN`.
pub(crate) fn go_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for chunk in s.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(s: &str, want: f64) {
        let got = parse_float(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
        if want.is_nan() {
            assert_eq!(got.to_bits(), NORMAL_NAN_BITS, "{s}");
        } else {
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
    }

    #[track_caller]
    fn bad(s: &str, msg: &str) {
        match parse_float(s.as_bytes()) {
            Ok(v) => panic!("{s} parsed as {v}"),
            Err(e) => assert_eq!(e, msg, "{s}"),
        }
    }

    #[test]
    fn float_spellings_as_go() {
        ok("1", 1.0);
        ok("-1.5", -1.5);
        ok("+1.5", 1.5);
        ok("1.", 1.0);
        ok(".5", 0.5);
        ok("1e3", 1000.0);
        ok("1E-3", 0.001);
        ok("007", 7.0);
        ok("4.9351e-05", 4.9351e-05);
        ok("1e-400", 0.0);
        ok("NaN", f64::NAN);
        ok("nan", f64::NAN);
        ok("NAN", f64::NAN);
        ok("Inf", f64::INFINITY);
        ok("+Inf", f64::INFINITY);
        ok("-Inf", f64::NEG_INFINITY);
        ok("inf", f64::INFINITY);
        ok("+infinity", f64::INFINITY);
        ok("-Infinity", f64::NEG_INFINITY);
        bad(
            "true",
            "strconv.ParseFloat: parsing \"true\": invalid syntax",
        );
        bad(
            "+NaN",
            "strconv.ParseFloat: parsing \"+NaN\": invalid syntax",
        );
        bad(
            "infin",
            "strconv.ParseFloat: parsing \"infin\": invalid syntax",
        );
        bad(".", "strconv.ParseFloat: parsing \".\": invalid syntax");
        bad("1e", "strconv.ParseFloat: parsing \"1e\": invalid syntax");
        bad("", "strconv.ParseFloat: parsing \"\": invalid syntax");
        bad(
            "1\t2",
            "strconv.ParseFloat: parsing \"1\\t2\": invalid syntax",
        );
        bad(
            "1\r",
            "strconv.ParseFloat: parsing \"1\\r\": invalid syntax",
        );
        bad(
            "0x10",
            "strconv.ParseFloat: parsing \"0x10\": invalid syntax",
        );
        bad("1_2", "unsupported character in float");
        bad("0x1p-3", "unsupported character in float");
        bad(
            "1e400",
            "strconv.ParseFloat: parsing \"1e400\": value out of range",
        );
    }

    proptest::proptest! {
        #[test]
        fn decimals_read_as_the_general_path(
            sign in proptest::sample::select(vec!["", "-", "+"]),
            int in "[0-9]{0,12}",
            frac in proptest::option::of("[0-9]{0,8}"),
            exp in proptest::option::of((proptest::sample::select(vec!["e", "E"]), proptest::sample::select(vec!["", "-", "+"]), 0u32..40)),
        ) {
            let mut s = format!("{sign}{int}");
            if let Some(f) = &frac {
                s.push('.');
                s.push_str(f);
            }
            if let Some((e, esign, n)) = &exp {
                s.push_str(&format!("{e}{esign}{n}"));
            }
            let general = s.parse::<f64>().ok().filter(|_| is_decimal(s.as_bytes()));
            let fast = exact_decimal(s.as_bytes());
            if let Some(v) = fast {
                proptest::prop_assert_eq!(Some(v.to_bits()), general.map(f64::to_bits), "{}", s);
            }
        }
    }

    #[test]
    fn ints_and_millis() {
        assert_eq!(parse_int(b"123123"), Ok(123123));
        assert!(parse_int(b"99999999999999999999").is_err());
        assert_eq!(seconds_to_millis(1520879607.789), 1520879607789);
        assert_eq!(seconds_to_millis(123.123), 123123);
        assert_eq!(seconds_to_millis(-1.5), -1500);
        assert_eq!(seconds_to_millis(1e300), i64::MIN);
    }
}
