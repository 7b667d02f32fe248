// SPDX-License-Identifier: GPL-2.0

//! Thin safe wrappers over the C shim (`omss_shim.c`) and the kernel's C entry points.
//!
//! Every `unsafe` FFI call of OMSS lives in this module; the logic above it is safe Rust.

pub(crate) mod lock;
pub(crate) mod netlink;
pub(crate) mod sock;
pub(crate) mod thread;

use core::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use core::marker::PhantomData;
use kernel::{
    bindings,
    page::Page,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

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
    pub(crate) ulp: u8,
    pad: [u8; 5],
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

/// Mirrors `struct omss_misc_ops`: the file operations of `/dev/omss`.
#[repr(C)]
struct MiscOpsC {
    open: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int,
    release: unsafe extern "C" fn(*mut c_void),
    ioctl: unsafe extern "C" fn(*mut c_void, c_uint, c_ulong) -> c_long,
}

extern "C" {
    fn omss_shim_params(out: *mut Params);
    fn omss_shim_misc_register(ops: *const MiscOpsC, data: *mut c_void) -> c_int;
    fn omss_shim_misc_deregister();
    fn omss_online_cpu(n: c_uint) -> c_int;
}

/// Reads the module parameters.
pub(crate) fn params() -> Params {
    let mut p = Params::default();
    // SAFETY: `p` is a valid, writable `Params`, laid out as `struct omss_params`.
    unsafe { omss_shim_params(&mut p) };
    p
}

/// The `n`-th online CPU (from 0), if there are that many.
pub(crate) fn online_cpu(n: usize) -> Option<u32> {
    let n = c_uint::try_from(n).ok()?;
    // SAFETY: `omss_online_cpu` only reads the online mask.
    let cpu = unsafe { omss_online_cpu(n) };
    u32::try_from(cpu).ok()
}

/// 64 random bits from the kernel's CSPRNG (a secret, such as a session's token).
pub(crate) fn random_u64() -> u64 {
    // SAFETY: `get_random_u64` may be called from any context and takes no arguments.
    unsafe { kernel::bindings::get_random_u64() }
}

/// 32 random bits (RED's drop decisions).
pub(crate) fn random_u32() -> u32 {
    // SAFETY: `get_random_u32` may be called from any context and takes no arguments.
    unsafe { kernel::bindings::get_random_u32() }
}

/// Whether the calling task has `CAP_NET_ADMIN`.
pub(crate) fn capable_net_admin() -> bool {
    // SAFETY: `capable` only reads the current task's credentials.
    unsafe { kernel::bindings::capable(kernel::bindings::CAP_NET_ADMIN as c_int) }
}

/// What a misc device does, as upstream's `MiscDevice` trait: every open makes a `File`.
pub(crate) trait MiscOps: Send + Sync + 'static {
    /// The state of one open file.
    type File: Send + Sync + 'static;
    /// Opens a file.
    fn open(this: &Arc<Self>) -> Result<Arc<Self::File>>;
    /// Handles an ioctl on an open file.
    fn ioctl(file: ArcBorrow<'_, Self::File>, cmd: u32, arg: usize) -> Result<i64>;
}

/// The registered `/dev/omss`, served by `T`; deregistered on drop.
///
/// # Invariants
///
/// `data` is an `Arc<T>` in foreign form, given to the C shim at registration: it stays
/// valid while the device is registered, and is released only by `drop`, after
/// deregistration. One `MiscDevice` exists at a time (the shim has one device).
pub(crate) struct MiscDevice<T: MiscOps> {
    data: *const c_void,
    _t: PhantomData<Arc<T>>,
}

// SAFETY: `data` is an `Arc<T>` in foreign form with `T: Send + Sync`.
unsafe impl<T: MiscOps> Send for MiscDevice<T> {}
// SAFETY: as above; `MiscDevice` has no interior mutability of its own.
unsafe impl<T: MiscOps> Sync for MiscDevice<T> {}

struct Vtable<T>(PhantomData<T>);

impl<T: MiscOps> Vtable<T> {
    const OPS: MiscOpsC = MiscOpsC {
        open: misc_open::<T>,
        release: misc_release::<T>,
        ioctl: misc_ioctl::<T>,
    };
}

/// Hands `data` to a C registration, `reg`, in foreign form; if `reg` fails (a negative
/// errno), takes it back. On success the pointer is the caller's to release, once, with
/// [`release_foreign`] after it unregistered.
pub(crate) fn register_foreign<T: Send + Sync + 'static>(
    data: Arc<T>,
    reg: impl FnOnce(*mut c_void) -> c_int,
) -> Result<*const c_void> {
    let ptr = data.into_foreign();
    let ret = reg(ptr.cast_mut());
    if ret < 0 {
        // SAFETY: `ptr` came from `into_foreign` above; the failed registration kept no copy.
        drop(unsafe { Arc::<T>::from_foreign(ptr) });
        return Err(Error::from_errno(ret));
    }
    Ok(ptr)
}

/// Releases what [`register_foreign`] handed out, once nothing can use it any more.
///
/// # Safety
///
/// `ptr` came from `register_foreign::<T>`, is released only here, and its registration is
/// gone with every callback that used it.
pub(crate) unsafe fn release_foreign<T: Send + Sync + 'static>(ptr: *const c_void) {
    // SAFETY: per the contract, `ptr` is an `Arc<T>` in foreign form that nobody uses.
    drop(unsafe { Arc::<T>::from_foreign(ptr) });
}

impl<T: MiscOps> MiscDevice<T> {
    /// Registers `/dev/omss`, whose opens will use `data`.
    pub(crate) fn register(data: Arc<T>) -> Result<Self> {
        // SAFETY: `OPS` is static and its functions match the pointer's type, which stays
        // valid until `drop`, which deregisters the device first.
        let ptr = register_foreign(data, |p| unsafe {
            omss_shim_misc_register(&Vtable::<T>::OPS, p)
        })?;
        // INVARIANT: registered with `ptr`.
        Ok(Self {
            data: ptr,
            _t: PhantomData,
        })
    }
}

impl<T: MiscOps> Drop for MiscDevice<T> {
    fn drop(&mut self) {
        // SAFETY: the device was registered in `register`. After this no new open can start,
        // and open files pin the module, so no callback uses `data` any more.
        unsafe { omss_shim_misc_deregister() };
        // SAFETY: `data` came from `register_foreign` in `register`; it is unregistered.
        unsafe { release_foreign::<T>(self.data) };
    }
}

/// # Safety
///
/// `data` is the pointer given to `omss_shim_misc_register` by `MiscDevice::<T>::register`
/// (so the device is registered and `data` is valid), and `ctx` is valid for a write.
unsafe extern "C" fn misc_open<T: MiscOps>(data: *mut c_void, ctx: *mut *mut c_void) -> c_int {
    // SAFETY: per the contract, `data` is a live `Arc<T>` in foreign form.
    let this: Arc<T> = unsafe { Arc::<T>::borrow(data) }.into();
    match T::open(&this) {
        Ok(file) => {
            // SAFETY: per the contract, `ctx` is valid for a write.
            unsafe { *ctx = file.into_foreign().cast_mut() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// `ctx` came from `misc_open::<T>`, and this is the last call that uses it.
unsafe extern "C" fn misc_release<T: MiscOps>(ctx: *mut c_void) {
    // SAFETY: per the contract, `ctx` is an `Arc<T::File>` in foreign form, used no more.
    drop(unsafe { Arc::<T::File>::from_foreign(ctx) });
}

/// # Safety
///
/// `ctx` came from `misc_open::<T>` and its file is open for the duration of the call.
unsafe extern "C" fn misc_ioctl<T: MiscOps>(ctx: *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: per the contract, `ctx` is a live `Arc<T::File>` in foreign form.
    let file = unsafe { Arc::<T::File>::borrow(ctx) };
    match T::ioctl(file, cmd, arg as usize) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}
