// SPDX-License-Identifier: GPL-2.0

//! Kernel threads.

use core::ffi::{c_int, c_void};
use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, prelude::*, sync::Arc, task::Task, types::ARef};

extern "C" {
    fn omss_cond_resched();
}

/// Body of a kernel thread.
pub(crate) trait ThreadMain: Send + Sync + 'static {
    /// Runs in the new thread until it is told to stop.
    fn thread_main(this: Arc<Self>, index: u32);
}

/// A running kernel thread. Dropping it stops and joins it.
///
/// # Invariants
///
/// - `task` is a kernel thread made by [`spawn`] and woken, not yet stopped; the reference
///   `ARef` holds keeps its `task_struct` valid after the thread returned.
/// - `data` is the `KBox<Start<T>>` given to that thread and `free` drops it as one. The
///   thread owns it once its body started; if the thread is stopped before (then
///   `kthread_stop` returns `-EINTR`), it is still ours to free.
pub(crate) struct Kthread {
    task: ARef<Task>,
    data: *mut c_void,
    free: unsafe fn(*mut c_void),
}

// SAFETY: a task reference may move between threads, and `kthread_stop` is thread-safe;
// `data` is only freed by `drop`, once, after the thread is gone.
unsafe impl Send for Kthread {}
// SAFETY: `Kthread` has no methods that use `&self` concurrently.
unsafe impl Sync for Kthread {}

struct Start<T> {
    obj: Arc<T>,
    index: u32,
}

/// # Safety
///
/// `data` is the `KBox<Start<T>>` that `spawn::<T>` made for this thread, unused by anyone else.
unsafe extern "C" fn trampoline<T: ThreadMain>(data: *mut c_void) -> c_int {
    // SAFETY: per the contract, `data` is this thread's `KBox<Start<T>>`; it owns it now.
    let start = unsafe { KBox::from_raw(data.cast::<Start<T>>()) };
    let Start { obj, index } = KBox::into_inner(start);
    T::thread_main(obj, index);
    0
}

/// # Safety
///
/// `data` is a `KBox<Start<T>>` from `spawn::<T>` whose thread never ran `trampoline`.
unsafe fn free_start<T: ThreadMain>(data: *mut c_void) {
    // SAFETY: per the contract, nobody else owns `data`.
    drop(unsafe { KBox::from_raw(data.cast::<Start<T>>()) });
}

/// Starts a kernel thread named `<name>/<index>`, bound to `cpu` (an online CPU) if given,
/// running `obj.thread_main(index)`.
pub(crate) fn spawn<T: ThreadMain>(
    obj: Arc<T>,
    name: &'static CStr,
    index: u32,
    cpu: Option<u32>,
) -> Result<Kthread> {
    let data = KBox::into_raw(KBox::new(Start { obj, index }, GFP_KERNEL)?);
    // SAFETY: `trampoline::<T>` matches `data`'s type; the format takes a string (`name`,
    // NUL-terminated, static) and an unsigned int.
    let task = unsafe {
        bindings::kthread_create_on_node(
            Some(trampoline::<T>),
            data.cast(),
            bindings::NUMA_NO_NODE,
            kernel::c_str!("%s/%u").as_char_ptr(),
            name.as_char_ptr(),
            index as core::ffi::c_uint,
        )
    };
    let task = match from_err_ptr(task).and_then(|t| NonNull::new(t).ok_or(ENOMEM)) {
        Ok(task) => task,
        Err(e) => {
            // SAFETY: the thread was not created, so `data` is still ours.
            drop(unsafe { KBox::from_raw(data) });
            return Err(e);
        }
    };
    // SAFETY: `task` is a new kthread that has not run. `get_task_struct` takes the
    // reference that `ARef` owns from here on (so `kthread_stop` may run after the thread
    // returned), and `Task` is a transparent wrapper of `task_struct`.
    let task = unsafe {
        bindings::get_task_struct(task.as_ptr());
        ARef::from_raw(task.cast::<Task>())
    };
    if let Some(cpu) = cpu {
        // SAFETY: `task` is valid and has not run yet, as `kthread_bind` requires.
        unsafe { bindings::kthread_bind(task_ptr(&task), cpu) };
    }
    // SAFETY: `task` is valid; waking it starts it (on `cpu` if it was bound).
    unsafe { bindings::wake_up_process(task_ptr(&task)) };
    // INVARIANT: made by `spawn` and woken; `data` and `free` match.
    Ok(Kthread {
        task,
        data: data.cast(),
        free: free_start::<T>,
    })
}

fn task_ptr(task: &Task) -> *mut bindings::task_struct {
    // `Task` wraps a `task_struct` transparently.
    core::ptr::from_ref(task).cast_mut().cast()
}

impl Drop for Kthread {
    /// Asks the thread to stop, wakes it and waits until it has returned.
    fn drop(&mut self) {
        // SAFETY: by the invariants the thread was made by `spawn` and is not stopped yet;
        // our reference keeps it valid even if it returned. `kthread_stop` waits for it.
        let ret = unsafe { bindings::kthread_stop(task_ptr(&self.task)) };
        if ret == EINTR.to_errno() {
            // SAFETY: stopped before its body ran: `data` is still ours (invariants).
            unsafe { (self.free)(self.data) };
        }
    }
}

/// Gives up the CPU if a reschedule is due.
pub(crate) fn cond_resched() {
    // SAFETY: called from process context without spinlocks held; the shim calls
    // `cond_resched()`, whatever the preemption model.
    unsafe { omss_cond_resched() };
}
