// SPDX-License-Identifier: GPL-2.0

//! Relay sessions and the control interface of `/dev/omss`.

pub(crate) mod args;
pub(crate) mod control;

use crate::shim;
use args::{check_params, ArgError, ParamValues};
use kernel::{prelude::*, sync::Arc};

impl From<ArgError> for Error {
    fn from(e: ArgError) -> Self {
        match e {
            ArgError::Invalid => EINVAL,
            ArgError::TooBig => E2BIG,
        }
    }
}

/// Module-wide state shared by every open `/dev/omss`.
pub(crate) struct Engine {
    pub(crate) params: ParamValues,
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
        Ok(Arc::new(Self { params }, GFP_KERNEL)?)
    }
}
