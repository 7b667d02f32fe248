// SPDX-License-Identifier: GPL-2.0

//! The session buffer: a ring of page-backed entries, each shared by every sink that sends
//! it, with slowest-sink-drop (`ring.rs` holds the pure accounting).

pub(crate) mod ring;

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::{alloc::KVVec, page::Page, prelude::*, sync::Arc};
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

/// The ring of a session: indices, user counts and the stored entries.
pub(crate) struct SessionBuffer {
    index: RingIndex,
    users: KVVec<u32>,
    slots: KVVec<Option<Arc<Chunk>>>,
}

impl SessionBuffer {
    /// An empty buffer of `capacity` entries.
    pub(crate) fn new(capacity: u32) -> Result<Self> {
        let mut users = KVVec::with_capacity(capacity as usize, GFP_KERNEL)?;
        let mut slots = KVVec::with_capacity(capacity as usize, GFP_KERNEL)?;
        for _ in 0..capacity {
            users.push(0, GFP_KERNEL)?;
            slots.push(None, GFP_KERNEL)?;
        }
        Ok(Self {
            index: RingIndex::new(capacity),
            users,
            slots,
        })
    }

    /// The ring's indices and counters.
    pub(crate) fn index(&self) -> &RingIndex {
        &self.index
    }

    /// Stores a new entry, dropping the slowest sinks' oldest entry if the ring is full.
    pub(crate) fn push(&mut self, chunk: Arc<Chunk>) {
        let dropped = self.index.make_room(&mut self.users);
        self.clear(dropped);
        let (seq, released) = self.index.push(&mut self.users);
        let slot = self.index.slot(seq);
        self.slots[slot] = Some(chunk);
        self.clear(released);
    }

    /// Attaches a sink at the newest entry.
    pub(crate) fn add_sink(&mut self) -> Cursor {
        self.index.add_sink()
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
