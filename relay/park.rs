// SPDX-License-Identifier: GPL-2.0

//! Parked sessions: persistent sessions (`OMSS_SESSION_PERSIST`) whose control file was
//! closed. They keep relaying until another process adopts them (`OMSS_IOC_SESSION_ADOPT`,
//! with the session's token) or their park time runs out; then the reaper thread destroys
//! them. A hitless server restart is: the old server dies, the new one adopts.
//!
//! # Lock order
//!
//! `Parking::table` is taken after `ControlFile::sessions` (in adopt) and before nothing
//! else: sessions are destroyed only after it is released (see `session.rs`).

use super::{registry::session_event, session::Session, slots::Slots};
use crate::shim::thread::{self, Kthread, ThreadMain};
use crate::uapi;
use core::sync::atomic::Ordering::Relaxed;
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
    time::{msecs_to_jiffies, Ktime},
};

/// Most sessions parked at once, module-wide; past it, a closed file's persistent sessions
/// are destroyed as others are.
const MAX_PARKED: usize = 256;

struct Parked {
    session: Arc<Session>,
    /// When the reaper destroys it (`ktime_get`, ns).
    deadline: i64,
}

struct Table {
    parked: Slots<Parked>,
    /// The module is going away: the reaper returns.
    stop: bool,
}

/// The parked sessions of the module and their reaper.
#[pin_data]
pub(crate) struct Parking {
    #[pin]
    table: Mutex<Table>,
    /// Wakes the reaper: a session was parked, or `stop`.
    #[pin]
    wake: CondVar,
}

impl Parking {
    /// An empty table and its reaper thread; dropping the thread (after [`Parking::stop`])
    /// joins it.
    pub(crate) fn start() -> Result<(Arc<Self>, Kthread)> {
        let this = Arc::pin_init(
            pin_init!(Self {
                table <- new_mutex!(Table { parked: Slots::new(), stop: false }, "omss_parking"),
                wake <- new_condvar!("omss_parking_wake"),
            }),
            GFP_KERNEL,
        )?;
        let reaper = thread::spawn(this.clone(), kernel::c_str!("omss-reaper"), 0, None)?;
        Ok((this, reaper))
    }

    /// Parks `session` (persistent: `session.persist` is set) for its park time. If there
    /// is no memory to park it, it is destroyed.
    pub(crate) fn park(&self, session: Arc<Session>) {
        let Some((ms, _)) = session.persist else {
            session.destroy();
            return;
        };
        let deadline = Ktime::ktime_get().to_ns() + i64::from(ms) * 1_000_000;
        let mut t = self.table.lock();
        if t.stop {
            drop(t);
            session.destroy();
            return;
        }
        let parked = Parked {
            session: session.clone(),
            deadline,
        };
        if t.parked.len() >= MAX_PARKED || t.parked.insert(parked).is_err() {
            drop(t);
            session.destroy();
            return;
        }
        session.parked.store(true, Relaxed);
        // Under the table lock, so that it comes before the adoption's or reaping's event.
        session_event(uapi::OMSS_EVENT_SESSION_PARKED, session.id, 0);
        drop(t);
        self.wake.notify_all();
    }

    /// Takes parked session `id` out of the table if `token` is its token: `ENOENT` if no
    /// such session is parked, `EPERM` for a wrong token.
    pub(crate) fn adopt(&self, id: u32, token: u64) -> Result<Arc<Session>> {
        let mut t = self.table.lock();
        let p = t.parked.find(|p| p.session.id == id).ok_or(ENOENT)?;
        if p.session.persist.map(|(_, tok)| tok) != Some(token) {
            return Err(EPERM);
        }
        let p = t
            .parked
            .remove_first(|p| p.session.id == id)
            .ok_or(ENOENT)?;
        p.session.parked.store(false, Relaxed);
        session_event(uapi::OMSS_EVENT_SESSION_ADOPTED, id, 0);
        drop(t);
        Ok(p.session)
    }

    /// Stops the reaper (the module is going away) and destroys every parked session.
    pub(crate) fn stop(&self) {
        let all = {
            let mut t = self.table.lock();
            t.stop = true;
            t.parked.take_all()
        };
        self.wake.notify_all();
        for p in all.iter().flatten() {
            p.session.destroy();
        }
    }
}

impl ThreadMain for Parking {
    /// The reaper: destroys each parked session when its park time is up. Sleeps
    /// interruptibly (a kthread gets no signals), so it adds nothing to the load average.
    fn thread_main(this: Arc<Self>, _index: u32) {
        let mut t = this.table.lock();
        while !t.stop {
            let now = Ktime::ktime_get().to_ns();
            if let Some(p) = t.parked.remove_first(|p| p.deadline <= now) {
                drop(t);
                p.session.destroy();
                t = this.table.lock();
                continue;
            }
            match t.parked.iter().map(|p| p.deadline).min() {
                Some(d) => {
                    let ms = ((d - now) / 1_000_000 + 1).clamp(1, i64::from(u32::MAX)) as u32;
                    let _ = this
                        .wake
                        .wait_interruptible_timeout(&mut t, msecs_to_jiffies(ms));
                }
                None => {
                    let _ = this.wake.wait_interruptible(&mut t);
                }
            }
        }
    }
}
