// SPDX-License-Identifier: GPL-2.0

//! Tasks: a source or sink job of a session, queued in its priority class.

use super::{
    policy,
    pool::{Lane, Pool, TaskList, MAX_LANES},
};
use crate::shim::sock::SockEvents;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Task runs so far, module-wide.
pub(crate) static TASKS_RUN: AtomicU64 = AtomicU64::new(0);
use kernel::{
    list::{AtomicTracker, ListArc, ListLinks, TryNewListArc},
    prelude::*,
    sync::{Arc, ArcBorrow},
};

/// The work behind a task.
pub(crate) trait Job: Send + Sync {
    /// Does a bounded amount of work; returns `true` if work is left. `run_no` numbers the
    /// engine's task runs, module-wide, from 1.
    fn run(&self, run_no: u64) -> bool;
    /// Whether socket `events` should schedule this job. Runs in softirq: atomics only.
    fn wants(&self, events: u32) -> bool;
}

/// A schedulable job with its class and run state.
#[pin_data]
pub(crate) struct Task {
    #[pin]
    links: ListLinks<0>,
    #[pin]
    tracker: AtomicTracker<0>,
    state: AtomicU8,
    class: u8,
    /// Where it is queued and run, for life.
    lane: Arc<Lane>,
    job: Arc<dyn Job>,
}

kernel::list::impl_has_list_links! {
    impl HasListLinks<0> for Task { self.links }
}
kernel::list::impl_list_arc_safe! {
    impl ListArcSafe<0> for Task { tracked_by tracker: AtomicTracker<0>; }
}
kernel::list::impl_list_item! {
    impl ListItem<0> for Task { using ListLinks; }
}

impl Task {
    /// A new idle task of `class` running `job` on one of `pool`'s lanes.
    pub(crate) fn new(pool: &Pool, class: u8, job: Arc<dyn Job>) -> Result<Arc<Self>> {
        let lane = pool.pick_lane()?;
        Arc::pin_init(
            pin_init!(Self {
                links <- ListLinks::new(),
                tracker <- AtomicTracker::new(),
                state: AtomicU8::new(policy::IDLE),
                class,
                lane,
                job,
            }),
            GFP_KERNEL,
        )
    }

    /// Queues the task unless it is queued already; if it is running, it runs again after.
    pub(crate) fn schedule(task: ArcBorrow<'_, Self>) {
        if task.mark_queued() {
            task.enqueue(ListArc::try_from_arc_borrow(task));
        }
    }

    /// Moves the state on for a schedule request; `true` if the caller must queue the task.
    fn mark_queued(&self) -> bool {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                let (new, _) = policy::on_schedule(s);
                (new != s).then_some(new)
            })
            .is_ok_and(|old| policy::on_schedule(old).1)
    }

    /// Never runs the task again (a queued copy is skipped).
    pub(crate) fn retire(&self) {
        self.state.store(policy::DEAD, Ordering::Release);
    }

    fn enqueue(&self, item: Option<ListArc<Self>>) {
        match item {
            Some(item) => self.lane.push(self.class as usize, item),
            // The state machine guarantees one queued copy; this would be a bug.
            None => pr_warn!("task queued twice\n"),
        }
    }

    /// Runs the task on a worker (taken from a queue).
    pub(crate) fn run_on_worker(item: ListArc<Self>) {
        let task = item.into_arc();
        // One atomic step, so that a `retire` meanwhile is never overwritten.
        let picked = task
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                let new = policy::on_pick(s);
                (new != s).then_some(new)
            })
            .is_ok_and(|old| policy::on_pick(old) == policy::RUNNING);
        if !picked {
            return; // retired while queued
        }
        let run_no = TASKS_RUN.fetch_add(1, Ordering::Relaxed) + 1;
        let more = task.job.run(run_no);
        let Ok(old) = task
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                let (new, _) = policy::on_done(s, more);
                (new != s).then_some(new)
            })
        else {
            return;
        };
        if policy::on_done(old, more).1 {
            let arc = task.clone();
            task.enqueue(ListArc::try_from_arc(arc).ok());
        }
    }
}

/// Tasks of one class scheduled together (a new entry wakes many sinks): they reach each
/// lane with one lock and one wakeup per idle worker when the batch is dropped, after the
/// caller's locks.
pub(crate) struct Batch {
    lanes: [(TaskList, usize); MAX_LANES],
    /// The first task queued here: its class is the batch's.
    first: Option<Arc<Task>>,
}

impl Batch {
    /// An empty batch.
    pub(crate) fn new() -> Self {
        Self {
            lanes: [const { (TaskList::new(), 0) }; MAX_LANES],
            first: None,
        }
    }

    /// Like [`Task::schedule`], but the queueing waits for the batch to be dropped.
    pub(crate) fn schedule(&mut self, task: ArcBorrow<'_, Task>) {
        if !task.mark_queued() {
            return;
        }
        let item = ListArc::try_from_arc_borrow(task);
        let same = self.first.as_ref().map_or(true, |f| f.class == task.class);
        match (item, self.lanes.get_mut(task.lane.index)) {
            (Some(item), Some((list, n))) if same => {
                self.first.get_or_insert_with(|| task.into());
                list.0.push_back(item);
                *n += 1;
            }
            (item, _) => task.enqueue(item),
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let Some(first) = self.first.take() else {
            return;
        };
        for (list, n) in self.lanes.iter_mut() {
            if let Some(item) = list.0.pop_front() {
                let lane = item.lane.clone();
                list.0.push_front(item);
                lane.push_all(first.class as usize, list, *n);
            }
        }
    }
}

impl SockEvents for Task {
    fn on_event(this: ArcBorrow<'_, Self>, events: u32) {
        if this.job.wants(events) {
            Task::schedule(this);
        }
    }
}
