//! Prometheus 2.53's `relabel_test.go`, case by case, and the YAML form.

use super::*;
use crate::labels::{Labels, LabelsBuilder};

/// A rule as Prometheus's TestRelabel writes one: empty regex, separator and
/// replacement mean the defaults.
fn rule(
    action: Action,
    source: &[&str],
    regex: &str,
    target: &str,
    replacement: &str,
) -> RelabelConfig {
    let or = |s: &str, default: &str| if s.is_empty() { default } else { s }.to_string();
    RelabelConfig {
        source_labels: source.iter().map(|s| s.to_string()).collect(),
        regex: Regex::new(or(regex, DEFAULT_REGEX).as_str()).unwrap(),
        target_label: target.to_string(),
        replacement: or(replacement, DEFAULT_REPLACEMENT),
        action,
        ..RelabelConfig::default()
    }
}

fn hashmod(source: &[&str], target: &str, modulus: u64) -> RelabelConfig {
    RelabelConfig {
        modulus,
        ..rule(Action::HashMod, source, "", target, "")
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Validates every rule, then checks `process` and `process_builder` agree
/// on the outcome: `want` is the output set, `None` for dropped.
#[track_caller]
fn check(input: &[(&str, &str)], rules: &[RelabelConfig], want: Option<&[(&str, &str)]>) {
    for r in rules {
        if let Err(e) = r.validate() {
            panic!("rule {r:?} refused: {e}");
        }
    }
    let input = labels(input);
    let want = want.map(labels);
    assert_eq!(process(&input, rules), want, "process on {input}");
    let mut builder = LabelsBuilder::new(&labels(&[("stale", "x")]));
    builder.reset(&input);
    let kept = process_builder(&mut builder, rules);
    assert_eq!(
        kept.then(|| builder.labels()),
        want,
        "process_builder on {input}"
    );
}

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];
const PORTS: &[(&str, &str)] = &[
    ("__tmp_port", "1234"),
    ("__port1", "1234"),
    ("__port2", "5678"),
];
const SOME: &[(&str, &str)] = &[("a", "some-name-value")];

#[test]
#[rustfmt::skip]
fn relabel_cases_of_prometheus() {
    use Action::*;
    check(ABC, &[rule(Replace, &["a"], "f(.*)", "d", "ch${1}-ch${1}")], Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]));
    check(
        ABC,
        &[
            rule(Replace, &["a", "b"], "f(.*);(.*)r", "a", "b${1}${2}m"),
            rule(Replace, &["c", "a"], "(b).*b(.*)ba(.*)", "d", "$1$2$2$3"),
        ],
        Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
    );
    check(&[("a", "foo")], &[rule(Drop, &["a"], ".*o.*", "", ""), rule(Replace, &["a"], "f(.*)", "d", "ch$1-ch$1")], None);
    check(&[("a", "foo"), ("b", "bar")], &[rule(Drop, &["a"], ".*o.*", "", "")], None);
    check(&[("a", "abc")], &[rule(Replace, &["a"], ".*(b).*", "d", "$1")], Some(&[("a", "abc"), ("d", "b")]));
    check(&[("a", "foo")], &[rule(Drop, &["a"], "no-match", "", "")], Some(&[("a", "foo")]));
    check(&[("a", "foo")], &[rule(Drop, &["a"], "f|o", "", "")], Some(&[("a", "foo")]));
    check(&[("a", "foo")], &[rule(Keep, &["a"], "no-match", "", "")], None);
    check(&[("a", "foo")], &[rule(Keep, &["a"], "f.*", "", "")], Some(&[("a", "foo")]));
    // No replacement must be applied if there is no match.
    check(&[("a", "boo")], &[rule(Replace, &["a"], "f", "b", "bar")], Some(&[("a", "boo")]));
    // Blank replacement should delete the label.
    check(&[("a", "foo"), ("f", "baz")], &[rule(Replace, &["a"], "(f).*", "$1", "$2")], Some(&[("a", "foo")]));
    check(ABC, &[hashmod(&["c"], "d", 1000)], Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]));
    check(&[("a", "foo\nbar")], &[hashmod(&["a"], "b", 1000)], Some(&[("a", "foo\nbar"), ("b", "734")]));
    check(
        &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        &[rule(LabelMap, &[], "(b.*)", "", "bar_${1}")],
        Some(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")]),
    );
    check(
        &[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")],
        &[rule(LabelMap, &[], "__meta_(my.*)", "", "${1}")],
        Some(&[
            ("a", "foo"),
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
            ("my_bar", "aaa"),
            ("my_baz", "bbb"),
        ]),
    );
    // Valid case.
    check(SOME, &[rule(Replace, &["a"], "some-([^-]+)-([^,]+)", "${1}", "${2}")], Some(&[("a", "some-name-value"), ("name", "value")]));
    // Invalid replacement "".
    check(SOME, &[rule(Replace, &["a"], "some-([^-]+)-([^,]+)", "${1}", "${3}")], Some(SOME));
    // Invalid target_labels.
    check(
        &[("a", "some-name-0")],
        &[
            rule(Replace, &["a"], "some-([^-]+)-([^,]+)", "${3}", "${1}"),
            rule(Replace, &["a"], "some-([^-]+)-([^,]+)", "${3}", "${1}"),
            rule(Replace, &["a"], "some-([^-]+)(-[^,]+)", "${3}", "${1}"),
        ],
        Some(&[("a", "some-name-0")]),
    );
    // More complex real-life like use case.
    let tags = "path:/secret,job:some-job,label:foo=bar";
    check(
        &[("__meta_sd_tags", tags)],
        &[
            rule(Replace, &["__meta_sd_tags"], "(?:.+,|^)path:(/[^,]+).*", "__metrics_path__", "${1}"),
            rule(Replace, &["__meta_sd_tags"], "(?:.+,|^)job:([^,]+).*", "job", "${1}"),
            rule(Replace, &["__meta_sd_tags"], "(?:.+,|^)label:([^=]+)=([^,]+).*", "${1}", "${2}"),
        ],
        Some(&[("__meta_sd_tags", tags), ("__metrics_path__", "/secret"), ("job", "some-job"), ("foo", "bar")]),
    );
    // Prometheus issue 12283.
    let port_name = "__meta_kubernetes_pod_container_port_name";
    let port = "__meta_kubernetes_pod_annotation_XXX_metrics_port";
    check(
        &[(port_name, "foo"), (port, "9091")],
        &[
            rule(LabelDrop, &[], "^__meta_kubernetes_pod_container_port_name$", "", ""),
            rule(Replace, &[port], "(.+)", port_name, "metrics"),
            rule(Keep, &[port_name], "^metrics$", "", ""),
        ],
        Some(&[(port, "9091"), (port_name, "metrics")]),
    );
    let ab = &[("a", "foo"), ("b1", "bar"), ("b2", "baz")];
    check(ab, &[rule(LabelKeep, &[], "(b.*)", "", "")], Some(&[("b1", "bar"), ("b2", "baz")]));
    check(ab, &[rule(LabelDrop, &[], "(b.*)", "", "")], Some(&[("a", "foo")]));
    check(
        &[("foo", "bAr123Foo")],
        &[rule(Uppercase, &["foo"], "", "foo_uppercase", ""), rule(Lowercase, &["foo"], "", "foo_lowercase", "")],
        Some(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")]),
    );
    check(PORTS, &[rule(KeepEqual, &["__tmp_port"], "", "__port1", "")], Some(PORTS));
    check(PORTS, &[rule(DropEqual, &["__tmp_port"], "", "__port1", "")], None);
    check(PORTS, &[rule(DropEqual, &["__tmp_port"], "", "__port2", "")], Some(PORTS));
    check(PORTS, &[rule(KeepEqual, &["__tmp_port"], "", "__port2", "")], None);
}

#[test]
#[rustfmt::skip]
fn relabel_edge_cases() {
    use Action::*;
    // A missing source label reads as empty and still takes its separator.
    check(&[("b", "x")], &[rule(Replace, &["a", "b"], "(.*)", "c", "")], Some(&[("b", "x"), ("c", ";x")]));
    check(&[("b", "x")], &[rule(Keep, &["a"], "", "", "")], Some(&[("b", "x")]));
    check(&[("b", "x")], &[rule(Drop, &["a"], "", "", "")], None);
    // As Prometheus 2.53, `.` does not match a newline: nothing is replaced.
    check(&[("a", "x\ny")], &[rule(Replace, &["a"], "", "b", "")], Some(&[("a", "x\ny")]));
    check(&[("a", "x\ny")], &[rule(Replace, &["a"], "(?s)(.*)", "b", "")], Some(&[("a", "x\ny"), ("b", "x\ny")]));
    // `$1x` is the group named `1x`, which does not exist.
    check(&[("a", "v")], &[rule(Replace, &["a"], "(v)", "b", "$1x")], Some(&[("a", "v")]));
    check(&[("a", "v")], &[rule(Replace, &["a"], "(v)", "b", "${1}x")], Some(&[("a", "v"), ("b", "vx")]));
    check(&[("a", "v")], &[rule(Replace, &["a"], "(?P<n>v)", "t_$n", "$$$n")], Some(&[("a", "v"), ("t_v", "$v")]));
    // A static replacement needs only a match; replace overwrites.
    check(&[("a", "v")], &[rule(Replace, &[], "", "a", "static")], Some(&[("a", "static")]));
    check(&[("a", "v")], &[rule(Replace, &["a"], "w", "a", "static")], Some(&[("a", "v")]));
    // An empty upper/lowercase result deletes the target.
    check(&[("a", "v")], &[rule(Lowercase, &["missing"], "", "a", "")], Some(&[]));
    // keepequal compares with an absent target label as "".
    check(&[("a", "v")], &[rule(KeepEqual, &["missing"], "", "gone", "")], Some(&[("a", "v")]));
    // labelmap sees the set from before the rule: `b` maps onto `a` too.
    check(&[("a", "1"), ("b", "2")], &[rule(LabelMap, &[], "(a|b)", "", "a")], Some(&[("a", "2"), ("b", "2")]));
    // Everything dropped by labeldrop is an empty set, not a dropped one.
    check(&[("a", "1")], &[rule(LabelDrop, &[], ".*", "", "")], Some(&[]));
}

#[test]
fn labelmap_follows_prometheus_range_order() {
    // Base labels come first, then labels set by earlier rules in the order
    // they were set: here `a_x` (set) wins over `b_x` (base) for `y`.
    let rules = [
        rule(Action::Replace, &[], "", "a_x", "set"),
        rule(Action::LabelMap, &[], "(a|b)_x", "", "y"),
    ];
    check(
        &[("b_x", "base")],
        &rules,
        Some(&[("a_x", "set"), ("b_x", "base"), ("y", "set")]),
    );
}

#[test]
fn hashmod_is_md5_tail_modulo() {
    use md5::{Digest, Md5};
    let sum = Md5::digest(b"10.0.0.1:9100");
    let tail = u64::from_be_bytes(sum[8..].try_into().unwrap());
    let want = (tail % 7).to_string();
    check(
        &[("__address__", "10.0.0.1:9100")],
        &[hashmod(&["__address__"], "shard", 7)],
        Some(&[("__address__", "10.0.0.1:9100"), ("shard", want.as_str())]),
    );
    let unchecked = RelabelConfig {
        modulus: 0,
        ..hashmod(&["a"], "b", 1)
    };
    let set = labels(&[("a", "1")]);
    assert_eq!(
        process(&set, &[unchecked]),
        Some(set),
        "a zero modulus changes nothing"
    );
}

#[track_caller]
fn refused(config: RelabelConfig, want: &str) {
    match config.validate() {
        Ok(()) => panic!("{config:?} accepted, want {want:?}"),
        Err(e) => assert!(
            e.to_string().contains(want),
            "{e} does not contain {want:?}"
        ),
    }
}

#[test]
fn validate_as_prometheus() {
    let replace = |target: &str| RelabelConfig {
        source_labels: vec!["a".into()],
        regex: Regex::new("some-([^-]+)-([^,]+)").unwrap(),
        replacement: "${1}".into(),
        target_label: target.into(),
        ..RelabelConfig::default()
    };
    let action = |action| RelabelConfig {
        action,
        ..RelabelConfig::default()
    };
    refused(action(Action::Replace), "requires 'target_label' value");
    refused(action(Action::Lowercase), "requires 'target_label' value");
    refused(
        RelabelConfig {
            target_label: "${3}".into(),
            ..action(Action::Lowercase)
        },
        r#""${3}" is invalid 'target_label'"#,
    );
    assert_eq!(replace("${3}").validate(), Ok(()));
    refused(replace("0${3}"), r#""0${3}" is invalid 'target_label'"#);
    refused(
        replace("-${3}"),
        r#""-${3}" is invalid 'target_label' for replace action"#,
    );
    // Relabel action cannot be empty: only YAML can say that, see yaml tests.
}

#[test]
#[rustfmt::skip]
fn validate_field_rules() {
    let with = |action, f: fn(&mut RelabelConfig)| {
        let mut c = RelabelConfig {
            action,
            target_label: "t".into(),
            ..RelabelConfig::default()
        };
        f(&mut c);
        c
    };
    refused(with(Action::HashMod, |_| {}), "relabel configuration for hashmod requires non-zero modulus");
    assert_eq!(with(Action::HashMod, |c| c.modulus = 3).validate(), Ok(()));
    refused(with(Action::HashMod, |c| (c.modulus, c.target_label) = (3, "${1}".into())), r#""${1}" is invalid 'target_label' for hashmod action"#);
    refused(with(Action::Uppercase, |c| c.replacement = "x".into()), "'replacement' can not be set for uppercase action");
    refused(with(Action::KeepEqual, |c| c.target_label = "a-b".into()), r#""a-b" is invalid 'target_label' for keepequal action"#);
    refused(with(Action::DropEqual, |c| c.separator = ",".into()), "dropequal action requires only 'source_labels' and `target_label`, and no other fields");
    refused(with(Action::KeepEqual, |c| c.regex = Regex::new("x").unwrap()), "keepequal action requires only");
    refused(with(Action::KeepEqual, |c| c.modulus = 2), "keepequal action requires only");
    refused(with(Action::LabelDrop, |_| {}), "labeldrop action requires only 'regex', and no other fields");
    refused(with(Action::LabelKeep, |c| (c.target_label, c.modulus) = (String::new(), 1)), "labelkeep action requires only 'regex'");
    refused(with(Action::LabelKeep, |c| (c.target_label, c.source_labels) = (String::new(), vec!["a".into()])), "labelkeep action requires only 'regex'");
    assert_eq!(with(Action::LabelDrop, |c| c.target_label.clear()).validate(), Ok(()));
    refused(with(Action::LabelMap, |c| c.replacement = "-$1".into()), r#""-$1" is invalid 'replacement' for labelmap action"#);
    refused(with(Action::LabelMap, |c| c.replacement = String::new()), r#""" is invalid 'replacement' for labelmap action"#);
    assert_eq!(with(Action::LabelMap, |c| c.target_label.clear()).validate(), Ok(()));
    refused(with(Action::Keep, |c| c.source_labels = vec!["a.b".into()]), r#""a.b" is not a valid label name in 'source_labels' for keep action"#);
    for action in [Action::Keep, Action::Drop] {
        assert_eq!(with(action, |c| c.target_label.clear()).validate(), Ok(()));
    }
}

#[test]
fn target_label_validity() {
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${1}label", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
        ("", false),
        ("1abc", false),
        ("$1$2", true),
        ("a$", false),
    ];
    for (s, valid) in cases {
        assert_eq!(is_relabel_target(s), valid, "{s:?}");
    }
}

proptest::proptest! {
    /// The hand-written matcher agrees with Prometheus's `relabelTarget`
    /// pattern run by the regex engine.
    #[test]
    fn relabel_target_matches_prometheus_pattern(s in "[a1_${}é-]{0,8}") {
        let pattern = Regex::new(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+").unwrap();
        proptest::prop_assert_eq!(is_relabel_target(&s), pattern.is_match(&s), "{:?}", s);
    }
}

fn yaml(text: &str) -> Result<RelabelConfig, String> {
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

#[track_caller]
fn yaml_refused(text: &str, want: &str) {
    match yaml(text) {
        Ok(c) => panic!("{text:?} read as {c:?}, want error {want:?}"),
        Err(e) => assert!(e.contains(want), "{e:?} does not contain {want:?}"),
    }
}

#[test]
fn yaml_defaults() {
    let c = yaml("target_label: x").unwrap();
    assert_eq!(c.separator, ";");
    assert_eq!(c.regex.as_str(), "(.*)");
    assert_eq!(c.replacement, "$1");
    assert_eq!(c.action, Action::Replace);
    assert_eq!(c.modulus, 0);
    assert!(c.source_labels.is_empty());
    assert_eq!(
        c,
        RelabelConfig {
            target_label: "x".into(),
            ..RelabelConfig::default()
        }
    );
    // An empty rule is a replace without a target, refused as Prometheus does.
    yaml_refused(
        "{}",
        "relabel configuration for replace action requires 'target_label' value",
    );
}

#[test]
fn yaml_action_names() {
    for action in Action::ALL {
        let name = action.to_string();
        assert_eq!(name, name.to_lowercase());
        let text = format!("action: {name}\nsource_labels: [a]\ntarget_label: t\nmodulus: 2");
        let text = match action {
            Action::LabelMap | Action::LabelDrop | Action::LabelKeep => format!("action: {name}"),
            _ => text,
        };
        let text = match action {
            Action::HashMod => text,
            _ => text.replace("\nmodulus: 2", ""),
        };
        assert_eq!(yaml(&text).map(|c| c.action), Ok(action), "{text}");
        let back = serde_yaml::to_string(&action).unwrap();
        assert_eq!(back.trim(), name);
    }
    let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "replace",
            "keep",
            "drop",
            "keepequal",
            "dropequal",
            "hashmod",
            "labelmap",
            "labeldrop",
            "labelkeep",
            "lowercase",
            "uppercase"
        ]
    );
    // As Prometheus, the name is read case-insensitively.
    assert_eq!(
        yaml("action: LabelDrop").map(|c| c.action),
        Ok(Action::LabelDrop)
    );
    yaml_refused(
        "action: keep_equal",
        r#"unknown relabel action "keep_equal""#,
    );
    yaml_refused("action: \"\"", r#"unknown relabel action """#);
    yaml_refused("action:", "relabel action cannot be empty");
}

#[test]
fn yaml_fields_as_prometheus() {
    let c = yaml(
        "source_labels: [a, b]\nseparator: /\nregex: 'x(.)'\ntarget_label: t\nreplacement: v$1",
    )
    .unwrap();
    assert_eq!(c.source_labels, ["a", "b"]);
    assert_eq!(
        (
            c.separator.as_str(),
            c.regex.as_str(),
            c.replacement.as_str()
        ),
        ("/", "x(.)", "v$1")
    );
    // A null regex is the empty regex, matching only "".
    let c = yaml("regex:\ntarget_label: t").unwrap();
    assert_eq!(c.regex.as_str(), "");
    // A null separator or replacement is empty, not the default.
    let c = yaml("separator:\nreplacement:\ntarget_label: t").unwrap();
    assert_eq!((c.separator.as_str(), c.replacement.as_str()), ("", ""));
    // Other scalars read as their text, as in Prometheus's YAML decoder.
    let c = yaml("regex: 200\nreplacement: 1\ntarget_label: t").unwrap();
    assert_eq!((c.regex.as_str(), c.replacement.as_str()), ("200", "1"));
    yaml_refused("regex: '('\ntarget_label: t", "invalid regex \"(\"");
    yaml_refused(
        "target_label: t\nsource_label: [a]",
        "unknown field `source_label`",
    );
    yaml_refused(
        "source_labels: [a-b]\ntarget_label: t",
        r#""a-b" is not a valid label name"#,
    );
    // Prometheus refuses any regex written out for keepequal, even the default.
    yaml_refused(
        "action: keepequal\nsource_labels: [a]\ntarget_label: b\nregex: (.*)",
        "keepequal action requires only",
    );
    assert!(yaml("action: keepequal\nsource_labels: [a]\ntarget_label: b").is_ok());
    // And any source_labels written out for labeldrop, even empty.
    yaml_refused(
        "action: labeldrop\nsource_labels: []\nregex: a",
        "labeldrop action requires only 'regex'",
    );
    assert!(yaml("action: labeldrop\nsource_labels:\nregex: a").is_ok());
    yaml_refused(
        "action: hashmod\nsource_labels: [a]\ntarget_label: b",
        "requires non-zero modulus",
    );
}

#[test]
fn yaml_errors_name_the_position() {
    let text = "- target_label: ok\n- action: drop\n  regex: (\n";
    let err = serde_yaml::from_str::<Vec<RelabelConfig>>(text)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid regex") && err.contains("line 2"),
        "{err}"
    );
    let err = serde_yaml::from_str::<Vec<RelabelConfig>>(
        "- target_label: ok\n- action: hashmod\n  target_label: x\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("requires non-zero modulus") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn yaml_round_trip() {
    let c = RelabelConfig {
        source_labels: vec!["a".into()],
        regex: Regex::new("x+").unwrap(),
        action: Action::Keep,
        ..RelabelConfig::default()
    };
    let text = serde_yaml::to_string(&c).unwrap();
    assert_eq!(yaml(&text), Ok(c));
}
