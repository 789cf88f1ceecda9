//! The rolling volume sum behind the sweep setup's volume filter
//! (`volume >= average × min_vol_ratio`).

use super::{fixed, ring::Ring};

/// Sum of the last `window` volumes (scale 8). Each volume is clamped to a bound no market
/// reaches, so the sum never overflows; clamping only makes an absurd volume "very large",
/// which is what the filter needs to know.
#[derive(Clone, Debug)]
pub(crate) struct VolumeAverage {
    volumes: Ring<i128>,
    sum: i128,
    clamp: i128,
    divisor: fixed::Divisor,
}

impl VolumeAverage {
    pub(crate) fn new(window: usize) -> Self {
        let window = window.max(1);
        Self {
            volumes: Ring::new(window, 0),
            sum: 0,
            clamp: i128::MAX / (4 * (window as i128 + 1)),
            divisor: fixed::Divisor::new(window as u64),
        }
    }

    pub(crate) fn update(&mut self, volume: i128) {
        let volume = volume.clamp(0, self.clamp);
        if let Some(evicted) = self.volumes.push(volume) {
            self.sum -= evicted;
        }
        self.sum += volume;
    }

    /// Mean of the last `window` volumes (scale 8), once the window is full.
    pub(crate) fn average(&self) -> Option<i128> {
        self.volumes
            .is_full()
            .then(|| self.divisor.div_round(self.sum))
    }

    /// Whether `volume >= average × ratio` (`ratio` at scale 12); `None` until full.
    pub(crate) fn passes(&self, volume: i128, ratio: i128) -> Option<bool> {
        let average = self.average()?;
        Some(fixed::cmp_scaled(volume.clamp(0, self.clamp), average, ratio).is_ge())
    }
}
