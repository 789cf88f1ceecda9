//! The session's alerts (see `la_ops::alerts` for delivery): which conditions raise one, and
//! the daily digest, due at the configured UTC hour of the **event clock** (exchange time),
//! so an accelerated simulator reaches it in virtual time exactly as a live session does in
//! real time.
//!
//! Raising an alert is a non-blocking hand-over to the alert tasks; nothing here waits.

use la_ops::alerts::{Alert, AlertKind, Severity};
use serde_json::{Map, Value, json};

use super::{Live, operator::LedgerTotals};
use crate::time_fmt::now_rfc3339;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// What the digest compares against: the state at the previous digest (or the start).
#[derive(Debug, Default)]
pub(super) struct DigestState {
    /// Event time of the next digest.
    next_ms: Option<i64>,
    ledger: Option<LedgerTotals>,
    trades: u64,
    reconnects: u64,
    /// Gaps and stale episodes since the previous digest.
    pub(super) data_gaps: u64,
    heartbeats: u64,
    fresh_heartbeats: u64,
    /// A state save failed and none has succeeded since.
    pub(super) save_failing: bool,
}

/// The first `hour`:00 UTC strictly after `after_ms`.
pub(super) fn next_digest_after(after_ms: i64, hour: u8) -> i64 {
    let day_start = after_ms.div_euclid(DAY_MS) * DAY_MS;
    let today = day_start + i64::from(hour) * HOUR_MS;
    if today > after_ms {
        today
    } else {
        today + DAY_MS
    }
}

impl Live {
    /// Hands an alert to the alert tasks.
    pub(super) fn alert(
        &self,
        kind: AlertKind,
        severity: Severity,
        title: &str,
        message: String,
        fields: Map<String, Value>,
    ) {
        self.alerter.raise(Alert {
            kind,
            severity,
            symbol: self.config.symbol.to_string(),
            run_id: self.run.run_id.clone(),
            at: now_rfc3339(),
            event_ts_ms: self
                .engine
                .last_event_time()
                .map(la_core::TimestampMs::as_ms),
            title: title.to_owned(),
            message,
            fields,
        });
    }

    /// Counts a heartbeat for the digest's uptime and sends the digest when the event clock
    /// has reached its hour.
    pub(super) fn digest_tick(&mut self, fresh: bool, reconnects: u64) {
        let digest = &mut self.digest;
        digest.heartbeats += 1;
        digest.fresh_heartbeats += u64::from(fresh);
        let Some(now_ms) = self
            .engine
            .last_event_time()
            .map(la_core::TimestampMs::as_ms)
        else {
            return;
        };
        let price = self.engine.last_price();
        let ledger = LedgerTotals::read(self.engine.broker(), price);
        let trades = self.engine.counters().exits;
        let Some(next_ms) = digest.next_ms else {
            digest.next_ms = Some(next_digest_after(
                now_ms,
                self.config.alerts.digest_hour_utc,
            ));
            digest.ledger = Some(ledger);
            digest.trades = trades;
            digest.reconnects = reconnects;
            return;
        };
        if now_ms < next_ms {
            return;
        }
        let change = ledger.since(&digest.ledger.unwrap_or(ledger));
        let uptime_pct = if digest.heartbeats == 0 {
            100.0
        } else {
            digest.fresh_heartbeats as f64 * 100.0 / digest.heartbeats as f64
        };
        let fields = json!({
            "digest_at_ms": next_ms,
            "equity": ledger.mark_equity.to_string(),
            "equity_change": change.net.to_string(),
            "price_pnl": change.price_pnl.to_string(),
            "fees": change.fees.to_string(),
            "funding": change.funding.to_string(),
            "trades": trades - digest.trades,
            "uptime_pct": (uptime_pct * 10.0).round() / 10.0,
            "data_gaps": digest.data_gaps,
            "reconnects": reconnects.saturating_sub(digest.reconnects),
        });
        let message = format!(
            "equity {} ({:+}: price {:+}, fees -{}, funding {:+}); {} trades; data fresh {:.1} % of the time; {} data gaps; {} reconnects",
            ledger.mark_equity.round_dp(2),
            change.net.round_dp(2),
            change.price_pnl.round_dp(2),
            change.fees.round_dp(2),
            change.funding.round_dp(4),
            trades - digest.trades,
            uptime_pct,
            digest.data_gaps,
            reconnects.saturating_sub(digest.reconnects),
        );
        *digest = DigestState {
            next_ms: Some(next_digest_after(
                now_ms,
                self.config.alerts.digest_hour_utc,
            )),
            ledger: Some(ledger),
            trades,
            reconnects,
            save_failing: digest.save_failing,
            ..DigestState::default()
        };
        let Value::Object(fields) = fields else {
            return;
        };
        self.alert(
            AlertKind::DailyDigest,
            Severity::Info,
            "daily digest",
            message,
            fields,
        );
    }
}

/// `{"key": value}` as alert fields.
pub(super) fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::next_digest_after;

    #[test]
    fn the_next_digest_is_the_first_configured_hour_strictly_after_now() {
        let day = 19_723 * 86_400_000_i64;
        assert_eq!(next_digest_after(day + 3_600_000, 6), day + 6 * 3_600_000);
        assert_eq!(
            next_digest_after(day + 6 * 3_600_000, 6),
            day + 86_400_000 + 6 * 3_600_000
        );
        assert_eq!(next_digest_after(day + 23 * 3_600_000, 0), day + 86_400_000);
    }
}
