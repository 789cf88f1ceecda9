//! Market-data sources of a live session: the real Bitunix feed, the simulator (started
//! in-process and reached over real loopback sockets with the same client), and the
//! in-process mock. The session sees one [`LiveFeed`] whatever the source.

use std::{sync::Arc, time::Duration};

use la_bitunix_sim::{MarketData, SimConfig, SimHandle};
use la_core::{Candle, Clock, Decimal, MarketEvent, MarketFeed, TimestampMs};
use la_feed_bitunix::{
    BitunixFeed, CountersSnapshot, FeedConfig, FeedHandle, RestClient, SystemClock,
};

use crate::{
    config::{RunConfig, Source},
    error::SessionError,
    mock_feed::{MockFeed, MockFeedConfig},
    time_fmt::ms_to_rfc3339,
};

/// A running market-data source.
pub enum LiveFeed {
    /// The in-process generator.
    Mock(Box<MockFeed>),
    /// The Bitunix client, against the exchange or the simulator.
    Exchange {
        /// Event stream.
        feed: BitunixFeed,
        /// Control and counters.
        handle: FeedHandle,
        /// REST client for seeding, funding and fallback polling.
        rest: Arc<RestClient>,
        /// The in-process simulator, for the `sim` source.
        sim: Option<Arc<SimHandle>>,
    },
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Mock(_) => f.write_str("LiveFeed::Mock"),
            Self::Exchange { sim, .. } => write!(f, "LiveFeed::Exchange(sim: {})", sim.is_some()),
        }
    }
}

/// How warm-up history will be obtained.
pub enum Seed {
    /// Already available (mock).
    Ready(Vec<Candle>),
    /// Fetch over REST, asynchronously, with a timeout.
    Rest {
        /// Client.
        rest: Arc<RestClient>,
        /// Candles to fetch.
        bars: usize,
        /// "Now" on the source's timeline.
        now: TimestampMs,
    },
}

/// Starts the configured source. `resume_at` is where the workspace's account left off
/// (the close of its last decided candle): the simulator's market starts there rather than
/// at the beginning of its data, so a rerun continues the account instead of replaying
/// candles it has already seen.
///
/// # Errors
/// The simulator or the feed could not start; [`SessionError::AccountAheadOfData`] when the
/// simulator's data ends at or before `resume_at`.
pub async fn open_source(
    config: &RunConfig,
    history_bars: usize,
    resume_at: Option<TimestampMs>,
) -> Result<(LiveFeed, Seed), SessionError> {
    match config.source {
        Source::Mock => {
            let mock = MockFeed::new(
                MockFeedConfig {
                    symbol: config.symbol,
                    interval: config.interval,
                    seed: config.seed,
                    speed: config.speed,
                    start_time: config.mock_start.unwrap_or_else(|| SystemClock.now()),
                    start_price: Decimal::from(60_000),
                    tick_every_ms: 1_000,
                    funding_rate: config.mock_funding.then(|| Decimal::new(1, 4)),
                },
                history_bars,
            );
            let mut mock = Box::new(mock);
            let history = mock.take_history();
            Ok((LiveFeed::Mock(mock), Seed::Ready(history)))
        }
        Source::Sim => {
            let data = match &config.data {
                Some(path) => MarketData::Csv(path.clone()),
                None => MarketData::Generated {
                    seed: config.seed,
                    start_price: Decimal::from(60_000),
                    start_time: TimestampMs::new(1_704_067_200_000).unwrap_or(TimestampMs::MIN),
                    n_candles: 20_000,
                },
            };
            let sim_config = SimConfig {
                symbol: config.symbol,
                interval: config.interval,
                data,
                speed: config.speed,
                history_candles: history_bars as u64,
                not_before: resume_at,
                faults: config.faults.clone(),
                record_path: config.sim_record.clone(),
                ..SimConfig::default()
            };
            let sim = la_bitunix_sim::start(sim_config).await?;
            if let (Some(resume), Some(end)) = (resume_at, sim.data_end())
                && resume >= end
            {
                sim.shutdown().await;
                return Err(SessionError::AccountAheadOfData {
                    account_last: ms_to_rfc3339(resume.as_ms() - config.interval.as_ms()),
                    data_end: ms_to_rfc3339(end.as_ms()),
                });
            }
            if resume_at.is_some_and(|resume| sim.virtual_now() == resume) {
                tracing::info!(
                    symbol = %config.symbol,
                    resume_at = %ms_to_rfc3339(sim.virtual_now().as_ms()),
                    "the simulated market resumes where the account left off"
                );
            }
            let sim = Arc::new(sim);
            let mut feed_config = FeedConfig::new(config.symbol, config.interval);
            feed_config.ws_url = sim.ws_url();
            feed_config.rest_url = sim.rest_url();
            feed_config.max_clock_skew = None;
            feed_config.seed = config.seed;
            let clock: Arc<dyn Clock> = Arc::new(sim.clock());
            open_exchange(feed_config, clock, Some(sim), history_bars)
        }
        Source::Bitunix => {
            let mut feed_config = FeedConfig::new(config.symbol, config.interval);
            feed_config.ws_url = config.ws_url.clone();
            feed_config.rest_url = config.rest_url.clone();
            feed_config.max_clock_skew = config.max_clock_skew;
            feed_config.seed = config.seed;
            open_exchange(feed_config, Arc::new(SystemClock), None, history_bars)
        }
    }
}

fn open_exchange(
    feed_config: FeedConfig,
    clock: Arc<dyn Clock>,
    sim: Option<Arc<SimHandle>>,
    history_bars: usize,
) -> Result<(LiveFeed, Seed), SessionError> {
    let rest = Arc::new(RestClient::with_clock(&feed_config, Arc::clone(&clock))?);
    let (feed, handle) = BitunixFeed::spawn(feed_config, Arc::clone(&clock))?;
    let seed = Seed::Rest {
        rest: Arc::clone(&rest),
        bars: history_bars,
        now: clock.now(),
    };
    Ok((
        LiveFeed::Exchange {
            feed,
            handle,
            rest,
            sim,
        },
        seed,
    ))
}

impl LiveFeed {
    /// The next market event.
    pub async fn next_event(&mut self) -> Option<MarketEvent> {
        match self {
            Self::Mock(mock) => mock.next_event().await,
            Self::Exchange { feed, .. } => feed.next_event().await,
        }
    }

    /// Asks the feed to reconnect (stale-data ladder).
    pub fn request_reconnect(&mut self) {
        if let Self::Exchange { handle, .. } = self {
            handle.request_reconnect();
        }
    }

    /// Feed counters, for sources that have them.
    pub fn counters(&self) -> Option<CountersSnapshot> {
        match self {
            Self::Mock(_) => None,
            Self::Exchange { handle, .. } => Some(handle.counters()),
        }
    }

    /// The REST client, for sources that have one.
    pub fn rest(&self) -> Option<Arc<RestClient>> {
        match self {
            Self::Mock(_) => None,
            Self::Exchange { rest, .. } => Some(Arc::clone(rest)),
        }
    }

    /// Stops the feed (and the simulator) within `deadline`.
    pub async fn shutdown(self, deadline: Duration) {
        if let Self::Exchange {
            handle,
            sim,
            feed,
            rest,
        } = self
        {
            drop(feed);
            let _ = tokio::time::timeout(deadline, handle.shutdown()).await;
            drop(rest);
            if let Some(sim) = sim {
                let _ = tokio::time::timeout(deadline, sim.close()).await;
            }
        }
    }
}
