//! The targets page in real headless Chromium: the targets it shows match
//! `/api/v1/targets`, markup in labels stays text, the job and health
//! filters work without JavaScript, and a screenshot is kept as
//! tests/artifacts/targets.png.

mod browser;
mod peers;
mod web_support;

use std::sync::atomic::Ordering;

use browser::{assert_no_script, chromium, screenshot, unescape};
use edgescrape::web::{Metrics, WebOptions};
use web_support::{get, Fixture, TestLifecycle};

/// `(pool, url, health)` of every target row in the rendered DOM.
fn rows(dom: &str) -> Vec<(String, String, String)> {
    let re = regex::Regex::new(
        r#"<tr class="target" data-pool="([^"]*)" data-url="([^"]*)" data-health="([^"]*)">"#,
    )
    .expect("row regex");
    re.captures_iter(dom)
        .map(|c| (unescape(&c[1]), unescape(&c[2]), unescape(&c[3])))
        .collect()
}

#[test]
fn targets_page_in_chromium_matches_the_api() {
    let lifecycle = TestLifecycle::default();
    lifecycle.ready.store(true, Ordering::SeqCst);
    let f = Fixture::start(WebOptions::default(), lifecycle, Metrics::new());
    let profile = tempfile::tempdir().expect("tempdir");
    let page = format!("{}/", f.base);

    let dom = chromium(profile.path(), &["--dump-dom"], &page);
    let shown = rows(&dom);

    let api = get(&format!("{}/api/v1/targets?state=active", f.base)).json();
    let want: Vec<(String, String, String)> = api["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets")
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (s("scrapePool"), s("scrapeUrl"), s("health"))
        })
        .collect();
    assert_eq!(want.len(), 5);
    assert_eq!(shown, want, "page rows differ from /api/v1/targets");

    // Pools with their up counts and dropped targets, as headings.
    for heading in [
        "demo <span class=\"muted\">(1/1 up, 1 dropped)",
        "node <span class=\"muted\">(1/3 up, 1 dropped)",
        "self <span class=\"muted\">(1/1 up)",
    ] {
        assert!(dom.contains(heading), "missing heading {heading:?}");
    }
    // The label holding markup is text, never an element.
    assert!(
        !dom.contains("<script"),
        "a label's markup became a script element"
    );
    assert!(
        dom.contains("owner=\"&lt;script&gt;alert('x')&lt;/script&gt;\""),
        "escaped label missing"
    );
    // Errors, relative times, durations and sparklines are rendered.
    assert!(dom.contains("connect: connection refused"));
    assert!(dom.contains("s ago</td>"));
    assert!(dom.contains(">never</td>"));
    assert!(dom.contains(">4.3ms</td>"));
    assert_eq!(
        dom.matches("<polyline").count(),
        4,
        "one sparkline per target with history"
    );

    screenshot(profile.path(), &page, "targets.png", 1200, 800);

    // The filters: only the node pool's down targets.
    let filtered = format!("{page}?job=node&health=down");
    assert_no_script(&filtered);
    let dom = chromium(profile.path(), &["--dump-dom"], &filtered);
    let shown = rows(&dom);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!((shown[0].0.as_str(), shown[0].2.as_str()), ("node", "down"));
    for (path, name) in edgescrape::web::layout::PAGES {
        assert!(
            dom.contains(&format!("<a href=\"{path}\"")),
            "no link to {name}"
        );
    }
}
