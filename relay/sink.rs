// SPDX-License-Identifier: GPL-2.0

//! A sink: sends the session's entries to one subscriber socket.

use super::{
    args::{classify, lag_over, ErrKind, Limits, Proto},
    registry::sink_event,
    session::{Inner, Session},
};
use crate::{
    buffer::{
        ring::{Cursor, RingIndex},
        Chunk, PayloadPages, SessionBuffer,
    },
    sched::task::{Job, Task},
    shim::{
        self,
        sock::{Hook, Socket},
        EV_STATE, EV_WRITE,
    },
    uapi,
};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::*};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::Ktime,
};

/// Entries a sink sends per run before it yields its worker.
const BUDGET: u32 = 64;

/// What a sink's run holds; its lock also makes removal wait for a run in progress.
struct SinkRun {
    /// The entry being sent: sequence, payload, bytes already sent.
    current: Option<(u64, Arc<Chunk>, usize)>,
    detached: bool,
    hook: Option<Hook>,
}

/// One subscriber of a session.
#[pin_data]
pub(crate) struct Sink {
    pub(crate) id: u32,
    session: Arc<Session>,
    pub(crate) sock: Socket,
    proto: Proto,
    /// Burst and lag limits, the session's defaults applied.
    pub(crate) limits: Limits,
    #[pin]
    run: Mutex<SinkRun>,
    // Cursor in the ring, changed only under the session lock.
    next: AtomicU64,
    lost: AtomicU64,
    in_ring: AtomicBool,
    blocked: AtomicBool,
    /// Past its hard lag limit: its next run kicks it.
    kick: AtomicBool,
    state: AtomicU32,
    err: AtomicI32,
    /// Transient send errors survived.
    errors: AtomicU32,
    tx_bytes: AtomicU64,
    tx_packets: AtomicU64,
}

enum Next {
    Entry(u64, Arc<Chunk>),
    Idle,
    Done,
}

impl Sink {
    /// A new sink, not yet attached or in the ring.
    pub(crate) fn new(
        id: u32,
        session: Arc<Session>,
        sock: Socket,
        proto: Proto,
        limits: Limits,
    ) -> Result<Arc<Self>> {
        let run = SinkRun {
            current: None,
            detached: false,
            hook: None,
        };
        Arc::pin_init(
            pin_init!(Self {
                id,
                session,
                sock,
                proto,
                limits,
                run <- new_mutex!(run, "omss_sink_run"),
                next: AtomicU64::new(0),
                lost: AtomicU64::new(0),
                in_ring: AtomicBool::new(false),
                blocked: AtomicBool::new(false),
                kick: AtomicBool::new(false),
                state: AtomicU32::new(uapi::OMSS_SINK_ACTIVE),
                err: AtomicI32::new(0),
                errors: AtomicU32::new(0),
                tx_bytes: AtomicU64::new(0),
                tx_packets: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// Installs the socket callbacks, which schedule `task`.
    pub(crate) fn attach(&self, task: &Arc<Task>) -> Result {
        let hook = self.sock.attach(task.clone())?;
        self.run.lock().hook = Some(hook);
        Ok(())
    }

    fn cursor(&self) -> Cursor {
        Cursor {
            next: self.next.load(Relaxed),
            lost: self.lost.load(Relaxed),
        }
    }

    fn set_cursor(&self, c: Cursor) {
        self.next.store(c.next, Relaxed);
        self.lost.store(c.lost, Relaxed);
    }

    /// Enters the ring at `cur` (under the session lock).
    pub(crate) fn join(&self, cur: Cursor) {
        self.set_cursor(cur);
        self.in_ring.store(true, Release);
    }

    /// Leaves the ring, releasing what only this sink held (under the session lock).
    pub(crate) fn leave_ring(&self, buf: &mut SessionBuffer) {
        if self.in_ring.swap(false, AcqRel) {
            let mut cur = self.cursor();
            // Count what was dropped under it before it left.
            buf.index().peek(&mut cur);
            self.set_cursor(cur);
            buf.remove_sink(&cur);
        }
    }

    /// Whether this sink lags past its hard limit at `now` (under the session lock); if so,
    /// and it was not asked before, it is asked to leave: its task must run (even when
    /// blocked on a full socket) and kick it.
    pub(crate) fn kick_due(&self, buf: &SessionBuffer, now: i64) -> bool {
        let l = &self.limits;
        if (l.hard_entries.is_none() && l.hard_ms.is_none())
            || self.state.load(Relaxed) != uapi::OMSS_SINK_ACTIVE
            || !self.in_ring.load(Acquire)
        {
            return false;
        }
        let (entries, ms) = buf.lag(&self.cursor(), now);
        lag_over(entries, ms, l.hard_entries, l.hard_ms) && !self.kick.swap(true, Relaxed)
    }

    /// Whether this sink still lags past its hard limit (a kick was asked for).
    fn still_over_hard(&self) -> bool {
        let inner = self.session.inner.lock();
        let (entries, ms) = inner.buf.lag(&self.cursor(), Ktime::ktime_get().to_ns());
        lag_over(entries, ms, self.limits.hard_entries, self.limits.hard_ms)
    }

    /// Whether a new entry should wake this sink.
    pub(crate) fn wants_data(&self) -> bool {
        self.state.load(Relaxed) == uapi::OMSS_SINK_ACTIVE && !self.blocked.load(Relaxed)
    }

    /// Stops the sink for good: no run is in progress or will start, the callbacks are
    /// restored, and the socket is the server's again.
    pub(crate) fn shutdown(&self, task: &Task) {
        task.retire();
        let mut run = self.run.lock();
        self.detach(&mut run);
    }

    fn detach(&self, run: &mut SinkRun) {
        run.detached = true;
        run.current = None;
        // Dropping the hook restores the socket's callbacks.
        run.hook = None;
    }

    /// Stats for `OMSS_IOC_SESSION_STATS` (under the session lock).
    pub(crate) fn stats(&self, idx: &RingIndex) -> uapi::OmssSinkStats {
        let cur = self.cursor();
        let in_ring = self.in_ring.load(Acquire);
        uapi::OmssSinkStats {
            sink_id: self.id,
            state: self.state.load(Relaxed),
            err: self.err.load(Relaxed),
            errors: self.errors.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            entries_lost: if in_ring { idx.lost(&cur) } else { cur.lost },
            lag: if in_ring { idx.lag(&cur) } else { 0 },
        }
    }

    fn next_entry(&self) -> Next {
        let mut inner = self.session.inner.lock();
        self.next_locked(&mut inner)
    }

    /// Counts entry `seq` as done (`sent` bytes, or skipped) and finds the next one, under
    /// one session lock.
    fn complete_and_next(&self, seq: u64, sent: Option<usize>) -> Next {
        if let Some(len) = sent {
            self.tx_bytes.fetch_add(len as u64, Relaxed);
            self.tx_packets.fetch_add(1, Relaxed);
        }
        let mut inner = self.session.inner.lock();
        if self.in_ring.load(Acquire) {
            let mut cur = self.cursor();
            inner.buf.complete(&mut cur, seq);
            self.set_cursor(cur);
        }
        self.next_locked(&mut inner)
    }

    /// The next entry to send. A sink of a destroyed session sends nothing more (destroy
    /// is detaching it); one of an ended or failed session is done once it sent all.
    fn next_locked(&self, inner: &mut Inner) -> Next {
        if inner.dead || !self.in_ring.load(Acquire) {
            return Next::Idle;
        }
        let mut cur = self.cursor();
        let l = &self.limits;
        if l.soft_entries.is_some() || l.soft_ms.is_some() {
            // Past the soft limit: jump to where a new sink with this burst would start.
            let now = Ktime::ktime_get().to_ns();
            let (entries, ms) = inner.buf.lag(&cur, now);
            if lag_over(entries, ms, l.soft_entries, l.soft_ms) {
                let back = inner.buf.burst(l.burst_entries, l.burst_ms, now);
                inner.buf.jump(&mut cur, back);
            }
        }
        let next = inner.buf.peek(&mut cur);
        self.set_cursor(cur);
        match next {
            Some((seq, chunk)) => Next::Entry(seq, chunk),
            None if inner.state == uapi::OMSS_SESSION_ENDED
                || inner.state == uapi::OMSS_SESSION_FAILED =>
            {
                self.leave_ring(&mut inner.buf);
                Next::Done
            }
            None => Next::Idle,
        }
    }

    /// The payload this sink sends: the shared one, or in copy mode a private copy.
    fn payload(&self, chunk: Arc<Chunk>) -> Result<Arc<Chunk>> {
        if !self.session.copy {
            return Ok(chunk);
        }
        let mut pages = PayloadPages::with_capacity(chunk.pages().len())?;
        for _ in chunk.pages() {
            pages.push_new()?;
        }
        let mut left = chunk.len();
        for (dst, src) in pages.pages().iter().zip(chunk.pages()) {
            shim::copy_page(dst, src, left);
            left = left.saturating_sub(kernel::page::PAGE_SIZE);
        }
        self.session
            .pages_allocated
            .fetch_add(pages.len() as u64, Relaxed);
        Ok(Arc::new(Chunk::new(pages, chunk.len()), GFP_KERNEL)?)
    }

    /// A transient error on entry `seq` (no memory, ENOBUFS, an ICMP error on UDP), counted:
    /// a UDP sink skips the entry and gets the next one; a TCP sink (a byte stream) keeps it
    /// and tries again soon (`None`).
    fn transient(&self, seq: u64) -> Option<Next> {
        self.errors.fetch_add(1, Relaxed);
        (self.proto == Proto::Udp).then(|| self.complete_and_next(seq, None))
    }

    fn fail(&self, run: &mut SinkRun, err: Error) {
        self.err.store(err.to_errno().abs(), Relaxed);
        self.state.store(uapi::OMSS_SINK_FAILED, Relaxed);
        self.leave_ring(&mut self.session.inner.lock().buf);
        self.detach(run);
        sink_event(
            uapi::OMSS_EVENT_SINK_FAILED,
            self.session.id,
            self.id,
            err.to_errno(),
        );
    }

    /// Past its hard lag limit: leaves without a FIN; the socket is the server's again.
    fn kicked(&self, run: &mut SinkRun) {
        self.state.store(uapi::OMSS_SINK_KICKED, Relaxed);
        self.leave_ring(&mut self.session.inner.lock().buf);
        self.detach(run);
        sink_event(uapi::OMSS_EVENT_SINK_KICKED, self.session.id, self.id, 0);
    }

    fn finish(&self, run: &mut SinkRun) {
        if self.proto == Proto::Tcp {
            self.sock.shutdown_write();
        }
        self.state.store(uapi::OMSS_SINK_DONE, Relaxed);
        self.detach(run);
        sink_event(uapi::OMSS_EVENT_SINK_DONE, self.session.id, self.id, 0);
    }
}

impl Job for Sink {
    fn run(&self, run_no: u64) -> bool {
        self.session.ran(run_no);
        let mut run = self.run.lock();
        if run.detached || self.state.load(Relaxed) != uapi::OMSS_SINK_ACTIVE {
            return false;
        }
        if self.kick.load(Relaxed) {
            if self.still_over_hard() {
                self.kicked(&mut run);
                return false;
            }
            // It caught up since: no kick.
            self.kick.store(false, Relaxed);
        }
        let mut retried = false;
        // The next entry, when the last completion already looked it up.
        let mut next = None;
        for _ in 0..BUDGET {
            let (seq, chunk, off) = match run.current.take() {
                Some(cur) => cur,
                None => match next.take().unwrap_or_else(|| self.next_entry()) {
                    Next::Entry(seq, chunk) => match self.payload(chunk) {
                        Ok(chunk) => (seq, chunk, 0),
                        // No memory for a private copy.
                        Err(_) => match self.transient(seq) {
                            Some(n) => {
                                next = Some(n);
                                continue;
                            }
                            None => return true,
                        },
                    },
                    Next::Idle => return false,
                    Next::Done => {
                        self.finish(&mut run);
                        return false;
                    }
                },
            };
            // A send that moves nothing is a full send queue.
            let sent = self.sock.send_pages(chunk.pages(), off, chunk.len() - off);
            let err = match sent.and_then(|n| if n == 0 { Err(EAGAIN) } else { Ok(n) }) {
                Ok(n) if off + n >= chunk.len() => {
                    self.blocked.store(false, Relaxed);
                    // A later full buffer in this run gets its own retry.
                    retried = false;
                    next = Some(self.complete_and_next(seq, Some(chunk.len())));
                    continue;
                }
                Ok(n) => {
                    retried = false;
                    run.current = Some((seq, chunk, off + n));
                    continue;
                }
                Err(e) => e,
            };
            let mut kind = classify(err.to_errno().abs(), self.proto);
            // Write space is signalled as the queue drains: a TCP send that found no buffer
            // memory with nothing queued would get no wakeup, so it is a transient error.
            if kind == ErrKind::Again && self.proto == Proto::Tcp && self.sock.write_queued() == 0 {
                kind = ErrKind::Transient;
            }
            if kind != ErrKind::Again {
                // Not a full buffer: no write-space wakeup is due, so new entries must wake
                // the sink again (a retry that met a transient error would otherwise leave
                // it blocked for good once its queued packets had all left). A later full
                // buffer in this run gets its own retry.
                self.blocked.store(false, Relaxed);
                retried = false;
            }
            match kind {
                ErrKind::Again => {
                    run.current = Some((seq, chunk, off));
                    // Wait for write space; retry once in case it came before the flag (a
                    // full barrier: the write-space side frees, then checks the flag).
                    self.blocked.swap(true, SeqCst);
                    if !retried {
                        retried = true;
                        continue;
                    }
                    // Write space wakes only a socket marked SOCK_NOSPACE, which a full
                    // buffer sets before it answers EAGAIN. Another EAGAIN (IPsec's larval
                    // queue, say) is tried again soon instead. So is a UDP buffer that
                    // emptied between its full test and the mark, whose frees woke nobody
                    // (TCP tests and marks under the socket lock, which serialises its ACKs).
                    if self.sock.no_space() && !(self.proto == Proto::Udp && self.sock.has_room()) {
                        return false;
                    }
                    self.blocked.store(false, Relaxed);
                    return true;
                }
                // A TCP sink's retry must come from here: nothing else may wake it (the
                // stream may have ended).
                ErrKind::Transient => match self.transient(seq) {
                    Some(n) => next = Some(n),
                    None => {
                        run.current = Some((seq, chunk, off));
                        return true;
                    }
                },
                ErrKind::Fatal => {
                    self.fail(&mut run, err);
                    return false;
                }
            }
        }
        // Budget spent: run again if there is more, finish if the session ended.
        match next {
            Some(Next::Idle) => false,
            Some(Next::Done) => {
                self.finish(&mut run);
                false
            }
            _ => true,
        }
    }

    fn wants(&self, events: u32) -> bool {
        (events & EV_STATE != 0) || (events & EV_WRITE != 0 && self.blocked.swap(false, SeqCst))
    }
}
