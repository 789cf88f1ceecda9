//! Counters the simulator keeps about itself, exposed through [`crate::SimHandle::stats`]
//! so tests and the session can assert on what the exchange side saw and did.

use std::collections::BTreeMap;

use serde::Serialize;

/// A snapshot of the simulator's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// TCP connections accepted (WebSocket and REST).
    pub tcp_accepted: u64,
    /// WebSocket sessions opened.
    pub connections_accepted: u64,
    /// WebSocket sessions open now.
    pub open_connections: u64,
    /// Frames written to clients, by channel (`market_kline_1min`, `ticker`, `price`,
    /// `control` for op frames, `garbage`).
    pub frames_sent: BTreeMap<String, u64>,
    /// Data frames the engine produced but did not deliver because of a silence fault.
    pub frames_suppressed: u64,
    /// Data frames a slow connection missed (its queue overflowed).
    pub frames_lagged: u64,
    /// JSON `ping` frames answered.
    pub pings_answered: u64,
    /// Protocol-level ping frames answered with a pong.
    pub protocol_pings_answered: u64,
    /// Frames received from clients.
    pub client_frames: u64,
    /// Server-side disconnects by reason (`idle`, `rate_limit`, `drop_tcp`, ...).
    pub disconnects: BTreeMap<String, u64>,
    /// WebSocket upgrades refused (wrong path or `RefuseUpgrade`).
    pub upgrades_refused: u64,
    /// REST requests by path, then by outcome (`ok`, `code_20015`, `code_10006`,
    /// `http_429`, `http_502`, ...).
    pub rest_requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Candles whose final push went out (or was due, see `completed_candles`).
    pub candles_completed: u64,
    /// Candles the WebSocket skipped because of a gap fault.
    pub candles_skipped: u64,
    /// Faults applied, by scenario name.
    pub faults_applied: BTreeMap<String, u64>,
    /// Whether the market data ran out (the first pass ended, when looping).
    pub data_exhausted: bool,
    /// Data rows skipped at load time.
    pub data_rows_skipped: u64,
    /// Skipped data rows by reason.
    pub data_skip_reasons: BTreeMap<String, u64>,
    /// Data rows kept after a documented normalisation, by label (`open_outside_range`).
    pub data_rows_normalized: BTreeMap<String, u64>,
    /// Flat candles inserted into holes in the data.
    pub data_holes_filled: u64,
}

impl SimStats {
    pub(crate) fn frame_sent(&mut self, channel: &str) {
        bump(&mut self.frames_sent, channel);
    }

    pub(crate) fn disconnect(&mut self, reason: &str) {
        bump(&mut self.disconnects, reason);
    }

    pub(crate) fn rest(&mut self, path: &str, outcome: &str) {
        bump(
            self.rest_requests.entry(path.to_owned()).or_default(),
            outcome,
        );
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(count) = map.get_mut(key) {
        *count += 1;
    } else {
        map.insert(key.to_owned(), 1);
    }
}
