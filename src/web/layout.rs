//! The frame every HTML page shares: one stylesheet, a navigation bar
//! linking every page, and the page's own body. Pages are server-rendered
//! and work without JavaScript; the stylesheet is the only embedded asset.

use std::fmt::Write;

use crate::web::page::escape;

/// The content type of every page.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The pages in the navigation bar: path and name.
pub const PAGES: [(&str, &str); 5] = [
    ("/", "Targets"),
    ("/graph", "Graph"),
    ("/status", "Status"),
    ("/service-discovery", "Service discovery"),
    ("/relabel-debug", "Relabel debug"),
];

/// The one stylesheet, embedded in every page.
const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}\
main{margin:1em 1.5em}nav{background:#263238;padding:.5em 1.5em}\
nav a{color:#cfd8dc;text-decoration:none;margin-right:1.2em}nav a.current{color:#fff;font-weight:600}\
nav .app{color:#fff;font-weight:700;margin-right:2em}\
h1{font-size:1.4em;margin:0 0 .5em}h2{font-size:1.1em;margin:1.5em 0 .4em}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e3e3;vertical-align:top}\
th{background:#f5f5f5;font-weight:600}.health{font-weight:600;border-radius:3px;padding:.1em .45em;color:#fff}\
.up{background:#2e8540}.down{background:#c0392b}.unknown{background:#888}\
.label{display:inline-block;background:#eef2f7;border-radius:3px;padding:0 .35em;margin:0 .25em .2em 0;font-size:.9em;overflow-wrap:anywhere}\
.added{background:#d4f4dd}.removed{background:#fbd9d3;text-decoration:line-through}\
.error{color:#c0392b;overflow-wrap:break-word}.muted{color:#888}a{color:#2a5db0}\
.box{border:1px solid #e3e3e3;border-radius:4px;padding:.6em .8em;margin:.6em 0}\
.box.bad{border-color:#c0392b;background:#fdf0ee}.box.warn{border-color:#e6a23c;background:#fdf6ec}\
form.filters{margin:.2em 0 1em}form.filters>*{margin-right:.6em}\
textarea,input[type=text]{font:13px ui-monospace,monospace;width:100%;box-sizing:border-box}\
.bar{background:#eceff1;height:.8em;width:16em;display:inline-block;vertical-align:middle;border-radius:2px}\
.bar span{display:block;height:100%;background:#3b6fb6;border-radius:2px}\
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1.2em}dl.facts dt{color:#555}dl.facts dd{margin:0}\
.legend{list-style:none;padding:0;columns:2}.legend li{margin:.1em 0}.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.4em;vertical-align:middle}\
svg.chart{max-width:100%;height:auto;border:1px solid #e3e3e3}svg.chart circle:hover{r:4}\
pre{margin:0;font:12px ui-monospace,monospace;white-space:pre-wrap}";

/// Renders a whole page: `<head>`, the navigation bar with `current`
/// marked, and `body` (already escaped HTML) in `<main>`.
pub fn render(app_name: &str, title: &str, current: &str, body: &str) -> String {
    let app = escape(app_name);
    let mut out = String::with_capacity(body.len() + 4096);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{app} {t}</title><style>{STYLE}</style></head><body><nav><span class=\"app\">{app}</span>",
        t = escape(title)
    );
    for (path, name) in PAGES {
        let class = if path == current {
            " class=\"current\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{path}\"{class}>{name}</a>");
    }
    let _ = writeln!(
        out,
        "</nav><main><h1>{app} {t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    out
}

/// A label set as escaped `name="value"` chips.
pub fn labels_html(labels: &crate::labels::Labels) -> String {
    let mut out = String::new();
    for l in labels.iter() {
        let _ = write!(
            out,
            "<span class=\"label\">{}=&quot;{}&quot;</span>",
            escape(l.name),
            escape(l.value)
        );
    }
    out
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
