//! Cases of Prometheus's `promparse_test.go` (v2.42.0 and v2.53.0), plus
//! edgescrape's own, and property tests.

use super::testutil::*;
use super::MetricType;
use super::NORMAL_NAN_BITS;

const TEXT: &str = "text/plain; version=0.0.4";

type Pairs = &'static [(&'static str, &'static str)];

#[test]
fn prom_parse_upstream_cases() {
    let mut input = String::from(
        r#"# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# 	TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25",} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
go_gc_duration_seconds{quantile="0.8", a="b"} 8.3835e-05
go_gc_duration_seconds{ quantile="0.9", a="b"} 8.3835e-05
# Hrandom comment starting with prefix of HELP
#
wind_speed{A="2",c="3"} 12345
# comment with escaped \n newline
# comment with escaped \ escape character
# HELP nohelp1
# HELP nohelp2 
go_gc_duration_seconds{ quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile= "1.0", a= "b", } 8.3835e-05
go_gc_duration_seconds { quantile = "1.0", a = "b" } 8.3835e-05
go_gc_duration_seconds { quantile = "2.0" a = "b" } 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b="c"}	1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  	123123
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore="foo"} 1
testmetric{label="\"bar\""} 1"#,
    );
    input += "\n# HELP metric foo\x00bar";
    input += "\nnull_byte_metric{a=\"abc\x00\"} 1";
    let gc = "go_gc_duration_seconds";
    #[rustfmt::skip]
    let want = [
        help(gc, "A summary of the GC invocation durations."),
        typ(gc, MetricType::Summary),
        ser(r#"go_gc_duration_seconds{quantile="0"}"#, 4.9351e-05, &[("__name__", gc), ("quantile", "0")]),
        ser(r#"go_gc_duration_seconds{quantile="0.25",}"#, 7.424100000000001e-05, &[("__name__", gc), ("quantile", "0.25")]),
        ser(r#"go_gc_duration_seconds{quantile="0.5",a="b"}"#, 8.3835e-05, &[("__name__", gc), ("quantile", "0.5"), ("a", "b")]),
        ser(r#"go_gc_duration_seconds{quantile="0.8", a="b"}"#, 8.3835e-05, &[("__name__", gc), ("quantile", "0.8"), ("a", "b")]),
        ser(r#"go_gc_duration_seconds{ quantile="0.9", a="b"}"#, 8.3835e-05, &[("__name__", gc), ("quantile", "0.9"), ("a", "b")]),
        comment("# Hrandom comment starting with prefix of HELP"),
        comment("#"),
        ser(r#"wind_speed{A="2",c="3"}"#, 12345.0, &[("A", "2"), ("__name__", "wind_speed"), ("c", "3")]),
        comment(r"# comment with escaped \n newline"),
        comment(r"# comment with escaped \ escape character"),
        help("nohelp1", ""),
        help("nohelp2", ""),
        ser(r#"go_gc_duration_seconds{ quantile="1.0", a="b" }"#, 8.3835e-05, &[("__name__", gc), ("quantile", "1.0"), ("a", "b")]),
        ser(r#"go_gc_duration_seconds { quantile="1.0", a="b" }"#, 8.3835e-05, &[("__name__", gc), ("quantile", "1.0"), ("a", "b")]),
        ser(r#"go_gc_duration_seconds { quantile= "1.0", a= "b", }"#, 8.3835e-05, &[("__name__", gc), ("quantile", "1.0"), ("a", "b")]),
        ser(r#"go_gc_duration_seconds { quantile = "1.0", a = "b" }"#, 8.3835e-05, &[("__name__", gc), ("quantile", "1.0"), ("a", "b")]),
        ser(r#"go_gc_duration_seconds { quantile = "2.0" a = "b" }"#, 8.3835e-05, &[("__name__", gc), ("quantile", "2.0"), ("a", "b")]),
        ser("go_gc_duration_seconds_count", 99.0, &[("__name__", "go_gc_duration_seconds_count")]),
        ser(r#"some:aggregate:rate5m{a_b="c"}"#, 1.0, &[("__name__", "some:aggregate:rate5m"), ("a_b", "c")]),
        help("go_goroutines", "Number of goroutines that currently exist."),
        typ("go_goroutines", MetricType::Gauge),
        ser_ts("go_goroutines", 33.0, 123123, &[("__name__", "go_goroutines")]),
        ser("_metric_starting_with_underscore", 1.0, &[("__name__", "_metric_starting_with_underscore")]),
        ser(r#"testmetric{_label_starting_with_underscore="foo"}"#, 1.0, &[("__name__", "testmetric"), ("_label_starting_with_underscore", "foo")]),
        ser(r#"testmetric{label="\"bar\""}"#, 1.0, &[("__name__", "testmetric"), ("label", "\"bar\"")]),
        help("metric", "foo\x00bar"),
        ser("null_byte_metric{a=\"abc\x00\"}", 1.0, &[("__name__", "null_byte_metric"), ("a", "abc\x00")]),
    ];
    assert_parses(input.as_bytes(), TEXT, &want);
}

#[test]
fn prom_parse_errors_upstream_cases() {
    // Every input of TestPromParseErrors (2.42 and 2.53) and
    // TestPromNullByteHandling, with 2.42's messages.
    #[rustfmt::skip]
    let cases: &[(&[u8], usize, &str)] = &[
        (b"a", 1, "expected value after metric, got \"INVALID\""),
        (b"a{b='c'} 1\n", 1, "expected label value, got \"INVALID\""),
        (b"a{b=\n", 1, "expected label value, got \"INVALID\""),
        (b"a{\xff=\"foo\"} 1\n", 1, "expected label name, got \"INVALID\""),
        (b"a{b=\"\xff\"} 1\n", 1, "invalid UTF-8 label value"),
        (b"a true\n", 1, "strconv.ParseFloat: parsing \"true\": invalid syntax"),
        (b"something_weird{problem=\"", 1, "expected label value, got \"INVALID\""),
        (b"empty_label_name{=\"\"} 0", 1, "expected label name, got \"EQUAL\""),
        (b"foo 1_2\n", 1, "unsupported character in float"),
        (b"foo 0x1p-3\n", 1, "unsupported character in float"),
        (b"foo 0x1P-3\n", 1, "unsupported character in float"),
        (b"foo 0 1_2\n", 1, "expected next entry after timestamp, got \"INVALID\""),
        (b"{a=\"ok\"} 1", 1, "\"INVALID\" is not a valid start token"),
        (b"# TYPE #\n#EOF\n", 1, "expected metric name after TYPE, got \"INVALID\""),
        (b"# HELP #\n#EOF\n", 1, "expected metric name after HELP, got \"INVALID\""),
        // 2.53 parses these as quoted UTF-8 names; 2.42 refuses them.
        (b"{\"a\", \"b = \"c\"}", 1, "\"INVALID\" is not a valid start token"),
        (b"{\"a\",b\\nc=\"d\"} 1", 1, "\"INVALID\" is not a valid start token"),
        (b"{\"go.gc_duration_seconds\",quantile=\"0\"} 4.9351e-05", 1, "\"INVALID\" is not a valid start token"),
        (b"# HELP \"go.gc_duration_seconds\" A summary", 1, "expected metric name after HELP, got \"INVALID\""),
        (b"a{\"strange\"=\"6\"} 10", 1, "expected label name, got \"INVALID\""),
        // TestPromNullByteHandling.
        (b"a{b=\x00\"ssss\"} 1\n", 1, "expected label value, got \"INVALID\""),
        (b"a{b=\"\x00", 1, "expected label value, got \"INVALID\""),
        (b"a{b\x00=\"hiih\"}\t1", 1, "expected equal, got \"INVALID\""),
        (b"a\x00{b=\"ddd\"} 1", 1, "expected value after metric, got \"INVALID\""),
        (b"a 0 1\x00", 1, "expected next entry after timestamp, got \"INVALID\""),
    ];
    for &(input, line, message) in cases {
        assert_error(input, TEXT, line, message);
    }
}

#[test]
fn prom_null_bytes_accepted_as_upstream() {
    #[rustfmt::skip]
    let cases: &[(&[u8], Pairs)] = &[
        (b"null_byte_metric{a=\"abc\x00\"} 1", &[("__name__", "null_byte_metric"), ("a", "abc\x00")]),
        (b"a{b=\"\x00ss\"} 1\n", &[("__name__", "a"), ("b", "\x00ss")]),
        (b"a{b=\"\x00\"} 1\n", &[("__name__", "a"), ("b", "\x00")]),
    ];
    for &(input, lset) in cases {
        let series =
            std::str::from_utf8(input.split(|&c| c == b' ').next().unwrap_or(b"")).unwrap_or("");
        assert_parses(input, TEXT, &[ser(series, 1.0, lset)]);
    }
}

#[test]
fn prom_values_timestamps_and_whitespace() {
    #[rustfmt::skip]
    let cases: &[(&str, f64, Option<i64>)] = &[
        ("a 1", 1.0, None),
        ("a 1\n", 1.0, None),
        ("a -1.5e3 -0", -1500.0, None), // "-0" is no timestamp: see the error cases
        ("a +Inf", f64::INFINITY, None),
        ("a -Inf", f64::NEG_INFINITY, None),
        ("a inf", f64::INFINITY, None),
        ("a Infinity", f64::INFINITY, None),
        ("a 1 \t", 1.0, None),
        ("a\t1\t1700000000000\t", 1.0, Some(1_700_000_000_000)),
        ("a 1 0", 1.0, Some(0)),
        ("a 1 -0", 1.0, None),
        ("a-1", -1.0, None),
        ("a{}1", 1.0, None),
    ];
    for &(input, v, t) in cases {
        let got = parse_all(input.as_bytes(), TEXT);
        if input.ends_with("-0") {
            assert!(got.is_err(), "{input}: timestamps have no sign");
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{input}: {e}"));
        match got.as_slice() {
            [Got::Series { t: gt, v: gv, .. }] => {
                assert_eq!((*gt, *gv), (t, v.to_bits()), "{input}");
            }
            other => panic!("{input}: {other:?}"),
        }
    }
    let got = parse_all(b"a NaN\nb nan\n", TEXT).unwrap_or_default();
    for g in &got {
        assert!(
            matches!(g, Got::Series { v, .. } if *v == NORMAL_NAN_BITS),
            "{g:?}"
        );
    }
    assert_eq!(got.len(), 2);
}

#[test]
fn prom_accepts_what_prometheus_242_accepts() {
    #[rustfmt::skip]
    let cases: &[(&[u8], Got)] = &[
        (b"\n\n  \na 1\n\n", ser("a", 1.0, &[("__name__", "a")])),
        (b"a{b=\"line\nbreak\"} 1", ser("a{b=\"line\nbreak\"}", 1.0, &[("__name__", "a"), ("b", "line\nbreak")])),
        (b"a{b=\"x\\ty\"} 1", ser("a{b=\"x\\ty\"}", 1.0, &[("__name__", "a"), ("b", "x\\ty")])),
        (b"a{b=\"x\\\\n\"} 1", ser("a{b=\"x\\\\n\"}", 1.0, &[("__name__", "a"), ("b", "x\\n")])),
        (b"a{b=\"x\\ny\"} 1", ser("a{b=\"x\\ny\"}", 1.0, &[("__name__", "a"), ("b", "x\ny")])),
        (b"a{b=\"\"} 1", ser("a{b=\"\"}", 1.0, &[("__name__", "a")])),
        (b"a{b=\"\xc3\xbc\"} 1", ser("a{b=\"\u{fc}\"}", 1.0, &[("__name__", "a"), ("b", "\u{fc}")])),
        (b"# HELP a x\\\\y\\nz \\\"q\\\"", help("a", "x\\y\nz \\\"q\\\"")),
        (b"# HELP a  two blanks", help("a", " two blanks")),
        (b"# HELP a{curly", help("a", "curly")),
        (b"# HELP a text\r\n", help("a", "text\r")),
        (b"# TYPE a untyped", typ("a", MetricType::Unknown)),
        (b"# TYPE a histogram\n", typ("a", MetricType::Histogram)),
        (b"#\tHELP a tabbed", help("a", "tabbed")),
        (b"# HELPER a", comment("# HELPER a")),
        (b"#TYPE a counter", comment("#TYPE a counter")),
        (b"# comment\r\n", comment("# comment\r")),
        (b"# HE\x00LP a text", help("a", "text")),
    ];
    for (input, want) in cases {
        assert_parses(input, TEXT, std::slice::from_ref(want));
    }
    // A NUL at the start of a line, or in a `#x` comment, ends the input.
    assert_parses(
        b"a 1\n\x00garbage{",
        TEXT,
        &[ser("a", 1.0, &[("__name__", "a")])],
    );
    assert_parses(b"#x\x00y\na 1\n", TEXT, &[]);
    assert_parses(b"", TEXT, &[]);
}

#[test]
fn prom_rejects_what_prometheus_242_rejects() {
    #[rustfmt::skip]
    let cases: &[(&[u8], usize, &str)] = &[
        (b"a 1\r\n", 1, "strconv.ParseFloat: parsing \"1\\r\": invalid syntax"),
        (b"# HELP a b\r\na 1 2\r\n", 2, "expected next entry after timestamp, got \"INVALID\""),
        (b"a 1e400", 1, "strconv.ParseFloat: parsing \"1e400\": value out of range"),
        (b"a +NaN", 1, "strconv.ParseFloat: parsing \"+NaN\": invalid syntax"),
        (b"a 0x10", 1, "strconv.ParseFloat: parsing \"0x10\": invalid syntax"),
        (b"a 1 1.5", 1, "expected next entry after timestamp, got \"INVALID\""),
        (b"a 1 99999999999999999999", 1, "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"),
        (b"a 1 2 3", 1, "expected next entry after timestamp, got \"TIMESTAMP\""),
        (b"a{b=\"c\"}{", 1, "expected value after metric, got \"BOPEN\""),
        (b"a{b=\"c\",,d=\"e\"} 1", 1, "expected label name, got \"COMMA\""),
        (b"a{b=\"c\\\n\"} 1", 1, "expected label value, got \"INVALID\""),
        (b"a{b=\"c\"} 1\na{1=\"c\"} 1", 2, "expected label name, got \"INVALID\""),
        (b"# TYPE a gaugehistogram", 1, "invalid metric type \"gaugehistogram\""),
        (b"# TYPE a counter ", 1, "invalid metric type \"counter \""),
        (b"# TYPE a", 1, "invalid metric type \"\""),
        (b"# HELP a \xff", 1, "help text is not a valid utf8 string"),
        (b"# HELP a\x00x", 1, "linebreak expected after metadata, got \"EOF\""),
        (b"a 1\nb{c=\"1\",c=\"2\"} 1", 2, "label name \"c\" is not unique"),
        (b"a{__name__=\"b\"} 1", 1, "label name \"__name__\" is not unique"),
        (b"  a 1", 1, "invalid metric name \"  a\""),
        (b"a 1\n\tb 2", 2, "invalid metric name \"\\tb\""),
    ];
    for &(input, line, message) in cases {
        assert_error(input, TEXT, line, message);
    }
}

#[test]
fn prom_series_bytes_are_borrowed_from_the_buffer() {
    let buf = b"# HELP x y\nmetric{a=\"b\"} 1 2\n";
    let mut p = super::Parser::new(buf, "");
    assert!(matches!(p.next(), Some(Ok(super::Entry::Help))));
    assert!(matches!(p.next(), Some(Ok(super::Entry::Series))));
    let (m, t, v) = p.series();
    assert_eq!((m, t, v), (&b"metric{a=\"b\"}"[..], Some(2), 1.0));
    let range = buf.as_ptr_range();
    assert!(
        range.contains(&m.as_ptr()),
        "series bytes point into the buffer"
    );
    assert!(p.next().is_none());
    assert_eq!(p.exemplar(), None);
    assert_eq!(p.created_timestamp(), None);
}
