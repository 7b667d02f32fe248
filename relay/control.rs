// SPDX-License-Identifier: GPL-2.0

//! One open `/dev/omss`: decodes ioctls, checks their arguments, owns its sessions.
//! Closing the file destroys its sessions, except persistent ones, which are parked (`park.rs`).

use super::{
    args::{
        check_create, check_header, check_persist, entry_size, Limits, MAX_SESSIONS, MODE_COPY,
        NR_CLASSES,
    },
    session::{Session, SESSIONS_LIVE},
    slots::Slots,
    Engine,
};
use crate::{
    buffer::{policy::DropPolicy, ENTRIES_LIVE, PAGES_LIVE},
    sched::task::TASKS_RUN,
    shim,
    shim::sock::Socket,
    uapi::{self, OmssLimits},
};
use core::{
    mem::size_of,
    sync::atomic::{AtomicBool, Ordering::Relaxed},
};
use kernel::{
    alloc::KVVec,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    types::{AsBytes, FromBytes},
    uaccess::UserSlice,
};

struct Sessions {
    table: Slots<Arc<Session>>,
}

/// State of one open file of `/dev/omss`.
#[pin_data(PinnedDrop)]
pub(crate) struct ControlFile {
    engine: Arc<Engine>,
    #[pin]
    sessions: Mutex<Sessions>,
    /// This file paused the engine (`OMSS_IOC_ENGINE_PAUSE`); closing it resumes.
    paused: AtomicBool,
}

/// Reads an argument struct and checks its size and reserved fields.
fn read_arg<T: FromBytes>(arg: usize, size: impl Fn(&T) -> (u32, &[u32])) -> Result<T> {
    let v: T = UserSlice::new(arg, size_of::<T>()).reader().read()?;
    let (sz, reserved) = size(&v);
    check_header(sz, size_of::<T>(), reserved)?;
    Ok(v)
}

/// The six fields of `struct omss_limits`, in order.
fn limit_fields(l: &OmssLimits) -> [u32; 6] {
    [
        l.burst_entries,
        l.burst_ms,
        l.lag_soft_entries,
        l.lag_soft_ms,
        l.lag_hard_entries,
        l.lag_hard_ms,
    ]
}

/// Writes an argument struct back.
fn write_arg<T: AsBytes>(arg: usize, v: &T) -> Result {
    UserSlice::new(arg, size_of::<T>()).writer().write(v)
}

/// Reads an argument struct in layout `T` (the current one, `U`, or an older one that is a
/// prefix of it), checks its size and reserved fields, and writes it back unchanged (so that
/// a pointer that cannot be written fails with `EFAULT` before anything changes); returns
/// it in the current layout.
fn read_versioned<T, U>(arg: usize, header: impl Fn(&U) -> (u32, &[u32])) -> Result<U>
where
    T: FromBytes + AsBytes + Into<U> + From<U>,
    U: Copy,
{
    let v: T = read_arg(arg, |_: &T| (size_of::<T>() as u32, &[]))?;
    let v: U = v.into();
    let (size, reserved) = header(&v);
    check_header(size, size_of::<T>(), reserved)?;
    write_arg(arg, &T::from(v))?;
    Ok(v)
}

/// Reads an argument struct, checks it, runs `f` and, if `f` says so, writes the struct
/// back. A struct that is written back is first written unchanged, so that a pointer that
/// cannot be written fails with `EFAULT` before `f` changes anything.
fn with_arg<T: FromBytes + AsBytes>(
    arg: usize,
    size: impl Fn(&T) -> (u32, &[u32]),
    writes: bool,
    f: impl FnOnce(&mut T) -> Result,
) -> Result<i64> {
    let mut v = read_arg(arg, size)?;
    if writes {
        write_arg(arg, &v)?;
    }
    f(&mut v)?;
    if writes {
        write_arg(arg, &v)?;
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
        };
        Arc::pin_init(
            pin_init!(Self {
                engine,
                sessions <- new_mutex!(sessions, "omss_control"),
                paused: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// Dispatches one ioctl; unknown commands get `ENOTTY`.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<i64> {
        match cmd {
            uapi::OMSS_IOC_VERSION => with_arg(
                arg,
                |v: &uapi::OmssVersion| (v.size, &v.reserved[..]),
                true,
                |v| {
                    v.abi_version = uapi::OMSS_ABI_VERSION;
                    v.nr_classes = NR_CLASSES;
                    v.ring_default = self.engine.params.ring_default;
                    v.ring_max = self.engine.params.ring_max;
                    Ok(())
                },
            ),
            uapi::OMSS_IOC_SESSION_CREATE => self.create::<uapi::OmssSessionCreate>(arg),
            uapi::OMSS_IOC_SESSION_CREATE_V1 => self.create::<uapi::OmssSessionCreateV1>(arg),
            uapi::OMSS_IOC_SOURCE_SET => with_arg(
                arg,
                |v: &uapi::OmssSourceSet| (v.size, core::slice::from_ref(&v.reserved)),
                false,
                |v| {
                    self.session(v.session_id)?
                        .set_source(Socket::from_fd(v.fd)?)
                },
            ),
            uapi::OMSS_IOC_SINK_ADD => self.add_sink::<uapi::OmssSinkAdd>(arg),
            uapi::OMSS_IOC_SINK_ADD_V1 => self.add_sink::<uapi::OmssSinkAddV1>(arg),
            uapi::OMSS_IOC_SESSION_ADOPT => with_arg(
                arg,
                |v: &uapi::OmssSessionAdopt| (v.size, &v.reserved[..]),
                false,
                |v| self.adopt(v.session_id, v.token),
            ),
            uapi::OMSS_IOC_SINK_REMOVE => with_arg(
                arg,
                |v: &uapi::OmssTarget| (v.size, core::slice::from_ref(&v.reserved)),
                false,
                |v| self.session(v.session_id)?.remove_sink(v.sink_id),
            ),
            uapi::OMSS_IOC_SESSION_DESTROY => with_arg(
                arg,
                |v: &uapi::OmssTarget| (v.size, core::slice::from_ref(&v.reserved)),
                false,
                |v| {
                    if v.sink_id != 0 {
                        return Err(EINVAL);
                    }
                    self.destroy(v.session_id)
                },
            ),
            uapi::OMSS_IOC_SESSION_STATS => self.stats::<uapi::OmssSessionStats>(arg),
            uapi::OMSS_IOC_SESSION_STATS_V1 => self.stats::<uapi::OmssSessionStatsV1>(arg),
            uapi::OMSS_IOC_ENGINE_STATS => with_arg(
                arg,
                |v: &uapi::OmssEngineStats| (v.size, &[]),
                true,
                |v| {
                    if v.reserved != [0; 2] {
                        return Err(EINVAL);
                    }
                    (v.workers, v.workers_idle) = self.engine.pool.threads();
                    v.sessions = SESSIONS_LIVE.load(Relaxed);
                    v.entries_live = ENTRIES_LIVE.load(Relaxed);
                    v.pages_live = PAGES_LIVE.load(Relaxed);
                    v.tasks_run = TASKS_RUN.load(Relaxed);
                    Ok(())
                },
            ),
            uapi::OMSS_IOC_ENGINE_PAUSE => with_arg(
                arg,
                |v: &uapi::OmssEnginePause| (v.size, &v.reserved[..]),
                false,
                |v| {
                    let on = match v.paused {
                        0 => false,
                        1 => true,
                        _ => return Err(EINVAL),
                    };
                    // One pause per file: a second pause or a resume without one is a no-op.
                    if self.paused.swap(on, Relaxed) != on {
                        self.engine.pool.pause(on);
                    }
                    Ok(())
                },
            ),
            _ => Err(ENOTTY),
        }
    }

    /// `OMSS_IOC_SESSION_CREATE` in the layout `T` (ABI 3's, or ABI 1's without the new
    /// fields); if the new id cannot be written back, the session is destroyed again.
    fn create<T>(&self, arg: usize) -> Result<i64>
    where
        T: FromBytes + AsBytes + Into<uapi::OmssSessionCreate> + From<uapi::OmssSessionCreate>,
    {
        let mut v = read_versioned::<T, uapi::OmssSessionCreate>(arg, |v| (v.size, &v.reserved))?;
        let ring = check_create(
            v.flags,
            v.priority,
            v.mode,
            v.ring_entries,
            &self.engine.params,
        )?;
        let framing = entry_size(v.record_size, v.datagram_size)?;
        let persist =
            check_persist(v.flags, v.persist_ms, v.drop_policy)?.map(|ms| (ms, shim::random_u64()));
        let id = {
            let mut s = self.sessions.lock();
            if s.table.len() >= MAX_SESSIONS {
                return Err(ENOSPC);
            }
            // Ids are never reused; once they ran out, no more sessions are created.
            let id = self.engine.session_id().ok_or(ENOSPC)?;
            let session = Session::new(
                id,
                v.priority as u8,
                v.mode == MODE_COPY,
                ring,
                Limits::session(limit_fields(&v.limits)).check()?,
                framing,
                DropPolicy::from_abi(v.drop_policy).ok_or(EINVAL)?,
                persist,
                self.engine.pool.clone(),
                self.engine.registry.clone(),
            )?;
            self.engine.registry.add(session.clone())?;
            if let Err(e) = s.table.insert(session.clone()) {
                drop(s);
                session.destroy();
                return Err(e);
            }
            id
        };
        v.session_id = id;
        v.token = persist.map_or(0, |(_, token)| token);
        if let Err(e) = write_arg(arg, &T::from(v)) {
            let _ = self.destroy(id);
            return Err(e);
        }
        Ok(0)
    }

    /// `OMSS_IOC_SINK_ADD` in the layout `T`; if the new id cannot be written back, the
    /// sink is removed again.
    fn add_sink<T>(&self, arg: usize) -> Result<i64>
    where
        T: FromBytes + AsBytes + Into<uapi::OmssSinkAdd> + From<uapi::OmssSinkAdd>,
    {
        let mut v = read_versioned::<T, uapi::OmssSinkAdd>(arg, |v| (v.size, &v.reserved))?;
        if v.sink_id != 0 {
            return Err(EINVAL);
        }
        let session = self.session(v.session_id)?;
        v.sink_id = session.add_sink(Socket::from_fd(v.fd)?, limit_fields(&v.limits))?;
        if let Err(e) = write_arg(arg, &T::from(v)) {
            let _ = session.remove_sink(v.sink_id);
            return Err(e);
        }
        Ok(0)
    }

    /// `OMSS_IOC_SESSION_ADOPT`: a parked session becomes this file's.
    fn adopt(&self, id: u32, token: u64) -> Result {
        let mut s = self.sessions.lock();
        if s.table.len() >= MAX_SESSIONS {
            return Err(ENOSPC);
        }
        let session = self.engine.parking.adopt(id, token)?;
        if let Err(e) = s.table.insert(session.clone()) {
            drop(s);
            // No memory to hold it: it stays parked (for a new park time).
            self.engine.parking.park(session);
            return Err(e);
        }
        Ok(())
    }

    fn destroy(&self, id: u32) -> Result {
        let session = self
            .sessions
            .lock()
            .table
            .remove_first(|s| s.id == id)
            .ok_or(ENOENT)?;
        session.destroy();
        Ok(())
    }

    fn session(&self, id: u32) -> Result<Arc<Session>> {
        self.sessions
            .lock()
            .table
            .find(|s| s.id == id)
            .cloned()
            .ok_or(ENOENT)
    }

    /// `OMSS_IOC_SESSION_STATS` in the layout `T` (the current one, or ABI 1's).
    fn stats<T>(&self, arg: usize) -> Result<i64>
    where
        T: FromBytes + AsBytes + Into<uapi::OmssSessionStats> + From<uapi::OmssSessionStats>,
    {
        let mut sinks = KVVec::new();
        let v: T = read_arg(arg, |_: &T| (size_of::<T>() as u32, &[]))?;
        let mut v: uapi::OmssSessionStats = v.into();
        if v.size as usize != size_of::<T>()
            || v.reserved != [0; 2]
            || (v.sinks_ptr == 0 && v.sinks_cap != 0)
        {
            return Err(EINVAL);
        }
        let cap = if v.sinks_ptr == 0 {
            0
        } else {
            v.sinks_cap as usize
        };
        self.session(v.session_id)?.stats(&mut v, &mut sinks, cap)?;
        write_arg(arg, &T::from(v))?;
        let mut w = UserSlice::new(
            v.sinks_ptr as usize,
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
        // Persistent sessions are parked (and go on relaying); the others are destroyed.
        let all = self.sessions.lock().table.take_all();
        for s in all.into_iter().flatten() {
            if s.persist.is_some() {
                self.engine.parking.park(s);
            } else {
                s.destroy();
            }
        }
        if self.paused.load(Relaxed) {
            self.engine.pool.pause(false);
        }
    }
}
