//! The public face of the streaming client: [`BitunixFeed`] (the event stream, a
//! [`MarketFeed`]) and [`FeedHandle`] (counters, reconnect requests, shutdown).
//!
//! [`BitunixFeed::spawn`] starts one supervisor task that owns every connection, timer and
//! REST helper task; [`FeedHandle::shutdown`] stops it and waits until nothing of it is left
//! running. Events flow through a bounded channel: ticks and forming-candle updates are
//! dropped (and counted) when the consumer is behind, everything else is awaited.

use std::{future::Future, sync::Arc};

use la_core::{Clock, MarketEvent, MarketFeed};
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinHandle,
};

use crate::{
    config::FeedConfig,
    counters::{Counters, CountersSnapshot},
    error::FeedError,
    rest::RestClient,
    supervisor::Supervisor,
};

/// Signals from the handle and the feed to the supervisor.
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) reconnect: Notify,
}

/// The event stream of one symbol and interval. Dropping it stops the feed.
#[derive(Debug)]
pub struct BitunixFeed {
    events: mpsc::Receiver<MarketEvent>,
    control: Arc<Control>,
}

/// Control of a running feed. Dropping it without [`FeedHandle::shutdown`] leaves the feed
/// running until its [`BitunixFeed`] is dropped.
#[derive(Debug)]
pub struct FeedHandle {
    control: Arc<Control>,
    counters: Counters,
    rest: RestClient,
    task: Option<JoinHandle<()>>,
}

impl BitunixFeed {
    /// Validates `config` and spawns the feed on the current tokio runtime. `clock` is the
    /// local wall clock in exchange-time terms (skew checks, ping values, dropping forming
    /// REST bars); pass the simulator's or a replay's clock there.
    ///
    /// # Errors
    /// [`FeedError::Config`] (also when called outside a tokio runtime),
    /// [`FeedError::InvalidUrl`] or [`FeedError::Tls`].
    pub fn spawn(
        config: FeedConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<(BitunixFeed, FeedHandle), FeedError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            FeedError::Config("BitunixFeed::spawn needs a tokio runtime".to_owned())
        })?;
        let counters = Counters::default();
        let rest = RestClient::with_counters(&config, Arc::clone(&clock), counters.clone())?;
        let (events_tx, events) = mpsc::channel(config.event_buffer);
        let (shutdown, _) = watch::channel(false);
        let control = Arc::new(Control {
            shutdown,
            reconnect: Notify::new(),
        });
        let supervisor = Supervisor::new(
            config,
            clock,
            rest.clone(),
            counters.clone(),
            events_tx,
            Arc::clone(&control),
        )?;
        let task = runtime.spawn(supervisor.run());
        Ok((
            BitunixFeed {
                events,
                control: Arc::clone(&control),
            },
            FeedHandle {
                control,
                counters,
                rest,
                task: Some(task),
            },
        ))
    }

    /// The next event, or `None` once the feed has stopped.
    pub async fn recv(&mut self) -> Option<MarketEvent> {
        self.events.recv().await
    }
}

impl MarketFeed for BitunixFeed {
    fn next_event(&mut self) -> impl Future<Output = Option<MarketEvent>> + Send {
        self.events.recv()
    }

    fn request_reconnect(&mut self) {
        self.control.reconnect.notify_one();
    }
}

impl FeedHandle {
    /// A copy of the counters.
    pub fn counters(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }

    /// Asks the feed to drop its connection and reconnect (immediately).
    pub fn request_reconnect(&self) {
        self.control.reconnect.notify_one();
    }

    /// The feed's REST client: clones share its rate limiter and counters, so the session's
    /// own REST calls (warm-up, instrument rules) stay within the same 10 requests/s.
    pub fn rest(&self) -> RestClient {
        self.rest.clone()
    }

    /// Stops the feed: closes the socket(s), cancels REST helper tasks and waits for the
    /// supervisor to finish. No task of the feed is left running afterwards.
    pub async fn shutdown(mut self) {
        self.control.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
