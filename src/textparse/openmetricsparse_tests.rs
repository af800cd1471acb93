//! Cases of Prometheus's `openmetricsparse_test.go` (v2.42.0 and v2.53.0),
//! plus edgescrape's own.

use super::testutil::*;
use super::MetricType;
use super::NORMAL_NAN_BITS;

const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[test]
fn openmetrics_parse_upstream_cases() {
    let mut input = String::from(
        r#"# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
# HELP nohelp1 
# HELP help2 escape \ \n \\ \" \x chars
# UNIT nounit 
go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b="c"} 1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hh histogram
hh_bucket{le="+Inf"} 1
# TYPE gh gaugehistogram
gh_bucket{le="+Inf"} 1
# TYPE hhh histogram
hhh_bucket{le="+Inf"} 1 # {aa="bb"} 4
hhh_bucket{le="+Inf"} 1 # {id="histogram-bucket-test"} 4
# TYPE ggh gaugehistogram
ggh_bucket{le="+Inf"} 1 # {cc="dd",xx="yy"} 4 123.123
# TYPE ii info
ii{foo="bar"} 1
# TYPE ss stateset
ss{ss="foo"} 1
ss{ss="bar"} 0
ss{A="a"} 0
# TYPE un unknown
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore="foo"} 1
testmetric{label="\"bar\""} 1
# TYPE foo counter
foo_total 17.0 1520879607.789 # {xx="yy"} 5
foo_total 17.0 1520879607.789 # {id="counter-test"} 5"#,
    );
    input += "\n# HELP metric foo\x00bar";
    input += "\nnull_byte_metric{a=\"abc\x00\"} 1";
    input += "\n# EOF\n";
    let gc = "go_gc_duration_seconds";
    #[rustfmt::skip]
    let want = [
        help(gc, "A summary of the GC invocation durations."),
        typ(gc, MetricType::Summary),
        unit(gc, "seconds"),
        ser(r#"go_gc_duration_seconds{quantile="0"}"#, 4.9351e-05, &[("__name__", gc), ("quantile", "0")]),
        ser(r#"go_gc_duration_seconds{quantile="0.25"}"#, 7.424100000000001e-05, &[("__name__", gc), ("quantile", "0.25")]),
        ser(r#"go_gc_duration_seconds{quantile="0.5",a="b"}"#, 8.3835e-05, &[("__name__", gc), ("quantile", "0.5"), ("a", "b")]),
        help("nohelp1", ""),
        help("help2", "escape \\ \n \\ \" \\x chars"),
        unit("nounit", ""),
        ser(r#"go_gc_duration_seconds{quantile="1.0",a="b"}"#, 8.3835e-05, &[("__name__", gc), ("quantile", "1.0"), ("a", "b")]),
        ser("go_gc_duration_seconds_count", 99.0, &[("__name__", "go_gc_duration_seconds_count")]),
        ser(r#"some:aggregate:rate5m{a_b="c"}"#, 1.0, &[("__name__", "some:aggregate:rate5m"), ("a_b", "c")]),
        help("go_goroutines", "Number of goroutines that currently exist."),
        typ("go_goroutines", MetricType::Gauge),
        ser_ts("go_goroutines", 33.0, 123123, &[("__name__", "go_goroutines")]),
        typ("hh", MetricType::Histogram),
        ser(r#"hh_bucket{le="+Inf"}"#, 1.0, &[("__name__", "hh_bucket"), ("le", "+Inf")]),
        typ("gh", MetricType::GaugeHistogram),
        ser(r#"gh_bucket{le="+Inf"}"#, 1.0, &[("__name__", "gh_bucket"), ("le", "+Inf")]),
        typ("hhh", MetricType::Histogram),
        ser_full(r#"hhh_bucket{le="+Inf"}"#, 1.0, None, &[("__name__", "hhh_bucket"), ("le", "+Inf")], ex(&[("aa", "bb")], 4.0, None)),
        ser_full(r#"hhh_bucket{le="+Inf"}"#, 1.0, None, &[("__name__", "hhh_bucket"), ("le", "+Inf")], ex(&[("id", "histogram-bucket-test")], 4.0, None)),
        typ("ggh", MetricType::GaugeHistogram),
        ser_full(r#"ggh_bucket{le="+Inf"}"#, 1.0, None, &[("__name__", "ggh_bucket"), ("le", "+Inf")], ex(&[("cc", "dd"), ("xx", "yy")], 4.0, Some(123123))),
        typ("ii", MetricType::Info),
        ser(r#"ii{foo="bar"}"#, 1.0, &[("__name__", "ii"), ("foo", "bar")]),
        typ("ss", MetricType::StateSet),
        ser(r#"ss{ss="foo"}"#, 1.0, &[("__name__", "ss"), ("ss", "foo")]),
        ser(r#"ss{ss="bar"}"#, 0.0, &[("__name__", "ss"), ("ss", "bar")]),
        ser(r#"ss{A="a"}"#, 0.0, &[("A", "a"), ("__name__", "ss")]),
        typ("un", MetricType::Unknown),
        ser("_metric_starting_with_underscore", 1.0, &[("__name__", "_metric_starting_with_underscore")]),
        ser(r#"testmetric{_label_starting_with_underscore="foo"}"#, 1.0, &[("__name__", "testmetric"), ("_label_starting_with_underscore", "foo")]),
        ser(r#"testmetric{label="\"bar\""}"#, 1.0, &[("__name__", "testmetric"), ("label", "\"bar\"")]),
        typ("foo", MetricType::Counter),
        ser_full("foo_total", 17.0, Some(1520879607789), &[("__name__", "foo_total")], ex(&[("xx", "yy")], 5.0, None)),
        ser_full("foo_total", 17.0, Some(1520879607789), &[("__name__", "foo_total")], ex(&[("id", "counter-test")], 5.0, None)),
        help("metric", "foo\x00bar"),
        ser("null_byte_metric{a=\"abc\x00\"}", 1.0, &[("__name__", "null_byte_metric"), ("a", "abc\x00")]),
    ];
    assert_parses(input.as_bytes(), OM, &want);
}

#[test]
fn openmetrics_parse_errors_upstream_cases() {
    // Every input of TestOpenMetricsParseErrors and TestOMNullByteHandling
    // (2.42 and 2.53), with 2.42's messages.
    #[rustfmt::skip]
    let cases: &[(&[u8], usize, &str)] = &[
        (b"", 1, "data does not end with # EOF"),
        (b"\n", 1, "\"INVALID\" \"\\n\" is not a valid start token"),
        (b"metric", 1, "expected value after metric, got \"EOF\""),
        (b"metric 1", 1, "data does not end with # EOF"),
        (b"metric 1\n", 1, "data does not end with # EOF"),
        (b"metric_total 1 # {aa=\"bb\"} 4", 1, "data does not end with # EOF"),
        (b"a\n#EOF\n", 1, "expected value after metric, got \"INVALID\""),
        (b"\n\n#EOF\n", 1, "\"INVALID\" \"\\n\" is not a valid start token"),
        (b" a 1\n#EOF\n", 1, "\"INVALID\" \" \" is not a valid start token"),
        (b"9\n#EOF\n", 1, "\"INVALID\" \"9\" is not a valid start token"),
        (b"# TYPE u untyped\n#EOF\n", 1, "invalid metric type \"untyped\""),
        (b"# TYPE c counter \n#EOF\n", 1, "invalid metric type \"counter \""),
        (b"#  TYPE c counter\n#EOF\n", 1, "\"INVALID\" \" \" is not a valid start token"),
        (b"# TYPE \n#EOF\n", 1, "expected metric name after TYPE, got \"INVALID\""),
        (b"# TYPE m\n#EOF\n", 1, "expected text in TYPE"),
        (b"# UNIT metric suffix\n#EOF\n", 1, "unit not a suffix of metric \"metric\""),
        (b"# UNIT metricsuffix suffix\n#EOF\n", 1, "unit not a suffix of metric \"metricsuffix\""),
        (b"# UNIT m suffix\n#EOF\n", 1, "unit not a suffix of metric \"m\""),
        (b"# UNIT \n#EOF\n", 1, "expected metric name after UNIT, got \"INVALID\""),
        (b"# UNIT m\n#EOF\n", 1, "expected text in UNIT"),
        (b"# HELP \n#EOF\n", 1, "expected metric name after HELP, got \"INVALID\""),
        (b"# HELP m\n#EOF\n", 1, "expected text in HELP"),
        (b"a\t1\n#EOF\n", 1, "expected value after metric, got \"INVALID\""),
        (b"a 1\t2\n#EOF\n", 1, "strconv.ParseFloat: parsing \"1\\t2\": invalid syntax"),
        (b"a 1 2 \n#EOF\n", 1, "expected next entry after timestamp, got \"INVALID\""),
        (b"a 1 2 #\n#EOF\n", 1, "expected next entry after timestamp, got \"TIMESTAMP\""),
        (b"a 1 1z\n#EOF\n", 1, "strconv.ParseFloat: parsing \"1z\": invalid syntax"),
        (b" # EOF\n", 1, "\"INVALID\" \" \" is not a valid start token"),
        (b"# EOF\na 1", 2, "unexpected data after # EOF"),
        (b"# EOF\n\n", 2, "unexpected data after # EOF"),
        (b"# EOFa 1", 1, "unexpected data after # EOF"),
        (b"#\tTYPE c counter\n", 1, "\"INVALID\" \"\\t\" is not a valid start token"),
        (b"# TYPE c  counter\n", 1, "invalid metric type \" counter\""),
        (b"a 1 1 1\n# EOF\n", 1, "expected next entry after timestamp, got \"TIMESTAMP\""),
        (b"a{b='c'} 1\n# EOF\n", 1, "expected label value, got \"INVALID\""),
        (b"a{b=\"c\",} 1\n# EOF\n", 1, "expected label name, got \"BCLOSE\""),
        (b"a{,b=\"c\"} 1\n# EOF\n", 1, "expected label name or left brace, got \"COMMA\""),
        (b"a{b=\"c\"d=\"e\"} 1\n# EOF\n", 1, "expected comma, got \"LNAME\""),
        (b"a{b=\"c\",,d=\"e\"} 1\n# EOF\n", 1, "expected label name, got \"COMMA\""),
        (b"a{b=\n# EOF\n", 1, "expected label value, got \"INVALID\""),
        (b"a{\xff=\"foo\"} 1\n# EOF\n", 1, "expected label name or left brace, got \"INVALID\""),
        (b"a{b=\"\xff\"} 1\n# EOF\n", 1, "invalid UTF-8 label value"),
        (b"{\"a\",\"b = \"c\"}\n# EOF\n", 1, "\"INVALID\" \"{\" is not a valid start token"),
        (b"{\"a\",b\\nc=\"d\"} 1\n# EOF\n", 1, "\"INVALID\" \"{\" is not a valid start token"),
        (b"a true\n", 1, "strconv.ParseFloat: parsing \"true\": invalid syntax"),
        (b"something_weird{problem=\"\n# EOF\n", 1, "expected label value, got \"INVALID\""),
        (b"empty_label_name{=\"\"} 0\n# EOF\n", 1, "expected label name or left brace, got \"EQUAL\""),
        (b"foo 1_2\n\n# EOF\n", 1, "unsupported character in float"),
        (b"foo 0x1p-3\n\n# EOF\n", 1, "unsupported character in float"),
        (b"foo 0x1P-3\n\n# EOF\n", 1, "unsupported character in float"),
        (b"foo 0 1_2\n\n# EOF\n", 1, "unsupported character in float"),
        (b"custom_metric_total 1 # {aa=bb}\n# EOF\n", 1, "expected label value, got \"INVALID\""),
        (b"custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n", 1, "expected value after exemplar labels, got \"INVALID\""),
        (b"custom_metric_total 1 # {aa=\"bb\"}", 1, "expected value after exemplar labels, got \"EOF\""),
        (b"custom_metric_total 1 # {bb}", 1, "expected equal, got \"BCLOSE\""),
        (b"custom_metric_total 1 # {bb, a=\"dd\"}", 1, "expected equal, got \"COMMA\""),
        (b"custom_metric 1 # {aa=\"bb\"}", 1, "metric name custom_metric does not support exemplars"),
        (b"custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1", 1, "expected label name, got \"COMMA\""),
        (b"custom_metric_total 1 # {aa=\"bb\"} 1_2", 1, "unsupported character in float"),
        (b"custom_metric_total 1 # {aa=\"bb\"} 0x1p-3", 1, "unsupported character in float"),
        (b"custom_metric_total 1 # {aa=\"bb\"} true", 1, "strconv.ParseFloat: parsing \"true\": invalid syntax"),
        (b"custom_metric_total 1 # {aa=\"bb\",cc=}", 1, "expected label value, got \"INVALID\""),
        (b"custom_metric_total 1 # {aa=\\\"\xff\"} 9.0", 1, "expected label value, got \"INVALID\""),
        (b"{b=\"c\",} 1", 1, "\"INVALID\" \"{\" is not a valid start token"),
        (b"a 1 NaN", 1, "invalid timestamp"),
        (b"a 1 -Inf", 1, "invalid timestamp"),
        (b"a 1 Inf", 1, "invalid timestamp"),
        (b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN", 2, "invalid exemplar timestamp"),
        (b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf", 2, "invalid exemplar timestamp"),
        (b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 Inf", 2, "invalid exemplar timestamp"),
        // TestOMNullByteHandling.
        (b"a{b=\x00\"ssss\"} 1\n# EOF\n", 1, "expected label value, got \"INVALID\""),
        (b"a{b=\"\x00", 1, "expected label value, got \"INVALID\""),
        (b"a{b\x00=\"hiih\"}\t1", 1, "expected equal, got \"INVALID\""),
        (b"a\x00{b=\"ddd\"} 1", 1, "expected value after metric, got \"INVALID\""),
        (b"#", 1, "\"INVALID\" \" \" is not a valid start token"),
        (b"# H", 1, "\"INVALID\" \" \" is not a valid start token"),
        (b"custom_metric_total 1 # {b=\x00\"ssss\"} 1\n", 1, "expected label value, got \"INVALID\""),
        (b"custom_metric_total 1 # {b=\"\x00ss\"} 1\n", 1, "expected label value, got \"INVALID\""),
        // 2.53 accepts these (exemplars on any series, quoted names); 2.42 does not.
        (b"hhh_count 1 # {id=\"histogram-count-test\"} 4\n# EOF\n", 1, "metric name hhh_count does not support exemplars"),
        (b"smr_seconds_sum 42.0 # {id=\"summary-sum-test\"} 1 123.321\n# EOF\n", 1, "metric name smr_seconds_sum does not support exemplars"),
        (b"# HELP \"go.gc_duration_seconds\" A summary\n# EOF\n", 1, "expected metric name after HELP, got \"INVALID\""),
        (b"{\"go.gc_duration_seconds\",quantile=\"0\"} 4.9351e-05\n# EOF\n", 1, "\"INVALID\" \"{\" is not a valid start token"),
        (b"a{q=\"0.9\",\"http.status\"} 1\n# EOF\n", 1, "expected label name, got \"INVALID\""),
    ];
    for &(input, line, message) in cases {
        assert_error(input, OM, line, message);
    }
}

#[test]
fn openmetrics_eof_and_null_bytes_accepted_as_upstream() {
    // The happy cases of TestOpenMetricsParseErrors and TestOMNullByteHandling.
    #[rustfmt::skip]
    let cases: &[(&[u8], Got)] = &[
        (b"null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n", ser("null_byte_metric{a=\"abc\x00\"}", 1.0, &[("__name__", "null_byte_metric"), ("a", "abc\x00")])),
        (b"a{b=\"\x00ss\"} 1\n# EOF\n", ser("a{b=\"\x00ss\"}", 1.0, &[("__name__", "a"), ("b", "\x00ss")])),
        (b"a{b=\"\x00\"} 1\n# EOF\n", ser("a{b=\"\x00\"}", 1.0, &[("__name__", "a"), ("b", "\x00")])),
        (b"a{b=\"\x00\"} 1\n# EOF", ser("a{b=\"\x00\"}", 1.0, &[("__name__", "a"), ("b", "\x00")])),
    ];
    for (input, want) in cases {
        assert_parses(input, OM, std::slice::from_ref(want));
    }
    assert_parses(b"# EOF", OM, &[]);
    assert_parses(b"# EOF\n", OM, &[]);
}

#[test]
fn openmetrics_accepts_what_prometheus_242_accepts() {
    #[rustfmt::skip]
    let cases: &[(&[u8], Got)] = &[
        (b"a 1 1.5\n", ser_ts("a", 1.0, 1500, &[("__name__", "a")])),
        (b"a 1 -1.5\n", ser_ts("a", 1.0, -1500, &[("__name__", "a")])),
        (b"a 1 1e3\n", ser_ts("a", 1.0, 1_000_000, &[("__name__", "a")])),
        (b"a{} +Inf\n", ser("a{}", f64::INFINITY, &[("__name__", "a")])),
        (b"a -inf\n", ser("a", f64::NEG_INFINITY, &[("__name__", "a")])),
        (b"a{b=\"x\\ny\\\\z\\\"q\\\"\"} 1\n", ser("a{b=\"x\\ny\\\\z\\\"q\\\"\"}", 1.0, &[("__name__", "a"), ("b", "x\ny\\z\"q\"")])),
        (b"a_total 1 # {} 2\n", ser_full("a_total", 1.0, None, &[("__name__", "a_total")], ex(&[], 2.0, None))),
        (b"a_total 1 # {t=\"a\\\\b\"} 2 1.5\n", ser_full("a_total", 1.0, None, &[("__name__", "a_total")], ex(&[("t", "a\\\\b")], 2.0, Some(1500)))),
        (b"a_created 1.7e9\n", ser("a_created", 1.7e9, &[("__name__", "a_created")])),
        (b"# HELP a text\r\n", help("a", "text\r")),
        (b"# UNIT a_seconds seconds\n", unit("a_seconds", "seconds")),
        (b"# TYPE a info\n", typ("a", MetricType::Info)),
        (b"# TYPE a stateset\n", typ("a", MetricType::StateSet)),
        (b"# TYPE a unknown\n", typ("a", MetricType::Unknown)),
    ];
    for (input, want) in cases {
        let mut body = input.to_vec();
        body.extend_from_slice(b"# EOF\n");
        assert_parses(&body, OM, std::slice::from_ref(want));
    }
    let got = parse_all(b"a NaN\n# EOF\n", OM).unwrap_or_default();
    assert!(matches!(got.as_slice(), [Got::Series { v, .. }] if *v == NORMAL_NAN_BITS));
}

#[test]
fn openmetrics_rejects_what_prometheus_242_rejects() {
    #[rustfmt::skip]
    let cases: &[(&[u8], usize, &str)] = &[
        (b"a 1\r\n# EOF\n", 1, "strconv.ParseFloat: parsing \"1\\r\": invalid syntax"),
        (b"a 1\n# EOF\r\n", 2, "unexpected data after # EOF"),
        (b"# comment\n# EOF\n", 1, "\"INVALID\" \"c\" is not a valid start token"),
        (b"a  1\n# EOF\n", 1, "expected value after metric, got \"INVALID\""),
        (b"a{b=\"line\nbreak\"} 1\n# EOF\n", 1, "expected label value, got \"INVALID\""),
        (b"a{b=\"c\", d=\"e\"} 1\n# EOF\n", 1, "expected label name, got \"INVALID\""),
        (b"a_total 1 # x\n# EOF\n", 1, "expected timestamp or # symbol, got \"INVALID\""),
        (b"a_total 1 #x\n# EOF\n", 1, "strconv.ParseFloat: parsing \"#x\": invalid syntax"),
        (b"a 1 1e400\n# EOF\n", 1, "strconv.ParseFloat: parsing \"1e400\": value out of range"),
        (b"# TYPE a untyped\n# EOF\n", 1, "invalid metric type \"untyped\""),
        (b"# HELP a \xff\n# EOF\n", 1, "help text is not a valid utf8 string"),
        (b"a 1\nb{c=\"1\",c=\"2\"} 1\n# EOF\n", 2, "label name \"c\" is not unique"),
        (b"a{__name__=\"b\"} 1\n# EOF\n", 1, "label name \"__name__\" is not unique"),
        (b"a 1\n", 1, "data does not end with # EOF"),
    ];
    for &(input, line, message) in cases {
        assert_error(input, OM, line, message);
    }
}
