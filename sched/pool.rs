// SPDX-License-Identifier: GPL-2.0

//! The worker pool: prespawned kthreads draining priority class queues.
//!
//! The pool has one *lane* per CPU it uses (at most [`MAX_LANES`]): its own class queues
//! and workers bound to that CPU. Each task belongs to one lane for its life, so one sink's
//! sends always leave from one CPU, in order (packets sent from two CPUs can overtake each
//! other in the per-CPU backlogs of the stack). A lane's workers double (up to a cap) when
//! its tasks have kept waiting for `GROW_AFTER_MS` with no worker idle. A worker takes a
//! few tasks per lock when many of one class wait, so the queue lock is not taken once per
//! sink and entry.
//!
//! Lock order: `Pool::threads` (a mutex) before any `Lane::state` (a `spin_lock_bh`, the
//! innermost of all OMSS locks: socket callbacks take it in softirq); never two lanes'
//! states at once. Idle workers sleep interruptibly, so they neither count in the load
//! average nor look hung. Nothing is dropped under a lane's state: dropping a task can
//! drop its sockets.

use super::{
    classq::{ClassQueues, Fifo, NR_CLASSES},
    policy::{grow_by, lane_cap, take_count, wakes},
    task::Task,
};
use crate::shim::{
    self,
    lock::{new_spinlock_bh, SpinLockBh},
    thread::{self, Kthread, ThreadMain},
};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use kernel::{
    list::{List, ListArc},
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
    time::Ktime,
};

pub(crate) use super::policy::MAX_LANES;

/// A lane failed to grow (warned about once).
static GROW_FAILED: AtomicBool = AtomicBool::new(false);

/// A class queue of tasks.
pub(crate) struct TaskList(pub(crate) List<Task>);

impl TaskList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self(List::new())
    }
}

impl Fifo for TaskList {
    type Item = ListArc<Task>;
    fn push_back(&mut self, item: Self::Item) {
        self.0.push_back(item);
    }
    fn pop_front(&mut self) -> Option<Self::Item> {
        self.0.pop_front()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn append(&mut self, other: &mut Self) {
        self.0.push_all_back(&mut other.0);
    }
}

struct LaneState {
    queues: ClassQueues<TaskList>,
    threads: u32,
    idle: u32,
    growing: bool,
    stopping: bool,
    /// Pauses in force (`Pool::pause`): while any, workers take no tasks.
    paused: u32,
    /// Since when (ms) tasks have been waiting with no worker idle.
    backlog_since: Option<i64>,
}

/// One CPU's queues and workers.
#[pin_data]
pub(crate) struct Lane {
    #[pin]
    state: SpinLockBh<LaneState>,
    #[pin]
    wake: CondVar,
    /// The lane's place in the pool.
    pub(crate) index: usize,
    /// The CPU its workers are bound to.
    cpu: u32,
    /// Most workers it may have.
    max: u32,
}

impl Lane {
    fn new(index: usize, cpu: u32, max: u32) -> Result<Arc<Self>> {
        let state = LaneState {
            queues: ClassQueues::new([const { TaskList::new() }; NR_CLASSES]),
            threads: 0,
            idle: 0,
            growing: false,
            stopping: false,
            paused: 0,
            backlog_since: None,
        };
        Arc::pin_init(
            pin_init!(Self {
                state <- new_spinlock_bh!(state, "omss_lane"),
                wake <- new_condvar!("omss_lane_wake"),
                index,
                cpu,
                max,
            }),
            GFP_KERNEL,
        )
    }

    /// Queues a task in `class` and wakes a worker.
    pub(crate) fn push(&self, class: usize, item: ListArc<Task>) {
        let mut st = self.state.lock();
        st.queues.push(class, item);
        let wake = st.idle > 0;
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Queues the `n` tasks of `list` in `class` at once and wakes up to `n` idle workers.
    pub(crate) fn push_all(&self, class: usize, list: &mut TaskList, n: usize) {
        let mut st = self.state.lock();
        st.queues.push_all(class, list, n);
        let wake = wakes(st.idle, n);
        drop(st);
        // Outside the lock, so that woken workers do not spin on it. No wakeup is lost: a
        // worker looks at the queues under the lock before it waits.
        for _ in 0..wake {
            self.wake.notify_one();
        }
    }

    /// Moves the next tasks for a worker into `batch` (see [`take_count`]), or returns `None`
    /// when the pool stops. Also says how many workers to add to this lane.
    fn next(&self, batch: &mut TaskList) -> Option<u32> {
        let mut st = self.state.lock();
        loop {
            if st.stopping {
                return None;
            }
            let queued = st.queues.len();
            let take = if st.paused > 0 {
                0
            } else {
                take_count(queued, st.queues.classes_waiting(), st.threads)
            };
            if take > 0 {
                for _ in 0..take {
                    if let Some(item) = st.queues.pop() {
                        batch.0.push_back(item);
                    }
                }
                // The backlog lasts from when tasks first waited with no worker idle until a
                // worker finds nothing to do.
                let now = Ktime::ktime_get().to_ms();
                let waited = if st.idle == 0 {
                    now - *st.backlog_since.get_or_insert(now)
                } else {
                    st.backlog_since = None;
                    0
                };
                let add = if st.growing {
                    0
                } else {
                    grow_by(st.threads, st.idle, queued, self.max, waited)
                };
                st.growing |= add > 0;
                return Some(add);
            }
            st.backlog_since = None;
            st.idle += 1;
            // Kernel threads take no signals: a wakeup is a notify (or spurious).
            let _ = self.wake.wait_interruptible(&mut st);
            st.idle -= 1;
        }
    }
}

/// The relay engine's lanes and workers.
#[pin_data]
pub(crate) struct Pool {
    lanes: KVec<Arc<Lane>>,
    #[pin]
    threads: Mutex<KVec<Kthread>>,
    /// Round-robin lane choice for new tasks.
    next_lane: AtomicU32,
}

/// What a worker thread runs on.
struct Worker {
    pool: Arc<Pool>,
    lane: Arc<Lane>,
}

impl Pool {
    /// Starts `initial` workers over `lanes` lanes (one per online CPU, from the first); the
    /// pool may grow to `max` workers in all.
    pub(crate) fn start(lanes: usize, initial: u32, max: u32) -> Result<Arc<Self>> {
        let lanes = lanes.clamp(1, MAX_LANES);
        let mut v = KVec::with_capacity(lanes, GFP_KERNEL)?;
        for i in 0..lanes {
            let cpu = shim::online_cpu(i).ok_or(EINVAL)?;
            v.push(Lane::new(i, cpu, lane_cap(max, lanes))?, GFP_KERNEL)?;
        }
        let pool = Arc::pin_init(
            pin_init!(Self {
                lanes: v,
                threads <- new_mutex!(KVec::new(), "omss_pool_threads"),
                next_lane: AtomicU32::new(0),
            }),
            GFP_KERNEL,
        )?;
        let initial = initial.max(lanes as u32);
        for i in 0..initial as usize {
            if let Err(e) = pool.add_threads(&pool.lanes[i % lanes], 1) {
                pool.stop();
                return Err(e);
            }
        }
        Ok(pool)
    }

    /// The lane for a new task: round robin.
    pub(crate) fn pick_lane(&self) -> Result<Arc<Lane>> {
        let n = self.next_lane.fetch_add(1, Relaxed) as usize;
        // `start` made at least one lane; no panic path for objtool either.
        let i = n.checked_rem(self.lanes.len()).unwrap_or(0);
        self.lanes.get(i).cloned().ok_or(EINVAL)
    }

    /// Worker threads, and how many of them are idle.
    pub(crate) fn threads(&self) -> (u32, u32) {
        self.lanes.iter().fold((0, 0), |(t, i), lane| {
            let st = lane.state.lock();
            (t + st.threads, i + st.idle)
        })
    }

    /// Adds `n` workers to `lane`, unless the pool is stopping. A thread that was spawned is
    /// either in `threads` or, if it cannot be stored, stopped at once (`Kthread`'s drop).
    fn add_threads(self: &Arc<Self>, lane: &Arc<Lane>, n: u32) -> Result {
        let mut threads = self.threads.lock();
        if lane.state.lock().stopping {
            return Err(Error::from_errno(-(kernel::bindings::ESHUTDOWN as i32)));
        }
        threads.reserve(n as usize, GFP_KERNEL)?;
        for _ in 0..n {
            let index = threads.len() as u32;
            let worker = Arc::new(
                Worker {
                    pool: self.clone(),
                    lane: lane.clone(),
                },
                GFP_KERNEL,
            )?;
            threads.push(
                thread::spawn(worker, kernel::c_str!("omss"), index, Some(lane.cpu))?,
                GFP_KERNEL,
            )?;
            lane.state.lock().threads += 1;
        }
        Ok(())
    }

    /// Pauses (`true`) or resumes the workers: while paused, tasks wait in their queues.
    /// Pauses nest; each `pause(true)` needs its `pause(false)`.
    pub(crate) fn pause(&self, on: bool) {
        for lane in self.lanes.iter() {
            let mut st = lane.state.lock();
            if on {
                st.paused += 1;
            } else {
                st.paused = st.paused.saturating_sub(1);
            }
            let resume = st.paused == 0 && st.queues.len() > 0;
            drop(st);
            if resume {
                lane.wake.notify_all();
            }
        }
    }

    /// Stops and joins every worker; no worker starts after this. Tasks still queued are
    /// dropped unrun, outside the queue locks.
    pub(crate) fn stop(&self) {
        let threads = {
            let mut threads = self.threads.lock();
            for lane in self.lanes.iter() {
                lane.state.lock().stopping = true;
            }
            core::mem::take(&mut *threads)
        };
        for lane in self.lanes.iter() {
            lane.wake.notify_all();
        }
        // Dropping a `Kthread` stops and joins it.
        drop(threads);
        for lane in self.lanes.iter() {
            let mut left = TaskList::new();
            let mut st = lane.state.lock();
            while let Some(item) = st.queues.pop() {
                left.0.push_back(item);
            }
            drop(st);
            drop(left);
        }
    }
}

impl ThreadMain for Worker {
    fn thread_main(this: Arc<Self>, _index: u32) {
        let lane = &this.lane;
        let mut batch = TaskList::new();
        while let Some(add) = lane.next(&mut batch) {
            if add > 0 {
                // Said once: under memory pressure this could repeat every backlog.
                if let Err(e) = this.pool.add_threads(lane, add) {
                    if !GROW_FAILED.swap(true, Relaxed) {
                        pr_warn!("lane {} cannot grow: {:?}\n", lane.index, e);
                    }
                }
                lane.state.lock().growing = false;
            }
            while let Some(item) = batch.0.pop_front() {
                Task::run_on_worker(item);
                thread::cond_resched();
            }
        }
    }
}
