// SPDX-License-Identifier: GPL-2.0

//! Every live session, module-wide, for the netlink dumps (`omss show`), whichever file
//! owns it or whether it is parked; and the events (`omss monitor`).
//!
//! # Lock order
//!
//! `Registry::all` is a leaf: nothing is taken while it is held. A dump copies the list
//! and then reads each session under its own lock.

use super::{
    session::Session,
    slots::{sort_short, Slots},
};
use crate::{
    shim::netlink::{self, Dump, NetlinkOps, NlAttr},
    uapi,
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

/// A dump position past every id.
const DUMP_DONE: u64 = u64::MAX;

/// The live sessions.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    all: Mutex<Slots<Arc<Session>>>,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                all <- new_mutex!(Slots::new(), "omss_registry"),
            }),
            GFP_KERNEL,
        )
    }

    /// Lists a new session.
    pub(crate) fn add(&self, s: Arc<Session>) -> Result {
        self.all.lock().insert(s)
    }

    /// Unlists a destroyed session.
    pub(crate) fn remove(&self, id: u32) {
        // Dropped after the lock is released: it may be the last reference.
        let gone = self.all.lock().remove_first(|s| s.id == id);
        drop(gone);
    }

    /// The live sessions with an id of at least `from`, by id.
    fn from(&self, from: u64) -> Result<KVec<Arc<Session>>> {
        let all = self.all.lock();
        let mut v = KVec::with_capacity(all.len(), GFP_KERNEL)?;
        for s in all.iter().filter(|s| u64::from(s.id) >= from) {
            v.push(s.clone(), GFP_KERNEL)?;
        }
        drop(all);
        sort_short(&mut v, |s| s.id);
        Ok(v)
    }
}

impl NetlinkOps for Registry {
    /// `pos` is the next session id (sessions), or the next (session id, sink id) as
    /// `session << 32 | sink` (sinks): a dump goes on where it stopped, whatever changed.
    /// [`DUMP_DONE`] ends it (past the last ids, which the encoding cannot step over).
    /// `filter` (a session id, 0 for all) applies to both.
    fn dump(&self, cmd: u8, filter: u32, pos: &mut u64, out: &mut Dump<'_>) -> Result<usize> {
        if !crate::shim::capable_net_admin() {
            return Err(EPERM);
        }
        if *pos == DUMP_DONE {
            return Ok(0);
        }
        let mut put = 0;
        let sinks = cmd == uapi::OMSS_CMD_SINK_GET;
        let from = if sinks { *pos >> 32 } else { *pos };
        for s in self.from(from)?.iter() {
            if filter != 0 && s.id != filter {
                continue;
            }
            let id = u64::from(s.id);
            if !sinks {
                if !out.put(&s.attrs()) {
                    return if put == 0 {
                        Err(msg_too_big())
                    } else {
                        Ok(put)
                    };
                }
                put += 1;
                *pos = id + 1;
                continue;
            }
            let mut first = if *pos >> 32 == id { *pos as u32 } else { 0 };
            // A batch at a time, so that the session's lock is never held for long.
            loop {
                let batch = s.sink_attrs(first)?;
                let Some(&(last, _)) = batch.last() else {
                    break;
                };
                for (k, attrs) in batch.iter() {
                    if !out.put(attrs) {
                        return if put == 0 {
                            Err(msg_too_big())
                        } else {
                            Ok(put)
                        };
                    }
                    put += 1;
                    *pos = match k.checked_add(1) {
                        Some(next) => id << 32 | u64::from(next),
                        None => (id + 1) << 32,
                    };
                }
                match last.checked_add(1) {
                    Some(next) => first = next,
                    None => break,
                }
            }
            *pos = if s.id == u32::MAX {
                DUMP_DONE
            } else {
                (id + 1) << 32
            };
        }
        Ok(put)
    }
}

/// An event about session `session`; `errno` (a failure's) is sent when not 0.
pub(crate) fn session_event(event: u32, session: u32, errno: i32) {
    let attrs = [
        NlAttr::u32(uapi::OMSS_A_EVENT, event),
        NlAttr::u32(uapi::OMSS_A_SESSION_ID, session),
        NlAttr::u32(uapi::OMSS_A_ERRNO, errno.unsigned_abs()),
    ];
    netlink::event(&attrs[..if errno == 0 { 2 } else { 3 }]);
}

/// An event about sink `sink` of session `session`; `errno` is sent when not 0.
pub(crate) fn sink_event(event: u32, session: u32, sink: u32, errno: i32) {
    let attrs = [
        NlAttr::u32(uapi::OMSS_A_EVENT, event),
        NlAttr::u32(uapi::OMSS_A_SESSION_ID, session),
        NlAttr::u32(uapi::OMSS_A_SINK_ID, sink),
        NlAttr::u32(uapi::OMSS_A_ERRNO, errno.unsigned_abs()),
    ];
    netlink::event(&attrs[..if errno == 0 { 3 } else { 4 }]);
}

/// `EMSGSIZE`: a message that does not fit an empty dump buffer.
fn msg_too_big() -> Error {
    Error::from_errno(-(kernel::bindings::EMSGSIZE as i32))
}
