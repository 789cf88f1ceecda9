//! Tests of the price chart: every trade's entry and exit marker, where and how it is drawn.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rust_decimal::Decimal;

use crate::{
    charts::price_svg,
    inputs::{PricePoint, TradeRow},
};

const T0: i64 = 1_767_225_600_000;

fn trade(id: &str, side: &str, entry_min: i64, exit_min: i64, pnl: i64, reason: &str) -> TradeRow {
    TradeRow {
        trade_id: id.to_owned(),
        side: side.to_owned(),
        entry_time_ms: T0 + entry_min * 60_000,
        exit_time_ms: T0 + exit_min * 60_000,
        entry_price: Decimal::from(60_000),
        exit_price: Decimal::from(60_000 + pnl),
        qty: Decimal::ONE,
        pnl: Decimal::from(pnl),
        fees: Decimal::ONE,
        funding: Some(Decimal::ZERO),
        r_multiple: Decimal::ONE,
        exit_reason: reason.to_owned(),
    }
}

fn closes(minutes: i64) -> Vec<PricePoint> {
    (0..minutes)
        .map(|i| PricePoint {
            close_time_ms: T0 + i * 60_000,
            close: Decimal::from(59_900 + (i % 20) * 10),
        })
        .collect()
}

/// The `points` of every `<polygon>` filled with `fill`, as pixel pairs.
fn polygons(svg: &str, fill: &str) -> Vec<Vec<(i32, i32)>> {
    svg.split("<polygon")
        .skip(1)
        .filter(|tag| tag.contains(&format!("fill=\"{fill}\"")))
        .map(|tag| {
            let points = tag.split("points=\"").nth(1).unwrap();
            points[..points.find('"').unwrap()]
                .split_whitespace()
                .map(|pair| {
                    let (x, y) = pair.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// The centre x of every `<circle>` filled with `fill`.
fn circles(svg: &str, fill: &str) -> Vec<i32> {
    svg.split("<circle")
        .skip(1)
        .filter(|tag| tag.contains(&format!("fill=\"{fill}\"")))
        .map(|tag| {
            let cx = tag.split("cx=\"").nth(1).unwrap();
            cx[..cx.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

#[test]
fn entries_point_the_way_of_the_trade_and_exits_are_coloured_by_their_result() {
    let trades = [
        trade("a", "long", 10, 30, 40, "take_profit"),
        trade("b", "short", 50, 60, -25, "stop_loss"),
        trade("c", "short", 80, 95, -90, "liquidation"),
    ];
    let svg = price_svg(&closes(120), &trades).unwrap();

    let longs = polygons(&svg, "#1F77B4");
    let shorts = polygons(&svg, "#9467BD");
    assert_eq!((longs.len(), shorts.len()), (1, 2), "{svg}");
    // SVG y grows downwards: a long's tip is above its base, a short's below.
    assert!(longs[0][0].1 < longs[0][1].1, "long points up: {longs:?}");
    assert!(
        shorts.iter().all(|s| s[0].1 > s[1].1),
        "shorts point down: {shorts:?}"
    );
    // Markers sit at their own times: left to right in trade order.
    assert!(longs[0][0].0 < shorts[0][0].0 && shorts[0][0].0 < shorts[1][0].0);

    let wins = circles(&svg, "#2CA02C");
    let losses = circles(&svg, "#D62728");
    assert_eq!(
        (wins.len(), losses.len()),
        (1, 1),
        "the liquidation is no circle"
    );
    assert!(
        longs[0][0].0 < wins[0] && wins[0] < shorts[0][0].0,
        "exit after its entry"
    );
    assert!(shorts[0][0].0 < losses[0] && losses[0] < shorts[1][0].0);
    // The liquidation is a black cross: two strokes.
    let cross_strokes = svg
        .split("<line")
        .skip(1)
        .filter(|tag| tag.contains("stroke=\"#000000\"") && tag.contains("stroke-width=\"2\""))
        .count();
    assert_eq!(cross_strokes, 2, "{svg}");
}

#[test]
fn a_marker_off_the_close_line_widens_the_chart_instead_of_falling_outside_it() {
    // A fill far above every close (slippage through a gap) is still drawn inside the plot.
    let mut spike = trade("a", "long", 10, 30, 40, "take_profit");
    spike.entry_price = Decimal::from(70_000);
    let svg = price_svg(&closes(60), &[spike]).unwrap();
    let long = &polygons(&svg, "#1F77B4")[0];
    // plotters clamps a point outside the axes onto the plot's edge (the 12 px margin), where
    // it would sit at the wrong price: the tip must lie below that edge.
    assert!(long[0].1 > 12, "drawn inside the price range: {long:?}");
}
