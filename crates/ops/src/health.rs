//! The session's health verdict: fresh and able to trade, or the one reason it is not.
//!
//! One function decides it ([`Health::assess`]) so that `heartbeat.json` (read by
//! `laptop-agents status`), `/healthz` and the systemd watchdog can never disagree. The
//! reasons are ordered by how much an operator must act: a stopping session first, then a
//! halt, the kill switch, a tripped breaker, and stale data last (it may heal by itself).

use serde::{Deserialize, Serialize};

/// What the session knows about itself when it assesses its health.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthInputs {
    /// Milliseconds since the last market data; `None` before the first frame.
    pub data_age_ms: Option<u64>,
    /// Data older than this is stale (the first rung of the stale-data ladder).
    pub stale_after_ms: u64,
    /// Trading halted by an invariant breach, with its cause.
    pub halted: Option<String>,
    /// The circuit breaker's trip reason, if tripped.
    pub breaker_tripped: Option<String>,
    /// Whether the kill switch was engaged.
    pub kill_switch: bool,
    /// The stop reason once the session is shutting down.
    pub stopping: Option<String>,
}

/// Whether the session is fresh and able to trade, or why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// Market data is fresh and nothing stops trading.
    Ok,
    /// No market data has arrived yet.
    Starting,
    /// No market data for longer than the first rung of the stale-data ladder.
    Stale {
        /// Milliseconds since the last market data.
        data_age_ms: u64,
    },
    /// Trading is halted (a broker invariant breach).
    Halted {
        /// The cause chain.
        reason: String,
    },
    /// The kill switch was engaged.
    KillSwitch,
    /// The circuit breaker tripped; no new entries today.
    BreakerTripped {
        /// Why (daily drawdown, consecutive losses).
        reason: String,
    },
    /// The session is shutting down.
    Stopping {
        /// The stop reason, as in `summary.json`.
        reason: String,
    },
}

impl Health {
    /// The verdict for `inputs`.
    pub fn assess(inputs: &HealthInputs) -> Self {
        if let Some(reason) = &inputs.stopping {
            return Self::Stopping {
                reason: reason.clone(),
            };
        }
        if let Some(reason) = &inputs.halted {
            return Self::Halted {
                reason: reason.clone(),
            };
        }
        if inputs.kill_switch {
            return Self::KillSwitch;
        }
        if let Some(reason) = &inputs.breaker_tripped {
            return Self::BreakerTripped {
                reason: reason.clone(),
            };
        }
        match inputs.data_age_ms {
            None => Self::Starting,
            Some(age) if age >= inputs.stale_after_ms => Self::Stale { data_age_ms: age },
            Some(_) => Self::Ok,
        }
    }

    /// Whether data is fresh and the session can trade.
    pub const fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// Stable label (`ok`, `stale`, `halted`, ...).
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Starting => "starting",
            Self::Stale { .. } => "stale",
            Self::Halted { .. } => "halted",
            Self::KillSwitch => "kill_switch",
            Self::BreakerTripped { .. } => "breaker_tripped",
            Self::Stopping { .. } => "stopping",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> HealthInputs {
        HealthInputs {
            data_age_ms: Some(100),
            stale_after_ms: 15_000,
            ..HealthInputs::default()
        }
    }

    #[test]
    fn fresh_data_and_nothing_blocking_is_ok() {
        assert_eq!(Health::assess(&fresh()), Health::Ok);
    }

    #[test]
    fn data_at_the_stale_threshold_is_stale() {
        let inputs = HealthInputs {
            data_age_ms: Some(15_000),
            ..fresh()
        };
        assert_eq!(
            Health::assess(&inputs),
            Health::Stale {
                data_age_ms: 15_000
            }
        );
        let just_under = HealthInputs {
            data_age_ms: Some(14_999),
            ..fresh()
        };
        assert!(Health::assess(&just_under).is_ok());
    }

    #[test]
    fn no_data_yet_is_starting_not_ok() {
        let inputs = HealthInputs {
            data_age_ms: None,
            ..fresh()
        };
        assert_eq!(Health::assess(&inputs), Health::Starting);
    }

    #[test]
    fn a_stopping_session_outranks_every_other_reason() {
        let inputs = HealthInputs {
            stopping: Some("kill_switch".into()),
            halted: Some("invariant".into()),
            kill_switch: true,
            breaker_tripped: Some("drawdown".into()),
            data_age_ms: Some(60_000),
            ..fresh()
        };
        assert_eq!(
            Health::assess(&inputs).as_str(),
            "stopping",
            "{:?}",
            Health::assess(&inputs)
        );
    }

    #[test]
    fn breaker_and_kill_switch_are_not_ok_with_fresh_data() {
        let tripped = HealthInputs {
            breaker_tripped: Some("daily drawdown".into()),
            ..fresh()
        };
        assert_eq!(Health::assess(&tripped).as_str(), "breaker_tripped");
        let killed = HealthInputs {
            kill_switch: true,
            ..fresh()
        };
        assert_eq!(Health::assess(&killed), Health::KillSwitch);
    }

    #[test]
    fn the_verdict_round_trips_through_json_with_its_reason() {
        let health = Health::Halted {
            reason: "broker invariant".into(),
        };
        let text = serde_json::to_string(&health).unwrap_or_default();
        assert_eq!(text, r#"{"state":"halted","reason":"broker invariant"}"#);
        assert_eq!(serde_json::from_str::<Health>(&text).ok(), Some(health));
    }
}
