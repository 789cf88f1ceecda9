//! Telling a service manager how the session is: systemd's notify protocol (`sd-notify`),
//! a no-op unless the session runs under one (`NOTIFY_SOCKET` set).
//!
//! `READY=1` is sent once market data is fresh for the first time (a `Type=notify` unit is
//! "started" when the session sees the market, not when the process exists), `STATUS=`
//! whenever the health verdict changes, and `STOPPING=1` when the shutdown begins. With
//! `WatchdogSec=` set, `WATCHDOG=1` is sent from the once-a-second heartbeat **only while
//! market data is fresh** — so a session that is alive but blind (no data yet, stale data)
//! stops pinging and systemd restarts it. (The kill switch, a tripped breaker and a halted
//! broker stop the session themselves.) The verdict is the one `heartbeat.json`, `status` and
//! `/healthz` share ([`la_ops::Health`]).

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::Instant;

/// The session's side of the notify protocol.
#[derive(Debug)]
pub(super) struct ServiceNotifier {
    /// `NOTIFY_SOCKET` was set when the session started.
    enabled: bool,
    /// Half the watchdog timeout, when the unit has one.
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
    ready_sent: bool,
    last_status: Option<&'static str>,
}

impl ServiceNotifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (left in the environment).
    pub(super) fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let mut usec = 0;
        let ping_every = (enabled && sd_notify::watchdog_enabled(false, &mut usec))
            .then(|| Duration::from_micros(usec) / 2);
        Self {
            enabled,
            ping_every,
            last_ping: None,
            ready_sent: false,
            last_status: None,
        }
    }

    /// The heartbeat's verdict: ready once data is fresh, the status when it changed, and a
    /// watchdog ping while data is fresh.
    pub(super) fn on_health(&mut self, health: &la_ops::Health) {
        if !self.enabled {
            return;
        }
        let mut states = Vec::new();
        let status = health.as_str();
        let status_text = format!("health: {status}");
        if self.last_status != Some(status) {
            self.last_status = Some(status);
            states.push(NotifyState::Status(&status_text));
        }
        let data_fresh = !matches!(
            health,
            la_ops::Health::Starting | la_ops::Health::Stale { .. }
        );
        if data_fresh {
            if !self.ready_sent {
                self.ready_sent = true;
                states.push(NotifyState::Ready);
            }
            if let Some(every) = self.ping_every
                && self.last_ping.is_none_or(|at| at.elapsed() >= every)
            {
                self.last_ping = Some(Instant::now());
                states.push(NotifyState::Watchdog);
            }
        }
        self.send(&states);
    }

    /// The shutdown began.
    pub(super) fn stopping(&mut self, reason: &str) {
        if self.enabled {
            let status = format!("stopping: {reason}");
            self.send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if states.is_empty() {
            return;
        }
        if let Err(err) = sd_notify::notify(false, states) {
            tracing::warn!(
                error = &err as &dyn std::error::Error,
                "cannot notify the service manager"
            );
        }
    }
}
