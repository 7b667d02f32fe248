//! `omss-stress`: concurrency stress of the `/dev/omss` ioctls while a stream flows.
//!
//! One "main" session relays a UDP stream (bound to `--source-port`, fed from outside) to a
//! few UDP sinks (`--sink ADDR:PORT`, repeatable). Then the process forks (after opening the
//! device, so every process shares the one open file and its sessions) and each process runs
//! `--threads` threads that, with per-thread seeded RNGs, add and remove sinks of the main
//! session, read session and engine stats, create extra sessions (source, sinks, a few
//! datagrams) and destroy them, destroy sessions that other threads (and the other process)
//! are using, open a second `/dev/omss`, create sessions on it and close it without
//! destroying them, and race SESSION_DESTROY against SOURCE_SET/SINK_ADD on one session.
//! Every errno outside the set allowed for the operation is a failure. Sockets of destroyed
//! sessions and of closed files must be given back (they can join the main session again).
//! At the end the main session's sink count must match the adds and removes, and once
//! everything is destroyed and closed no session, entry or page may be left module-wide.
//! Prints TAP 13; exits non-zero on any failure. Runs as root in the guest.

mod common;

use common::{diag, ename, engine_text, errno, finish_drained, flush, Args, Rng, Tap};
use omss_uapi::*;
use omssctl::dev::Device;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Extra session ids published for other threads and processes to destroy or query.
const SESSION_SLOTS: usize = 64;
/// Main-session sinks added by the workers and not yet removed, at most (bounds the load).
const SINK_SLOTS: usize = 40;
/// errno buckets in the histograms.
const NE: usize = 128;
const MAX_PROCS: usize = 8;

#[derive(Clone, Copy)]
enum Ioc {
    Create,
    SourceSet,
    SinkAdd,
    SinkRemove,
    Destroy,
    SessionStats,
    EngineStats,
    Open,
}
const IOC_NAMES: [&str; 8] = [
    "SESSION_CREATE",
    "SOURCE_SET",
    "SINK_ADD",
    "SINK_REMOVE",
    "SESSION_DESTROY",
    "SESSION_STATS",
    "ENGINE_STATS",
    "open(/dev/omss)",
];

#[derive(Clone, Copy)]
enum Scen {
    ExtraCreated,
    ExtraDestroyedByOwner,
    DestroyedOthers,
    SecondFdClosed,
    SecondFdSessions,
    Races,
    RacesAddFirst,
    RacesDestroyFirst,
}
const SCEN_NAMES: [&str; 8] = [
    "extra sessions created",
    "extra sessions destroyed by their thread",
    "sessions of other threads destroyed",
    "second fds closed with live sessions",
    "sessions on second fds (destroyed by close)",
    "destroy vs source/sink races",
    "  of which some SINK_ADD/SOURCE_SET won",
    "  of which DESTROY won",
];

/// Counters and published ids, in memory shared by all processes (MAP_SHARED).
#[repr(C)]
struct Shared {
    sessions: [AtomicU32; SESSION_SLOTS],
    sinks: [AtomicU32; SINK_SLOTS],
    max_sink: AtomicU32,
    main_added: AtomicU64,
    main_removed: AtomicU64,
    ok: [AtomicU64; 8],
    refused: [[AtomicU64; NE]; 8],
    scen: [AtomicU64; 8],
    failures: [AtomicU64; MAX_PROCS],
    printed: AtomicU32,
    giveback_checks: AtomicU64,
    giveback_src_checks: AtomicU64,
    giveback_failures: AtomicU64,
}

fn shared() -> &'static Shared {
    let len = std::mem::size_of::<Shared>();
    // SAFETY: a fresh anonymous shared mapping, zero-filled; all-zero atomics are valid.
    // It is never unmapped, so the reference lives as long as the process.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert!(p != libc::MAP_FAILED, "mmap shared: {}", ename(errno()));
        &*(p as *const Shared)
    }
}

/// Puts `id` in a free slot; None if none is free.
fn publish(slots: &[AtomicU32], id: u32, rng: &mut Rng) -> Option<usize> {
    let start = rng.below(slots.len() as u64) as usize;
    (0..slots.len())
        .map(|i| (start + i) % slots.len())
        .find(|&i| slots[i].compare_exchange(0, id, Relaxed, Relaxed).is_ok())
}

/// Takes a published id out of its slot (0 if none found after a few tries).
fn take_any(slots: &[AtomicU32], rng: &mut Rng) -> u32 {
    for _ in 0..4 {
        let i = rng.below(slots.len() as u64) as usize;
        let id = slots[i].swap(0, Relaxed);
        if id != 0 {
            return id;
        }
    }
    0
}

fn peek_any(slots: &[AtomicU32], rng: &mut Rng) -> u32 {
    for _ in 0..4 {
        let id = slots[rng.below(slots.len() as u64) as usize].load(Relaxed);
        if id != 0 {
            return id;
        }
    }
    0
}

/// Waits until both sides of a race got here (yielding now and then: the other side may
/// not be running).
fn spin_barrier(go: &AtomicU32) {
    go.fetch_add(1, Relaxed);
    let mut n = 0u32;
    while go.load(Relaxed) < 2 {
        n += 1;
        if n.is_multiple_of(1000) {
            std::thread::yield_now();
        }
        std::hint::spin_loop();
    }
}

fn spin(n: u64) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// What a worker shares with its process.
struct Ctx<'a> {
    dev: &'a Device,
    sh: &'static Shared,
    main: u32,
    sinks: &'a [SocketAddr],
    proc_idx: usize,
}

/// A thread's extra session and the sockets it handed over.
struct Extra {
    id: u32,
    slot: Option<usize>,
    src: Option<UdpSocket>,
    sinks: Vec<UdpSocket>,
}

struct Worker<'a> {
    c: &'a Ctx<'a>,
    who: String,
    rng: Rng,
    kept: VecDeque<UdpSocket>,
    extras: Vec<Extra>,
    feeder: Option<UdpSocket>,
}

const ENOENT: i32 = libc::ENOENT;
const EBUSY: i32 = libc::EBUSY;
const ENOSPC: i32 = libc::ENOSPC;
const FD_LIMITS: [i32; 2] = [libc::EMFILE, libc::ENFILE];

impl Worker<'_> {
    fn fail(&self, msg: &str) {
        let sh = self.c.sh;
        sh.failures[self.c.proc_idx].fetch_add(1, Relaxed);
        if sh.printed.fetch_add(1, Relaxed) < 60 {
            println!("# FAIL {}: {msg}", self.who);
            flush();
        }
    }

    /// Counts the result of one ioctl; an errno outside `allowed` is a failure.
    fn rec<T>(&self, ioc: Ioc, r: Result<T, i32>, allowed: &[i32], what: &str) -> Option<T> {
        let sh = self.c.sh;
        match r {
            Ok(v) => {
                sh.ok[ioc as usize].fetch_add(1, Relaxed);
                Some(v)
            }
            Err(e) => {
                sh.refused[ioc as usize][(e.max(0) as usize).min(NE - 1)].fetch_add(1, Relaxed);
                if !allowed.contains(&e) {
                    self.fail(&format!(
                        "{} ({what}): unexpected {}",
                        IOC_NAMES[ioc as usize],
                        ename(e)
                    ));
                }
                None
            }
        }
    }

    fn scen(&self, s: Scen) {
        self.c.sh.scen[s as usize].fetch_add(1, Relaxed);
    }

    /// A new UDP socket connected to one of the subscribers; None when out of fds.
    fn sink_socket(&mut self) -> Option<UdpSocket> {
        let to = *self.rng.pick(self.c.sinks);
        let bind: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
            .parse()
            .unwrap();
        match UdpSocket::bind(bind).and_then(|s| s.connect(to).map(|_| s)) {
            Ok(s) => Some(s),
            Err(e) if FD_LIMITS.contains(&e.raw_os_error().unwrap_or(0)) => None,
            Err(e) => {
                self.fail(&format!("cannot make a UDP sink socket to {to}: {e}"));
                None
            }
        }
    }

    /// A UDP socket bound to a free loopback port, for a source.
    fn source_socket(&mut self) -> Option<UdpSocket> {
        match UdpSocket::bind("127.0.0.1:0") {
            Ok(s) => Some(s),
            Err(e) if FD_LIMITS.contains(&e.raw_os_error().unwrap_or(0)) => None,
            Err(e) => {
                self.fail(&format!("cannot bind a UDP source socket: {e}"));
                None
            }
        }
    }

    /// Sends a few datagrams to a source socket, so its session has something to relay.
    fn feed(&mut self, src: &UdpSocket) {
        let (Some(f), Ok(to)) = (&self.feeder, src.local_addr()) else {
            return;
        };
        let n = self.rng.range(1, 3);
        let len = self.rng.range(16, 1400) as usize;
        for _ in 0..n {
            let _ = f.send_to(&vec![0x5a; len], to);
        }
    }

    fn live_main_sinks(&self) -> u64 {
        let sh = self.c.sh;
        sh.main_added
            .load(Relaxed)
            .saturating_sub(sh.main_removed.load(Relaxed))
    }

    fn add_main(&self, fd: i32, what: &str, allowed: &[i32]) -> Option<u32> {
        let id = self.rec(
            Ioc::SinkAdd,
            self.c.dev.add_sink(self.c.main, fd),
            allowed,
            what,
        )?;
        self.c.sh.main_added.fetch_add(1, Relaxed);
        self.c.sh.max_sink.fetch_max(id, Relaxed);
        Some(id)
    }

    fn remove_main(&self, id: u32, what: &str) {
        let r = self.c.dev.remove_sink(self.c.main, id);
        if self.rec(Ioc::SinkRemove, r, &[ENOENT], what).is_some() {
            self.c.sh.main_removed.fetch_add(1, Relaxed);
        }
    }

    fn op_add_main(&mut self) {
        if self.live_main_sinks() >= SINK_SLOTS as u64 {
            return self.op_remove_main();
        }
        let Some(sock) = self.sink_socket() else {
            return;
        };
        let Some(id) = self.add_main(sock.as_raw_fd(), "main session, new socket", &[ENOSPC])
        else {
            return;
        };
        if publish(&self.c.sh.sinks, id, &mut self.rng).is_none() {
            self.remove_main(id, "main session, no free slot");
        }
        // Keep some sockets open for a while, close others at once: OMSS holds its own
        // reference either way.
        if self.rng.pct(70) {
            self.kept.push_back(sock);
            if self.kept.len() > 8 {
                self.kept.pop_front();
            }
        }
    }

    fn op_remove_main(&mut self) {
        let id = if self.rng.pct(80) {
            take_any(&self.c.sh.sinks, &mut self.rng)
        } else {
            // Any id so far, maybe one another thread still counts on, maybe one of the
            // setup's sinks, maybe not yet given out.
            self.rng
                .range(1, self.c.sh.max_sink.load(Relaxed) as u64 + 2) as u32
        };
        if id != 0 {
            self.remove_main(id, "main session");
        }
    }

    fn op_stats_main(&mut self) {
        let cap = self.rng.below(65) as usize;
        let r = self.c.dev.stats(self.c.main, cap);
        if let Some((s, sinks)) = self.rec(Ioc::SessionStats, r, &[], "main session") {
            if s.state != OMSS_SESSION_RUNNING {
                self.fail(&format!("main session in state {} mid-stream", s.state));
            }
            if sinks.len() > cap || s.priority != 4 || s.mode != OMSS_MODE_SHARE {
                self.fail(&format!(
                    "main session stats wrong: {} sinks for room {cap}, priority {}, mode {}",
                    sinks.len(),
                    s.priority,
                    s.mode
                ));
            }
        }
    }

    fn op_engine_stats(&mut self) {
        if let Some(s) = self.rec(Ioc::EngineStats, self.c.dev.engine_stats(), &[], "") {
            if s.sessions == 0 || s.workers == 0 {
                self.fail(&format!("engine stats wrong mid-run: {}", engine_text(&s)));
            }
        }
    }

    fn random_session(&mut self) -> (u32, u32, u32) {
        let prio = self.rng.below(OMSS_NR_CLASSES as u64) as u32;
        let mode = if self.rng.pct(30) {
            OMSS_MODE_COPY
        } else {
            OMSS_MODE_SHARE
        };
        let ring = if self.rng.pct(50) {
            0
        } else {
            self.rng.range(2, 64) as u32
        };
        (prio, mode, ring)
    }

    /// Checks that a socket handed to a session that is now gone is the server's again:
    /// it can join the main session (and leaves it at once).
    fn given_back(&mut self, sock: &UdpSocket, what: &str) {
        let sh = self.c.sh;
        sh.giveback_checks.fetch_add(1, Relaxed);
        match self.c.dev.add_sink(self.c.main, sock.as_raw_fd()) {
            Ok(id) => {
                sh.ok[Ioc::SinkAdd as usize].fetch_add(1, Relaxed);
                sh.main_added.fetch_add(1, Relaxed);
                sh.max_sink.fetch_max(id, Relaxed);
                self.remove_main(id, "give-back probe");
            }
            Err(ENOSPC) => {}
            Err(e) => {
                sh.refused[Ioc::SinkAdd as usize][(e.max(0) as usize).min(NE - 1)]
                    .fetch_add(1, Relaxed);
                sh.giveback_failures.fetch_add(1, Relaxed);
                self.fail(&format!(
                    "{what}: a socket of a destroyed session is not given back \
                     (SINK_ADD to the main session: {})",
                    ename(e)
                ));
            }
        }
    }

    /// Connects a (former) source socket to itself (it is bound to loopback), so that it
    /// can be probed as a sink.
    fn given_back_source(&mut self, src: &UdpSocket, what: &str) {
        match src.local_addr().and_then(|a| src.connect(a)) {
            Ok(()) => {
                self.c.sh.giveback_src_checks.fetch_add(1, Relaxed);
                self.given_back(src, what);
            }
            Err(e) => self.fail(&format!(
                "{what}: cannot connect the socket to probe it: {e}"
            )),
        }
    }

    fn op_extra(&mut self) {
        if self.extras.len() >= 3 || (!self.extras.is_empty() && self.rng.pct(45)) {
            let e = self.extras.remove(0);
            return self.destroy_extra(e);
        }
        let (prio, mode, ring) = self.random_session();
        let r = self.c.dev.create(prio, mode, ring);
        let Some(id) = self.rec(Ioc::Create, r, &[ENOSPC], "extra session") else {
            return;
        };
        self.scen(Scen::ExtraCreated);
        let slot = publish(&self.c.sh.sessions, id, &mut self.rng);
        let mut e = Extra {
            id,
            slot,
            src: None,
            sinks: Vec::new(),
        };
        // Another thread may destroy it at any time from now on: ENOENT, or EBUSY for a
        // source on a session that is being destroyed.
        if let Some(src) = self.source_socket() {
            let r = self.c.dev.set_source(id, src.as_raw_fd());
            self.rec(Ioc::SourceSet, r, &[ENOENT, EBUSY], "extra session");
            e.src = Some(src);
        }
        for _ in 0..self.rng.range(1, 3) {
            if let Some(s) = self.sink_socket() {
                let r = self.c.dev.add_sink(id, s.as_raw_fd());
                self.rec(Ioc::SinkAdd, r, &[ENOENT, EBUSY], "extra session");
                e.sinks.push(s);
            }
        }
        if let Some(src) = e.src.take() {
            self.feed(&src);
            e.src = Some(src);
        }
        self.extras.push(e);
    }

    fn destroy_extra(&mut self, e: Extra) {
        if let Some(i) = e.slot {
            let _ = self.c.sh.sessions[i].compare_exchange(e.id, 0, Relaxed, Relaxed);
        }
        let r = self.c.dev.destroy(e.id);
        if self
            .rec(Ioc::Destroy, r, &[ENOENT], "own extra session")
            .is_none()
        {
            // Another thread destroyed it and may still be giving its sockets back.
            return;
        }
        self.scen(Scen::ExtraDestroyedByOwner);
        // Our destroy has returned: every socket must be ours again.
        if self.rng.pct(25) {
            if let Some(s) = e.sinks.first() {
                self.given_back(s, "extra session's sink after destroy");
            }
            if let Some(src) = &e.src {
                self.given_back_source(src, "extra session's source after destroy");
            }
        }
    }

    fn op_destroy_other(&mut self) {
        let id = peek_any(&self.c.sh.sessions, &mut self.rng);
        if id != 0 {
            let r = self.c.dev.destroy(id);
            if self
                .rec(Ioc::Destroy, r, &[ENOENT], "another thread's session")
                .is_some()
            {
                self.scen(Scen::DestroyedOthers);
            }
        }
    }

    fn op_stats_other(&mut self) {
        let id = peek_any(&self.c.sh.sessions, &mut self.rng);
        if id != 0 {
            let r = self.c.dev.stats(id, 4);
            self.rec(Ioc::SessionStats, r, &[ENOENT], "another thread's session");
        }
    }

    /// A second open file with sessions of its own, closed without destroying them.
    fn op_second_fd(&mut self) {
        let d2 = match Device::open(OMSS_DEVICE) {
            Ok(d) => {
                self.c.sh.ok[Ioc::Open as usize].fetch_add(1, Relaxed);
                d
            }
            Err(msg) => {
                let e = if msg.contains("os error 24") {
                    libc::EMFILE
                } else if msg.contains("os error 23") {
                    libc::ENFILE
                } else {
                    0
                };
                if e == 0 {
                    self.fail(&format!("second open: {msg}"));
                } else {
                    self.rec::<()>(Ioc::Open, Err(e), &FD_LIMITS, "second fd");
                }
                return;
            }
        };
        let mut socks = Vec::new();
        let mut srcs = Vec::new();
        for _ in 0..self.rng.range(1, 3) {
            let (prio, mode, ring) = self.random_session();
            // Nobody else knows this file: every call must succeed.
            let Some(id) = self.rec(Ioc::Create, d2.create(prio, mode, ring), &[], "second fd")
            else {
                break;
            };
            self.scen(Scen::SecondFdSessions);
            if let Some(src) = self.source_socket() {
                self.rec(
                    Ioc::SourceSet,
                    d2.set_source(id, src.as_raw_fd()),
                    &[],
                    "second fd",
                );
                self.feed(&src);
                srcs.push(src);
            }
            for _ in 0..self.rng.range(1, 2) {
                if let Some(s) = self.sink_socket() {
                    self.rec(
                        Ioc::SinkAdd,
                        d2.add_sink(id, s.as_raw_fd()),
                        &[],
                        "second fd",
                    );
                    socks.push(s);
                }
            }
            if self.rng.pct(30) {
                self.rec(Ioc::SessionStats, d2.stats(id, 4), &[], "second fd");
            }
        }
        drop(d2); // closing the file destroys its sessions and gives their sockets back
        self.scen(Scen::SecondFdClosed);
        if let Some(s) = socks.first() {
            self.given_back(s, "sink of a closed second fd");
        }
        if let Some(src) = srcs.first() {
            self.given_back_source(src, "source of a closed second fd");
        }
    }

    /// SESSION_DESTROY on one thread against SOURCE_SET and SINK_ADD on another, on one
    /// session nobody else knows: exactly one destroy succeeds, and every socket that went
    /// in comes back out.
    fn op_race(&mut self) {
        let (prio, mode, ring) = self.random_session();
        let dev = self.c.dev;
        let Some(id) = self.rec(Ioc::Create, dev.create(prio, mode, ring), &[ENOSPC], "race")
        else {
            return;
        };
        self.scen(Scen::Races);
        let Some(src) = self.source_socket() else {
            let _ = dev.destroy(id);
            return;
        };
        // Several adds back to back: whenever the destroy lands, one of them is likely
        // between its session lookup and its insertion.
        let n = self.rng.range(2, 6);
        let sinks: Vec<UdpSocket> = (0..n).filter_map(|_| self.sink_socket()).collect();
        let pre_source = self.rng.pct(40);
        if pre_source {
            self.rec(
                Ioc::SourceSet,
                dev.set_source(id, src.as_raw_fd()),
                &[],
                "race setup",
            );
            self.feed(&src);
        }
        // Start both sides together (a spinning barrier: a futex wakeup would put tens
        // of microseconds between them), then let the destroy land somewhere in the
        // sequence of calls of the other side.
        let da = if self.rng.pct(50) {
            self.rng.below(300)
        } else {
            self.rng.below(4000)
        };
        let db = if self.rng.pct(80) {
            self.rng.below(100)
        } else {
            self.rng.below(2000)
        };
        let sinks_first = self.rng.pct(50);
        let go = AtomicU32::new(0);
        let src_fd = src.as_raw_fd();
        let sink_fds: Vec<i32> = sinks.iter().map(|s| s.as_raw_fd()).collect();
        let (r_destroy, r_src, r_adds) = std::thread::scope(|s| {
            let h = s.spawn(|| {
                spin_barrier(&go);
                spin(da);
                dev.destroy(id)
            });
            spin_barrier(&go);
            spin(db);
            let add = || -> Vec<Result<u32, i32>> {
                sink_fds.iter().map(|&fd| dev.add_sink(id, fd)).collect()
            };
            let mut r_adds = if sinks_first { add() } else { Vec::new() };
            let r_src = (!pre_source).then(|| dev.set_source(id, src_fd));
            if !sinks_first {
                r_adds = add();
            }
            (h.join().expect("race thread"), r_src, r_adds)
        });
        self.rec(Ioc::Destroy, r_destroy, &[], "racing destroy");
        let src_in = r_src.is_some_and(|r| r.is_ok());
        if let Some(r) = r_src {
            self.rec(Ioc::SourceSet, r, &[ENOENT, EBUSY], "racing destroy");
        }
        let mut added = Vec::new();
        for (r, s) in r_adds.into_iter().zip(&sinks) {
            if r.is_ok() {
                added.push(s);
            }
            self.rec(Ioc::SinkAdd, r, &[ENOENT, EBUSY], "racing destroy");
        }
        self.scen(if src_in || !added.is_empty() {
            Scen::RacesAddFirst
        } else {
            Scen::RacesDestroyFirst
        });
        match dev.destroy(id) {
            Err(ENOENT) => {}
            Ok(()) => self.fail(&format!("race: session {id} destroyed twice")),
            Err(e) => self.fail(&format!("race: second destroy: {}", ename(e))),
        }
        // What went in must have come out: the destroy has returned.
        for s in added {
            self.given_back(s, "sink added in a destroy race");
        }
        if src_in || pre_source {
            self.given_back_source(&src, "source set in a destroy race");
        }
    }

    fn run(&mut self, deadline: Instant) -> u64 {
        // add, remove, stats, engine, extra, destroy-other, stats-other, second fd, race
        const W: [u32; 9] = [20, 18, 10, 5, 16, 6, 4, 5, 6];
        let mut ops = 0;
        while Instant::now() < deadline {
            match self.rng.weighted(&W) {
                0 => self.op_add_main(),
                1 => self.op_remove_main(),
                2 => self.op_stats_main(),
                3 => self.op_engine_stats(),
                4 => self.op_extra(),
                5 => self.op_destroy_other(),
                6 => self.op_stats_other(),
                7 => self.op_second_fd(),
                _ => self.op_race(),
            }
            ops += 1;
        }
        for e in std::mem::take(&mut self.extras) {
            self.destroy_extra(e);
        }
        ops
    }
}

/// Runs `threads` workers in this process until `deadline`; returns the ops done.
fn run_process(c: &Ctx, threads: usize, seed: u64, deadline: Instant) -> u64 {
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut w = Worker {
                        c,
                        who: format!("p{}/t{t}", c.proc_idx),
                        rng: Rng::new(seed ^ ((c.proc_idx as u64) << 32) ^ (t as u64 + 1)),
                        kept: VecDeque::new(),
                        extras: Vec::new(),
                        feeder: UdpSocket::bind("127.0.0.1:0").ok(),
                    };
                    w.run(deadline)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("worker thread"))
            .sum()
    })
}

struct Opts {
    seconds: f64,
    source: SocketAddr,
    sinks: Vec<SocketAddr>,
    main_sinks: usize,
    threads: usize,
    procs: usize,
    seed: u64,
    expect_rx: bool,
}

fn opts() -> Result<Opts, String> {
    let a = Args::parse(&["expect-rx"])?;
    a.check_known(&[
        "seconds",
        "source-port",
        "source-addr",
        "sink",
        "main-sinks",
        "threads",
        "procs",
        "seed",
        "expect-rx",
    ])?;
    let seed_default = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut sinks = Vec::new();
    for s in a.all("sink") {
        sinks.push(
            s.parse()
                .map_err(|_| format!("--sink: bad ADDR:PORT '{s}'"))?,
        );
    }
    if sinks.is_empty() {
        sinks.push("127.0.0.1:9".parse().unwrap());
    }
    let o = Opts {
        seconds: a.get("seconds", 10.0)?,
        source: SocketAddr::new(
            a.get("source-addr", IpAddr::V4(Ipv4Addr::UNSPECIFIED))?,
            a.get("source-port", 5000)?,
        ),
        sinks,
        main_sinks: a.get("main-sinks", 4)?,
        threads: a.get("threads", 4)?,
        procs: a.get("procs", 2)?,
        seed: a.get("seed", seed_default)?,
        expect_rx: a.flag("expect-rx"),
    };
    if o.procs == 0 || o.procs > MAX_PROCS || o.threads == 0 || o.seconds <= 0.0 {
        return Err(format!(
            "--procs 1..={MAX_PROCS}, --threads >= 1, --seconds > 0"
        ));
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "omss-stress: {e}\nusage: omss-stress [--seconds S] [--source-port P] \
                [--source-addr IP] [--sink ADDR:PORT ...] [--main-sinks K] [--threads T] \
                [--procs P] [--seed N] [--expect-rx]"
            );
            return ExitCode::from(2);
        }
    };
    let mut t = Tap::new(5 + o.procs as u32);
    diag(&format!(
        "omss-stress --seed {} --seconds {} --threads {} --procs {} --source {} --sink {}",
        o.seed,
        o.seconds,
        o.threads,
        o.procs,
        o.source,
        o.sinks
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    ));

    // Setup: the main session, its source and sinks.
    let setup = (|| -> Result<(Device, u32, UdpSocket, Vec<UdpSocket>), String> {
        let dev = Device::open(OMSS_DEVICE)?;
        let main = dev
            .create(4, OMSS_MODE_SHARE, 0)
            .map_err(|e| format!("create: {}", ename(e)))?;
        let src = UdpSocket::bind(o.source).map_err(|e| format!("bind {}: {e}", o.source))?;
        dev.set_source(main, src.as_raw_fd())
            .map_err(|e| format!("set source: {}", ename(e)))?;
        let mut socks = Vec::new();
        for i in 0..o.main_sinks {
            let to = o.sinks[i % o.sinks.len()];
            let s = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
                .and_then(|s| s.connect(to).map(|_| s))
                .map_err(|e| format!("sink socket to {to}: {e}"))?;
            dev.add_sink(main, s.as_raw_fd())
                .map_err(|e| format!("add sink: {}", ename(e)))?;
            socks.push(s);
        }
        Ok((dev, main, src, socks))
    })();
    let (dev, main, _src, _main_socks) = match setup {
        Ok(v) => v,
        Err(e) => {
            t.ok(&format!("setup: {e}"), false);
            println!("Bail out! setup failed");
            return ExitCode::FAILURE;
        }
    };
    t.ok(
        &format!(
            "setup: main session {main}, source {}, {} UDP sinks",
            o.source, o.main_sinks
        ),
        true,
    );

    let sh = shared();
    let deadline = Instant::now() + Duration::from_secs_f64(o.seconds);
    flush();
    // Fork the other processes now: they share the open file (and its sessions).
    let mut children = Vec::new();
    let mut proc_idx = 0;
    for i in 1..o.procs {
        // SAFETY: the process has one thread here (no workers started yet).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            println!("Bail out! fork: {}", ename(errno()));
            return ExitCode::FAILURE;
        }
        if pid == 0 {
            proc_idx = i;
            children.clear();
            break;
        }
        children.push(pid);
    }
    let c = Ctx {
        dev: &dev,
        sh,
        main,
        sinks: &o.sinks,
        proc_idx,
    };
    let ops = run_process(&c, o.threads, o.seed, deadline);
    let mine = sh.failures[proc_idx].load(Relaxed);
    if proc_idx != 0 {
        println!(
            "# process {proc_idx} (pid {}): {ops} operations, {mine} failures",
            std::process::id()
        );
        flush();
        // SAFETY: ends this child at once, without running the parent's exit paths twice.
        unsafe { libc::_exit(if mine == 0 { 0 } else { 1 }) };
    }
    diag(&format!("process 0: {ops} operations, {mine} failures"));
    t.ok(
        &format!(
            "process 0: {} threads x {}s, no unexpected errno ({ops} operations)",
            o.threads, o.seconds
        ),
        mine == 0,
    );
    for (i, &pid) in children.iter().enumerate() {
        let mut status = 0;
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        let exited_ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        let f = sh.failures[i + 1].load(Relaxed);
        let how = if r != pid {
            format!("waitpid: {}", ename(errno()))
        } else if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit {}", libc::WEXITSTATUS(status))
        };
        t.ok(
            &format!(
                "process {} (forked after open): no unexpected errno ({f} failures, {how})",
                i + 1
            ),
            exited_ok && f == 0,
        );
    }

    // What was done, all processes together.
    for (i, name) in IOC_NAMES.iter().enumerate() {
        let refused: Vec<String> = (0..NE)
            .filter_map(|e| {
                let n = sh.refused[i][e].load(Relaxed);
                (n > 0).then(|| format!("{} {n}", ename(e as i32)))
            })
            .collect();
        diag(&format!(
            "{name}: {} ok{}{}",
            sh.ok[i].load(Relaxed),
            if refused.is_empty() {
                ""
            } else {
                ", refused: "
            },
            refused.join(", ")
        ));
    }
    for (i, name) in SCEN_NAMES.iter().enumerate() {
        diag(&format!("{name}: {}", sh.scen[i].load(Relaxed)));
    }
    let (checks, src_checks, gb_fail) = (
        sh.giveback_checks.load(Relaxed),
        sh.giveback_src_checks.load(Relaxed),
        sh.giveback_failures.load(Relaxed),
    );
    t.ok(
        &format!(
            "sockets of destroyed sessions and closed files were given back \
             ({checks} checks, {src_checks} of them former sources; {gb_fail} still owned)"
        ),
        gb_fail == 0 && checks > 0,
    );

    // The main session survived, with exactly the sinks the workers left it.
    let (added, removed) = (sh.main_added.load(Relaxed), sh.main_removed.load(Relaxed));
    let want = o.main_sinks as u64 + added - removed;
    match dev.stats(main, 0) {
        Ok((s, _)) => {
            let rx_ok = !o.expect_rx || s.rx_packets > 0;
            diag(&format!(
                "main session: state {} sinks {} rx_packets {} entries_stored {} dropped {} ring {}/{}",
                s.state, s.nr_sinks, s.rx_packets, s.entries_stored, s.entries_dropped,
                s.ring_fill, s.ring_capacity
            ));
            t.ok(
                &format!(
                    "main session survived the churn: running, {} sinks = {} + {added} added - {removed} removed, {} packets received",
                    s.nr_sinks, o.main_sinks, s.rx_packets
                ),
                s.state == OMSS_SESSION_RUNNING && s.nr_sinks as u64 == want && rx_ok,
            );
        }
        Err(e) => t.ok(&format!("main session stats: {}", ename(e)), false),
    }

    // Tear down: the main session, anything published and left over, then the file.
    let r = dev.destroy(main);
    t.ok(
        &format!(
            "destroying the main session: {}",
            ename(r.err().unwrap_or(0))
        ),
        r.is_ok(),
    );
    for slot in &sh.sessions {
        let id = slot.swap(0, Relaxed);
        if id != 0 {
            let _ = dev.destroy(id);
        }
    }
    drop(dev);
    finish_drained(&mut t)
}
