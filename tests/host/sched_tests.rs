//! Class-queue ordering, the task state machine and pool growth (`sched/`).

use crate::classq::*;
use crate::policy::*;
use proptest::prelude::*;
use std::collections::VecDeque;

struct Q(VecDeque<(usize, u32)>);

impl Fifo for Q {
    type Item = (usize, u32);
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
        self.0.append(&mut other.0);
    }
}

fn queues() -> ClassQueues<Q> {
    ClassQueues::new(std::array::from_fn(|_| Q(VecDeque::new())))
}

#[test]
fn highest_class_first_fifo_within() {
    let mut q = queues();
    q.push(1, (1, 0));
    q.push(7, (7, 0));
    q.push(1, (1, 1));
    q.push(7, (7, 1));
    q.push(3, (3, 0));
    let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
    assert_eq!(order, [(7, 0), (7, 1), (3, 0), (1, 0), (1, 1)]);
    assert_eq!(q.len(), 0);
    // Out-of-range classes are clamped to the highest.
    q.push(99, (7, 2));
    assert_eq!(q.pop(), Some((7, 2)));
}

proptest! {
    /// Against a model: every pop returns the oldest item of the highest non-empty class.
    #[test]
    fn class_queue_model(ops in proptest::collection::vec(proptest::option::of(0..NR_CLASSES), 1..200)) {
        let mut q = queues();
        let mut model: Vec<VecDeque<(usize, u32)>> = vec![VecDeque::new(); NR_CLASSES];
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Some(c) => {
                    q.push(c, (c, i as u32));
                    model[c].push_back((c, i as u32));
                }
                None => {
                    let want = model.iter_mut().rev().find_map(|m| m.pop_front());
                    prop_assert_eq!(q.pop(), want);
                }
            }
            prop_assert_eq!(q.len(), model.iter().map(|m| m.len()).sum::<usize>());
        }
    }

    /// Whatever the interleaving of schedule requests with one worker's pick and done, the
    /// task is in the queue at most once, never runs twice at once, and a request made while
    /// it runs is never lost.
    #[test]
    fn task_state_machine(ops in proptest::collection::vec(0..3u8, 1..200)) {
        let mut state = IDLE;
        let mut queued = 0;
        let mut running = false;
        let mut pending = false; // a request arrived since the run started
        for op in ops {
            match op {
                0 => {
                    let (s, push) = on_schedule(state);
                    if running { pending = true; }
                    state = s;
                    if push { queued += 1; }
                }
                1 if queued > 0 && !running => {
                    queued -= 1;
                    state = on_pick(state);
                    prop_assert_eq!(state, RUNNING);
                    running = true;
                    pending = false;
                }
                2 if running => {
                    let (s, push) = on_done(state, false);
                    running = false;
                    prop_assert_eq!(push, pending, "a request during the run must requeue it");
                    state = s;
                    if push { queued += 1; }
                }
                _ => {}
            }
            prop_assert!(queued <= 1, "queued twice");
        }
    }
}

#[test]
fn retired_tasks_stay_dead() {
    assert_eq!(on_schedule(DEAD), (DEAD, false));
    assert_eq!(on_pick(DEAD), DEAD);
    assert_eq!(on_done(DEAD, true), (DEAD, false));
    // A run that stops with work left goes back to its queue.
    assert_eq!(on_done(RUNNING, true), (QUEUED, true));
}

#[test]
fn pool_doubles_up_to_its_cap_only_when_no_worker_is_idle() {
    let w = GROW_AFTER_MS;
    assert_eq!(grow_by(2, 0, 5, 64, w), 2);
    assert_eq!(grow_by(4, 0, 1, 64, w + 100), 4);
    assert_eq!(grow_by(48, 0, 1, 64, w), 16);
    assert_eq!(grow_by(64, 0, 9, 64, w), 0);
    assert_eq!(grow_by(2, 1, 9, 64, w), 0, "an idle worker will take it");
    assert_eq!(grow_by(2, 0, 0, 64, w), 0, "nothing waits");
    assert_eq!(
        grow_by(2, 0, 800, 64, w - 1),
        0,
        "a short burst is no backlog"
    );
    assert_eq!(grow_by(2, 0, 800, 64, 0), 0, "a short burst is no backlog");
}

#[test]
fn push_all_queues_a_batch_in_order_behind_its_class() {
    let mut q = queues();
    q.push(3, (3, 0));
    q.push(5, (5, 0));
    let mut batch = Q(VecDeque::from([(3, 1), (3, 2), (3, 3)]));
    q.push_all(3, &mut batch, 3);
    assert!(batch.is_empty());
    assert_eq!(q.len(), 5);
    // An empty batch changes nothing, not even the class mask.
    q.push_all(6, &mut Q(VecDeque::new()), 0);
    let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
    assert_eq!(order, [(5, 0), (3, 0), (3, 1), (3, 2), (3, 3)]);
    assert_eq!(q.len(), 0);
}

#[test]
fn a_batch_wakes_one_worker_per_task_up_to_the_idle_ones() {
    assert_eq!(wakes(0, 800), 0);
    assert_eq!(wakes(2, 800), 2);
    assert_eq!(wakes(8, 3), 3);
    assert_eq!(wakes(8, 0), 0);
    assert_eq!(wakes(u32::MAX, usize::MAX), u32::MAX);
}

#[test]
fn a_worker_takes_its_share_of_the_queue_up_to_take_max() {
    assert_eq!(take_count(0, 0, 2), 0);
    assert_eq!(take_count(1, 1, 2), 1);
    assert_eq!(take_count(3, 1, 2), 2);
    assert_eq!(take_count(800, 1, 2), TAKE_MAX);
    assert_eq!(take_count(5, 1, 0), TAKE_MAX.min(5));
    assert_eq!(take_count(16, 1, 64), 1);
    // Several classes waiting: one task at a time, strict priority.
    assert_eq!(take_count(800, 2, 2), 1);
    assert_eq!(take_count(800, 8, 1), 1);
}

proptest! {
    /// Every waiting task is eventually taken, never more than are queued, never more than
    /// TAKE_MAX at once.
    #[test]
    fn take_count_bounds(queued in 0usize..10_000, classes in 1u32..=8, threads in 0u32..128) {
        let t = take_count(queued, classes, threads);
        prop_assert!(t <= queued);
        prop_assert!(t <= TAKE_MAX);
        prop_assert_eq!(t == 0, queued == 0);
        prop_assert!(classes == 1 || t <= 1);
    }
}

#[test]
fn classes_waiting_counts_the_non_empty_classes() {
    let mut q = queues();
    assert_eq!(q.classes_waiting(), 0);
    q.push(0, (0, 0));
    q.push(7, (7, 0));
    q.push(7, (7, 1));
    assert_eq!(q.classes_waiting(), 2);
    assert_eq!(q.pop(), Some((7, 0)));
    assert_eq!(q.pop(), Some((7, 1)));
    assert_eq!(q.classes_waiting(), 1);
    assert_eq!(q.pop(), Some((0, 0)));
    assert_eq!(q.classes_waiting(), 0);
}

#[test]
fn lanes_one_per_cpu_as_many_as_workers() {
    use crate::policy::{lane_cap, lanes_for, MAX_LANES};
    assert_eq!(lanes_for(1, 2), 1);
    assert_eq!(lanes_for(2, 2), 2);
    assert_eq!(lanes_for(8, 2), 2);
    assert_eq!(lanes_for(0, 4), 1);
    assert_eq!(lanes_for(1000, 1000), MAX_LANES);
    assert_eq!(lane_cap(64, 2), 32);
    assert_eq!(lane_cap(8, 1), 8);
    assert_eq!(lane_cap(1, 4), 1);
}
