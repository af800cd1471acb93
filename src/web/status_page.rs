//! `/status`: is data getting out, how much room is left, and how is the
//! process doing. Server-rendered, no script.
//!
//! A queue is "stopped", "retrying since ..." when its sends fail with no
//! success since, else "shipping". Its oldest unsent sample is the oldest
//! sample in the WAL segment holding its position (never newer than the
//! true one); where the storage does not report it, the newest sent sample
//! stands in. Its unsent bytes are the WAL bytes from its position on.
//! Time until the WAL's size bound drops unsent data is the room between
//! the bound and the largest queue's unsent bytes (or, unreported, the WAL
//! size) divided by the WAL write rate over the last minute (the average
//! since start until that is measured); for the time bound, the retention
//! time minus the age of the oldest unsent sample. Process figures come
//! from `/proc/self` (Linux).

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::web::layout;
use crate::web::page::escape;
use crate::web::views::{QueueStatus, StatusReport, WalStatus};

/// Renders the page for `report` at `now`.
pub fn render(app_name: &str, report: &StatusReport, now: SystemTime) -> String {
    let now_ms = ms_since_epoch(now);
    let process = ProcFigures::read();
    let mut out = String::with_capacity(4096);
    out.push_str("<h2>Remote write</h2>");
    if report.queues.is_empty() {
        out.push_str("<p class=\"muted\" id=\"no-queues\">No remote_write queues configured: samples stay on this box.</p>");
    } else {
        out.push_str("<table id=\"queues\"><thead><tr><th>Queue</th><th>State</th><th>Pending</th><th>Unsent in WAL</th><th>Oldest unsent</th><th>Sent / retried / failed / dropped</th><th>Last error</th></tr></thead><tbody>");
        for q in &report.queues {
            queue_row(&mut out, q, now, now_ms);
        }
        out.push_str("</tbody></table>");
    }
    wal_section(
        &mut out,
        &report.wal,
        &report.queues,
        process.uptime,
        now_ms,
    );
    let p = &report.process;
    out.push_str("<h2>Process</h2><dl class=\"facts\" id=\"process\">");
    let reload = format!(
        "{} (last success {})",
        if p.last_reload_successful {
            "successful"
        } else {
            "FAILED"
        },
        ago(now, p.last_reload_success)
    );
    for (name, value) in [
        ("Version", p.version.clone()),
        (
            "Uptime",
            process.uptime.map_or("unknown".into(), human_duration),
        ),
        (
            "Resident memory",
            process.rss_bytes.map_or("unknown".into(), human_bytes),
        ),
        (
            "CPU time",
            process
                .cpu
                .map_or("unknown".into(), |d| format!("{:.2}s", d.as_secs_f64())),
        ),
        ("Config file", p.config_file.clone()),
        ("Last config reload", reload),
    ] {
        let _ = write!(out, "<dt>{name}</dt><dd>{}</dd>", escape(&value));
    }
    out.push_str("</dl>");
    layout::render(app_name, "status", "/status", &out)
}

fn queue_row(out: &mut String, q: &QueueStatus, now: SystemTime, now_ms: i64) {
    let behind = match (q.newest_read_ms, q.newest_sent_ms) {
        (Some(read), Some(sent)) if read > sent => {
            Some(Duration::from_millis((read - sent) as u64))
        }
        (Some(_), None) => None,
        _ => Some(Duration::ZERO),
    };
    let state = if q.stopped {
        "stopped".to_string()
    } else if let Some(since) = q.retrying_since {
        format!("retrying since {}", ago(now, since))
    } else {
        "shipping".to_string()
    };
    let oldest = q.oldest_unsent_ms.or(q.newest_sent_ms);
    let oldest_unsent = match (q.samples_pending, oldest, behind) {
        (0, _, Some(d)) if d.is_zero() => "none".to_string(),
        (_, Some(t), _) => human_duration(Duration::from_millis((now_ms - t).max(0) as u64)),
        _ => "nothing sent yet".to_string(),
    };
    let _ = write!(
        out,
        "<tr class=\"queue\" data-queue=\"{name}\"><td>{name}<br><span class=\"muted\">{url}</span></td>\
         <td class=\"state\">{state}</td><td class=\"pending\">{pending}</td><td class=\"bytes-unsent\">{unsent}</td><td class=\"oldest-unsent\">{oldest_unsent}</td>\
         <td>{sent} / {retried} / {failed} / {dropped}</td><td class=\"error\">{error}</td></tr>",
        name = escape(&q.name),
        url = escape(&q.url),
        state = escape(&state),
        pending = q.samples_pending,
        unsent = q.bytes_unsent.map_or("not reported".to_string(), human_bytes),
        sent = q.samples_sent,
        retried = q.samples_retried,
        failed = q.samples_failed,
        dropped = q.samples_dropped,
        error = match q.last_error.as_deref() {
            None => "not reported".to_string(),
            Some("") => "–".to_string(),
            Some(e) => escape(e),
        },
    );
}

fn wal_section(
    out: &mut String,
    wal: &WalStatus,
    queues: &[QueueStatus],
    uptime: Option<Duration>,
    now_ms: i64,
) {
    out.push_str("<h2>Write-ahead log</h2><dl class=\"facts\" id=\"wal\">");
    let size = match wal.retention_bytes {
        Some(bound) => {
            let pct = (wal.bytes as f64 / bound.max(1) as f64 * 100.0).min(100.0);
            format!(
                "{} of {} <span class=\"bar\"><span style=\"width:{pct:.0}%\"></span></span> {pct:.0}%",
                human_bytes(wal.bytes),
                human_bytes(bound)
            )
        }
        None => format!("{} (no size bound)", human_bytes(wal.bytes)),
    };
    let _ = write!(out, "<dt>On disk</dt><dd id=\"wal-size\">{size}</dd>");
    let _ = write!(
        out,
        "<dt>Until the bound drops unsent data</dt><dd id=\"until-drops\">{}</dd>",
        escape(&until_drops(wal, queues, uptime, now_ms))
    );
    let time = |ms: Option<i64>| {
        ms.map_or("not reported".to_string(), |t| {
            format!(
                "{} ago",
                human_duration(Duration::from_millis((now_ms - t).max(0) as u64))
            )
        })
    };
    for (name, value) in [
        ("Folder", wal.dir.clone()),
        ("Segments", wal.segments.to_string()),
        ("Series", wal.series.to_string()),
        ("Oldest data", time(wal.oldest_ms)),
        ("Newest data", time(wal.newest_ms)),
        (
            "Retention time",
            wal.retention_time.map_or("none".into(), human_duration),
        ),
    ] {
        let _ = write!(out, "<dt>{name}</dt><dd>{}</dd>", escape(&value));
    }
    out.push_str("</dl>");
}

/// How long until a retention bound deletes data some queue has not sent.
fn until_drops(
    wal: &WalStatus,
    queues: &[QueueStatus],
    uptime: Option<Duration>,
    now_ms: i64,
) -> String {
    let behind: Vec<&QueueStatus> = queues
        .iter()
        .filter(|q| q.samples_pending > 0 || q.newest_read_ms > q.newest_sent_ms)
        .collect();
    let oldest_unsent = behind
        .iter()
        .filter_map(|q| q.oldest_unsent_ms.or(q.newest_sent_ms))
        .min();
    let Some(oldest_unsent) = oldest_unsent else {
        return "no unsent data".to_string();
    };
    let mut bounds = Vec::new();
    let average = uptime.map(|up| wal.bytes_written_total as f64 / up.as_secs_f64().max(1.0));
    if let (Some(bound), Some(rate)) = (wal.retention_bytes, wal.recent_write_rate.or(average)) {
        let unsent = behind
            .iter()
            .map(|q| q.bytes_unsent.unwrap_or(wal.bytes))
            .max()
            .unwrap_or(wal.bytes);
        if rate > 0.0 {
            let secs = bound.saturating_sub(unsent) as f64 / rate;
            bounds.push(format!(
                "size bound in about {}",
                human_duration(Duration::from_secs_f64(secs))
            ));
        }
    }
    if let Some(keep) = wal.retention_time {
        let age = Duration::from_millis((now_ms - oldest_unsent).max(0) as u64);
        bounds.push(format!(
            "time bound in {}",
            human_duration(keep.saturating_sub(age))
        ));
    }
    if bounds.is_empty() {
        "no bound set".to_string()
    } else {
        bounds.join("; ")
    }
}

/// CPU, memory and uptime of this process from `/proc`.
#[derive(Debug, Default)]
struct ProcFigures {
    uptime: Option<Duration>,
    rss_bytes: Option<u64>,
    cpu: Option<Duration>,
}

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

impl ProcFigures {
    fn read() -> ProcFigures {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name, which may hold spaces: state is 3rd.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
        let cpu = field(14)
            .zip(field(15))
            .map(|(u, s)| Duration::from_secs_f64((u + s) / TICKS));
        let boot_uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok());
        let uptime = boot_uptime
            .zip(field(22))
            .map(|(up, start)| Duration::from_secs_f64((up - start / TICKS).max(0.0)));
        let rss_bytes = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
                let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kb * 1024)
            });
        ProcFigures {
            uptime,
            rss_bytes,
            cpu,
        }
    }
}

fn ms_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn ago(now: SystemTime, then: SystemTime) -> String {
    match now.duration_since(then) {
        Ok(d) => format!("{} ago", human_duration(d)),
        Err(_) => "just now".to_string(),
    }
}

/// `3d 4h`, `2h 5m`, `4m 10s`, `12s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `512 B`, `1.5 KiB`, `3.0 MiB`.
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::views::{ProcessStatus, QueueStatus};

    #[test]
    fn figures_read_well_and_markup_is_escaped() {
        assert_eq!(human_duration(Duration::from_secs(250)), "4m 10s");
        assert_eq!(human_duration(Duration::from_secs(90_000)), "1d 1h");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_bytes(512), "512 B");
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let report = StatusReport {
            queues: vec![QueueStatus {
                name: "<q>".to_string(),
                samples_pending: 5,
                newest_read_ms: Some(999_999_000),
                newest_sent_ms: Some(999_940_000),
                last_error: Some("<b>503</b>".to_string()),
                ..QueueStatus::default()
            }],
            wal: WalStatus {
                bytes: 1 << 20,
                bytes_written_total: 1 << 20,
                retention_bytes: Some(4 << 20),
                retention_time: Some(Duration::from_secs(3600)),
                ..WalStatus::default()
            },
            process: ProcessStatus::default(),
        };
        let html = render("edgescrape", &report, now);
        assert!(
            html.contains("&lt;b&gt;503&lt;/b&gt;") && !html.contains("<b>"),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"oldest-unsent\">1m 0s</td>"),
            "{html}"
        );
        assert!(html.contains("time bound in 59m 0s"), "{html}");
        assert!(html.contains("1.0 MiB of 4.0 MiB"), "{html}");
    }

    #[test]
    fn drops_follow_the_unsent_bytes_and_the_recent_rate() {
        let queue = QueueStatus {
            samples_pending: 5,
            oldest_unsent_ms: Some(999_000_000),
            bytes_unsent: Some(3 << 20),
            ..QueueStatus::default()
        };
        let wal = WalStatus {
            bytes: 4 << 20,
            bytes_written_total: 100 << 20,
            retention_bytes: Some(5 << 20),
            retention_time: Some(Duration::from_secs(3600)),
            recent_write_rate: Some(1024.0 * 1024.0 / 60.0),
            ..WalStatus::default()
        };
        // 2 MiB of room above the unsent 3 MiB at 1 MiB a minute; the
        // oldest unsent sample is 1000 s old.
        assert_eq!(
            until_drops(&wal, &[queue], None, 1_000_000_000),
            "size bound in about 2m 0s; time bound in 43m 20s"
        );
    }
}
