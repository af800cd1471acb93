//! `/api/v1/query` and `/api/v1/query_range`: Prometheus's query API over
//! the PromQL subset of [`crate::promql`], parameters and JSON as
//! Prometheus 2.42's `web/api/v1`. The samples are read through
//! [`SeriesView::range`], which holds no storage lock while the query is
//! evaluated; [`Limits`] bound what one query may read and how long it runs.

use std::time::Duration;

use crate::config::Duration as PromDuration;
use crate::promql::{self, Limits, QueryError, Value};
use crate::web::api::{self, ErrorType};
use crate::web::format::parse_api_time;
use crate::web::views::SeriesView;

/// A finished API answer: HTTP status and JSON body.
pub type ApiAnswer = (u16, String);

/// Form values of the request, `FormValue`-style (first value wins).
pub type FormGet<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

/// Answers `/api/v1/query`: `query`, optional `time` (default `now_ms`) and
/// `timeout`.
pub fn instant(
    series: &dyn SeriesView,
    limits: &Limits,
    form: &FormGet<'_>,
    now_ms: i64,
) -> ApiAnswer {
    let run = || -> Result<String, QueryError> {
        let at_ms = match non_empty(form, "time") {
            Some(t) => parse_api_time(t).ok_or_else(|| {
                QueryError::BadData(format!(
                    "invalid parameter \"time\": Invalid time value for 'time': cannot parse {t:?} to a valid timestamp"
                ))
            })?,
            None => now_ms,
        };
        let limits = with_timeout(limits, form)?;
        let select = |m: &[_], mint, maxt| series.range(m, mint, maxt);
        let value = promql::instant_query(form("query").unwrap_or(""), at_ms, &limits, &select)
            .map_err(in_query)?;
        Ok(match value {
            Value::Scalar(v) => api::scalar_json(at_ms, v),
            Value::Vector(v) => {
                api::vector_json(v.into_iter().map(|(l, v)| (l, at_ms, v)).collect())
            }
            Value::Matrix(m) => api::matrix_json(&m),
        })
    };
    answer(run())
}

/// Answers `/api/v1/query_range`: `query`, `start`, `end`, `step` and
/// optional `timeout`.
pub fn range(series: &dyn SeriesView, limits: &Limits, form: &FormGet<'_>) -> ApiAnswer {
    let run = || -> Result<String, QueryError> {
        let start = time_param("start", form("start").unwrap_or(""))?;
        let end = time_param("end", form("end").unwrap_or(""))?;
        if end < start {
            return Err(bad_param(
                "end",
                "end timestamp must not be before start time",
            ));
        }
        let step = duration_param("step", form("step").unwrap_or(""))?;
        let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
        if step_ms <= 0 {
            return Err(bad_param(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        // As Prometheus: more points per series than this is refused.
        // Saturating: start and end may be Prometheus's minTime and maxTime.
        if end.saturating_sub(start) / step_ms > MAX_POINTS_PER_SERIES {
            return Err(QueryError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .to_string(),
            ));
        }
        let limits = with_timeout(limits, form)?;
        let select = |m: &[_], mint, maxt| series.range(m, mint, maxt);
        let query = form("query").unwrap_or("");
        let matrix = promql::range_query(query, start, end, step_ms, &limits, &select)?;
        Ok(api::matrix_json(&matrix))
    };
    answer(run())
}

fn answer(result: Result<String, QueryError>) -> ApiAnswer {
    match result {
        Ok(data) => (200, api::success(&data)),
        Err(e) => {
            let kind = match e {
                QueryError::BadData(_) => ErrorType::BadData,
                QueryError::Execution(_) => ErrorType::Execution,
                QueryError::Timeout(_) => ErrorType::Timeout,
                QueryError::Storage(_) => ErrorType::Internal,
            };
            (kind.status(), api::error(kind, &e.to_string()))
        }
    }
}

fn non_empty<'a>(form: &FormGet<'a>, key: &str) -> Option<&'a str> {
    form(key).filter(|v| !v.is_empty())
}

/// Prometheus's limit on the points of one series in a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

fn bad_param(name: &str, why: &str) -> QueryError {
    QueryError::BadData(format!("invalid parameter {name:?}: {why}"))
}

/// In an instant query a parse error is a bad `query` parameter, as
/// Prometheus words it (a range query reports it unwrapped).
fn in_query(e: QueryError) -> QueryError {
    match e {
        QueryError::BadData(m) if m.contains("parse error") => {
            QueryError::BadData(format!("invalid parameter \"query\": {m}"))
        }
        other => other,
    }
}

fn time_param(name: &str, value: &str) -> Result<i64, QueryError> {
    parse_api_time(value).ok_or_else(|| {
        bad_param(
            name,
            &format!("cannot parse {value:?} to a valid timestamp"),
        )
    })
}

/// Prometheus's `parseDuration`: seconds as a float, or duration syntax.
fn duration_param(name: &str, value: &str) -> Result<Duration, QueryError> {
    let bad = || bad_param(name, &format!("cannot parse {value:?} to a valid duration"));
    if let Ok(secs) = value.parse::<f64>() {
        let ms = (secs * 1000.0).round();
        if !ms.is_finite() || ms >= i64::MAX as f64 {
            return Err(bad());
        }
        return Ok(Duration::from_millis(ms.max(0.0) as u64));
    }
    PromDuration::parse(value).map(|d| d.0).map_err(|_| bad())
}

/// The limits with the request's `timeout`, when shorter than the flag's.
fn with_timeout(limits: &Limits, form: &FormGet<'_>) -> Result<Limits, QueryError> {
    let mut limits = *limits;
    if let Some(t) = non_empty(form, "timeout") {
        limits.timeout = limits.timeout.min(duration_param("timeout", t)?);
    }
    Ok(limits)
}
