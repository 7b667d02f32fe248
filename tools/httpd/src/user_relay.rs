//! `--mode user`: the comparison data path, a user-space copy relay. One thread per stream
//! receives each datagram once and writes it to every client socket (non-blocking); a
//! client that cannot take it keeps up to `MAX_QUEUED` datagrams queued, and loses the
//! newest beyond that, whole datagrams only, so its byte stream stays parseable.
//! With a burst, the relay keeps the datagrams of the last burst time (at most
//! `MAX_QUEUED`, as an OMSS session keeps at most its ring) and a new client starts with
//! them, as OMSS's late-joiner burst does.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Datagrams queued per client at most (the OMSS ring's default capacity).
const MAX_QUEUED: usize = 256;

pub struct UserSink {
    pub id: u32,
    pub sock: TcpStream,
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the queue's front already written.
    front_off: usize,
    pub bytes: u64,
    pub packets: u64,
    pub lost: u64,
    pub failed: Option<i32>,
}

impl UserSink {
    pub fn lag(&self) -> u64 {
        self.queue.len() as u64
    }

    /// Writes what is queued; stops at the first datagram the socket cannot take whole.
    fn flush(&mut self) {
        while let Some(d) = self.queue.front() {
            match self.sock.write(&d[self.front_off..]) {
                Ok(n) => {
                    self.front_off += n;
                    self.bytes += n as u64;
                    if self.front_off == d.len() {
                        self.queue.pop_front();
                        self.front_off = 0;
                        self.packets += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = Some(e.raw_os_error().unwrap_or(libc::EIO));
                    self.queue.clear();
                    return;
                }
            }
        }
    }

    fn push(&mut self, d: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.queue.len() >= MAX_QUEUED {
            self.lost += 1;
            return;
        }
        self.queue.push_back(d.to_vec());
        self.flush();
    }
}

/// The relay's clients and, with a burst, its recent datagrams (under one lock, so that a
/// new client gets exactly the datagrams before the ones it is pushed).
#[derive(Default)]
pub struct Sinks {
    pub list: Vec<UserSink>,
    /// The datagrams of the last burst time, oldest first, with their arrival times.
    recent: VecDeque<(Instant, Vec<u8>)>,
}

impl Sinks {
    /// Keeps `d`, received at `now`, for late joiners; forgets what is older than `burst`.
    fn remember(&mut self, d: &[u8], now: Instant, burst: Duration) {
        if burst.is_zero() {
            return;
        }
        self.recent.push_back((now, d.to_vec()));
        self.forget(now, burst);
    }

    fn forget(&mut self, now: Instant, burst: Duration) {
        while self.recent.len() > MAX_QUEUED
            || self
                .recent
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > burst)
        {
            self.recent.pop_front();
        }
    }
}

pub struct UserRelay {
    pub sinks: Arc<Mutex<Sinks>>,
    pub rx_bytes: Arc<AtomicU64>,
    pub rx_packets: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    burst: Duration,
}

impl UserRelay {
    /// Relays what `source` receives; a new client starts `burst` back (0: with the next
    /// datagram).
    pub fn start(source: UdpSocket, burst: Duration) -> io::Result<Self> {
        source.set_read_timeout(Some(Duration::from_millis(20)))?;
        let sinks: Arc<Mutex<Sinks>> = Arc::default();
        let rx_bytes: Arc<AtomicU64> = Arc::default();
        let rx_packets: Arc<AtomicU64> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let (s, b, p, st, burst) = (
            sinks.clone(),
            rx_bytes.clone(),
            rx_packets.clone(),
            stop.clone(),
            burst,
        );
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !st.load(Relaxed) {
                let got = source.recv(&mut buf);
                let mut sinks = s.lock().unwrap();
                match got {
                    Ok(n) => {
                        b.fetch_add(n as u64, Relaxed);
                        p.fetch_add(1, Relaxed);
                        sinks.list.iter_mut().for_each(|k| k.push(&buf[..n]));
                        sinks.remember(&buf[..n], Instant::now(), burst);
                    }
                    // Timed out: a chance to drain the queues of clients that were full.
                    Err(_) => sinks.list.iter_mut().for_each(|k| k.flush()),
                }
            }
        });
        Ok(Self {
            sinks,
            rx_bytes,
            rx_packets,
            stop,
            thread: Some(thread),
            burst,
        })
    }

    /// Adds a client; it starts with the datagrams of the last burst time.
    pub fn add(&self, id: u32, sock: TcpStream) -> io::Result<()> {
        sock.set_nonblocking(true)?;
        let mut sinks = self.sinks.lock().unwrap();
        sinks.forget(Instant::now(), self.burst);
        let mut k = UserSink {
            id,
            sock,
            queue: sinks.recent.iter().map(|(_, d)| d.clone()).collect(),
            front_off: 0,
            bytes: 0,
            packets: 0,
            lost: 0,
            failed: None,
        };
        k.flush();
        sinks.list.push(k);
        Ok(())
    }
}

impl Drop for UserRelay {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
