//! The expression tree of the PromQL subset edgescrape evaluates, as
//! Prometheus's `promql/parser/ast.go` restricted to what
//! [`crate::promql::parser`] accepts.

use crate::storage::selector::Matcher;

/// A parsed expression. Every node the parser builds is type-checked: a
/// [`Expr::Call`]'s argument is a [`Expr::MatrixSelector`], an
/// [`Expr::Aggregate`]'s argument is an instant vector, and at least one
/// side of a [`Expr::Binary`] is a scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal.
    Number(f64),
    /// `metric{label="v"}`: the instant vector at each evaluation time.
    VectorSelector(Selector),
    /// `metric{...}[5m]`: the samples of the last `range_ms` milliseconds.
    MatrixSelector(Selector, i64),
    /// A range-vector function applied to a matrix selector.
    Call(Function, Box<Expr>),
    /// `sum by (job) (expr)` and its kin.
    Aggregate(Aggregate),
    /// Arithmetic where at least one side is a scalar.
    Binary(ArithOp, Box<Expr>, Box<Expr>),
    /// Unary minus.
    Negate(Box<Expr>),
}

/// The type an expression evaluates to, named as Prometheus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A single number.
    Scalar,
    /// One sample per series.
    Vector,
    /// Samples over a range per series.
    Matrix,
}

impl ValueType {
    /// Prometheus's name of the type, as in its error messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        }
    }
}

impl Expr {
    /// The type of the expression's value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::MatrixSelector(..) => ValueType::Matrix,
            Expr::VectorSelector(_) | Expr::Call(..) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::Binary(_, l, r) => {
                if l.value_type() == ValueType::Scalar && r.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Negate(e) => e.value_type(),
        }
    }

    /// Every selector in the tree with the range it reads before each
    /// evaluation time (the range, or the lookback for instant selectors).
    pub fn selectors_mut<'a>(
        &'a mut self,
        lookback_ms: i64,
        out: &mut Vec<(&'a mut Selector, i64)>,
    ) {
        match self {
            Expr::Number(_) => {}
            Expr::VectorSelector(s) => out.push((s, lookback_ms)),
            Expr::MatrixSelector(s, range) => out.push((s, *range)),
            Expr::Call(_, e) | Expr::Negate(e) => e.selectors_mut(lookback_ms, out),
            Expr::Aggregate(a) => a.expr.selectors_mut(lookback_ms, out),
            Expr::Binary(_, l, r) => {
                l.selectors_mut(lookback_ms, out);
                r.selectors_mut(lookback_ms, out);
            }
        }
    }
}

/// A series selector and, once the query is prepared, the samples of every
/// series it selects.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The label matchers, `__name__` included.
    pub matchers: Vec<Matcher>,
    /// The selected series and their samples, sorted by time, stale markers
    /// included; filled by the engine before evaluation.
    pub series: Vec<SeriesSamples>,
    /// The labels of `series` without the metric name, same order; filled
    /// with `series`.
    pub nameless: Vec<crate::labels::Labels>,
}

/// One series and its raw samples `(ms, value)`, sorted by time.
pub type SeriesSamples = (crate::labels::Labels, Vec<(i64, f64)>);

/// The range-vector functions edgescrape evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `rate`: per-second increase, extrapolated, counter resets handled.
    Rate,
    /// `irate`: per-second rate of the last two samples.
    Irate,
    /// `increase`: increase, extrapolated, counter resets handled.
    Increase,
    /// `delta`: difference of a gauge, extrapolated.
    Delta,
    /// `avg_over_time`.
    AvgOverTime,
    /// `min_over_time`.
    MinOverTime,
    /// `max_over_time`.
    MaxOverTime,
    /// `sum_over_time`.
    SumOverTime,
    /// `count_over_time`.
    CountOverTime,
    /// `last_over_time`.
    LastOverTime,
}

impl Function {
    /// Every supported function with its PromQL name.
    pub const ALL: [(&'static str, Function); 10] = [
        ("rate", Function::Rate),
        ("irate", Function::Irate),
        ("increase", Function::Increase),
        ("delta", Function::Delta),
        ("avg_over_time", Function::AvgOverTime),
        ("min_over_time", Function::MinOverTime),
        ("max_over_time", Function::MaxOverTime),
        ("sum_over_time", Function::SumOverTime),
        ("count_over_time", Function::CountOverTime),
        ("last_over_time", Function::LastOverTime),
    ];

    /// The function called `name`, if edgescrape evaluates it.
    pub fn by_name(name: &str) -> Option<Function> {
        Function::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    }
}

/// An aggregation over the series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Which aggregation.
    pub op: AggregateOp,
    /// The labels of `by (...)` or `without (...)`, sorted.
    pub grouping: Vec<String>,
    /// `without` rather than `by`.
    pub without: bool,
    /// The aggregated expression (an instant vector).
    pub expr: Box<Expr>,
}

/// The aggregation operators edgescrape evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    /// `sum`.
    Sum,
    /// `avg`.
    Avg,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `count`.
    Count,
}

impl AggregateOp {
    /// The operator called `name`, if edgescrape evaluates it.
    pub fn by_name(name: &str) -> Option<AggregateOp> {
        Some(match name {
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "min" => AggregateOp::Min,
            "max" => AggregateOp::Max,
            "count" => AggregateOp::Count,
            _ => return None,
        })
    }
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%` (Go's `math.Mod`).
    Mod,
    /// `^` (Go's `math.Pow`).
    Pow,
}

impl ArithOp {
    /// Applies the operator as Prometheus's `vectorElemBinop` does.
    pub fn apply(self, l: f64, r: f64) -> f64 {
        match self {
            ArithOp::Add => l + r,
            ArithOp::Sub => l - r,
            ArithOp::Mul => l * r,
            ArithOp::Div => l / r,
            ArithOp::Mod => l % r,
            ArithOp::Pow => l.powf(r),
        }
    }
}
