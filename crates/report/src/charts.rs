//! The two charts, drawn with plotters into SVG strings (no fonts needed: plotters' built-in
//! layout estimates text size and the browser renders the `<text>` elements).
//!
//! - **Equity**: realized equity (the account balance after closed trades) and mark equity
//!   (realized plus the open position's unrealized PnL) at every candle close.
//! - **Drawdown**: how far realized equity is below its running peak, in percent of that
//!   peak (0 at a new high). This is the same quantity as `max_drawdown_frac` in the summary.
//!
//! Long curves (a month of 1-minute candles is 40 000+ points) are thinned to at most
//! [`MAX_POINTS`] by keeping the lowest and highest point of each bucket, so the extremes,
//! and with them the drawdown, survive the thinning.

use plotters::{
    coord::types::{RangedCoordf64, RangedCoordi64},
    prelude::*,
};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use time::{OffsetDateTime, macros::format_description};

use crate::{
    error::ReportError,
    inputs::{EquityRow, PricePoint, TradeRow},
};

/// Chart size in SVG user units (the page scales it to its width).
const WIDTH: u32 = 1100;
const HEIGHT: u32 = 360;
/// Most points drawn per series.
pub(crate) const MAX_POINTS: usize = 2_000;

const REALIZED: RGBColor = RGBColor(31, 119, 180);
const MARK: RGBColor = RGBColor(255, 127, 14);
const DRAWDOWN: RGBColor = RGBColor(214, 39, 40);
const GRID: RGBColor = RGBColor(232, 232, 232);
const PRICE: RGBColor = RGBColor(90, 98, 112);
/// Entry markers: a long is an upward triangle, a short a downward one.
pub(crate) const LONG_ENTRY: RGBColor = RGBColor(31, 119, 180);
pub(crate) const SHORT_ENTRY: RGBColor = RGBColor(148, 103, 189);
/// Exit markers: a circle, green for a net gain, red for a loss; a liquidation is a black
/// cross.
pub(crate) const WINNING_EXIT: RGBColor = RGBColor(44, 160, 44);
pub(crate) const LOSING_EXIT: RGBColor = RGBColor(214, 39, 40);
pub(crate) const LIQUIDATION: RGBColor = RGBColor(0, 0, 0);

pub(crate) fn to_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

/// Keeps at most `max` points: the min and max of each of `max / 2` equal-count buckets, in
/// time order. Shorter inputs are returned unchanged.
pub(crate) fn thin(points: &[(i64, f64)], max: usize) -> Vec<(i64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let buckets = max / 2;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for bucket in points.chunks(size) {
        let lowest = bucket
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.1.total_cmp(&b.1.1));
        let highest = bucket
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1));
        if let (Some((li, low)), Some((hi, high))) = (lowest, highest) {
            match li.cmp(&hi) {
                std::cmp::Ordering::Less => out.extend([*low, *high]),
                std::cmp::Ordering::Greater => out.extend([*high, *low]),
                std::cmp::Ordering::Equal => out.push(*low),
            }
        }
    }
    out
}

/// Drawdown of realized equity below its running peak, in percent (≤ 0).
///
/// Realized equity changes only when a trade closes, so the percentage is computed again
/// only when the equity or its peak changed since the previous point (the same figures as
/// computing it on every candle, without a `Decimal` division per candle).
pub(crate) fn drawdown_percent(points: &[EquityRow]) -> Vec<(i64, f64)> {
    let mut peak: Option<Decimal> = None;
    let mut last: Option<(Decimal, Decimal, f64)> = None;
    points
        .iter()
        .map(|p| {
            let high = peak.map_or(p.equity, |h| h.max(p.equity));
            peak = Some(high);
            let dd = match last {
                Some((equity, peak, dd)) if equity == p.equity && peak == high => dd,
                _ => {
                    let dd = if high > Decimal::ZERO {
                        to_f64((p.equity - high) / high * Decimal::ONE_HUNDRED)
                    } else {
                        0.0
                    };
                    last = Some((p.equity, high, dd));
                    dd
                }
            };
            (p.ts_ms, dd)
        })
        .collect()
}

/// A time-axis label: date and time for short spans, the date alone for long ones.
fn time_label(ms: i64, span_ms: i64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let formatted = if span_ms > 3 * 86_400_000 {
        at.format(format_description!("[year]-[month]-[day]"))
    } else {
        at.format(format_description!("[month]-[day] [hour]:[minute]"))
    };
    formatted.unwrap_or_else(|_| ms.to_string())
}

/// The x range (padded when all points share one time) and y range (padded by 5 %, or by 1
/// around a flat line) of some series.
fn ranges<'a>(
    series: impl IntoIterator<Item = &'a [(i64, f64)]>,
) -> (std::ops::Range<i64>, std::ops::Range<f64>) {
    let mut x = (i64::MAX, i64::MIN);
    let mut y = (f64::INFINITY, f64::NEG_INFINITY);
    for points in series {
        for (ts, v) in points {
            x = (x.0.min(*ts), x.1.max(*ts));
            y = (y.0.min(*v), y.1.max(*v));
        }
    }
    if x.0 > x.1 {
        return (0..1, 0.0..1.0);
    }
    if x.0 == x.1 {
        x = (x.0 - 60_000, x.1 + 60_000);
    }
    let pad = (y.1 - y.0) * 0.05;
    let y = if pad > 0.0 {
        (y.0 - pad, y.1 + pad)
    } else {
        (y.0 - 1.0, y.1 + 1.0)
    };
    (x.0..x.1, y.0..y.1)
}

/// Decimal places that keep about 8 axis labels on a range distinct.
fn label_decimals(range: &std::ops::Range<f64>) -> usize {
    let step = (range.end - range.start).abs() / 8.0;
    if step >= 1.0 || step <= 0.0 {
        0
    } else {
        // 0.3 → 1 place, 0.03 → 2, ...; capped for sanity.
        let places = (-step.log10()).ceil();
        if places >= 6.0 { 6 } else { places as usize }
    }
}

fn chart_error(chart: &'static str) -> impl Fn(String) -> ReportError {
    move |message| ReportError::Chart { chart, message }
}

/// Inline SVG in an HTML page needs no namespace; dropping it keeps the page free of URLs.
fn strip_namespace(svg: String) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// One line of a chart: its colour, stroke width and points (drawn in order).
pub(crate) struct Line {
    pub(crate) color: RGBColor,
    pub(crate) width: u32,
    pub(crate) points: Vec<(i64, f64)>,
}

/// The drawing area of a time chart, for what a chart adds over its lines (markers).
pub(crate) type TimeChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordi64, RangedCoordf64>>;

/// A time chart of `lines` (thinned to [`MAX_POINTS`] each) on shared axes, `y_unit`
/// appended to the vertical labels; `extra_points` widen the ranges (markers off the lines)
/// and `decorate` draws on top. An empty chart says `empty_note` in its middle.
pub(crate) fn line_chart(
    chart: &'static str,
    height: u32,
    lines: &[Line],
    extra_points: &[(i64, f64)],
    y_unit: &str,
    empty_note: &str,
    decorate: impl FnOnce(&mut TimeChart<'_, '_>) -> Result<(), String>,
) -> Result<String, ReportError> {
    let thinned: Vec<Vec<(i64, f64)>> = lines.iter().map(|l| thin(&l.points, MAX_POINTS)).collect();
    let (x_range, y_range) = ranges(
        thinned
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(extra_points)),
    );
    let span = x_range.end - x_range.start;
    let y_decimals = label_decimals(&y_range);
    let error = chart_error(chart);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| error(e.to_string()))?;
        let mut context = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| error(e.to_string()))?;
        context
            .configure_mesh()
            .x_labels(8)
            .y_labels(8)
            .light_line_style(GRID)
            .x_label_formatter(&|ms| time_label(*ms, span))
            .max_light_lines(1)
            .y_label_formatter(&|v| format!("{v:.y_decimals$}{y_unit}"))
            .draw()
            .map_err(|e| error(e.to_string()))?;
        for (line, points) in lines.iter().zip(thinned) {
            context
                .draw_series(LineSeries::new(points, line.color.stroke_width(line.width)))
                .map_err(|e| error(e.to_string()))?;
        }
        decorate(&mut context).map_err(&error)?;
        if lines.iter().all(|l| l.points.is_empty()) {
            root.draw(&Text::new(
                empty_note.to_owned(),
                (WIDTH as i32 / 2 - 120, height as i32 / 2),
                ("sans-serif", 18),
            ))
            .map_err(|e| error(e.to_string()))?;
        }
        root.present().map_err(|e| error(e.to_string()))?;
    }
    Ok(strip_namespace(svg))
}

/// The equity chart (realized and mark equity).
pub(crate) fn equity_svg(points: &[EquityRow]) -> Result<String, ReportError> {
    // Realized first and wider, mark on top and thinner: where they coincide (flat) both
    // stay visible. The legend is HTML around the chart (see `html.rs`).
    let lines = [
        Line {
            color: REALIZED,
            width: 3,
            points: points.iter().map(|p| (p.ts_ms, to_f64(p.equity))).collect(),
        },
        Line {
            color: MARK,
            width: 1,
            points: points
                .iter()
                .map(|p| (p.ts_ms, to_f64(p.mark_equity)))
                .collect(),
        },
    ];
    line_chart(
        "equity",
        HEIGHT,
        &lines,
        &[],
        "",
        "no equity points in equity.csv",
        |_| Ok(()),
    )
}

/// The price chart: the candle closes as a line, every trade's entry (a triangle pointing
/// the way of the trade) and exit (a circle coloured by its result; a cross for a
/// liquidation) at its own time and fill price.
pub(crate) fn price_svg(prices: &[PricePoint], trades: &[TradeRow]) -> Result<String, ReportError> {
    let line = Line {
        color: PRICE,
        width: 1,
        points: prices
            .iter()
            .map(|p| (p.close_time_ms, to_f64(p.close)))
            .collect(),
    };
    let entries: Vec<(i64, f64, bool)> = trades
        .iter()
        .map(|t| (t.entry_time_ms, to_f64(t.entry_price), t.side == "short"))
        .collect();
    let exits: Vec<(i64, f64, RGBColor, bool)> = trades
        .iter()
        .map(|t| {
            let liquidated = t.exit_reason == "liquidation";
            let color = if liquidated {
                LIQUIDATION
            } else if t.pnl > Decimal::ZERO {
                WINNING_EXIT
            } else {
                LOSING_EXIT
            };
            (t.exit_time_ms, to_f64(t.exit_price), color, liquidated)
        })
        .collect();
    let marker_points: Vec<(i64, f64)> = entries
        .iter()
        .map(|(t, p, _)| (*t, *p))
        .chain(exits.iter().map(|(t, p, _, _)| (*t, *p)))
        .collect();
    line_chart(
        "price",
        HEIGHT,
        std::slice::from_ref(&line),
        &marker_points,
        "",
        "no candle closes (equity.csv has no mark_price column and decisions.jsonl is missing or empty)",
        |chart| {
            chart
                .draw_series(entries.iter().map(|&(t, p, short)| {
                    let (tip, base) = if short { (7, -5) } else { (-7, 5) };
                    let color = if short { SHORT_ENTRY } else { LONG_ENTRY };
                    EmptyElement::at((t, p))
                        + Polygon::new(vec![(0, tip), (-6, base), (6, base)], color.filled())
                }))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    exits
                        .iter()
                        .filter(|e| !e.3)
                        .map(|&(t, p, color, _)| Circle::new((t, p), 4, color.filled())),
                )
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    exits
                        .iter()
                        .filter(|e| e.3)
                        .map(|&(t, p, color, _)| Cross::new((t, p), 6, color.stroke_width(2))),
                )
                .map_err(|e| e.to_string())?;
            Ok(())
        },
    )
}

/// The drawdown chart (percent below the running peak of realized equity).
pub(crate) fn drawdown_svg(points: &[EquityRow]) -> Result<String, ReportError> {
    let drawdown = thin(&drawdown_percent(points), MAX_POINTS);
    let (x_range, _) = ranges([drawdown.as_slice()]);
    let deepest = drawdown.iter().map(|p| p.1).fold(0.0_f64, f64::min);
    let y_range = (deepest * 1.1).min(-0.01)..0.0;
    let span = x_range.end - x_range.start;
    let y_decimals = label_decimals(&y_range);
    let error = chart_error("drawdown");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT * 2 / 3)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| error(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| error(e.to_string()))?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .light_line_style(GRID)
            .x_label_formatter(&|ms| time_label(*ms, span))
            .max_light_lines(1)
            .y_label_formatter(&|v| format!("{v:.y_decimals$} %"))
            .draw()
            .map_err(|e| error(e.to_string()))?;
        chart
            .draw_series(AreaSeries::new(drawdown, 0.0, DRAWDOWN.mix(0.25)).border_style(DRAWDOWN))
            .map_err(|e| error(e.to_string()))?;
        root.present().map_err(|e| error(e.to_string()))?;
    }
    Ok(strip_namespace(svg))
}

#[cfg(test)]
mod tests;
