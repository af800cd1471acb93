use super::*;
use crate::promql::ast::ArithOp;

#[track_caller]
fn ok(input: &str) -> Expr {
    parse(input).unwrap_or_else(|e| panic!("{input}: {e}"))
}

#[track_caller]
fn err(input: &str, want: &str) {
    match parse(input) {
        Ok(e) => panic!("{input}: parsed as {e:?}"),
        Err(e) => assert_eq!(e.to_string(), want, "{input}"),
    }
}

fn number(e: &Expr) -> f64 {
    match e {
        Expr::Number(n) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn numbers_and_precedence() {
    assert_eq!(number(&ok("1.5e3")), 1500.0);
    assert_eq!(number(&ok("0x1F")), 31.0);
    assert_eq!(number(&ok(".5")), 0.5);
    assert!(number(&ok("NaN")).is_nan());
    assert_eq!(number(&ok("-Inf")), f64::NEG_INFINITY);
    // `^` binds tighter than unary minus and to the right.
    match ok("-2 ^ 3 ^ 2") {
        Expr::Negate(inner) => match *inner {
            Expr::Binary(ArithOp::Pow, l, r) => {
                assert_eq!(number(&l), 2.0);
                assert!(matches!(*r, Expr::Binary(ArithOp::Pow, ..)));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match ok("1 + 2 * 3") {
        Expr::Binary(ArithOp::Add, _, r) => {
            assert!(matches!(*r, Expr::Binary(ArithOp::Mul, ..)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_subset_parses() {
    for q in [
        "up",
        r#"up{job="a",instance!="b",x=~"c.*",y!~"d"}"#,
        r#"{__name__=~"node_.+"}"#,
        "rate(node_cpu_seconds_total[5m])",
        "irate(x[1m30s])",
        "sum by (job) (rate(x[1m]))",
        "sum(rate(x[1m])) without (cpu, mode)",
        "avg(x) / 1024",
        "2 * count(up{job=\"a\"})",
        "max_over_time(x{a='}'}[10m]) - 1",
        "  last_over_time(x[1h]) # a comment",
        "-(up)",
        "SUM(up)",
    ] {
        ok(q);
    }
    match ok("sum by (b, a, a) (up)") {
        Expr::Aggregate(a) => assert_eq!(a.grouping, ["a", "b"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_what_and_where() {
    err("", "1:1: parse error: no expression found in input");
    err(
        "histogram_quantile(0.9, x)",
        "1:1: parse error: function \"histogram_quantile\" (supported: rate, irate, increase, delta, avg_over_time, min_over_time, max_over_time, sum_over_time, count_over_time, last_over_time) is not supported by edgescrape",
    );
    err(
        "topk(3, up)",
        "1:1: parse error: aggregation \"topk\" (supported: sum, avg, min, max, count) is not supported by edgescrape",
    );
    err(
        "up > 1",
        "1:4: parse error: binary operator \">\" is not supported by edgescrape",
    );
    err(
        "up and x",
        "1:4: parse error: binary operator \"and\" is not supported by edgescrape",
    );
    err(
        "up + x",
        "1:4: parse error: a binary operation between two vectors (only arithmetic with a scalar) is not supported by edgescrape",
    );
    err(
        "up offset 5m",
        "1:4: parse error: the offset modifier is not supported by edgescrape",
    );
    err(
        "up @ 100",
        "1:4: parse error: the @ modifier is not supported by edgescrape",
    );
    err(
        "rate(x[5m:1m])",
        "1:7: parse error: a subquery is not supported by edgescrape",
    );
    err(
        "rate(x)",
        "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
    );
    err(
        "sum(x[5m])",
        "1:5: parse error: expected type instant vector in aggregation expression, got range vector",
    );
    err(
        "x[5m] + 1",
        "1:7: parse error: binary expression must contain only scalar and instant vector types",
    );
    err("(1 + 2", "1:7: parse error: unclosed left parenthesis");
    err(
        "up{job=\"a\"",
        "1:3: parse error: unexpected end of input inside braces",
    );
    let e = parse("up{job=~\"(\"}").expect_err("bad regex");
    assert!(
        e.to_string()
            .starts_with("1:9: parse error: invalid regular expression \"(\""),
        "{e}"
    );
    err("sum(up)\n  x", "2:3: parse error: unexpected character 'x'");
    err("x[0s]", "1:3: parse error: duration must be greater than 0");
    err("1x", "1:1: parse error: bad number or duration syntax");
    err(
        "\"str\"",
        "1:1: parse error: a string literal is not supported by edgescrape",
    );
    err(
        "{}",
        "1:1: parse error: vector selector must contain at least one non-empty matcher",
    );
}
