//! Target construction, ported from Prometheus's `TestPopulateLabels`
//! (manager_test.go, identical in 2.42 and 2.53) and target_test.go.

use std::collections::BTreeMap;

use edgescrape::config::ScrapeConfig;
use edgescrape::discovery::TargetGroup;
use edgescrape::labels::{Labels, LabelsBuilder};
use edgescrape::scrape::{populate_labels, targets_from_group, Target};

fn cfg(yaml: &str) -> ScrapeConfig {
    serde_yaml::from_str(yaml).expect("test scrape config")
}

const HTTPS_1S: &str = "job_name: job\nscheme: https\nmetrics_path: /metrics\nscrape_interval: 1s\nscrape_timeout: 1s\n";
const HTTP_1S: &str = "job_name: job\nscheme: http\nmetrics_path: /metrics\nscrape_interval: 1s\nscrape_timeout: 1s\n";
const RELABEL_ADDRESS: &str = "relabel_configs:\n  - action: replace\n    regex: (.*)\n    source_labels: [custom]\n    replacement: ${1}\n    target_label: __address__\n";

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

type Pairs<'a> = &'a [(&'a str, &'a str)];

#[track_caller]
fn case(
    input: &[(&str, &str)],
    config: &str,
    no_default_port: bool,
    want: Result<(Pairs<'_>, Pairs<'_>), &str>,
) {
    let input = l(input);
    let mut lb = LabelsBuilder::new(&input);
    let got = populate_labels(&mut lb, &cfg(config), no_default_port);
    match want {
        Ok((res, orig)) => {
            let (got_res, got_orig) = got.expect("no error");
            assert_eq!(got_res, l(res), "labels");
            assert_eq!(got_orig, l(orig), "discovered labels");
        }
        Err(msg) => assert_eq!(got.expect_err("an error").to_string(), msg),
    }
}

#[test]
fn populate_labels_regular() {
    case(
        &[("__address__", "1.2.3.4:1000"), ("custom", "value")],
        HTTPS_1S,
        false,
        Ok((
            &[
                ("__address__", "1.2.3.4:1000"),
                ("instance", "1.2.3.4:1000"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
                ("custom", "value"),
            ],
            &[
                ("__address__", "1.2.3.4:1000"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("custom", "value"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
        )),
    );
}

#[test]
fn populate_labels_overrides_and_port_defaulted_from_scheme() {
    case(
        &[
            ("__address__", "1.2.3.4"),
            ("__scheme__", "http"),
            ("__metrics_path__", "/custom"),
            ("job", "custom-job"),
            ("__scrape_interval__", "2s"),
            ("__scrape_timeout__", "2s"),
        ],
        HTTPS_1S,
        false,
        Ok((
            &[
                ("__address__", "1.2.3.4:80"),
                ("instance", "1.2.3.4:80"),
                ("__scheme__", "http"),
                ("__metrics_path__", "/custom"),
                ("job", "custom-job"),
                ("__scrape_interval__", "2s"),
                ("__scrape_timeout__", "2s"),
            ],
            &[
                ("__address__", "1.2.3.4"),
                ("__scheme__", "http"),
                ("__metrics_path__", "/custom"),
                ("job", "custom-job"),
                ("__scrape_interval__", "2s"),
                ("__scrape_timeout__", "2s"),
            ],
        )),
    );
}

#[test]
fn populate_labels_instance_given_https_port_for_ipv6() {
    case(
        &[("__address__", "[::1]"), ("instance", "custom-instance")],
        HTTPS_1S,
        false,
        Ok((
            &[
                ("__address__", "[::1]:443"),
                ("instance", "custom-instance"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
            &[
                ("__address__", "[::1]"),
                ("instance", "custom-instance"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
        )),
    );
}

#[test]
fn populate_labels_address_missing() {
    case(&[("custom", "value")], HTTPS_1S, false, Err("no address"));
}

#[test]
fn populate_labels_address_added_by_relabeling() {
    case(
        &[("custom", "host:1234")],
        &format!("{HTTPS_1S}{RELABEL_ADDRESS}"),
        false,
        Ok((
            &[
                ("__address__", "host:1234"),
                ("instance", "host:1234"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
                ("custom", "host:1234"),
            ],
            &[
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
                ("custom", "host:1234"),
            ],
        )),
    );
}

// Prometheus's "Invalid UTF-8 in label" case cannot be built here: label
// values are Rust strings, valid UTF-8 by construction.

#[test]
fn populate_labels_invalid_durations() {
    case(
        &[
            ("__address__", "1.2.3.4:1000"),
            ("__scrape_interval__", "2notseconds"),
        ],
        HTTPS_1S,
        false,
        Err("error parsing scrape interval: not a valid duration string: \"2notseconds\""),
    );
    case(
        &[
            ("__address__", "1.2.3.4:1000"),
            ("__scrape_timeout__", "2notseconds"),
        ],
        HTTPS_1S,
        false,
        Err("error parsing scrape timeout: not a valid duration string: \"2notseconds\""),
    );
    case(
        &[
            ("__address__", "1.2.3.4:1000"),
            ("__scrape_interval__", "0s"),
        ],
        HTTPS_1S,
        false,
        Err("scrape interval cannot be 0"),
    );
    case(
        &[
            ("__address__", "1.2.3.4:1000"),
            ("__scrape_timeout__", "0s"),
        ],
        HTTPS_1S,
        false,
        Err("scrape timeout cannot be 0"),
    );
    case(
        &[
            ("__address__", "1.2.3.4:1000"),
            ("__scrape_interval__", "1s"),
            ("__scrape_timeout__", "2s"),
        ],
        HTTPS_1S,
        false,
        Err("scrape timeout cannot be greater than scrape interval (\"2s\" > \"1s\")"),
    );
}

#[test]
fn populate_labels_no_default_port() {
    case(
        &[("__address__", "1.2.3.4")],
        HTTPS_1S,
        true,
        Ok((
            &[
                ("__address__", "1.2.3.4"),
                ("instance", "1.2.3.4"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
            &[
                ("__address__", "1.2.3.4"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
        )),
    );
    case(
        &[("__address__", "1.2.3.4:80")],
        HTTP_1S,
        true,
        Ok((
            &[
                ("__address__", "1.2.3.4"),
                ("instance", "1.2.3.4:80"),
                ("__scheme__", "http"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
            &[
                ("__address__", "1.2.3.4:80"),
                ("__scheme__", "http"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
        )),
    );
    case(
        &[("__address__", "1.2.3.4:443")],
        HTTPS_1S,
        true,
        Ok((
            &[
                ("__address__", "1.2.3.4"),
                ("instance", "1.2.3.4:443"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
            &[
                ("__address__", "1.2.3.4:443"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/metrics"),
                ("job", "job"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ],
        )),
    );
}

#[test]
fn populate_labels_meta_dropped_params_and_bad_hosts() {
    let config = format!("{HTTP_1S}params:\n  module: [http_2xx, other]\n");
    let input = l(&[("__address__", "a:9"), ("__meta_x", "y"), ("__tmp", "z")]);
    let mut lb = LabelsBuilder::new(&input);
    let (res, orig) = populate_labels(&mut lb, &cfg(&config), false).expect("valid");
    assert_eq!(res.get("__meta_x"), None, "meta labels dropped");
    assert_eq!(res.get("__tmp"), Some("z"), "other __ labels stay");
    assert_eq!(res.get("__param_module"), Some("http_2xx"));
    assert_eq!(orig.get("__meta_x"), Some("y"), "discovered keeps meta");

    case(
        &[("__address__", "a/b:80")],
        HTTP_1S,
        false,
        Err("\"a/b:80\" is not a valid hostname"),
    );
    let weird = "job_name: job\nscheme: ftp\nscrape_interval: 1s\nscrape_timeout: 1s\n";
    case(
        &[("__address__", "host")],
        weird,
        false,
        Err("invalid scheme: \"ftp\""),
    );
}

#[test]
fn relabel_drop_keeps_discovered_labels() {
    let config = format!("{HTTP_1S}relabel_configs:\n  - action: drop\n    source_labels: [__address__]\n    regex: drop.*\n");
    let input = l(&[("__address__", "drop-me:80")]);
    let mut lb = LabelsBuilder::new(&input);
    let (res, orig) = populate_labels(&mut lb, &cfg(&config), false).expect("dropped is no error");
    assert!(res.is_empty());
    assert_eq!(orig.get("__address__"), Some("drop-me:80"));
}

#[test]
fn targets_from_group_merges_group_labels_and_reports_failures() {
    let group = TargetGroup {
        targets: vec![
            l(&[("__address__", "a:1"), ("env", "own")]),
            l(&[("foo", "no-address")]),
            l(&[("__address__", "b:2")]),
        ],
        labels: l(&[("env", "group"), ("team", "t")]),
        source: "static/0".to_string(),
    };
    let mut lb = LabelsBuilder::default();
    let (targets, failures) = targets_from_group(&group, &cfg(HTTP_1S), false, &mut lb);
    assert_eq!(targets.len(), 2);
    assert_eq!(
        targets[0].labels().get("env"),
        Some("own"),
        "target label wins"
    );
    assert_eq!(targets[1].labels().get("env"), Some("group"));
    assert_eq!(targets[1].labels().get("team"), Some("t"));
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].to_string(),
        "instance 1 in group static/0: no address"
    );
}

#[test]
fn target_url_and_public_labels() {
    // From Prometheus's TestTargetURL.
    let mut params = BTreeMap::new();
    params.insert(
        "abc".to_string(),
        vec!["foo".to_string(), "bar".to_string(), "baz".to_string()],
    );
    params.insert("xyz".to_string(), vec!["hoo".to_string()]);
    let labels = l(&[
        ("__address__", "example.com:1234"),
        ("__scheme__", "https"),
        ("__metrics_path__", "/metricz"),
        ("__param_abc", "overwrite"),
        ("__param_cde", "huu"),
        ("instance", "example.com:1234"),
    ]);
    let t = Target::new(labels, Labels::empty(), &params);
    assert_eq!(
        t.url(),
        "https://example.com:1234/metricz?abc=overwrite&abc=bar&abc=baz&cde=huu&xyz=hoo"
    );
    assert_eq!(t.labels(), &l(&[("instance", "example.com:1234")]));
    assert_eq!(t.instance(), "example.com:1234");
}

#[test]
fn target_hash_identifies_labels_and_url() {
    let a = Target::new(
        l(&[("__address__", "a:1"), ("job", "j")]),
        Labels::empty(),
        &BTreeMap::new(),
    );
    let a2 = Target::new(
        l(&[("__address__", "a:1"), ("job", "j")]),
        l(&[("x", "y")]),
        &BTreeMap::new(),
    );
    let b = Target::new(
        l(&[("__address__", "a:1"), ("job", "k")]),
        Labels::empty(),
        &BTreeMap::new(),
    );
    assert_eq!(a.hash(), a2.hash(), "discovered labels do not count");
    assert_ne!(a.hash(), b.hash());
}
