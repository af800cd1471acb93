//! `/`: the targets page. Plain server-rendered HTML and inline SVG, no
//! script: one section per scrape pool, one row per target with its health,
//! when it was last scraped, how long that took, the error, its labels and a
//! sparkline of its recent scrape durations. A form filters by job and
//! health (`/?job=node&health=down`); each pool links to its service
//! discovery and each target to a graph of its `up`.
//!
//! Every string that comes from a config, a target or a scrape is escaped;
//! label values are user input and may hold markup.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::web::api::active_by_pool;
use crate::web::layout::{self, labels_html, url_encode};
use crate::web::views::{DroppedTargetInfo, Health, TargetInfo};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `3.2s ago`, `4m 10s ago`, `never`.
fn relative(now: SystemTime, then: SystemTime) -> String {
    if then == SystemTime::UNIX_EPOCH {
        return "never".to_string();
    }
    let Ok(ago) = now.duration_since(then) else {
        return "just now".to_string();
    };
    let secs = ago.as_secs();
    if secs < 60 {
        format!("{:.1}s ago", ago.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {}s ago", secs / 60, secs % 60)
    } else {
        format!("{}h {}m ago", secs / 3600, secs % 3600 / 60)
    }
}

/// `1.234s`, `12.3ms`, `850µs`.
fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.3}s")
    } else if s >= 0.001 {
        format!("{:.1}ms", s * 1e3)
    } else {
        format!("{:.0}µs", s * 1e6)
    }
}

const SPARK_W: f64 = 120.0;
const SPARK_H: f64 = 24.0;

/// An inline SVG polyline of `values` (seconds), scaled to the largest one.
fn sparkline(values: &[f64]) -> String {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if values.len() < 2 {
        return String::from("<span class=\"muted\">–</span>");
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let step = SPARK_W / (values.len() - 1) as f64;
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        let x = i as f64 * step;
        let y = SPARK_H - 1.0 - (v / max) * (SPARK_H - 2.0);
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    format!(
        "<svg class=\"spark\" width=\"{SPARK_W}\" height=\"{SPARK_H}\" viewBox=\"0 0 {SPARK_W} {SPARK_H}\" role=\"img\"><title>last {} scrapes, max {}</title><polyline fill=\"none\" stroke=\"#3b6fb6\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        values.len(),
        escape(&duration(Duration::from_secs_f64(max))),
        points.trim_end()
    )
}

/// Which targets the page shows (`job=` and `health=`); empty shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageFilter {
    /// Only this scrape pool.
    pub job: String,
    /// Only targets with this health (`up`, `down`, `unknown`).
    pub health: String,
}

impl PageFilter {
    fn keeps(&self, t: &TargetInfo) -> bool {
        (self.job.is_empty() || self.job == t.scrape_pool)
            && (self.health.is_empty() || self.health == t.health.as_str())
    }
}

fn filter_form(out: &mut String, pools: &[&String], filter: &PageFilter) {
    out.push_str("<form class=\"filters\" method=\"get\" action=\"/\"><label>Job <select name=\"job\"><option value=\"\">all</option>");
    for pool in pools {
        let selected = if **pool == filter.job {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{selected}>{}</option>", escape(pool));
    }
    out.push_str(
        "</select></label><label>Health <select name=\"health\"><option value=\"\">all</option>",
    );
    for h in ["up", "down", "unknown"] {
        let selected = if h == filter.health { " selected" } else { "" };
        let _ = write!(out, "<option{selected}>{h}</option>");
    }
    out.push_str("</select></label><button type=\"submit\">Filter</button></form>");
}

/// Renders the whole page.
pub fn render(
    active: Vec<TargetInfo>,
    dropped: &[DroppedTargetInfo],
    now: SystemTime,
    app_name: &str,
    filter: &PageFilter,
) -> String {
    let mut dropped_per_pool: BTreeMap<&str, usize> = BTreeMap::new();
    for d in dropped {
        *dropped_per_pool.entry(d.scrape_pool.as_str()).or_default() += 1;
    }
    let pools = active_by_pool(active);
    let mut out = String::with_capacity(4096 + 1024 * pools.values().map(Vec::len).sum::<usize>());
    filter_form(&mut out, &pools.keys().collect::<Vec<_>>(), filter);
    let pools: BTreeMap<String, Vec<TargetInfo>> = pools
        .into_iter()
        .map(|(pool, targets)| {
            (
                pool,
                targets
                    .into_iter()
                    .filter(|t| filter.keeps(t))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, targets)| !targets.is_empty())
        .collect();
    if pools.is_empty() {
        out.push_str("<p class=\"muted\" id=\"no-targets\">No targets.</p>");
    }
    for (pool, targets) in &pools {
        let up = targets.iter().filter(|t| t.health == Health::Up).count();
        let _ = write!(
            out,
            "<section class=\"pool\" data-pool=\"{p}\"><h2>{p} <span class=\"muted\">({up}/{n} up",
            p = escape(pool),
            n = targets.len()
        );
        if let Some(d) = dropped_per_pool.get(pool.as_str()) {
            let _ = write!(out, ", {d} dropped");
        }
        let _ = write!(
            out,
            ")</span> <a class=\"muted\" href=\"/service-discovery#pool-{}\">service discovery</a></h2>\
             <table class=\"targets\"><thead><tr><th>Endpoint</th><th>State</th><th>Labels</th><th>Last scrape</th><th>Duration</th><th>Recent durations</th><th>Error</th></tr></thead><tbody>",
            escape(&url_encode(pool))
        );
        for t in targets {
            target_row(&mut out, t, now);
        }
        out.push_str("</tbody></table></section>");
    }
    layout::render(app_name, "targets", "/", &out)
}

fn target_row(out: &mut String, t: &TargetInfo, now: SystemTime) {
    let url = escape(&t.scrape_url);
    let health = t.health.as_str();
    let up = format!(
        "up{{job={:?},instance={:?}}}",
        t.scrape_pool,
        t.labels.get("instance").unwrap_or_default()
    );
    let _ = write!(
        out,
        "<tr class=\"target\" data-pool=\"{pool}\" data-url=\"{url}\" data-health=\"{health}\">\
         <td class=\"endpoint\"><a href=\"{url}\">{url}</a> <a class=\"muted\" href=\"/graph?expr={graph}\">graph</a></td>\
         <td><span class=\"health {health}\">{upper}</span></td><td class=\"labels\">{labels}",
        pool = escape(&t.scrape_pool),
        upper = health.to_ascii_uppercase(),
        graph = escape(&url_encode(&up)),
        labels = labels_html(&t.labels),
    );
    let _ = write!(
        out,
        "</td><td class=\"last-scrape\">{}</td><td class=\"duration\">{}</td><td>{}</td><td class=\"error\">{}</td></tr>",
        relative(now, t.last_scrape),
        if t.last_scrape == SystemTime::UNIX_EPOCH {
            "–".to_string()
        } else {
            duration(t.last_scrape_duration)
        },
        sparkline(&t.recent_durations),
        escape(&t.last_error),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    #[test]
    fn markup_in_labels_and_errors_is_escaped() {
        let t = TargetInfo {
            scrape_pool: "<b>job</b>".to_string(),
            scrape_url: "http://h:1/m?a=1&b=\"2\"".to_string(),
            discovered_labels: Labels::empty(),
            labels: Labels::from_pairs([("x", "<script>alert(1)</script>")]),
            health: Health::Down,
            last_error: "<img src=x onerror=alert(1)>".to_string(),
            last_scrape: SystemTime::UNIX_EPOCH + Duration::from_secs(100),
            last_scrape_duration: Duration::from_millis(12),
            scrape_interval: "15s".to_string(),
            scrape_timeout: "10s".to_string(),
            recent_durations: vec![0.01, 0.02, 0.012],
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(103);
        let html = render(vec![t], &[], now, "edgescrape", &PageFilter::default());
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("data-url=\"http://h:1/m?a=1&amp;b=&quot;2&quot;\""));
        assert!(html.contains("3.0s ago"));
        assert!(html.contains("12.0ms"));
        assert!(html.contains("<polyline"));
    }

    #[test]
    fn relative_times_and_durations_read_well() {
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(relative(base, SystemTime::UNIX_EPOCH), "never");
        assert_eq!(
            relative(base, base - Duration::from_secs(250)),
            "4m 10s ago"
        );
        assert_eq!(
            relative(base, base - Duration::from_secs(7300)),
            "2h 1m ago"
        );
        assert_eq!(relative(base, base + Duration::from_secs(1)), "just now");
        assert_eq!(duration(Duration::from_micros(850)), "850µs");
        assert_eq!(duration(Duration::from_millis(1234)), "1.234s");
        assert_eq!(sparkline(&[0.1]), "<span class=\"muted\">–</span>");
    }
}
