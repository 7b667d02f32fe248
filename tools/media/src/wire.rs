//! Frame wire format. All integers are little-endian.
//!
//! | offset | size | field                                              |
//! |--------|------|----------------------------------------------------|
//! | 0      | 4    | magic = 0x4653_4D4F (bytes `O M S F`)              |
//! | 4      | 4    | stream_id                                          |
//! | 8      | 8    | seq                                                |
//! | 16     | 8    | send_ts_ns (CLOCK_MONOTONIC of the sender)         |
//! | 24     | 2    | len: whole frame incl. header, 32..=65507          |
//! | 26     | 1    | flags: bit0 = END (last frame, its seq is final)   |
//! | 27     | 1    | reserved = 0                                       |
//! | 28     | 4    | checksum                                           |
//! | 32     | ..   | body, `len - 32` bytes                             |
//!
//! The checksum is CRC-32C (Castagnoli: reflected polynomial 0x82F63B78,
//! init and final xor 0xFFFFFFFF) over the whole frame with the checksum
//! field taken as zero. It detects every single-byte (indeed every burst of
//! up to 32 bits) corruption.
//!
//! The body is a deterministic function of (stream_id, seq, byte index):
//! body byte `i` is byte `i % 8` of the little-endian u64
//! `splitmix64(seed + (i / 8 + 1) * GOLDEN)`, with
//! `seed = splitmix64(seq + stream_id * 0xD6E8FEB86659FD93)` (wrapping).
//! [`decode`] verifies it too, so a frame carrying another frame's body is
//! rejected even if its checksum were recomputed.

use std::fmt;

pub const MAGIC: u32 = 0x4653_4D4F;
pub const MAGIC_BYTES: [u8; 4] = MAGIC.to_le_bytes();
pub const HEADER_LEN: usize = 32;
pub const MIN_LEN: usize = HEADER_LEN;
pub const MAX_LEN: usize = 65507;
pub const FLAG_END: u8 = 1;
const LEN_OFF: usize = 24;
const RESERVED_OFF: usize = 27;
const CSUM_OFF: usize = 28;
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A decoded, fully verified frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub stream_id: u32,
    pub seq: u64,
    pub send_ts_ns: u64,
    pub len: u16,
    pub flags: u8,
}

impl Frame {
    pub fn is_end(&self) -> bool {
        self.flags & FLAG_END != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    BadMagic,
    /// Length field out of range, or not equal to the buffer length.
    BadLen,
    BadReserved,
    BadChecksum,
    /// Checksum matches but the body is not the expected pattern.
    BadBody,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            WireError::BadMagic => "bad magic",
            WireError::BadLen => "bad length",
            WireError::BadReserved => "bad reserved byte",
            WireError::BadChecksum => "bad checksum",
            WireError::BadBody => "bad body pattern",
        };
        f.write_str(s)
    }
}

impl std::error::Error for WireError {}

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let p = t[s - 1][i];
            t[s][i] = (p >> 8) ^ t[0][(p & 0xFF) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

static CRC: [[u32; 256]; 8] = crc_tables();

/// Continue a raw (non-inverted) CRC-32C state over `data` (slicing-by-8).
fn crc_update(mut c: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = c ^ u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        c = CRC[7][(lo & 0xFF) as usize]
            ^ CRC[6][((lo >> 8) & 0xFF) as usize]
            ^ CRC[5][((lo >> 16) & 0xFF) as usize]
            ^ CRC[4][(lo >> 24) as usize]
            ^ CRC[3][ch[4] as usize]
            ^ CRC[2][ch[5] as usize]
            ^ CRC[1][ch[6] as usize]
            ^ CRC[0][ch[7] as usize];
    }
    for &b in chunks.remainder() {
        c = (c >> 8) ^ CRC[0][((c ^ b as u32) & 0xFF) as usize];
    }
    c
}

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    !crc_update(!0, data)
}

/// Checksum of a frame: CRC-32C with the checksum field taken as zero.
fn frame_checksum(frame: &[u8]) -> u32 {
    let c = crc_update(!0, &frame[..CSUM_OFF]);
    let c = crc_update(c, &[0; 4]);
    !crc_update(c, &frame[HEADER_LEN..])
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn body_words(stream_id: u32, seq: u64) -> impl Iterator<Item = [u8; 8]> {
    let seed = splitmix64(seq.wrapping_add((stream_id as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)));
    (1u64..).map(move |k| splitmix64(seed.wrapping_add(k.wrapping_mul(GOLDEN))).to_le_bytes())
}

/// Write the body pattern of frame (stream_id, seq) into `body`.
pub fn fill_body(body: &mut [u8], stream_id: u32, seq: u64) {
    for (chunk, w) in body.chunks_mut(8).zip(body_words(stream_id, seq)) {
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
}

/// True if `body` is exactly the pattern of frame (stream_id, seq).
pub fn check_body(body: &[u8], stream_id: u32, seq: u64) -> bool {
    body.chunks(8)
        .zip(body_words(stream_id, seq))
        .all(|(chunk, w)| chunk == &w[..chunk.len()])
}

/// Encode a complete frame of `len` bytes into `buf[..len]`.
pub fn encode(
    buf: &mut [u8],
    stream_id: u32,
    seq: u64,
    ts: u64,
    len: usize,
    flags: u8,
) -> Result<(), WireError> {
    if !(MIN_LEN..=MAX_LEN).contains(&len) || buf.len() < len {
        return Err(WireError::BadLen);
    }
    let f = &mut buf[..len];
    f[0..4].copy_from_slice(&MAGIC_BYTES);
    f[4..8].copy_from_slice(&stream_id.to_le_bytes());
    f[8..16].copy_from_slice(&seq.to_le_bytes());
    f[16..24].copy_from_slice(&ts.to_le_bytes());
    f[LEN_OFF..LEN_OFF + 2].copy_from_slice(&(len as u16).to_le_bytes());
    f[26] = flags;
    f[RESERVED_OFF] = 0;
    fill_body(&mut f[HEADER_LEN..], stream_id, seq);
    let c = frame_checksum(f);
    f[CSUM_OFF..CSUM_OFF + 4].copy_from_slice(&c.to_le_bytes());
    Ok(())
}

fn le_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn le_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Length field of a header starting at `buf[0]` (needs 32 bytes).
fn header_len(buf: &[u8]) -> usize {
    u16::from_le_bytes([buf[LEN_OFF], buf[LEN_OFF + 1]]) as usize
}

/// Decode and fully verify one frame; `buf` must be exactly the frame.
pub fn decode(buf: &[u8]) -> Result<Frame, WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::BadLen);
    }
    if buf[0..4] != MAGIC_BYTES {
        return Err(WireError::BadMagic);
    }
    let len = header_len(buf);
    if !(MIN_LEN..=MAX_LEN).contains(&len) || len != buf.len() {
        return Err(WireError::BadLen);
    }
    if buf[RESERVED_OFF] != 0 {
        return Err(WireError::BadReserved);
    }
    if frame_checksum(buf) != le_u32(buf, CSUM_OFF) {
        return Err(WireError::BadChecksum);
    }
    let f = Frame {
        stream_id: le_u32(buf, 4),
        seq: le_u64(buf, 8),
        send_ts_ns: le_u64(buf, 16),
        len: len as u16,
        flags: buf[26],
    };
    if !check_body(&buf[HEADER_LEN..], f.stream_id, f.seq) {
        return Err(WireError::BadBody);
    }
    Ok(f)
}

/// One unit parsed from a TCP byte stream by [`next_item`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A valid frame.
    Frame(Frame),
    /// A frame with intact framing (the next frame starts right after it,
    /// or the stream ends there) that failed verification.
    Bad(WireError),
    /// Bytes that do not parse as frames (skipped while resynchronising).
    Garbage,
}

/// First offset >= `from` where a frame could start: a full magic, or (if
/// more data may come) a proper prefix of the magic at the end of `buf`.
fn resync_point(buf: &[u8], from: usize, eof: bool) -> usize {
    (from..buf.len())
        .find(|&i| {
            let n = (buf.len() - i).min(4);
            buf[i..i + n] == MAGIC_BYTES[..n] && (n == 4 || !eof)
        })
        .unwrap_or(buf.len())
}

/// Parse the next item at the start of `buf`, a TCP byte stream.
///
/// Returns the item and the number of bytes it consumed, or `None` if more
/// data is needed (never when `eof`, unless `buf` is empty). A frame whose
/// checksum or body is wrong is reported as [`Item::Bad`] only when its
/// length is confirmed by a magic right after it (or the end of stream);
/// otherwise the parser skips one byte and scans for the next magic, and the
/// skipped bytes are [`Item::Garbage`].
pub fn next_item(buf: &[u8], eof: bool) -> Option<(Item, usize)> {
    if buf.is_empty() {
        return None;
    }
    let start = resync_point(buf, 0, eof);
    if start > 0 {
        return Some((Item::Garbage, start));
    }
    if buf.len() < HEADER_LEN {
        return eof.then_some((Item::Garbage, buf.len()));
    }
    let len = header_len(buf);
    let garbage = || Some((Item::Garbage, resync_point(buf, 1, eof)));
    if !(MIN_LEN..=MAX_LEN).contains(&len) || buf[RESERVED_OFF] != 0 {
        return garbage();
    }
    if buf.len() < len {
        return if eof { garbage() } else { None };
    }
    match decode(&buf[..len]) {
        Ok(f) => Some((Item::Frame(f), len)),
        Err(e) => {
            let next = &buf[len..];
            if next.len() >= 4 {
                if next[..4] == MAGIC_BYTES {
                    Some((Item::Bad(e), len))
                } else {
                    garbage()
                }
            } else if !eof {
                None
            } else if next.is_empty() {
                Some((Item::Bad(e), len))
            } else {
                garbage()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream_id: u32, seq: u64, len: usize, flags: u8) -> Vec<u8> {
        let mut b = vec![0u8; len];
        encode(&mut b, stream_id, seq, 1234 + seq, len, flags).unwrap();
        b
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn magic_spells_omsf() {
        assert_eq!(&MAGIC_BYTES, b"OMSF");
    }

    #[test]
    fn round_trip() {
        for len in [32, 33, 39, 40, 41, 1400, MAX_LEN] {
            let b = frame(7, 99, len, FLAG_END);
            let f = decode(&b).unwrap();
            assert_eq!(
                f,
                Frame {
                    stream_id: 7,
                    seq: 99,
                    send_ts_ns: 1333,
                    len: len as u16,
                    flags: 1
                }
            );
            assert!(f.is_end());
        }
    }

    #[test]
    fn encode_rejects_bad_len() {
        let mut b = vec![0u8; 70000];
        assert_eq!(encode(&mut b, 0, 0, 0, 31, 0), Err(WireError::BadLen));
        assert_eq!(
            encode(&mut b, 0, 0, 0, MAX_LEN + 1, 0),
            Err(WireError::BadLen)
        );
        assert_eq!(
            encode(&mut b[..100], 0, 0, 0, 101, 0),
            Err(WireError::BadLen)
        );
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        for len in [32, 45, 200] {
            let good = frame(3, 0x0102_0304_0506, len, 0);
            for i in 0..len {
                for mask in [0x01u8, 0x80, 0xFF, 0x5A] {
                    let mut b = good.clone();
                    b[i] ^= mask;
                    let e = decode(&b).unwrap_err();
                    let want = match i {
                        0..=3 => WireError::BadMagic,
                        24 | 25 => WireError::BadLen,
                        27 => WireError::BadReserved,
                        _ => WireError::BadChecksum,
                    };
                    assert_eq!(e, want, "len {len} byte {i} mask {mask:#x}");
                }
            }
        }
    }

    #[test]
    fn body_depends_on_stream_seq_and_index() {
        let mut a = [0u8; 64];
        fill_body(&mut a, 1, 5);
        assert!(check_body(&a, 1, 5));
        assert!(!check_body(&a, 2, 5));
        assert!(!check_body(&a, 1, 6));
        assert_ne!(a[..8], a[8..16]);
    }

    #[test]
    fn foreign_body_with_valid_checksum_is_bad_body() {
        let mut b = frame(1, 1, 100, 0);
        fill_body(&mut b[HEADER_LEN..], 1, 2);
        let c = frame_checksum(&b);
        b[CSUM_OFF..CSUM_OFF + 4].copy_from_slice(&c.to_le_bytes());
        assert_eq!(decode(&b), Err(WireError::BadBody));
    }

    #[test]
    fn truncated_or_padded_buffer_is_bad_len() {
        let b = frame(1, 1, 100, 0);
        assert_eq!(decode(&b[..99]), Err(WireError::BadLen));
        assert_eq!(decode(&b[..10]), Err(WireError::BadLen));
        let mut p = b.clone();
        p.push(0);
        assert_eq!(decode(&p), Err(WireError::BadLen));
    }

    /// Parse a whole stream, fed in chunks of `step` bytes.
    fn parse_all(stream: &[u8], step: usize) -> (Vec<u64>, usize, usize) {
        let (mut seqs, mut bad, mut garbage) = (Vec::new(), 0, 0);
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            let end = (fed + step).min(stream.len());
            pending.extend_from_slice(&stream[fed..end]);
            fed = end;
            let eof = fed == stream.len();
            let mut off = 0;
            while let Some((item, n)) = next_item(&pending[off..], eof) {
                match item {
                    Item::Frame(f) => seqs.push(f.seq),
                    Item::Bad(_) => bad += 1,
                    Item::Garbage => garbage += n,
                }
                off += n;
            }
            pending.drain(..off);
            if eof {
                assert!(pending.is_empty());
                return (seqs, bad, garbage);
            }
        }
    }

    #[test]
    fn stream_parser_clean_and_chunked() {
        let mut s = Vec::new();
        for seq in 0..20 {
            s.extend(frame(0, seq, 32 + seq as usize * 7, 0));
        }
        for step in [1, 3, 31, 32, 100, 5000] {
            assert_eq!(parse_all(&s, step), ((0..20).collect(), 0, 0));
        }
    }

    #[test]
    fn stream_parser_bad_body_byte_keeps_framing() {
        let mut s = Vec::new();
        for seq in 0..5 {
            let mut f = frame(0, seq, 100, 0);
            if seq == 2 || seq == 4 {
                f[50] ^= 1;
            }
            s.extend(f);
        }
        for step in [1, 7, 1000] {
            assert_eq!(parse_all(&s, step), (vec![0, 1, 3], 2, 0));
        }
    }

    #[test]
    fn stream_parser_resyncs_after_garbage() {
        let mut s = frame(0, 0, 100, 0);
        s.extend_from_slice(b"xxOMSxOMSF\x00garbage");
        let g1 = s.len() - 100;
        s.extend(frame(0, 1, 100, 0));
        let mut broken = frame(0, 2, 100, 0);
        broken[25] = 0xFF; // length now out of range
        s.extend(&broken);
        s.extend(frame(0, 3, 100, 0));
        s.extend_from_slice(b"OMS"); // truncated tail
        for step in [1, 5, 64, 10000] {
            assert_eq!(parse_all(&s, step), (vec![0, 1, 3], 0, g1 + 100 + 3));
        }
    }

    #[test]
    fn stream_parser_truncated_last_frame_is_garbage() {
        let mut s = frame(0, 0, 100, 0);
        s.extend_from_slice(&frame(0, 1, 100, 0)[..60]);
        assert_eq!(parse_all(&s, 10), (vec![0], 0, 60));
    }
}
