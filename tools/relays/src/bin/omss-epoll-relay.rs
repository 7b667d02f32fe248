//! `omss-epoll-relay`: the strongest user-space relay we can honestly write, to compare OMSS
//! with best practice rather than with a strawman.
//!
//! * One thread per core (`--threads`), each an epoll loop over non-blocking sockets; each
//!   owns a static share of the sinks. Thread 0 also reads the source.
//! * The source is read with `recvmmsg` (UDP, up to 64 datagrams per call) or `readv` (TCP,
//!   up to 16 chunks of 16 KiB per call) straight into the buffers of the shared ring: one
//!   copy into user space. Packets are then shared by reference count, never copied again.
//! * UDP sinks: one unconnected socket per thread and `sendmmsg` with a destination per
//!   message, so one syscall sends up to 1024 (packet, subscriber) pairs. A full socket
//!   buffer (EAGAIN) parks the thread's UDP sends until EPOLLOUT; other send errors drop that
//!   packet for that subscriber (counted).
//! * TCP sinks: per sink, one `writev` of everything it has pending (up to IOV_MAX packets);
//!   on EAGAIN it waits for EPOLLOUT (edge-triggered). A sink more than `--ring` packets
//!   behind skips whole packets (counted); a partly written packet is always finished.
//! * Idle threads sleep in epoll_wait; the source thread wakes them through an eventfd, and
//!   only when they said they were going to sleep.

use clap::Parser;
use omss_relays::args::{exit_status, install_stop_signals};
use omss_relays::net::{self, would_block};
use omss_relays::ring::packet_mut;
use omss_relays::sys::{self, Epoll, EventFd, RawAddr, IOV_MAX};
use omss_relays::{Args, PacketPool, Pkt, Report, Ring, Sinks, Source, Stats, StopClock};
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "omss-epoll-relay",
    version,
    about = "User-space relay, best practice: epoll per core, recvmmsg/sendmmsg, writev batches"
)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

fn main() -> ExitCode {
    exit_status("omss-epoll-relay", run(&Cli::parse().args))
}

const TOKEN_WAKE: u64 = 0;
const TOKEN_SOURCE: u64 = 1;
const TOKEN_UDP: u64 = 2;
/// TCP sink i of a thread is reported as `TOKEN_TCP + i`.
const TOKEN_TCP: u64 = 3;
/// Datagrams per recvmmsg.
const RECV_BATCH: usize = 64;
/// TCP chunks per readv.
const READV_BATCH: usize = 16;
/// Most packets the source thread reads before serving its own sinks again.
const SOURCE_BUDGET: usize = 256;
/// How often the source thread looks at the stop conditions while the source is quiet.
const SOURCE_TICK: Duration = Duration::from_millis(100);
/// SO_SNDBUF of each thread's UDP socket, which carries the traffic of many subscribers.
const UDP_SNDBUF: usize = 4 << 20;

fn run(a: &Args) -> Result<(), String> {
    a.validate()?;
    install_stop_signals();
    let sinks = Sinks::open(a)?;
    let nsinks = sinks.len();
    let threads = a.threads_wanted().min(nsinks).max(1);
    let mut setups: Vec<Setup> = (0..threads)
        .map(|id| Setup {
            id,
            udp: None,
            tcp: Vec::new(),
            source: None,
        })
        .collect();
    match sinks {
        Sinks::Udp(addrs) => {
            for (t, setup) in setups.iter_mut().enumerate() {
                let mine: Vec<SocketAddr> =
                    addrs.iter().skip(t).step_by(threads).copied().collect();
                let sock = net::udp_sender_for(&mine[0])?;
                net::set_sndbuf(sock.as_raw_fd(), UDP_SNDBUF);
                setup.udp = Some((sock, mine));
            }
        }
        Sinks::Tcp(v) => {
            for (i, s) in v.into_iter().enumerate() {
                setups[i % threads].tcp.push(s);
            }
        }
    }
    let source = Source::open(a)?;
    source
        .set_nonblocking(true)
        .map_err(|e| format!("source: non-blocking: {e}"))?;
    let budget = (a.ring / 2).clamp(1, SOURCE_BUDGET);
    setups[0].source = Some(SourceReader {
        sock: source,
        pool: PacketPool::new(a.packet_size()),
        batch: Vec::new(),
        clock: StopClock::new(a),
        budget,
        open: true,
    });
    let wakers = (0..threads)
        .map(|_| {
            Ok(Waker {
                efd: EventFd::new()?,
                sleeping: AtomicBool::new(false),
            })
        })
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| format!("eventfd: {e}"))?;
    let sh = Arc::new(Shared {
        ring: Ring::new(a.ring),
        wakers,
        drain: a.drain(),
    });

    let start = Instant::now();
    let mut setups = setups.into_iter();
    let first = setups.next().expect("at least one thread");
    let mut handles = Vec::with_capacity(threads - 1);
    for setup in setups {
        let sh2 = sh.clone();
        let h = thread::Builder::new()
            .name(format!("epoll-relay{}", setup.id))
            .spawn(move || Worker::new(setup, sh2).and_then(Worker::run));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                sh.stop();
                return Err(format!("spawn a thread: {e}"));
            }
        }
    }
    eprintln!("ready");

    let mut errors = Vec::new();
    let mut total = Stats::default();
    match Worker::new(first, sh.clone()).and_then(Worker::run) {
        Ok(s) => total += s,
        Err(e) => {
            sh.stop();
            errors.push(e);
        }
    }
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => total += s,
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("a thread panicked".into()),
        }
    }
    Report {
        implementation: "epoll",
        stats: total,
        threads,
        sinks: nsinks,
        elapsed: start.elapsed(),
    }
    .print(a.json);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// What the threads share: the ring, and a way to wake each of them.
struct Shared {
    ring: Ring,
    wakers: Vec<Waker>,
    drain: Duration,
}

struct Waker {
    efd: EventFd,
    /// The thread is about to sleep (or sleeps) in epoll_wait and wants an eventfd wake-up
    /// for new packets.
    sleeping: AtomicBool,
}

impl Shared {
    /// After new packets: wakes the other threads that went to sleep.
    fn wake_sleepers(&self, me: usize) {
        for (i, w) in self.wakers.iter().enumerate() {
            if i != me && w.sleeping.swap(false, Ordering::SeqCst) {
                w.efd.notify();
            }
        }
    }

    fn wake_all(&self) {
        for w in &self.wakers {
            w.efd.notify();
        }
    }

    fn stop(&self) {
        self.ring.stop();
        self.wake_all();
    }
}

/// What a thread is handed; its worker is built on the thread itself.
struct Setup {
    id: usize,
    udp: Option<(UdpSocket, Vec<SocketAddr>)>,
    tcp: Vec<TcpStream>,
    source: Option<SourceReader>,
}

/// A thread's UDP subscribers: they all advance together, packet by packet.
struct UdpGroup {
    sock: UdpSocket,
    addrs: Vec<RawAddr>,
    /// The packet being sent, and the next subscriber to send it to.
    cursor: u64,
    next: usize,
    /// The socket buffer is full: wait for EPOLLOUT.
    blocked: bool,
}

struct TcpSink {
    stream: TcpStream,
    /// Sequence number of the next packet to start sending.
    cursor: u64,
    /// A packet partly written, and how much of it was.
    partial: Option<(Pkt, usize)>,
    /// The socket buffer is full: wait for EPOLLOUT.
    blocked: bool,
    /// The connection failed; nothing more is sent to it.
    dead: bool,
    /// The subscriber's address, for messages.
    peer: String,
}

impl TcpSink {
    fn done(&self, head: u64) -> bool {
        self.dead || (self.partial.is_none() && self.cursor >= head)
    }
}

/// Thread 0's source.
struct SourceReader {
    sock: Source,
    pool: PacketPool,
    /// Unshared packets to receive into; the first ones, once filled, go to the ring.
    batch: Vec<Pkt>,
    clock: StopClock,
    /// Most packets read in a row before the thread serves its sinks.
    budget: usize,
    /// Not yet at its end.
    open: bool,
}

enum Got {
    /// This many packets at the front of `batch`; whether the source may have more now.
    Packets(usize, bool),
    Nothing,
    Eof,
}

impl SourceReader {
    /// Reads up to `want` packets into the front of `batch` in one syscall.
    fn read_batch(
        &mut self,
        want: usize,
        iovs: &mut Vec<libc::iovec>,
        msgs: &mut Vec<libc::mmsghdr>,
    ) -> io::Result<Got> {
        let k = want.min(match self.sock {
            Source::Udp(_) => RECV_BATCH,
            Source::Tcp(_) => READV_BATCH,
        });
        while self.batch.len() < k {
            self.batch.push(self.pool.take());
        }
        iovs.clear();
        for p in &mut self.batch[..k] {
            iovs.push(sys::iovec_mut(packet_mut(p).buffer_mut()));
        }
        let fd = self.sock.fd();
        match self.sock {
            Source::Udp(_) => {
                msgs.clear();
                for iov in iovs.iter() {
                    let mut m = sys::mmsghdr();
                    m.msg_hdr.msg_iov = iov as *const libc::iovec as *mut libc::iovec;
                    m.msg_hdr.msg_iovlen = 1;
                    msgs.push(m);
                }
                // SAFETY: each message's iovec points into a distinct packet buffer of
                // `batch`, which is unshared and outlives the call; the iovecs live in `iovs`,
                // which is not touched while the messages point at it.
                let n = match unsafe { sys::recvmmsg(fd, msgs) } {
                    Ok(n) => n,
                    Err(e) if would_block(&e) => return Ok(Got::Nothing),
                    Err(e) => return Err(e),
                };
                for (p, m) in self.batch.iter_mut().zip(&msgs[..n]) {
                    packet_mut(p).set_len(m.msg_len as usize);
                }
                Ok(Got::Packets(n, n == k))
            }
            Source::Tcp(_) => {
                // SAFETY: the iovecs point into distinct packet buffers of `batch`, which are
                // unshared and outlive the call.
                let bytes = match unsafe { sys::readv(fd, iovs) } {
                    Ok(0) => return Ok(Got::Eof),
                    Ok(n) => n,
                    Err(e) if would_block(&e) => return Ok(Got::Nothing),
                    Err(e) => return Err(e),
                };
                let size = self.pool.size();
                let n = bytes.div_ceil(size);
                for (i, p) in self.batch[..n].iter_mut().enumerate() {
                    packet_mut(p).set_len((bytes - i * size).min(size));
                }
                Ok(Got::Packets(n, bytes == k * size))
            }
        }
    }
}

struct Worker {
    id: usize,
    sh: Arc<Shared>,
    ep: Epoll,
    /// Packets `[base, base + window.len())`, shared with the ring, that some sink of this
    /// thread may still need (at most the ring's capacity behind its head).
    window: VecDeque<Pkt>,
    base: u64,
    fetched: Vec<Pkt>,
    /// The ring's head and end as last read.
    head: u64,
    ended: bool,
    udp: Option<UdpGroup>,
    tcp: Vec<TcpSink>,
    src: Option<SourceReader>,
    st: Stats,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    spans: Vec<(usize, usize, usize)>,
}

impl Worker {
    fn new(s: Setup, sh: Arc<Shared>) -> Result<Worker, String> {
        let ep = Epoll::new().map_err(|e| format!("epoll: {e}"))?;
        let reg = |fd, ev: libc::c_int, token| {
            ep.add(fd, ev as u32, token)
                .map_err(|e| format!("epoll_ctl: {e}"))
        };
        reg(sh.wakers[s.id].efd.fd(), libc::EPOLLIN, TOKEN_WAKE)?;
        if let Some(src) = &s.source {
            reg(src.sock.fd(), libc::EPOLLIN, TOKEN_SOURCE)?;
        }
        let udp = match s.udp {
            Some((sock, addrs)) => {
                reg(sock.as_raw_fd(), libc::EPOLLOUT | libc::EPOLLET, TOKEN_UDP)?;
                Some(UdpGroup {
                    sock,
                    addrs: addrs.iter().map(RawAddr::from).collect(),
                    cursor: 0,
                    next: 0,
                    blocked: false,
                })
            }
            None => None,
        };
        let mut tcp = Vec::with_capacity(s.tcp.len());
        for (i, stream) in s.tcp.into_iter().enumerate() {
            reg(
                stream.as_raw_fd(),
                libc::EPOLLOUT | libc::EPOLLET,
                TOKEN_TCP + i as u64,
            )?;
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string());
            tcp.push(TcpSink {
                peer,
                stream,
                cursor: 0,
                partial: None,
                blocked: false,
                dead: false,
            });
        }
        Ok(Worker {
            id: s.id,
            sh,
            ep,
            window: VecDeque::new(),
            base: 0,
            fetched: Vec::new(),
            head: 0,
            ended: false,
            udp,
            tcp,
            src: s.source,
            st: Stats::default(),
            iovs: Vec::with_capacity(IOV_MAX),
            msgs: Vec::with_capacity(IOV_MAX),
            spans: Vec::with_capacity(IOV_MAX),
        })
    }

    fn run(mut self) -> Result<Stats, String> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let more = self.read_source()?;
            if self.sh.ring.is_stopped() {
                break;
            }
            self.refill();
            self.serve_udp();
            self.serve_tcp();
            self.trim();
            let now = Instant::now();
            let mut timeout = None;
            if self.ended {
                if self.caught_up() {
                    break;
                }
                let dl = *drain_deadline.get_or_insert(now + self.sh.drain);
                if now >= dl {
                    self.count_undelivered();
                    break;
                }
                timeout = Some(dl - now);
            }
            if let Some(src) = self.src.as_ref().filter(|s| s.open) {
                let t = src
                    .clock
                    .time_left(now)
                    .map_or(SOURCE_TICK, |t| t.min(SOURCE_TICK));
                timeout = Some(timeout.map_or(t, |x: Duration| x.min(t)));
            }
            if more {
                timeout = Some(Duration::ZERO);
            }
            self.sleep(&mut events, timeout)?;
        }
        for s in &self.tcp {
            let _ = s.stream.shutdown(Shutdown::Write);
        }
        Ok(self.st)
    }

    /// Thread 0: reads up to its budget of packets from the source into the ring. Returns
    /// whether the source may have more right now.
    fn read_source(&mut self) -> Result<bool, String> {
        let Some(src) = self.src.as_mut().filter(|s| s.open) else {
            return Ok(false);
        };
        if src.clock.expired(Instant::now()) {
            src.open = false;
            self.sh.stop();
            return Ok(false);
        }
        let mut got = 0;
        while got < src.budget {
            match src.read_batch(src.budget - got, &mut self.iovs, &mut self.msgs) {
                Ok(Got::Packets(n, more)) => {
                    for p in &src.batch[..n] {
                        self.st.rx_packets += 1;
                        self.st.rx_bytes += p.len() as u64;
                    }
                    self.sh.ring.push(src.batch.drain(..n), &mut src.pool);
                    self.sh.wake_sleepers(self.id);
                    src.clock.received(Instant::now());
                    got += n;
                    if !more {
                        return Ok(false);
                    }
                }
                Ok(Got::Nothing) => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                r => {
                    if let Err(e) = r {
                        eprintln!("omss-epoll-relay: source: {e}");
                    }
                    src.open = false;
                    let _ = self.ep.delete(src.sock.fd());
                    self.sh.ring.finish();
                    self.sh.wake_all();
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Takes the packets that arrived since the last call from the ring into the window.
    fn refill(&mut self) {
        let end = self.base + self.window.len() as u64;
        self.fetched.clear();
        let v = self.sh.ring.read(end, usize::MAX, &mut self.fetched);
        if v.first > end {
            // This thread fell more than the ring's capacity behind: all it had is stale.
            self.window.clear();
            self.base = v.first;
        }
        self.window.extend(self.fetched.drain(..));
        let cap = self.sh.ring.capacity();
        if self.window.len() > cap {
            let k = self.window.len() - cap;
            self.window.drain(..k);
            self.base += k as u64;
        }
        self.head = v.head;
        self.ended = v.ended;
    }

    /// Drops the packets no sink of this thread needs any more.
    fn trim(&mut self) {
        let end = self.base + self.window.len() as u64;
        let udp = self.udp.as_ref().map(|g| g.cursor);
        let tcp = self.tcp.iter().filter(|s| !s.dead).map(|s| s.cursor);
        let min = udp.into_iter().chain(tcp).min().unwrap_or(end).min(end);
        if min > self.base {
            self.window.drain(..(min - self.base) as usize);
            self.base = min;
        }
    }

    /// UDP: sendmmsg batches of up to IOV_MAX (packet, subscriber) pairs until this thread's
    /// subscribers have every packet of the window or the socket is full.
    fn serve_udp(&mut self) {
        let Some(g) = self.udp.as_mut() else {
            return;
        };
        let n = g.addrs.len();
        if g.blocked || n == 0 {
            return;
        }
        if g.cursor < self.base {
            self.st.dropped += (self.base - g.cursor) * n as u64 - g.next as u64;
            g.cursor = self.base;
            g.next = 0;
        }
        let end = self.base + self.window.len() as u64;
        while g.cursor < end {
            // One iovec per packet; spans say which subscribers get it.
            self.iovs.clear();
            self.spans.clear();
            let (mut seq, mut sub, mut total) = (g.cursor, g.next, 0);
            while total < IOV_MAX && seq < end {
                let take = (n - sub).min(IOV_MAX - total);
                self.spans.push((self.iovs.len(), sub, take));
                let p = &self.window[(seq - self.base) as usize];
                self.iovs.push(sys::iovec(p.bytes()));
                total += take;
                sub += take;
                if sub == n {
                    sub = 0;
                    seq += 1;
                }
            }
            self.msgs.clear();
            let iov0 = self.iovs.as_ptr();
            for &(k, first, count) in &self.spans {
                for a in &g.addrs[first..first + count] {
                    let mut m = sys::mmsghdr();
                    m.msg_hdr.msg_name = &a.storage as *const _ as *mut libc::c_void;
                    m.msg_hdr.msg_namelen = a.len;
                    m.msg_hdr.msg_iov = iov0.wrapping_add(k) as *mut libc::iovec;
                    m.msg_hdr.msg_iovlen = 1;
                    self.msgs.push(m);
                }
            }
            // SAFETY: the names point into `g.addrs` and the iovecs into `self.iovs` (index
            // k < its length), neither touched until the call returns; the iovecs point into
            // packets held by `self.window`.
            match unsafe { sys::sendmmsg(g.sock.as_raw_fd(), &mut self.msgs) } {
                Ok(0) => {
                    g.blocked = true;
                    break;
                }
                Ok(sent) => advance_udp(g, &self.window, self.base, sent, true, &mut self.st),
                Err(e) if would_block(&e) => {
                    g.blocked = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // ENOBUFS, an ICMP error, a firewall: this packet is lost for this subscriber.
                Err(_) => advance_udp(g, &self.window, self.base, 1, false, &mut self.st),
            }
        }
    }

    /// TCP: per sink, writev everything it has pending until it is caught up or full.
    fn serve_tcp(&mut self) {
        let end = self.base + self.window.len() as u64;
        for s in self.tcp.iter_mut() {
            if s.dead || s.blocked {
                continue;
            }
            if s.cursor < self.base {
                self.st.dropped += self.base - s.cursor;
                s.cursor = self.base;
            }
            loop {
                self.iovs.clear();
                if let Some((p, off)) = &s.partial {
                    self.iovs.push(sys::iovec(&p.bytes()[*off..]));
                }
                let from = (s.cursor - self.base) as usize;
                for p in self.window.range(from..) {
                    if self.iovs.len() == IOV_MAX {
                        break;
                    }
                    if !p.is_empty() {
                        self.iovs.push(sys::iovec(p.bytes()));
                    }
                }
                if self.iovs.is_empty() {
                    // Nothing but empty packets left: they are delivered as they are.
                    self.st.tx_packets += end - s.cursor;
                    s.cursor = end;
                    break;
                }
                // SAFETY: the iovecs point into packets held by `s.partial` and
                // `self.window`, both untouched until the call returns.
                match unsafe { sys::writev(s.stream.as_raw_fd(), &self.iovs) } {
                    Ok(0) => {
                        s.blocked = true;
                        break;
                    }
                    Ok(w) => {
                        self.st.tx_bytes += w as u64;
                        consume_tcp(s, &self.window, self.base, w, &mut self.st);
                    }
                    Err(e) if would_block(&e) => {
                        s.blocked = true;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        eprintln!(
                            "omss-epoll-relay: sink {}: {e}; no longer sending to it",
                            s.peer
                        );
                        s.dead = true;
                        s.partial = None;
                        break;
                    }
                }
            }
        }
    }

    fn caught_up(&self) -> bool {
        self.udp
            .as_ref()
            .is_none_or(|g| g.addrs.is_empty() || g.cursor >= self.head)
            && self.tcp.iter().all(|s| s.done(self.head))
    }

    /// The drain timeout ran out: what is still unsent counts as dropped.
    fn count_undelivered(&mut self) {
        if let Some(g) = &self.udp {
            if g.cursor < self.head {
                self.st.dropped += (self.head - g.cursor) * g.addrs.len() as u64 - g.next as u64;
            }
        }
        for s in self.tcp.iter().filter(|s| !s.dead) {
            self.st.dropped += self.head.saturating_sub(s.cursor) + u64::from(s.partial.is_some());
        }
    }

    /// Waits in epoll_wait for the source, writable sinks or a wake-up.
    fn sleep(
        &mut self,
        events: &mut [libc::epoll_event],
        mut timeout: Option<Duration>,
    ) -> Result<(), String> {
        let w = &self.sh.wakers[self.id];
        let ring = &self.sh.ring;
        if timeout != Some(Duration::ZERO) {
            // Say we sleep, then look again: a packet pushed after this look finds the flag
            // set and writes the eventfd.
            w.sleeping.store(true, Ordering::SeqCst);
            if ring.head() != self.head || ring.is_ended() != self.ended || ring.is_stopped() {
                timeout = Some(Duration::ZERO);
            }
        }
        let n = self
            .ep
            .wait(events, timeout)
            .map_err(|e| format!("epoll_wait: {e}"))?;
        w.sleeping.store(false, Ordering::SeqCst);
        for ev in &events[..n] {
            match ev.u64 {
                TOKEN_WAKE => w.efd.clear(),
                TOKEN_SOURCE => {}
                TOKEN_UDP => {
                    if let Some(g) = self.udp.as_mut() {
                        g.blocked = false;
                    }
                }
                t => {
                    if let Some(s) = self.tcp.get_mut((t - TOKEN_TCP) as usize) {
                        s.blocked = false;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Records `k` more (packet, subscriber) pairs of a UDP group as sent (or dropped).
fn advance_udp(
    g: &mut UdpGroup,
    window: &VecDeque<Pkt>,
    base: u64,
    mut k: usize,
    delivered: bool,
    st: &mut Stats,
) {
    let n = g.addrs.len();
    while k > 0 {
        let len = window[(g.cursor - base) as usize].len() as u64;
        let take = k.min(n - g.next);
        if delivered {
            st.tx_packets += take as u64;
            st.tx_bytes += take as u64 * len;
        } else {
            st.dropped += take as u64;
        }
        g.next += take;
        k -= take;
        if g.next == n {
            g.next = 0;
            g.cursor += 1;
        }
    }
}

/// Records `w` more bytes written to a TCP sink: finished packets advance its cursor, and a
/// packet cut short becomes its partial packet.
fn consume_tcp(s: &mut TcpSink, window: &VecDeque<Pkt>, base: u64, mut w: usize, st: &mut Stats) {
    if let Some((p, off)) = s.partial.as_mut() {
        let rest = p.len() - *off;
        if w < rest {
            *off += w;
            return;
        }
        w -= rest;
        s.partial = None;
        st.tx_packets += 1;
    }
    let end = base + window.len() as u64;
    while s.cursor < end {
        let p = &window[(s.cursor - base) as usize];
        if w >= p.len() {
            w -= p.len();
            st.tx_packets += 1;
        } else if w == 0 {
            return;
        } else {
            s.partial = Some((p.clone(), w));
        }
        s.cursor += 1;
        if s.partial.is_some() {
            return;
        }
    }
}
