//! Exact per-subscriber accounting and the client report.
//!
//! Definitions (all exact, every sample kept):
//! - `packets`: distinct valid frames received (first copies only).
//! - `expected = last - first + 1` where `first` is the lowest seq received
//!   (a late joiner starting mid-stream is not loss) and `last` the final
//!   seq (END) or, without END, the highest seq received, raised to
//!   `expect_count - 1` if `--expect-count` is given. `lost = expected -
//!   packets`. A seq gap (UDP or TCP) is therefore loss, not corruption.
//! - `reordered`: a new seq lower than the highest seq already received.
//! - `duplicates`: a seq received again. The UDP server sends END
//!   [`UDP_END_COPIES`] times on purpose; only copies beyond that count.
//! - `bad_checksum`: frames failing verification (magic, len, reserved,
//!   checksum or body pattern): every bad UDP datagram; on TCP, frames whose
//!   framing is intact (see `wire::next_item`).
//! - `stream_corrupt`: TCP bytes that do not parse as frames (`resyncs` is
//!   the number of such runs).
//! - `wrong_stream`: valid frames of another stream_id than the first one.
//! - `errors = bad_checksum + reordered + duplicates + stream_corrupt +
//!   wrong_stream`.
//! - Latency: receive time (CLOCK_MONOTONIC at read) minus `send_ts_ns`, of
//!   every counted packet; percentiles are nearest-rank (a real sample; the
//!   median is the lower middle one for even counts).

use crate::wire::Frame;
use serde::Serialize;

/// How many times the UDP server sends the END frame.
pub const UDP_END_COPIES: u64 = 3;

/// Set of received seqs: a bitmap from a 64-aligned base.
#[derive(Debug, Default)]
pub struct SeqSet {
    base: u64,
    words: Vec<u64>,
}

impl SeqSet {
    pub fn contains(&self, seq: u64) -> bool {
        if seq < self.base {
            return false;
        }
        let i = seq - self.base;
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Insert `seq`; false if it was already present.
    pub fn insert(&mut self, seq: u64) -> bool {
        let aligned = seq & !63;
        if self.words.is_empty() {
            self.base = aligned;
        } else if seq < self.base {
            let extra = ((self.base - aligned) / 64) as usize;
            self.words.splice(0..0, std::iter::repeat_n(0, extra));
            self.base = aligned;
        }
        let i = seq - self.base;
        let w = (i / 64) as usize;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let bit = 1u64 << (i % 64);
        let new = self.words[w] & bit == 0;
        self.words[w] |= bit;
        new
    }
}

/// Nearest-rank percentile `num/den` of sorted samples.
pub fn percentile(sorted: &[u64], num: u64, den: u64) -> Option<u64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let rank = (n * num).div_ceil(den).max(1);
    Some(sorted[(rank - 1) as usize])
}

/// Latency summary in microseconds (exact ns / 1000); `None` if no samples.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub latency_samples: u64,
    pub latency_min_us: Option<f64>,
    pub latency_median_us: Option<f64>,
    pub latency_p99_us: Option<f64>,
    pub latency_max_us: Option<f64>,
}

impl Latency {
    pub fn from_sorted(s: &[u64]) -> Self {
        let us = |v: Option<u64>| v.map(|ns| ns as f64 / 1000.0);
        Latency {
            latency_samples: s.len() as u64,
            latency_min_us: us(s.first().copied()),
            latency_median_us: us(percentile(s, 1, 2)),
            latency_p99_us: us(percentile(s, 99, 100)),
            latency_max_us: us(s.last().copied()),
        }
    }
}

/// Live state of one subscriber.
#[derive(Debug, Default)]
pub struct SubStats {
    end_copies: u64,
    end_seen: u64,
    seen: SeqSet,
    pub stream_id: Option<u32>,
    pub min_seq: Option<u64>,
    pub max_seq: Option<u64>,
    pub final_seq: Option<u64>,
    pub packets: u64,
    pub bytes: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub bad_checksum: u64,
    pub stream_corrupt: u64,
    pub resyncs: u64,
    pub wrong_stream: u64,
    pub eof: bool,
    pub lat_ns: Vec<u64>,
}

impl SubStats {
    /// `end_copies`: how many END copies the sender emits (UDP 3, TCP 1).
    pub fn new(end_copies: u64) -> Self {
        SubStats {
            end_copies,
            ..Default::default()
        }
    }

    /// Account a valid frame received at `now_ns`.
    pub fn on_frame(&mut self, f: &Frame, now_ns: u64) {
        if *self.stream_id.get_or_insert(f.stream_id) != f.stream_id {
            self.wrong_stream += 1;
            return;
        }
        if f.is_end() && self.final_seq == Some(f.seq) {
            self.end_seen += 1;
            if self.end_seen > self.end_copies {
                self.duplicates += 1;
            }
            return;
        }
        if !self.seen.insert(f.seq) {
            self.duplicates += 1;
            return;
        }
        if self.max_seq.is_some_and(|m| f.seq < m) {
            self.reordered += 1;
        }
        self.min_seq = Some(self.min_seq.map_or(f.seq, |m| m.min(f.seq)));
        self.max_seq = Some(self.max_seq.map_or(f.seq, |m| m.max(f.seq)));
        self.packets += 1;
        self.bytes += f.len as u64;
        self.lat_ns.push(now_ns.saturating_sub(f.send_ts_ns));
        if f.is_end() {
            self.final_seq = Some(self.final_seq.map_or(f.seq, |s| s.max(f.seq)));
            self.end_seen = 1;
        }
    }

    pub fn on_bad(&mut self) {
        self.bad_checksum += 1;
    }

    pub fn on_garbage(&mut self, bytes: usize) {
        self.stream_corrupt += bytes as u64;
        self.resyncs += 1;
    }

    /// Got END (or, on TCP, EOF): nothing more will come.
    pub fn done(&self) -> bool {
        self.final_seq.is_some() || self.eof
    }

    /// (expected, lost) per the module definitions.
    pub fn loss(&self, expect_count: Option<u64>) -> (u64, u64) {
        match (self.min_seq, self.max_seq) {
            (Some(lo), Some(hi)) => {
                let last = match (self.final_seq, expect_count) {
                    (None, Some(c)) => hi.max(c.saturating_sub(1)),
                    _ => hi,
                };
                let expected = last - lo + 1;
                (expected, expected - self.packets)
            }
            _ => expect_count.map_or((0, 0), |c| (c, c)),
        }
    }

    pub fn errors(&self) -> u64 {
        self.bad_checksum
            + self.reordered
            + self.duplicates
            + self.stream_corrupt
            + self.wrong_stream
    }

    /// Final report; sorts the latency samples in place.
    pub fn report(&mut self, id: usize, addr: String, expect_count: Option<u64>) -> SubReport {
        self.lat_ns.sort_unstable();
        let (expected, lost) = self.loss(expect_count);
        SubReport {
            id,
            addr,
            stalled: false,
            no_data: self.packets == 0,
            end: self.final_seq.is_some(),
            eof: self.eof,
            stream_id: self.stream_id,
            first_seq: self.min_seq,
            last_seq: self.max_seq,
            packets: self.packets,
            bytes: self.bytes,
            expected,
            lost,
            loss_ratio: ratio(lost, expected),
            bad_checksum: self.bad_checksum,
            reordered: self.reordered,
            duplicates: self.duplicates,
            stream_corrupt: self.stream_corrupt,
            resyncs: self.resyncs,
            wrong_stream: self.wrong_stream,
            errors: self.errors(),
            latency: Latency::from_sorted(&self.lat_ns),
        }
    }
}

pub fn ratio(lost: u64, expected: u64) -> f64 {
    if expected == 0 {
        0.0
    } else {
        lost as f64 / expected as f64
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SubReport {
    pub id: usize,
    pub addr: String,
    pub stalled: bool,
    pub no_data: bool,
    pub end: bool,
    pub eof: bool,
    pub stream_id: Option<u32>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub packets: u64,
    pub bytes: u64,
    pub expected: u64,
    pub lost: u64,
    pub loss_ratio: f64,
    pub bad_checksum: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub stream_corrupt: u64,
    pub resyncs: u64,
    pub wrong_stream: u64,
    pub errors: u64,
    #[serde(flatten)]
    pub latency: Latency,
}

impl SubReport {
    /// Report line of a subscriber that never read (`--stall-subscriber`).
    pub fn stalled(id: usize, addr: String) -> Self {
        let mut r = SubStats::default().report(id, addr, None);
        r.stalled = true;
        r.no_data = false;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FLAG_END;

    fn fr(seq: u64, end: bool) -> Frame {
        let flags = if end { FLAG_END } else { 0 };
        Frame {
            stream_id: 1,
            seq,
            send_ts_ns: 1000,
            len: 100,
            flags,
        }
    }

    fn feed(s: &mut SubStats, seqs: &[u64], end_seq: Option<u64>) {
        for &q in seqs {
            s.on_frame(&fr(q, Some(q) == end_seq), 1000 + q * 10);
        }
    }

    #[test]
    fn seqset_exact_incl_before_base() {
        let mut s = SeqSet::default();
        assert!(s.insert(1000));
        assert!(!s.insert(1000));
        assert!(s.insert(3));
        assert!(s.insert(64 * 40 + 5));
        for q in [3, 1000, 64 * 40 + 5] {
            assert!(s.contains(q));
        }
        for q in [0, 2, 4, 63, 64, 999, 1001, 64 * 40 + 4, 1 << 40] {
            assert!(!s.contains(q), "{q}");
        }
    }

    #[test]
    fn clean_stream_no_loss() {
        let mut s = SubStats::new(UDP_END_COPIES);
        feed(&mut s, &(0..10).collect::<Vec<_>>(), Some(9));
        feed(&mut s, &[9, 9], Some(9)); // the two extra UDP END copies
        assert!(s.done());
        let r = s.report(0, String::new(), None);
        assert_eq!((r.packets, r.expected, r.lost, r.errors), (10, 10, 0, 0));
        assert_eq!(r.bytes, 1000);
        assert_eq!(r.latency.latency_samples, 10);
    }

    #[test]
    fn late_join_is_not_loss_but_gaps_are() {
        let mut s = SubStats::new(1);
        feed(&mut s, &[50, 51, 53, 56, 57, 58, 59], Some(59));
        let r = s.report(0, String::new(), None);
        assert_eq!((r.first_seq, r.expected, r.lost), (Some(50), 10, 3));
        assert_eq!(r.loss_ratio, 0.3);
        assert_eq!(r.errors, 0);
    }

    #[test]
    fn duplicates_and_reorder() {
        let mut s = SubStats::new(1);
        feed(&mut s, &[0, 2, 1, 1, 3, 0, 5, 4], None);
        feed(&mut s, &[6, 6], Some(6)); // second END on TCP is a duplicate
        let r = s.report(0, String::new(), None);
        assert_eq!((r.packets, r.lost), (7, 0));
        assert_eq!((r.reordered, r.duplicates, r.errors), (2, 3, 5));
    }

    #[test]
    fn reorder_before_first_seen_and_end_repeats_beyond_copies() {
        let mut s = SubStats::new(UDP_END_COPIES);
        feed(&mut s, &[5, 4, 6], Some(6));
        feed(&mut s, &[6, 6, 6], Some(6));
        let r = s.report(0, String::new(), None);
        assert_eq!((r.first_seq, r.expected, r.lost), (Some(4), 3, 0));
        assert_eq!((r.reordered, r.duplicates), (1, 1));
    }

    #[test]
    fn missing_end_and_expect_count() {
        let mut s = SubStats::new(1);
        feed(&mut s, &[0, 1, 2], None);
        assert!(!s.done());
        assert_eq!(s.loss(None), (3, 0));
        assert_eq!(s.loss(Some(10)), (10, 7));
        let empty = SubStats::new(1);
        assert_eq!(empty.loss(None), (0, 0));
        assert_eq!(empty.loss(Some(10)), (10, 10));
    }

    #[test]
    fn wrong_stream_and_corruption_counted() {
        let mut s = SubStats::new(1);
        feed(&mut s, &[0], None);
        s.on_frame(
            &Frame {
                stream_id: 2,
                ..fr(1, false)
            },
            0,
        );
        s.on_bad();
        s.on_garbage(17);
        let r = s.report(0, String::new(), None);
        assert_eq!(
            (r.wrong_stream, r.bad_checksum, r.stream_corrupt, r.resyncs),
            (1, 1, 17, 1)
        );
        assert_eq!(r.errors, 19);
    }

    #[test]
    fn percentiles_are_exact_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 1, 2), Some(50));
        assert_eq!(percentile(&v, 99, 100), Some(99));
        let v: Vec<u64> = (1..=200).collect();
        assert_eq!(percentile(&v, 99, 100), Some(198));
        let v: Vec<u64> = (1..=101).collect();
        assert_eq!(percentile(&v, 1, 2), Some(51));
        assert_eq!(percentile(&v, 99, 100), Some(100));
        assert_eq!(percentile(&[7], 99, 100), Some(7));
        assert_eq!(percentile(&[], 1, 2), None);
        let l = Latency::from_sorted(&[1500, 2000, 9999]);
        assert_eq!(l.latency_median_us, Some(2.0));
        assert_eq!(l.latency_max_us, Some(9.999));
    }
}
