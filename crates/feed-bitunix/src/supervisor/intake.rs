//! The data path: decode a message, judge its exchange time, feed the candle tracker and
//! emit events. Nothing here waits on the network; REST work is handed to tasks.

use std::time::Duration;

use la_core::{CandleNormalization, FundingInfo, MarketEvent, Provenance, Tick};
use tokio::time::Instant;

use super::{Slot, Supervisor};
use crate::{
    candles::{Action, KlinePush},
    decode::{
        Decoded, FrameRejection,
        timeline::{Channel, Verdict},
    },
    logging,
};

/// A funding observation is re-emitted at least this often even when unchanged.
const FUNDING_REFRESH: Duration = Duration::from_secs(60);

impl Supervisor {
    /// Counts and logs (rate-limited) a rejected frame; the connection is kept.
    pub(super) fn reject(&mut self, rejection: FrameRejection, bytes: &[u8]) {
        let label = rejection.as_str();
        self.counters.bump(|c| &mut c.rejections_by_reason, label);
        if let Some(suppressed) = self.logs.permit(label) {
            tracing::warn!(
                symbol = %self.config.symbol,
                reason = label,
                field = rejection.field().unwrap_or(""),
                bytes = bytes.len(),
                sample = %logging::sample(bytes),
                suppressed,
                "frame rejected and skipped"
            );
        }
    }

    /// Counts a kline push accepted after a documented normalisation, with a rate-limited
    /// log line carrying a sample (it is expected on Bitunix, but must stay visible).
    fn counted_normalization(&mut self, normalization: CandleNormalization, bytes: &[u8]) {
        let label = normalization.as_str();
        self.counters.bump(|c| &mut c.frames_normalized, label);
        if let Some(suppressed) = self.logs.permit(label) {
            tracing::info!(
                symbol = %self.config.symbol,
                normalization = label,
                sample = %logging::sample(bytes),
                suppressed,
                "kline push normalised: range widened to include the open"
            );
        }
    }

    pub(super) async fn on_text(&mut self, slot: Slot, bytes: &mut [u8]) {
        let decoded = match self.decoder.decode(bytes, self.config.symbol) {
            Ok(decoded) => decoded,
            Err(rejection) => {
                self.reject(rejection, bytes);
                return;
            }
        };
        self.counters
            .bump(|c| &mut c.frames_by_channel, decoded.channel_label());
        let (channel, ts) = match decoded {
            Decoded::Kline { ts, .. } => (Channel::Kline, ts),
            Decoded::Ticker { ts, .. } => (Channel::Ticker, ts),
            Decoded::Price { ts, .. } => (Channel::Price, ts),
            Decoded::Pong { client_ping } => {
                self.on_pong(slot, client_ping);
                return;
            }
            Decoded::Connect => {
                tracing::debug!(symbol = %self.config.symbol, "server connect frame");
                return;
            }
            Decoded::SubscribeRefused => {
                if let Some(suppressed) = self.logs.permit("subscribe_refused") {
                    tracing::warn!(
                        symbol = %self.config.symbol,
                        sample = %logging::sample(bytes),
                        suppressed,
                        "the server refused a subscription"
                    );
                }
                return;
            }
            Decoded::ControlOther | Decoded::IgnoredChannel => return,
        };
        if slot == Slot::Standby {
            self.switch_to_standby().await;
        }
        let now = Instant::now();
        match self.timeline.judge(channel, ts, now, self.clock.now()) {
            Verdict::Accept => {}
            Verdict::Reanchored => tracing::warn!(
                symbol = %self.config.symbol,
                ?channel,
                ts = ts.as_ms(),
                "exchange time moved; channel timeline re-anchored"
            ),
            Verdict::Duplicate => {
                self.counters.lock().duplicates_dropped += 1;
                return;
            }
            Verdict::OutOfOrder => {
                self.counters.lock().out_of_order_dropped += 1;
                return;
            }
            Verdict::Reject(rejection) => {
                self.reject(rejection, bytes);
                return;
            }
        }
        if let Some(live) = self.active.as_mut() {
            live.last_data = now;
            if !live.got_data {
                live.got_data = true;
                self.backoff.reset();
            }
        }
        match decoded {
            Decoded::Kline {
                ts,
                o,
                h,
                l,
                c,
                base_volume,
                normalization,
            } => {
                if let Some(normalization) = normalization {
                    self.counted_normalization(normalization, bytes);
                }
                let push = KlinePush {
                    ts,
                    open: o,
                    high: h,
                    low: l,
                    close: c,
                    volume: base_volume,
                };
                self.tracker
                    .on_kline(push, now, self.epoch, &mut self.actions);
                self.perform_actions().await;
            }
            Decoded::Ticker { ts, last } => {
                match Tick::new(self.config.symbol, ts, last, None, None) {
                    Ok(tick) => self.emit_lossy(MarketEvent::Tick(tick), "tick"),
                    Err(error) => {
                        tracing::warn!(symbol = %self.config.symbol, %error, "invalid tick")
                    }
                }
            }
            Decoded::Price {
                ts,
                mark,
                funding_rate_fraction,
                next_funding_time,
                ..
            } => {
                let changed = self.last_funding.is_none_or(|(rate, next, at)| {
                    rate != funding_rate_fraction
                        || next != next_funding_time
                        || now.saturating_duration_since(at) >= FUNDING_REFRESH
                });
                if changed {
                    self.last_funding = Some((funding_rate_fraction, next_funding_time, now));
                    self.emit(MarketEvent::Funding(FundingInfo {
                        rate: funding_rate_fraction,
                        mark_price: Some(mark),
                        next_funding_time,
                        ts,
                    }))
                    .await;
                }
            }
            _ => {}
        }
    }

    fn on_pong(&mut self, slot: Slot, client_ping: i64) {
        let live = match slot {
            Slot::Active => self.active.as_mut(),
            Slot::Standby => self.standby.as_mut(),
        };
        let rtt = live.and_then(|live| {
            let index = live
                .pending_pings
                .iter()
                .position(|(v, _)| *v == client_ping)?;
            let (_, sent) = live.pending_pings.remove(index)?;
            Some(Instant::now().saturating_duration_since(sent))
        });
        let mut counters = self.counters.lock();
        counters.pongs_received += 1;
        if let Some(rtt) = rtt {
            counters.last_pong_rtt_ms = Some(u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX));
        }
    }

    /// The standby delivered data: it becomes the active connection, the old one is closed
    /// in the background (make-before-break).
    async fn switch_to_standby(&mut self) {
        let Some(standby) = self.standby.take() else {
            return;
        };
        tracing::info!(
            symbol = %self.config.symbol,
            conn = standby.conn.id,
            "rotation: switching to the new connection"
        );
        self.rotation_at = Some(standby.conn.opened_at + self.config.rotate_after);
        if let Some(old) = self.active.replace(standby) {
            self.tasks.spawn(async move {
                old.conn.close(true, super::CLOSE_GRACE).await;
                super::tasks::TaskOutcome::Closed
            });
        }
        self.counters.lock().rotations += 1;
    }

    /// Carries out what the candle tracker decided.
    pub(super) async fn perform_actions(&mut self) {
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain(..) {
            match action {
                Action::Update(candle) => {
                    self.emit_lossy(MarketEvent::CandleUpdate(candle), "candle_update");
                }
                Action::Closed(candle, provenance) => {
                    {
                        let mut counters = self.counters.lock();
                        match provenance {
                            Provenance::Live => counters.candles_closed_live += 1,
                            Provenance::RestConfirmed => counters.candles_rest_confirmed += 1,
                            _ => counters.candles_backfilled += 1,
                        }
                    }
                    self.emit(MarketEvent::CandleClosed { candle, provenance })
                        .await;
                }
                Action::Invalid(open_time, error) => {
                    self.counters.lock().candles_invalid += 1;
                    tracing::warn!(
                        symbol = %self.config.symbol,
                        open_time = open_time.as_ms(),
                        %error,
                        "candle values invalid; not emitted"
                    );
                }
                Action::Gap {
                    first_missing,
                    missing,
                } => {
                    self.counters.lock().gaps_detected += 1;
                    tracing::warn!(
                        symbol = %self.config.symbol,
                        first_missing = first_missing.as_ms(),
                        missing,
                        "gap in the kline stream; backfilling over REST"
                    );
                    self.backfill.push_gap(first_missing, missing);
                    self.emit(MarketEvent::Gap {
                        first_missing,
                        missing,
                    })
                    .await;
                }
                Action::Confirm(open_time) => self.spawn_confirm(open_time, 1),
                Action::Late => self.counters.lock().out_of_order_dropped += 1,
            }
        }
        // Keep the allocation for next time.
        self.actions = actions;
    }
}
