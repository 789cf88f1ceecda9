//! The one-way link from the trading loop to the operator surface.
//!
//! The supervisor owns the [`Publisher`]; every reader (HTTP handlers, the SSE encoder, the
//! alert dispatcher) holds a cloned [`Surface`]. A publication replaces the single slot of a
//! `tokio::sync::watch` channel: it never waits for a reader and never queues, so a reader that
//! falls behind only skips to the newest view. Readers clone the `Arc` out of the slot and
//! release it at once (`Surface::latest`), so the writer's lock is never held for longer than a
//! pointer copy.
//!
//! Two facts change more often than views are published and are kept in atomics instead: the
//! time of the newest market data (so `/healthz` measures the data age at request time, not at
//! the last publication) and the save-latency histogram.
//!
//! The hub also counts who is watching live: each open dashboard stream holds a [`Watching`]
//! guard. The publisher keeps the rate ([`Publisher::due`]): five views a second while someone
//! watches, and none otherwise. A reader that needs the session as of now (`/metrics`,
//! `/api/state`, `/healthz`) asks for a view ([`Surface::fresh`]): the supervisor builds one
//! between two events ([`Publisher::wanted`]), at most one per [`PUBLISH_WATCHED`] however
//! often readers ask. So an HTTP surface nobody reads costs the session nothing per event or
//! per second: no view is built, and no task is woken (the SSE encoder sleeps until a
//! dashboard stream opens).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use prometheus_client::metrics::histogram::Histogram;
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

use crate::{health::Health, view::SessionView};

/// Buckets of the state-save latency histogram, in seconds (1 ms … 5 s).
const SAVE_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// The shortest interval between two views published while a dashboard stream is open: the
/// dashboard shows each tick within this (plus the encoding and the socket).
pub const PUBLISH_WATCHED: Duration = Duration::from_millis(200);
/// How long [`Surface::fresh`] waits for the view it asked for before it settles for the
/// newest one (the supervisor may be inside a synced save, or gone).
pub const DEMAND_WAIT: Duration = Duration::from_millis(500);

/// `last_data_ms` before any market data arrived.
const NO_DATA: u64 = u64::MAX;

/// The monotonic times of the newest market data and of the newest view, shared with the
/// readers.
#[derive(Debug)]
struct DataClock {
    origin: Instant,
    /// Milliseconds after `origin`, or [`NO_DATA`].
    last_data_ms: AtomicU64,
    /// Milliseconds after `origin` of the newest publication, or [`NO_DATA`].
    published_ms: AtomicU64,
}

impl DataClock {
    fn age_ms(&self) -> Option<u64> {
        Self::age_of(self.origin, &self.last_data_ms)
    }

    fn view_age_ms(&self) -> Option<u64> {
        Self::age_of(self.origin, &self.published_ms)
    }

    fn age_of(origin: Instant, at: &AtomicU64) -> Option<u64> {
        let at = at.load(Ordering::Relaxed);
        (at != NO_DATA).then(|| elapsed_ms(origin).saturating_sub(at))
    }
}

fn elapsed_ms(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
}

/// Live watchers (open dashboard streams), a wake-up for the encoder when one joins, and the
/// readers' requests for a view.
#[derive(Debug, Default)]
struct Watchers {
    count: AtomicUsize,
    joined: Notify,
    /// A reader asked for a view of the session as of now.
    wanted: Notify,
}

/// Held by one live watcher for as long as it watches.
#[derive(Debug)]
pub struct Watching(Arc<Watchers>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The supervisor's end: publishes views, marks market data, records save latencies.
#[derive(Debug)]
pub struct Publisher {
    slot: watch::Sender<Arc<SessionView>>,
    clock: Arc<DataClock>,
    save_latency: Histogram,
    watchers: Arc<Watchers>,
    seq: u64,
    /// When the newest view was published.
    published_at: Option<Instant>,
}

/// A reader's end (cheap to clone).
#[derive(Clone, Debug)]
pub struct Surface {
    slot: watch::Receiver<Arc<SessionView>>,
    clock: Arc<DataClock>,
    save_latency: Histogram,
    watchers: Arc<Watchers>,
}

/// A publisher and its first reader.
pub fn channel() -> (Publisher, Surface) {
    let (slot, receiver) = watch::channel(Arc::new(SessionView::default()));
    let clock = Arc::new(DataClock {
        origin: Instant::now(),
        last_data_ms: AtomicU64::new(NO_DATA),
        published_ms: AtomicU64::new(NO_DATA),
    });
    let save_latency = Histogram::new(SAVE_BUCKETS);
    let watchers = Arc::new(Watchers::default());
    let surface = Surface {
        slot: receiver,
        clock: Arc::clone(&clock),
        save_latency: save_latency.clone(),
        watchers: Arc::clone(&watchers),
    };
    (
        Publisher {
            slot,
            clock,
            save_latency,
            watchers,
            seq: 0,
            published_at: None,
        },
        surface,
    )
}

impl Publisher {
    /// Replaces the published view (numbered in order). Never blocks on readers.
    pub fn publish(&mut self, mut view: SessionView) {
        self.seq += 1;
        view.seq = self.seq;
        self.slot.send_replace(Arc::new(view));
        self.published_at = Some(Instant::now());
        self.clock
            .published_ms
            .store(elapsed_ms(self.clock.origin), Ordering::Relaxed);
    }

    /// Whether a view published now keeps to the rate: a dashboard stream is open and the last
    /// view is at least [`PUBLISH_WATCHED`] old. Unwatched, views are published only when a
    /// reader asks for one ([`Publisher::wanted`]).
    pub fn due(&self) -> bool {
        self.watched()
            && self
                .published_at
                .is_none_or(|at| at.elapsed() >= PUBLISH_WATCHED)
    }

    /// Resolves when a reader has asked for a view of the session as of now (at once if one
    /// asked since the last call). The supervisor publishes one when it does.
    pub async fn wanted(&self) {
        self.watchers.wanted.notified().await;
    }

    /// Market data arrived now.
    pub fn mark_data(&self) {
        self.clock
            .last_data_ms
            .store(elapsed_ms(self.clock.origin), Ordering::Relaxed);
    }

    /// Milliseconds since the newest market data (`None` before any).
    pub fn data_age_ms(&self) -> Option<u64> {
        self.clock.age_ms()
    }

    /// Records how long a state save took.
    pub fn observe_save_seconds(&self, seconds: f64) {
        self.save_latency.observe(seconds);
    }

    /// Publications so far.
    pub const fn published(&self) -> u64 {
        self.seq
    }

    /// Whether a live watcher (an open dashboard stream) is there now.
    pub fn watched(&self) -> bool {
        self.watchers() > 0
    }

    /// Live watchers (open dashboard streams) now.
    pub fn watchers(&self) -> usize {
        self.watchers.count.load(Ordering::Relaxed)
    }

    /// A new reader.
    pub fn surface(&self) -> Surface {
        Surface {
            slot: self.slot.subscribe(),
            clock: Arc::clone(&self.clock),
            save_latency: self.save_latency.clone(),
            watchers: Arc::clone(&self.watchers),
        }
    }
}

impl Surface {
    /// The newest view (the slot's lock is released before this returns).
    pub fn latest(&self) -> Arc<SessionView> {
        Arc::clone(&self.slot.borrow())
    }

    /// Waits for a publication newer than the last one this reader saw; `false` once the
    /// publisher is gone.
    pub async fn changed(&mut self) -> bool {
        self.slot.changed().await.is_ok()
    }

    /// The session as of now, give or take [`PUBLISH_WATCHED`]: the newest view when it is that
    /// young, otherwise a new one asked of the publisher ([`Publisher::wanted`]) and awaited
    /// for at most [`DEMAND_WAIT`], after which the newest view is taken as it is.
    pub async fn fresh(&self) -> Arc<SessionView> {
        let recent = u64::try_from(PUBLISH_WATCHED.as_millis()).unwrap_or(u64::MAX);
        if self.clock.view_age_ms().is_some_and(|age| age < recent) {
            return self.latest();
        }
        let mut slot = self.slot.clone();
        slot.mark_unchanged();
        self.watchers.wanted.notify_one();
        let _ = tokio::time::timeout(DEMAND_WAIT, slot.changed()).await;
        self.latest()
    }

    /// Marks the current view as seen (for [`Surface::changed`]) and returns it.
    pub fn latest_and_mark_seen(&mut self) -> Arc<SessionView> {
        Arc::clone(&self.slot.borrow_and_update())
    }

    /// Starts watching live, unless `limit` watchers already are; the guard ends it.
    pub fn watch(&self, limit: usize) -> Option<Watching> {
        let joined = self
            .watchers
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        joined.then(|| {
            self.watchers.joined.notify_one();
            // The first state for the new stream, without waiting for the next event.
            self.watchers.wanted.notify_one();
            Watching(Arc::clone(&self.watchers))
        })
    }

    /// Whether a live watcher is there now.
    pub fn watched(&self) -> bool {
        self.watchers.count.load(Ordering::Relaxed) > 0
    }

    /// Resolves when a watcher joins (at once if one joined since the last call).
    pub async fn watcher_joined(&self) {
        self.watchers.joined.notified().await;
    }

    /// Milliseconds since the newest market data, measured now.
    pub fn data_age_ms(&self) -> Option<u64> {
        self.clock.age_ms()
    }

    /// The health verdict as of now: the data age as the call arrives, the rest from a view
    /// as of now ([`Surface::fresh`]).
    pub async fn health(&self) -> Health {
        let data_age_ms = self.data_age_ms();
        self.fresh().await.health(data_age_ms)
    }

    /// The state-save latency histogram.
    pub(crate) fn save_latency(&self) -> &Histogram {
        &self.save_latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn health_measures_the_data_age_at_request_time_not_at_publication() {
        let (mut publisher, surface) = channel();
        publisher.publish(SessionView {
            stale_after_ms: 2_000,
            ..SessionView::default()
        });
        assert_eq!(surface.health().await, Health::Starting);
        publisher.mark_data();
        assert!(surface.health().await.is_ok());
        tokio::time::advance(std::time::Duration::from_millis(2_000)).await;
        assert_eq!(
            surface.health().await.as_str(),
            "stale",
            "no publication needed"
        );
        publisher.mark_data();
        assert!(surface.health().await.is_ok());
    }

    #[tokio::test]
    async fn watchers_are_counted_up_to_the_limit_and_leave_with_their_guard() {
        let (publisher, surface) = channel();
        assert!(!publisher.watched());
        let first = surface.watch(2).expect("room");
        surface.watcher_joined().await;
        let second = surface.watch(2).expect("room");
        assert!(surface.watch(2).is_none(), "over the limit");
        assert!(publisher.watched());
        drop(first);
        drop(second);
        assert!(!publisher.watched());
    }

    #[tokio::test(start_paused = true)]
    async fn views_are_due_five_times_a_second_while_watched_and_never_otherwise() {
        let (mut publisher, surface) = channel();
        assert!(!publisher.due(), "nobody watches: not even a first view");
        publisher.publish(SessionView::default());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!publisher.due(), "unwatched: none however long");
        let watching = surface.watch(4).expect("room");
        assert_eq!(publisher.watchers(), 1);
        assert!(publisher.due(), "the first watched view is due at once");
        publisher.publish(SessionView::default());
        tokio::time::advance(PUBLISH_WATCHED - Duration::from_millis(1)).await;
        assert!(!publisher.due());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(publisher.due(), "watched: five a second");
        drop(watching);
        assert!(!publisher.due(), "none once the watcher leaves");
    }

    /// The supervisor's side of [`Surface::fresh`]: a view numbered `seq` per request.
    fn answer_requests(mut publisher: Publisher) -> tokio::task::JoinHandle<Publisher> {
        tokio::spawn(async move {
            for _ in 0..2 {
                publisher.wanted().await;
                publisher.publish(SessionView::default());
            }
            publisher
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_asking_for_the_session_now_gets_a_view_built_for_it() {
        let (publisher, surface) = channel();
        let supervisor = answer_requests(publisher);
        let view = surface.fresh().await;
        assert_eq!(view.seq, 1, "a view was published on request");
        tokio::time::advance(PUBLISH_WATCHED).await;
        assert_eq!(surface.fresh().await.seq, 2, "an old view is not enough");
        let publisher = supervisor.await.expect("supervisor");
        assert_eq!(publisher.published(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn readers_asking_often_get_at_most_five_views_a_second() {
        let (mut publisher, surface) = channel();
        publisher.publish(SessionView::default());
        for _ in 0..100 {
            assert_eq!(surface.fresh().await.seq, 1, "a view this young is served");
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        let wanted = tokio::time::timeout(Duration::ZERO, publisher.wanted()).await;
        assert!(wanted.is_err(), "no view was asked for");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_gets_the_newest_view_when_no_supervisor_answers() {
        let (mut publisher, surface) = channel();
        publisher.publish(SessionView::default());
        tokio::time::advance(PUBLISH_WATCHED).await;
        let asked_at = Instant::now();
        assert_eq!(surface.fresh().await.seq, 1);
        assert_eq!(asked_at.elapsed(), DEMAND_WAIT);
        drop(publisher);
        assert_eq!(surface.fresh().await.seq, 1, "nor once it is gone");
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_skips_to_the_newest_view() {
        let (mut publisher, mut surface) = channel();
        for _ in 0..1_000 {
            publisher.publish(SessionView::default());
        }
        assert!(surface.changed().await);
        assert_eq!(surface.latest_and_mark_seen().seq, 1_000);
    }
}
