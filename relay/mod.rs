// SPDX-License-Identifier: GPL-2.0

//! Relay sessions and the control interface of `/dev/omss`.

pub(crate) mod args;
pub(crate) mod control;
pub(crate) mod park;
pub(crate) mod registry;
pub(crate) mod session;
pub(crate) mod sink;
pub(crate) mod slots;
pub(crate) mod source;

use crate::{
    sched::{policy::lanes_for, pool::Pool},
    shim::{self, thread::Kthread},
};
use args::{check_params, ArgError, ParamValues};
use control::ControlFile;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::{
    prelude::*,
    sync::{Arc, ArcBorrow},
};
use park::Parking;
use registry::Registry;

impl From<ArgError> for Error {
    fn from(e: ArgError) -> Self {
        match e {
            ArgError::Invalid => EINVAL,
            ArgError::TooBig => E2BIG,
            ArgError::ProtoNotSupported => {
                Error::from_errno(-(kernel::bindings::EPROTONOSUPPORT as i32))
            }
            ArgError::Busy => EBUSY,
            ArgError::Exists => EEXIST,
            ArgError::NotSupported => Error::from_errno(-(kernel::bindings::EOPNOTSUPP as i32)),
        }
    }
}

/// Module-wide state shared by every open `/dev/omss`.
pub(crate) struct Engine {
    pub(crate) params: ParamValues,
    pub(crate) pool: Arc<Pool>,
    /// Every live session (the netlink dumps).
    pub(crate) registry: Arc<Registry>,
    /// Parked persistent sessions, and their reaper thread.
    pub(crate) parking: Arc<Parking>,
    reaper: Option<Kthread>,
    /// The next session id: ids are unique module-wide (an adopted session keeps its id)
    /// and never reused.
    next_session: AtomicU64,
}

impl Engine {
    /// Reads and checks the module parameters and builds the engine.
    pub(crate) fn new() -> Result<Arc<Self>> {
        let p = shim::params();
        let params = ParamValues {
            ring_default: p.ring_default,
            ring_max: p.ring_max,
            workers: p.workers,
            workers_max: p.workers_max,
        };
        if let Err(e) = check_params(&params) {
            pr_err!("invalid module parameters: {:?}\n", params);
            return Err(e.into());
        }
        let workers = if params.workers == 0 {
            p.online_cpus.clamp(1, params.workers_max)
        } else {
            params.workers
        };
        let lanes = lanes_for(workers, p.online_cpus);
        let pool = Pool::start(lanes, workers, params.workers_max)?;
        pr_info!(
            "{} workers on {} CPUs (up to {})\n",
            pool.threads().0,
            lanes,
            params.workers_max
        );
        let registry = match Registry::new() {
            Ok(r) => r,
            Err(e) => {
                pool.stop();
                return Err(e);
            }
        };
        let (parking, reaper) = match Parking::start() {
            Ok(p) => p,
            Err(e) => {
                pool.stop();
                return Err(e);
            }
        };
        let engine = Self {
            params,
            pool,
            registry,
            parking,
            reaper: Some(reaper),
            next_session: AtomicU64::new(1),
        };
        // On failure `engine` is dropped, which stops the reaper and the pool.
        Ok(Arc::new(engine, GFP_KERNEL)?)
    }

    /// A new session id; `None` once all 2^32 - 1 were handed out.
    pub(crate) fn session_id(&self) -> Option<u32> {
        u32::try_from(self.next_session.fetch_add(1, Relaxed)).ok()
    }
}

impl shim::MiscOps for Engine {
    type File = ControlFile;

    fn open(this: &Arc<Self>) -> Result<Arc<ControlFile>> {
        ControlFile::open(this.clone())
    }

    fn ioctl(file: ArcBorrow<'_, ControlFile>, cmd: u32, arg: usize) -> Result<i64> {
        file.ioctl(cmd, arg)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The reaper must see `stop` before it is joined; parked sessions are destroyed.
        self.parking.stop();
        drop(self.reaper.take());
        self.pool.stop();
    }
}
