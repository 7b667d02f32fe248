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

/// How long tasks must have kept waiting, with no worker idle, before the pool grows (ms).
/// Short bursts (a new entry queues a task per sink) are the workers' normal diet; only
/// a backlog that persists means the workers cannot keep up or are blocked.
pub(crate) const GROW_AFTER_MS: i64 = 50;

/// Threads to add when a worker finds `queued` tasks waiting, no worker idle, and workers
/// busy without a pause for `waited_ms`: the pool doubles, up to `max` threads.
pub(crate) fn grow_by(threads: u32, idle: u32, queued: usize, max: u32, waited_ms: i64) -> u32 {
    if idle > 0 || queued == 0 || threads >= max || waited_ms < GROW_AFTER_MS {
        return 0;
    }
    threads.max(1).min(max - threads)
}

/// Workers to wake for `queued` new tasks when `idle` workers sleep: one per task, at most
/// every idle worker.
pub(crate) fn wakes(idle: u32, queued: usize) -> u32 {
    idle.min(u32::try_from(queued).unwrap_or(u32::MAX))
}

/// Most tasks a worker takes from the queues at once.
pub(crate) const TAKE_MAX: usize = 8;

/// Tasks a worker takes at once when `queued` tasks of `classes` classes wait and the pool has
/// `threads` workers. While one class waits: its fair share, at least one and at most
/// [`TAKE_MAX`], so a task of a higher class that comes meanwhile waits for at most
/// `TAKE_MAX - 1` tasks of that worker. While several wait: one, strict priority.
pub(crate) fn take_count(queued: usize, classes: u32, threads: u32) -> usize {
    match (queued, classes) {
        (0, _) => 0,
        (_, 2..) => 1,
        _ => queued
            .div_ceil((threads as usize).max(1))
            .clamp(1, TAKE_MAX),
    }
}

/// Most lanes (CPUs with their own queues and workers) a pool has.
pub(crate) const MAX_LANES: usize = 16;

/// Lanes for a pool of `workers` initial workers on `online_cpus` CPUs: one per CPU, as many
/// as workers, at least 1 and at most [`MAX_LANES`].
pub(crate) fn lanes_for(workers: u32, online_cpus: u32) -> usize {
    (workers.min(online_cpus) as usize).clamp(1, MAX_LANES)
}

/// Most workers one of `lanes` lanes may grow to when the pool may have `max` in all: an
/// equal share, at least 1.
pub(crate) fn lane_cap(max: u32, lanes: usize) -> u32 {
    (max / (lanes.max(1) as u32)).max(1)
}
