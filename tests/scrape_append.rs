//! The loop body (`LoopState::append` and `report`) against a real
//! in-memory storage, ported from Prometheus's scrape_test.go.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::storage::TestStorage;
use edgescrape::labels::Labels;
use edgescrape::relabel::RelabelConfig;
use edgescrape::scrape::{
    AppendOutcome, LoopSettings, LoopState, ScrapeCache, ScrapeError, ScrapeMetrics,
};
use edgescrape::storage::{is_stale_nan, Appendable};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

struct Fixture {
    state: LoopState,
    store: TestStorage,
    metrics: Arc<ScrapeMetrics>,
}

fn fixture(settings: LoopSettings, target_labels: &[(&str, &str)]) -> Fixture {
    let target =
        edgescrape::scrape::Target::new(l(target_labels), Labels::empty(), &BTreeMap::new());
    let metrics = Arc::new(ScrapeMetrics::default());
    Fixture {
        state: LoopState::new(
            Arc::new(target),
            Arc::new(settings),
            Arc::clone(&metrics),
            Duration::from_secs(10),
            ScrapeCache::new(),
        ),
        store: TestStorage::default(),
        metrics,
    }
}

fn honoring_timestamps() -> LoopSettings {
    LoopSettings {
        honor_timestamps: true,
        ..LoopSettings::default()
    }
}

impl Fixture {
    /// One scrape's append, committed on success; on failure rolled back
    /// and followed by the empty append that writes stale markers, as the
    /// loop does.
    fn scrape(&mut self, body: &str, ts: i64) -> AppendOutcome {
        let mut app = self.store.appender();
        let out = self.state.append(app.as_mut(), body.as_bytes(), "", ts);
        if out.error.is_some() {
            app.rollback();
            let mut app = self.store.appender();
            let stale = self.state.append(app.as_mut(), b"", "", ts);
            assert!(stale.error.is_none());
            app.commit().unwrap();
        } else {
            app.commit().unwrap();
        }
        out
    }

    fn values(&self, labels: &[(&str, &str)]) -> Vec<(i64, f64)> {
        self.store.values(&l(labels))
    }
}

#[track_caller]
fn collision(honor: bool, scraped: &str, target: &[(&str, &str)], want: &[(&str, &str)]) {
    let mut f = fixture(
        LoopSettings {
            honor_labels: honor,
            ..honoring_timestamps()
        },
        target,
    );
    let out = f.scrape(scraped, 1000);
    assert_eq!(out.error, None);
    assert_eq!(f.store.series(), vec![l(want)], "{scraped}");
}

#[test]
fn append_label_collisions() {
    // TestScrapeLoopAppend.
    collision(
        false,
        "metric{n=\"1\"} 0\n",
        &[("n", "2")],
        &[("__name__", "metric"), ("exported_n", "1"), ("n", "2")],
    );
    collision(
        false,
        "metric 0\n",
        &[("n", "2"), ("exported_n", "2")],
        &[("__name__", "metric"), ("n", "2"), ("exported_n", "2")],
    );
    collision(false, "metric{n=\"\"} 0\n", &[], &[("__name__", "metric")]);
    collision(
        true,
        "metric{n1=\"1\" n2=\"2\"} 0\n",
        &[("n1", "0")],
        &[("__name__", "metric"), ("n1", "1"), ("n2", "2")],
    );
}

#[test]
fn append_conflicting_prefixed_labels() {
    // TestScrapeLoopAppendForConflictingPrefixedLabels (2.53; same result in 2.42).
    collision(
        false,
        "metric{foo=\"1\"} 0\n",
        &[("foo", "2")],
        &[("__name__", "metric"), ("exported_foo", "1"), ("foo", "2")],
    );
    collision(
        false,
        "metric{foo=\"1\"} 0\n",
        &[("foo", "2"), ("exported_foo", "3")],
        &[
            ("__name__", "metric"),
            ("exported_exported_foo", "1"),
            ("exported_foo", "3"),
            ("foo", "2"),
        ],
    );
    collision(
        false,
        "metric{foo=\"1\",exported_foo=\"2\"} 0\n",
        &[("foo", "3")],
        &[
            ("__name__", "metric"),
            ("exported_exported_foo", "1"),
            ("exported_foo", "2"),
            ("foo", "3"),
        ],
    );
    collision(
        false,
        "metric{exported_foo=\"1\"} 0\n",
        &[("exported_foo", "2")],
        &[
            ("__name__", "metric"),
            ("exported_exported_foo", "1"),
            ("exported_foo", "2"),
        ],
    );
    collision(
        false,
        "metric{foo=\"1\",exported_foo=\"2\"} 0\n",
        &[("foo", "3"), ("exported_foo", "4")],
        &[
            ("__name__", "metric"),
            ("exported_exported_foo", "1"),
            ("exported_exported_exported_foo", "2"),
            ("exported_foo", "4"),
            ("foo", "3"),
        ],
    );
    collision(
        false,
        "metric{foo=\"3\",exported_foo=\"4\",exported_exported_exported_foo=\"5\"} 0\n",
        &[
            ("foo", "0"),
            ("exported_exported_foo", "1"),
            ("exported_exported_exported_foo", "2"),
        ],
        &[
            ("__name__", "metric"),
            ("exported_exported_exported_exported_exported_foo", "5"),
            ("exported_exported_exported_exported_foo", "3"),
            ("exported_exported_exported_foo", "2"),
            ("exported_exported_foo", "1"),
            ("exported_foo", "4"),
            ("foo", "0"),
        ],
    );
}

#[test]
fn vanished_series_get_stale_markers() {
    // TestScrapeLoopAppendStaleness, and a partial vanish.
    let mut f = fixture(honoring_timestamps(), &[]);
    f.scrape("metric_a 1\nmetric_b 1\n", 1000);
    f.scrape("metric_a 2\n", 2000);
    assert_eq!(
        f.values(&[("__name__", "metric_a")]),
        vec![(1000, 1.0), (2000, 2.0)]
    );
    let b = f.values(&[("__name__", "metric_b")]);
    assert_eq!(b.len(), 2);
    assert_eq!(b[1].0, 2000);
    assert!(
        is_stale_nan(b[1].1),
        "stale marker at the scrape that lost it"
    );
    f.scrape("", 3000);
    let a = f.values(&[("__name__", "metric_a")]);
    assert!(is_stale_nan(a[2].1), "an empty (failed) scrape marks all");
    f.scrape("", 4000);
    assert_eq!(
        f.values(&[("__name__", "metric_a")]).len(),
        3,
        "marked once only"
    );
}

#[test]
fn explicit_timestamps_get_no_stale_markers_unless_tracked() {
    // TestScrapeLoopAppendNoStalenessIfTimestamp.
    let mut f = fixture(honoring_timestamps(), &[]);
    f.scrape("metric_a 1 1000\n", 5000);
    f.scrape("", 6000);
    assert_eq!(f.values(&[("__name__", "metric_a")]), vec![(1000, 1.0)]);

    // TestScrapeLoopAppendStalenessIfTrackTimestampStaleness (2.53 setting).
    let mut f = fixture(
        LoopSettings {
            track_timestamps_staleness: true,
            ..honoring_timestamps()
        },
        &[],
    );
    f.scrape("metric_a 1 1000\n", 5000);
    f.scrape("", 6000);
    let a = f.values(&[("__name__", "metric_a")]);
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].0, 6000);
    assert!(is_stale_nan(a[1].1));
}

#[test]
fn honor_timestamps_false_uses_scrape_time() {
    // TestScrapeLoop_HonorTimestamps / DiscardTimestamps.
    let mut f = fixture(LoopSettings::default(), &[]);
    f.scrape("metric_a 1 1000\n", 5000);
    assert_eq!(f.values(&[("__name__", "metric_a")]), vec![(5000, 1.0)]);
    let mut f = fixture(honoring_timestamps(), &[]);
    f.scrape("metric_a 1 1000\n", 5000);
    assert_eq!(f.values(&[("__name__", "metric_a")]), vec![(1000, 1.0)]);
}

fn drop_deleteme() -> Vec<RelabelConfig> {
    serde_yaml::from_str("- action: drop\n  source_labels: [deleteme]\n  regex: .+\n").unwrap()
}

#[test]
fn sample_limit_fails_the_whole_scrape() {
    // TestScrapeLoopAppendSampleLimit.
    let mut f = fixture(
        LoopSettings {
            sample_limit: 1,
            metric_relabel: drop_deleteme(),
            ..honoring_timestamps()
        },
        &[],
    );
    let out = f.scrape("metric_a 1\nmetric_b 1\nmetric_c 1\n", 1000);
    assert_eq!(out.error, Some(ScrapeError::SampleLimit));
    assert_eq!(
        out.error.as_ref().unwrap().to_string(),
        "sample limit exceeded"
    );
    assert_eq!((out.total, out.added, out.series_added), (3, 3, 1));
    assert_eq!(
        f.metrics.target_scrapes_exceeded_sample_limit_total.get(),
        1,
        "once per scrape"
    );
    assert!(f.store.series().is_empty(), "rolled back");

    let body = "metric_a 1\nmetric_b 1\nmetric_c{deleteme=\"yes\"} 1\nmetric_d 1\nmetric_e 1\nmetric_f 1\nmetric_g 1\nmetric_h{deleteme=\"yes\"} 1\nmetric_i{deleteme=\"yes\"} 1\n";
    let out = f.scrape(body, 2000);
    assert_eq!(out.error, Some(ScrapeError::SampleLimit));
    assert_eq!((out.total, out.added, out.series_added), (9, 6, 0));

    // Under the limit after relabeling: fine.
    let out = f.scrape("metric_a 1\nmetric_c{deleteme=\"yes\"} 1\n", 3000);
    assert_eq!(out.error, None);
    assert_eq!(f.values(&[("__name__", "metric_a")]), vec![(3000, 1.0)]);
}

#[track_caller]
fn label_limit(body: &str, target: &[(&str, &str)], settings: LoopSettings, fails: bool) {
    let mut f = fixture(settings, target);
    let out = f.scrape(body, 1000);
    assert_eq!(out.error.is_some(), fails, "{body}: {:?}", out.error);
    if let Some(e) = out.error {
        assert!(matches!(e, ScrapeError::LabelLimit(_)), "{e}");
        assert_eq!(
            f.metrics
                .target_scrape_pool_exceeded_label_limits_total
                .get(),
            1
        );
    }
}

#[test]
fn label_limits_fail_the_scrape() {
    // TestScrapeLoopLabelLimit.
    let count = |n| LoopSettings {
        label_limit: n,
        ..LoopSettings::default()
    };
    let name = |n| LoopSettings {
        label_name_length_limit: n,
        ..LoopSettings::default()
    };
    let value = |n| LoopSettings {
        label_value_length_limit: n,
        ..LoopSettings::default()
    };
    label_limit("metric{l1=\"1\", l2=\"2\"} 0\n", &[], count(5), false);
    label_limit(
        "metric{l1=\"1\", l2=\"2\", l3=\"3\", l4=\"4\", l5=\"5\", l6=\"6\"} 0\n",
        &[],
        count(5),
        true,
    );
    label_limit(
        "metric{l1=\"1\", l2=\"2\", l3=\"3\", l4=\"4\"} 0\n",
        &[("l5", "5"), ("l6", "6")],
        count(5),
        true,
    );
    label_limit("metric{l1=\"1\", l2=\"2\"} 0\n", &[], name(10), false);
    label_limit("metric{label_name_too_long=\"0\"} 0\n", &[], name(10), true);
    label_limit(
        "metric{l1=\"1\", l2=\"2\"} 0\n",
        &[("label_name_too_long", "0")],
        name(10),
        true,
    );
    label_limit("metric{l1=\"1\", l2=\"2\"} 0\n", &[], value(10), false);
    label_limit(
        "metric{l1=\"label_value_too_long\"} 0\n",
        &[],
        value(10),
        true,
    );
    label_limit(
        "metric{l1=\"1\", l2=\"2\"} 0\n",
        &[("l1", "label_value_too_long")],
        value(10),
        true,
    );
}

#[test]
fn out_of_order_duplicate_and_out_of_bounds_are_counted_not_fatal() {
    // TestScrapeLoopAppendGracefullyIfAmendOrOutOfOrderOrOutOfBounds, with
    // the storage's own refusals instead of an error-injecting appender.
    let mut f = fixture(honoring_timestamps(), &[]);
    {
        let mut app = f.store.appender();
        app.append(0, &l(&[("__name__", "out_of_order")]), 5000, 1.0)
            .unwrap();
        app.append(0, &l(&[("__name__", "amend")]), 1000, 0.0)
            .unwrap();
        app.commit().unwrap();
    }
    let future = i64::MAX / 2;
    let body = format!("out_of_order 1\namend 1\nnormal 1\nout_of_bounds 1 {future}\n");
    let out = f.scrape(&body, 1000);
    assert_eq!(out.error, None);
    assert_eq!((out.total, out.added, out.series_added), (4, 4, 1));
    assert_eq!(
        (out.out_of_order, out.duplicates, out.out_of_bounds),
        (1, 1, 1)
    );
    assert_eq!(f.values(&[("__name__", "normal")]), vec![(1000, 1.0)]);
    assert_eq!(f.values(&[("__name__", "amend")]), vec![(1000, 0.0)]);
    assert_eq!(f.metrics.target_scrapes_sample_out_of_bounds_total.get(), 1);
}

#[test]
fn duplicate_series_in_one_scrape_keep_the_first_sample() {
    // TestScrapeLoopSeriesAddedDuplicates (2.53).
    let mut f = fixture(honoring_timestamps(), &[]);
    let out = f.scrape("test_metric 1\ntest_metric 2\ntest_metric 3\n", 1000);
    assert_eq!(
        (out.total, out.added, out.series_added, out.duplicates),
        (3, 3, 1, 2)
    );
    let out = f.scrape("test_metric 1\ntest_metric 1\ntest_metric 1\n", 2000);
    assert_eq!(
        (out.total, out.added, out.series_added, out.duplicates),
        (3, 3, 0, 2)
    );
    assert_eq!(
        f.values(&[("__name__", "test_metric")]),
        vec![(1000, 1.0), (2000, 1.0)]
    );
    assert_eq!(
        f.metrics
            .target_scrapes_sample_duplicate_timestamp_total
            .get(),
        4
    );
    // With explicit timestamps a repeat is a different sample.
    let out = f.scrape("test_metric 5 3000\ntest_metric 6 4000\n", 9000);
    assert_eq!(out.duplicates, 0);
    let v = f.values(&[("__name__", "test_metric")]);
    assert_eq!(&v[2..4], &[(3000, 5.0), (4000, 6.0)]);
    // As Prometheus: no longer tracked without timestamps, so stale.
    assert!(v[4].0 == 9000 && is_stale_nan(v[4].1));
}

#[test]
fn series_added_counts_new_series_only() {
    // TestScrapeLoopSeriesAdded.
    let mut f = fixture(honoring_timestamps(), &[]);
    let out = f.scrape("test_metric 1\n", 1000);
    assert_eq!((out.total, out.added, out.series_added), (1, 1, 1));
    let out = f.scrape("test_metric 1\n", 2000);
    assert_eq!((out.total, out.added, out.series_added), (1, 1, 0));
}

#[test]
fn metric_relabel_drop_is_remembered() {
    let mut f = fixture(
        LoopSettings {
            metric_relabel: drop_deleteme(),
            ..honoring_timestamps()
        },
        &[],
    );
    for ts in [1000, 2000] {
        let out = f.scrape("keep 1\ngone{deleteme=\"x\"} 1\n", ts);
        assert_eq!((out.total, out.added), (2, 1));
    }
    assert_eq!(f.store.series(), vec![l(&[("__name__", "keep")])]);
}

#[test]
fn parse_errors_fail_the_scrape_and_mark_stale() {
    // TestScrapeLoopRunCreatesStaleMarkersOnParseFailure.
    let mut f = fixture(honoring_timestamps(), &[]);
    f.scrape("metric_a 1\nmetric_b 1\n", 1000);
    let out = f.scrape("7&-\n", 2000);
    assert!(
        matches!(out.error, Some(ScrapeError::Parse(_))),
        "{:?}",
        out.error
    );
    let a = f.values(&[("__name__", "metric_a")]);
    assert_eq!(a.len(), 2);
    assert!(is_stale_nan(a[1].1));

    // As Prometheus: series read before the error count as seen, so only
    // those after it are marked stale.
    let mut f = fixture(honoring_timestamps(), &[]);
    f.scrape("metric_a 1\nmetric_b 1\n", 1000);
    f.scrape("metric_a 2\n{bad\n", 2000);
    assert_eq!(f.values(&[("__name__", "metric_a")]), vec![(1000, 1.0)]);
    let b = f.values(&[("__name__", "metric_b")]);
    assert!(is_stale_nan(b[1].1));
    // The next good scrape appends normally: no false duplicates.
    let out = f.scrape("metric_a 3\nmetric_b 3\n", 3000);
    assert_eq!((out.error, out.duplicates), (None, 0));
    assert_eq!(
        f.values(&[("__name__", "metric_a")]),
        vec![(1000, 1.0), (3000, 3.0)]
    );
}

#[test]
fn new_series_are_checked_on_a_warm_cache() {
    // The loop checks a series (UTF-8, duplicate label names) only when the
    // cache does not know it; a bad new series still fails the scrape at
    // its line, counted in scrape_samples_scraped as Prometheus 2.42 counts
    // it (a duplicate label name is, invalid UTF-8 is not).
    let mut f = fixture(LoopSettings::default(), &[]);
    f.scrape("a{x=\"1\"} 1\nb 1\n", 1000);
    let out = f.scrape("a{x=\"1\"} 2\nb{y=\"1\",y=\"2\"} 2\n", 2000);
    assert_eq!(
        out.error,
        Some(ScrapeError::Parse(
            "line 2: label name \"y\" is not unique: \"b{y=\\\"1\\\",y=\\\"2\\\"} 2\"".into()
        ))
    );
    assert_eq!(out.total, 2);
    let body = b"a{x=\"1\"} 3\nc{x=\"\xff\"} 3\n";
    let out = {
        let mut app = f.store.appender();
        let out = f.state.append(app.as_mut(), body, "", 3000);
        app.rollback();
        out
    };
    assert_eq!(
        out.error,
        Some(ScrapeError::Parse(
            "line 2: invalid UTF-8 label value: \"c{x=\\\"\u{fffd}\\\"} 3\"".into()
        ))
    );
    assert_eq!(out.total, 1);
    let out = f.scrape("a{x=\"1\"} 4\nb 4\n", 4000);
    assert_eq!((out.error, out.total), (None, 2));
    assert_eq!(
        f.values(&[("__name__", "a"), ("x", "1")]),
        vec![(1000, 1.0), (4000, 4.0)]
    );
}

#[test]
fn report_series_carry_target_labels_and_prometheus_values() {
    let mut f = fixture(
        LoopSettings {
            extra_metrics: true,
            sample_limit: 100,
            metric_relabel: drop_deleteme(),
            ..honoring_timestamps()
        },
        &[("__address__", "h:1"), ("instance", "h:1"), ("job", "j")],
    );
    let mut app = f.store.appender();
    let out = f
        .state
        .append(app.as_mut(), b"a 1\nb{deleteme=\"1\"} 2\n", "", 1000);
    f.state
        .report(
            app.as_mut(),
            1000,
            Duration::from_millis(250),
            &out,
            22,
            true,
        )
        .unwrap();
    app.commit().unwrap();
    let target = [("instance", "h:1"), ("job", "j")];
    let value = |name: &str| {
        let mut labels = target.to_vec();
        labels.push(("__name__", name));
        let v = f.values(&labels);
        assert_eq!(v.len(), 1, "{name}");
        assert_eq!(v[0].0, 1000);
        v[0].1
    };
    assert_eq!(value("up"), 1.0);
    assert_eq!(value("scrape_duration_seconds"), 0.25);
    assert_eq!(value("scrape_samples_scraped"), 2.0);
    assert_eq!(value("scrape_samples_post_metric_relabeling"), 1.0);
    assert_eq!(value("scrape_series_added"), 1.0);
    assert_eq!(value("scrape_timeout_seconds"), 10.0);
    assert_eq!(value("scrape_sample_limit"), 100.0);
    assert_eq!(value("scrape_body_size_bytes"), 22.0);

    let mut app = f.store.appender();
    f.state.report_stale(app.as_mut(), 2000).unwrap();
    app.commit().unwrap();
    let mut labels = target.to_vec();
    labels.push(("__name__", "up"));
    assert!(is_stale_nan(f.values(&labels)[1].1));
}
