//! `omss-uring-relay`: the strongest user-space relay on Linux 6.12, built on io_uring.
//!
//! One thread and one ring. The source is read into one of `BUFS` registered buffers; each
//! packet then becomes one batch of send submissions, one per sink, from that same buffer:
//! `IORING_OP_WRITE_FIXED` (plain: the kernel copies from the registered buffer) or
//! `IORING_OP_SEND_ZC` with the fixed buffer (zero copy: the NIC reads the pinned pages, and
//! a notification says when the buffer is free again). `--send auto` picks zero copy from
//! `--zc-min` bytes up, the size where the benchmark found it cheaper.
//!
//! A sink has at most one send in flight, so its packets leave in order (io_uring does not
//! order independent submissions); later packets queue behind it. A buffer returns to the
//! free list when every sink's use of it completed. A sink more than `--ring` packets behind
//! skips packets (counted as dropped); a UDP send that fails is dropped for that sink; a TCP
//! sink whose send fails is closed.

use clap::Parser;
use io_uring::{cqueue, opcode, types, IoUring};
use omss_relays::args::{exit_status, install_stop_signals};
use omss_relays::net::SinkSockets;
use omss_relays::{Args, Report, Source, Stats, StopClock};
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "omss-uring-relay",
    version,
    about = "User-space relay on io_uring: registered buffers, one batch of sends per packet"
)]
struct Cli {
    #[command(flatten)]
    args: Args,
    /// plain (WRITE_FIXED), zc (SEND_ZC) or auto (zc from --zc-min bytes up).
    #[arg(long, default_value = "auto")]
    send: String,
    /// With --send auto: the smallest packet sent with zero copy.
    #[arg(long, default_value_t = 65536)]
    zc_min: usize,
}

/// Registered buffers, each one source read.
const BUFS: usize = 256;
/// Submission queue entries; a batch larger than this is submitted in parts.
const SQ: u32 = 4096;
const RECV: u64 = 1 << 62;
const SEND: u64 = 2 << 62;

fn main() -> ExitCode {
    let cli = Cli::parse();
    exit_status("omss-uring-relay", run(&cli))
}

struct Sink {
    fd: RawFd,
    /// (buffer, bytes already sent) of the packets this sink still has to send, oldest first.
    queue: VecDeque<(usize, u32)>,
    /// A send of the queue's head is in flight.
    busy: bool,
    dead: bool,
}

struct Relay {
    ring: IoUring,
    sinks: Vec<Sink>,
    /// Per buffer: bytes read, and uses not yet completed (queued or in flight).
    len: Vec<u32>,
    refs: Vec<u32>,
    free: Vec<usize>,
    bufs: Vec<Box<[u8]>>,
    tcp: bool,
    zc_min: usize,
    backlog: usize,
    st: Stats,
}

impl Relay {
    /// Queues one submission, submitting what is queued first when the queue is full.
    fn push(&mut self, e: io_uring::squeue::Entry) -> Result<(), String> {
        loop {
            // SAFETY: every buffer an entry names is one of `self.bufs`, registered with the
            // ring and alive as long as the ring (the ring is dropped first, see `run`).
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return Ok(());
            }
            self.ring.submit().map_err(|e| format!("submit: {e}"))?;
        }
    }

    fn post_recv(&mut self, fd: RawFd, b: usize) -> Result<(), String> {
        let buf = &mut self.bufs[b];
        let e = opcode::ReadFixed::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32, b as u16)
            .build()
            .user_data(RECV | b as u64);
        self.push(e)
    }

    /// Starts the head of sink `s`'s queue if nothing of it is in flight.
    fn kick(&mut self, s: usize) -> Result<(), String> {
        let sink = &self.sinks[s];
        let Some(&(b, off)) = sink.queue.front() else {
            return Ok(());
        };
        if sink.busy || sink.dead {
            return Ok(());
        }
        let (fd, len) = (types::Fd(sink.fd), self.len[b] - off);
        // SAFETY (of the pointer arithmetic): `off < len[b] <= bufs[b].len()`.
        let ptr = self.bufs[b][off as usize..].as_ptr();
        let e = if self.len[b] as usize >= self.zc_min {
            opcode::SendZc::new(fd, ptr, len)
                .buf_index(Some(b as u16))
                .flags(libc::MSG_NOSIGNAL)
                .build()
        } else {
            opcode::WriteFixed::new(fd, ptr, len, b as u16).build()
        };
        self.sinks[s].busy = true;
        self.push(e.user_data(SEND | (b as u64) << 32 | s as u64))
    }

    fn release(&mut self, b: usize) {
        self.refs[b] -= 1;
        if self.refs[b] == 0 {
            self.free.push(b);
        }
    }

    /// A packet of `n` bytes arrived in buffer `b`: every live sink queues it.
    fn fan_out(&mut self, b: usize, n: u32) -> Result<(), String> {
        self.len[b] = n;
        self.st.rx_packets += 1;
        self.st.rx_bytes += u64::from(n);
        for s in 0..self.sinks.len() {
            let sink = &mut self.sinks[s];
            if sink.dead {
                continue;
            }
            if sink.queue.len() >= self.backlog {
                self.st.dropped += 1;
                continue;
            }
            sink.queue.push_back((b, 0));
            self.refs[b] += 1;
            self.kick(s)?;
        }
        if self.refs[b] == 0 {
            self.free.push(b);
        }
        Ok(())
    }

    /// A send of sink `s` from buffer `b` completed with `res` (bytes or -errno).
    fn sent(&mut self, s: usize, b: usize, res: i32) -> Result<(), String> {
        self.sinks[s].busy = false;
        let (qb, off) = *self.sinks[s]
            .queue
            .front()
            .expect("a send in flight has a head");
        debug_assert_eq!(qb, b);
        if res < 0 {
            self.sinks[s].queue.pop_front();
            self.st.dropped += 1;
            if self.tcp {
                self.close(s);
            }
        } else if self.tcp && off + (res as u32) < self.len[b] {
            // A short TCP write: the rest goes next, and keeps its use of the buffer.
            self.sinks[s].queue[0].1 = off + res as u32;
            self.refs[b] += 1;
        } else {
            self.sinks[s].queue.pop_front();
            self.st.tx_packets += 1;
            self.st.tx_bytes += u64::from(self.len[b] - off);
        }
        self.kick(s)
    }

    /// A TCP sink failed: it drops what it had queued.
    fn close(&mut self, s: usize) {
        self.sinks[s].dead = true;
        let q = std::mem::take(&mut self.sinks[s].queue);
        self.st.dropped += q.len() as u64;
        for (b, _) in q {
            self.release(b);
        }
    }

    fn idle(&self) -> bool {
        self.sinks.iter().all(|s| s.queue.is_empty() && !s.busy) && self.free.len() == BUFS
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let a = &cli.args;
    a.validate()?;
    install_stop_signals();
    let zc_min = match cli.send.as_str() {
        "plain" => usize::MAX,
        "zc" => 0,
        "auto" => cli.zc_min,
        m => return Err(format!("--send: {m:?} is not plain, zc or auto")),
    };
    let socks = SinkSockets::open(a)?;
    let fds = socks.fds();
    let source = Source::open(a)?;
    let size = a.packet_size();
    let bufs: Vec<Box<[u8]>> = (0..BUFS)
        .map(|_| vec![0u8; size].into_boxed_slice())
        .collect();
    let ring = IoUring::new(SQ).map_err(|e| format!("io_uring: {e}"))?;
    let iov: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut _,
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: the buffers live in `Relay::bufs`, which outlives the ring's use of them: the
    // ring is the relay's first field, so it is dropped (and unregisters them) first.
    unsafe { ring.submitter().register_buffers(&iov) }
        .map_err(|e| format!("register buffers: {e}"))?;
    let mut r = Relay {
        ring,
        sinks: fds
            .iter()
            .map(|&fd| Sink {
                fd,
                queue: VecDeque::new(),
                busy: false,
                dead: false,
            })
            .collect(),
        len: vec![0; BUFS],
        refs: vec![0; BUFS],
        free: (0..BUFS).rev().collect(),
        bufs,
        tcp: source.is_tcp(),
        zc_min,
        backlog: a.ring.clamp(1, BUFS / 2),
        st: Stats::default(),
    };
    eprintln!("ready");
    let start = Instant::now();
    let mut clock = StopClock::new(a);
    let (mut reading, mut ended, mut drain_until) = (false, false, None);
    let tick = types::Timespec::new().nsec(100_000_000);
    let mut cqes: Vec<(u64, i32, u32)> = Vec::new();
    loop {
        let now = Instant::now();
        if !ended && clock.expired(now) {
            ended = true;
        }
        if ended {
            let until = *drain_until.get_or_insert(now + a.drain());
            if (r.idle() && !reading) || now >= until {
                break;
            }
        } else if !reading {
            if let Some(b) = r.free.pop() {
                r.post_recv(source.fd(), b)?;
                reading = true;
            }
        }
        let args = types::SubmitArgs::new().timespec(&tick);
        match r.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(format!("io_uring_enter: {e}")),
        }
        cqes.clear();
        cqes.extend(
            r.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(ud, res, flags) in &cqes {
            let b = ((ud >> 32) & 0xffff) as usize;
            if ud & RECV != 0 {
                let b = (ud & 0xffff) as usize;
                reading = false;
                match res {
                    n if n > 0 => {
                        clock.received(Instant::now());
                        r.fan_out(b, n as u32)?;
                    }
                    0 if r.tcp => {
                        r.free.push(b);
                        ended = true;
                    }
                    e if -e == libc::EINTR || -e == libc::EAGAIN => r.free.push(b),
                    e => return Err(format!("source read: errno {}", -e)),
                }
            } else if cqueue::notif(flags) {
                r.release(b); // the zero-copy send's pages are no longer in use
            } else {
                let s = (ud & 0xffff_ffff) as usize;
                r.sent(s, b, res)?;
                if !cqueue::more(flags) {
                    r.release(b);
                }
            }
        }
    }
    let threads = 1;
    Report {
        implementation: "iouring",
        stats: std::mem::take(&mut r.st),
        threads,
        sinks: r.sinks.len(),
        elapsed: start.elapsed(),
    }
    .print(a.json);
    Ok(())
}
