// SPDX-License-Identifier: GPL-2.0

//! Kernel threads.

use core::ffi::{c_int, c_void};
use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, prelude::*, sync::Arc};

/// Body of a kernel thread.
pub(crate) trait ThreadMain: Send + Sync + 'static {
    /// Runs in the new thread until it is told to stop.
    fn thread_main(this: Arc<Self>, index: u32);
}

/// A running kernel thread; `stop` it to join it.
pub(crate) struct Kthread {
    task: NonNull<bindings::task_struct>,
}

// SAFETY: a `task_struct` pointer may be passed between threads; `kthread_stop` is thread-safe.
unsafe impl Send for Kthread {}
// SAFETY: as above.
unsafe impl Sync for Kthread {}

struct Start<T> {
    obj: Arc<T>,
    index: u32,
}

unsafe extern "C" fn trampoline<T: ThreadMain>(data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `KBox<Start<T>>` leaked by `spawn` for this thread alone.
    let start = unsafe { KBox::from_raw(data.cast::<Start<T>>()) };
    let Start { obj, index } = KBox::into_inner(start);
    T::thread_main(obj, index);
    0
}

/// Starts a kernel thread named `omss/<index>` running `obj.thread_main(index)`.
pub(crate) fn spawn<T: ThreadMain>(obj: Arc<T>, index: u32) -> Result<Kthread> {
    let data = KBox::into_raw(KBox::new(Start { obj, index }, GFP_KERNEL)?);
    // SAFETY: `trampoline::<T>` matches `data`'s type; the format takes one unsigned int.
    let task = unsafe {
        bindings::kthread_create_on_node(
            Some(trampoline::<T>),
            data.cast(),
            bindings::NUMA_NO_NODE,
            kernel::c_str!("omss/%u").as_char_ptr(),
            index as core::ffi::c_uint,
        )
    };
    match from_err_ptr(task) {
        Ok(task) => {
            // SAFETY: `task` is a new kthread that has not run. The reference taken here keeps
            // it valid for `kthread_stop` even if the thread returns first; waking starts it.
            unsafe {
                bindings::get_task_struct(task);
                bindings::wake_up_process(task);
            }
            Ok(Kthread {
                task: NonNull::new(task).ok_or(ENOMEM)?,
            })
        }
        Err(e) => {
            // SAFETY: the thread was not created, so `data` is still ours.
            drop(unsafe { KBox::from_raw(data) });
            Err(e)
        }
    }
}

impl Kthread {
    /// Asks the thread to stop, wakes it and waits until it has returned.
    pub(crate) fn stop(self) {
        // SAFETY: `spawn` holds a reference on `task`, so it is valid even if the thread has
        // returned; `kthread_stop` waits for it to exit. Then that reference is dropped.
        unsafe {
            bindings::kthread_stop(self.task.as_ptr());
            bindings::put_task_struct(self.task.as_ptr());
        }
    }
}

/// Gives up the CPU if a reschedule is due.
pub(crate) fn cond_resched() {
    // SAFETY: called from process context without spinlocks held.
    unsafe { bindings::__cond_resched() };
}
