// SPDX-License-Identifier: GPL-2.0

//! The relay engine: a pool of kernel threads serving priority class queues of tasks.

pub(crate) mod classq;
pub(crate) mod policy;
pub(crate) mod pool;
pub(crate) mod task;
