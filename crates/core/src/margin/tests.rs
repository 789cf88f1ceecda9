//! Tests for the isolated-margin formula against hand-computed values, and for the
//! validation of [`Leverage`] and [`MarginRates`].

use rust_decimal_macros::dec;

use super::*;

fn inputs(cost: Decimal, qty: Decimal, entry_fees: Decimal, leverage: u32) -> MarginInputs {
    let leverage = Leverage::new(leverage).expect("leverage");
    MarginInputs {
        cost,
        qty,
        entry_fees,
        margin: initial_margin(cost, leverage).expect("margin"),
    }
}

/// The loss of a close at `price` with the liquidation fee: gross loss + entry fee + fee.
fn loss_at(side: Side, position: &MarginInputs, price: Decimal, fee_rate: Decimal) -> Decimal {
    let value = price * position.qty;
    let gross = side.sign() * (value - position.cost);
    position.entry_fees + value * fee_rate - gross
}

#[test]
fn long_liquidation_price_matches_the_hand_computed_value() {
    // 0.01 BTC at 100 000 (C = 1000), taker fee 0.6, 20× → M = 50, MM = 1000 × 0.004 = 4.
    // P = (1000 + 0.6 + 4 − 50) / (0.01 × 0.995) = 954.6 / 0.00995 = 95 939.698…, up to 95 939.7.
    let rates = MarginRates::BITUNIX_BTCUSDT;
    let position = inputs(dec!(1000), dec!(0.01), dec!(0.6), 20);
    assert_eq!(position.margin, dec!(50));
    let price = rates
        .liquidation_price(Side::Long, &position, dec!(0.1))
        .expect("price");
    assert_eq!(price.get(), dec!(95939.7));
    // Closed there with the 0.5 % fee: 40.603 + 4.796985 + 0.6 = 45.999985 ≤ M − MM = 46.
    assert_eq!(
        loss_at(Side::Long, &position, price.get(), dec!(0.005)),
        dec!(45.999985)
    );
}

#[test]
fn short_liquidation_price_matches_the_hand_computed_value() {
    // P = (1000 − 0.6 − 4 + 50) / (0.01 × 1.005) = 1045.4 / 0.01005 = 104 019.900…, down to
    // 104 019.9 (toward the entry).
    let rates = MarginRates::BITUNIX_BTCUSDT;
    let position = inputs(dec!(1000), dec!(0.01), dec!(0.6), 20);
    let price = rates
        .liquidation_price(Side::Short, &position, dec!(0.1))
        .expect("price");
    assert_eq!(price.get(), dec!(104019.9));
    // 40.199 + 5.200995 + 0.6 = 45.999995 ≤ 46.
    assert_eq!(
        loss_at(Side::Short, &position, price.get(), dec!(0.005)),
        dec!(45.999995)
    );
}

#[test]
fn unrounded_the_loss_at_liquidation_is_margin_minus_maintenance_margin() {
    // With a tick of 10^-12 (the finest a `Price` holds) the rounding all but vanishes and
    // the identity shows: loss = M − MM.
    let rates = MarginRates::new(dec!(0.01), dec!(0.002)).expect("rates");
    for side in [Side::Long, Side::Short] {
        let position = inputs(dec!(5000), dec!(0.1), dec!(3), 10);
        let price = rates
            .liquidation_price(side, &position, dec!(0.000000000001))
            .expect("price");
        let loss = loss_at(side, &position, price.get(), dec!(0.002));
        let expected = position.margin - dec!(5000) * dec!(0.01);
        assert!(
            (loss - expected).abs() < dec!(0.0000000001),
            "{side}: loss {loss} expected {expected}"
        );
    }
}

#[test]
fn liquidation_moves_toward_the_entry_with_leverage_and_the_fee() {
    let rates = MarginRates::BITUNIX_BTCUSDT;
    let dearer = MarginRates::new(dec!(0.004), dec!(0.02)).expect("rates");
    let at = |rates: &MarginRates, side, leverage| {
        rates
            .liquidation_price(
                side,
                &inputs(dec!(1000), dec!(0.01), dec!(0.6), leverage),
                dec!(0.1),
            )
            .expect("price")
            .get()
    };
    assert!(at(&rates, Side::Long, 10) < at(&rates, Side::Long, 20));
    assert!(at(&rates, Side::Short, 10) > at(&rates, Side::Short, 20));
    assert!(at(&dearer, Side::Long, 20) > at(&rates, Side::Long, 20));
    assert!(at(&dearer, Side::Short, 20) < at(&rates, Side::Short, 20));
    // At 1× a long is liquidated only near zero and a short near twice its entry.
    assert!(at(&rates, Side::Long, 1) < dec!(1000));
    assert!(at(&rates, Side::Short, 1) > dec!(190000));
}

#[test]
fn too_high_a_leverage_puts_the_liquidation_price_past_the_entry() {
    // 125× with a 5 % liquidation fee: M = 8 < C × (mmr + f) = 54.
    let rates = MarginRates::new(dec!(0.004), dec!(0.05)).expect("rates");
    let position = inputs(dec!(1000), dec!(0.01), dec!(0.6), 125);
    let price = rates
        .liquidation_price(Side::Long, &position, dec!(0.1))
        .expect("price");
    assert!(!is_on_loss_side(Side::Long, dec!(100000), price));
    let short = rates
        .liquidation_price(Side::Short, &position, dec!(0.1))
        .expect("price");
    assert!(!is_on_loss_side(Side::Short, dec!(100000), short));
}

#[test]
fn leverage_accepts_one_to_the_venue_maximum_only() {
    assert_eq!(Leverage::new(1).expect("1").get(), 1);
    assert_eq!(Leverage::new(125).expect("125").get(), 125);
    assert_eq!(
        Leverage::new(0).map_err(|e| e.reason),
        Err(RejectReason::Zero)
    );
    assert_eq!(
        Leverage::new(126).map_err(|e| e.reason),
        Err(RejectReason::OutOfRange)
    );
    assert!(serde_json::from_str::<Leverage>("0").is_err());
    assert!(serde_json::from_str::<Leverage>("300").is_err());
    assert_eq!(serde_json::from_str::<Leverage>("3").expect("3").get(), 3);
}

#[test]
fn margin_rates_refuse_out_of_range_values_also_through_serde() {
    let reason = |mmr, fee| MarginRates::new(mmr, fee).map_err(|e| (e.field, e.reason));
    assert_eq!(
        reason(dec!(0), dec!(0.005)),
        Err(("maintenance_margin_rate", RejectReason::Zero))
    );
    assert_eq!(
        reason(dec!(-0.01), dec!(0.005)),
        Err(("maintenance_margin_rate", RejectReason::Negative))
    );
    assert_eq!(
        reason(dec!(0.6), dec!(0.005)),
        Err(("maintenance_margin_rate", RejectReason::OutOfRange))
    );
    assert_eq!(
        reason(dec!(0.004), dec!(-0.001)),
        Err(("liquidation_fee_rate", RejectReason::Negative))
    );
    assert_eq!(
        reason(dec!(0.004), dec!(0.5)),
        Err(("liquidation_fee_rate", RejectReason::OutOfRange))
    );
    assert!(reason(dec!(0.004), dec!(0)).is_ok());
    let bad = r#"{"maintenance_margin_rate":"0.9","liquidation_fee_rate":"0.005"}"#;
    assert!(serde_json::from_str::<MarginRates>(bad).is_err());
    let good = serde_json::to_string(&MarginRates::BITUNIX_BTCUSDT).expect("json");
    assert_eq!(
        serde_json::from_str::<MarginRates>(&good).expect("parse"),
        MarginRates::BITUNIX_BTCUSDT
    );
}
