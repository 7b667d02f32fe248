// SPDX-License-Identifier: GPL-2.0

//! One open `/dev/omss`: decodes ioctls, checks their arguments, owns its sessions.
//! Closing the file destroys its sessions.

use super::{
    args::{check_create, check_header, MAX_SESSIONS, MODE_COPY, NR_CLASSES},
    session::{Session, SESSIONS_LIVE},
    slots::Slots,
    Engine,
};
use crate::{
    buffer::{ENTRIES_LIVE, PAGES_LIVE},
    sched::task::TASKS_RUN,
    shim,
    shim::sock::Socket,
    uapi,
};
use core::{mem::size_of, sync::atomic::Ordering::Relaxed};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    types::{AsBytes, FromBytes},
    uaccess::UserSlice,
};

macro_rules! plain_abi {
    ($($t:ty),*) => {$(
        // SAFETY: a `repr(C)` struct of integers with explicit padding fields: every byte
        // pattern is valid and it has no implicit padding that could leak kernel memory.
        unsafe impl FromBytes for $t {}
        // SAFETY: as above.
        unsafe impl AsBytes for $t {}
    )*};
}
plain_abi!(
    uapi::OmssVersion,
    uapi::OmssSessionCreate,
    uapi::OmssSourceSet,
    uapi::OmssSinkAdd,
    uapi::OmssTarget,
    uapi::OmssSessionStats,
    uapi::OmssSinkStats,
    uapi::OmssEngineStats
);

struct Sessions {
    table: Slots<Arc<Session>>,
    next_id: u32,
}

/// State of one open file of `/dev/omss`.
#[pin_data(PinnedDrop)]
pub(crate) struct ControlFile {
    engine: Arc<Engine>,
    #[pin]
    sessions: Mutex<Sessions>,
}

/// Reads an argument struct, checks its size and reserved fields, runs `f`, and writes
/// the struct back if `f` asks for it.
fn with_arg<T: FromBytes + AsBytes>(
    arg: usize,
    size: impl Fn(&T) -> (u32, &[u32]),
    f: impl FnOnce(&mut T) -> Result<bool>,
) -> Result<i64> {
    let (mut reader, mut writer) = UserSlice::new(arg, size_of::<T>()).reader_writer();
    let mut v: T = reader.read()?;
    let (sz, reserved) = size(&v);
    check_header(sz, size_of::<T>(), reserved)?;
    if f(&mut v)? {
        writer.write(&v)?;
    }
    Ok(0)
}

impl ControlFile {
    /// Opens the control file; needs `CAP_NET_ADMIN`.
    pub(crate) fn open(engine: Arc<Engine>) -> Result<Arc<Self>> {
        if !shim::capable_net_admin() {
            return Err(EPERM);
        }
        let sessions = Sessions {
            table: Slots::new(),
            next_id: 1,
        };
        Arc::pin_init(
            pin_init!(Self { engine, sessions <- new_mutex!(sessions, "omss_control") }),
            GFP_KERNEL,
        )
    }

    /// Dispatches one ioctl; unknown commands get `ENOTTY`.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<i64> {
        match cmd {
            uapi::OMSS_IOC_VERSION => with_arg(
                arg,
                |v: &uapi::OmssVersion| (v.size, &v.reserved[..]),
                |v| {
                    v.abi_version = uapi::OMSS_ABI_VERSION;
                    v.nr_classes = NR_CLASSES;
                    v.ring_default = self.engine.params.ring_default;
                    v.ring_max = self.engine.params.ring_max;
                    Ok(true)
                },
            ),
            uapi::OMSS_IOC_SESSION_CREATE => with_arg(
                arg,
                |v: &uapi::OmssSessionCreate| (v.size, &v.reserved[..]),
                |v| {
                    let ring = check_create(
                        v.flags,
                        v.priority,
                        v.mode,
                        v.ring_entries,
                        &self.engine.params,
                    )?;
                    v.session_id = self.create(v.priority as u8, v.mode == MODE_COPY, ring)?;
                    Ok(true)
                },
            ),
            uapi::OMSS_IOC_SOURCE_SET => with_arg(
                arg,
                |v: &uapi::OmssSourceSet| (v.size, core::slice::from_ref(&v.reserved)),
                |v| {
                    let session = self.session(v.session_id)?;
                    session.set_source(Socket::from_fd(v.fd)?)?;
                    Ok(false)
                },
            ),
            uapi::OMSS_IOC_SINK_ADD => with_arg(
                arg,
                |v: &uapi::OmssSinkAdd| (v.size, &v.reserved[..]),
                |v| {
                    if v.sink_id != 0 {
                        return Err(EINVAL);
                    }
                    let session = self.session(v.session_id)?;
                    v.sink_id = session.add_sink(Socket::from_fd(v.fd)?)?;
                    Ok(true)
                },
            ),
            uapi::OMSS_IOC_SINK_REMOVE => with_arg(
                arg,
                |v: &uapi::OmssTarget| (v.size, core::slice::from_ref(&v.reserved)),
                |v| {
                    self.session(v.session_id)?.remove_sink(v.sink_id)?;
                    Ok(false)
                },
            ),
            uapi::OMSS_IOC_SESSION_DESTROY => with_arg(
                arg,
                |v: &uapi::OmssTarget| (v.size, core::slice::from_ref(&v.reserved)),
                |v| {
                    if v.sink_id != 0 {
                        return Err(EINVAL);
                    }
                    let session = self
                        .sessions
                        .lock()
                        .table
                        .remove_first(|s| s.id == v.session_id)
                        .ok_or(ENOENT)?;
                    session.destroy();
                    Ok(false)
                },
            ),
            uapi::OMSS_IOC_SESSION_STATS => self.stats(arg),
            uapi::OMSS_IOC_ENGINE_STATS => with_arg(
                arg,
                |v: &uapi::OmssEngineStats| (v.size, &[]),
                |v| {
                    if v.reserved != [0; 2] {
                        return Err(EINVAL);
                    }
                    (v.workers, v.workers_idle) = self.engine.pool.threads();
                    v.sessions = SESSIONS_LIVE.load(Relaxed);
                    v.entries_live = ENTRIES_LIVE.load(Relaxed);
                    v.pages_live = PAGES_LIVE.load(Relaxed);
                    v.tasks_run = TASKS_RUN.load(Relaxed);
                    Ok(true)
                },
            ),
            _ => Err(ENOTTY),
        }
    }

    fn create(&self, class: u8, copy: bool, ring: u32) -> Result<u32> {
        let mut s = self.sessions.lock();
        if s.table.len() >= MAX_SESSIONS {
            return Err(ENOSPC);
        }
        let id = s.next_id;
        let session = Session::new(id, class, copy, ring, self.engine.pool.clone())?;
        s.table.insert(session)?;
        s.next_id += 1;
        Ok(id)
    }

    fn session(&self, id: u32) -> Result<Arc<Session>> {
        self.sessions
            .lock()
            .table
            .find(|s| s.id == id)
            .cloned()
            .ok_or(ENOENT)
    }

    fn stats(&self, arg: usize) -> Result<i64> {
        let mut sinks = KVec::new();
        let mut out = uapi::OmssSessionStats::default();
        with_arg(
            arg,
            |v: &uapi::OmssSessionStats| (v.size, &[]),
            |v| {
                if v.reserved != [0; 2] || (v.sinks_ptr == 0 && v.sinks_cap != 0) {
                    return Err(EINVAL);
                }
                let cap = if v.sinks_ptr == 0 {
                    0
                } else {
                    v.sinks_cap as usize
                };
                self.session(v.session_id)?.stats(v, &mut sinks, cap)?;
                out = *v;
                Ok(true)
            },
        )?;
        let mut w = UserSlice::new(
            out.sinks_ptr as usize,
            sinks.len() * size_of::<uapi::OmssSinkStats>(),
        )
        .writer();
        for s in sinks.iter() {
            w.write(s)?;
        }
        Ok(0)
    }
}

#[pinned_drop]
impl PinnedDrop for ControlFile {
    fn drop(self: Pin<&mut Self>) {
        let all = self.sessions.lock().table.take_all();
        for s in all.iter().flatten() {
            s.destroy();
        }
    }
}
