//! `omss-daemon`: the "Daemon" baseline of the paper, a user-space relay through the socket
//! API.
//!
//! Threads = number of CPUs (`--threads`), at least 2. Thread 0 receives from the source
//! (one `recv()`/`read()` per packet, straight into a buffer of the shared ring: the copy
//! into user space). Threads 1..T-1 each own a static share of the sinks; they sleep on the
//! ring's condition variable and, for each new packet, call `send()` (UDP, one connected
//! socket per subscriber) or `write()` (TCP) once per sink: one copy back into the kernel and
//! one syscall per sink per packet.
//!
//! All sink sockets are non-blocking. UDP: a send that fails (full socket buffer, ICMP
//! error, ...) drops that packet for that sink and counts it. TCP: a short or refused write
//! leaves the rest of the packet pending for that sink, resumed at the same offset (retried
//! on each new packet, or every millisecond while nothing new arrives); a sink that falls more
//! than `--ring` packets behind skips whole packets, counted as dropped.

use clap::Parser;
use omss_relays::args::{exit_status, install_stop_signals};
use omss_relays::net::{self, would_block};
use omss_relays::ring::packet_mut;
use omss_relays::{Args, PacketPool, Pkt, Report, Ring, Sinks, Source, Stats, StopClock};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "omss-daemon",
    version,
    about = "User-space relay baseline (the paper's Daemon): one receiving thread, the others \
             sending with one syscall per sink per packet"
)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

fn main() -> ExitCode {
    exit_status("omss-daemon", run(&Cli::parse().args))
}

/// How long a sender with a blocked TCP sink waits for a new packet before retrying.
const RETRY: Duration = Duration::from_millis(1);
/// How often the receiver looks at the stop conditions while the source is quiet.
const RECV_TICK: Duration = Duration::from_millis(100);

fn run(a: &Args) -> Result<(), String> {
    a.validate()?;
    install_stop_signals();
    let conns: Vec<Conn> = match Sinks::open(a)? {
        Sinks::Udp(addrs) => addrs
            .iter()
            .map(|d| {
                let s = net::udp_sender_for(d)?;
                s.connect(d).map_err(|e| format!("connect {d}: {e}"))?;
                Ok(Conn::Udp(s))
            })
            .collect::<Result<_, String>>()?,
        Sinks::Tcp(v) => v.into_iter().map(Conn::Tcp).collect(),
    };
    let nsinks = conns.len();
    let source = Source::open(a)?;

    let senders = (a.threads_wanted().max(2) - 1).min(nsinks);
    let mut shares: Vec<Vec<Sink>> = (0..senders).map(|_| Vec::new()).collect();
    for (i, c) in conns.into_iter().enumerate() {
        shares[i % senders].push(Sink::new(c));
    }
    let ring = Arc::new(Ring::new(a.ring));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(senders);
    for (i, share) in shares.into_iter().enumerate() {
        let (ring2, drain) = (ring.clone(), a.drain());
        let h = thread::Builder::new()
            .name(format!("daemon-tx{}", i + 1))
            .spawn(move || send_loop(&ring2, share, drain));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                ring.stop();
                return Err(format!("spawn a sender thread: {e}"));
            }
        }
    }
    eprintln!("ready");

    let mut total = receive_loop(&source, &ring, a);
    for h in handles {
        total += h.join().map_err(|_| "a sender thread panicked")?;
    }
    drop(source);
    Report {
        implementation: "daemon",
        stats: total,
        threads: senders + 1,
        sinks: nsinks,
        elapsed: start.elapsed(),
    }
    .print(a.json);
    Ok(())
}

/// Thread 0: one `recv()`/`read()` per packet into the ring, until the source ends or a stop
/// condition holds.
fn receive_loop(source: &Source, ring: &Ring, a: &Args) -> Stats {
    let mut st = Stats::default();
    if let Err(e) = source.set_read_timeout(Some(RECV_TICK)) {
        eprintln!("omss-daemon: source: read timeout: {e}");
    }
    let mut pool = PacketPool::new(a.packet_size());
    let mut clock = StopClock::new(a);
    loop {
        if clock.expired(Instant::now()) {
            ring.stop();
            break;
        }
        let mut pkt = pool.take();
        let buf = packet_mut(&mut pkt).buffer_mut();
        let r = match source {
            Source::Udp(s) => s.recv(buf),
            Source::Tcp(s) => {
                let mut s: &TcpStream = s;
                s.read(buf)
            }
        };
        match r {
            Ok(0) if source.is_tcp() => {
                ring.finish();
                break;
            }
            Ok(n) => {
                packet_mut(&mut pkt).set_len(n);
                st.rx_packets += 1;
                st.rx_bytes += n as u64;
                clock.received(Instant::now());
                ring.push([pkt], &mut pool);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                pool.give(pkt);
            }
            Err(e) => {
                eprintln!("omss-daemon: source: {e}");
                ring.finish();
                break;
            }
        }
    }
    st
}

enum Conn {
    /// Connected to its subscriber.
    Udp(UdpSocket),
    Tcp(TcpStream),
}

struct Sink {
    conn: Conn,
    /// Sequence number of the next packet to start sending.
    cursor: u64,
    /// TCP: a packet partly written, and how much of it was.
    pending: Option<(Pkt, usize)>,
    /// TCP: the connection failed; nothing more is sent to it.
    dead: bool,
    /// The subscriber's address, for messages.
    peer: String,
}

impl Sink {
    fn new(conn: Conn) -> Sink {
        let peer = match &conn {
            Conn::Udp(s) => s.peer_addr(),
            Conn::Tcp(s) => s.peer_addr(),
        };
        Sink {
            conn,
            cursor: 0,
            pending: None,
            dead: false,
            peer: peer.map_or_else(|_| "?".into(), |a| a.to_string()),
        }
    }

    fn live(&self) -> bool {
        !self.dead
    }

    /// Sends packet `p`, the one at `cursor`: one syscall (more only if interrupted).
    fn send(&mut self, p: &Pkt, st: &mut Stats) {
        self.cursor += 1;
        match &self.conn {
            Conn::Udp(s) => match s.send(p.bytes()) {
                Ok(n) => {
                    st.tx_packets += 1;
                    st.tx_bytes += n as u64;
                }
                Err(_) => st.dropped += 1,
            },
            Conn::Tcp(_) => {
                self.pending = Some((p.clone(), 0));
                self.flush(st);
            }
        }
    }

    /// TCP: writes what is left of the pending packet, until done or the socket is full.
    fn flush(&mut self, st: &mut Stats) {
        let Sink {
            conn: Conn::Tcp(s),
            pending,
            dead,
            peer,
            ..
        } = self
        else {
            return;
        };
        loop {
            let Some((p, off)) = pending.as_mut() else {
                return;
            };
            if *off == p.len() {
                st.tx_packets += 1;
                *pending = None;
                return;
            }
            match s.write(&p.bytes()[*off..]) {
                Ok(0) => return,
                Ok(n) => {
                    *off += n;
                    st.tx_bytes += n as u64;
                }
                Err(e) if would_block(&e) => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("omss-daemon: sink {peer}: {e}; no longer sending to it");
                    *dead = true;
                    *pending = None;
                    return;
                }
            }
        }
    }

    /// Whether this sink has sent everything before `head`.
    fn done(&self, head: u64) -> bool {
        self.dead || (self.pending.is_none() && self.cursor >= head)
    }

    fn undelivered(&self, head: u64) -> u64 {
        if self.dead {
            0
        } else {
            head.saturating_sub(self.cursor) + u64::from(self.pending.is_some())
        }
    }
}

/// Threads 1..T-1: for each new packet, one send per sink of this thread's share.
fn send_loop(ring: &Ring, mut sinks: Vec<Sink>, drain: Duration) -> Stats {
    let mut st = Stats::default();
    let mut snap: Vec<Pkt> = Vec::with_capacity(ring.capacity());
    let mut drain_deadline: Option<Instant> = None;
    loop {
        for s in sinks.iter_mut().filter(|s| s.pending.is_some()) {
            s.flush(&mut st);
        }
        let Some(lo) = sinks.iter().filter(|s| s.live()).map(|s| s.cursor).min() else {
            break;
        };
        snap.clear();
        let v = ring.read(lo, usize::MAX, &mut snap);
        if v.stopped {
            break;
        }
        // Sinks more than the ring's capacity behind skip whole packets.
        for s in sinks.iter_mut().filter(|s| s.live() && s.cursor < v.first) {
            st.dropped += v.first - s.cursor;
            s.cursor = v.first;
        }
        for (seq, p) in (v.first..).zip(&snap) {
            for s in sinks.iter_mut() {
                if s.live() && s.pending.is_none() && s.cursor == seq {
                    s.send(p, &mut st);
                }
            }
        }
        // Let go of the packets so that the receiver can reuse their buffers.
        snap.clear();
        if v.ended {
            if sinks.iter().all(|s| s.done(v.head)) {
                break;
            }
            let dl = *drain_deadline.get_or_insert_with(|| Instant::now() + drain);
            if Instant::now() >= dl {
                st.dropped += sinks.iter().map(|s| s.undelivered(v.head)).sum::<u64>();
                break;
            }
        }
        let blocked = sinks.iter().any(|s| s.pending.is_some());
        ring.wait(v.head, blocked.then_some(RETRY));
    }
    for s in &sinks {
        if let Conn::Tcp(t) = &s.conn {
            let _ = t.shutdown(Shutdown::Write);
        }
    }
    st
}
