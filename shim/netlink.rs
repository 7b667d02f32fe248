// SPDX-License-Identifier: GPL-2.0

//! The generic netlink family `omss` (`omss_netlink.c`, `uapi/omss.yaml`): registration,
//! dump messages and events. What goes in them is the caller's: lists of attributes.

use core::ffi::{c_int, c_long, c_uint, c_void};
use core::marker::PhantomData;
use kernel::{prelude::*, sync::Arc, types::ForeignOwnable};

/// One attribute of a message: a `u32` or a `u64` (mirrors `struct omss_nl_attr`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct NlAttr {
    kind: u16,
    is64: u16,
    pad: u32,
    value: u64,
}

impl NlAttr {
    /// A `u32` attribute of type `kind`.
    pub(crate) const fn u32(kind: u16, value: u32) -> Self {
        Self {
            kind,
            is64: 0,
            pad: 0,
            value: value as u64,
        }
    }

    /// A `u64` attribute of type `kind`.
    pub(crate) const fn u64(kind: u16, value: u64) -> Self {
        Self {
            kind,
            is64: 1,
            pad: 0,
            value,
        }
    }
}

/// Mirrors `struct omss_nl_ops`.
#[repr(C)]
struct NlOpsC {
    dump:
        unsafe extern "C" fn(*mut c_void, u8, u32, *mut c_void, *mut c_void, *mut c_long) -> c_int,
}

extern "C" {
    fn omss_nl_register(ops: *const NlOpsC, data: *mut c_void) -> c_int;
    fn omss_nl_unregister();
    fn omss_nl_put(
        skb: *mut c_void,
        cb: *mut c_void,
        cmd: u8,
        a: *const NlAttr,
        n: c_uint,
    ) -> c_int;
    fn omss_nl_event(a: *const NlAttr, n: c_uint);
}

/// Sends an event to the events group's listeners, if the family is registered. Never
/// sleeps; an event nobody can take (no memory) is dropped.
pub(crate) fn event(attrs: &[NlAttr]) {
    // SAFETY: `attrs` is a valid array of `attrs.len()` attributes for the call's duration.
    unsafe { omss_nl_event(attrs.as_ptr(), attrs.len() as c_uint) };
}

/// A dump in progress (one `dumpit` call): messages go into its buffer.
///
/// # Invariants
///
/// `skb` and `cb` are the dump's buffer and callback state, valid for `'a`.
pub(crate) struct Dump<'a> {
    skb: *mut c_void,
    cb: *mut c_void,
    cmd: u8,
    _call: PhantomData<&'a mut ()>,
}

impl Dump<'_> {
    /// Adds one message; `false` if the buffer is full (then nothing of it was added).
    pub(crate) fn put(&mut self, attrs: &[NlAttr]) -> bool {
        // SAFETY: by the invariants `skb` and `cb` are this dump's; `attrs` is valid.
        unsafe {
            omss_nl_put(
                self.skb,
                self.cb,
                self.cmd,
                attrs.as_ptr(),
                attrs.len() as c_uint,
            ) == 0
        }
    }
}

/// What the family serves: its dumps.
pub(crate) trait NetlinkOps: Send + Sync + 'static {
    /// Puts the messages of dump `cmd` (with `filter`, 0 for none) from position `pos` on,
    /// moving `pos` past what it put; returns how many it put (0: the dump is over).
    fn dump(&self, cmd: u8, filter: u32, pos: &mut u64, out: &mut Dump<'_>) -> Result<usize>;
}

/// The registered family, served by `T`; unregistered on drop.
///
/// # Invariants
///
/// `data` is an `Arc<T>` in foreign form given to the C shim at registration: valid while
/// the family is registered, released only by `drop`, after unregistration (which waits for
/// running dumps). One `Netlink` exists at a time: the shim has one family and refuses a
/// second registration (`EBUSY`) without touching the first.
pub(crate) struct Netlink<T: NetlinkOps> {
    data: *const c_void,
    _t: PhantomData<Arc<T>>,
}

// SAFETY: `data` is an `Arc<T>` in foreign form with `T: Send + Sync`.
unsafe impl<T: NetlinkOps> Send for Netlink<T> {}
// SAFETY: as above; no interior mutability of its own.
unsafe impl<T: NetlinkOps> Sync for Netlink<T> {}

struct Vtable<T>(PhantomData<T>);

impl<T: NetlinkOps> Vtable<T> {
    const OPS: NlOpsC = NlOpsC { dump: nl_dump::<T> };
}

impl<T: NetlinkOps> Netlink<T> {
    /// Registers the family, whose dumps will use `data`.
    pub(crate) fn register(data: Arc<T>) -> Result<Self> {
        // SAFETY: `OPS` is static and matches the pointer's type, which stays valid until
        // `drop`, which unregisters the family first.
        let ptr =
            super::register_foreign(data, |p| unsafe { omss_nl_register(&Vtable::<T>::OPS, p) })?;
        // INVARIANT: registered with `ptr`.
        Ok(Self {
            data: ptr,
            _t: PhantomData,
        })
    }
}

impl<T: NetlinkOps> Drop for Netlink<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; after this no dump runs and no event is sent.
        unsafe { omss_nl_unregister() };
        // SAFETY: `data` came from `register_foreign` in `register`; it is unregistered.
        unsafe { super::release_foreign::<T>(self.data) };
    }
}

/// # Safety
///
/// `data` is the pointer given to `omss_nl_register` by `Netlink::<T>::register` (so the
/// family is registered and `data` valid); `skb` and `cb` are a running dump's, and `pos`
/// is valid for reads and writes, for the call's duration.
unsafe extern "C" fn nl_dump<T: NetlinkOps>(
    data: *mut c_void,
    cmd: u8,
    filter: u32,
    skb: *mut c_void,
    cb: *mut c_void,
    pos: *mut c_long,
) -> c_int {
    // SAFETY: per the contract, `data` is a live `Arc<T>` in foreign form.
    let this = unsafe { Arc::<T>::borrow(data) };
    // INVARIANT: per the contract, `skb` and `cb` are valid for this call.
    let mut out = Dump {
        skb,
        cb,
        cmd,
        _call: PhantomData,
    };
    // SAFETY: per the contract, `pos` is valid for reads and writes.
    let mut p = unsafe { *pos } as u64;
    let ret = T::dump(&this, cmd, filter, &mut p, &mut out);
    // SAFETY: as above.
    unsafe { *pos = p as c_long };
    match ret {
        Ok(n) => n.min(i32::MAX as usize) as c_int,
        Err(e) => e.to_errno(),
    }
}
