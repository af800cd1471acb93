//! Log output in Prometheus's two styles, from `log` records with key-value
//! pairs.
//!
//! Every log line is one event written as
//! `log::warn!(job = job, target = url, err:% = e; "Scrape failed")`: a
//! fixed message and the facts as pairs, never formatted into the message.
//! [`init`] installs a logger that writes each record to stderr as
//!
//! ```text
//! logfmt: ts=2024-05-01T10:00:00.000Z level=warn caller=scrape/scrape_loop.rs:812 msg="Scrape failed" job=node target=http://a:9100/metrics err="Get \"http://a:9100/metrics\": connection refused"
//! json:   {"ts":"2024-05-01T10:00:00.000Z","level":"warn","caller":"scrape/scrape_loop.rs:812","msg":"Scrape failed","job":"node",...}
//! ```
//!
//! logfmt values are quoted when they hold a space, `=`, `"`, a control
//! character or nothing, with `\"`, `\\`, `\n`, `\r`, `\t` and `\u00XX`
//! escapes, as go-logfmt writes them; keys lose such characters to `_`.
//! JSON has one field per pair after `ts`, `level`, `caller` and `msg`;
//! integers, floats and booleans captured as such stay JSON numbers and
//! booleans, everything else is a string. Fields come in that order; a
//! pair named like a fixed field would repeat it (JSON readers keep the
//! last), so no log line here uses those names as keys.

use std::fmt::Write as _;
use std::io::Write as _;

use log::kv::{self, Key, Value, VisitSource};

use crate::cli::{LogFormat, LogLevel};

/// Sends `log` records to stderr in `format` at `level` and above, and
/// panic messages too (as errors with the thread and where it panicked).
/// Call once, before any thread logs; a second call keeps the first logger.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = level_filter(level);
    if log::set_boxed_logger(Box::new(StderrLogger { filter, format })).is_ok() {
        log::set_max_level(filter);
        // The hook's argument type is named differently before Rust 1.81.
        std::panic::set_hook(Box::new(|info| log_panic(info.payload(), info.location())));
    }
}

/// Writes each record as one line to stderr, stamped with the wall clock
/// in UTC to the millisecond.
struct StderrLogger {
    filter: log::LevelFilter,
    format: LogFormat,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.filter
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = format_record(self.format, &utc_millis_now(), record);
        line.push('\n');
        // One write per line, so lines of concurrent threads never mix;
        // a closed stderr has nowhere to report to.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// The wall clock as `2006-01-02T15:04:05.000Z` (a clock before 1970 or
/// after 9999 shows the epoch).
fn utc_millis_now() -> String {
    match jiff::Timestamp::try_from(std::time::SystemTime::now()) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// The panic hook: one error line instead of the default free text.
fn log_panic(payload: &(dyn std::any::Any + Send), location: Option<&std::panic::Location<'_>>) {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let thread = std::thread::current();
    let location = location.map(ToString::to_string).unwrap_or_default();
    log::error!(
        thread = thread.name().unwrap_or("unnamed"),
        location = location.as_str(),
        panic = message;
        "Thread panicked"
    );
}

/// One record as a line (without the newline) in `format`, stamped `ts`.
pub fn format_record(format: LogFormat, ts: &str, record: &log::Record<'_>) -> String {
    let level = level_name(record.level());
    let caller = caller(record);
    let msg = record.args().to_string();
    match format {
        LogFormat::Logfmt => {
            let mut line = String::with_capacity(128);
            for (key, value) in [("ts", ts), ("level", level), ("caller", &caller)] {
                push_logfmt_pair(&mut line, key, value);
            }
            push_logfmt_pair(&mut line, "msg", &msg);
            let _ = record.key_values().visit(&mut LogfmtPairs(&mut line));
            line
        }
        LogFormat::Json => {
            let mut line = String::with_capacity(160);
            line.push('{');
            for (key, value) in [
                ("ts", ts),
                ("level", level),
                ("caller", &caller),
                ("msg", &msg),
            ] {
                push_json_pair(&mut line, key, &value.into());
            }
            let _ = record.key_values().visit(&mut JsonPairs(&mut line));
            line.push('}');
            line
        }
    }
}

/// Appends `"key":value`, after a comma unless it is the first pair.
fn push_json_pair(line: &mut String, key: &str, value: &serde_json::Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    line.push_str(&serde_json::Value::from(key).to_string());
    line.push(':');
    line.push_str(&value.to_string());
}

/// `--log.level` as a `log` filter.
fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Error => log::LevelFilter::Error,
    }
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "error",
        log::Level::Warn => "warn",
        log::Level::Info => "info",
        log::Level::Debug | log::Level::Trace => "debug",
    }
}

/// `scrape/scrape_loop.rs:812` for this crate's records (the file under
/// `src/`, as Prometheus's `caller=scrape.go:1400`); the module path for
/// records of other crates, whose file paths are long and say less.
fn caller(record: &log::Record<'_>) -> String {
    match (record.file(), record.line()) {
        (Some(file), Some(line)) if file.starts_with("src/") => {
            format!("{}:{line}", &file["src/".len()..])
        }
        _ => record.target().to_string(),
    }
}

/// Appends ` key=value` (no leading space for the first pair).
fn push_logfmt_pair(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    line.extend(key.chars().map(|c| if needs_quotes(c) { '_' } else { c }));
    line.push('=');
    push_logfmt_value(line, value);
}

/// Characters that force a logfmt value into quotes (go-logfmt's
/// `needsQuotedValueRune`).
fn needs_quotes(c: char) -> bool {
    c <= ' ' || c == '=' || c == '"' || c == '\u{7f}' || c == char::REPLACEMENT_CHARACTER
}

/// Appends `value`, quoted and escaped when it needs it.
pub fn push_logfmt_value(line: &mut String, value: &str) {
    if !value.is_empty() && !value.chars().any(needs_quotes) {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c < ' ' || c == '\u{7f}' => {
                let _ = write!(line, "\\u{:04x}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

struct LogfmtPairs<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for LogfmtPairs<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        push_logfmt_pair(self.0, key.as_str(), &value.to_string());
        Ok(())
    }
}

struct JsonPairs<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for JsonPairs<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        push_json_pair(self.0, key.as_str(), &json_value(&value));
        Ok(())
    }
}

/// Numbers and booleans captured as such stay numbers and booleans.
fn json_value(value: &Value<'_>) -> serde_json::Value {
    if let Some(b) = value.to_bool() {
        return b.into();
    }
    if let Some(i) = value.to_i64() {
        return i.into();
    }
    if let Some(u) = value.to_u64() {
        return u.into();
    }
    if let Some(f) = value.to_f64().and_then(serde_json::Number::from_f64) {
        return f.into();
    }
    value.to_string().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats one record made by `log`'s own macros machinery.
    fn line(format: LogFormat, kvs: &[(&str, Value<'_>)], msg: &str) -> String {
        let kvs: Vec<(&str, Value<'_>)> = kvs.to_vec();
        format_record(
            format,
            "2024-05-01T10:00:00.000Z",
            &log::Record::builder()
                .level(log::Level::Warn)
                .target("edgescrape::scrape::scrape_loop")
                .file(Some("src/scrape/scrape_loop.rs"))
                .line(Some(812))
                .args(format_args!("{msg}"))
                .key_values(&kvs)
                .build(),
        )
    }

    #[track_caller]
    fn quoted(value: &str, want: &str) {
        let mut out = String::new();
        push_logfmt_value(&mut out, value);
        assert_eq!(out, want, "{value:?}");
    }

    #[test]
    fn logfmt_quotes_and_escapes_as_go_logfmt() {
        quoted("ready", "ready");
        quoted("http://a:9100/metrics?x=1", "\"http://a:9100/metrics?x=1\"");
        quoted("two words", "\"two words\"");
        quoted("", "\"\"");
        quoted(
            "Get \"http://a/\": refused",
            "\"Get \\\"http://a/\\\": refused\"",
        );
        quoted("back\\slash", "back\\slash");
        quoted("a\\ b", "\"a\\\\ b\"");
        quoted("line\nbreak\ttab\r", "\"line\\nbreak\\ttab\\r\"");
        quoted("bell\u{7}del\u{7f}", "\"bell\\u0007del\\u007f\"");
        quoted("ünïcödé", "ünïcödé");
    }

    #[test]
    fn logfmt_line_has_fixed_fields_then_pairs() {
        let err = "Get \"http://a:1/metrics\": connection refused";
        let got = line(
            LogFormat::Logfmt,
            &[
                ("job", Value::from("node")),
                ("target", Value::from("http://a:1/metrics")),
                ("err", Value::from(err)),
                ("samples", Value::from(12u64)),
                ("bad key", Value::from("x")),
            ],
            "Scrape failed",
        );
        assert_eq!(
            got,
            "ts=2024-05-01T10:00:00.000Z level=warn caller=scrape/scrape_loop.rs:812 \
             msg=\"Scrape failed\" job=node target=http://a:1/metrics \
             err=\"Get \\\"http://a:1/metrics\\\": connection refused\" samples=12 bad_key=x"
        );
    }

    #[test]
    fn json_line_has_real_fields() {
        let got = line(
            LogFormat::Json,
            &[
                ("job", Value::from("node")),
                ("target", Value::from("http://a:1/metrics")),
                ("err", Value::from("say \"hi\"\n")),
                ("samples", Value::from(12u64)),
                ("offset", Value::from(-3i64)),
                ("ratio", Value::from(0.5f64)),
                ("ok", Value::from(true)),
            ],
            "Scrape failed",
        );
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["ts"], "2024-05-01T10:00:00.000Z");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["caller"], "scrape/scrape_loop.rs:812");
        assert_eq!(v["msg"], "Scrape failed");
        assert_eq!(v["job"], "node");
        assert_eq!(v["target"], "http://a:1/metrics");
        assert_eq!(v["err"], "say \"hi\"\n");
        assert_eq!(v["samples"], 12);
        assert_eq!(v["offset"], -3);
        assert_eq!(v["ratio"], 0.5);
        assert_eq!(v["ok"], true);
        assert!(
            got.starts_with(
                "{\"ts\":\"2024-05-01T10:00:00.000Z\",\"level\":\"warn\",\
                 \"caller\":\"scrape/scrape_loop.rs:812\",\"msg\":\"Scrape failed\",\"job\":\"node\","
            ),
            "{got}"
        );
        assert_eq!(v.as_object().unwrap().len(), 11, "{got}");
    }

    #[test]
    fn other_crates_are_named_by_module() {
        let line = format_record(
            LogFormat::Logfmt,
            "T",
            &log::Record::builder()
                .level(log::Level::Debug)
                .target("ureq::unit")
                .file(Some("/home/u/.cargo/registry/src/ureq-2.12.1/src/unit.rs"))
                .line(Some(9))
                .args(format_args!("sending request"))
                .build(),
        );
        assert_eq!(
            line,
            "ts=T level=debug caller=ureq::unit msg=\"sending request\""
        );
    }
}
