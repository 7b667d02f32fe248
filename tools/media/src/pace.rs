//! Server side: pacing schedule, frame production and fault injection.
//!
//! "Every K-th frame" means 1-based: seqs K-1, 2K-1, 3K-1, ... Faults never
//! apply to the END frame, so the client always learns the final seq.

use crate::wire::{self, FLAG_END};

/// Interval between frames of `len` bytes at `kbps` (len*8/kbps ms), in ns.
/// `kbps == 0` means "as fast as possible" (interval 0).
pub fn interval_ns(len: usize, kbps: u64) -> u64 {
    (len as u64 * 8_000_000).checked_div(kbps).unwrap_or(0)
}

/// Fault injection plan; 0 disables a fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub corrupt_every: u64,
    pub skip_every: u64,
    pub reorder_every: u64,
}

fn every(k: u64, seq: u64) -> bool {
    k != 0 && (seq + 1).is_multiple_of(k)
}

impl Faults {
    /// Frame `seq` is not sent at all.
    pub fn skip(&self, seq: u64, end: bool) -> bool {
        !end && every(self.skip_every, seq)
    }
    /// Frame `seq` gets one body byte flipped after the checksum.
    pub fn corrupt(&self, seq: u64, end: bool) -> bool {
        !end && every(self.corrupt_every, seq)
    }
    /// Frame `seq` is held back and sent after the next sent frame.
    pub fn hold(&self, seq: u64, end: bool) -> bool {
        !end && every(self.reorder_every, seq)
    }
}

/// One stream's production state: which frame comes next and when.
#[derive(Debug)]
pub struct Stream {
    pub stream_id: u32,
    pub len: usize,
    pub interval_ns: u64,
    /// Absolute deadline of frame 0.
    pub start_ns: u64,
    /// Stop after this many frames (the last one is END).
    pub count: Option<u64>,
    /// The first frame whose deadline is at or after this is END.
    pub stop_ns: Option<u64>,
    pub next_seq: u64,
    pub finished: bool,
}

/// A produced frame: its bytes, seq, and what the fault plan says.
#[derive(Debug)]
pub struct Produced {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub end: bool,
    pub skip: bool,
    pub hold: bool,
    pub corrupted: bool,
}

impl Stream {
    /// Absolute deadline of the next frame (exact: no accumulated drift).
    pub fn deadline(&self) -> u64 {
        self.start_ns + self.next_seq * self.interval_ns
    }

    /// Produce the next frame, stamped `now_ns`. `stop` forces END.
    pub fn produce(&mut self, now_ns: u64, faults: &Faults, stop: bool) -> Produced {
        let seq = self.next_seq;
        let end = stop
            || self.count.is_some_and(|c| seq + 1 >= c)
            || self.stop_ns.is_some_and(|s| self.deadline() >= s);
        let mut bytes = vec![0u8; self.len];
        let flags = if end { FLAG_END } else { 0 };
        wire::encode(&mut bytes, self.stream_id, seq, now_ns, self.len, flags)
            .expect("frame length validated at startup");
        let corrupted = faults.corrupt(seq, end);
        if corrupted {
            let i = if self.len > wire::HEADER_LEN {
                wire::HEADER_LEN + (seq as usize % (self.len - wire::HEADER_LEN))
            } else {
                self.len - 1
            };
            bytes[i] ^= 0xFF;
        }
        self.next_seq += 1;
        self.finished = end;
        Produced {
            seq,
            bytes,
            end,
            skip: faults.skip(seq, end),
            hold: faults.hold(seq, end),
            corrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, WireError};

    fn stream(count: Option<u64>, stop_ns: Option<u64>) -> Stream {
        Stream {
            stream_id: 2,
            len: 100,
            interval_ns: 1000,
            start_ns: 5000,
            count,
            stop_ns,
            next_seq: 0,
            finished: false,
        }
    }

    #[test]
    fn interval_is_len_bits_over_kbps() {
        assert_eq!(interval_ns(1400, 256), 43_750_000);
        assert_eq!(interval_ns(1000, 8000), 1_000_000);
        assert_eq!(interval_ns(1400, 0), 0);
    }

    #[test]
    fn count_ends_on_last_frame() {
        let mut s = stream(Some(3), None);
        let f = Faults::default();
        let ends: Vec<bool> = (0..3).map(|_| s.produce(0, &f, false).end).collect();
        assert_eq!(ends, [false, false, true]);
        assert!(s.finished);
        assert_eq!(s.deadline(), 8000);
    }

    #[test]
    fn duration_ends_at_first_deadline_past_stop() {
        let mut s = stream(None, Some(7500));
        let f = Faults::default();
        let ends: Vec<bool> = (0..4).map(|_| s.produce(0, &f, false).end).collect();
        assert_eq!(ends, [false, false, false, true]);
    }

    #[test]
    fn faults_follow_plan_and_spare_end() {
        let f = Faults {
            corrupt_every: 10,
            skip_every: 7,
            reorder_every: 5,
        };
        let mut s = stream(Some(200), None);
        let (mut skip, mut corrupt, mut hold) = (0, 0, 0);
        for _ in 0..200 {
            let p = s.produce(0, &f, false);
            let d = decode(&p.bytes);
            assert_eq!(d.is_err(), p.corrupted);
            if p.corrupted {
                assert_eq!(d, Err(WireError::BadChecksum));
            }
            skip += p.skip as u32;
            hold += p.hold as u32;
            corrupt += (p.corrupted && !p.skip) as u32;
            if p.end {
                assert!(!p.skip && !p.corrupted && !p.hold);
            }
        }
        assert_eq!((skip, corrupt, hold), (28, 17, 39));
    }
}
