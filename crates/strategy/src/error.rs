//! The crate's one error type, [`StrategyError`]: configuration problems found when a
//! strategy or indicator is built. Running a strategy never fails; a candle that cannot be
//! traded yields a [`crate::Decision`] whose verdict names the [`crate::Gate`] that blocked it.

/// Why a strategy or indicator could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// A parameter is out of range or inconsistent with another.
    #[error("invalid strategy setting `{field}`: {reason}")]
    InvalidConfig {
        /// The parameter, as named in the configuration.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A strategy name that is not one of `setups`, `sma-cross`.
    #[error("unknown strategy `{name}`: expected `setups` or `sma-cross`")]
    UnknownStrategy {
        /// The name given.
        name: String,
    },
}

impl StrategyError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}
