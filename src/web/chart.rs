//! A line chart as server-rendered SVG, for `/graph`: time on x, values on
//! y with "nice" ticks, one colour per series, lines broken where a series
//! has no value, and the value under the pointer shown by the browser's own
//! tooltip (`<title>` on each point), so hovering works without script.

use std::fmt::Write;

use crate::web::page::escape;
use crate::web::views::SeriesSamples;

/// Series colours, in legend order.
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Most points that get a hover target; beyond, lines only.
const MAX_HOVER_POINTS: usize = 6000;

/// The window the chart spans and the query's step, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// First evaluation time.
    pub start_ms: i64,
    /// Last evaluation time.
    pub end_ms: i64,
    /// Resolution: points closer than 1.5 steps are joined.
    pub step_ms: i64,
}

/// Renders `series` (named by `names`, same order) as an SVG chart.
pub fn svg(series: &[SeriesSamples], names: &[String], span: Span) -> String {
    let (lo, hi) = value_range(series);
    let width_ms = (span.end_ms - span.start_ms).max(1) as f64;
    let x = |t: i64| LEFT + (t - span.start_ms) as f64 / width_ms * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (HEIGHT - TOP - BOTTOM);
    let mut out = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" font-size=\"11\" font-family=\"system-ui,sans-serif\">"
    );
    for tick in nice_ticks(lo, hi, 6) {
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(tick) + 4.0,
            escape(&short_number(tick)),
            y = y(tick)
        );
    }
    let (tick_ms, with_seconds) = time_tick(span.end_ms - span.start_ms);
    let mut t = (span.start_ms + tick_ms - 1).div_euclid(tick_ms) * tick_ms;
    while t <= span.end_ms {
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - BOTTOM,
            HEIGHT - 10.0,
            clock(t, with_seconds),
            x = x(t)
        );
        t += tick_ms;
    }
    let points: usize = series.iter().map(|(_, p)| p.len()).sum();
    for (i, (_, samples)) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let name = escape(names.get(i).map_or("", String::as_str));
        let _ = write!(
            out,
            "<g class=\"series\" stroke=\"{colour}\" fill=\"{colour}\"><title>{name}</title>"
        );
        for run in runs(samples, span.step_ms) {
            let mut line = String::new();
            for &(t, v) in run {
                let _ = write!(line, "{:.1},{:.1} ", x(t), y(v));
            }
            let _ = write!(
                out,
                "<polyline fill=\"none\" stroke-width=\"1.5\" points=\"{}\"/>",
                line.trim_end()
            );
        }
        if points <= MAX_HOVER_POINTS {
            for &(t, v) in samples.iter().filter(|(_, v)| v.is_finite()) {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\"><title>{name}\n{} at {} UTC</title></circle>",
                    x(t),
                    y(v),
                    escape(&crate::web::format::api_value(v)),
                    clock(t, true)
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// Smallest and largest finite value, widened when flat or empty.
fn value_range(series: &[SeriesSamples]) -> (f64, f64) {
    let values = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, v)| v));
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if lo == hi {
        return (lo - 1.0, hi + 1.0);
    }
    (lo, hi)
}

/// Runs of finite points no more than 1.5 steps apart.
fn runs(samples: &[(i64, f64)], step_ms: i64) -> Vec<&[(i64, f64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=samples.len() {
        let breaks = i == samples.len()
            || !samples[i].1.is_finite()
            || !samples[i - 1].1.is_finite()
            || (samples[i].0 - samples[i - 1].0) * 2 > step_ms * 3;
        if breaks {
            let run = &samples[start..i];
            if run.iter().all(|(_, v)| v.is_finite()) && !run.is_empty() {
                out.push(run);
            }
            start = i;
        }
    }
    out
}

/// About `count` round values (1, 2 or 5 × 10^k apart) covering [lo, hi].
fn nice_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let raw = (hi - lo) / count as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let mut ticks = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && ticks.len() < 50 {
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    ticks
}

/// A time-axis tick spacing for a window, and whether labels need seconds.
fn time_tick(window_ms: i64) -> (i64, bool) {
    const STEPS: [i64; 12] = [
        1_000, 5_000, 15_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000,
        21_600_000, 86_400_000,
    ];
    let tick = STEPS
        .iter()
        .copied()
        .find(|s| window_ms / s <= 8)
        .unwrap_or(86_400_000);
    (tick, tick < 60_000)
}

/// `HH:MM` or `HH:MM:SS` (UTC) of a ms timestamp.
fn clock(t_ms: i64, seconds: bool) -> String {
    let secs = t_ms.div_euclid(1000).rem_euclid(86_400);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if seconds {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// Tick labels: `1.5k`, `2M`, `0.25`.
fn short_number(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = match a {
        a if a >= 1e12 => (v / 1e12, "T"),
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = format!("{scaled:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    #[test]
    fn ticks_runs_and_labels() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let ticks = nice_ticks(0.13, 0.31, 4);
        let want = [0.15, 0.2, 0.25, 0.3];
        assert_eq!(ticks.len(), want.len());
        assert!(
            ticks.iter().zip(want).all(|(t, w)| (t - w).abs() < 1e-12),
            "{ticks:?}"
        );
        assert_eq!(short_number(15_000.0), "15k");
        assert_eq!(short_number(0.25), "0.25");
        assert_eq!(clock(3_723_000, true), "01:02:03");
        assert_eq!(time_tick(300_000), (60_000, false));
        let samples = [(0, 1.0), (10, 2.0), (40, 3.0), (50, f64::NAN), (60, 4.0)];
        let got: Vec<usize> = runs(&samples, 10).iter().map(|r| r.len()).collect();
        assert_eq!(got, [2, 1, 1]);
    }

    #[test]
    fn series_names_are_escaped() {
        let s = vec![(Labels::empty(), vec![(0, 1.0), (1_000, 2.0)])];
        let names = vec!["x=\"<script>\"".to_string()];
        let out = svg(
            &s,
            &names,
            Span {
                start_ms: 0,
                end_ms: 1_000,
                step_ms: 1_000,
            },
        );
        assert!(
            !out.contains("<script>") && out.contains("&lt;script&gt;"),
            "{out}"
        );
        assert_eq!(out.matches("<circle").count(), 2);
    }
}
