//! The shared packet ring between the thread that reads the source and the threads that
//! send to the sinks.
//!
//! The source thread receives each packet straight into a [`Packet`] buffer (the one copy
//! into user space) and publishes it as a reference-counted [`Pkt`]; sending threads take
//! references, never copies. The ring keeps the last `capacity` packets: the source never
//! waits for a sink, and a sink that falls more than `capacity` packets behind skips whole
//! packets (slowest-sink drop). Buffers that nobody references any more when they leave the
//! ring go back to the source thread's [`PacketPool`], so the steady state allocates nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One packet: a datagram, or a chunk of a TCP stream.
#[derive(Debug)]
pub struct Packet {
    buf: Box<[u8]>,
    len: usize,
}

impl Packet {
    /// An empty packet with room for `capacity` bytes.
    pub fn new(capacity: usize) -> Packet {
        Packet {
            buf: vec![0; capacity].into_boxed_slice(),
            len: 0,
        }
    }

    /// A packet holding a copy of `b` (for tests).
    pub fn from_bytes(b: &[u8]) -> Packet {
        Packet {
            buf: b.into(),
            len: b.len(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole buffer, to receive into.
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Sets how many bytes of the buffer hold the packet.
    pub fn set_len(&mut self, n: usize) {
        assert!(n <= self.buf.len(), "packet length past its buffer");
        self.len = n;
    }
}

/// A shared, immutable packet.
pub type Pkt = Arc<Packet>;

/// The source thread's free buffers.
#[derive(Debug)]
pub struct PacketPool {
    size: usize,
    free: Vec<Pkt>,
    evicted: Vec<Pkt>,
}

/// Free buffers kept at most.
const POOL_MAX: usize = 1024;

impl PacketPool {
    /// A pool of buffers of `size` bytes each.
    pub fn new(size: usize) -> PacketPool {
        PacketPool {
            size,
            free: Vec::new(),
            evicted: Vec::new(),
        }
    }

    /// Bytes per buffer.
    pub fn size(&self) -> usize {
        self.size
    }

    /// An unshared packet to receive into: [`Arc::get_mut`] on it succeeds.
    pub fn take(&mut self) -> Pkt {
        self.free
            .pop()
            .unwrap_or_else(|| Arc::new(Packet::new(self.size)))
    }

    /// Returns a packet; it is reused if nothing else references it.
    pub fn give(&mut self, mut p: Pkt) {
        if self.free.len() < POOL_MAX && Arc::get_mut(&mut p).is_some() {
            self.free.push(p);
        }
    }

    fn recycle_evicted(&mut self) {
        while let Some(p) = self.evicted.pop() {
            self.give(p);
        }
    }
}

/// Exclusive access to a packet just taken from a [`PacketPool`].
pub fn packet_mut(p: &mut Pkt) -> &mut Packet {
    Arc::get_mut(p).expect("a packet from the pool is unshared")
}

/// What a reader saw in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Sequence number of the first packet returned (later than asked for if those were
    /// overwritten: the reader lost `first - from` packets).
    pub first: u64,
    /// Sequence number the next packet will get.
    pub head: u64,
    /// The source ended: `head` is final.
    pub ended: bool,
    /// The relay is stopping: send nothing more.
    pub stopped: bool,
}

#[derive(Debug)]
struct State {
    slots: Vec<Option<Pkt>>,
    head: u64,
    ended: bool,
    stopped: bool,
    waiters: usize,
}

/// The ring of the last `capacity` packets, indexed by sequence number (0, 1, 2, ...).
#[derive(Debug)]
pub struct Ring {
    cap: usize,
    state: Mutex<State>,
    cond: Condvar,
    head: AtomicU64,
    ended: AtomicBool,
    stopped: AtomicBool,
}

impl Ring {
    pub fn new(capacity: usize) -> Ring {
        assert!(capacity > 0, "ring capacity 0");
        Ring {
            cap: capacity,
            state: Mutex::new(State {
                slots: vec![None; capacity],
                head: 0,
                ended: false,
                stopped: false,
                waiters: 0,
            }),
            cond: Condvar::new(),
            head: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends packets; the ones they overwrite go back to `pool` if unreferenced. Wakes
    /// threads blocked in [`Ring::wait`].
    pub fn push(&self, pkts: impl IntoIterator<Item = Pkt>, pool: &mut PacketPool) {
        let wake = {
            let mut st = self.lock();
            for p in pkts {
                let i = (st.head % self.cap as u64) as usize;
                if let Some(old) = st.slots[i].replace(p) {
                    pool.evicted.push(old);
                }
                st.head += 1;
            }
            self.head.store(st.head, Ordering::SeqCst);
            st.waiters > 0
        };
        if wake {
            self.cond.notify_all();
        }
        pool.recycle_evicted();
    }

    /// Appends to `out` the packets from sequence number `from` on (or from the oldest one
    /// kept, if `from` was overwritten), at most `max` of them.
    pub fn read(&self, from: u64, max: usize, out: &mut Vec<Pkt>) -> View {
        let st = self.lock();
        let oldest = st.head.saturating_sub(self.cap as u64);
        let first = from.max(oldest);
        let end = st.head.min(first.saturating_add(max as u64));
        for seq in first..end {
            let p = st.slots[(seq % self.cap as u64) as usize].clone();
            out.push(p.expect("a slot inside the window holds a packet"));
        }
        View {
            first,
            head: st.head,
            ended: st.ended,
            stopped: st.stopped,
        }
    }

    /// Blocks until a packet past `seen_head` arrives, the source ends, the relay stops, or
    /// `timeout` passes.
    pub fn wait(&self, seen_head: u64, timeout: Option<Duration>) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.lock();
        while st.head <= seen_head && !st.ended && !st.stopped {
            st.waiters += 1;
            st = match deadline {
                None => self.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    let (g, _) = self
                        .cond
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner());
                    g
                }
            };
            st.waiters -= 1;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
    }

    /// Sequence number the next packet will get.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// The source ended: no packet follows; senders drain and finish.
    pub fn finish(&self) {
        let mut st = self.lock();
        st.ended = true;
        self.ended.store(true, Ordering::SeqCst);
        drop(st);
        self.cond.notify_all();
    }

    /// The relay stops now: senders finish without draining.
    pub fn stop(&self) {
        let mut st = self.lock();
        st.stopped = true;
        self.stopped.store(true, Ordering::SeqCst);
        drop(st);
        self.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_bytes(r: &Ring, pool: &mut PacketPool, b: &[u8]) {
        r.push([Arc::new(Packet::from_bytes(b))], pool);
    }

    #[test]
    fn reads_in_order_and_skips_what_was_overwritten() {
        let r = Ring::new(4);
        let mut pool = PacketPool::new(16);
        for i in 0..6u8 {
            push_bytes(&r, &mut pool, &[i]);
        }
        let mut out = Vec::new();
        let v = r.read(0, usize::MAX, &mut out);
        assert_eq!((v.first, v.head), (2, 6));
        let got: Vec<u8> = out.iter().map(|p| p.bytes()[0]).collect();
        assert_eq!(got, [2, 3, 4, 5]);
        out.clear();
        let v = r.read(5, 10, &mut out);
        assert_eq!((v.first, out.len()), (5, 1));
        out.clear();
        let v = r.read(6, 10, &mut out);
        assert_eq!((v.first, out.len()), (6, 0));
    }

    #[test]
    fn recycles_unreferenced_buffers_only() {
        let r = Ring::new(1);
        let mut pool = PacketPool::new(8);
        let held = pool.take();
        r.push([held.clone()], &mut pool);
        r.push([pool.take()], &mut pool);
        // `held` is still referenced here, so it was not recycled.
        assert!(pool.free.is_empty());
        drop(held);
        r.push([pool.take()], &mut pool);
        assert_eq!(pool.free.len(), 1);
    }

    #[test]
    fn wait_returns_on_push_finish_and_timeout() {
        let r = Arc::new(Ring::new(2));
        let t = Instant::now();
        r.wait(0, Some(Duration::from_millis(20)));
        assert!(t.elapsed() >= Duration::from_millis(20));
        let r2 = r.clone();
        let h = std::thread::spawn(move || r2.wait(0, None));
        std::thread::sleep(Duration::from_millis(20));
        r.push(
            [Arc::new(Packet::from_bytes(b"x"))],
            &mut PacketPool::new(1),
        );
        h.join().unwrap();
        let r2 = r.clone();
        let h = std::thread::spawn(move || r2.wait(1, None));
        std::thread::sleep(Duration::from_millis(20));
        r.finish();
        h.join().unwrap();
        assert!(r.is_ended() && !r.is_stopped());
    }
}
