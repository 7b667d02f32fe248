// SPDX-License-Identifier: GPL-2.0

//! `/dev/omss` ioctl ABI; keep in step with `omss.h` (checked by `uapi/tests/abi.rs`).

pub const OMSS_ABI_VERSION: u32 = 3;
pub const OMSS_IOC_MAGIC: u32 = 0xB9;

const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (OMSS_IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// `_IOWR(OMSS_IOC_MAGIC, nr, T)` with `size` = `size_of::<T>()`.
pub const fn iowr(nr: u32, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, nr, size)
}

/// `_IOW(OMSS_IOC_MAGIC, nr, T)` with `size` = `size_of::<T>()`.
pub const fn iow(nr: u32, size: usize) -> u32 {
    ioc(IOC_WRITE, nr, size)
}

pub const OMSS_NR_CLASSES: u32 = 8;

pub const OMSS_MODE_SHARE: u32 = 0;
pub const OMSS_MODE_COPY: u32 = 1;

pub const OMSS_SESSION_IDLE: u32 = 0;
pub const OMSS_SESSION_RUNNING: u32 = 1;
pub const OMSS_SESSION_ENDED: u32 = 2;
pub const OMSS_SESSION_FAILED: u32 = 3;

pub const OMSS_SINK_ACTIVE: u32 = 0;
pub const OMSS_SINK_FAILED: u32 = 1;
pub const OMSS_SINK_DONE: u32 = 2;
pub const OMSS_SINK_KICKED: u32 = 3;

pub const OMSS_SESSION_PERSIST: u32 = 1 << 0;

pub const OMSS_DROP_SLOWEST: u32 = 0;
pub const OMSS_DROP_TAIL: u32 = 1;
pub const OMSS_DROP_RED: u32 = 2;

pub const OMSS_LIMIT_NONE: u32 = 0xffff_ffff;
pub const OMSS_PERSIST_MAX_MS: u32 = 3_600_000;
pub const OMSS_ENTRY_MAX: u32 = 16384;
pub const OMSS_ENTRY_MIN: u32 = 64;

/// `struct omss_limits`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssLimits {
    pub burst_entries: u32,
    pub burst_ms: u32,
    pub lag_soft_entries: u32,
    pub lag_soft_ms: u32,
    pub lag_hard_entries: u32,
    pub lag_hard_ms: u32,
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

/// `struct omss_session_create`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSessionCreate {
    pub size: u32,
    pub flags: u32,
    pub priority: u32,
    pub mode: u32,
    pub ring_entries: u32,
    pub session_id: u32,
    pub reserved: [u32; 2],
    pub limits: OmssLimits,
    pub drop_policy: u32,
    pub persist_ms: u32,
    pub token: u64,
    pub record_size: u32,
    pub datagram_size: u32,
}

/// Size of `struct omss_session_create` in ABI 1 and 2: the fields up to `reserved`.
pub const OMSS_SESSION_CREATE_SIZE_V1: usize = 32;

/// `struct omss_session_create` as ABI 1 and 2 had it (still accepted).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSessionCreateV1 {
    pub size: u32,
    pub flags: u32,
    pub priority: u32,
    pub mode: u32,
    pub ring_entries: u32,
    pub session_id: u32,
    pub reserved: [u32; 2],
}

/// `struct omss_source_set`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSourceSet {
    pub size: u32,
    pub session_id: u32,
    pub fd: i32,
    pub reserved: u32,
}

/// `struct omss_sink_add`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSinkAdd {
    pub size: u32,
    pub session_id: u32,
    pub fd: i32,
    pub sink_id: u32,
    pub reserved: [u32; 2],
    pub limits: OmssLimits,
}

/// Size of `struct omss_sink_add` in ABI 1 and 2: the fields up to `reserved`.
pub const OMSS_SINK_ADD_SIZE_V1: usize = 24;

/// `struct omss_sink_add` as ABI 1 and 2 had it (still accepted).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSinkAddV1 {
    pub size: u32,
    pub session_id: u32,
    pub fd: i32,
    pub sink_id: u32,
    pub reserved: [u32; 2],
}

/// `struct omss_session_adopt`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSessionAdopt {
    pub size: u32,
    pub session_id: u32,
    pub token: u64,
    pub reserved: [u32; 2],
}

/// `struct omss_target`: a sink to remove or a session to destroy.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssTarget {
    pub size: u32,
    pub session_id: u32,
    pub sink_id: u32,
    pub reserved: u32,
}

/// `struct omss_sink_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSinkStats {
    pub sink_id: u32,
    pub state: u32,
    pub err: i32,
    pub errors: u32,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub entries_lost: u64,
    pub lag: u64,
}

/// `struct omss_session_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSessionStats {
    pub size: u32,
    pub session_id: u32,
    pub state: u32,
    pub source_err: i32,
    pub priority: u32,
    pub mode: u32,
    pub ring_capacity: u32,
    pub ring_fill: u32,
    pub nr_sinks: u32,
    pub sinks_cap: u32,
    pub sinks_ptr: u64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub entries_stored: u64,
    pub entries_dropped: u64,
    pub pages_allocated: u64,
    pub reserved: [u64; 2],
    pub rx_errors: u64,
    pub rx_truncated: u64,
    pub run_first: u64,
    pub run_last: u64,
    pub pages_stored: u64,
}

/// Size of `struct omss_session_stats` in ABI 1: the fields up to `reserved`.
pub const OMSS_SESSION_STATS_SIZE_V1: usize = 104;

/// `struct omss_session_stats` as ABI 1 had it (still accepted).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssSessionStatsV1 {
    pub size: u32,
    pub session_id: u32,
    pub state: u32,
    pub source_err: i32,
    pub priority: u32,
    pub mode: u32,
    pub ring_capacity: u32,
    pub ring_fill: u32,
    pub nr_sinks: u32,
    pub sinks_cap: u32,
    pub sinks_ptr: u64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub entries_stored: u64,
    pub entries_dropped: u64,
    pub pages_allocated: u64,
    pub reserved: [u64; 2],
}

/// The conversions between an old layout and the current one, over the fields they share.
macro_rules! v1_conversions {
    ($old:ty => $new:ty: $($f:ident),*) => {
        impl From<$old> for $new {
            fn from(v: $old) -> Self {
                Self { $($f: v.$f,)* ..Default::default() }
            }
        }
        impl From<$new> for $old {
            fn from(v: $new) -> Self {
                Self { $($f: v.$f,)* }
            }
        }
    };
}
v1_conversions!(OmssSessionCreateV1 => OmssSessionCreate:
    size, flags, priority, mode, ring_entries, session_id, reserved);
v1_conversions!(OmssSinkAddV1 => OmssSinkAdd: size, session_id, fd, sink_id, reserved);
v1_conversions!(OmssSessionStatsV1 => OmssSessionStats:
    size,
    session_id,
    state,
    source_err,
    priority,
    mode,
    ring_capacity,
    ring_fill,
    nr_sinks,
    sinks_cap,
    sinks_ptr,
    rx_bytes,
    rx_packets,
    entries_stored,
    entries_dropped,
    pages_allocated,
    reserved
);

/// `struct omss_engine_pause`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssEnginePause {
    pub size: u32,
    pub paused: u32,
    pub reserved: [u32; 2],
}

/// `struct omss_engine_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OmssEngineStats {
    pub size: u32,
    pub workers: u32,
    pub workers_idle: u32,
    pub sessions: u32,
    pub entries_live: u64,
    pub pages_live: u64,
    pub tasks_run: u64,
    pub reserved: [u64; 2],
}

/// Implements `request()`: a zeroed argument with `size` set.
macro_rules! request {
    ($($t:ty),*) => {$(
        impl $t {
            /// A request with `size` set and everything else zero.
            pub fn request() -> Self {
                Self { size: core::mem::size_of::<Self>() as u32, ..Default::default() }
            }
        }
    )*};
}
request!(
    OmssSessionCreate,
    OmssSessionCreateV1,
    OmssSourceSet,
    OmssSinkAdd,
    OmssSinkAddV1,
    OmssSessionAdopt,
    OmssTarget,
    OmssSessionStats,
    OmssSessionStatsV1,
    OmssEnginePause,
    OmssEngineStats
);

use core::mem::size_of;
pub const OMSS_IOC_VERSION: u32 = iowr(0x00, size_of::<OmssVersion>());
pub const OMSS_IOC_SESSION_CREATE: u32 = iowr(0x01, size_of::<OmssSessionCreate>());
pub const OMSS_IOC_SOURCE_SET: u32 = iow(0x02, size_of::<OmssSourceSet>());
pub const OMSS_IOC_SINK_ADD: u32 = iowr(0x03, size_of::<OmssSinkAdd>());
pub const OMSS_IOC_SINK_REMOVE: u32 = iow(0x04, size_of::<OmssTarget>());
pub const OMSS_IOC_SESSION_DESTROY: u32 = iow(0x05, size_of::<OmssTarget>());
pub const OMSS_IOC_SESSION_STATS: u32 = iowr(0x06, size_of::<OmssSessionStats>());
pub const OMSS_IOC_ENGINE_STATS: u32 = iowr(0x07, size_of::<OmssEngineStats>());
pub const OMSS_IOC_ENGINE_PAUSE: u32 = iow(0x08, size_of::<OmssEnginePause>());
pub const OMSS_IOC_SESSION_ADOPT: u32 = iow(0x09, size_of::<OmssSessionAdopt>());
pub const OMSS_IOC_SESSION_CREATE_V1: u32 = iowr(0x01, OMSS_SESSION_CREATE_SIZE_V1);
pub const OMSS_IOC_SINK_ADD_V1: u32 = iowr(0x03, OMSS_SINK_ADD_SIZE_V1);
pub const OMSS_IOC_SESSION_STATS_V1: u32 = iowr(0x06, OMSS_SESSION_STATS_SIZE_V1);

/// Generic netlink family (see `omss.h` and `omss.yaml`).
pub const OMSS_GENL_NAME: &str = "omss";
pub const OMSS_GENL_VERSION: u32 = 1;
pub const OMSS_GENL_MCGRP_EVENTS: &str = "events";

pub const OMSS_CMD_SESSION_GET: u8 = 1;
pub const OMSS_CMD_SINK_GET: u8 = 2;
pub const OMSS_CMD_EVENT: u8 = 3;
pub const OMSS_CMD_MAX: u8 = 3;

pub const OMSS_A_PAD: u16 = 1;
pub const OMSS_A_SESSION_ID: u16 = 2;
pub const OMSS_A_SINK_ID: u16 = 3;
pub const OMSS_A_EVENT: u16 = 4;
pub const OMSS_A_ERRNO: u16 = 5;
pub const OMSS_A_STATE: u16 = 6;
pub const OMSS_A_MODE: u16 = 7;
pub const OMSS_A_PRIORITY: u16 = 8;
pub const OMSS_A_DROP_POLICY: u16 = 9;
pub const OMSS_A_PARKED: u16 = 10;
pub const OMSS_A_RING_CAPACITY: u16 = 11;
pub const OMSS_A_RING_FILL: u16 = 12;
pub const OMSS_A_NR_SINKS: u16 = 13;
pub const OMSS_A_RX_PACKETS: u16 = 14;
pub const OMSS_A_RX_BYTES: u16 = 15;
pub const OMSS_A_ENTRIES_DROPPED: u16 = 16;
pub const OMSS_A_TX_PACKETS: u16 = 17;
pub const OMSS_A_TX_BYTES: u16 = 18;
pub const OMSS_A_ENTRIES_LOST: u16 = 19;
pub const OMSS_A_LAG: u16 = 20;
pub const OMSS_A_MAX: u16 = 20;

pub const OMSS_EVENT_SINK_FAILED: u32 = 1;
pub const OMSS_EVENT_SINK_KICKED: u32 = 2;
pub const OMSS_EVENT_SINK_DONE: u32 = 3;
pub const OMSS_EVENT_SESSION_ENDED: u32 = 4;
pub const OMSS_EVENT_SESSION_FAILED: u32 = 5;
pub const OMSS_EVENT_SESSION_DESTROYED: u32 = 6;
pub const OMSS_EVENT_SESSION_PARKED: u32 = 7;
pub const OMSS_EVENT_SESSION_ADOPTED: u32 = 8;

/// Path of the control device.
pub const OMSS_DEVICE: &str = "/dev/omss";

/// The kernel reads and writes these structs from and to user memory as plain bytes.
#[cfg(MODULE)]
mod kernel_abi {
    use super::*;
    use kernel::types::{AsBytes, FromBytes};

    macro_rules! plain_abi {
        ($($t:ty),*) => {$(
            // SAFETY: a `repr(C)` struct of integers with explicit padding fields (the ABI
            // test checks the layout against `omss.h`): every byte pattern is valid and it
            // has no implicit padding that could leak kernel memory.
            unsafe impl FromBytes for $t {}
            // SAFETY: as above.
            unsafe impl AsBytes for $t {}
        )*};
    }
    plain_abi!(
        OmssVersion,
        OmssSessionCreate,
        OmssSessionCreateV1,
        OmssSourceSet,
        OmssSinkAdd,
        OmssSinkAddV1,
        OmssSessionAdopt,
        OmssTarget,
        OmssSessionStats,
        OmssSessionStatsV1,
        OmssSinkStats,
        OmssEngineStats,
        OmssEnginePause
    );
}
