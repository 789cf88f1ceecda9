//! Fixed-capacity ring buffers allocated once at construction: [`Ring`] (a sliding window of
//! the last N values) and [`MonotonicWindow`] (the running max or min of the last N values in
//! O(1) amortised per push).
//!
//! Indicators use these so that `update` never touches the heap. Indices wrap with a compare
//! instead of `%`: an integer division per access would cost more than the indicator math.

/// `index + 1`, wrapped to `0` at `capacity`.
#[inline]
fn next(index: usize, capacity: usize) -> usize {
    let next = index + 1;
    if next == capacity { 0 } else { next }
}

/// `(head + offset)` wrapped into `0..capacity`, for `offset < capacity`.
#[inline]
fn wrap(head: usize, offset: usize, capacity: usize) -> usize {
    let index = head + offset;
    if index >= capacity {
        index - capacity
    } else {
        index
    }
}

/// The last `capacity` values pushed, oldest first.
#[derive(Clone, Debug)]
pub(crate) struct Ring<T: Copy> {
    slots: Box<[T]>,
    head: usize,
    len: usize,
}

impl<T: Copy> Ring<T> {
    /// A ring of `capacity` (at least 1) slots, pre-filled with `fill`.
    pub(crate) fn new(capacity: usize, fill: T) -> Self {
        Self {
            slots: vec![fill; capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// Appends `value`; returns the value it evicted when the ring was full.
    #[inline]
    pub(crate) fn push(&mut self, value: T) -> Option<T> {
        let capacity = self.slots.len();
        if self.len < capacity {
            let index = wrap(self.head, self.len, capacity);
            self.slots[index] = value;
            self.len += 1;
            None
        } else {
            let evicted = std::mem::replace(&mut self.slots[self.head], value);
            self.head = next(self.head, capacity);
            Some(evicted)
        }
    }

    /// Forgets every value (the slots stay allocated).
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The most recent value.
    pub(crate) fn last(&self) -> Option<T> {
        let offset = self.len.checked_sub(1)?;
        Some(self.slots[wrap(self.head, offset, self.slots.len())])
    }

    /// The stored values as two slices, oldest first: iterate the first, then the second.
    pub(crate) fn as_slices(&self) -> (&[T], &[T]) {
        let capacity = self.slots.len();
        if self.head + self.len <= capacity {
            (&self.slots[self.head..self.head + self.len], &[])
        } else {
            let wrapped = self.head + self.len - capacity;
            (&self.slots[self.head..], &self.slots[..wrapped])
        }
    }

    /// Values oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let (first, second) = self.as_slices();
        first.iter().chain(second).copied()
    }
}

/// Which extreme a [`MonotonicWindow`] tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extreme {
    Max,
    Min,
}

/// The max (or min) of the last `window` pushed values, O(1) amortised per push.
///
/// A monotonic deque of `(sequence, value)` pairs: values that can never again be the
/// extreme are dropped from the back, expired ones from the front. The ring's capacity is a
/// power of two and `head`/`tail` run freely, so every access is a mask.
#[derive(Clone, Debug)]
pub(crate) struct MonotonicWindow {
    sequences: Box<[u64]>,
    values: Box<[i128]>,
    mask: u64,
    head: u64,
    tail: u64,
    window: u64,
    next_seq: u64,
    /// Min windows store negated values and track the max, so the loop has no branch on
    /// the kind.
    negate: bool,
}

impl MonotonicWindow {
    pub(crate) fn new(window: usize, extreme: Extreme) -> Self {
        let window = window.max(1);
        let capacity = window.next_power_of_two();
        Self {
            sequences: vec![0; capacity].into_boxed_slice(),
            values: vec![0; capacity].into_boxed_slice(),
            mask: capacity as u64 - 1,
            head: 0,
            tail: 0,
            window: window as u64,
            next_seq: 0,
            negate: extreme == Extreme::Min,
        }
    }

    /// Forgets every value, as if new.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.next_seq = 0;
    }

    /// Number of values pushed so far.
    pub(crate) fn pushed(&self) -> u64 {
        self.next_seq
    }

    #[inline]
    fn slot(&self, position: u64) -> usize {
        (position & self.mask) as usize
    }

    /// Adds `value` as the newest element of the window.
    ///
    /// Always inlined: left to itself the compiler calls it, and the call's register saves
    /// were a tenth of its cost (two pushes per candle of every set of a sweep).
    #[inline(always)]
    pub(crate) fn push(&mut self, value: i128) {
        // Prices are far from i128::MIN, so negation is exact.
        let value = if self.negate {
            value.wrapping_neg()
        } else {
            value
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        // Expire values that fall out of the window once `value` is in.
        while self.head < self.tail && self.sequences[self.slot(self.head)] + self.window <= seq {
            self.head += 1;
        }
        // Drop values `value` dominates (ties too: the newest copy lives longest).
        while self.head < self.tail && self.values[self.slot(self.tail - 1)] <= value {
            self.tail -= 1;
        }
        // At most window − 1 values remain, so the slot is free.
        let slot = self.slot(self.tail);
        self.sequences[slot] = seq;
        self.values[slot] = value;
        self.tail += 1;
    }

    /// The extreme of the last `window` values, `None` before the first push.
    #[inline]
    pub(crate) fn value(&self) -> Option<i128> {
        (self.head < self.tail).then(|| {
            let value = self.values[self.slot(self.head)];
            if self.negate {
                value.wrapping_neg()
            } else {
                value
            }
        })
    }
}
