// SPDX-License-Identifier: GPL-2.0

//! The worker pool: prespawned kthreads draining the class queues. It doubles (up to a cap)
//! when tasks have kept waiting for `GROW_AFTER_MS` with no worker idle. Idle workers sleep.
//! A worker takes a few tasks per lock when many of one class wait, so the queue lock is
//! not taken once per sink and entry.

use super::{
    classq::{ClassQueues, Fifo, NR_CLASSES},
    policy::{grow_by, take_count, wakes},
    task::Task,
};
use crate::shim::{
    lock::{new_spinlock_bh, SpinLockBh},
    thread::{self, Kthread, ThreadMain},
};
use kernel::{
    list::{List, ListArc},
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
    time::Ktime,
};

/// A class queue of tasks.
pub(crate) struct TaskList(pub(crate) List<Task>);

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

struct PoolState {
    queues: ClassQueues<TaskList>,
    threads: u32,
    idle: u32,
    growing: bool,
    stopping: bool,
    /// Since when (ms) tasks have been waiting with no worker idle.
    backlog_since: Option<i64>,
}

/// The relay engine's workers and queues.
#[pin_data]
pub(crate) struct Pool {
    #[pin]
    state: SpinLockBh<PoolState>,
    #[pin]
    wake: CondVar,
    #[pin]
    threads: Mutex<KVec<Kthread>>,
    max: u32,
}

impl Pool {
    /// Starts `initial` workers; the pool may grow to `max`.
    pub(crate) fn start(initial: u32, max: u32) -> Result<Arc<Self>> {
        let queues = ClassQueues::new([const { TaskList(List::new()) }; NR_CLASSES]);
        let state = PoolState {
            queues,
            threads: 0,
            idle: 0,
            growing: false,
            stopping: false,
            backlog_since: None,
        };
        let pool = Arc::pin_init(
            pin_init!(Self {
                state <- new_spinlock_bh!(state, "omss_pool"),
                wake <- new_condvar!("omss_pool_wake"),
                threads <- new_mutex!(KVec::new(), "omss_pool_threads"),
                max,
            }),
            GFP_KERNEL,
        )?;
        if let Err(e) = pool.add_threads(initial.max(1)) {
            pool.stop();
            return Err(e);
        }
        Ok(pool)
    }

    /// Worker threads, and how many of them are idle.
    pub(crate) fn threads(&self) -> (u32, u32) {
        let st = self.state.lock();
        (st.threads, st.idle)
    }

    fn add_threads(self: &Arc<Self>, n: u32) -> Result {
        let mut threads = self.threads.lock();
        for _ in 0..n {
            let index = threads.len() as u32;
            threads.push(thread::spawn(self.clone(), index)?, GFP_KERNEL)?;
            self.state.lock().threads += 1;
        }
        Ok(())
    }

    /// Queues a task in `class` and wakes a worker.
    pub(crate) fn push(&self, class: usize, item: ListArc<Task>) {
        let mut st = self.state.lock();
        st.queues.push(class, item);
        if st.idle > 0 {
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

    /// Stops and joins every worker. Tasks still queued are dropped unrun.
    pub(crate) fn stop(&self) {
        self.state.lock().stopping = true;
        self.wake.notify_all();
        let threads = core::mem::take(&mut *self.threads.lock());
        for t in threads {
            t.stop();
        }
        let mut st = self.state.lock();
        while st.queues.pop().is_some() {}
    }

    /// Moves the next tasks for a worker into `batch` (see [`take_count`]), or returns `None`
    /// when the pool stops. Also says how many threads to add.
    fn next(&self, batch: &mut TaskList) -> Option<u32> {
        let mut st = self.state.lock();
        loop {
            if st.stopping {
                return None;
            }
            let queued = st.queues.len();
            let take = take_count(queued, st.queues.classes_waiting(), st.threads);
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
            self.wake.wait(&mut st);
            st.idle -= 1;
        }
    }
}

impl ThreadMain for Pool {
    fn thread_main(this: Arc<Self>, _index: u32) {
        let mut batch = TaskList(List::new());
        while let Some(add) = this.next(&mut batch) {
            if add > 0 {
                if let Err(e) = this.add_threads(add) {
                    pr_warn!("pool cannot grow: {:?}\n", e);
                }
                this.state.lock().growing = false;
            }
            while let Some(item) = batch.0.pop_front() {
                Task::run_on_worker(item);
                thread::cond_resched();
            }
        }
    }
}
