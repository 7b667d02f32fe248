// SPDX-License-Identifier: GPL-2.0

//! A spinlock that also disables bottom halves, for state shared with socket callbacks
//! (they run in softirq). 6.12's `SpinLock` is plain `spin_lock`.

use kernel::{bindings, sync::lock::Backend};

extern "C" {
    fn omss_spin_lock_bh(lock: *mut bindings::spinlock_t);
    fn omss_spin_unlock_bh(lock: *mut bindings::spinlock_t);
}

/// Backend of [`SpinLockBh`].
pub(crate) struct SpinLockBhBackend;

/// A `spin_lock_bh` lock.
pub(crate) type SpinLockBh<T> = kernel::sync::lock::Lock<T, SpinLockBhBackend>;

/// Creates a [`SpinLockBh`] initialiser with a static lock class.
macro_rules! new_spinlock_bh {
    ($inner:expr, $name:literal) => {
        $crate::shim::lock::SpinLockBh::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_spinlock_bh;

// SAFETY: `lock` and `unlock` take and release the spinlock (with bottom halves off), so
// only one guard exists at a time; `init` initialises it as `spin_lock_init` does.
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: the caller passes a valid, writable lock and a name and key that live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: the caller guarantees `ptr` was initialised by `init`.
        unsafe { omss_spin_lock_bh(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: the caller holds the lock, taken by `lock`.
        unsafe { omss_spin_unlock_bh(ptr) }
    }
}
