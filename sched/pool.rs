// SPDX-License-Identifier: GPL-2.0

//! The worker pool: prespawned kthreads draining the class queues. It doubles (up to a cap)
//! when a worker takes a task, more are waiting and no worker is idle. Idle workers sleep.

use super::{
    classq::{ClassQueues, Fifo, NR_CLASSES},
    policy::grow_by,
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
};

/// A class queue of tasks.
pub(crate) struct TaskList(List<Task>);

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
}

struct PoolState {
    queues: ClassQueues<TaskList>,
    threads: u32,
    idle: u32,
    growing: bool,
    stopping: bool,
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

    /// Next task for a worker, or `None` when the pool stops. Also says how many threads
    /// to add.
    fn next(&self) -> Option<(ListArc<Task>, u32)> {
        let mut st = self.state.lock();
        loop {
            if st.stopping {
                return None;
            }
            if let Some(item) = st.queues.pop() {
                let add = if st.growing {
                    0
                } else {
                    grow_by(st.threads, st.idle, st.queues.len(), self.max)
                };
                st.growing |= add > 0;
                return Some((item, add));
            }
            st.idle += 1;
            self.wake.wait(&mut st);
            st.idle -= 1;
        }
    }
}

impl ThreadMain for Pool {
    fn thread_main(this: Arc<Self>, _index: u32) {
        while let Some((item, add)) = this.next() {
            if add > 0 {
                if let Err(e) = this.add_threads(add) {
                    pr_warn!("pool cannot grow: {:?}\n", e);
                }
                this.state.lock().growing = false;
            }
            Task::run_on_worker(item);
            thread::cond_resched();
        }
    }
}
