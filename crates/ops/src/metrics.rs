//! `/metrics`: the Prometheus text exposition (format 0.0.4, through `prometheus-client`).
//!
//! Every series except the save-latency histogram is read from the newest published view at
//! scrape time by one [`Collector`], so the trading loop does no metrics work at all beyond
//! publishing its view. Names carry the `laptop_agents_` prefix; counters end in `_total`.

use std::fmt::Write as _;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};
use rust_decimal::prelude::ToPrimitive;

use crate::hub::Surface;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The registry behind `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// A registry reading from `surface`.
    pub fn new(surface: &Surface) -> Self {
        let mut registry = Registry::with_prefix("laptop_agents");
        registry.register(
            "state_save_duration_seconds",
            "Time to save the state files atomically (temp file, fsync, rename)",
            surface.save_latency().clone(),
        );
        registry.register_collector(Box::new(ViewCollector {
            surface: surface.clone(),
        }));
        Self { registry }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# metrics encoding failed");
        }
        out
    }
}

#[derive(Debug)]
struct ViewCollector {
    surface: Surface,
}

fn decimal(value: rust_decimal::Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: f64,
) -> std::fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

/// One counter family with a label, from `(label value, count)` pairs.
fn labelled_counter<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in values {
        ConstCounter::new(count).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

impl Collector for ViewCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let view = self.surface.latest();
        let e = &mut encoder;
        gauge(
            e,
            "equity",
            "Account equity with the open position marked at the newest price (USDT)",
            decimal(view.mark_equity),
        )?;
        gauge(
            e,
            "equity_realized",
            "Realized account equity (USDT)",
            decimal(view.equity),
        )?;
        let position = view.position.as_ref().map_or(0.0, |p| {
            let qty = decimal(p.qty);
            if p.side == "short" { -qty } else { qty }
        });
        gauge(
            e,
            "position",
            "Open position in base units (negative = short)",
            position,
        )?;
        gauge(
            e,
            "price",
            "Newest market price",
            view.price.map_or(f64::NAN, decimal),
        )?;
        counter(e, "trades", "Closed trades this run", view.trades)?;
        counter(e, "fills", "Order fills this run", view.fills)?;
        counter(
            e,
            "candles_closed",
            "Closed candles processed this run",
            view.candles_closed,
        )?;
        counter(
            e,
            "feed_reconnects",
            "Market-data reconnects this run",
            view.feed.reconnects,
        )?;
        labelled_counter(
            e,
            "feed_frames",
            "Market-data frames received, by channel",
            "channel",
            view.feed
                .frames_by_channel
                .iter()
                .map(|(k, v)| (k.as_str(), *v)),
        )?;
        labelled_counter(
            e,
            "feed_rejected_frames",
            "Market-data frames rejected, by reason",
            "reason",
            view.feed
                .rejected_by_reason
                .iter()
                .map(|(k, v)| (k.as_str(), *v)),
        )?;
        let age = self.surface.data_age_ms();
        gauge(
            e,
            "last_frame_age_seconds",
            "Seconds since the newest market data (NaN before the first)",
            age.map_or(f64::NAN, |ms| ms as f64 / 1000.0),
        )?;
        labelled_counter(
            e,
            "decisions",
            "Decisions per closed candle, by outcome",
            "outcome",
            view.decision_counts
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("outcome:").map(|o| (o, *v))),
        )?;
        labelled_counter(
            e,
            "decisions_blocked",
            "Decisions blocked, by the gate that blocked them",
            "gate",
            view.decision_counts
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("blocked_by:").map(|g| (g, *v))),
        )?;
        counter(
            e,
            "state_save_failures",
            "Failed state saves this run",
            view.state_save_failures,
        )?;
        counter(
            e,
            "errors",
            "Errors counted against the error budget this run",
            u64::from(view.errors),
        )?;
        gauge(
            e,
            "resident_memory_bytes",
            "Resident set size of the session process",
            view.rss_bytes.map_or(f64::NAN, |b| b as f64),
        )?;
        gauge(
            e,
            "uptime_seconds",
            "Seconds since the session started",
            view.uptime_s as f64,
        )?;
        let health = view.health(age);
        gauge(
            e,
            "healthy",
            "1 while market data is fresh and the session can trade",
            if health.is_ok() { 1.0 } else { 0.0 },
        )?;
        gauge(
            e,
            "breaker_tripped",
            "1 while the circuit breaker is tripped",
            f64::from(u8::from(view.breaker_tripped.is_some())),
        )?;
        gauge(
            e,
            "kill_switch",
            "1 once the kill switch was engaged",
            f64::from(u8::from(view.kill_switch)),
        )?;
        gauge(
            e,
            "catching_up",
            "1 while the session catches up after downtime",
            f64::from(u8::from(view.catching_up.is_some())),
        )?;
        Ok(())
    }
}
