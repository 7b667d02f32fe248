// SPDX-License-Identifier: GPL-2.0

//! Relay sessions and the control interface of `/dev/omss`.

pub(crate) mod args;
pub(crate) mod control;
pub(crate) mod session;
pub(crate) mod sink;
pub(crate) mod slots;
pub(crate) mod source;

use crate::{
    sched::{policy::lanes_for, pool::Pool},
    shim,
};
use args::{check_params, ArgError, ParamValues};
use control::ControlFile;
use kernel::{
    prelude::*,
    sync::{Arc, ArcBorrow},
};

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
        Ok(Arc::new(Self { params, pool }, GFP_KERNEL)?)
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
        self.pool.stop();
    }
}
