// SPDX-License-Identifier: GPL-2.0

//! A relay session: one source, many sinks, one session buffer.

use super::{
    args::{check_socket, sink_conflict, ArgError, SockFacts, MAX_SINKS},
    sink::Sink,
    slots::Slots,
    source::Source,
};
use crate::{
    buffer::{Chunk, SessionBuffer},
    sched::{
        pool::Pool,
        task::{Batch, Task},
    },
    shim::sock::Socket,
    uapi,
};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

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
    /// `OMSS_SESSION_*`.
    pub(crate) state: u32,
    source_err: i32,
    stored: u64,
    next_sink_id: u32,
}

/// A relay session.
#[pin_data]
pub(crate) struct Session {
    pub(crate) id: u32,
    pub(crate) class: u8,
    pub(crate) copy: bool,
    pool: Arc<Pool>,
    #[pin]
    pub(crate) inner: Mutex<Inner>,
    rx_bytes: AtomicU64,
    rx_packets: AtomicU64,
    pub(crate) pages_allocated: AtomicU64,
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
    }
}

impl Session {
    /// A new idle session.
    pub(crate) fn new(
        id: u32,
        class: u8,
        copy: bool,
        capacity: u32,
        pool: Arc<Pool>,
    ) -> Result<Arc<Self>> {
        let inner = Inner {
            buf: SessionBuffer::new(capacity)?,
            sinks: Slots::new(),
            source: None,
            state: uapi::OMSS_SESSION_IDLE,
            source_err: 0,
            stored: 0,
            next_sink_id: 1,
        };
        Arc::pin_init(
            pin_init!(Self {
                id,
                class,
                copy,
                pool,
                inner <- new_mutex!(inner, "omss_session"),
                rx_bytes: AtomicU64::new(0),
                rx_packets: AtomicU64::new(0),
                pages_allocated: AtomicU64::new(0),
                _live: LiveSession::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// Sets the source: a connected TCP or bound UDP socket. A session has one.
    pub(crate) fn set_source(self: &Arc<Self>, sock: Socket) -> Result {
        let proto = check_socket(&facts(&sock), false)?;
        let mut inner = self.inner.lock();
        if inner.source.is_some() || inner.state != uapi::OMSS_SESSION_IDLE {
            return Err(EBUSY);
        }
        if inner.sinks.find(|e| e.sink.sock.same(&sock)).is_some() {
            return Err(EBUSY);
        }
        let source = Source::new(self.clone(), sock, proto)?;
        let task = Task::new(self.pool.clone(), self.class, source.clone())?;
        source.attach(&task)?;
        inner.source = Some((source, task.clone()));
        inner.state = uapi::OMSS_SESSION_RUNNING;
        drop(inner);
        // Data may already be waiting.
        Task::schedule(task.as_arc_borrow());
        Ok(())
    }

    /// Adds a sink (a connected TCP or UDP socket); it starts at the next entry.
    pub(crate) fn add_sink(self: &Arc<Self>, sock: Socket) -> Result<u32> {
        let checked = check_socket(&facts(&sock), true);
        let mine = checked == Err(ArgError::Busy) && self.has_socket(&sock);
        let proto = sink_conflict(checked, mine)?;
        let mut inner = self.inner.lock();
        if inner.sinks.len() >= MAX_SINKS {
            return Err(ENOSPC);
        }
        let id = inner.next_sink_id;
        let sink = Sink::new(id, self.clone(), sock, proto)?;
        let task = Task::new(self.pool.clone(), self.class, sink.clone())?;
        sink.attach(&task)?;
        let cursor = inner.buf.add_sink();
        sink.join(cursor);
        if let Err(e) = inner.sinks.insert(SinkEntry {
            sink: sink.clone(),
            task: task.clone(),
        }) {
            inner.buf.remove_sink(&cursor);
            drop(inner);
            sink.shutdown(&task);
            return Err(e);
        }
        inner.next_sink_id += 1;
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
        let entry = inner
            .sinks
            .remove_first(|e| e.sink.id == id)
            .ok_or(ENOENT)?;
        entry.sink.leave_ring(&mut inner.buf);
        drop(inner);
        entry.sink.shutdown(&entry.task);
        Ok(())
    }

    /// Stores a received entry and wakes the sinks.
    pub(crate) fn store(&self, chunk: Chunk) -> Result {
        let len = chunk.len() as u64;
        let chunk = Arc::new(chunk, GFP_KERNEL)?;
        self.rx_bytes.fetch_add(len, Relaxed);
        self.rx_packets.fetch_add(1, Relaxed);
        // Declared first, so dropped (queued) after the session lock is released.
        let mut wake = Batch::new();
        let mut inner = self.inner.lock();
        inner.buf.push(chunk);
        inner.stored += 1;
        for e in inner.sinks.iter() {
            if e.sink.wants_data() {
                wake.schedule(e.task.as_arc_borrow());
            }
        }
        Ok(())
    }

    /// The source ended: EOF (`err` 0) or an error. Sinks send what they have, then finish.
    pub(crate) fn end(&self, err: i32) {
        let mut wake = Batch::new();
        let mut inner = self.inner.lock();
        if inner.state != uapi::OMSS_SESSION_RUNNING {
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
    }

    /// Tears the session down: every socket is detached and given back.
    pub(crate) fn destroy(&self) {
        let mut inner = self.inner.lock();
        let source = inner.source.take();
        let sinks = inner.sinks.take_all();
        inner.buf.clear_all();
        inner.state = uapi::OMSS_SESSION_ENDED;
        drop(inner);
        if let Some((source, task)) = source {
            source.shutdown(&task);
        }
        for e in sinks.iter().flatten() {
            e.sink.shutdown(&e.task);
        }
    }

    /// Fills the session's stats and up to `cap` sinks' stats.
    pub(crate) fn stats(
        &self,
        s: &mut uapi::OmssSessionStats,
        sinks: &mut KVec<uapi::OmssSinkStats>,
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
        s.entries_stored = inner.stored;
        s.entries_dropped = idx.dropped();
        s.pages_allocated = self.pages_allocated.load(Relaxed);
        for e in inner.sinks.iter().take(cap) {
            sinks.push(e.sink.stats(idx), GFP_KERNEL)?;
        }
        Ok(())
    }
}
