//! `/graph`: an expression box, a range picker, a chart of the range query
//! with its legend (hover a point for its value), and a table of the
//! instant query at the end of the range. Everything is in the URL
//! (`/graph?expr=...&range=1h&tab=table`), so a view can be bookmarked or
//! shared, and the page needs no script: the chart is SVG rendered here.

use std::fmt::Write;

use crate::config::Duration as PromDuration;
use crate::labels::Labels;
use crate::promql::{self, Limits, Value};
use crate::web::chart::{self, Span, PALETTE};
use crate::web::format::{api_value, parse_api_time};
use crate::web::layout::{self, labels_html};
use crate::web::page::escape;
use crate::web::views::SeriesView;

/// The ranges offered, from five minutes to the default retention.
pub const RANGES: [&str; 12] = [
    "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1d", "2d", "1w", "2w", "15d",
];

/// Points per series the chart asks for (Prometheus's UI uses 250).
const RESOLUTION: i64 = 250;

/// What the URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphParams {
    /// The PromQL expression; empty shows the form only.
    pub expr: String,
    /// The range, one of [`RANGES`] or any Prometheus duration.
    pub range: String,
    /// The end of the range (API time syntax); empty is now.
    pub end: String,
    /// `graph` or `table`.
    pub tab: String,
}

impl GraphParams {
    /// Reads `expr`, `range`, `end` and `tab`, with defaults.
    pub fn from_form<'a>(get: &dyn Fn(&str) -> Option<&'a str>) -> GraphParams {
        let value = |k: &str, default: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
                .to_string()
        };
        GraphParams {
            expr: value("expr", ""),
            range: value("range", "5m"),
            end: value("end", ""),
            tab: value("tab", "graph"),
        }
    }
}

/// Renders the page; `now_ms` is the end when the URL gives none.
pub fn render(
    app_name: &str,
    series: &dyn SeriesView,
    limits: &Limits,
    params: &GraphParams,
    now_ms: i64,
) -> String {
    let mut out = String::with_capacity(16 * 1024);
    form(&mut out, params);
    if !params.expr.trim().is_empty() {
        match evaluate(series, limits, params, now_ms) {
            Ok(html) => out.push_str(&html),
            Err(msg) => {
                let _ = write!(
                    out,
                    "<div class=\"box bad\" id=\"query-error\">{}</div>",
                    escape(&msg)
                );
            }
        }
    }
    layout::render(app_name, "graph", "/graph", &out)
}

fn form(out: &mut String, p: &GraphParams) {
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/graph\" id=\"graph-form\"><textarea name=\"expr\" rows=\"2\" \
         placeholder=\"rate(node_cpu_seconds_total[5m])\">{}</textarea>\
         <div class=\"filters\"><label>Range <select name=\"range\">",
        escape(&p.expr)
    );
    let mut ranges: Vec<&str> = RANGES.to_vec();
    if !ranges.contains(&p.range.as_str()) {
        ranges.insert(0, &p.range);
    }
    for r in ranges {
        let selected = if r == p.range { " selected" } else { "" };
        let _ = write!(out, "<option{selected}>{}</option>", escape(r));
    }
    let _ = write!(
        out,
        "</select></label> <label>End <input type=\"text\" name=\"end\" value=\"{}\" placeholder=\"now\" style=\"width:14em\"></label> \
         <button type=\"submit\" name=\"tab\" value=\"graph\">Graph</button> \
         <button type=\"submit\" name=\"tab\" value=\"table\">Table</button></div></form>",
        escape(&p.end)
    );
}

fn evaluate(
    series: &dyn SeriesView,
    limits: &Limits,
    p: &GraphParams,
    now_ms: i64,
) -> Result<String, String> {
    let range = PromDuration::parse(&p.range).map_err(|e| format!("range {:?}: {e}", p.range))?;
    let range_ms = i64::try_from(range.0.as_millis())
        .unwrap_or(i64::MAX)
        .max(1_000);
    let end_ms = if p.end.is_empty() {
        now_ms
    } else {
        parse_api_time(&p.end)
            .ok_or_else(|| format!("end {:?}: not a Unix time or RFC 3339 time", p.end))?
    };
    let select = |m: &[_], mint, maxt| series.range(m, mint, maxt);
    if p.tab == "table" {
        let value =
            promql::instant_query(&p.expr, end_ms, limits, &select).map_err(|e| e.to_string())?;
        return Ok(table(&value));
    }
    let step_ms = ((range_ms / RESOLUTION + 999) / 1000 * 1000).max(1000);
    let start_ms = end_ms - range_ms;
    let matrix = promql::range_query(&p.expr, start_ms, end_ms, step_ms, limits, &select)
        .map_err(|e| e.to_string())?;
    if matrix.is_empty() {
        return Ok("<p class=\"muted\" id=\"no-data\">Empty query result.</p>".to_string());
    }
    let names: Vec<String> = matrix.iter().map(|(l, _)| series_name(l)).collect();
    let span = Span {
        start_ms,
        end_ms,
        step_ms,
    };
    let mut out = chart::svg(&matrix, &names, span);
    out.push_str("<ul class=\"legend\" id=\"legend\">");
    for (i, (labels, _)) in matrix.iter().enumerate() {
        let _ = write!(
            out,
            "<li class=\"series\"><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            PALETTE[i % PALETTE.len()],
            if labels.is_empty() {
                "<span class=\"muted\">{}</span>".to_string()
            } else {
                labels_html(labels)
            }
        );
    }
    out.push_str("</ul>");
    Ok(out)
}

/// `name{a="b"}` as Prometheus's UI names a series.
fn series_name(labels: &Labels) -> String {
    let mut out = labels.metric_name().unwrap_or("").to_string();
    let rest: Vec<String> = labels
        .iter()
        .filter(|l| l.name != crate::labels::METRIC_NAME)
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    let _ = write!(out, "{{{}}}", rest.join(", "));
    out
}

fn table(value: &Value) -> String {
    let mut out = String::from(
        "<table id=\"result-table\"><thead><tr><th>Series</th><th>Value</th></tr></thead><tbody>",
    );
    let mut row = |labels: &str, value: &str| {
        let _ = write!(
            out,
            "<tr class=\"result\"><td>{labels}</td><td class=\"value\">{}</td></tr>",
            escape(value)
        );
    };
    match value {
        Value::Scalar(v) => row("<span class=\"muted\">scalar</span>", &api_value(*v)),
        Value::Vector(v) => {
            for (labels, v) in v {
                row(&labels_html(labels), &api_value(*v));
            }
        }
        Value::Matrix(m) => {
            for (labels, points) in m {
                let values: Vec<String> = points
                    .iter()
                    .map(|&(t, v)| {
                        format!("{} @{}", api_value(v), crate::web::format::api_timestamp(t))
                    })
                    .collect();
                row(&labels_html(labels), &values.join("\n"));
            }
        }
    }
    out.push_str("</tbody></table>");
    if out.matches("<tr class=\"result\">").count() == 0 {
        return "<p class=\"muted\" id=\"no-data\">Empty query result.</p>".to_string();
    }
    out
}
