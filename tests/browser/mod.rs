//! Headless Chromium from Debian for the page tests: dump a page's DOM
//! after it rendered, or take a screenshot, with JavaScript on or off.

#![allow(dead_code)] // each test crate uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::peers::ChildGuard;

/// Checks that a page as served holds no script at all, so it works with
/// JavaScript disabled. (Chromium's `--dump-dom` itself needs JavaScript,
/// so the check is on the served HTML.)
#[track_caller]
pub fn assert_no_script(url: &str) {
    let html = ureq::get(url)
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .unwrap_or_default();
    assert!(html.contains("</html>"), "{url}: {html}");
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "{url} has a script"
    );
    let handler = regex::Regex::new(r#"\son[a-z]+="#).expect("handler regex");
    assert!(!handler.is_match(&html), "{url} has an event handler");
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium with `args` on `url`; returns its stdout. Gives up
/// (and kills the browser) after two minutes so a wedged browser fails the
/// test instead of hanging it.
pub fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-peers.sh to install the test peers"
    );
    // A fresh profile per run: a browser that just exited may still hold
    // the last one's lock.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::SeqCst);
    let user_data = profile.join(format!("profile-{run}"));
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
            &format!("--user-data-dir={}", user_data.display()),
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
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).expect("create tests/artifacts");
    dir
}

/// Takes a `width`×`height` screenshot of `url` into
/// tests/artifacts/`name` and checks it is a PNG of that size.
pub fn screenshot(profile: &Path, url: &str, name: &str, width: u32, height: u32) -> PathBuf {
    let shot = artifacts_dir().join(name);
    let _ = std::fs::remove_file(&shot);
    chromium(
        profile,
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size={width},{height}"),
            "--hide-scrollbars",
        ],
        url,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // PNG IHDR: width and height, big-endian, at bytes 16..24.
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((w, h), (width, height));
    shot
}
