// SPDX-License-Identifier: GPL-2.0

//! `/dev/omss` ioctl ABI; keep in step with `omss.h` (checked by `uapi/tests/abi.rs`).

pub const OMSS_ABI_VERSION: u32 = 1;
pub const OMSS_IOC_MAGIC: u32 = 0xB9;

const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOWR(OMSS_IOC_MAGIC, nr, T)` with `size` = `size_of::<T>()`.
pub const fn iowr(nr: u32, size: usize) -> u32 {
    ((IOC_READ | IOC_WRITE) << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (OMSS_IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// `struct omss_version`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssVersion {
    pub size: u32,
    pub abi_version: u32,
    pub nr_classes: u32,
    pub ring_default: u32,
    pub ring_max: u32,
    pub reserved: [u32; 3],
}

impl OmssVersion {
    /// A request with `size` set and everything else zero.
    pub const fn request() -> Self {
        Self {
            size: core::mem::size_of::<Self>() as u32,
            abi_version: 0,
            nr_classes: 0,
            ring_default: 0,
            ring_max: 0,
            reserved: [0; 3],
        }
    }
}

pub const OMSS_IOC_VERSION: u32 = iowr(0x00, core::mem::size_of::<OmssVersion>());

/// Path of the control device.
pub const OMSS_DEVICE: &str = "/dev/omss";
