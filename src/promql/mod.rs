//! A PromQL subset over the samples the box holds, Prometheus's `promql/`
//! package cut down to what a person at an edge box needs: selectors, the
//! range functions `rate`, `irate`, `increase`, `delta` and
//! `*_over_time`, the aggregations `sum`, `avg`, `min`, `max`, `count` with
//! `by`/`without`, and arithmetic with a scalar.
//!
//! [`parser::parse`] turns text into an [`ast::Expr`] or an error with line
//! and column; [`engine::instant_query`] and [`engine::range_query`]
//! evaluate it with Prometheus 2.42's time and staleness rules over samples
//! read through a caller-supplied select function, bounded by
//! [`engine::Limits`]. Queries run on the web worker that serves them; no
//! thread is started here.

pub mod ast;
pub mod engine;
pub mod functions;
pub mod parser;

use std::fmt;

pub use engine::{instant_query, range_query, Limits, Value};

/// Why a query failed; each kind is one of Prometheus's API error types.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// The query or a parameter is invalid or outside the subset
    /// (`bad_data`, HTTP 400).
    BadData(String),
    /// The query is valid but exceeds a limit or cannot be evaluated
    /// (`execution`, HTTP 422).
    Execution(String),
    /// The query ran past its deadline (`timeout`, HTTP 503).
    Timeout(String),
    /// Reading the samples failed (`internal`, HTTP 500).
    Storage(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadData(m)
            | QueryError::Execution(m)
            | QueryError::Timeout(m)
            | QueryError::Storage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for QueryError {}
