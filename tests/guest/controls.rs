//! `omss-controls-test`: the operator controls of ABI 3, on loopback, deterministic.
//! Late-joiner bursts (entries, ms, retention), soft and hard lag limits (entries, ms; a
//! kicked sink's socket comes back untouched), persistent sessions parked and adopted (and
//! reaped), and ABI 2 binaries still served. Prints TAP 13; runs as root in the guest.

mod common;

use common::{diag, ename, finish_drained, Tap};
use omss_uapi::*;
use omssctl::dev::Device;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const PLAN: u32 = 51;
/// Payload of every entry: its sequence number (u64 LE), then that number's low byte.
const SIZE: usize = 1000;

fn entry(seq: u64) -> Vec<u8> {
    let mut b = vec![seq as u8; SIZE];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b
}

/// The sequence number of a well-formed entry, or `None`.
fn parse(b: &[u8]) -> Option<u64> {
    let seq = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    (b.len() == SIZE && b[8..].iter().all(|&x| x == seq as u8)).then_some(seq)
}

/// A session's source: a bound UDP socket the relay reads, and the sender that feeds it.
struct Feed {
    rx: UdpSocket,
    tx: UdpSocket,
    next: u64,
}

impl Feed {
    fn new() -> Self {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        Self { rx, tx, next: 0 }
    }
    fn send(&mut self, n: u64, gap: Duration) {
        for _ in 0..n {
            self.tx.send(&entry(self.next)).unwrap();
            self.next += 1;
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
    }
}

/// A UDP subscriber: the relay's sink socket, connected to the receiver.
struct UdpSub {
    sink: UdpSocket,
    rx: UdpSocket,
    got: Vec<u64>,
}

impl UdpSub {
    fn new() -> Self {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Room for every entry of a test while nobody reads (root may force it).
        set_buf(rx.as_raw_fd(), libc::SO_RCVBUFFORCE, 4 << 20);
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.connect(rx.local_addr().unwrap()).unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Self {
            sink,
            rx,
            got: Vec::new(),
        }
    }
    /// Receives until `n` entries in all, or `quiet` passes with nothing new.
    fn recv(&mut self, n: usize, quiet: Duration) -> &[u64] {
        let mut last = Instant::now();
        let mut buf = vec![0; 2048];
        while self.got.len() < n && last.elapsed() < quiet {
            if let Ok(len) = self.rx.recv(&mut buf) {
                self.got.extend(parse(&buf[..len]));
                last = Instant::now();
            }
        }
        &self.got
    }
}

/// A TCP subscriber whose receiver does not read until told to: a sink that stalls.
struct TcpSub {
    sink: TcpStream,
    rx: TcpStream,
    bytes: Vec<u8>,
}

fn set_buf(fd: i32, opt: i32, v: i32) {
    // SAFETY: a valid socket and a plain int option.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&v as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    assert_eq!(r, 0, "setsockopt");
}

impl TcpSub {
    fn new() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        // A small receive window, set before the handshake.
        let rx = socket2_connect(&l);
        let (sink, _) = l.accept().unwrap();
        set_buf(sink.as_raw_fd(), libc::SO_SNDBUF, 4096);
        rx.set_nonblocking(true).unwrap();
        Self {
            sink,
            rx,
            bytes: Vec::new(),
        }
    }
    /// Reads what has arrived, for `dur`; returns whether the peer closed (EOF).
    fn drain(&mut self, dur: Duration) -> bool {
        let end = Instant::now() + dur;
        let mut buf = vec![0; 65536];
        while Instant::now() < end {
            match self.rx.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(_) => return true,
            }
        }
        false
    }
    /// The entries received, if the stream is whole entries, all well-formed.
    fn entries(&self, tail: usize) -> Option<Vec<u64>> {
        let body = &self.bytes[..self.bytes.len() - tail];
        if !body.len().is_multiple_of(SIZE) {
            return None;
        }
        body.chunks(SIZE).map(parse).collect()
    }
}

/// Connects to `l` from a socket with a small receive buffer.
fn socket2_connect(l: &TcpListener) -> TcpStream {
    // SAFETY: plain socket calls on a new fd that the returned stream then owns.
    unsafe {
        use std::os::fd::FromRawFd;
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        set_buf(fd, libc::SO_RCVBUF, 4096);
        let s = TcpStream::from_raw_fd(fd);
        let a = match l.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: a.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let r = libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(r, 0, "connect");
        s
    }
}

fn create(dev: &Device, a: OmssSessionCreate) -> Result<OmssSessionCreate, i32> {
    let mut a = OmssSessionCreate {
        size: std::mem::size_of::<OmssSessionCreate>() as u32,
        ..a
    };
    dev.ioctl(OMSS_IOC_SESSION_CREATE, &mut a)?;
    Ok(a)
}

fn limits(burst_entries: u32, burst_ms: u32) -> OmssLimits {
    OmssLimits {
        burst_entries,
        burst_ms,
        ..Default::default()
    }
}

fn add(dev: &Device, session_id: u32, fd: i32, limits: OmssLimits) -> Result<u32, i32> {
    let mut a = OmssSinkAdd {
        session_id,
        fd,
        limits,
        ..OmssSinkAdd::request()
    };
    dev.ioctl(OMSS_IOC_SINK_ADD, &mut a)?;
    Ok(a.sink_id)
}

fn adopt(dev: &Device, session_id: u32, token: u64) -> Result<i32, i32> {
    let mut a = OmssSessionAdopt {
        session_id,
        token,
        ..OmssSessionAdopt::request()
    };
    dev.ioctl(OMSS_IOC_SESSION_ADOPT, &mut a)
}

fn sink_stats(dev: &Device, session: u32, sink: u32) -> OmssSinkStats {
    let (_, sinks) = dev.stats(session, 64).unwrap();
    *sinks.iter().find(|s| s.sink_id == sink).unwrap()
}

/// Waits up to `max` for `f`.
fn wait_until(max: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + max;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn seqs(r: std::ops::Range<u64>) -> Vec<u64> {
    r.collect()
}

const QUIET: Duration = Duration::from_millis(1500);

fn check_errno(t: &mut Tap, desc: &str, got: Result<impl std::fmt::Debug, i32>, want: i32) {
    let ok = matches!(got, Err(e) if e == want);
    t.ok(&format!("{desc}: {} (got {got:?})", ename(want)), ok);
}

fn abi(t: &mut Tap, dev: &Device) {
    t.ok(
        "the module speaks ABI 3",
        dev.version().map(|v| v.abi_version) == Ok(3),
    );
    // An ABI 2 binary: the old structs through their old ioctl numbers.
    let mut c = OmssSessionCreateV1::request();
    let r = dev.ioctl(OMSS_IOC_SESSION_CREATE_V1, &mut c);
    let mut feed = Feed::new();
    let mut sub = UdpSub::new();
    let mut a = OmssSinkAddV1 {
        session_id: c.session_id,
        fd: sub.sink.as_raw_fd(),
        ..OmssSinkAddV1::request()
    };
    let added = dev.ioctl(OMSS_IOC_SINK_ADD_V1, &mut a);
    let src = dev.set_source(c.session_id, feed.rx.as_raw_fd());
    feed.send(3, Duration::ZERO);
    let got = sub.recv(3, QUIET).to_vec();
    t.ok(
        &format!("ABI 2 create and sink add relay as before: {r:?} {added:?} {src:?} got {got:?}"),
        r.is_ok() && added.is_ok() && a.sink_id != 0 && src.is_ok() && got == seqs(0..3),
    );
    let _ = dev.destroy(c.session_id);
    // ABI 2's struct on ABI 3's number (its size field says 32): refused.
    let mut small = [0u32; 18];
    small[0] = OMSS_SESSION_CREATE_SIZE_V1 as u32;
    check_errno(
        t,
        "an ABI 2 size on the ABI 3 number",
        dev.ioctl(OMSS_IOC_SESSION_CREATE, &mut small),
        libc::EINVAL,
    );
    let bad = |flags, persist_ms, drop_policy| {
        create(
            dev,
            OmssSessionCreate {
                flags,
                persist_ms,
                drop_policy,
                ..Default::default()
            },
        )
    };
    check_errno(
        t,
        "PERSIST without a park time",
        bad(OMSS_SESSION_PERSIST, 0, 0),
        libc::EINVAL,
    );
    check_errno(
        t,
        "a park time without PERSIST",
        bad(0, 100, 0),
        libc::EINVAL,
    );
    check_errno(
        t,
        "a park time over the limit",
        bad(OMSS_SESSION_PERSIST, OMSS_PERSIST_MAX_MS + 1, 0),
        libc::EINVAL,
    );
    check_errno(t, "an unknown flag", bad(2, 0, 0), libc::EINVAL);
    check_errno(t, "an unknown drop policy", bad(0, 0, 3), libc::EINVAL);
    let plain = create(dev, OmssSessionCreate::default());
    t.ok(
        &format!("a session that does not persist has no token: {plain:?}"),
        matches!(plain, Ok(c) if c.token == 0 && c.session_id != 0),
    );
    if let Ok(c) = plain {
        let _ = dev.destroy(c.session_id);
    }
}

/// A session made from `c` (ring 64 unless set) with a UDP source and one UDP sink.
fn udp_session(dev: &Device, c: OmssSessionCreate) -> (u32, Feed, UdpSub) {
    let ring_entries = if c.ring_entries == 0 {
        64
    } else {
        c.ring_entries
    };
    let id = create(dev, OmssSessionCreate { ring_entries, ..c })
        .unwrap()
        .session_id;
    let feed = Feed::new();
    let a = UdpSub::new();
    add(dev, id, a.sink.as_raw_fd(), OmssLimits::default()).unwrap();
    dev.set_source(id, feed.rx.as_raw_fd()).unwrap();
    (id, feed, a)
}

fn burst(t: &mut Tap, dev: &Device) {
    // Session default: 5 entries back.
    let (id, mut feed, mut a) = udp_session(
        dev,
        OmssSessionCreate {
            limits: limits(5, 0),
            ..Default::default()
        },
    );
    feed.send(20, Duration::ZERO);
    t.ok(
        "burst: the first sink gets all 20",
        a.recv(20, QUIET) == seqs(0..20),
    );
    let mut b = UdpSub::new();
    let mut cc = UdpSub::new();
    let mut d = UdpSub::new();
    add(dev, id, b.sink.as_raw_fd(), OmssLimits::default()).unwrap();
    add(dev, id, cc.sink.as_raw_fd(), limits(OMSS_LIMIT_NONE, 0)).unwrap();
    add(dev, id, d.sink.as_raw_fd(), limits(2, 0)).unwrap();
    let gb = b.recv(5, QUIET).to_vec();
    t.ok(
        &format!("burst: a late joiner with the session's 5 gets 15..19 at once: {gb:?}"),
        gb == seqs(15..20),
    );
    let gd = d.recv(2, QUIET).to_vec();
    t.ok(
        &format!("burst: a sink's own burst of 2 gets 18, 19: {gd:?}"),
        gd == seqs(18..20),
    );
    let gc = cc.recv(1, Duration::from_millis(500)).to_vec();
    t.ok(
        &format!("burst: a sink with OMSS_LIMIT_NONE gets no burst: {gc:?}"),
        gc.is_empty(),
    );
    feed.send(1, Duration::ZERO);
    let all = [
        b.recv(6, QUIET).last().copied(),
        cc.recv(1, QUIET).last().copied(),
        d.recv(3, QUIET).last().copied(),
    ];
    t.ok(
        &format!("burst: then all go on with the next entry: {all:?}"),
        all == [Some(20); 3],
    );
    let (s, _) = dev.stats(id, 0).unwrap();
    t.ok(
        &format!(
            "burst: the ring retains 5 entries, dropping none: fill {} dropped {}",
            s.ring_fill, s.entries_dropped
        ),
        s.ring_fill == 5 && s.entries_dropped == 0,
    );
    dev.destroy(id).unwrap();

    // In time: 400 ms back.
    let (id, mut feed, mut a) = udp_session(
        dev,
        OmssSessionCreate {
            limits: limits(0, 400),
            ..Default::default()
        },
    );
    feed.send(10, Duration::ZERO);
    a.recv(10, QUIET);
    std::thread::sleep(Duration::from_millis(1500));
    feed.send(5, Duration::ZERO);
    let ga = a.recv(15, QUIET).len();
    let mut b = UdpSub::new();
    add(dev, id, b.sink.as_raw_fd(), OmssLimits::default()).unwrap();
    let gb = b.recv(15, QUIET).to_vec();
    t.ok(&format!("burst 400 ms: a late joiner gets the 5 entries of the last 400 ms, not the 10 of 1.5 s ago: {gb:?} (first sink {ga})"), gb == seqs(10..15));
    dev.destroy(id).unwrap();

    // No session burst: nothing is retained, so a sink's own burst finds nothing.
    let (id, mut feed, mut a) = udp_session(dev, OmssSessionCreate::default());
    feed.send(10, Duration::ZERO);
    a.recv(10, QUIET);
    let mut b = UdpSub::new();
    add(dev, id, b.sink.as_raw_fd(), limits(5, 0)).unwrap();
    feed.send(1, Duration::ZERO);
    let gb = b.recv(6, QUIET).to_vec();
    t.ok(&format!("burst: without a session burst nothing is retained; a sink's own starts at the next entry: {gb:?}"), gb == vec![10]);
    dev.destroy(id).unwrap();
}

/// A session with a fast UDP sink and a TCP sink whose receiver stalls, `lim` on the TCP
/// sink; sends `n` entries `gap` apart. Returns the session, the two subscribers and the TCP
/// sink's id.
fn stalled(
    dev: &Device,
    lim: OmssLimits,
    n: u64,
    gap: Duration,
) -> (u32, Feed, UdpSub, TcpSub, u32) {
    let c = OmssSessionCreate {
        ring_entries: 256,
        ..Default::default()
    };
    stalled_in(dev, c, lim, n, gap)
}

/// [`stalled`] in a session made from `c`.
fn stalled_in(
    dev: &Device,
    c: OmssSessionCreate,
    lim: OmssLimits,
    n: u64,
    gap: Duration,
) -> (u32, Feed, UdpSub, TcpSub, u32) {
    let c = create(dev, c).unwrap();
    let id = c.session_id;
    let mut feed = Feed::new();
    let a = UdpSub::new();
    let s = TcpSub::new();
    add(dev, id, a.sink.as_raw_fd(), OmssLimits::default()).unwrap();
    let sid = add(dev, id, s.sink.as_raw_fd(), lim).unwrap();
    dev.set_source(id, feed.rx.as_raw_fd()).unwrap();
    feed.send(n, gap);
    (id, feed, a, s, sid)
}

fn lag(t: &mut Tap, dev: &Device) {
    // Soft limit of 30 entries: the stalled sink jumps to the newest when it can send again.
    let lim = OmssLimits {
        lag_soft_entries: 30,
        ..Default::default()
    };
    let (id, mut feed, mut a, mut s, sid) = stalled(dev, lim, 150, Duration::from_millis(2));
    t.ok(
        "soft lag: the fast sink gets all 150",
        a.recv(150, QUIET).len() == 150,
    );
    let before = sink_stats(dev, id, sid);
    diag(&format!(
        "soft lag: the stalled sink before it reads: lag {} sent {}",
        before.lag, before.tx_packets
    ));
    s.drain(Duration::from_millis(1500));
    feed.send(10, Duration::from_millis(5));
    s.drain(Duration::from_millis(1500));
    let got = s.entries(0);
    let st = sink_stats(dev, id, sid);
    diag(&format!(
        "soft lag: after: state {} lost {} sent {}; {} bytes",
        st.state,
        st.entries_lost,
        st.tx_packets,
        s.bytes.len()
    ));
    let tail_ok = got.as_ref().is_some_and(|g| {
        g.ends_with(&seqs(150..160)) && g.len() < 160 && g.windows(2).all(|w| w[0] < w[1])
    });
    t.ok(
        &format!(
            "soft lag: whole entries, in order, a jump, then 150..159: {} entries",
            got.as_ref().map_or(0, |g| g.len())
        ),
        tail_ok,
    );
    let n = got.map_or(0, |g| g.len() as u64);
    t.ok(
        &format!("soft lag: the skipped entries count as lost ({} lost, {} received of 160), the sink stays active", st.entries_lost, n),
        st.state == OMSS_SINK_ACTIVE && st.entries_lost > 0 && st.entries_lost + n == 160,
    );
    t.ok(
        "soft lag: the fast sink lost nothing",
        a.recv(160, QUIET).len() == 160,
    );
    dev.destroy(id).unwrap();

    // Soft limit in time.
    let lim = OmssLimits {
        lag_soft_ms: 300,
        ..Default::default()
    };
    let (id, mut feed, _a, mut s, sid) = stalled(dev, lim, 60, Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(800));
    s.drain(Duration::from_millis(1000));
    feed.send(5, Duration::from_millis(5));
    s.drain(Duration::from_millis(1500));
    let st = sink_stats(dev, id, sid);
    let got = s.entries(0);
    t.ok(
        &format!(
            "soft lag 300 ms: the stalled sink skips to the newest ({} lost), ends with 60..64",
            st.entries_lost
        ),
        st.state == OMSS_SINK_ACTIVE
            && st.entries_lost > 0
            && got.is_some_and(|g| g.ends_with(&seqs(60..65))),
    );
    dev.destroy(id).unwrap();

    // Hard limit of 40 entries: kicked, socket back untouched.
    let lim = OmssLimits {
        lag_hard_entries: 40,
        ..Default::default()
    };
    let (id, _feed, mut a, mut s, sid) = stalled(dev, lim, 120, Duration::from_millis(2));
    let kicked = wait_until(Duration::from_secs(3), || {
        sink_stats(dev, id, sid).state == OMSS_SINK_KICKED
    });
    t.ok("hard lag: the stalled sink is kicked", kicked);
    t.ok(
        "hard lag: the fast sink lost nothing",
        a.recv(120, QUIET).len() == 120,
    );
    // What was queued drains first (the server's write would block on the full buffer).
    let eof1 = s.drain(Duration::from_millis(1500));
    let w = s.sink.write_all(b"SERVER");
    let eof2 = s.drain(Duration::from_millis(1500));
    t.ok(
        &format!(
            "hard lag: no FIN, and the server writes on the socket again: {w:?}, {} bytes, eof {eof1} {eof2}",
            s.bytes.len()
        ),
        w.is_ok() && !eof1 && !eof2 && s.bytes.ends_with(b"SERVER"),
    );
    let again = add(dev, id, s.sink.as_raw_fd(), OmssLimits::default());
    t.ok(
        &format!("hard lag: the kicked socket is the server's: it can be added again ({again:?})"),
        again.is_ok(),
    );
    dev.destroy(id).unwrap();

    // Hard limit in time.
    let lim = OmssLimits {
        lag_hard_ms: 300,
        ..Default::default()
    };
    let (id, _feed, mut a, _s, sid) = stalled(dev, lim, 75, Duration::from_millis(20));
    let kicked = wait_until(Duration::from_secs(3), || {
        sink_stats(dev, id, sid).state == OMSS_SINK_KICKED
    });
    t.ok("hard lag 300 ms: the stalled sink is kicked", kicked);
    t.ok(
        "hard lag 300 ms: the fast sink lost nothing",
        a.recv(75, QUIET).len() == 75,
    );
    dev.destroy(id).unwrap();
}

const REC: usize = 188;

fn record(seq: u64) -> Vec<u8> {
    let mut b = vec![seq as u8; REC];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b
}

/// The records of a byte stream, if it is whole records, all well-formed.
fn records(b: &[u8]) -> Option<Vec<u64>> {
    if !b.len().is_multiple_of(REC) {
        return None;
    }
    b.chunks(REC)
        .map(|r| {
            let seq = u64::from_le_bytes(r[..8].try_into().unwrap());
            r[8..].iter().all(|&x| x == seq as u8).then_some(seq)
        })
        .collect()
}

/// A TCP source: the session reads `src`; the test writes into `feed`.
fn tcp_source() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let feed = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (src, _) = l.accept().unwrap();
    (feed, src)
}

/// Writes records `from..to` in 1,000-byte pieces (not record-aligned), `gap` apart.
fn feed_records(feed: &mut TcpStream, from: u64, to: u64, gap: Duration) {
    let bytes: Vec<u8> = (from..to).flat_map(record).collect();
    for piece in bytes.chunks(1000) {
        feed.write_all(piece).unwrap();
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
}

/// A TCP source's framing: whole records, datagrams of a set size, a short last entry.
fn framing(t: &mut Tap, dev: &Device) {
    let bad = |record_size, datagram_size| {
        create(
            dev,
            OmssSessionCreate {
                record_size,
                datagram_size,
                ..Default::default()
            },
        )
    };
    check_errno(
        t,
        "framing: a datagram size that is not whole records",
        bad(188, 1400),
        libc::EINVAL,
    );
    check_errno(
        t,
        "framing: a record over OMSS_ENTRY_MAX",
        bad(OMSS_ENTRY_MAX + 1, 0),
        libc::E2BIG,
    );

    // TCP in, UDP out: 7 records per datagram.
    let c = create(
        dev,
        OmssSessionCreate {
            record_size: 188,
            datagram_size: 1316,
            ..Default::default()
        },
    )
    .unwrap();
    let id = c.session_id;
    let (mut feed, src) = tcp_source();
    let sub = UdpSub::new();
    add(dev, id, sub.sink.as_raw_fd(), OmssLimits::default()).unwrap();
    dev.set_source(id, src.as_raw_fd()).unwrap();
    feed_records(&mut feed, 0, 70, Duration::from_millis(2));
    let mut extra = (70..73).flat_map(record).collect::<Vec<u8>>();
    extra.extend_from_slice(&record(73)[..50]);
    feed.write_all(&extra).unwrap();
    feed.shutdown(std::net::Shutdown::Write).unwrap();
    let mut sizes = Vec::new();
    let mut bytes = Vec::new();
    let mut buf = vec![0; 65536];
    let end = Instant::now() + QUIET;
    while Instant::now() < end && sizes.len() < 11 {
        if let Ok(n) = sub.rx.recv(&mut buf) {
            sizes.push(n);
            bytes.extend_from_slice(&buf[..n]);
        }
    }
    let whole = sizes[..sizes.len().saturating_sub(1)]
        .iter()
        .all(|&n| n == 1316);
    t.ok(
        &format!(
            "framing: TCP in, UDP out: 10 datagrams of 1,316 bytes, then the short rest: {sizes:?}"
        ),
        sizes.len() == 11 && whole && sizes[10] == 3 * 188 + 50,
    );
    let want: Vec<u8> = (0..73)
        .flat_map(record)
        .chain(record(73)[..50].iter().copied())
        .collect();
    t.ok(
        "framing: the datagrams are the stream, byte for byte",
        bytes == want,
    );
    let ended = wait_until(Duration::from_secs(2), || {
        dev.stats(id, 0)
            .is_ok_and(|(s, _)| s.state == OMSS_SESSION_ENDED)
    });
    t.ok(
        "framing: the source's EOF ends the session after the short entry",
        ended,
    );
    dev.destroy(id).unwrap();

    // A lag jump of a TCP sink falls on a record boundary.
    let c = OmssSessionCreate {
        ring_entries: 256,
        record_size: 188,
        datagram_size: 1316,
        ..Default::default()
    };
    let c = create(dev, c).unwrap();
    let id = c.session_id;
    let (mut feed, src) = tcp_source();
    let mut s = TcpSub::new();
    let lim = OmssLimits {
        lag_soft_entries: 20,
        ..Default::default()
    };
    let sid = add(dev, id, s.sink.as_raw_fd(), lim).unwrap();
    dev.set_source(id, src.as_raw_fd()).unwrap();
    feed_records(&mut feed, 0, 700, Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(500));
    s.drain(Duration::from_millis(1500));
    feed_records(&mut feed, 700, 770, Duration::ZERO);
    s.drain(Duration::from_millis(1500));
    let st = sink_stats(dev, id, sid);
    let got = records(&s.bytes);
    diag(&format!(
        "framing: the stalled sink lost {} entries, got {} bytes",
        st.entries_lost,
        s.bytes.len()
    ));
    t.ok(
        &format!("framing: after a jump ({} entries lost) the TCP sink's stream is still whole records, in order, ending with 700..769", st.entries_lost),
        st.entries_lost > 0 && got.is_some_and(|g| g.windows(2).all(|w| w[0] < w[1]) && g.ends_with(&(700..770).collect::<Vec<_>>())),
    );
    dev.destroy(id).unwrap();
}

/// The drop policies with a fast and a stalled sink: who loses what.
fn policies(t: &mut Tap, dev: &Device) {
    let run = |policy, ring, n| {
        let c = OmssSessionCreate {
            ring_entries: ring,
            drop_policy: policy,
            ..Default::default()
        };
        let (id, _feed, mut a, mut s, sid) =
            stalled_in(dev, c, OmssLimits::default(), n, Duration::from_millis(2));
        let fast = a.recv(n as usize, QUIET).len() as u64;
        let (st, _) = dev.stats(id, 0).unwrap();
        let slow = sink_stats(dev, id, sid);
        s.drain(Duration::from_millis(1500));
        let got = s.entries(0).unwrap_or_default();
        // The stalled sink got exactly what the fast one got (nothing of its own lost).
        let gapless = !got.is_empty() && got == a.got;
        dev.destroy(id).unwrap();
        diag(&format!(
            "policy {policy}: fast sink {fast} of {n}, dropped {}, stalled sink lost {} and received {} (the fast sink's: {gapless})",
            st.entries_dropped, slow.entries_lost, got.len()
        ));
        (fast, st.entries_dropped, slow.entries_lost, gapless)
    };
    let (fast, dropped, slow_lost, _) = run(OMSS_DROP_SLOWEST, 16, 100);
    t.ok(
        "slowest-sink-drop: the fast sink loses nothing, the stalled one loses the oldest",
        fast == 100 && dropped > 0 && slow_lost > 0,
    );
    let (fast, dropped, slow_lost, gapless) = run(OMSS_DROP_TAIL, 16, 100);
    t.ok(&format!("tail drop: new entries are refused ({dropped}), every sink loses them: fast {fast} + dropped = 100"), dropped > 0 && fast + dropped == 100);
    t.ok(
        "tail drop: the stalled sink loses nothing but the refused entries: it got what the fast one got",
        slow_lost == 0 && gapless,
    );
    let (fast, dropped, slow_lost, same) = run(OMSS_DROP_RED, 64, 200);
    t.ok(&format!("RED: new entries are dropped ({dropped}), every sink loses them: fast {fast} + dropped = 200"), dropped > 0 && fast + dropped == 200);
    t.ok(
        "RED: the ring never overflows, so the stalled sink gets what the fast one got",
        slow_lost == 0 && same,
    );
}

fn persist(t: &mut Tap, dev: &Device) {
    let before = dev.engine_stats().unwrap().sessions;
    let owner = Device::open(OMSS_DEVICE).unwrap();
    let c = create(
        &owner,
        OmssSessionCreate {
            flags: OMSS_SESSION_PERSIST,
            persist_ms: 5000,
            ..Default::default()
        },
    )
    .unwrap();
    let id = c.session_id;
    t.ok(
        &format!("persist: a persistent session has a token ({:#x})", c.token),
        c.token != 0,
    );
    let mut feed = Feed::new();
    let mut a = UdpSub::new();
    add(&owner, id, a.sink.as_raw_fd(), OmssLimits::default()).unwrap();
    owner.set_source(id, feed.rx.as_raw_fd()).unwrap();
    feed.send(3, Duration::ZERO);
    a.recv(3, QUIET);
    check_errno(
        t,
        "persist: adopting a session whose file is open",
        adopt(dev, id, c.token),
        libc::ENOENT,
    );
    drop(owner);
    feed.send(3, Duration::ZERO);
    t.ok(
        "persist: parked, it goes on relaying",
        a.recv(6, QUIET) == seqs(0..6),
    );
    check_errno(
        t,
        "persist: the wrong token",
        adopt(dev, id, c.token ^ 1),
        libc::EPERM,
    );
    check_errno(
        t,
        "persist: an unknown id",
        adopt(dev, id + 1000, c.token),
        libc::ENOENT,
    );
    t.ok(
        "persist: the right token adopts it",
        adopt(dev, id, c.token).is_ok(),
    );
    check_errno(
        t,
        "persist: adopted once only",
        adopt(dev, id, c.token),
        libc::ENOENT,
    );
    feed.send(3, Duration::ZERO);
    let st = dev.stats(id, 4);
    t.ok(
        &format!(
            "persist: the adopter owns it, and nothing was lost: {:?}",
            a.recv(9, QUIET)
        ),
        a.got == seqs(0..9) && matches!(st, Ok((s, _)) if s.state == OMSS_SESSION_RUNNING),
    );
    dev.destroy(id).unwrap();

    // Not adopted: destroyed when its park time is up; its sockets are given back.
    let owner = Device::open(OMSS_DEVICE).unwrap();
    let c = create(
        &owner,
        OmssSessionCreate {
            flags: OMSS_SESSION_PERSIST,
            persist_ms: 500,
            ..Default::default()
        },
    )
    .unwrap();
    let mut feed = Feed::new();
    let mut a = UdpSub::new();
    add(
        &owner,
        c.session_id,
        a.sink.as_raw_fd(),
        OmssLimits::default(),
    )
    .unwrap();
    owner.set_source(c.session_id, feed.rx.as_raw_fd()).unwrap();
    drop(owner);
    let parked = dev.engine_stats().unwrap().sessions;
    let gone = wait_until(Duration::from_secs(3), || {
        dev.engine_stats().unwrap().sessions == before
    });
    t.ok(
        &format!("persist 500 ms: parked ({parked} sessions), then destroyed ({before})"),
        parked == before + 1 && gone,
    );
    check_errno(
        t,
        "persist: a reaped session cannot be adopted",
        adopt(dev, c.session_id, c.token),
        libc::ENOENT,
    );
    feed.send(2, Duration::ZERO);
    let got = a.recv(2, Duration::from_millis(500)).len();
    let own = Device::open(OMSS_DEVICE).unwrap();
    let c2 = create(&own, OmssSessionCreate::default()).unwrap();
    let back = add(
        &own,
        c2.session_id,
        a.sink.as_raw_fd(),
        OmssLimits::default(),
    );
    t.ok(
        &format!(
            "persist: its sockets were given back ({got} entries relayed after; re-add {back:?})"
        ),
        got == 0 && back.is_ok(),
    );
}

fn main() -> std::process::ExitCode {
    let mut t = Tap::new(PLAN);
    let dev = match Device::open(OMSS_DEVICE) {
        Ok(d) => d,
        Err(e) => {
            println!("Bail out! {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    abi(&mut t, &dev);
    burst(&mut t, &dev);
    lag(&mut t, &dev);
    policies(&mut t, &dev);
    framing(&mut t, &dev);
    persist(&mut t, &dev);
    drop(dev);
    finish_drained(&mut t)
}
