// SPDX-License-Identifier: GPL-2.0

//! Priority class queues: served highest class first, FIFO within a class.
//!
//! Pure logic over any FIFO, so it is also tested on the host with `VecDeque`.

/// Number of priority classes; class `NR_CLASSES - 1` is served first.
pub(crate) const NR_CLASSES: usize = 8;

/// A FIFO queue of one class.
pub(crate) trait Fifo {
    /// What the queue holds.
    type Item;
    /// Appends at the back.
    fn push_back(&mut self, item: Self::Item);
    /// Takes from the front.
    fn pop_front(&mut self) -> Option<Self::Item>;
    /// Whether the queue is empty.
    fn is_empty(&self) -> bool;
    /// Moves every item of `other` to the back, in order.
    fn append(&mut self, other: &mut Self);
}

/// One FIFO per class, and a mask of the non-empty ones.
pub(crate) struct ClassQueues<Q> {
    queues: [Q; NR_CLASSES],
    nonempty: u32,
    len: usize,
}

impl<Q: Fifo> ClassQueues<Q> {
    /// Empty queues.
    pub(crate) fn new(queues: [Q; NR_CLASSES]) -> Self {
        Self {
            queues,
            nonempty: 0,
            len: 0,
        }
    }

    /// Queues `item` in `class` (clamped to the highest class).
    pub(crate) fn push(&mut self, class: usize, item: Q::Item) {
        let class = class.min(NR_CLASSES - 1);
        self.queues[class].push_back(item);
        self.nonempty |= 1 << class;
        self.len += 1;
    }

    /// Queues the `n` items of `items` in `class`, in order, leaving `items` empty.
    pub(crate) fn push_all(&mut self, class: usize, items: &mut Q, n: usize) {
        if n == 0 {
            return;
        }
        let class = class.min(NR_CLASSES - 1);
        self.queues[class].append(items);
        self.nonempty |= 1 << class;
        self.len += n;
    }

    /// Takes the oldest item of the highest non-empty class.
    pub(crate) fn pop(&mut self) -> Option<Q::Item> {
        let class = highest_class(self.nonempty)?;
        let item = self.queues[class].pop_front();
        if self.queues[class].is_empty() {
            self.nonempty &= !(1 << class);
        }
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    /// How many classes have items queued.
    pub(crate) fn classes_waiting(&self) -> u32 {
        self.nonempty.count_ones()
    }

    /// Items queued in all classes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The highest class set in `mask`.
pub(crate) fn highest_class(mask: u32) -> Option<usize> {
    (mask != 0).then(|| 31 - mask.leading_zeros() as usize)
}
