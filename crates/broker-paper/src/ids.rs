//! Client-order-id idempotency: the bounded set of *processed* ids.
//!
//! An id is processed once the broker has given its final answer: fully filled, rejected
//! (for any reason, so a refused id can never be retried into a fill later), or cancelled.
//! An order still waiting (latency, resting limit, resting remainder) is *in flight*: it is
//! the broker's working order, known but not yet processed. Keeping the two apart means a
//! legitimate first attempt is never mistaken for a duplicate (a regression the Python
//! program had), while a resubmission of either kind is refused.
//!
//! Retention: the newest `processed_id_retention` ids are kept (FIFO eviction), persisted in
//! the state file, so a duplicate is refused across restarts for at least that many later
//! orders. At 10 orders per minute, the default 10 000 covers more than 16 hours of
//! continuous maximum-rate trading and months at the strategy's real rate.

use std::collections::{HashSet, VecDeque};

use la_core::ClientOrderId;

/// The processed ids, oldest first, with a set for O(1) lookups.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProcessedIds {
    order: VecDeque<ClientOrderId>,
    set: HashSet<ClientOrderId>,
    retention: usize,
}

impl ProcessedIds {
    /// Restores from a persisted list (oldest first), keeping the newest `retention`.
    pub(crate) fn from_ids(ids: Vec<ClientOrderId>, retention: usize) -> Self {
        let mut out = Self {
            order: VecDeque::with_capacity(ids.len().min(retention)),
            set: HashSet::with_capacity(ids.len().min(retention)),
            retention,
        };
        for id in ids {
            out.insert(id);
        }
        out
    }

    /// Records `id` as processed, evicting the oldest beyond the retention.
    pub(crate) fn insert(&mut self, id: ClientOrderId) {
        if self.set.contains(&id) {
            return;
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
        while self.order.len() > self.retention {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub(crate) fn contains(&self, id: &ClientOrderId) -> bool {
        self.set.contains(id)
    }

    /// Whether the list and the set agree (an invariant).
    pub(crate) fn is_consistent(&self) -> bool {
        self.order.len() == self.set.len() && self.order.len() <= self.retention
    }

    /// Oldest first, for persistence.
    pub(crate) fn to_vec(&self) -> Vec<ClientOrderId> {
        self.order.iter().cloned().collect()
    }
}
