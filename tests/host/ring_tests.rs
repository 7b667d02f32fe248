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
    /// A late joiner that starts up to n entries back.
    AddSinkBack(u8),
    /// Sink i skips n entries forward (a soft lag limit's jump).
    Skip(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Push),
        1 => Just(Op::AddSink),
        1 => (0..8usize).prop_map(Op::RemoveSink),
        4 => (0..8usize, 1..6u8).prop_map(|(i, n)| Op::Send(i, n)),
        1 => (0..14u8).prop_map(Op::AddSinkBack),
        1 => (0..8usize, 0..14u8).prop_map(|(i, n)| Op::Skip(i, n)),
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
    /// Entries kept for late joiners (at most the capacity).
    retain: u64,
}

impl Model {
    fn new(cap: u32) -> Self {
        Self::retaining(cap, 0)
    }

    fn retaining(cap: u32, retain: u32) -> Self {
        let mut ring = RingIndex::new(cap);
        ring.set_retain(retain);
        Self {
            ring,
            users: vec![0; cap as usize],
            sinks: Vec::new(),
            freed: Vec::new(),
            retain: u64::from(retain.min(cap.max(1))),
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
            Op::AddSinkBack(n) => {
                let cur = self.ring.add_sink_back(n.into(), &mut self.users);
                assert!(cur.next >= self.ring.tail() && cur.next <= self.ring.head());
                assert!(self.ring.head() - cur.next <= n.into());
                self.sinks.push(Sink {
                    cur,
                    joined_at: cur.next,
                    sent: 0,
                    fast: false,
                });
            }
            Op::Skip(i, n) if i < self.sinks.len() && !self.sinks[i].fast => {
                let to = self.sinks[i].cur.next + u64::from(n);
                let span = self
                    .ring
                    .skip_to(&mut self.sinks[i].cur, to, &mut self.users);
                self.free(span);
            }
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
        if r.tail() < r.head() && u64::from(r.fill()) > self.retain {
            assert!(
                self.users[r.slot(r.tail())] > 0,
                "oldest entry held with no users beyond the retained ones"
            );
        }
        // The newest `retain` entries stay for late joiners.
        assert!(u64::from(r.fill()) >= self.retain.min(r.head()));
        // No leak, no double free: freed is exactly 0..tail, in order.
        assert_eq!(self.freed.len() as u64, r.tail());
        assert!(self.freed.iter().enumerate().all(|(i, &s)| i as u64 == s));
        for s in &self.sinks {
            assert_eq!(
                r.oldest_wanted(&s.cur),
                (r.lag(&s.cur) > 0).then(|| s.cur.next.max(r.tail()))
            );
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
    fn ring_invariants(
        cap in 1..12u32,
        retain in prop_oneof![2 => Just(0u32), 1 => 0..14u32],
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let mut m = Model::retaining(cap, retain);
        for op in &ops {
            m.apply(op);
        }
        // Detach everyone: every stored entry is released, nothing leaks.
        while let Some(s) = m.sinks.pop() {
            let span = m.ring.remove_sink(&s.cur, &mut m.users);
            m.free(span);
        }
        m.check();
        // Only the retained entries stay.
        prop_assert_eq!(u64::from(m.ring.fill()), m.retain.min(m.ring.head()));
        prop_assert_eq!(m.freed.len() as u64, m.ring.tail());
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

#[test]
fn a_late_joiner_gets_the_retained_burst() {
    let mut m = Model::retaining(8, 5);
    m.apply(&Op::AddSink); // fast: releases at once, were nothing retained
    for _ in 0..10 {
        m.apply(&Op::Push);
    }
    assert_eq!(m.ring.fill(), 5, "the newest 5 entries are retained");
    m.apply(&Op::AddSinkBack(3));
    assert_eq!(m.sinks[1].cur.next, 7, "starts 3 back");
    m.apply(&Op::AddSinkBack(9));
    assert_eq!(m.sinks[2].cur.next, 5, "as far as the ring holds");
    m.apply(&Op::Send(2, 2));
    assert_eq!(m.sinks[2].sent, 2);
    assert_eq!(m.ring.dropped(), 0);
    // Without retention a fast sink's entries are released and a burst finds none.
    let mut m = Model::new(8);
    m.apply(&Op::AddSink);
    for _ in 0..10 {
        m.apply(&Op::Push);
    }
    m.apply(&Op::AddSinkBack(3));
    assert_eq!(m.sinks[1].cur.next, 10);
}

#[test]
fn a_retained_entry_without_users_makes_room_without_a_drop() {
    let mut m = Model::retaining(4, 4);
    for _ in 0..9 {
        m.apply(&Op::Push);
    }
    assert_eq!(m.ring.dropped(), 0, "nobody needed them");
    assert_eq!(m.ring.fill(), 4);
    m.apply(&Op::AddSinkBack(0));
    m.apply(&Op::Push);
    m.apply(&Op::Push);
    m.apply(&Op::Push);
    m.apply(&Op::Push);
    m.apply(&Op::Push); // drops the entry the stalled sink waits for
    assert_eq!(m.ring.dropped(), 1);
}

#[test]
fn a_skip_counts_what_it_passes_as_lost() {
    let mut m = Model::new(8);
    m.apply(&Op::AddSink);
    m.apply(&Op::AddSink);
    for _ in 0..6 {
        m.apply(&Op::Push);
    }
    m.apply(&Op::Skip(1, 4));
    assert_eq!(m.ring.lost(&m.sinks[1].cur), 4);
    assert_eq!(m.ring.lag(&m.sinks[1].cur), 2);
    assert_eq!(m.ring.fill(), 2, "the skipped entries were released");
    m.apply(&Op::Skip(1, 200)); // clamped to the head
    assert_eq!(m.ring.lag(&m.sinks[1].cur), 0);
    assert_eq!(m.ring.lost(&m.sinks[1].cur), 6);
}

proptest! {
    #[test]
    fn needed_counts_the_entries_some_sink_needs(
        cap in 1..12u32,
        retain in 0..14u32,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut m = Model::retaining(cap, retain);
        for op in &ops {
            m.apply(op);
            let r = &m.ring;
            let linear = (r.tail()..r.head()).filter(|&s| m.users[r.slot(s)] > 0).count() as u32;
            prop_assert_eq!(r.needed(&m.users), linear);
        }
    }
}
