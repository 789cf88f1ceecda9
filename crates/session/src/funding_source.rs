//! Where the funding of a replay over history comes from — a backtest's, each set of a
//! sweep's, each window of a walk-forward's — read once and shared by all of them.
//!
//! [`Funding`] is one of: nothing (funding **not modelled**: nothing is settled and every
//! output says so, never a silent zero), one assumed constant rate (`--funding-rate`), a rate
//! file (`--funding FILE`), or the exchange's funding-rate history downloaded with the
//! candles (`--source bitunix`). The last two are read through the same validated file
//! reader ([`crate::funding_file`]) but keep their provenance: the run's [`FundingModel`]
//! says `file` or `exchange_history`, and each settlement's source says `file` or `history`.

use std::path::{Path, PathBuf};

use la_core::{Decimal, Price, TimestampMs};
use la_run_schema::inputs::FundingModel;

use crate::{
    backtest::{AssumedFunding, ReplayFunding},
    error::SessionError,
    funding::FundingRateSource,
    funding_file::{FileFunding, FundingRates, load_funding_rates},
};

/// A replay's funding, read and validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Funding {
    /// No source: nothing is settled and the strategy sizes as for an unknown rate.
    #[default]
    NotModelled,
    /// One assumed rate (fraction per 8 h) for every funding time, known from the start.
    Constant(Decimal),
    /// A rate file the user passed.
    File {
        /// The file.
        path: PathBuf,
        /// Its usable rates and what became of its rows.
        rates: FundingRates,
    },
    /// The exchange's funding-rate history, downloaded (and cached) with the candles.
    ExchangeHistory {
        /// The cached `ts_ms,rate` file.
        path: PathBuf,
        /// Its usable rates and what became of its rows.
        rates: FundingRates,
    },
}

impl Funding {
    /// Reads a user's rate file.
    ///
    /// # Errors
    /// [`SessionError::FundingFile`]: unreadable, or no usable row.
    pub fn from_file(path: &Path) -> Result<Self, SessionError> {
        Ok(Self::File {
            rates: load_funding_rates(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Reads the exchange's funding-rate history as downloaded to `path`.
    ///
    /// # Errors
    /// [`SessionError::FundingFile`]: unreadable, or no usable row.
    pub fn from_exchange_history(path: &Path) -> Result<Self, SessionError> {
        Ok(Self::ExchangeHistory {
            rates: load_funding_rates(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Whether anything is settled.
    pub const fn is_modelled(&self) -> bool {
        !matches!(self, Self::NotModelled)
    }

    /// The rate the strategy may know before the first funding time: only an assumed
    /// constant is known in advance (a file's or the exchange's rate is seen when it settles).
    pub const fn known_in_advance(&self) -> Option<Decimal> {
        match self {
            Self::Constant(rate) => Some(*rate),
            _ => None,
        }
    }

    /// The rate file read, if any, for the run's configuration record.
    pub fn rate_file(&self) -> Option<&Path> {
        match self {
            Self::File { path, .. } | Self::ExchangeHistory { path, .. } => Some(path),
            Self::NotModelled | Self::Constant(_) => None,
        }
    }

    /// What the run's summary records as its funding model.
    pub fn model(&self) -> FundingModel {
        match self {
            Self::NotModelled => FundingModel::NotModelled,
            Self::Constant(rate) => FundingModel::Constant { rate: *rate },
            Self::File { path, rates } => FundingModel::File {
                path: path.display().to_string(),
                rates: rates.rates.len() as u64,
                rows: rates.rows,
                rejected: rates.rejected.clone(),
            },
            Self::ExchangeHistory { path, rates } => FundingModel::ExchangeHistory {
                path: path.display().to_string(),
                rates: rates.rates.len() as u64,
                rows: rates.rows,
                rejected: rates.rejected.clone(),
            },
        }
    }

    /// A fresh settler for one replay (it counts the funding times it had no rate for).
    pub fn settler(&self) -> FundingSettler<'_> {
        match self {
            Self::NotModelled => FundingSettler::Assumed(AssumedFunding(None)),
            Self::Constant(rate) => FundingSettler::Assumed(AssumedFunding(Some(*rate))),
            Self::File { rates, .. } => {
                FundingSettler::Rates(FileFunding::with_source(rates, FundingRateSource::File))
            }
            Self::ExchangeHistory { rates, .. } => {
                FundingSettler::Rates(FileFunding::with_source(rates, FundingRateSource::History))
            }
        }
    }
}

/// Which rate settles each funding time of one replay.
#[derive(Debug)]
pub enum FundingSettler<'a> {
    /// A constant rate, or none.
    Assumed(AssumedFunding),
    /// The rate a file (or the exchange's history) holds for that time.
    Rates(FileFunding<'a>),
}

impl FundingSettler<'_> {
    /// Funding times passed that the rates held nothing for (nothing was settled then).
    pub const fn missing(&self) -> u64 {
        match self {
            Self::Assumed(_) => 0,
            Self::Rates(rates) => rates.missing,
        }
    }
}

impl ReplayFunding for FundingSettler<'_> {
    fn rate_at(
        &mut self,
        funding_time: TimestampMs,
        fallback_mark: Price,
    ) -> Option<(Decimal, Price, FundingRateSource)> {
        match self {
            Self::Assumed(assumed) => assumed.rate_at(funding_time, fallback_mark),
            Self::Rates(rates) => rates.rate_at(funding_time, fallback_mark),
        }
    }
}
