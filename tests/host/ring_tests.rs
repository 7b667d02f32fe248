//! Property tests of the ring accounting (`buffer/ring.rs`) against a model of the sinks.

use crate::ring::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Push,
    AddSink,
    RemoveSink(usize),
    /// Sink i sends up to n entries.
    Send(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Push),
        1 => Just(Op::AddSink),
        1 => (0..8usize).prop_map(Op::RemoveSink),
        4 => (0..8usize, 1..6u8).prop_map(|(i, n)| Op::Send(i, n)),
    ]
}

struct Sink {
    cur: Cursor,
    joined_at: u64,
    sent: u64,
    fast: bool,
}

struct Model {
    ring: RingIndex,
    users: Vec<u32>,
    sinks: Vec<Sink>,
    /// Every sequence number released or dropped, in order; must be 0..n exactly once each.
    freed: Vec<u64>,
}

impl Model {
    fn new(cap: u32) -> Self {
        Self {
            ring: RingIndex::new(cap),
            users: vec![0; cap as usize],
            sinks: Vec::new(),
            freed: Vec::new(),
        }
    }

    fn free(&mut self, s: Span) {
        self.freed.extend(s.start..s.end);
    }

    fn send(&mut self, i: usize, n: u8) {
        for _ in 0..n {
            let Some(seq) = self.ring.peek(&mut self.sinks[i].cur) else {
                return;
            };
            let span = self
                .ring
                .complete(&mut self.sinks[i].cur, seq, &mut self.users);
            self.sinks[i].sent += 1;
            self.free(span);
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Push => {
                let head = self.ring.head();
                let dropped = self.ring.make_room(&mut self.users);
                self.free(dropped);
                let (seq, rel) = self.ring.push(&mut self.users);
                assert_eq!(seq, head, "a new entry is always admitted at head");
                self.free(rel);
            }
            Op::AddSink => {
                let cur = self.ring.add_sink();
                let fast = self.sinks.is_empty();
                self.sinks.push(Sink {
                    cur,
                    joined_at: self.ring.head(),
                    sent: 0,
                    fast,
                });
            }
            Op::RemoveSink(i) if i < self.sinks.len() && !self.sinks[i].fast => {
                let s = self.sinks.remove(i);
                let span = self.ring.remove_sink(&s.cur, &mut self.users);
                self.free(span);
            }
            Op::Send(i, n) if i < self.sinks.len() => self.send(i, n),
            _ => {}
        }
        // The fast sink keeps up: it sends everything after each step.
        if let Some(i) = self.sinks.iter().position(|s| s.fast) {
            self.send(i, u8::MAX);
        }
        self.check();
    }

    fn check(&self) {
        let r = &self.ring;
        assert!(
            r.fill() <= r.capacity(),
            "fill {} > capacity {}",
            r.fill(),
            r.capacity()
        );
        assert_eq!(r.sinks() as usize, self.sinks.len());
        for seq in r.tail()..r.head() {
            let want = self.sinks.iter().filter(|s| s.cur.next <= seq).count() as u32;
            assert_eq!(self.users[r.slot(seq)], want, "user count of entry {seq}");
        }
        if r.tail() < r.head() {
            assert!(
                self.users[r.slot(r.tail())] > 0,
                "oldest entry held with no users"
            );
        }
        // No leak, no double free: freed is exactly 0..tail, in order.
        assert_eq!(self.freed.len() as u64, r.tail());
        assert!(self.freed.iter().enumerate().all(|(i, &s)| i as u64 == s));
        for s in &self.sinks {
            if s.fast {
                assert_eq!(r.lost(&s.cur), 0, "a sink that keeps up lost entries");
            }
            // Every entry since the sink joined is sent, lost, or still to send.
            assert_eq!(
                s.sent + r.lost(&s.cur) + r.lag(&s.cur),
                r.head() - s.joined_at
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ring_invariants(cap in 1..12u32, ops in proptest::collection::vec(op(), 1..300)) {
        let mut m = Model::new(cap);
        for op in &ops {
            m.apply(op);
        }
        // Detach everyone: every stored entry is released, nothing leaks.
        while let Some(s) = m.sinks.pop() {
            let span = m.ring.remove_sink(&s.cur, &mut m.users);
            m.free(span);
        }
        m.check();
        prop_assert_eq!(m.ring.tail(), m.ring.head());
        prop_assert_eq!(m.freed.len() as u64, m.ring.head());
    }
}

#[test]
fn slowest_sink_drop_takes_only_from_the_slowest() {
    let mut m = Model::new(4);
    m.apply(&Op::AddSink); // sink 0: fast
    m.apply(&Op::AddSink); // sink 1: stalls
    m.apply(&Op::AddSink); // sink 2: one behind the head at times
    for _ in 0..4 {
        m.apply(&Op::Push);
    }
    m.apply(&Op::Send(2, 3));
    assert_eq!(m.ring.fill(), 4);
    m.apply(&Op::Push); // full: drops entry 0, held by sink 1 only
    assert_eq!(m.ring.dropped(), 1);
    assert_eq!(m.ring.lost(&m.sinks[1].cur), 1);
    assert_eq!(m.ring.lost(&m.sinks[2].cur), 0);
    m.apply(&Op::Push); // drops entry 1, sink 1 only
    m.apply(&Op::Push); // drops entry 2, sink 1 only
    m.apply(&Op::Push); // drops entry 3: sinks 1 and 2 both held it
    assert_eq!(m.ring.lost(&m.sinks[1].cur), 4);
    assert_eq!(m.ring.lost(&m.sinks[2].cur), 1);
    assert_eq!(m.ring.lost(&m.sinks[0].cur), 0);
}

#[test]
fn entry_dropped_mid_send_is_completed_not_lost() {
    let mut r = RingIndex::new(2);
    let mut users = vec![0; 2];
    let mut slow = r.add_sink();
    for _ in 0..2 {
        r.make_room(&mut users);
        r.push(&mut users);
    }
    let seq = r.peek(&mut slow).unwrap(); // starts sending entry 0
    assert_eq!(r.make_room(&mut users), Span { start: 0, end: 1 }); // entry 0 dropped under it
    r.push(&mut users);
    r.complete(&mut slow, seq, &mut users); // it finished entry 0 with its own reference
    assert_eq!(r.lost(&slow), 0);
    assert_eq!(r.peek(&mut slow), Some(1));
}
