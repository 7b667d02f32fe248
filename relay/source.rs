// SPDX-License-Identifier: GPL-2.0

//! The source: receives the stream into page-backed entries of the session buffer.

use super::{
    args::{classify, ErrKind, Proto},
    session::Session,
};
use crate::{
    buffer::{Chunk, PayloadPages},
    sched::task::{Job, Task},
    shim::{
        sock::{Hook, Socket, MAX_IOV_PAGES},
        EV_READ,
    },
};
use core::sync::atomic::Ordering::Relaxed;
use kernel::{
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, Mutex, UniqueArc},
};

/// Entries received per run before the source yields its worker.
const BUDGET: u32 = 64;
/// Largest TCP entry: a few pages.
const TCP_ENTRY_PAGES: usize = 4;

struct SourceRun {
    /// Pages to receive into; the used ones move into the entry and are replaced.
    spare: PayloadPages,
    /// Bytes received into `spare` that are not stored yet: the start of a fixed-size
    /// entry, or a whole one that could not be made (no memory). A whole entry is stored
    /// before anything more is received.
    pending: usize,
    /// A TCP source hit EOF with `pending` bytes of a fixed-size entry: they are stored as
    /// a short last entry, then the session ends.
    eof: bool,
    /// Published in its session: it may receive.
    started: bool,
    detached: bool,
    hook: Option<Hook>,
}

/// The source socket of a session.
#[pin_data]
pub(crate) struct Source {
    session: Arc<Session>,
    pub(crate) sock: Socket,
    proto: Proto,
    /// A TCP source's fixed entry size (its session's framing), or `None`: as received.
    fixed: Option<usize>,
    #[pin]
    run: Mutex<SourceRun>,
}

impl Source {
    /// A new source, not yet attached.
    pub(crate) fn new(session: Arc<Session>, sock: Socket, proto: Proto) -> Result<Arc<Self>> {
        let fixed = match proto {
            Proto::Tcp => session.entry_size.map(|n| n as usize),
            Proto::Udp => None,
        };
        let run = SourceRun {
            spare: PayloadPages::with_capacity(MAX_IOV_PAGES)?,
            pending: 0,
            eof: false,
            started: false,
            detached: false,
            hook: None,
        };
        Arc::pin_init(
            pin_init!(Self {
                session,
                sock,
                proto,
                fixed,
                run <- new_mutex!(run, "omss_source_run"),
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

    /// Lets the source receive, once it is its session's source.
    pub(crate) fn start(&self) {
        self.run.lock().started = true;
    }

    /// Stops the source for good and gives the socket back.
    pub(crate) fn shutdown(&self, task: &Task) {
        task.retire();
        let mut run = self.run.lock();
        run.detached = true;
        // Dropping the hook restores the socket's callbacks.
        run.hook = None;
    }

    fn max_entry(&self) -> usize {
        match (self.proto, self.fixed) {
            (Proto::Tcp, Some(n)) => n,
            (Proto::Tcp, None) => TCP_ENTRY_PAGES * PAGE_SIZE,
            (Proto::Udp, _) => MAX_IOV_PAGES * PAGE_SIZE,
        }
    }

    /// Whether `pending` bytes make an entry: any for a datagram or an unframed stream,
    /// exactly the fixed size for a framed one (or what is left at its EOF).
    fn whole(&self, run: &SourceRun) -> bool {
        match self.fixed {
            Some(n) => run.pending == n || (run.eof && run.pending > 0),
            None => run.pending > 0,
        }
    }

    /// Receives one entry. Bytes once received are never lost to a failed allocation:
    /// they stay `pending` in the spare pages until their entry can be made.
    fn receive(&self, run: &mut SourceRun) -> Result<Recv> {
        if !self.whole(run) {
            if run.eof {
                return Ok(Recv::Eof);
            }
            let max = self.max_entry();
            while run.spare.len() * PAGE_SIZE < max {
                run.spare.push_new()?;
                self.session.pages_allocated.fetch_add(1, Relaxed);
            }
            let off = run.pending;
            let (len, truncated) = match self.sock.recv_pages(run.spare.pages(), off, max - off) {
                Ok(r) => r,
                Err(e) if e == EAGAIN => return Ok(Recv::Nothing),
                Err(e) => return Err(e),
            };
            if len == 0 {
                // EOF on TCP (a framed stream's last bytes are stored first); an empty
                // datagram on UDP carries nothing to relay.
                return Ok(match self.proto {
                    Proto::Tcp if off > 0 => {
                        run.eof = true;
                        Recv::Partial
                    }
                    Proto::Tcp => Recv::Eof,
                    Proto::Udp => Recv::Empty,
                });
            }
            if truncated {
                self.session.rx_truncated.fetch_add(1, Relaxed);
            }
            run.pending += len;
            if !self.whole(run) {
                return Ok(Recv::Partial);
            }
        }
        // Everything the entry needs is allocated first; then the used pages move into it
        // and fresh ones take their place, which cannot fail.
        let len = run.pending;
        let used = len.div_ceil(PAGE_SIZE);
        let slot = UniqueArc::<Chunk>::new_uninit(GFP_KERNEL)?;
        let mut fresh = PayloadPages::with_capacity(used)?;
        for _ in 0..used {
            fresh.push_new()?;
        }
        run.spare.swap_front(&mut fresh, used);
        run.pending = 0;
        self.session.pages_allocated.fetch_add(used as u64, Relaxed);
        Ok(Recv::Entry(slot.write(Chunk::new(fresh, len)).into()))
    }
}

enum Recv {
    Entry(Arc<Chunk>),
    /// Part of a fixed-size entry: receive on.
    Partial,
    Empty,
    Nothing,
    Eof,
}

impl Job for Source {
    fn run(&self, run_no: u64) -> bool {
        self.session.ran(run_no);
        let mut run = self.run.lock();
        if run.detached || !run.started {
            return false;
        }
        for _ in 0..BUDGET {
            match self.receive(&mut run) {
                Ok(Recv::Entry(chunk)) => self.session.store(chunk),
                Ok(Recv::Empty | Recv::Partial) => {}
                Ok(Recv::Nothing) => return false,
                Ok(Recv::Eof) => {
                    self.session.end(0);
                    return false;
                }
                Err(e) => {
                    let errno = e.to_errno().abs();
                    match classify(errno, self.proto) {
                        // Counted, and tried again soon: a TCP stream may have nothing more
                        // coming that would run the source again.
                        ErrKind::Transient | ErrKind::Again => {
                            self.session.rx_errors.fetch_add(1, Relaxed);
                            return true;
                        }
                        ErrKind::Fatal => {
                            self.session.end(errno);
                            return false;
                        }
                    }
                }
            }
        }
        true
    }

    fn wants(&self, events: u32) -> bool {
        events & EV_READ != 0
    }
}
