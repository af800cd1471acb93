//! Evaluation of a parsed expression, as Prometheus 2.42's
//! `promql/engine.go` for the subset: instant queries at one time, range
//! queries step by step from `start` to `end`.
//!
//! A query first reads, for every selector in the expression, the samples
//! of the whole query window (`start - range` or `start - lookback` up to
//! `end`) through the caller's `select` function, which holds no storage
//! lock while the query runs; evaluation then works on those copies only.
//! Selecting counts series and samples against [`Limits`]; evaluation
//! checks the deadline at every step.
//!
//! The time rules are Prometheus 2.x's: an instant selector takes a
//! series' latest sample at or before the evaluation time and no older than
//! the lookback (5 minutes), and a stale marker there hides the series; a
//! range selector `[r]` takes the samples in `[t - r, t]`, both ends
//! included, stale markers left out.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::labels::{Labels, METRIC_NAME};
use crate::promql::ast::{
    Aggregate, AggregateOp, ArithOp, Expr, Function, Selector, SeriesSamples, ValueType,
};
use crate::promql::{functions, parser, QueryError};
use crate::storage::is_stale_nan;
use crate::storage::selector::Matcher;

/// What one query may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most samples read from storage (`--query.max-samples`; Prometheus's
    /// default 50,000,000).
    pub max_samples: usize,
    /// Most series read from storage (`--query.max-series`).
    pub max_series: usize,
    /// How long a query may run (`--query.timeout`, 2 minutes).
    pub timeout: Duration,
    /// How far back an instant selector looks (`--query.lookback-delta`, 5m).
    pub lookback: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_samples: 50_000_000,
            max_series: 100_000,
            timeout: Duration::from_secs(120),
            lookback: Duration::from_secs(300),
        }
    }
}

/// Reads the samples (stale markers included, sorted by time) of every
/// series matching all matchers in `[mint, maxt]` milliseconds.
pub type Select<'a> = dyn Fn(&[Matcher], i64, i64) -> Result<Vec<SeriesSamples>, String> + 'a;

/// The result of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Scalar(f64),
    /// One value per series, sorted by labels.
    Vector(Vec<(Labels, f64)>),
    /// Raw samples per series (a range selector at the top), sorted by labels.
    Matrix(Vec<SeriesSamples>),
}

/// Evaluates `query` at `at_ms`.
pub fn instant_query(
    query: &str,
    at_ms: i64,
    limits: &Limits,
    select: &Select<'_>,
) -> Result<Value, QueryError> {
    let mut expr = parser::parse(query).map_err(|e| QueryError::BadData(e.to_string()))?;
    let ctx = Context::prepare(&mut expr, at_ms, at_ms, limits, select)?;
    if let Expr::MatrixSelector(s, range) = &expr {
        return Ok(Value::Matrix(ctx.matrix_at(s, *range, at_ms)));
    }
    Ok(match ctx.eval(&expr, at_ms)? {
        Step::Scalar(v) => Value::Scalar(v),
        Step::Vector(mut v) => {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Vector(v)
        }
    })
}

/// Evaluates `query` at every step from `start_ms` to `end_ms` (`step_ms`
/// positive, `end_ms` not before `start_ms`); the series come sorted by
/// labels, each with the steps where it has a value.
pub fn range_query(
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    limits: &Limits,
    select: &Select<'_>,
) -> Result<Vec<SeriesSamples>, QueryError> {
    if end_ms < start_ms || step_ms <= 0 {
        return Err(QueryError::BadData(format!(
            "invalid range: start {start_ms}, end {end_ms}, step {step_ms} (ms)"
        )));
    }
    let mut expr = parser::parse(query).map_err(|e| QueryError::BadData(e.to_string()))?;
    if expr.value_type() == ValueType::Matrix {
        return Err(QueryError::BadData(
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
                .to_string(),
        ));
    }
    let ctx = Context::prepare(&mut expr, start_ms, end_ms, limits, select)?;
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut t = start_ms;
    while t <= end_ms {
        ctx.check_deadline()?;
        match ctx.eval(&expr, t)? {
            Step::Scalar(v) => out.entry(Labels::empty()).or_default().push((t, v)),
            Step::Vector(v) => {
                for (labels, value) in v {
                    out.entry(labels).or_default().push((t, value));
                }
            }
        }
        // Checked: `end_ms` may be Prometheus's maxTime.
        match t.checked_add(step_ms) {
            Some(next) => t = next,
            None => break,
        }
    }
    Ok(out.into_iter().collect())
}

/// The value of an expression at one evaluation time.
enum Step {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

struct Context {
    lookback_ms: i64,
    deadline: Instant,
    timeout: Duration,
}

impl Context {
    /// Fills every selector of `expr` with its samples for the window of
    /// evaluation times `[start_ms, end_ms]`, within `limits`.
    fn prepare(
        expr: &mut Expr,
        start_ms: i64,
        end_ms: i64,
        limits: &Limits,
        select: &Select<'_>,
    ) -> Result<Context, QueryError> {
        let ctx = Context {
            lookback_ms: i64::try_from(limits.lookback.as_millis()).unwrap_or(i64::MAX),
            deadline: Instant::now() + limits.timeout,
            timeout: limits.timeout,
        };
        let mut selectors = Vec::new();
        expr.selectors_mut(ctx.lookback_ms, &mut selectors);
        let (mut series, mut samples) = (0usize, 0usize);
        for (selector, before_ms) in selectors {
            ctx.check_deadline()?;
            let mint = start_ms.saturating_sub(before_ms);
            selector.series =
                select(&selector.matchers, mint, end_ms).map_err(QueryError::Storage)?;
            selector.nameless = selector
                .series
                .iter()
                .map(|(l, _)| drop_metric_name(l))
                .collect();
            series += selector.series.len();
            samples += selector.series.iter().map(|(_, s)| s.len()).sum::<usize>();
            if series > limits.max_series {
                return Err(QueryError::Execution(format!(
                    "query would read more than {} series (--query.max-series)",
                    limits.max_series
                )));
            }
            if samples > limits.max_samples {
                return Err(QueryError::Execution(
                    "query processing would load too many samples into memory in query execution"
                        .to_string(),
                ));
            }
        }
        Ok(ctx)
    }

    fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout(format!(
                "query timed out in expression evaluation (after {:?}, --query.timeout)",
                self.timeout
            )));
        }
        Ok(())
    }

    fn eval(&self, expr: &Expr, t: i64) -> Result<Step, QueryError> {
        Ok(match expr {
            Expr::Number(n) => Step::Scalar(*n),
            Expr::VectorSelector(s) => Step::Vector(self.vector_at(s, t)),
            Expr::MatrixSelector(..) => {
                return Err(QueryError::BadData(
                    "a range vector can only be the argument of a range function".to_string(),
                ))
            }
            Expr::Call(f, arg) => Step::Vector(self.call(*f, arg, t)?),
            Expr::Aggregate(a) => Step::Vector(self.aggregate(a, t)?),
            Expr::Binary(op, l, r) => self.binary(*op, l, r, t)?,
            Expr::Negate(e) => match self.eval(e, t)? {
                Step::Scalar(v) => Step::Scalar(-v),
                Step::Vector(v) => Step::Vector(unique(
                    v.into_iter()
                        .map(|(l, v)| (drop_metric_name(&l), -v))
                        .collect(),
                )?),
            },
        })
    }

    /// Prometheus's `vectorSelectorSingle` for every series.
    fn vector_at(&self, s: &Selector, t: i64) -> Vec<(Labels, f64)> {
        s.series
            .iter()
            .filter_map(|(labels, samples)| {
                let end = samples.partition_point(|&(ts, _)| ts <= t);
                let &(ts, v) = samples.get(end.checked_sub(1)?)?;
                (ts >= t - self.lookback_ms && !is_stale_nan(v)).then(|| (labels.clone(), v))
            })
            .collect()
    }

    /// Each series' non-stale samples in `[t - range, t]`; series without
    /// any are left out.
    fn matrix_at(&self, s: &Selector, range_ms: i64, t: i64) -> Vec<SeriesSamples> {
        s.series
            .iter()
            .filter_map(|(labels, samples)| {
                let window = window(samples, t - range_ms, t);
                (!window.is_empty()).then(|| (labels.clone(), window.into_owned()))
            })
            .collect()
    }

    fn call(&self, f: Function, arg: &Expr, t: i64) -> Result<Vec<(Labels, f64)>, QueryError> {
        let Expr::MatrixSelector(s, range_ms) = arg else {
            return Err(QueryError::BadData(
                "expected a range vector selector as the function's argument".to_string(),
            ));
        };
        let out = s
            .series
            .iter()
            .zip(&s.nameless)
            .filter_map(|((labels, samples), nameless)| {
                let points = window(samples, t - range_ms, t);
                if points.is_empty() {
                    return None;
                }
                let v = functions::call(f, &points, t - range_ms, t)?;
                // As Prometheus: last_over_time keeps the metric name, the
                // other functions drop it.
                let labels = if f == Function::LastOverTime {
                    labels
                } else {
                    nameless
                };
                Some((labels.clone(), v))
            })
            .collect();
        unique(out)
    }

    fn aggregate(&self, a: &Aggregate, t: i64) -> Result<Vec<(Labels, f64)>, QueryError> {
        let Step::Vector(input) = self.eval(&a.expr, t)? else {
            return Err(QueryError::BadData(
                "expected an instant vector in aggregation".to_string(),
            ));
        };
        let mut groups: HashMap<Labels, Group> = HashMap::new();
        for (labels, v) in input {
            let key = group_labels(&labels, &a.grouping, a.without);
            groups
                .entry(key)
                .and_modify(|g| g.add(a.op, v))
                .or_insert_with(|| Group::new(v));
        }
        Ok(groups
            .into_iter()
            .map(|(labels, g)| (labels, g.result(a.op)))
            .collect())
    }

    fn binary(&self, op: ArithOp, l: &Expr, r: &Expr, t: i64) -> Result<Step, QueryError> {
        Ok(match (self.eval(l, t)?, self.eval(r, t)?) {
            (Step::Scalar(a), Step::Scalar(b)) => Step::Scalar(op.apply(a, b)),
            (Step::Vector(v), Step::Scalar(b)) => Step::Vector(unique(
                v.into_iter()
                    .map(|(l, a)| (drop_metric_name(&l), op.apply(a, b)))
                    .collect(),
            )?),
            (Step::Scalar(a), Step::Vector(v)) => Step::Vector(unique(
                v.into_iter()
                    .map(|(l, b)| (drop_metric_name(&l), op.apply(a, b)))
                    .collect(),
            )?),
            (Step::Vector(_), Step::Vector(_)) => {
                return Err(QueryError::BadData(
                    "binary operations between two vectors are not supported by edgescrape"
                        .to_string(),
                ))
            }
        })
    }
}

/// The non-stale samples with `mint <= t <= maxt`, copied only when stale
/// markers must be taken out.
fn window(samples: &[(i64, f64)], mint: i64, maxt: i64) -> Cow<'_, [(i64, f64)]> {
    let lo = samples.partition_point(|&(ts, _)| ts < mint);
    let hi = samples.partition_point(|&(ts, _)| ts <= maxt);
    let slice = &samples[lo..hi.max(lo)];
    if slice.iter().any(|&(_, v)| is_stale_nan(v)) {
        Cow::Owned(
            slice
                .iter()
                .filter(|&&(_, v)| !is_stale_nan(v))
                .copied()
                .collect(),
        )
    } else {
        Cow::Borrowed(slice)
    }
}

fn drop_metric_name(labels: &Labels) -> Labels {
    if !labels.has(METRIC_NAME) {
        return labels.clone();
    }
    labels.builder().del(METRIC_NAME).labels()
}

/// The output labels of an aggregation group, as Prometheus: `without`
/// drops the listed labels and the metric name, `by` keeps only the listed.
fn group_labels(labels: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        labels
            .builder()
            .retain(|name, _| name != METRIC_NAME && !grouping.iter().any(|g| g == name))
            .labels()
    } else if grouping.is_empty() {
        Labels::empty()
    } else {
        labels
            .builder()
            .retain(|name, _| grouping.iter().any(|g| g == name))
            .labels()
    }
}

/// Refuses a vector in which two elements have the same labels, as
/// Prometheus does after dropping metric names.
fn unique(v: Vec<(Labels, f64)>) -> Result<Vec<(Labels, f64)>, QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    if v.iter().all(|(l, _)| seen.insert(l)) {
        Ok(v)
    } else {
        Err(QueryError::Execution(
            "vector cannot contain metrics with the same labelset".to_string(),
        ))
    }
}

/// Prometheus's `groupedAggregation` for the float operators.
struct Group {
    value: f64,
    mean: f64,
    count: u64,
}

impl Group {
    fn new(v: f64) -> Group {
        Group {
            value: v,
            mean: v,
            count: 1,
        }
    }

    fn add(&mut self, op: AggregateOp, v: f64) {
        self.count += 1;
        match op {
            AggregateOp::Sum => self.value += v,
            AggregateOp::Avg => {
                // As Prometheus 2.42: an infinite mean stays unless a NaN or
                // the opposite infinity arrives.
                if self.mean.is_infinite()
                    && ((v.is_infinite() && (self.mean > 0.0) == (v > 0.0))
                        || (!v.is_infinite() && !v.is_nan()))
                {
                    return;
                }
                let n = self.count as f64;
                self.mean += v / n - self.mean / n;
            }
            AggregateOp::Max => {
                if self.value < v || self.value.is_nan() {
                    self.value = v;
                }
            }
            AggregateOp::Min => {
                if self.value > v || self.value.is_nan() {
                    self.value = v;
                }
            }
            AggregateOp::Count => {}
        }
    }

    fn result(&self, op: AggregateOp) -> f64 {
        match op {
            AggregateOp::Avg => self.mean,
            AggregateOp::Count => self.count as f64,
            AggregateOp::Sum | AggregateOp::Min | AggregateOp::Max => self.value,
        }
    }
}

#[cfg(test)]
mod tests;
