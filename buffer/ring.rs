// SPDX-License-Identifier: GPL-2.0

//! Ring accounting of a session buffer, with the slowest-sink-drop policy.
//!
//! Pure logic: no kernel types and no allocation, so it is also property-tested on the host
//! (`tests/host`). The caller owns the entries' payloads and a `users` array of `capacity`
//! counters; this code says which sequence numbers to store, send, drop and release.
//!
//! Entries are numbered by a 64-bit sequence; entry `seq` lives in slot `seq % capacity`.
//! The ring holds entries `tail..head`. Each sink has a cursor `next`: the entry it sends next.
//! Invariant: for every held entry `seq`, `users[seq % capacity]` is the number of sinks with
//! `next <= seq` (the sinks that still need it), and the oldest held entry has at least one
//! user or is among the newest `retain` entries: an entry is released as soon as no sink needs
//! it and it is older than what the ring retains for late joiners (`set_retain`, the burst).
//!
//! Slowest-sink-drop: when the ring is full, the oldest entry is dropped. Its users are exactly
//! the slowest sinks (those with the smallest `next`), so only they lose it; a sink whose
//! cursor falls behind `tail` jumps to `tail` when it next looks, and its loss is counted.
//! New content is always admitted, and a sink that keeps up never loses an entry. An entry
//! kept only for late joiners (no users) that makes room is released, not counted as dropped.

/// A released or dropped range of sequence numbers, `start..end`, whose slots the caller clears.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// Where one sink is in the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The next entry this sink sends.
    pub(crate) next: u64,
    /// Entries this sink lost to drops, counted when it caught up with `tail`.
    pub(crate) lost: u64,
}

/// The ring's indices and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RingIndex {
    capacity: u64,
    head: u64,
    tail: u64,
    sinks: u32,
    dropped: u64,
    retain: u64,
}

impl RingIndex {
    /// An empty ring of `capacity` entries (at least 1).
    pub(crate) fn new(capacity: u32) -> Self {
        Self {
            capacity: capacity.max(1) as u64,
            head: 0,
            tail: 0,
            sinks: 0,
            dropped: 0,
            retain: 0,
        }
    }

    /// Keeps the newest `n` entries (at most the capacity) even when no sink needs them, so
    /// that a late joiner can start that far back. Applies from the next release on.
    pub(crate) fn set_retain(&mut self, n: u32) {
        self.retain = (n as u64).min(self.capacity);
    }

    /// Number of entries the ring can hold.
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity as u32
    }
    /// Sequence number the next stored entry gets.
    pub(crate) fn head(&self) -> u64 {
        self.head
    }
    /// Oldest held entry.
    #[cfg_attr(not(test), expect(dead_code, reason = "used by the host tests"))]
    pub(crate) fn tail(&self) -> u64 {
        self.tail
    }
    /// Entries held now.
    pub(crate) fn fill(&self) -> u32 {
        (self.head - self.tail) as u32
    }
    /// Sinks attached.
    #[cfg_attr(not(test), expect(dead_code, reason = "used by the host tests"))]
    pub(crate) fn sinks(&self) -> u32 {
        self.sinks
    }
    /// Entries dropped by the slowest-sink-drop policy so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Slot of entry `seq`.
    pub(crate) fn slot(&self, seq: u64) -> usize {
        // `capacity` is never 0 (`new` takes at least 1); no panic path for objtool either.
        seq.checked_rem(self.capacity).unwrap_or(0) as usize
    }

    /// Makes room for one new entry. If the ring is full, drops the oldest entry (held only by
    /// the slowest sinks) and returns it; the caller frees that slot before `push`.
    pub(crate) fn make_room(&mut self, users: &mut [u32]) -> Span {
        if self.head - self.tail < self.capacity {
            return Span {
                start: self.tail,
                end: self.tail,
            };
        }
        let start = self.tail;
        let s = self.slot(start);
        if users[s] > 0 {
            self.dropped += 1;
        }
        users[s] = 0;
        self.tail += 1;
        // The next entries have at least as many users, so none can be released here.
        Span {
            start,
            end: self.tail,
        }
    }

    /// Stores a new entry after `make_room`; returns its sequence number and the span to
    /// release at once (the new entry itself when there are no sinks).
    pub(crate) fn push(&mut self, users: &mut [u32]) -> (u64, Span) {
        debug_assert!(
            self.head - self.tail < self.capacity,
            "push without make_room"
        );
        let seq = self.head;
        users[self.slot(seq)] = self.sinks;
        self.head += 1;
        (seq, self.release(users))
    }

    /// Attaches a sink; it starts at the next entry to arrive.
    #[cfg_attr(not(test), expect(dead_code, reason = "used by the host tests"))]
    pub(crate) fn add_sink(&mut self) -> Cursor {
        self.sinks += 1;
        Cursor {
            next: self.head,
            lost: 0,
        }
    }

    /// Attaches a sink that starts up to `back` entries before the next one to arrive, as far
    /// as the ring holds: a late joiner's burst.
    pub(crate) fn add_sink_back(&mut self, back: u64, users: &mut [u32]) -> Cursor {
        let next = self.head - back.min(self.head - self.tail);
        for seq in next..self.head {
            let s = self.slot(seq);
            users[s] += 1;
        }
        self.sinks += 1;
        Cursor { next, lost: 0 }
    }

    /// Moves a sink forward to `to` (clamped to `head`), counting the entries it skips as
    /// lost; returns the entries that no sink needs any more. A sink that is already at or
    /// past `to` does not move.
    pub(crate) fn skip_to(&mut self, cur: &mut Cursor, to: u64, users: &mut [u32]) -> Span {
        let _ = self.peek(cur);
        let to = to.min(self.head);
        if to <= cur.next {
            return Span {
                start: self.tail,
                end: self.tail,
            };
        }
        for seq in cur.next..to {
            let s = self.slot(seq);
            users[s] -= 1;
        }
        cur.lost += to - cur.next;
        cur.next = to;
        self.release(users)
    }

    /// Entries that some sink still needs: the held ones but those kept only for late
    /// joiners. User counts never fall from older to newer entries, so the first needed
    /// entry is found by bisection.
    pub(crate) fn needed(&self, users: &[u32]) -> u32 {
        let (mut lo, mut hi) = (self.tail, self.head);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if users[self.slot(mid)] > 0 {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        (self.head - lo) as u32
    }

    /// The oldest entry this sink still has to send (its lag starts there), if any.
    pub(crate) fn oldest_wanted(&self, cur: &Cursor) -> Option<u64> {
        let seq = cur.next.max(self.tail);
        (seq < self.head).then_some(seq)
    }

    /// Detaches a sink; returns the entries that no sink needs any more.
    pub(crate) fn remove_sink(&mut self, cur: &Cursor, users: &mut [u32]) -> Span {
        for seq in cur.next.max(self.tail)..self.head {
            let s = self.slot(seq);
            users[s] -= 1;
        }
        self.sinks -= 1;
        self.release(users)
    }

    /// The entry this sink should send now, if any. A sink left behind by drops first jumps
    /// to the oldest held entry and counts what it lost.
    pub(crate) fn peek(&self, cur: &mut Cursor) -> Option<u64> {
        if cur.next < self.tail {
            cur.lost += self.tail - cur.next;
            cur.next = self.tail;
        }
        (cur.next < self.head).then_some(cur.next)
    }

    /// The sink finished sending entry `seq` (from `peek`); returns the entries to release.
    /// If the entry was dropped while it was being sent, the sink still completed it (it kept
    /// its own reference), so that is not a loss.
    pub(crate) fn complete(&mut self, cur: &mut Cursor, seq: u64, users: &mut [u32]) -> Span {
        debug_assert_eq!(cur.next, seq, "complete out of order");
        cur.next = seq + 1;
        if seq < self.tail {
            return Span {
                start: self.tail,
                end: self.tail,
            };
        }
        let s = self.slot(seq);
        users[s] -= 1;
        self.release(users)
    }

    /// Entries this sink lost so far, including those dropped since it last looked.
    pub(crate) fn lost(&self, cur: &Cursor) -> u64 {
        cur.lost + self.tail.saturating_sub(cur.next)
    }

    /// Entries this sink still has to send.
    pub(crate) fn lag(&self, cur: &Cursor) -> u64 {
        self.head - cur.next.max(self.tail)
    }

    fn release(&mut self, users: &[u32]) -> Span {
        let start = self.tail;
        while self.tail < self.head
            && users[self.slot(self.tail)] == 0
            && self.head - self.tail > self.retain
        {
            self.tail += 1;
        }
        Span {
            start,
            end: self.tail,
        }
    }
}
