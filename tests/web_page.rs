//! The targets page in real headless Chromium: the targets it shows match
//! `/api/v1/targets`, markup in labels stays text, and a screenshot is kept
//! as tests/artifacts/targets.png.

mod peers;
mod web_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edgescrape::web::{Metrics, WebOptions};
use peers::ChildGuard;
use web_support::{get, Fixture, TestLifecycle};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium with `args` on `url`; returns its stdout. Gives up
/// (and kills the browser) after two minutes so a wedged browser fails the
/// test instead of hanging it.
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-peers.sh to install the test peers"
    );
    let out_path = profile.join("stdout.html");
    let err_path = profile.join("stderr.log");
    let stdout = std::fs::File::create(&out_path).expect("create stdout file");
    let stderr = std::fs::File::create(&err_path).expect("create stderr file");
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.join("profile").display()),
        ])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start chromium");
    // Kills and reaps the browser if the test ends early.
    let mut guard = ChildGuard {
        name: CHROMIUM.to_string(),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        match guard.child.try_wait().expect("wait for chromium") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                panic!("chromium did not finish within 2 minutes on {url}")
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}): {err}");
    std::fs::read_to_string(&out_path).expect("read chromium output")
}

/// Undoes the escapes the DOM serializer writes in attribute values.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

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

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).expect("create tests/artifacts");
    dir
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

    let shot = artifacts_dir().join("targets.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,800",
            "--hide-scrollbars",
        ],
        &page,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // PNG IHDR: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((width, height), (1200, 800));
}
