//! Warm-up history for the strategy's indicators: applied at once (simulator, mock) or
//! fetched over REST off the data path (Bitunix), while live candles are buffered.
//!
//! History candles update indicators and count towards the warm-up gate but never trade;
//! live ticks and candles that arrived during the fetch are held and then applied in order. A failed fetch
//! is a degraded start, not a failure: the gate fills from live candles.

use std::{sync::Arc, time::Duration};

use la_core::{Candle, Provenance, TimestampMs};
use la_feed_bitunix::RestClient;

use super::{Live, supervisor::Aux, within};
use crate::journal::JournalEvent;

impl Live {
    /// Feeds warm-up history to the strategy (never trades on it), then the live candles
    /// buffered meanwhile.
    pub(super) fn apply_history(&mut self, history: Vec<Candle>) {
        let first_live = self.buffer.first_candle_open();
        let n_history = history.len();
        for candle in history
            .iter()
            .filter(|c| first_live.is_none_or(|first| c.open_time() < first))
        {
            self.engine
                .on_history_candle(candle, Provenance::Historical, &mut self.sink);
        }
        tracing::info!(symbol = %self.config.symbol, candles = n_history, "warm-up history applied");
        self.holds.seeding = false;
        // A restart's catch-up that finished first replays now, after the history.
        self.complete_stashed_catch_up();
        self.drain_held();
    }

    /// Fetches warm-up history over REST off the data path, with a timeout.
    pub(super) fn spawn_seed(&mut self, rest: Arc<RestClient>, bars: usize, now: TimestampMs) {
        self.holds.seeding = true;
        let (symbol, interval, tx) = (
            self.config.symbol,
            self.config.interval,
            self.aux_tx.clone(),
        );
        tokio::spawn(async move {
            let result = within(
                Duration::from_secs(15),
                rest.klines_back(symbol, interval, bars, now),
            )
            .await;
            let _ = tx.send(Aux::Seed(result));
        });
    }

    /// The REST fetch finished.
    pub(super) fn on_seed(&mut self, result: Result<Vec<Candle>, String>) {
        match result {
            Ok(candles) => self.apply_history(candles),
            Err(message) => {
                tracing::warn!(symbol = %self.config.symbol, error = %message, "degraded start: warm-up history unavailable; the warm-up gate fills from live candles");
                self.journal(JournalEvent::DegradedStart { detail: &message });
                self.apply_history(Vec::new());
            }
        }
    }
}
