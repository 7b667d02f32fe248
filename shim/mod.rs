// SPDX-License-Identifier: GPL-2.0

//! Thin safe wrappers over the C shim (`omss_shim.c`) and the kernel's C entry points.
//!
//! Every `unsafe` FFI call of OMSS lives in this module; the logic above it is safe Rust.

pub(crate) mod lock;
pub(crate) mod sock;
pub(crate) mod thread;

use crate::relay::{control::ControlFile, Engine};
use core::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use kernel::{bindings, page::Page, prelude::*, sync::Arc, types::ForeignOwnable};

/// Socket event bits given to `SockEvents::on_event`, as in `omss_shim.h`.
pub(crate) const EV_READ: u32 = 1;
/// Send space is available.
pub(crate) const EV_WRITE: u32 = 2;
/// The socket changed state (reset, close).
pub(crate) const EV_STATE: u32 = 4;

/// Mirrors `struct omss_sk_info`.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct SkInfo {
    pub(crate) family: u16,
    pub(crate) sock_type: u16,
    pub(crate) protocol: u16,
    pub(crate) state: u8,
    pub(crate) bound: u8,
    pub(crate) listening: u8,
    pub(crate) owned: u8,
    pad: [u8; 6],
}

/// Mirrors `struct omss_sk_saved`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SkSaved {
    data_ready: *mut c_void,
    write_space: *mut c_void,
    state_change: *mut c_void,
}

impl Default for SkSaved {
    fn default() -> Self {
        Self {
            data_ready: core::ptr::null_mut(),
            write_space: core::ptr::null_mut(),
            state_change: core::ptr::null_mut(),
        }
    }
}

/// Copies the first `len` bytes of `src` to `dst` (a private copy of a payload page).
pub(crate) fn copy_page(dst: &Page, src: &Page, len: usize) {
    let len = len.min(kernel::page::PAGE_SIZE);
    // SAFETY: both pages are live and owned by us; `kmap_local_page` maps each for the
    // duration of the copy, and `len` is within a page. The mappings are undone in reverse.
    unsafe {
        let d = bindings::kmap_local_page(dst.as_ptr());
        let s = bindings::kmap_local_page(src.as_ptr());
        core::ptr::copy_nonoverlapping(s.cast::<u8>(), d.cast::<u8>(), len);
        bindings::kunmap_local(s);
        bindings::kunmap_local(d);
    }
}

/// Module parameters, mirrors `struct omss_params`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct Params {
    pub(crate) ring_default: u32,
    pub(crate) ring_max: u32,
    pub(crate) workers: u32,
    pub(crate) workers_max: u32,
    pub(crate) online_cpus: u32,
}

extern "C" {
    fn omss_shim_params(out: *mut Params);
    fn omss_shim_misc_register(engine: *mut c_void) -> c_int;
    fn omss_shim_misc_deregister();
}

/// Reads the module parameters.
pub(crate) fn params() -> Params {
    let mut p = Params::default();
    // SAFETY: `p` is a valid, writable `Params`, laid out as `struct omss_params`.
    unsafe { omss_shim_params(&mut p) };
    p
}

/// Whether the calling task has `CAP_NET_ADMIN`.
pub(crate) fn capable_net_admin() -> bool {
    // SAFETY: `capable` only reads the current task's credentials.
    unsafe { kernel::bindings::capable(kernel::bindings::CAP_NET_ADMIN as c_int) }
}

/// The registered `/dev/omss`; deregistered on drop.
pub(crate) struct MiscDevice {
    engine: *const c_void,
}

// SAFETY: `engine` is an `Arc<Engine>` in foreign form; `Engine` is `Send + Sync`.
unsafe impl Send for MiscDevice {}
// SAFETY: as above; `MiscDevice` has no interior mutability of its own.
unsafe impl Sync for MiscDevice {}

impl MiscDevice {
    /// Registers `/dev/omss`, whose opens will use `engine`.
    pub(crate) fn register(engine: Arc<Engine>) -> Result<Self> {
        let ptr = engine.into_foreign();
        // SAFETY: `ptr` stays valid until `drop`, which deregisters the device first.
        let ret = unsafe { omss_shim_misc_register(ptr.cast_mut()) };
        if ret < 0 {
            // SAFETY: `ptr` came from `into_foreign` above; the failed registration kept no copy.
            drop(unsafe { Arc::<Engine>::from_foreign(ptr) });
            return Err(Error::from_errno(ret));
        }
        Ok(Self { engine: ptr })
    }
}

impl Drop for MiscDevice {
    fn drop(&mut self) {
        // SAFETY: the device was registered in `register`. After this no new open can start,
        // and open files pin the module, so no `omss_rs_*` call uses `engine` any more.
        unsafe { omss_shim_misc_deregister() };
        // SAFETY: `engine` came from `into_foreign` in `register` and is released only here.
        drop(unsafe { Arc::<Engine>::from_foreign(self.engine) });
    }
}

#[no_mangle]
extern "C" fn omss_rs_open(engine: *mut c_void, ctx: *mut *mut c_void) -> c_int {
    // SAFETY: `engine` is the pointer given to `omss_shim_misc_register`; it is valid while
    // the device is registered, which open implies.
    let engine: Arc<Engine> = unsafe { Arc::<Engine>::borrow(engine) }.into();
    match ControlFile::open(engine) {
        Ok(file) => {
            // SAFETY: `ctx` points to the C shim's local `void *`, valid for write.
            unsafe { *ctx = file.into_foreign().cast_mut() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

#[no_mangle]
extern "C" fn omss_rs_release(ctx: *mut c_void) {
    // SAFETY: `ctx` came from `into_foreign` in `omss_rs_open`; release is the last call on it.
    drop(unsafe { Arc::<ControlFile>::from_foreign(ctx) });
}

#[no_mangle]
extern "C" fn omss_rs_ioctl(ctx: *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: `ctx` came from `omss_rs_open`; the file is open for the duration of the call.
    let file = unsafe { Arc::<ControlFile>::borrow(ctx) };
    match file.ioctl(cmd, arg as usize) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}
