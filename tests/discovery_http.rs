//! HTTP SD against a real HTTP server on loopback: groups with `__meta_url`
//! and their sources, the HTTP client settings on the request, vanished
//! groups cleared, and failures keeping the last good targets while they
//! are counted.

mod common;
mod discovery_common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{Reply, SeenRequest, TestServer};
use discovery_common::{addresses, group, recv_until, scrape_configs, PATIENCE};
use edgescrape::discovery::{Manager, URL_LABEL};
use parking_lot::Mutex;

/// What the SD server answers next: status, content type and body.
type Answer = Arc<Mutex<(u16, &'static str, String)>>;

fn sd_server() -> (TestServer, Answer, Arc<Mutex<Vec<SeenRequest>>>) {
    let answer: Answer = Arc::new(Mutex::new((200, "application/json", "[]".to_string())));
    let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
    let (a, s) = (Arc::clone(&answer), Arc::clone(&seen));
    let server = TestServer::start(move |req| {
        s.lock().push(req.clone());
        let (status, content_type, body) = a.lock().clone();
        Reply {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: body.into_bytes(),
            delay: Duration::ZERO,
        }
    });
    (server, answer, seen)
}

fn set(answer: &Answer, status: u16, content_type: &'static str, body: &str) {
    *answer.lock() = (status, content_type, body.to_string());
}

#[test]
fn http_sd_sends_groups_keeps_them_on_errors_and_counts_failures() {
    let (server, answer, seen) = sd_server();
    set(
        &answer,
        200,
        "application/json; charset=utf-8",
        r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]"#,
    );
    let url = format!("http://{}/sd", server.address());
    let manager = Manager::new(Duration::from_millis(20));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs(&format!(
        "scrape_configs:\n  - job_name: web\n    http_sd_configs:\n      - url: {url}\n        refresh_interval: 100ms\n        authorization: {{credentials: sd-token}}\n        http_headers: {{X-Tenant: {{values: [t1]}}}}\n"
    )));
    let (map, _) = recv_until(&rx, |m| addresses(m, "web").len() == 3);
    let first = group(&map, "web", &format!("{url}:0")).expect("source <url>:0");
    assert_eq!(first.labels.get(URL_LABEL), Some(url.as_str()));
    assert_eq!(first.labels.get("env"), Some("prod"));
    let second = group(&map, "web", &format!("{url}:1")).unwrap();
    assert_eq!(second.labels.get(URL_LABEL), Some(url.as_str()));
    {
        let req = seen.lock()[0].clone();
        assert_eq!(req.header("Authorization"), Some("Bearer sd-token"));
        assert_eq!(req.header("X-Tenant"), Some("t1"));
        assert_eq!(req.header("Accept"), Some("application/json"));
        assert_eq!(
            req.header("X-Prometheus-Refresh-Interval-Seconds"),
            Some("0.1")
        );
    }

    // The list shrinks: the vanished source is sent empty.
    set(
        &answer,
        200,
        "application/json",
        r#"[{"targets": ["a:1"]}]"#,
    );
    let (map, _) = recv_until(&rx, |m| addresses(m, "web") == ["a:1"]);
    assert!(group(&map, "web", &format!("{url}:1"))
        .unwrap()
        .targets
        .is_empty());

    // Failures of every kind keep the last good targets and are counted.
    let metrics = manager.metrics();
    for (status, content_type, body) in [
        (500, "application/json", "[]"),
        (200, "text/plain", "[]"),
        (200, "application/json", "{not json"),
        (
            200,
            "application/json",
            r#"[{"targets": ["x:1"], "labels": {"0bad": "v"}}]"#,
        ),
    ] {
        let before = metrics.http_failures.load(Ordering::Relaxed);
        set(&answer, status, content_type, body);
        let counted = common::wait_until(PATIENCE, || {
            metrics.http_failures.load(Ordering::Relaxed) >= before + 2
        });
        assert!(
            counted,
            "{status} {content_type} {body} counted as failures"
        );
    }
    set(
        &answer,
        200,
        "application/json",
        r#"[{"targets": ["d:4"]}]"#,
    );
    let (map, _) = recv_until(&rx, |m| addresses(m, "web") == ["d:4"]);
    // No map between the last good answer and this one lost `a:1`.
    assert_eq!(map["web"].len(), 2, "{:?}", map["web"]);
    manager.stop();
}

#[test]
fn http_sd_keeps_targets_when_the_server_goes_away() {
    let (server, answer, _) = sd_server();
    set(
        &answer,
        200,
        "application/json",
        r#"[{"targets": ["a:1"]}]"#,
    );
    let url = format!("http://{}/sd", server.address());
    let manager = Manager::new(Duration::from_millis(20));
    let rx = manager.sync_receiver();
    manager.apply_config(&scrape_configs(&format!(
        "scrape_configs:\n  - job_name: web\n    http_sd_configs: [{{url: '{url}', refresh_interval: 50ms}}]\n"
    )));
    recv_until(&rx, |m| addresses(m, "web") == ["a:1"]);
    drop(server);
    let metrics = manager.metrics();
    assert!(common::wait_until(PATIENCE, || metrics
        .http_failures
        .load(Ordering::Relaxed)
        >= 2));
    // A reload with the same config keeps the provider and its groups.
    manager.apply_config(&scrape_configs(&format!(
        "scrape_configs:\n  - job_name: web\n    http_sd_configs: [{{url: '{url}', refresh_interval: 50ms}}]\n"
    )));
    let (map, _) = recv_until(&rx, |m| m.contains_key("web"));
    assert_eq!(addresses(&map, "web"), ["a:1"]);
    manager.stop();
}
