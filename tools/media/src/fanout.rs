//! Per-peer TCP send queue of the server: frames are shared between peers,
//! a partially written frame resumes at the same offset, and no part of a
//! frame is ever dropped (a peer is either fed whole frames or closed).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::rc::Rc;

#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Rc<[u8]>>,
    /// Bytes of the front frame already written.
    off: usize,
    backlog: usize,
}

impl Outbox {
    pub fn push(&mut self, frame: Rc<[u8]>) {
        self.backlog += frame.len();
        self.queue.push_back(frame);
    }

    /// Bytes queued and not yet written.
    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// Write as much as `w` accepts without blocking; returns the number of
    /// frames completed. `WouldBlock` is not an error.
    pub fn flush(&mut self, w: &mut impl Write) -> io::Result<u64> {
        let mut done = 0;
        while let Some(front) = self.queue.front() {
            match w.write(&front[self.off..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.off += n;
                    self.backlog -= n;
                    if self.off == front.len() {
                        self.queue.pop_front();
                        self.off = 0;
                        done += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts at most `room` bytes, then WouldBlock.
    struct Tight {
        out: Vec<u8>,
        room: usize,
    }

    impl Write for Tight {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(self.room).min(7);
            self.out.extend_from_slice(&b[..n]);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_at_same_offset() {
        let frames: Vec<Rc<[u8]>> = (0..5u8).map(|i| vec![i; 10 + i as usize].into()).collect();
        let all: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        let mut ob = Outbox::default();
        let mut w = Tight {
            out: Vec::new(),
            room: 0,
        };
        let mut completed = 0;
        for f in &frames {
            ob.push(f.clone());
            w.room += 9;
            completed += ob.flush(&mut w).unwrap();
        }
        assert_eq!(ob.backlog(), all.len() - w.out.len());
        w.room = usize::MAX;
        completed += ob.flush(&mut w).unwrap();
        assert_eq!((w.out, completed, ob.backlog()), (all, 5, 0));
    }
}
