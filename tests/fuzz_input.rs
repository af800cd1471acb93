//! Property fuzzing of the inputs a stranger controls: config files and the
//! query API's parameters. Nothing may panic; whatever is accepted is in
//! range (durations within Prometheus's bound, times valid milliseconds),
//! and what is refused says why.
//!
//! `make test` runs a few hundred cases per property; a long run is
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz_input`.
//!
//! Config text is generated from a grammar of `prometheus.yml` whose value
//! slots take plausible values most of the time and hostile ones otherwise
//! (huge, negative and fractional numbers, every duration unit with up to
//! 25 digits, byte sizes, empty and odd strings, flow collections), with
//! jobs sometimes sharing an anchored `static_configs`; then optionally
//! damaged at the byte level. So cases reach deep into validation and use
//! as well as into the YAML parser's error paths. (Alias bombs and deep
//! nesting have their own tests in `config::yaml` and `tests/hostile.rs`.)

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgescrape::config::{ByteSize, Config, Duration as PromDuration};
use edgescrape::labels::Labels;
use edgescrape::promql::{self, Limits};
use edgescrape::relabel;
use edgescrape::web::{format, selector};
use proptest::prelude::*;

/// Any scalar of YAML: numbers of every shape, empty and odd strings, flow
/// collections, regex-breaking text. (Text that breaks the YAML itself
/// comes from the byte-level damage and arbitrary-text properties.)
fn wild() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,25}",
        "-?[0-9]{0,5}\\.[0-9]{0,5}(e[+-]?[0-9]{1,3})?",
        Just("\"\"".to_string()),
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
        "\"[^\"\\\\]{0,12}\"",
        "[a-z_:][a-z0-9_:.]{0,10}",
        Just("'.*('".to_string()),
    ]
}

/// Prometheus durations, well-formed or nearly, with any number of digits.
fn duration_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            "[0-9]{1,25}",
            prop::sample::select(vec!["y", "w", "d", "h", "m", "s", "ms", "us", ""]),
        ),
        1..4,
    )
    .prop_map(|parts| parts.into_iter().map(|(n, u)| format!("{n}{u}")).collect())
}

/// What a config slot holds; each kind mostly gets plausible values, so
/// generated configs get past the parser into validation and use, and
/// sometimes extreme or wild ones.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Duration,
    Count,
    Size,
    Bool,
    Text,
}

fn value(slot: Slot) -> BoxedStrategy<String> {
    match slot {
        Slot::Duration => prop_oneof![
            16 => "[1-9][0-9]{0,2}(ms|s|m|h|d)",
            3 => duration_text(),
            1 => wild(),
        ]
        .boxed(),
        Slot::Count => prop_oneof![16 => "[0-9]{1,6}", 3 => "-?[0-9]{7,25}", 1 => wild()].boxed(),
        Slot::Size => prop_oneof![
            16 => "[0-9]{1,4}(B|KB|MB|GB)",
            3 => "[0-9]{1,25}(B|KB|MB|GB|TB|PB|EB|kb|XB)?",
            1 => wild(),
        ]
        .boxed(),
        Slot::Bool => prop_oneof![16 => "true|false", 1 => wild()].boxed(),
        Slot::Text => prop_oneof![16 => "[a-z/_]{1,8}", 1 => wild()].boxed(),
    }
}

/// `  key: value` lines for a subset of `keys`, each key at most once.
fn fields(keys: &'static [(&'static str, Slot)], indent: usize) -> BoxedStrategy<String> {
    prop::sample::subsequence(keys.to_vec(), 0..keys.len().min(6))
        .prop_flat_map(move |chosen| {
            chosen
                .into_iter()
                .map(move |(key, slot)| {
                    value(slot).prop_map(move |v| format!("{}{key}: {v}\n", " ".repeat(indent)))
                })
                .collect::<Vec<_>>()
        })
        .prop_map(|lines| lines.concat())
        .boxed()
}

const SCRAPE_KEYS: &[(&str, Slot)] = &[
    ("scrape_interval", Slot::Duration),
    ("scrape_timeout", Slot::Duration),
    ("sample_limit", Slot::Count),
    ("target_limit", Slot::Count),
    ("label_limit", Slot::Count),
    ("label_name_length_limit", Slot::Count),
    ("label_value_length_limit", Slot::Count),
    ("body_size_limit", Slot::Size),
    ("keep_dropped_targets", Slot::Count),
    ("honor_labels", Slot::Bool),
    ("metrics_path", Slot::Text),
];

/// One scrape config; `shared` reuses the first job's anchored groups.
fn scrape_config(index: usize, anchor: bool) -> BoxedStrategy<String> {
    (
        fields(SCRAPE_KEYS, 4),
        proptest::collection::vec(relabel_rule(), 0..3),
        proptest::collection::vec(
            prop_oneof![16 => "[a-z]{1,5}:[0-9]{1,5}", 1 => wild()],
            0..3,
        ),
    )
        .prop_map(move |(fields, relabels, targets)| {
            let mut out = format!("  - job_name: job{index}\n{fields}");
            if !relabels.is_empty() {
                out.push_str("    relabel_configs:\n");
                for rule in relabels {
                    out.push_str(&rule);
                }
            }
            match (anchor, index) {
                (true, 0) => out.push_str("    static_configs: &groups\n      - targets:\n"),
                (true, _) => {
                    out.push_str("    static_configs: *groups\n");
                    return out;
                }
                (false, _) => out.push_str("    static_configs:\n      - targets:\n"),
            }
            for t in targets {
                out.push_str(&format!("          - {t}\n"));
            }
            out
        })
        .boxed()
}

fn relabel_rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "replace",
            "keep",
            "drop",
            "hashmod",
            "hashmod",
            "hashmod",
            "labelmap",
            "labeldrop",
            "labelkeep",
            "lowercase",
            "uppercase",
            "keepequal",
            "dropequal",
            "bogus",
        ]),
        value(Slot::Count),
        prop_oneof![16 => "'[a-z.*]{0,8}'", 1 => wild()],
        prop_oneof![16 => "[a-z_]{1,8}", 1 => wild()],
    )
        .prop_map(|(action, modulus, regex, target)| {
            // The fields each action takes (others are refused), so most
            // rules get through validation and run.
            let source = "        source_labels: [__address__]\n";
            let modulus = format!("        modulus: {modulus}\n");
            let regex = format!("        regex: {regex}\n");
            let target = format!("        target_label: {target}\n");
            let fields = match action {
                "hashmod" => [source, &modulus, &target].concat(),
                "replace" => [source, &regex, &target].concat(),
                "keep" | "drop" => [source, &regex].concat(),
                "labelmap" | "labeldrop" | "labelkeep" => regex,
                _ => [source, &target].concat(),
            };
            format!("      - action: {action}\n{fields}")
        })
}

const QUEUE_KEYS: &[(&str, Slot)] = &[
    ("capacity", Slot::Count),
    ("max_shards", Slot::Count),
    ("min_shards", Slot::Count),
    ("max_samples_per_send", Slot::Count),
    ("batch_send_deadline", Slot::Duration),
    ("min_backoff", Slot::Duration),
    ("max_backoff", Slot::Duration),
    ("sample_age_limit", Slot::Duration),
];

fn remote_write(index: usize) -> impl Strategy<Value = String> {
    (value(Slot::Duration), fields(QUEUE_KEYS, 6)).prop_map(move |(timeout, fields)| {
        format!(
            "  - url: http://127.0.0.1:9/w{index}\n    remote_timeout: {timeout}\n    \
             queue_config:\n{fields}"
        )
    })
}

const GLOBAL_KEYS: &[(&str, Slot)] = &[
    ("scrape_interval", Slot::Duration),
    ("scrape_timeout", Slot::Duration),
    ("evaluation_interval", Slot::Duration),
    ("body_size_limit", Slot::Size),
    ("sample_limit", Slot::Count),
];

/// A whole config; sometimes its jobs share an anchored `static_configs`.
fn config_text() -> impl Strategy<Value = String> {
    (0usize..4, 0usize..3, any::<bool>())
        .prop_flat_map(|(jobs, remotes, anchor)| {
            (
                fields(GLOBAL_KEYS, 2),
                (0..jobs)
                    .map(|i| scrape_config(i, anchor))
                    .collect::<Vec<_>>(),
                (0..remotes).map(remote_write).collect::<Vec<_>>(),
            )
        })
        .prop_map(|(global, scrapes, remotes)| {
            let mut out = format!("global:\n{global}scrape_configs:\n");
            for sc in scrapes {
                out.push_str(&sc);
            }
            if !remotes.is_empty() {
                out.push_str("remote_write:\n");
                for rw in remotes {
                    out.push_str(&rw);
                }
            }
            out
        })
}

/// Byte-level damage: overwrite, insert or delete one byte here and there.
fn mutated(text: String) -> impl Strategy<Value = String> {
    let len = text.len().max(1);
    proptest::collection::vec((0..len, any::<u8>(), 0u8..3), 0..4).prop_map(move |edits| {
        let mut bytes = text.clone().into_bytes();
        for (at, byte, kind) in edits {
            let at = at.min(bytes.len());
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Loads `text`; on success, every number the scrape and remote paths do
/// arithmetic with is in range, and relabeling runs.
fn load_and_use(text: &str) -> Result<(), TestCaseError> {
    let config = match Config::load_str(text, Path::new("fuzz.yml")) {
        Ok(c) => c,
        Err(e) => {
            let message = e.to_string();
            prop_assert!(
                message.contains("fuzz.yml"),
                "error names no file: {message}"
            );
            return Ok(());
        }
    };
    let max = PromDuration::MAX.get();
    let now = SystemTime::now();
    let later = std::time::Instant::now();
    for sc in &config.scrape_configs {
        let (interval, timeout) = (sc.interval().get(), sc.timeout().get());
        prop_assert!(interval <= max && timeout <= max);
        // The loop's deadlines, end-of-run waits and sample bounds.
        prop_assert!(later.checked_add(interval * 3).is_some());
        prop_assert!(now.checked_add(interval * 3).is_some());
        let labels = Labels::from_pairs([("__address__", "a:1"), ("job", "j")]);
        let _ = relabel::process(&labels, &sc.relabel_configs);
    }
    for rw in &config.remote_write {
        let q = &rw.queue_config;
        // The bounds the queue's allocations and threads are sized by.
        prop_assert!(q.capacity <= 1_000_000 && q.max_samples_per_send <= 100_000);
        prop_assert!(q.min_shards <= 64 && q.max_shards <= 10_000);
        for d in [
            q.batch_send_deadline.get(),
            q.min_backoff.get(),
            q.max_backoff.get(),
        ] {
            prop_assert!(d <= max);
            prop_assert!(later.checked_add(d.saturating_mul(2)).is_some());
        }
    }
    let _ = config.to_yaml();
    Ok(())
}

/// PromQL built from the subset's pieces with hostile durations and
/// offsets, or arbitrary text.
fn promql_text() -> impl Strategy<Value = String> {
    let duration = prop_oneof![
        4 => "[1-9][0-9]{0,2}(ms|s|m|h|d|w|y)",
        1 => duration_text(),
    ];
    let selector = prop_oneof![
        Just("up".to_string()),
        Just("up{job=\"j\"}".to_string()),
        Just("{__name__=~\".+\"}".to_string()),
    ];
    prop_oneof![
        (selector.clone(), duration.clone(), duration.clone())
            .prop_map(|(s, r, o)| format!("rate({s}[{r}] offset {o})")),
        (selector.clone(), duration.clone()).prop_map(|(s, o)| format!("{s} offset -{o}")),
        (selector.clone(), "-?[0-9]{1,25}(\\.[0-9]{1,5})?")
            .prop_map(|(s, at)| format!("{s} @ {at}")),
        (selector, duration).prop_map(|(s, r)| format!("sum by (job) (increase({s}[{r}]))")),
        "\\PC{0,60}",
    ]
}

/// Milliseconds across the whole range the API accepts, ends included.
fn api_time_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(-9_223_309_901_257_974_000i64),
        Just(9_223_309_901_257_974_000i64),
        -9_223_309_901_257_974_000i64..=9_223_309_901_257_974_000,
        0i64..2_000_000_000_000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_configs_load_or_are_refused_without_panics(text in config_text()) {
        load_and_use(&text)?;
    }

    #[test]
    fn damaged_configs_load_or_are_refused_without_panics(
        text in config_text().prop_flat_map(mutated)
    ) {
        load_and_use(&text)?;
    }

    #[test]
    fn arbitrary_text_as_a_config_never_panics(text in "\\PC{0,200}") {
        load_and_use(&text)?;
    }

    #[test]
    fn durations_and_sizes_parse_in_range(text in prop_oneof![duration_text(), "[ -~]{0,30}"]) {
        if let Ok(d) = PromDuration::parse(&text) {
            prop_assert!(d <= PromDuration::MAX);
            prop_assert_eq!(PromDuration::parse(&d.to_string()), Ok(d));
        }
        if let Ok(size) = ByteSize::parse(&text) {
            prop_assert_eq!(ByteSize::parse(&size.to_string()), Ok(size));
        }
    }

    #[test]
    fn query_times_are_valid_milliseconds_or_refused(
        time in prop_oneof![
            "-?[0-9]{1,30}(\\.[0-9]{0,12})?",
            "-?[0-9]\\.[0-9]{0,8}e[+-]?[0-9]{1,4}",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
            "(?i)(nan|[+-]?inf(inity)?)",
            "\\PC{0,40}",
        ]
    ) {
        if let Some(ms) = format::parse_api_time(&time) {
            // Every accepted time is a real instant Prometheus could show.
            let as_time = if ms >= 0 {
                UNIX_EPOCH.checked_add(Duration::from_millis(ms as u64))
            } else {
                UNIX_EPOCH.checked_sub(Duration::from_millis(ms.unsigned_abs()))
            };
            prop_assert!(as_time.is_some(), "{} ms", ms);
            if let Some(t) = as_time {
                prop_assert!(!format::rfc3339_nano(t).is_empty());
            }
        }
    }

    #[test]
    fn promql_queries_at_any_time_answer_or_are_refused(
        query in promql_text(),
        at in api_time_ms(),
        span in api_time_ms(),
        step in prop_oneof![1i64..100_000, Just(i64::MAX)],
    ) {
        let select = |_: &[_], mint: i64, maxt: i64| -> Result<Vec<promql::ast::SeriesSamples>, String> {
            // A few samples near the window's ends.
            let labels = Labels::from_pairs([("__name__", "up"), ("job", "j")]);
            Ok(vec![(labels, vec![(mint, 1.0), (maxt, 2.0)])])
        };
        let limits = Limits::default();
        let _ = promql::instant_query(&query, at, &limits, &select);
        // The range API's own guard: at most 11,000 points per series.
        let (start, end) = (at.min(span), at.max(span));
        if end.saturating_sub(start) / step <= 11_000 {
            let _ = promql::range_query(&query, start, end, step, &limits, &select);
        }
    }

    #[test]
    fn query_selectors_parse_or_are_refused(query in prop_oneof![
        "[a-z_:]{0,8}(\\{([a-z_]{1,5}(=|!=|=~|!~)\"[^\"]{0,8}\",?){0,4}\\})?",
        "\\PC{0,60}",
    ]) {
        let _ = selector::parse(&query);
    }
}
