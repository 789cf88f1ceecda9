//! Warm-up history for the strategy's indicators: applied at once (simulator, mock) or
//! fetched over REST off the data path (Bitunix), while live candles are buffered.
//!
//! History candles update indicators and count towards the warm-up gate but never trade;
//! live candles that arrived during the fetch are then processed in order. A failed fetch
//! is a degraded start, not a failure: the gate fills from live candles.

use std::{sync::Arc, time::Duration};

use la_core::{Candle, Provenance, TimestampMs};
use la_feed_bitunix::RestClient;

use super::{Live, supervisor::Aux};
use crate::{error::error_chain, journal::JournalEvent};

impl Live {
    /// Feeds warm-up history to the strategy (never trades on it), then the live candles
    /// buffered meanwhile.
    pub(super) fn apply_history(&mut self, history: Vec<Candle>) {
        let buffered = self.seeding.take().unwrap_or_default();
        let first_live = buffered.first().map(|(c, _)| c.open_time());
        let n_history = history.len();
        for candle in history
            .iter()
            .filter(|c| first_live.is_none_or(|first| c.open_time() < first))
        {
            self.engine
                .on_history_candle(candle, Provenance::Historical, &mut self.sink);
        }
        tracing::info!(symbol = %self.config.symbol, candles = n_history, "warm-up history applied");
        for (candle, provenance) in buffered {
            self.process_closed_candle(&candle, provenance);
        }
    }

    /// Fetches warm-up history over REST off the data path, with a timeout.
    pub(super) fn spawn_seed(&mut self, rest: Arc<RestClient>, bars: usize, now: TimestampMs) {
        self.seeding = Some(Vec::new());
        let (symbol, interval, tx) = (
            self.config.symbol,
            self.config.interval,
            self.aux_tx.clone(),
        );
        tokio::spawn(async move {
            let fetched = tokio::time::timeout(
                Duration::from_secs(15),
                rest.klines_back(symbol, interval, bars, now),
            )
            .await;
            let result = match fetched {
                Ok(Ok(candles)) => Ok(candles),
                Ok(Err(err)) => Err(error_chain(&err)),
                Err(_) => Err("timed out after 15s".to_owned()),
            };
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
