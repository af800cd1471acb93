//! The routes of the pages a person reads: `/` (targets), `/graph`,
//! `/status`, `/service-discovery` and `/relabel-debug`. The server asks
//! [`route`] first; it answers the page paths and leaves every other path
//! to the server's own table.

use std::time::SystemTime;

use crate::web::graph::{self, GraphParams};
use crate::web::page::{self, PageFilter};
use crate::web::server::now_ms;
use crate::web::{layout, relabel_debug, service_discovery, status_page, Views, WebOptions};

/// A rendered page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageReply {
    /// HTTP status.
    pub status: u16,
    /// The body's content type.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// The request's form values, first value wins.
pub type FormGet<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

/// Answers a page path; `None` for any other path. Pages take GET and
/// HEAD only.
pub fn route(
    path: &str,
    get: bool,
    form: &FormGet<'_>,
    views: &Views,
    options: &WebOptions,
) -> Option<PageReply> {
    if !layout::PAGES.iter().any(|(p, _)| *p == path) {
        return None;
    }
    if !get {
        return Some(PageReply {
            status: 405,
            content_type: "text/plain; charset=utf-8",
            body: "Method Not Allowed\n".to_string(),
        });
    }
    let app = options.app_name.as_str();
    let value = |k: &str| form(k).unwrap_or("").to_string();
    let body = match path {
        "/graph" => graph::render(
            app,
            views.series.as_ref(),
            &options.query_limits,
            &GraphParams::from_form(form),
            now_ms(),
        ),
        "/status" => status_page::render(app, &views.lifecycle.status(), SystemTime::now()),
        "/service-discovery" => service_discovery::render(
            app,
            &views.targets.active(),
            &views.targets.dropped(),
            &views.targets.relabel_rules(),
        ),
        "/relabel-debug" => {
            let rules = views.targets.relabel_rules();
            let job = form("job")
                .filter(|j| !j.is_empty())
                .map(str::to_string)
                .or_else(|| rules.first().map(|r| r.job.clone()))
                .unwrap_or_default();
            relabel_debug::render(app, &rules, &job, &value("kind"), &value("labels"))
        }
        _ => page::render(
            views.targets.active(),
            &views.targets.dropped(),
            SystemTime::now(),
            app,
            &PageFilter {
                job: value("job"),
                health: value("health"),
            },
        ),
    };
    Some(PageReply {
        status: 200,
        content_type: layout::CONTENT_TYPE,
        body,
    })
}
