//! Host tests of OMSS's pure kernel-side logic. The kernel sources are compiled here
//! unchanged (by `#[path]`), so what is tested is what the module runs.
#![cfg(test)]

#[path = "../../relay/args.rs"]
mod args;
#[path = "../../sched/classq.rs"]
mod classq;
#[path = "../../buffer/policy.rs"]
mod drop_policy;
#[path = "../../sched/policy.rs"]
mod policy;
#[path = "../../buffer/ring.rs"]
mod ring;

mod args_tests;
mod drop_policy_tests;
mod ring_tests;
mod sched_tests;
