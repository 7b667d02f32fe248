// SPDX-License-Identifier: GPL-2.0

//! The session buffer: a ring of page-backed entries, each shared by every sink that sends
//! it, with slowest-sink-drop (`ring.rs` holds the pure accounting).

pub(crate) mod policy;
pub(crate) mod ring;

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::{alloc::KVVec, page::Page, prelude::*, sync::Arc};
use policy::{Admission, DropPolicy};
use ring::{Cursor, RingIndex, Span};

/// Payloads alive, module-wide (for the leak checks).
pub(crate) static ENTRIES_LIVE: AtomicU64 = AtomicU64::new(0);
/// Payload pages OMSS holds, module-wide: counted where they are allocated, released
/// where their holder (a [`Chunk`] or a receive spare) drops them.
pub(crate) static PAGES_LIVE: AtomicU64 = AtomicU64::new(0);

/// Payload pages, counted in [`PAGES_LIVE`] exactly while this holds them: every way in
/// (`push_new`) and out (drop) keeps the count, whatever fails.
pub(crate) struct PayloadPages(KVec<Page>);

impl PayloadPages {
    /// No pages, room for `n` without allocating.
    pub(crate) fn with_capacity(n: usize) -> Result<Self> {
        Ok(Self(KVec::with_capacity(n, GFP_KERNEL)?))
    }

    /// Allocates one more page.
    pub(crate) fn push_new(&mut self) -> Result {
        let page = Page::alloc_page(GFP_KERNEL)?;
        self.0.push(page, GFP_KERNEL)?;
        PAGES_LIVE.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Exchanges the first `n` pages of both; neither count changes.
    pub(crate) fn swap_front(&mut self, other: &mut Self, n: usize) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter_mut()).take(n) {
            core::mem::swap(a, b);
        }
    }

    /// The pages.
    pub(crate) fn pages(&self) -> &[Page] {
        &self.0
    }

    /// Number of pages.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Drop for PayloadPages {
    fn drop(&mut self) {
        PAGES_LIVE.fetch_sub(self.0.len() as u64, Relaxed);
    }
}

/// One entry's payload: the bytes `0..len` laid over whole pages. Once stored it is never
/// written again; the network stack may hold its pages after we drop them.
/// `new` is its only constructor, so that every payload is counted.
pub(crate) struct Chunk {
    pages: PayloadPages,
    len: usize,
}

impl Chunk {
    /// A payload of `len` bytes over `pages`.
    pub(crate) fn new(pages: PayloadPages, len: usize) -> Self {
        ENTRIES_LIVE.fetch_add(1, Relaxed);
        Self { pages, len }
    }

    /// The pages holding the payload.
    pub(crate) fn pages(&self) -> &[Page] {
        self.pages.pages()
    }

    /// Payload bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        ENTRIES_LIVE.fetch_sub(1, Relaxed);
    }
}

/// The ring of a session: indices, user counts, the stored entries and when each arrived.
pub(crate) struct SessionBuffer {
    index: RingIndex,
    users: KVVec<u32>,
    slots: KVVec<Option<Arc<Chunk>>>,
    /// Receive time of each held entry, in ns (`ktime_get`).
    times: KVVec<i64>,
    admission: Admission,
    /// New entries the drop policy did not store (tail drop, RED).
    refused: u64,
}

impl SessionBuffer {
    /// An empty buffer of `capacity` entries, with its drop policy.
    pub(crate) fn new(capacity: u32, policy: DropPolicy) -> Result<Self> {
        let mut users = KVVec::with_capacity(capacity as usize, GFP_KERNEL)?;
        let mut slots = KVVec::with_capacity(capacity as usize, GFP_KERNEL)?;
        let mut times = KVVec::with_capacity(capacity as usize, GFP_KERNEL)?;
        for _ in 0..capacity {
            users.push(0, GFP_KERNEL)?;
            slots.push(None, GFP_KERNEL)?;
            times.push(0, GFP_KERNEL)?;
        }
        Ok(Self {
            index: RingIndex::new(capacity),
            users,
            slots,
            times,
            admission: Admission::new(policy),
            refused: 0,
        })
    }

    /// The ring's indices and counters.
    pub(crate) fn index(&self) -> &RingIndex {
        &self.index
    }

    /// Keeps the newest `n` entries for late joiners (see [`RingIndex::set_retain`]).
    pub(crate) fn set_retain(&mut self, n: u32) {
        self.index.set_retain(n);
    }

    /// Whether the drop policy needs a random number for [`Self::admit`] (RED does).
    pub(crate) fn wants_random(&self) -> bool {
        self.admission.policy() == DropPolicy::Red
    }

    /// Whether the drop policy stores a new entry now; a refused one is counted.
    pub(crate) fn admit(&mut self, rand: u32) -> bool {
        let needed = self.index.needed(&self.users);
        let ok = self.admission.admit(needed, self.index.capacity(), rand);
        if !ok {
            self.refused += 1;
        }
        ok
    }

    /// Entries the drop policy dropped: the oldest ones under slowest-sink-drop, new ones
    /// under tail drop and RED.
    pub(crate) fn dropped(&self) -> u64 {
        self.index.dropped() + self.refused
    }

    /// Stores a new entry received at `now` (ns), dropping the slowest sinks' oldest entry
    /// if the ring is full.
    pub(crate) fn push(&mut self, chunk: Arc<Chunk>, now: i64) {
        let dropped = self.index.make_room(&mut self.users);
        self.clear(dropped);
        let (seq, released) = self.index.push(&mut self.users);
        let slot = self.index.slot(seq);
        self.slots[slot] = Some(chunk);
        self.times[slot] = now;
        self.clear(released);
    }

    /// How many of the newest entries a burst of at most `entries` and at most `ms` back
    /// from `now` covers (each `None` for no bound; both `None`: no burst).
    pub(crate) fn burst(&self, entries: Option<u32>, ms: Option<u32>, now: i64) -> u64 {
        if entries.is_none() && ms.is_none() {
            return 0;
        }
        let held = u64::from(self.index.fill());
        let mut n = entries.map_or(held, |e| held.min(e.into()));
        if let Some(ms) = ms {
            let since = now.saturating_sub(i64::from(ms) * 1_000_000);
            let head = self.index.head();
            // Receive times never fall from older to newer entries (taken under the session
            // lock): bisect for how many of the newest `n` arrived since `since`.
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if self.times[self.index.slot(head - mid)] >= since {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            n = lo;
        }
        n
    }

    /// Attaches a sink at the newest entry, or `back` entries before it (a burst).
    pub(crate) fn add_sink(&mut self, back: u64) -> Cursor {
        self.index.add_sink_back(back, &mut self.users)
    }

    /// Moves a sink forward to `back` entries before the newest (a soft lag limit's jump);
    /// what it skips counts as lost.
    pub(crate) fn jump(&mut self, cur: &mut Cursor, back: u64) {
        let to = self.index.head().saturating_sub(back);
        let released = self.index.skip_to(cur, to, &mut self.users);
        self.clear(released);
    }

    /// A sink's lag: entries still to send, and the age in ms at `now` of the oldest of them.
    pub(crate) fn lag(&self, cur: &Cursor, now: i64) -> (u64, u64) {
        match self.index.oldest_wanted(cur) {
            Some(seq) => {
                let age = now.saturating_sub(self.times[self.index.slot(seq)]);
                (self.index.lag(cur), (age.max(0) / 1_000_000) as u64)
            }
            None => (0, 0),
        }
    }

    /// Detaches a sink, releasing what only it still needed.
    pub(crate) fn remove_sink(&mut self, cur: &Cursor) {
        let released = self.index.remove_sink(cur, &mut self.users);
        self.clear(released);
    }

    /// The entry a sink sends next, with its payload.
    pub(crate) fn peek(&self, cur: &mut Cursor) -> Option<(u64, Arc<Chunk>)> {
        let seq = self.index.peek(cur)?;
        let chunk = self.slots[self.index.slot(seq)].clone()?;
        Some((seq, chunk))
    }

    /// A sink finished sending entry `seq`.
    pub(crate) fn complete(&mut self, cur: &mut Cursor, seq: u64) {
        let released = self.index.complete(cur, seq, &mut self.users);
        self.clear(released);
    }

    /// Drops every stored entry (the session is going away).
    pub(crate) fn clear_all(&mut self) {
        for slot in self.slots.iter_mut() {
            *slot = None;
        }
    }

    fn clear(&mut self, span: Span) {
        for seq in span.start..span.end {
            let slot = self.index.slot(seq);
            self.slots[slot] = None;
        }
    }
}
