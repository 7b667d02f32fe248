// SPDX-License-Identifier: GPL-2.0

//! Task states and pool growth: pure decisions, also tested on the host.
//!
//! A task is queued at most once and never runs on two workers at once: scheduling a task
//! that is running only marks it to run again when it finishes.

/// Not queued, not running.
pub(crate) const IDLE: u8 = 0;
/// In a class queue.
pub(crate) const QUEUED: u8 = 1;
/// Running on a worker.
pub(crate) const RUNNING: u8 = 2;
/// Running, and scheduled again meanwhile.
pub(crate) const RUNNING_AGAIN: u8 = 3;
/// Retired: never queued or run again.
pub(crate) const DEAD: u8 = 4;

/// State after a schedule request, and whether the caller must queue the task.
pub(crate) fn on_schedule(state: u8) -> (u8, bool) {
    match state {
        IDLE => (QUEUED, true),
        RUNNING => (RUNNING_AGAIN, false),
        s => (s, false),
    }
}

/// State when a worker takes the task from a queue; run it only if `RUNNING`.
pub(crate) fn on_pick(state: u8) -> u8 {
    match state {
        QUEUED => RUNNING,
        s => s,
    }
}

/// State when a run ends, and whether the worker must queue the task again. `more` says
/// the task stopped early with work left (its budget ran out).
pub(crate) fn on_done(state: u8, more: bool) -> (u8, bool) {
    match state {
        RUNNING if more => (QUEUED, true),
        RUNNING => (IDLE, false),
        RUNNING_AGAIN => (QUEUED, true),
        s => (s, false),
    }
}

/// Threads to add when a worker takes a task and sees `queued` more waiting with no idle
/// worker: the pool doubles, up to `max` threads.
pub(crate) fn grow_by(threads: u32, idle: u32, queued: usize, max: u32) -> u32 {
    if idle > 0 || queued == 0 || threads >= max {
        return 0;
    }
    threads.max(1).min(max - threads)
}
