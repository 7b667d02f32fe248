// SPDX-License-Identifier: GPL-2.0

//! Checks of ioctl arguments and module parameters. Pure logic: no kernel types, so it is
//! also unit-tested on the host (`tests/host`).

/// Why an argument was refused; the kernel side maps each to an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgError {
    /// Bad size, version, reserved field or value: `EINVAL`.
    Invalid,
    /// A limit was passed: `E2BIG`.
    TooBig,
}

/// Largest ring capacity the module accepts as a parameter.
pub(crate) const RING_LIMIT: u32 = 1 << 16;
/// Hard cap on worker threads.
pub(crate) const WORKERS_LIMIT: u32 = 1024;

/// An argument struct's `size` must equal the size this module knows, and its reserved
/// fields must be zero.
pub(crate) fn check_header(size: u32, expected: usize, reserved: &[u32]) -> Result<(), ArgError> {
    if size as usize != expected || reserved.iter().any(|&r| r != 0) {
        return Err(ArgError::Invalid);
    }
    Ok(())
}

/// Module parameters as given at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParamValues {
    pub(crate) ring_default: u32,
    pub(crate) ring_max: u32,
    pub(crate) workers: u32,
    pub(crate) workers_max: u32,
}

/// Validates the parameters; a ring needs at least 2 entries.
pub(crate) fn check_params(p: &ParamValues) -> Result<(), ArgError> {
    if p.ring_max > RING_LIMIT || p.workers_max > WORKERS_LIMIT {
        return Err(ArgError::TooBig);
    }
    if p.ring_default < 2
        || p.ring_default > p.ring_max
        || p.workers_max == 0
        || p.workers > p.workers_max
    {
        return Err(ArgError::Invalid);
    }
    Ok(())
}
