//! `omss-fuzz --seed S --calls N`: a seeded random ioctl fuzzer of `/dev/omss`.
//!
//! Each call picks a command: mostly one of OMSS's own (`uapi/omss.h`), sometimes any nr
//! 0..15 with any direction and size in OMSS's type (0xB9), now and then a fully random
//! 32-bit command.
//! Its argument is random bytes, in which, with some probability, the fields of the struct
//! that the nr names are set plausibly: the right size, zero reserved fields, session and
//! sink ids seen in earlier successful calls, and fds from a pool (TCP listening, connected
//! and unconnected sockets, bound and connected UDP sockets, a UNIX socket, a pipe, a file,
//! /dev/null, /dev/omss itself, a closed fd, -1, huge numbers). The argument pointer is a
//! writable buffer, NULL, an unmapped or kernel address, a read-only mapping, or a buffer at
//! the very end of a mapping followed by a PROT_NONE page; so is SESSION_STATS's sinks_ptr.
//! Every so often a few datagrams and bytes go to the pool's sockets (so sessions relay),
//! and /dev/omss is closed and reopened (which must destroy its sessions).
//!
//! Checks: every call returns 0 or -1 with an errno; OMSS's commands only give documented
//! errnos and other 0xB9 commands ENOTTY; a refused SESSION_CREATE or SINK_ADD changes
//! nothing; a command that writes its result back never succeeds on a read-only buffer;
//! each of OMSS's commands but SESSION_ADOPT (nothing is parked here) succeeds at least once
//! (a command that cannot succeed, say for a size constant that disagrees with its struct,
//! would otherwise pass as EINVAL); after
//! each close and at the end no session, entry or page is left module-wide.
//! Prints the (command, result) histogram as TAP diag lines; exits non-zero on failure.

mod common;

use common::{diag, ename, engine_text, errno, finish_drained, flush, Args, Rng, Tap};
use omss_uapi::*;
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::mem::{offset_of, size_of};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const PAGE: usize = 4096;

/// OMSS's commands: value, name, argument size, layout (the nr of the struct it takes).
const CMDS: [(u32, &str, usize, usize); 13] = [
    (OMSS_IOC_VERSION, "VERSION", size_of::<OmssVersion>(), 0),
    (
        OMSS_IOC_SESSION_CREATE,
        "SESSION_CREATE",
        size_of::<OmssSessionCreate>(),
        1,
    ),
    (
        OMSS_IOC_SOURCE_SET,
        "SOURCE_SET",
        size_of::<OmssSourceSet>(),
        2,
    ),
    (OMSS_IOC_SINK_ADD, "SINK_ADD", size_of::<OmssSinkAdd>(), 3),
    (
        OMSS_IOC_SINK_REMOVE,
        "SINK_REMOVE",
        size_of::<OmssTarget>(),
        4,
    ),
    (
        OMSS_IOC_SESSION_DESTROY,
        "SESSION_DESTROY",
        size_of::<OmssTarget>(),
        5,
    ),
    (
        OMSS_IOC_SESSION_STATS,
        "SESSION_STATS",
        size_of::<OmssSessionStats>(),
        6,
    ),
    (
        OMSS_IOC_ENGINE_STATS,
        "ENGINE_STATS",
        size_of::<OmssEngineStats>(),
        7,
    ),
    (
        OMSS_IOC_ENGINE_PAUSE,
        "ENGINE_PAUSE",
        size_of::<OmssEnginePause>(),
        8,
    ),
    (
        OMSS_IOC_SESSION_STATS_V1,
        "SESSION_STATS_V1",
        OMSS_SESSION_STATS_SIZE_V1,
        6,
    ),
    (
        OMSS_IOC_SESSION_CREATE_V1,
        "SESSION_CREATE_V1",
        OMSS_SESSION_CREATE_SIZE_V1,
        1,
    ),
    (
        OMSS_IOC_SINK_ADD_V1,
        "SINK_ADD_V1",
        OMSS_SINK_ADD_SIZE_V1,
        3,
    ),
    (
        OMSS_IOC_SESSION_ADOPT,
        "SESSION_ADOPT",
        size_of::<OmssSessionAdopt>(),
        9,
    ),
];
/// Layouts (nrs) that have a struct.
const LAYOUTS: usize = 10;
/// How often each of OMSS's commands is picked.
const CMD_WEIGHTS: [u32; 13] = [4, 16, 16, 22, 10, 10, 10, 8, 3, 4, 6, 8, 3];
/// A command that cannot succeed here: the fuzzer makes no persistent session (its closes
/// must destroy everything), so nothing is ever parked to adopt.
const NEVER_SUCCEEDS: &str = "SESSION_ADOPT";
/// Whether a command writes its argument back (`_IOR`/`_IOWR`: the read direction bit).
fn writes_back(cmd: u32) -> bool {
    (cmd >> 30) & 2 != 0
}

/// What each command may answer besides success (ENOMEM always), as `omss.h` documents.
fn allowed(cmd: usize) -> &'static [i32] {
    use libc::*;
    match CMDS[cmd].3 {
        0 | 7 | 8 => &[EINVAL, EFAULT],
        1 => &[EINVAL, E2BIG, ENOSPC, EFAULT],
        2 => &[
            EINVAL,
            EFAULT,
            ENOENT,
            EBADF,
            ENOTSOCK,
            EPROTONOSUPPORT,
            EBUSY,
            EOPNOTSUPP,
        ],
        3 => &[
            EINVAL,
            EFAULT,
            ENOENT,
            EBADF,
            ENOTSOCK,
            EPROTONOSUPPORT,
            EBUSY,
            EEXIST,
            EOPNOTSUPP,
            ENOSPC,
        ],
        9 => &[EINVAL, EFAULT, ENOENT, EPERM, ENOSPC],
        _ => &[EINVAL, EFAULT, ENOENT],
    }
}

/// An anonymous mapping of `pages` pages with `prot`.
fn map(pages: usize, prot: i32) -> *mut u8 {
    // SAFETY: a fresh anonymous mapping; never unmapped, only handed to the kernel.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            pages * PAGE,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert!(p != libc::MAP_FAILED, "mmap: {}", ename(errno()));
    p as *mut u8
}

fn protect(p: *mut u8, pages: usize, prot: i32) {
    // SAFETY: `p` is a mapping of ours of at least `pages` pages that holds no Rust data.
    let r = unsafe { libc::mprotect(p as *mut libc::c_void, pages * PAGE, prot) };
    assert!(r == 0, "mprotect: {}", ename(errno()));
}

/// Memory handed to the kernel: dedicated mappings that hold no Rust data, each writable
/// one followed by a PROT_NONE guard page, so a kernel write past the end faults instead
/// of corrupting this program.
struct Mem {
    /// 3 writable pages, then a guard page.
    rw: *mut u8,
    /// 2 pages, read-only except while being filled.
    ro: *mut u8,
    /// 1 writable page, then a guard page.
    edge: *mut u8,
    /// 1 PROT_NONE page: mapped, but unreadable (like an unmapped address).
    none: *mut u8,
    /// Room for SESSION_STATS's sinks array: 4 writable pages, then a guard page.
    sinks: *mut u8,
}

const RW_PAGES: usize = 3;
const SINKS_PAGES: usize = 4;

impl Mem {
    fn new() -> Self {
        let rw = map(RW_PAGES + 1, libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY (all `add`s below): within the mappings just made.
        protect(unsafe { rw.add(RW_PAGES * PAGE) }, 1, libc::PROT_NONE);
        let ro = map(2, libc::PROT_READ);
        let edge = map(2, libc::PROT_READ | libc::PROT_WRITE);
        protect(unsafe { edge.add(PAGE) }, 1, libc::PROT_NONE);
        let none = map(1, libc::PROT_NONE);
        let sinks = map(SINKS_PAGES + 1, libc::PROT_READ | libc::PROT_WRITE);
        protect(unsafe { sinks.add(SINKS_PAGES * PAGE) }, 1, libc::PROT_NONE);
        Self {
            rw,
            ro,
            edge,
            none,
            sinks,
        }
    }
}

/// Where the argument pointer points.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Ptr {
    Buffer,
    Null,
    Unmapped,
    Kernel,
    ReadOnly,
    /// At the end of a mapping, the whole struct fitting before the guard page.
    EdgeFits,
    /// At the end of a mapping, the struct running into the guard page.
    EdgeCut,
}

impl Ptr {
    fn name(self) -> &'static str {
        match self {
            Ptr::Buffer => "buffer",
            Ptr::Null => "NULL",
            Ptr::Unmapped => "unmapped",
            Ptr::Kernel => "kernel-address",
            Ptr::ReadOnly => "read-only",
            Ptr::EdgeFits => "edge-fits",
            Ptr::EdgeCut => "edge-cut",
        }
    }
}

/// Sockets and files whose fds go into the arguments, and the helpers that feed and drain
/// them. Helpers are never handed to the kernel, so the relay cannot loop back into itself.
struct Pool {
    fds: Vec<(&'static str, i32, u32)>,
    helpers: HashSet<i32>,
    udp_bound: Vec<UdpSocket>,
    udp_conn: Vec<(UdpSocket, usize)>,
    tcp_peers: Vec<TcpStream>,
    rx: Vec<UdpSocket>,
    feeder: UdpSocket,
    _keep_tcp: Vec<TcpStream>,
    _keep_other: Vec<Box<dyn std::any::Any>>,
    closed_fd: i32,
    raw: Vec<i32>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for &fd in &self.raw {
            // SAFETY: raw fds this pool opened and nothing else closes.
            unsafe { libc::close(fd) };
        }
    }
}

fn tcp_pair(l: &TcpListener) -> std::io::Result<(TcpStream, TcpStream)> {
    let c = TcpStream::connect(l.local_addr()?)?;
    let (p, _) = l.accept()?;
    p.set_nonblocking(true)?;
    Ok((c, p))
}

impl Pool {
    fn new() -> std::io::Result<Self> {
        let mut fds = Vec::new();
        let mut helpers = HashSet::new();
        let mut keep_other: Vec<Box<dyn std::any::Any>> = Vec::new();
        let mut raw = Vec::new();
        let feeder = UdpSocket::bind("127.0.0.1:0")?;
        helpers.insert(feeder.as_raw_fd());
        // Receivers of the UDP sinks (helpers; drained now and then).
        let mut rx = vec![UdpSocket::bind("127.0.0.1:0")?];
        if let Ok(r6) = UdpSocket::bind("[::1]:0") {
            rx.push(r6);
        }
        for r in &rx {
            r.set_nonblocking(true)?;
            helpers.insert(r.as_raw_fd());
        }
        let mut udp_bound = Vec::new();
        for _ in 0..3 {
            udp_bound.push(UdpSocket::bind("127.0.0.1:0")?);
        }
        if let Ok(s) = UdpSocket::bind("[::1]:0") {
            udp_bound.push(s);
        }
        for s in &udp_bound {
            let v6 = s.local_addr()?.is_ipv6();
            fds.push((
                if v6 { "udp6-bound" } else { "udp-bound" },
                s.as_raw_fd(),
                6,
            ));
        }
        let mut udp_conn = Vec::new();
        for _ in 0..4 {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.connect(rx[0].local_addr()?)?;
            udp_conn.push((s, 0));
        }
        if rx.len() > 1 {
            let s = UdpSocket::bind("[::1]:0")?;
            s.connect(rx[1].local_addr()?)?;
            udp_conn.push((s, 1));
        }
        for (s, r) in &udp_conn {
            fds.push((
                if *r == 1 {
                    "udp6-connected"
                } else {
                    "udp-connected"
                },
                s.as_raw_fd(),
                8,
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        fds.push(("tcp-listening", listener.as_raw_fd(), 2));
        let mut keep_tcp = Vec::new();
        let mut tcp_peers = Vec::new();
        for _ in 0..3 {
            let (c, p) = tcp_pair(&listener)?;
            fds.push(("tcp-connected", c.as_raw_fd(), 6));
            helpers.insert(p.as_raw_fd());
            keep_tcp.push(c);
            tcp_peers.push(p);
        }
        // A TCP socket whose peer has closed (CLOSE_WAIT): a sink may take it, and its
        // first send fails (RST).
        let (c, p) = tcp_pair(&listener)?;
        drop(p);
        fds.push(("tcp-close-wait", c.as_raw_fd(), 3));
        keep_tcp.push(c);
        // SAFETY: plain socket creation; the fd is closed in Drop.
        let tcp = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        if tcp >= 0 {
            raw.push(tcp);
            fds.push(("tcp-unconnected", tcp, 2));
        }
        keep_other.push(Box::new(listener));
        let unix = UnixDatagram::unbound()?;
        fds.push(("unix", unix.as_raw_fd(), 2));
        keep_other.push(Box::new(unix));
        let mut p = [0i32; 2];
        // SAFETY: `p` has room for two fds; they are closed in Drop.
        if unsafe { libc::pipe(p.as_mut_ptr()) } == 0 {
            raw.extend_from_slice(&p);
            fds.push(("pipe", p[0], 1));
            fds.push(("pipe", p[1], 1));
        }
        let path = format!("/tmp/omss-fuzz.{}", std::process::id());
        let mut f = File::create(&path)?;
        f.write_all(b"omss-fuzz")?;
        let _ = std::fs::remove_file(&path);
        fds.push(("file", f.as_raw_fd(), 1));
        keep_other.push(Box::new(f));
        let null = File::open("/dev/null")?;
        fds.push(("/dev/null", null.as_raw_fd(), 1));
        keep_other.push(Box::new(null));
        // A UDP socket connected to a port nobody has (bound last, so that no later bind
        // takes the port): its sends draw ICMP port unreachable (ECONNREFUSED).
        let gone = UdpSocket::bind("127.0.0.1:0")?;
        let nobody = gone.local_addr()?;
        drop(gone);
        let refused = UdpSocket::bind("127.0.0.1:0")?;
        refused.connect(nobody)?;
        fds.push(("udp-refused", refused.as_raw_fd(), 3));
        keep_other.push(Box::new(refused));
        // A number that is not open (and this program never opens that many files).
        let closed_fd = (700..1000)
            // SAFETY: F_GETFD only queries.
            .find(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0)
            .unwrap_or(999);
        for (n, fd) in [
            ("closed", closed_fd),
            ("-1", -1),
            ("huge", i32::MAX),
            ("huge", 1 << 20),
            ("negative", i32::MIN),
        ] {
            fds.push((n, fd, 1));
        }
        Ok(Self {
            fds,
            helpers,
            udp_bound,
            udp_conn,
            tcp_peers,
            rx,
            feeder,
            _keep_tcp: keep_tcp,
            _keep_other: keep_other,
            closed_fd,
            raw,
        })
    }

    /// Datagrams to the bound and connected UDP sockets, bytes to the TCP ones, and the
    /// receivers and TCP peers drained: whatever sessions own these relay something.
    fn pump(&mut self, rng: &mut Rng) {
        let msg = vec![0xa5u8; rng.range(16, 1400) as usize];
        for s in &self.udp_bound {
            if let Ok(a) = s.local_addr() {
                let from = if a.is_ipv6() { self.rx.get(1) } else { None };
                let _ = match from {
                    Some(r) => r.send_to(&msg, a),
                    None => self.feeder.send_to(&msg, a),
                };
            }
        }
        for (s, r) in &self.udp_conn {
            if let Ok(a) = s.local_addr() {
                let _ = self.rx[*r].send_to(&msg, a);
            }
        }
        let mut buf = vec![0u8; 65536];
        for r in &self.rx {
            for _ in 0..512 {
                if r.recv(&mut buf).is_err() {
                    break;
                }
            }
        }
        for p in &mut self.tcp_peers {
            let _ = p.write(&msg);
            for _ in 0..64 {
                match p.read(&mut buf) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
    }
}

/// One generated call.
struct Call {
    cmd: u32,
    /// Index into CMDS when `cmd` is exactly one of OMSS's commands.
    exact: Option<usize>,
    /// Bytes of the argument that matter: the struct's size, or 64.
    len: usize,
    session_id: u32,
    ptr: Ptr,
}

struct Fuzzer {
    rng: Rng,
    mem: Mem,
    pool: Pool,
    dev: File,
    ring_max: u32,
    sessions: Vec<u32>,
    sinks: Vec<(u32, u32)>,
    hist: BTreeMap<(String, String), u64>,
    ptr_hist: BTreeMap<(Ptr, bool), u64>,
    bad_ret: u64,
    bad_errno: u64,
    bad_enotty: u64,
    changed: u64,
    change_checks: u64,
    ro_success: u64,
    leaks: Vec<String>,
    /// Closes after which something was still alive at first, and the time it took.
    drain_late: u32,
    drain_wait: Duration,
    drain_max: Duration,
    printed: u32,
    verbose: bool,
}

fn open_dev() -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open(OMSS_DEVICE)
}

fn put<T: Copy>(buf: &mut [u8], off: usize, v: T) {
    assert!(off + size_of::<T>() <= buf.len());
    // SAFETY: in bounds (checked); unaligned write of a plain integer.
    unsafe { std::ptr::write_unaligned(buf.as_mut_ptr().add(off) as *mut T, v) };
}

/// A raw ioctl with a pointer argument: the return value and errno.
fn raw_ioctl(fd: i32, cmd: u32, arg: *mut u8) -> (i64, i32) {
    // SAFETY: the kernel checks `arg` itself; every writable place it may point to is a
    // mapping of ours that holds no Rust data, or a stack struct of the command's size.
    let r = unsafe { libc::ioctl(fd, cmd as _, arg) };
    (r as i64, if r < 0 { errno() } else { 0 })
}

impl Fuzzer {
    fn fail(&mut self, msg: String) {
        if self.printed < 40 {
            println!("# FAIL {msg}");
            flush();
        }
        self.printed += 1;
    }

    fn engine(&self) -> Option<OmssEngineStats> {
        let mut s = OmssEngineStats::request();
        let (r, _) = raw_ioctl(
            self.dev.as_raw_fd(),
            OMSS_IOC_ENGINE_STATS,
            &mut s as *mut _ as *mut u8,
        );
        (r == 0).then_some(s)
    }

    fn nr_sinks(&self, session: u32) -> Option<u32> {
        let mut s = OmssSessionStats {
            session_id: session,
            ..OmssSessionStats::request()
        };
        let (r, _) = raw_ioctl(
            self.dev.as_raw_fd(),
            OMSS_IOC_SESSION_STATS,
            &mut s as *mut _ as *mut u8,
        );
        (r == 0).then_some(s.nr_sinks)
    }

    fn rand_fd(&mut self) -> i32 {
        let r = self.rng.below(100);
        if r < 8 {
            return self.dev.as_raw_fd();
        }
        if r < 88 {
            let w: Vec<u32> = self.pool.fds.iter().map(|f| f.2).collect();
            return self.pool.fds[self.rng.weighted(&w)].1;
        }
        // Any small number but stdio and the feeding helpers.
        let fd = self.rng.range(3, 64) as i32;
        if self.pool.helpers.contains(&fd) {
            self.pool.closed_fd
        } else {
            fd
        }
    }

    fn rand_session(&mut self) -> u32 {
        let r = self.rng.below(100);
        if r < 75 && !self.sessions.is_empty() {
            *self.rng.pick(&self.sessions)
        } else if r < 85 {
            *self
                .rng
                .pick(&[0, u32::MAX, 1, self.sessions.last().map_or(1, |s| s + 1)])
        } else if r < 95 {
            self.rng.range(1, 300) as u32
        } else {
            self.rng.u32()
        }
    }

    fn size_field(&mut self, real: usize) -> u32 {
        if self.rng.pct(92) {
            real as u32
        } else {
            let any = self.rng.u32();
            *self.rng.pick(&[
                0,
                real as u32 - 4,
                real as u32 + 4,
                real as u32 + 8,
                1 << 31,
                any,
            ])
        }
    }

    fn reserved_u32(&mut self) -> u32 {
        if self.rng.pct(95) {
            0
        } else {
            self.rng.u32() | 1
        }
    }

    /// A SESSION_STATS sinks array pointer and room.
    fn sinks_ptr(&mut self) -> (u64, u32) {
        let cap = match self.rng.below(10) {
            0..=2 => 0,
            3..=6 => self.rng.range(1, 64) as u32,
            7 => (SINKS_PAGES * PAGE / size_of::<OmssSinkStats>()) as u32,
            8 => self.rng.range(342, 20000) as u32,
            _ => self.rng.u32(),
        };
        let m = &self.mem;
        let p = match self.rng.below(20) {
            0..=9 => m.sinks as u64,
            // Near the guard page: a few entries fit, the rest faults.
            10..=11 => {
                let k = self.rng.range(0, 4) as usize * size_of::<OmssSinkStats>();
                // SAFETY: within the sinks mapping.
                unsafe { m.sinks.add(SINKS_PAGES * PAGE - k) as u64 }
            }
            12..=13 => 0,
            14..=15 => m.ro as u64,
            16 => m.none as u64,
            17 => 0xffff_8880_0000_0000,
            18 => 0x8000_0000_0000_0000,
            _ => self.rng.next_u64(),
        };
        (self.safe_sinks_ptr(p), cap)
    }

    /// The kernel writes sink stats to SESSION_STATS's sinks_ptr: it must not be one of
    /// this program's own places. A random 64-bit value is unmapped or non-canonical with
    /// overwhelming likelihood; make sure, and use the PROT_NONE page instead if not.
    fn safe_sinks_ptr(&self, p: u64) -> u64 {
        if p != 0 && !self.known_ptr(p) && self.mapped(p) {
            self.mem.none as u64
        } else {
            p
        }
    }

    fn known_ptr(&self, p: u64) -> bool {
        let m = &self.mem;
        let within = |base: *mut u8, pages: usize| {
            p >= base as u64 && p <= base as u64 + (pages * PAGE) as u64
        };
        within(m.sinks, SINKS_PAGES + 1) || within(m.ro, 2) || within(m.none, 1)
    }

    /// Whether `p` is in some mapping of this process (msync fails with ENOMEM if not).
    fn mapped(&self, p: u64) -> bool {
        if p >= 0x0000_8000_0000_0000 {
            return false;
        }
        let page = p & !(PAGE as u64 - 1);
        // SAFETY: msync on an arbitrary range only queries (MS_ASYNC) or fails.
        unsafe { libc::msync(page as *mut libc::c_void, PAGE, libc::MS_ASYNC) == 0 }
    }

    /// Fills the start of `b` as the struct of layout `nr`, plausibly; returns the
    /// session id it names.
    fn fill(&mut self, nr: usize, real: usize, b: &mut [u8]) -> u32 {
        let size = self.size_field(real);
        put(b, 0, size);
        let mut sid = 0;
        match nr {
            0 => {
                for i in 0..3 {
                    let v = self.reserved_u32();
                    put(b, offset_of!(OmssVersion, reserved) + 4 * i, v);
                }
            }
            1 => {
                let flags = if self.rng.pct(92) {
                    0
                } else {
                    self.rng.u32() | 1
                };
                let prio = if self.rng.pct(88) {
                    self.rng.below(8) as u32
                } else {
                    self.rng.u32()
                };
                let mode = if self.rng.pct(88) {
                    self.rng.below(2) as u32
                } else {
                    self.rng.range(2, 1000) as u32
                };
                let ring = match self.rng.below(20) {
                    0..=7 => 0,
                    8..=15 => self.rng.range(2, 64) as u32,
                    16 => 1,
                    17 => self.ring_max,
                    18 => self.ring_max + 1,
                    _ => self.rng.u32(),
                };
                put(b, offset_of!(OmssSessionCreate, flags), flags);
                put(b, offset_of!(OmssSessionCreate, priority), prio);
                put(b, offset_of!(OmssSessionCreate, mode), mode);
                put(b, offset_of!(OmssSessionCreate, ring_entries), ring);
                for i in 0..2 {
                    let v = self.reserved_u32();
                    put(b, offset_of!(OmssSessionCreate, reserved) + 4 * i, v);
                }
                // ABI 3's fields (past an ABI 2 struct's end, where the kernel does not
                // read). Never a valid persistent session: see NEVER_SUCCEEDS.
                for i in 0..6 {
                    let v = match self.rng.below(10) {
                        0..=6 => 0,
                        7..=8 => self.rng.range(1, 2000) as u32,
                        _ => self.rng.u32(),
                    };
                    put(b, offset_of!(OmssSessionCreate, limits) + 4 * i, v);
                }
                let policy = if self.rng.pct(90) {
                    self.rng.below(3) as u32
                } else {
                    self.rng.u32()
                };
                let persist = if self.rng.pct(90) {
                    0
                } else {
                    OMSS_PERSIST_MAX_MS + self.rng.below(1000) as u32 + 1
                };
                let (record, datagram) = match self.rng.below(10) {
                    0..=6 => (0, 0),
                    7 => (188, 1316),
                    8 => (self.rng.below(20000) as u32, 0),
                    _ => (self.rng.u32(), self.rng.u32()),
                };
                put(b, offset_of!(OmssSessionCreate, drop_policy), policy);
                put(b, offset_of!(OmssSessionCreate, persist_ms), persist);
                put(b, offset_of!(OmssSessionCreate, record_size), record);
                put(b, offset_of!(OmssSessionCreate, datagram_size), datagram);
            }
            2 => {
                sid = self.rand_session();
                let fd = self.rand_fd();
                put(b, offset_of!(OmssSourceSet, session_id), sid);
                put(b, offset_of!(OmssSourceSet, fd), fd);
                let v = self.reserved_u32();
                put(b, offset_of!(OmssSourceSet, reserved), v);
            }
            3 => {
                sid = self.rand_session();
                let fd = self.rand_fd();
                let sink = if self.rng.pct(92) { 0 } else { self.rng.u32() };
                put(b, offset_of!(OmssSinkAdd, session_id), sid);
                put(b, offset_of!(OmssSinkAdd, fd), fd);
                put(b, offset_of!(OmssSinkAdd, sink_id), sink);
                for i in 0..2 {
                    let v = self.reserved_u32();
                    put(b, offset_of!(OmssSinkAdd, reserved) + 4 * i, v);
                }
                for i in 0..6 {
                    let v = match self.rng.below(10) {
                        0..=6 => 0,
                        7 => OMSS_LIMIT_NONE,
                        8 => self.rng.range(1, 2000) as u32,
                        _ => self.rng.u32(),
                    };
                    put(b, offset_of!(OmssSinkAdd, limits) + 4 * i, v);
                }
            }
            9 => {
                sid = self.rand_session();
                put(b, offset_of!(OmssSessionAdopt, session_id), sid);
                put(b, offset_of!(OmssSessionAdopt, token), self.rng.next_u64());
                for i in 0..2 {
                    let v = self.reserved_u32();
                    put(b, offset_of!(OmssSessionAdopt, reserved) + 4 * i, v);
                }
            }
            4 | 5 => {
                let sink;
                if nr == 4 && !self.sinks.is_empty() && self.rng.pct(75) {
                    (sid, sink) = *self.rng.pick(&self.sinks);
                } else {
                    sid = self.rand_session();
                    sink = match (nr, self.rng.below(10)) {
                        (5, 0..=8) => 0,
                        (_, 0..=6) => self.rng.range(1, 40) as u32,
                        _ => self.rng.u32(),
                    };
                }
                put(b, offset_of!(OmssTarget, session_id), sid);
                put(b, offset_of!(OmssTarget, sink_id), sink);
                let v = self.reserved_u32();
                put(b, offset_of!(OmssTarget, reserved), v);
            }
            6 => {
                sid = self.rand_session();
                let (p, cap) = self.sinks_ptr();
                put(b, offset_of!(OmssSessionStats, session_id), sid);
                put(b, offset_of!(OmssSessionStats, sinks_cap), cap);
                put(b, offset_of!(OmssSessionStats, sinks_ptr), p);
                for i in 0..2 {
                    let v = self.reserved_u32() as u64;
                    put(b, offset_of!(OmssSessionStats, reserved) + 8 * i, v);
                }
            }
            7 => {
                for i in 0..2 {
                    let v = self.reserved_u32() as u64;
                    put(b, offset_of!(OmssEngineStats, reserved) + 8 * i, v);
                }
            }
            _ => {
                // Mostly resume: a paused engine relays nothing until the file is closed.
                let paused = match self.rng.below(10) {
                    0..=5 => 0,
                    6..=7 => 1,
                    _ => self.rng.u32(),
                };
                put(b, offset_of!(OmssEnginePause, paused), paused);
                for i in 0..2 {
                    let v = self.reserved_u32();
                    put(b, offset_of!(OmssEnginePause, reserved) + 4 * i, v);
                }
            }
        }
        sid
    }

    fn gen(&mut self, b: &mut [u8]) -> Call {
        self.rng.fill(b);
        let (cmd, exact, layout, structured) = match self.rng.below(100) {
            0..=64 => {
                let i = self.rng.weighted(&CMD_WEIGHTS);
                (CMDS[i].0, Some(i), Some(CMDS[i].3), self.rng.pct(90))
            }
            65..=91 => {
                let nr = self.rng.below(16) as u32;
                let dir = self.rng.below(4) as u32;
                let size = if self.rng.pct(40) {
                    self.rng.pick(&CMDS).2 as u32
                } else {
                    self.rng.below(4097) as u32
                };
                let cmd = (dir << 30) | (size << 16) | (OMSS_IOC_MAGIC << 8) | nr;
                let exact = CMDS.iter().position(|c| c.0 == cmd);
                let layout = ((nr as usize) < LAYOUTS).then_some(nr as usize);
                (cmd, exact, layout, self.rng.pct(60))
            }
            _ => loop {
                let cmd = self.rng.u32();
                // Not the VFS's filesystem commands ('X': FIFREEZE/FITHAW, 'f':
                // FS_IOC_SETFLAGS...): they act on devtmpfs, not on OMSS.
                let ty = (cmd >> 8) & 0xff;
                if ty != b'X' as u32 && ty != b'f' as u32 {
                    let exact = CMDS.iter().position(|c| c.0 == cmd);
                    break (cmd, exact, exact.map(|i| CMDS[i].3), false);
                }
            },
        };
        // The struct's size: the command's if it is OMSS's, else that of the nr's struct.
        let len = match (exact, layout) {
            (Some(i), _) => CMDS[i].2,
            (None, Some(l)) => CMDS.iter().find(|c| c.3 == l).map_or(64, |c| c.2),
            _ => 64,
        };
        let session_id = match (structured, layout) {
            (true, Some(l)) => self.fill(l, len, b),
            _ => 0,
        };
        if exact.is_some_and(|i| CMDS[i].3 == 6) {
            // Whatever the bytes, the kernel writes sink stats to sinks_ptr.
            let off = offset_of!(OmssSessionStats, sinks_ptr);
            let p = u64::from_ne_bytes(b[off..off + 8].try_into().unwrap());
            put(b, off, self.safe_sinks_ptr(p));
        }
        let ptr = match self.rng.below(100) {
            0..=59 => Ptr::Buffer,
            60..=65 => Ptr::Null,
            66..=70 => Ptr::Unmapped,
            71..=73 => Ptr::Kernel,
            74..=83 => Ptr::ReadOnly,
            84..=92 => Ptr::EdgeFits,
            _ => Ptr::EdgeCut,
        };
        Call {
            cmd,
            exact,
            len,
            session_id,
            ptr,
        }
    }

    /// Copies the argument into the memory `c.ptr` names; returns the pointer and how many
    /// of its bytes this program may read back afterwards.
    fn place(&mut self, c: &Call, b: &[u8]) -> (*mut u8, usize) {
        let len = c.len;
        let m = &self.mem;
        match c.ptr {
            Ptr::Buffer => {
                let off = if self.rng.pct(80) {
                    self.rng.below(64) as usize * 8
                } else {
                    self.rng.below(2 * PAGE as u64) as usize
                };
                // SAFETY: `off` + `b.len()` stays within the writable pages.
                unsafe {
                    let p = m.rw.add(off);
                    let n = b.len().min(RW_PAGES * PAGE - off);
                    std::ptr::copy_nonoverlapping(b.as_ptr(), p, n);
                    (p, len)
                }
            }
            Ptr::Null => (std::ptr::null_mut(), 0),
            Ptr::Unmapped => {
                let p = match self.rng.below(3) {
                    0 => m.none as usize + self.rng.below(PAGE as u64 - 128) as usize,
                    1 => 0x1000 + self.rng.below(PAGE as u64) as usize,
                    _ => 0x7fff_ffff_f000 + self.rng.below(PAGE as u64) as usize,
                };
                (p as *mut u8, 0)
            }
            Ptr::Kernel => {
                let p = *self.rng.pick(&[
                    0xffff_8880_0000_0000u64,
                    0xffff_ffff_8100_0000,
                    0x8000_0000_0000_0000,
                    u64::MAX - 31,
                ]);
                (p as *mut u8, 0)
            }
            Ptr::ReadOnly => {
                let off = self.rng.below(64) as usize * 8;
                protect(m.ro, 2, libc::PROT_READ | libc::PROT_WRITE);
                // SAFETY: within the 2-page mapping, made writable for the copy.
                let p = unsafe {
                    let p = m.ro.add(off);
                    std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len().min(2 * PAGE - off));
                    p
                };
                protect(m.ro, 2, libc::PROT_READ);
                (p, len)
            }
            Ptr::EdgeFits | Ptr::EdgeCut => {
                let k = if c.ptr == Ptr::EdgeFits {
                    len + self.rng.below(3) as usize * 4
                } else {
                    self.rng.range(1, len as u64 - 1) as usize
                };
                // SAFETY: the last `k` bytes of the writable page before the guard.
                unsafe {
                    let p = m.edge.add(PAGE - k);
                    std::ptr::copy_nonoverlapping(b.as_ptr(), p, k);
                    (p, if c.ptr == Ptr::EdgeFits { len } else { 0 })
                }
            }
        }
    }

    fn name(c: &Call) -> String {
        match c.exact {
            Some(i) => CMDS[i].1.to_string(),
            None if (c.cmd >> 8) & 0xff == OMSS_IOC_MAGIC => "0xB9-other".to_string(),
            None => "foreign".to_string(),
        }
    }

    fn one(&mut self, i: u64, b: &mut [u8]) {
        let c = self.gen(b);
        let fd = self.dev.as_raw_fd();
        // Refused calls must change nothing: note what they could change.
        let before = match c.exact.map(|n| CMDS[n].3) {
            Some(1) => self.engine().map(|s| s.sessions),
            Some(3) => self.nr_sinks(c.session_id),
            _ => None,
        };
        let (p, readable) = self.place(&c, b);
        let (r, e) = raw_ioctl(fd, c.cmd, p);
        let name = Self::name(&c);
        if self.verbose {
            println!(
                "# call {i}: cmd {:#010x} {name} ptr {} -> {r} {}",
                c.cmd,
                c.ptr.name(),
                ename(e)
            );
        }
        *self.hist.entry((name.clone(), ename(e))).or_default() += 1;
        *self.ptr_hist.entry((c.ptr, r == 0)).or_default() += 1;
        let what = || {
            format!(
                "call {i}: cmd {:#010x} ({name}), arg {}",
                c.cmd,
                c.ptr.name()
            )
        };
        if r != 0 && r != -1 {
            self.bad_ret += 1;
            self.fail(format!("{}: returned {r}", what()));
        }
        if r < 0 {
            match c.exact {
                Some(n) if !allowed(n).contains(&e) && e != libc::ENOMEM => {
                    self.bad_errno += 1;
                    self.fail(format!("{}: undocumented errno {}", what(), ename(e)));
                }
                None if (c.cmd >> 8) & 0xff == OMSS_IOC_MAGIC && e != libc::ENOTTY => {
                    self.bad_enotty += 1;
                    self.fail(format!("{}: {} instead of ENOTTY", what(), ename(e)));
                }
                None if e == 515 => {
                    self.bad_errno += 1;
                    self.fail(format!("{}: ENOIOCTLCMD leaked to user space", what()));
                }
                _ => {}
            }
            if let Some(b0) = before {
                self.change_checks += 1;
                let creates = c.exact.is_some_and(|n| CMDS[n].3 == 1);
                let after = if creates {
                    self.engine().map(|s| s.sessions)
                } else {
                    self.nr_sinks(c.session_id)
                };
                if after.is_some_and(|a| a > b0) {
                    self.changed += 1;
                    let what = if creates {
                        "module-wide sessions"
                    } else {
                        "the session's sinks"
                    };
                    self.fail(format!(
                        "{}: refused with {} but {what} went from {b0} to {}",
                        what_call(i, &c, &name),
                        ename(e),
                        after.unwrap_or(0)
                    ));
                }
            }
            return;
        }
        let Some(n) = c.exact else {
            return;
        };
        if c.ptr == Ptr::ReadOnly && writes_back(c.cmd) {
            self.ro_success += 1;
            self.fail(format!(
                "{}: succeeded on a read-only argument it must write back",
                what()
            ));
        }
        if readable >= CMDS[n].2 {
            // SAFETY: `readable` bytes at `p` are in a mapping of ours that is readable.
            let out = unsafe { std::slice::from_raw_parts(p, CMDS[n].2) };
            let get = |off: usize| u32::from_ne_bytes(out[off..off + 4].try_into().unwrap());
            match CMDS[n].3 {
                1 => {
                    let id = get(offset_of!(OmssSessionCreate, session_id));
                    if !self.sessions.contains(&id) {
                        self.sessions.push(id);
                    }
                }
                3 => {
                    let sid = get(offset_of!(OmssSinkAdd, session_id));
                    self.sinks
                        .push((sid, get(offset_of!(OmssSinkAdd, sink_id))));
                    if self.sinks.len() > 512 {
                        self.sinks.swap_remove(0);
                    }
                }
                _ => {}
            }
        }
        if n == 5 && self.rng.pct(70) {
            self.sessions.retain(|&s| s != c.session_id);
        }
    }

    /// Closes /dev/omss (destroying its sessions) and opens it again; checks that nothing
    /// was left behind.
    fn reopen(&mut self, i: u64) -> std::io::Result<()> {
        let dev = open_dev()?;
        self.dev = dev; // the old file is closed here
        self.sessions.clear();
        self.sinks.clear();
        if !self.leaks.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let mut first = true;
        loop {
            match self.engine() {
                Some(s) if s.sessions == 0 && s.entries_live == 0 && s.pages_live == 0 => {
                    let waited = start.elapsed();
                    self.drain_wait += waited;
                    self.drain_max = self.drain_max.max(waited);
                    break;
                }
                Some(s) if start.elapsed() > Duration::from_secs(2) => {
                    let msg = format!("after close at call {i}: {}", engine_text(&s));
                    self.fail(format!("leak {msg}"));
                    self.leaks.push(msg);
                    break;
                }
                None => {
                    self.leaks
                        .push(format!("after close at call {i}: ENGINE_STATS failed"));
                    break;
                }
                Some(_) => {
                    if first {
                        self.drain_late += 1;
                        first = false;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Ok(())
    }
}

fn what_call(i: u64, c: &Call, name: &str) -> String {
    format!(
        "call {i}: cmd {:#010x} ({name}) session {}, arg {}",
        c.cmd,
        c.session_id,
        c.ptr.name()
    )
}

fn main() -> ExitCode {
    let parsed = Args::parse(&["verbose"]).and_then(|a| {
        a.check_known(&["seed", "calls", "reopen-every", "verbose"])?;
        let seed_default = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Ok((
            a.get("seed", seed_default)?,
            a.get("calls", 10_000u64)?,
            a.get("reopen-every", 500u64)?,
            a.flag("verbose"),
        ))
    });
    let (seed, calls, reopen_every, verbose) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("omss-fuzz: {e}\nusage: omss-fuzz [--seed S] [--calls N] [--reopen-every K] [--verbose]");
            return ExitCode::from(2);
        }
    };
    let mut t = Tap::new(8);
    diag(&format!(
        "omss-fuzz --seed {seed} --calls {calls} --reopen-every {reopen_every}"
    ));
    let setup = (|| -> std::io::Result<(File, Pool)> { Ok((open_dev()?, Pool::new()?)) })();
    let (dev, pool) = match setup {
        Ok(v) => v,
        Err(e) => {
            println!("Bail out! setup: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut ver = OmssVersion::request();
    let ring_max = match raw_ioctl(
        dev.as_raw_fd(),
        OMSS_IOC_VERSION,
        &mut ver as *mut _ as *mut u8,
    ) {
        (0, _) => ver.ring_max,
        (_, e) => {
            println!("Bail out! OMSS_IOC_VERSION: {}", ename(e));
            return ExitCode::FAILURE;
        }
    };
    diag(&format!(
        "fd pool: {}",
        pool.fds
            .iter()
            .map(|f| format!("{}={}", f.0, f.1))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let mut f = Fuzzer {
        rng: Rng::new(seed),
        mem: Mem::new(),
        pool,
        dev,
        ring_max,
        sessions: Vec::new(),
        sinks: Vec::new(),
        hist: BTreeMap::new(),
        ptr_hist: BTreeMap::new(),
        bad_ret: 0,
        bad_errno: 0,
        bad_enotty: 0,
        changed: 0,
        change_checks: 0,
        ro_success: 0,
        leaks: Vec::new(),
        drain_late: 0,
        drain_wait: Duration::ZERO,
        drain_max: Duration::ZERO,
        printed: 0,
        verbose,
    };
    let start = Instant::now();
    let mut buf = vec![0u8; 2 * PAGE];
    let mut next_reopen = f.rng.range(reopen_every / 2, reopen_every * 3 / 2).max(1);
    let mut reopens = 0;
    for i in 0..calls {
        if i == next_reopen {
            if let Err(e) = f.reopen(i) {
                t.ok(&format!("reopen /dev/omss at call {i}: {e}"), false);
                println!("Bail out! cannot reopen /dev/omss");
                return ExitCode::FAILURE;
            }
            reopens += 1;
            next_reopen = i + f.rng.range(reopen_every / 2, reopen_every * 3 / 2).max(1);
        }
        if i % 8 == 0 {
            f.pool.pump(&mut f.rng);
        }
        f.one(i, &mut buf);
    }
    let secs = start.elapsed().as_secs_f64();
    diag(&format!(
        "{calls} calls in {secs:.1}s, {reopens} reopens; {} times something was still alive \
         when close returned (drained within {:.2}s, {:.2}s in all)",
        f.drain_late,
        f.drain_max.as_secs_f64(),
        f.drain_wait.as_secs_f64()
    ));
    for ((name, res), n) in &f.hist {
        diag(&format!("{name:<16} {res:<16} {n}"));
    }
    let mut by_ptr: BTreeMap<Ptr, (u64, u64)> = BTreeMap::new();
    for ((p, ok), n) in &f.ptr_hist {
        let e = by_ptr.entry(*p).or_default();
        if *ok {
            e.0 += n;
        } else {
            e.1 += n;
        }
    }
    for (p, (ok, err)) in by_ptr {
        diag(&format!(
            "arg {:<16} {ok} succeeded, {err} refused",
            p.name()
        ));
    }

    t.ok(
        &format!(
            "{calls} calls (seed {seed}): each answered 0 or -1 with an errno ({} others)",
            f.bad_ret
        ),
        f.bad_ret == 0,
    );
    t.ok(
        &format!(
            "OMSS's commands answered only documented errnos ({} others)",
            f.bad_errno
        ),
        f.bad_errno == 0,
    );
    t.ok(
        &format!(
            "other commands of type 0xB9 got ENOTTY ({} others)",
            f.bad_enotty
        ),
        f.bad_enotty == 0,
    );
    t.ok(
        &format!(
            "refused SESSION_CREATE and SINK_ADD changed nothing ({} checked, {} changed)",
            f.change_checks, f.changed
        ),
        f.changed == 0,
    );
    t.ok(
        &format!(
            "commands that write back never succeeded on a read-only argument ({} did)",
            f.ro_success
        ),
        f.ro_success == 0,
    );
    t.ok(
        &format!(
            "each close destroyed everything ({reopens} closes{})",
            if f.leaks.is_empty() {
                String::new()
            } else {
                format!("; {}", f.leaks.join("; "))
            }
        ),
        f.leaks.is_empty(),
    );
    // Coverage: a command that never succeeds (say, a size constant that disagrees with
    // its struct) would only ever show up as EINVAL above.
    let never: Vec<&str> = CMDS
        .iter()
        .filter(|c| c.1 != NEVER_SUCCEEDS)
        .filter(|c| !f.hist.contains_key(&(c.1.to_string(), "ok".to_string())))
        .map(|c| c.1)
        .collect();
    t.ok(
        &format!(
            "each of OMSS's {} commands succeeded at least once, {NEVER_SUCCEEDS} aside{}",
            CMDS.len() - 1,
            if never.is_empty() {
                String::new()
            } else {
                format!(" (never: {})", never.join(", "))
            }
        ),
        never.is_empty(),
    );
    drop(f);
    finish_drained(&mut t)
}
