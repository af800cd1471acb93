//! A scrape loop that panics is noticed: logged with job and target,
//! counted, and its target started again while the other targets go on.
//!
//! No input is known to make a loop panic (each one found was fixed), so
//! the panic is injected: the real storage is wrapped by an appender that
//! panics on a series named `panic_now`, which the target exposes on its
//! first scrape only.

mod common;
mod log_pairs;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::storage::TestStorage;
use common::{wait_until, Reply, TestServer};
use crossbeam_channel::unbounded;
use edgescrape::config::Config;
use edgescrape::discovery::TargetGroup;
use edgescrape::labels::Labels;
use edgescrape::scrape::{Manager, Options};
use edgescrape::storage::{AppendError, Appendable, Appender, Metadata, SeriesRef};

const WAIT: Duration = Duration::from_secs(20);

/// The real storage, with appends of `panic_now` panicking.
struct PanickingStorage(TestStorage);

struct PanickingAppender<'a>(Box<dyn Appender + 'a>);

impl Appendable for PanickingStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(PanickingAppender(self.0.appender()))
    }
}

impl Appender for PanickingAppender<'_> {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        if labels.get("__name__") == Some("panic_now") {
            panic!("injected panic for {labels}");
        }
        self.0.append(series_ref, labels, t, v)
    }

    fn update_metadata(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        metadata: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        self.0.update_metadata(series_ref, labels, metadata)
    }

    fn commit(&mut self) -> Result<(), AppendError> {
        self.0.commit()
    }

    fn rollback(&mut self) {
        self.0.rollback()
    }
}

/// The records logged so far whose message contains `msg_part`, each as its
/// key-value pairs plus `msg` and `level`.
fn logged(msg_part: &str) -> Vec<HashMap<String, String>> {
    log_pairs::captured()
        .into_iter()
        .filter(|r| r.msg.contains(msg_part))
        .map(|r| {
            let mut pairs: HashMap<String, String> = r.pairs.into_iter().collect();
            pairs.insert("msg".to_string(), r.msg);
            pairs.insert("level".to_string(), r.level.to_string());
            pairs
        })
        .collect()
}

#[test]
fn a_panicking_loop_is_logged_counted_and_restarted_while_others_scrape() {
    log_pairs::capture();

    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests);
    let bad = TestServer::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::text("panic_now 1\nfine 1\n")
        } else {
            Reply::text("fine 2\n")
        }
    });
    let good = TestServer::start(|_| Reply::text("steady 1\n"));

    let store = Arc::new(PanickingStorage(TestStorage::default()));
    let manager = Manager::new(
        Options {
            skip_offset: true,
            reload_interval: Duration::from_millis(100),
            ..Options::default()
        },
        store.clone(),
    );
    let yaml = "global:\n  scrape_interval: 200ms\n  scrape_timeout: 100ms\n\
                scrape_configs:\n  - job_name: bad\n  - job_name: good\n";
    let config = Config::load_str(yaml, Path::new("test.yml")).expect("config");
    manager.apply_config(&config).expect("apply");
    let (tx, rx) = unbounded();
    manager.run(rx).expect("run");
    let group = |addr: String| TargetGroup {
        targets: vec![Labels::from_pairs([("__address__", addr.as_str())])],
        labels: Labels::empty(),
        source: "0".to_string(),
    };
    tx.send(HashMap::from([
        ("bad".to_string(), vec![group(bad.address())]),
        ("good".to_string(), vec![group(good.address())]),
    ]))
    .expect("manager listens");

    // Counted once: the target exposes panic_now on its first scrape only.
    let panics = || manager.metrics().target_scrape_loop_panics_total.get();
    assert!(wait_until(WAIT, || panics() == 1), "panics: {}", panics());

    // Restarted: the same target scrapes again and its samples land.
    assert!(
        wait_until(WAIT, || store.0.last("fine") == Some(2.0)),
        "fine: {:?}",
        store.0.samples("fine")
    );
    assert_eq!(
        store.0.samples("panic_now"),
        vec![],
        "nothing of the panicked scrape"
    );
    assert!(store
        .0
        .samples("up")
        .iter()
        .any(|s| s.v == 1.0 && s.labels.get("job") == Some("bad")));
    // The other job was never disturbed.
    assert!(wait_until(WAIT, || store.0.samples("steady").len() >= 3));
    assert_eq!(panics(), 1);
    let targets = manager.targets_active();
    assert_eq!(targets["bad"].len(), 1);

    let url = format!("http://{}/metrics", bad.address());
    let caught = logged("Scrape loop panicked");
    assert_eq!(caught.len(), 1, "{caught:?}");
    assert_eq!(caught[0]["job"], "bad");
    assert_eq!(caught[0]["target"], url);
    let restarted = logged("Restarting scrape loop");
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    assert_eq!(restarted[0]["job"], "bad");
    assert_eq!(restarted[0]["target"], url);
    manager.stop();
}
