// SPDX-License-Identifier: GPL-2.0

//! The source: receives the stream into page-backed entries of the session buffer.

use super::{args::Proto, session::Session};
use crate::{
    buffer::{alloc_payload_page, release_payload_pages, Chunk},
    sched::task::{Job, Task},
    shim::{
        sock::{Hook, Socket, MAX_IOV_PAGES},
        EV_READ,
    },
};
use core::sync::atomic::Ordering::Relaxed;
use kernel::{
    new_mutex,
    page::{Page, PAGE_SIZE},
    prelude::*,
    sync::{Arc, Mutex},
};

/// Entries received per run before the source yields its worker.
const BUDGET: u32 = 64;
/// Largest TCP entry: a few pages.
const TCP_ENTRY_PAGES: usize = 4;

struct SourceRun {
    /// Pages to receive into; the used ones move into the entry and are replaced.
    spare: KVec<Page>,
    detached: bool,
    hook: Option<Hook>,
}

impl Drop for SourceRun {
    fn drop(&mut self) {
        release_payload_pages(self.spare.len());
    }
}

/// The source socket of a session.
#[pin_data]
pub(crate) struct Source {
    session: Arc<Session>,
    pub(crate) sock: Socket,
    proto: Proto,
    #[pin]
    run: Mutex<SourceRun>,
}

impl Source {
    /// A new source, not yet attached.
    pub(crate) fn new(session: Arc<Session>, sock: Socket, proto: Proto) -> Result<Arc<Self>> {
        let run = SourceRun {
            spare: KVec::new(),
            detached: false,
            hook: None,
        };
        Arc::pin_init(
            pin_init!(Self {
                session,
                sock,
                proto,
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

    /// Stops the source for good and gives the socket back.
    pub(crate) fn shutdown(&self, task: &Task) {
        task.retire();
        let mut run = self.run.lock();
        run.detached = true;
        if let Some(hook) = run.hook.take() {
            self.sock.detach(hook);
        }
    }

    fn max_entry(&self) -> usize {
        match self.proto {
            Proto::Tcp => TCP_ENTRY_PAGES * PAGE_SIZE,
            Proto::Udp => MAX_IOV_PAGES * PAGE_SIZE,
        }
    }

    /// Receives one entry.
    fn receive(&self, run: &mut SourceRun) -> Result<Recv> {
        let max = self.max_entry();
        while run.spare.len() * PAGE_SIZE < max {
            run.spare.push(alloc_payload_page()?, GFP_KERNEL)?;
            self.session.pages_allocated.fetch_add(1, Relaxed);
        }
        let (len, truncated) = match self.sock.recv_pages(&run.spare, max) {
            Ok(r) => r,
            Err(e) if e == EAGAIN => return Ok(Recv::Nothing),
            Err(e) => return Err(e),
        };
        if len == 0 {
            // EOF on TCP; an empty datagram on UDP carries nothing to relay.
            return Ok(if self.proto == Proto::Tcp {
                Recv::Eof
            } else {
                Recv::Nothing
            });
        }
        if truncated {
            pr_warn!(
                "session {}: datagram over {} bytes truncated\n",
                self.session.id,
                max
            );
        }
        // Move the used pages into the entry; fresh pages take their place.
        let used = len.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(used, GFP_KERNEL)?;
        for slot in run.spare.iter_mut().take(used) {
            pages.push(core::mem::replace(slot, alloc_payload_page()?), GFP_KERNEL)?;
        }
        self.session.pages_allocated.fetch_add(used as u64, Relaxed);
        Ok(Recv::Entry(Chunk::new(pages, len)))
    }
}

enum Recv {
    Entry(Chunk),
    Nothing,
    Eof,
}

impl Job for Source {
    fn run(&self) -> bool {
        let mut run = self.run.lock();
        if run.detached {
            return false;
        }
        for _ in 0..BUDGET {
            match self.receive(&mut run) {
                Ok(Recv::Entry(chunk)) => {
                    if let Err(e) = self.session.store(chunk) {
                        pr_warn!("session {}: entry lost: {:?}\n", self.session.id, e);
                    }
                }
                Ok(Recv::Nothing) => return false,
                Ok(Recv::Eof) => {
                    self.session.end(0);
                    return false;
                }
                Err(e) => {
                    self.session.end(e.to_errno().abs());
                    return false;
                }
            }
        }
        true
    }

    fn wants(&self, events: u32) -> bool {
        events & EV_READ != 0
    }
}
