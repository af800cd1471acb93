//! Scrape loops keep their connections alive: a real HTTP/1.1 server on
//! 127.0.0.1 counts the TCP connections it accepts while several targets
//! on it are scraped again and again, and the job's
//! `net_conntrack_dialer_conn_attempted_total` counts the same. A server
//! that closes each connection after its response gets a new one per
//! scrape, as it asked.

#[path = "common/memstore.rs"]
mod memstore;
#[path = "common/plain_http.rs"]
mod plain_http;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgescrape::config::Config;
use edgescrape::discovery::TargetGroup;
use edgescrape::labels::Labels;
use edgescrape::scrape::{Manager, Options};
use plain_http::{Answer, Counts};

const TARGETS: usize = 3;
/// How long the server takes to answer: over half the scrape interval.
const ANSWER_TIME: Duration = Duration::from_millis(60);
const BODY: &str = "# TYPE up_and_running gauge\nup_and_running 1\n";

/// Serves `BODY`, each answer [`ANSWER_TIME`] after the request, so the
/// scrapes of the targets overlap and the client needs a connection for
/// each; with `keep_alive` false it answers `Connection: close` and closes.
fn serve(keep_alive: bool, counts: Arc<Counts>) -> String {
    let answer = Answer {
        headers: vec![("Content-Type".into(), "text/plain; version=0.0.4".into())],
        keep_alive,
        delay: ANSWER_TIME,
    };
    plain_http::serve(vec![BODY.as_bytes().to_vec()], answer, counts)
}

/// Scrapes `TARGETS` targets on `addr` every 100 ms until the server has
/// answered `requests` requests; returns the job's connection counter.
fn scrape_until(addr: &str, counts: &Counts, requests: u64) -> u64 {
    let yaml =
        "scrape_configs:\n  - job_name: conn\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n";
    let cfg = Config::load_str(yaml, std::path::Path::new("conn.yml")).expect("config");
    let manager = Manager::new(
        Options {
            reload_interval: Duration::from_millis(50),
            ..Options::default()
        },
        Arc::new(memstore::CountingStorage::default()),
    );
    manager.apply_config(&cfg).expect("apply");
    let (tx, rx) = crossbeam_channel::unbounded();
    manager.run(rx).expect("run");
    let targets = (0..TARGETS)
        .map(|i| {
            Labels::from_pairs([
                ("__address__", addr.to_string()),
                ("replica", i.to_string()),
            ])
        })
        .collect();
    let group = TargetGroup {
        targets,
        labels: Labels::empty(),
        source: "test".to_string(),
    };
    tx.send(HashMap::from([("conn".to_string(), vec![group])]))
        .expect("send targets");
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.requests.load(Ordering::SeqCst) < requests {
        assert!(
            Instant::now() < deadline,
            "only {} scrapes answered",
            counts.requests.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    manager.stop();
    let dialers = manager.metrics().dialers_conn_attempted();
    let (job, counter) = dialers.first().expect("the job's connection counter");
    assert_eq!(job, "conn");
    counter.get()
}

/// Connections the job's counter saw, connections the server accepted and
/// requests it answered, once it answered at least `requests`.
fn run(keep_alive: bool, requests: u64) -> (u64, u64, u64) {
    let counts = Arc::new(Counts::default());
    let addr = serve(keep_alive, Arc::clone(&counts));
    let opened = scrape_until(&addr, &counts, requests);
    let accepted = counts.connections.load(Ordering::SeqCst);
    (opened, accepted, counts.requests.load(Ordering::SeqCst))
}

#[test]
fn kept_alive_connections_stay_at_most_one_per_target() {
    let (opened, accepted, requests) = run(true, 10 * TARGETS as u64);
    assert!(
        (1..=TARGETS as u64).contains(&accepted),
        "{accepted} connections for {requests} scrapes of {TARGETS} targets"
    );
    assert_eq!(opened, accepted, "the counter counts what the server saw");
}

#[test]
fn a_server_that_closes_gets_a_new_connection_per_scrape() {
    let (opened, accepted, requests) = run(false, 3 * TARGETS as u64);
    assert!(
        accepted >= requests,
        "{accepted} connections, {requests} scrapes"
    );
    assert_eq!(opened, accepted, "the counter counts what the server saw");
}
