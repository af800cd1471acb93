//! The range-vector functions, as Prometheus 2.42's `promql/functions.go`
//! computes them for float samples: `extrapolatedRate` for `rate`,
//! `increase` and `delta`, `instantValue` for `irate`, and the
//! `*_over_time` aggregations with Kahan-Neumaier summation.

use crate::promql::ast::Function;

/// Evaluates `function` over one series' samples in the window
/// `[range_start, range_end]` (stale markers already left out, sorted by
/// time, never empty). `None` when the function yields no sample, as
/// Prometheus drops the element (fewer than two samples for a rate).
pub fn call(
    function: Function,
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
) -> Option<f64> {
    let values = || points.iter().map(|&(_, v)| v);
    match function {
        Function::Rate => extrapolated_rate(points, range_start, range_end, true, true),
        Function::Increase => extrapolated_rate(points, range_start, range_end, true, false),
        Function::Delta => extrapolated_rate(points, range_start, range_end, false, false),
        Function::Irate => instant_rate(points),
        Function::AvgOverTime => Some(avg(values())),
        Function::MinOverTime => {
            Some(values().fold(
                points[0].1,
                |min, v| {
                    if v < min || min.is_nan() {
                        v
                    } else {
                        min
                    }
                },
            ))
        }
        Function::MaxOverTime => {
            Some(values().fold(
                points[0].1,
                |max, v| {
                    if v > max || max.is_nan() {
                        v
                    } else {
                        max
                    }
                },
            ))
        }
        Function::SumOverTime => Some(kahan_sum(values())),
        Function::CountOverTime => Some(points.len() as f64),
        Function::LastOverTime => points.last().map(|&(_, v)| v),
    }
}

/// Prometheus's `extrapolatedRate`: the increase between the first and last
/// sample (counter resets added back when `is_counter`), extrapolated to
/// the window's edges when the samples come close to them, per second when
/// `is_rate`.
fn extrapolated_rate(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        for pair in points.windows(2) {
            if pair[1].1 < pair[0].1 {
                result += pair[0].1;
            }
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first_v >= 0.0 {
        // As Prometheus: a counter cannot go below zero, so extrapolation
        // towards the start stops where it would reach zero.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    for edge in [duration_to_start, duration_to_end] {
        extrapolate_to += if edge < threshold {
            edge
        } else {
            average_between / 2.0
        };
    }
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus's `instantValue` for `irate`: the per-second rate between the
/// last two samples, a decrease read as a counter reset.
fn instant_rate(points: &[(i64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (prev_t, prev_v) = points[points.len() - 2];
    let (last_t, last_v) = points[points.len() - 1];
    let increase = if last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    (interval != 0).then(|| increase / (interval as f64 / 1000.0))
}

/// Prometheus's `kahanSumInc` (Neumaier's variant): the new sum and
/// compensation after adding `inc`.
pub fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, c) = values.fold((0.0, 0.0), |(sum, c), v| kahan_sum_inc(v, sum, c));
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// `avg_over_time` as Prometheus 2.42: an incremental Kahan-summed mean
/// that keeps an infinite mean unless a NaN or an opposite infinity comes.
fn avg(values: impl Iterator<Item = f64>) -> f64 {
    let (mut mean, mut c, mut count) = (0.0_f64, 0.0_f64, 0.0_f64);
    for v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_sum_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(f: Function, points: &[(i64, f64)], start: i64, end: i64, want: Option<f64>) {
        let got = call(f, points, start, end);
        match (got, want) {
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{f:?}: got {g}, want {w}"),
            _ => assert_eq!(got, want, "{f:?}"),
        }
    }

    #[test]
    fn rates_extrapolate_as_prometheus() {
        // Samples every 10s from 5s to 55s in a [0, 60s] window, +10 each.
        let pts: Vec<(i64, f64)> = (0..6)
            .map(|i| (5_000 + i * 10_000, 100.0 + 10.0 * i as f64))
            .collect();
        // Increase 50 over 50s, extrapolated 5s at each end (< 1.1 * 10s).
        check(Function::Increase, &pts, 0, 60_000, Some(60.0));
        check(Function::Rate, &pts, 0, 60_000, Some(1.0));
        check(Function::Delta, &pts, 0, 60_000, Some(60.0));
        // A counter reset adds the value before it back.
        let reset = [(0, 5.0), (10_000, 8.0), (20_000, 2.0)];
        check(Function::Increase, &reset, 0, 20_000, Some(5.0));
        check(Function::Irate, &reset, 0, 20_000, Some(0.2));
        // Extrapolation towards the start stops at the counter's zero
        // (10s before the first sample), then 10s at the end: 2 * 40/20.
        let young = [(30_000, 1.0), (40_000, 2.0), (50_000, 3.0)];
        check(Function::Increase, &young, 0, 60_000, Some(4.0));
        check(Function::Rate, &[(0, 1.0)], 0, 60_000, None);
    }

    #[test]
    fn over_time_functions() {
        let pts = [(0, 3.0), (1, f64::NAN), (2, 1.0), (3, 4.0)];
        assert_eq!(call(Function::MinOverTime, &pts, 0, 3), Some(1.0));
        assert_eq!(call(Function::MaxOverTime, &pts, 0, 3), Some(4.0));
        assert_eq!(call(Function::CountOverTime, &pts, 0, 3), Some(4.0));
        assert_eq!(call(Function::LastOverTime, &pts, 0, 3), Some(4.0));
        let pts = [(0, 1.0), (1, 2.0), (2, 6.0)];
        assert_eq!(call(Function::SumOverTime, &pts, 0, 3), Some(9.0));
        assert_eq!(call(Function::AvgOverTime, &pts, 0, 3), Some(3.0));
        let inf = [(0, f64::INFINITY), (1, 2.0)];
        assert_eq!(call(Function::AvgOverTime, &inf, 0, 3), Some(f64::INFINITY));
    }
}
