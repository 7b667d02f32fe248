// SPDX-License-Identifier: GPL-2.0

//! A relay session: one source, many sinks, one session buffer.
//!
//! # Lock order
//!
//! Outer to inner; a lock may only be taken while holding locks above it:
//!
//! 1. `ControlFile::sessions` (the id table of one open `/dev/omss`), then
//!    `Parking::table` (the parked sessions, `park.rs`) when a session is adopted, or
//!    `Registry::all` (a leaf, `registry.rs`) when one is created; a netlink dump holds
//!    `genl_mutex` and takes only 3;
//! 2. `Source::run` or `Sink::run` (one task's run state; never two of them at once);
//! 3. `Session::inner` (ring, sink table, state);
//! 4. `sk_callback_lock` (in `Socket::attach` and `Hook::drop`, and held by the socket callbacks
//!    in softirq, which only take 5);
//! 5. `Pool::state` (a `spin_lock_bh`; innermost).
//!
//! So `Session::inner` is never held while a `run` lock is taken: `set_source` and
//! `add_sink` attach the socket (which takes its `run` lock) before they take `inner` to
//! publish it, and `remove_sink` and `destroy` take a task's `run` lock (in `shutdown`) only
//! after releasing `inner`. Tasks are scheduled through a [`Batch`] that is dropped after
//! `inner` is released.
//!
//! # Lifecycle
//!
//! `state` says what the source did (idle: none yet, running, ended, failed); `dead` says
//! the session was destroyed. Every entry point checks `dead` under `inner` (the binder
//! `is_dead` pattern): once `destroy` set it, nothing attaches to the session any more, no
//! entry is stored, and its sinks stop without a FIN.

use super::{
    args::{check_socket, sink_conflict, ArgError, Ids, Limits, SockFacts, MAX_SINKS},
    registry::{session_event, Registry},
    sink::Sink,
    slots::{sort_short, Slots},
    source::Source,
};
use crate::{
    buffer::{policy::DropPolicy, Chunk, SessionBuffer},
    sched::{
        pool::Pool,
        task::{Batch, Task},
    },
    shim::{self, netlink::NlAttr, sock::Socket},
    uapi,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::{
    alloc::KVVec,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::Ktime,
};

/// Sinks a netlink dump reads from a session under its lock at a time.
const DUMP_BATCH: usize = 64;

/// Sessions alive, module-wide.
pub(crate) static SESSIONS_LIVE: AtomicU32 = AtomicU32::new(0);

/// Counts a session while it exists.
struct LiveSession;

impl LiveSession {
    fn new() -> Self {
        SESSIONS_LIVE.fetch_add(1, Relaxed);
        Self
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        SESSIONS_LIVE.fetch_sub(1, Relaxed);
    }
}

/// A sink and its task.
pub(crate) struct SinkEntry {
    pub(crate) sink: Arc<Sink>,
    pub(crate) task: Arc<Task>,
}

/// Session state under its lock.
pub(crate) struct Inner {
    pub(crate) buf: SessionBuffer,
    pub(crate) sinks: Slots<SinkEntry>,
    source: Option<(Arc<Source>, Arc<Task>)>,
    /// A `set_source` is attaching its socket (outside the lock).
    source_pending: bool,
    /// `OMSS_SESSION_*`: what the source did.
    pub(crate) state: u32,
    /// Destroyed: see the module docs.
    pub(crate) dead: bool,
    source_err: i32,
    stored: u64,
    sink_ids: Ids,
}

/// A relay session.
#[pin_data]
pub(crate) struct Session {
    pub(crate) id: u32,
    pub(crate) class: u8,
    pub(crate) copy: bool,
    /// Defaults for the sinks' burst and lag limits.
    limits: Limits,
    /// A TCP source's fixed entry size (`args::entry_size`), or `None`.
    pub(crate) entry_size: Option<u32>,
    /// A persistent session: parked this long (ms) when its file closes, and the token that
    /// adopts it.
    pub(crate) persist: Option<(u32, u64)>,
    /// Parked: its file was closed and nobody adopted it yet.
    pub(crate) parked: AtomicBool,
    policy: DropPolicy,
    pool: Arc<Pool>,
    registry: Arc<Registry>,
    #[pin]
    pub(crate) inner: Mutex<Inner>,
    rx_bytes: AtomicU64,
    rx_packets: AtomicU64,
    pub(crate) rx_errors: AtomicU64,
    pub(crate) rx_truncated: AtomicU64,
    pub(crate) pages_allocated: AtomicU64,
    pages_stored: AtomicU64,
    /// Engine task-run numbers of this session's first and latest task runs.
    run_first: AtomicU64,
    run_last: AtomicU64,
    _live: LiveSession,
}

/// Facts of a socket, as the pure checks take them.
pub(crate) fn facts(sock: &Socket) -> SockFacts {
    let i = sock.info();
    SockFacts {
        family: i.family,
        sock_type: i.sock_type,
        protocol: i.protocol,
        state: i.state,
        bound: i.bound != 0,
        owned: i.owned != 0,
        ulp: i.ulp != 0,
    }
}

impl Session {
    /// A new idle session.
    pub(crate) fn new(
        id: u32,
        class: u8,
        copy: bool,
        capacity: u32,
        limits: Limits,
        entry_size: Option<u32>,
        policy: DropPolicy,
        persist: Option<(u32, u64)>,
        pool: Arc<Pool>,
        registry: Arc<Registry>,
    ) -> Result<Arc<Self>> {
        let mut buf = SessionBuffer::new(capacity, policy)?;
        buf.set_retain(limits.retain(capacity));
        let inner = Inner {
            buf,
            sinks: Slots::new(),
            source: None,
            source_pending: false,
            state: uapi::OMSS_SESSION_IDLE,
            dead: false,
            source_err: 0,
            stored: 0,
            sink_ids: Ids::starting_at(1),
        };
        Arc::pin_init(
            pin_init!(Self {
                id,
                class,
                copy,
                limits,
                entry_size,
                persist,
                parked: AtomicBool::new(false),
                policy,
                pool,
                registry,
                inner <- new_mutex!(inner, "omss_session"),
                rx_bytes: AtomicU64::new(0),
                rx_packets: AtomicU64::new(0),
                rx_errors: AtomicU64::new(0),
                rx_truncated: AtomicU64::new(0),
                pages_allocated: AtomicU64::new(0),
                pages_stored: AtomicU64::new(0),
                run_first: AtomicU64::new(0),
                run_last: AtomicU64::new(0),
                _live: LiveSession::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// Notes that one of this session's tasks runs now, as engine task run number `n`.
    /// It runs on every task run: a plain load keeps the read-modify-write off that path
    /// once `run_first` is set.
    pub(crate) fn ran(&self, n: u64) {
        if self.run_first.load(Relaxed) == 0 {
            let _ = self.run_first.compare_exchange(0, n, Relaxed, Relaxed);
        }
        self.run_last.store(n, Relaxed);
    }

    /// Sets the source: a connected TCP or bound UDP socket. A session has one.
    pub(crate) fn set_source(self: &Arc<Self>, sock: Socket) -> Result {
        let proto = check_socket(&facts(&sock), false)?;
        {
            let mut inner = self.inner.lock();
            if inner.dead {
                return Err(ENOENT);
            }
            if inner.source.is_some()
                || inner.source_pending
                || inner.state != uapi::OMSS_SESSION_IDLE
                || inner.sinks.find(|e| e.sink.sock.same(&sock)).is_some()
            {
                return Err(EBUSY);
            }
            inner.source_pending = true;
        }
        // Attach outside `inner` (lock order); the source does nothing until `start`.
        let attached = Source::new(self.clone(), sock, proto).and_then(|source| {
            let task = Task::new(&self.pool, self.class, source.clone())?;
            source.attach(&task)?;
            Ok((source, task))
        });
        let mut inner = self.inner.lock();
        inner.source_pending = false;
        let (source, task) = attached?;
        if inner.dead {
            drop(inner);
            source.shutdown(&task);
            return Err(ENOENT);
        }
        inner.source = Some((source.clone(), task.clone()));
        inner.state = uapi::OMSS_SESSION_RUNNING;
        drop(inner);
        source.start();
        // Data may already be waiting.
        Task::schedule(task.as_arc_borrow());
        Ok(())
    }

    /// Adds a sink (a connected TCP or UDP socket) with its limits (`struct omss_limits`'s
    /// fields, over the session's defaults); it starts at the next entry, or its burst back.
    pub(crate) fn add_sink(self: &Arc<Self>, sock: Socket, limits: [u32; 6]) -> Result<u32> {
        let limits = Limits::sink(&self.limits, limits).check()?;
        let checked = check_socket(&facts(&sock), true);
        let mine = checked == Err(ArgError::Busy) && self.has_socket(&sock);
        let proto = sink_conflict(checked, mine)?;
        let id = {
            let mut inner = self.inner.lock();
            if inner.dead {
                return Err(ENOENT);
            }
            if inner.sinks.len() >= MAX_SINKS {
                return Err(ENOSPC);
            }
            // Ids are never reused; a session that used them all takes no more sinks.
            inner.sink_ids.take().ok_or(ENOSPC)?
        };
        // Attach outside `inner` (lock order); the sink is idle until it joins the ring.
        let sink = Sink::new(id, self.clone(), sock, proto, limits)?;
        let task = Task::new(&self.pool, self.class, sink.clone())?;
        sink.attach(&task)?;
        // Declared first, so dropped (queued) after the session lock is released.
        let mut wake = Batch::new();
        let mut inner = self.inner.lock();
        let added = if inner.dead {
            Err(ENOENT)
        } else if inner.sinks.len() >= MAX_SINKS {
            Err(ENOSPC)
        } else {
            inner.sinks.insert(SinkEntry {
                sink: sink.clone(),
                task: task.clone(),
            })
        };
        if let Err(e) = added {
            drop(inner);
            sink.shutdown(&task);
            return Err(e);
        }
        let back = inner.buf.burst(
            limits.burst_entries,
            limits.burst_ms,
            Ktime::ktime_get().to_ns(),
        );
        let cursor = inner.buf.add_sink(back);
        sink.join(cursor);
        // It has a burst to send, or the stream is over already: it runs at once (to send,
        // or to finish).
        let over = matches!(
            inner.state,
            uapi::OMSS_SESSION_ENDED | uapi::OMSS_SESSION_FAILED
        );
        if back > 0 || over {
            wake.schedule(task.as_arc_borrow());
        }
        Ok(id)
    }

    fn has_socket(&self, sock: &Socket) -> bool {
        let inner = self.inner.lock();
        inner.sinks.find(|e| e.sink.sock.same(sock)).is_some()
            || inner
                .source
                .as_ref()
                .is_some_and(|(s, _)| s.sock.same(sock))
    }

    /// Removes a sink; its socket is the server's again when this returns.
    pub(crate) fn remove_sink(&self, id: u32) -> Result {
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(ENOENT);
        }
        let entry = inner
            .sinks
            .remove_first(|e| e.sink.id == id)
            .ok_or(ENOENT)?;
        entry.sink.leave_ring(&mut inner.buf);
        drop(inner);
        entry.sink.shutdown(&entry.task);
        Ok(())
    }

    /// Stores a received entry and wakes the sinks. A session that is not running (it
    /// ended, failed or was destroyed meanwhile) stores nothing.
    pub(crate) fn store(&self, chunk: Arc<Chunk>) {
        let len = chunk.len() as u64;
        // Declared first, so dropped (queued) after the session lock is released.
        let mut wake = Batch::new();
        let mut inner = self.inner.lock();
        if inner.dead || inner.state != uapi::OMSS_SESSION_RUNNING {
            return;
        }
        self.rx_bytes.fetch_add(len, Relaxed);
        self.rx_packets.fetch_add(1, Relaxed);
        let rand = if inner.buf.wants_random() {
            shim::random_u32()
        } else {
            0
        };
        let now = Ktime::ktime_get().to_ns();
        // Tail drop and RED may refuse it (counted in the buffer's drops); lag limits are
        // checked all the same, or a stalled sink holding the ring full would never be
        // kicked and every entry after would be refused.
        let stored = inner.buf.admit(rand);
        if stored {
            self.pages_stored
                .fetch_add(chunk.pages().len() as u64, Relaxed);
            inner.buf.push(chunk, now);
            inner.stored += 1;
        }
        let inner = &*inner;
        for e in inner.sinks.iter() {
            // A sink past its hard lag limit runs to be kicked, even when blocked.
            let kick = e.sink.kick_due(&inner.buf, now);
            if kick || (stored && e.sink.wants_data()) {
                wake.schedule(e.task.as_arc_borrow());
            }
        }
    }

    /// The source ended: EOF (`err` 0) or an error. Sinks send what they have, then finish.
    pub(crate) fn end(&self, err: i32) {
        let mut wake = Batch::new();
        let mut inner = self.inner.lock();
        if inner.dead || inner.state != uapi::OMSS_SESSION_RUNNING {
            return;
        }
        inner.state = if err == 0 {
            uapi::OMSS_SESSION_ENDED
        } else {
            uapi::OMSS_SESSION_FAILED
        };
        inner.source_err = err;
        for e in inner.sinks.iter() {
            wake.schedule(e.task.as_arc_borrow());
        }
        let event = if err == 0 {
            uapi::OMSS_EVENT_SESSION_ENDED
        } else {
            uapi::OMSS_EVENT_SESSION_FAILED
        };
        session_event(event, self.id, err);
    }

    /// Tears the session down: every socket is detached and given back, with no FIN.
    pub(crate) fn destroy(&self) {
        let mut inner = self.inner.lock();
        if inner.dead {
            return;
        }
        inner.dead = true;
        let source = inner.source.take();
        let sinks = inner.sinks.take_all();
        for e in sinks.iter().flatten() {
            e.sink.leave_ring(&mut inner.buf);
        }
        inner.buf.clear_all();
        drop(inner);
        if let Some((source, task)) = source {
            source.shutdown(&task);
        }
        for e in sinks.iter().flatten() {
            e.sink.shutdown(&e.task);
        }
        self.registry.remove(self.id);
        session_event(uapi::OMSS_EVENT_SESSION_DESTROYED, self.id, 0);
    }

    /// The session's netlink attributes (`OMSS_CMD_SESSION_GET`).
    pub(crate) fn attrs(&self) -> [NlAttr; 12] {
        let inner = self.inner.lock();
        let idx = inner.buf.index();
        let mode = if self.copy {
            uapi::OMSS_MODE_COPY
        } else {
            uapi::OMSS_MODE_SHARE
        };
        [
            NlAttr::u32(uapi::OMSS_A_SESSION_ID, self.id),
            NlAttr::u32(uapi::OMSS_A_STATE, inner.state),
            NlAttr::u32(uapi::OMSS_A_MODE, mode),
            NlAttr::u32(uapi::OMSS_A_PRIORITY, self.class.into()),
            NlAttr::u32(uapi::OMSS_A_DROP_POLICY, self.policy.abi()),
            NlAttr::u32(uapi::OMSS_A_PARKED, self.parked.load(Relaxed).into()),
            NlAttr::u32(uapi::OMSS_A_RING_CAPACITY, idx.capacity()),
            NlAttr::u32(uapi::OMSS_A_RING_FILL, idx.fill()),
            NlAttr::u32(uapi::OMSS_A_NR_SINKS, inner.sinks.len() as u32),
            NlAttr::u64(uapi::OMSS_A_RX_PACKETS, self.rx_packets.load(Relaxed)),
            NlAttr::u64(uapi::OMSS_A_RX_BYTES, self.rx_bytes.load(Relaxed)),
            NlAttr::u64(uapi::OMSS_A_ENTRIES_DROPPED, inner.buf.dropped()),
        ]
    }

    /// The netlink attributes of up to [`DUMP_BATCH`] sinks, those with the smallest ids of
    /// at least `first`, by id (`OMSS_CMD_SINK_GET`; a dump takes them a batch at a time).
    pub(crate) fn sink_attrs(&self, first: u32) -> Result<KVec<(u32, [NlAttr; 8])>> {
        let inner = self.inner.lock();
        let idx = inner.buf.index();
        // The batch's last id: the DUMP_BATCH-th smallest id from `first` on.
        let mut ids = KVVec::with_capacity(inner.sinks.len(), GFP_KERNEL)?;
        for e in inner.sinks.iter().filter(|e| e.sink.id >= first) {
            ids.push(e.sink.id, GFP_KERNEL)?;
        }
        let last = match ids.len() {
            0 => return Ok(KVec::new()),
            n if n <= DUMP_BATCH => u32::MAX,
            _ => *ids.select_nth_unstable(DUMP_BATCH - 1).1,
        };
        drop(ids);
        let mut v = KVec::with_capacity(DUMP_BATCH, GFP_KERNEL)?;
        for e in inner
            .sinks
            .iter()
            .filter(|e| e.sink.id >= first && e.sink.id <= last)
        {
            let s = e.sink.stats(idx);
            let attrs = [
                NlAttr::u32(uapi::OMSS_A_SESSION_ID, self.id),
                NlAttr::u32(uapi::OMSS_A_SINK_ID, s.sink_id),
                NlAttr::u32(uapi::OMSS_A_STATE, s.state),
                NlAttr::u32(uapi::OMSS_A_ERRNO, s.err.unsigned_abs()),
                NlAttr::u64(uapi::OMSS_A_TX_PACKETS, s.tx_packets),
                NlAttr::u64(uapi::OMSS_A_TX_BYTES, s.tx_bytes),
                NlAttr::u64(uapi::OMSS_A_ENTRIES_LOST, s.entries_lost),
                NlAttr::u64(uapi::OMSS_A_LAG, s.lag),
            ];
            v.push((s.sink_id, attrs), GFP_KERNEL)?;
        }
        drop(inner);
        sort_short(&mut v, |(id, _)| *id);
        Ok(v)
    }

    /// Fills the session's stats and up to `cap` sinks' stats.
    pub(crate) fn stats(
        &self,
        s: &mut uapi::OmssSessionStats,
        sinks: &mut KVVec<uapi::OmssSinkStats>,
        cap: usize,
    ) -> Result {
        let inner = self.inner.lock();
        let idx = inner.buf.index();
        s.state = inner.state;
        s.source_err = inner.source_err;
        s.priority = self.class as u32;
        s.mode = if self.copy {
            uapi::OMSS_MODE_COPY
        } else {
            uapi::OMSS_MODE_SHARE
        };
        s.ring_capacity = idx.capacity();
        s.ring_fill = idx.fill();
        s.nr_sinks = inner.sinks.len() as u32;
        s.rx_bytes = self.rx_bytes.load(Relaxed);
        s.rx_packets = self.rx_packets.load(Relaxed);
        s.rx_errors = self.rx_errors.load(Relaxed);
        s.rx_truncated = self.rx_truncated.load(Relaxed);
        s.run_first = self.run_first.load(Relaxed);
        s.run_last = self.run_last.load(Relaxed);
        s.entries_stored = inner.stored;
        s.entries_dropped = inner.buf.dropped();
        s.pages_allocated = self.pages_allocated.load(Relaxed);
        s.pages_stored = self.pages_stored.load(Relaxed);
        let n = inner.sinks.len().min(cap);
        sinks.reserve(n, GFP_KERNEL)?;
        for e in inner.sinks.iter().take(n) {
            sinks.push(e.sink.stats(idx), GFP_KERNEL)?;
        }
        Ok(())
    }
}
