//! Both relays over 127.0.0.1 (and ::1): a stream relayed 1->8 arrives intact and in order at every
//! subscriber (UDP datagrams, of which only those the relay counted as dropped may be
//! missing, and TCP byte streams), and a stalled TCP subscriber makes the relay drop (and
//! count) packets for it alone.
//!
//! The tests run one at a time (they share the machine's two cores with 8 receivers and the
//! relay), each on its own ports from 41000 up.

use serde_json::Value;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

const DAEMON: &str = env!("CARGO_BIN_EXE_omss-daemon");
const EPOLL: &str = env!("CARGO_BIN_EXE_omss-epoll-relay");
const URING: &str = env!("CARGO_BIN_EXE_omss-uring-relay");
const SINKS: usize = 8;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// The loopback address the calling test uses: 127.0.0.1, or ::1 in the IPv6 tests.
    static LOOPBACK: std::cell::Cell<std::net::IpAddr> =
        const { std::cell::Cell::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)) };
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::new(LOOPBACK.with(|l| l.get()), port)
}

/// Runs `f` with `addr` giving ::1 addresses (shown as [::1]:PORT on the relays' command
/// lines), unless this host has no IPv6 loopback.
fn over_ipv6(f: impl FnOnce()) {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    LOOPBACK.with(|l| l.set(std::net::Ipv6Addr::LOCALHOST.into()));
    f();
    LOOPBACK.with(|l| l.set(std::net::Ipv4Addr::LOCALHOST.into()));
}

/// A deterministic pseudo-random byte generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A relay under test; killed if still running when dropped.
struct Relay {
    child: Child,
    ready: mpsc::Receiver<()>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    fn spawn(bin: &str, args: &[String]) -> Relay {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let (tx, ready) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        let stderr = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.trim() == "ready" {
                    let _ = tx.send(());
                }
                log2.lock().unwrap().push(line);
            }
        });
        Relay { child, ready, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn wait_ready(&self) {
        if self.ready.recv_timeout(Duration::from_secs(15)).is_err() {
            panic!("the relay never said ready; stderr:\n{}", self.log());
        }
    }

    /// Waits for the relay to exit and returns its JSON summary.
    fn finish(mut self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                panic!("the relay did not exit in time; stderr:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        // Let the stderr reader catch up, for the messages below.
        thread::sleep(Duration::from_millis(50));
        assert!(
            status.success(),
            "relay failed: {status}; stderr:\n{}",
            self.log()
        );
        let j: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("bad JSON {out:?}: {e}; stderr:\n{}", self.log()));
        eprintln!("relay summary: {j}");
        j
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn num(j: &Value, k: &str) -> u64 {
    j[k].as_u64()
        .unwrap_or_else(|| panic!("no number {k} in {j}"))
}

fn set_rcvbuf(s: &impl AsRawFd, bytes: libc::c_int) {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket and a valid c_int option value of the size given.
    unsafe {
        let p = (&bytes as *const libc::c_int).cast();
        if libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            p,
            len,
        ) != 0
        {
            libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, p, len);
        }
    }
}

// ---------------------------------------------------------------------------------------
// UDP

/// Datagram `i` of the test stream: its number, then pseudo-random bytes. Sizes vary from
/// 8 bytes to 1472, with a 60000-byte datagram every 97.
fn datagram(i: u32) -> Vec<u8> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(i).wrapping_mul(0x1000_0001));
    let len = if i % 97 == 50 {
        60_000
    } else {
        8 + r.below(1465)
    };
    let mut d = vec![0; len];
    d[..4].copy_from_slice(&i.to_le_bytes());
    r.fill(&mut d[4..]);
    d
}

fn relay_udp(bin: &str, port: u16, impl_name: &str) {
    relay_udp_with(bin, port, impl_name, &[]);
}

fn relay_udp_with(bin: &str, port: u16, impl_name: &str, extra: &[&str]) {
    let _g = serial();
    const COUNT: u32 = 3000;
    let sink_base = port + 10;
    let receivers: Vec<UdpSocket> = (0..SINKS as u16)
        .map(|i| {
            let s = UdpSocket::bind(addr(sink_base + i)).unwrap();
            set_rcvbuf(&s, 8 << 20);
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            s
        })
        .collect();
    let mut relay_args = args(&[
        "--source-udp",
        &addr(port).to_string(),
        "--sink-udp",
        &addr(sink_base).to_string(),
        "-n",
        &SINKS.to_string(),
        "--threads",
        "3",
        "--idle-exit",
        "1",
        "--json",
    ]);
    relay_args.extend(args(extra));
    let relay = Relay::spawn(bin, &relay_args);
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(k, s)| {
            thread::spawn(move || {
                // In order and intact; a datagram may be missing only if the relay counted
                // it as dropped (checked against its report below). Ends at the last
                // datagram, or 2 s after data stopped.
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut buf = vec![0u8; 65536];
                let (mut next, mut got_n, mut last) = (0u32, 0u32, Instant::now());
                while next < COUNT && Instant::now() < deadline {
                    match s.recv(&mut buf) {
                        Ok(n) => {
                            let got = u32::from_le_bytes(buf[..4].try_into().unwrap());
                            if got < next || got >= COUNT || buf[..n] != datagram(got)[..] {
                                return Err(format!(
                                    "sink {k}: after datagram {next}: got {n} bytes numbered \
                                     {got}, out of order or corrupt"
                                ));
                            }
                            next = got + 1;
                            got_n += 1;
                            last = Instant::now();
                        }
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            if got_n > 0 && last.elapsed() > Duration::from_secs(2) {
                                break;
                            }
                        }
                        Err(e) => return Err(format!("sink {k}: {e}")),
                    }
                }
                Ok(got_n)
            })
        })
        .collect();
    relay.wait_ready();

    let tx = UdpSocket::bind(addr(0)).unwrap();
    let mut total = 0u64;
    for i in 0..COUNT {
        let d = datagram(i);
        total += d.len() as u64;
        tx.send_to(&d, addr(port)).unwrap();
        // Paced, so that no receiver's socket buffer overflows: UDP itself never retries.
        if i % 16 == 15 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    let results: Vec<Result<u32, String>> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let j = relay.finish(Duration::from_secs(20));
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors.is_empty(), "{errors:?}; relay said {j}");
    assert_eq!(j["impl"], impl_name);
    assert_eq!(num(&j, "sinks"), SINKS as u64);
    assert_eq!(num(&j, "rx_packets"), u64::from(COUNT), "{j}");
    assert_eq!(num(&j, "rx_bytes"), total, "{j}");
    // Every datagram a subscriber lacks is one the relay counted as dropped (a full send
    // buffer on a loaded machine), and no more: nothing is lost silently.
    let received: u64 = results
        .iter()
        .map(|r| u64::from(*r.as_ref().unwrap()))
        .sum();
    let sent = SINKS as u64 * u64::from(COUNT);
    assert_eq!(num(&j, "tx_packets"), received, "{j}");
    assert_eq!(num(&j, "dropped"), sent - received, "{j}");
    assert!(
        received * 10 >= sent * 9,
        "over 10% dropped ({received} of {sent}): {j}"
    );
    if received == sent {
        assert_eq!(num(&j, "tx_bytes"), SINKS as u64 * total, "{j}");
    }
}

#[test]
fn daemon_relays_udp_to_8_in_order() {
    relay_udp(DAEMON, 41000, "daemon");
}

#[test]
fn epoll_relays_udp_to_8_in_order() {
    relay_udp(EPOLL, 41100, "epoll");
}

// ---------------------------------------------------------------------------------------
// TCP

fn stream_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut d = vec![0; len];
    Rng(seed).fill(&mut d);
    d
}

fn connect_retry(a: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(a) {
            Ok(s) => return s,
            Err(e) if Instant::now() >= deadline => panic!("connect {a}: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Accepts the relay's connection to the test's media server.
fn accept_source(l: &TcpListener, relay: &Relay) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!(
                "the relay never connected to the source ({e}); stderr:\n{}",
                relay.log()
            ),
        }
    }
}

/// A subscriber that reads everything until EOF.
fn reader(a: SocketAddr) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut s = connect_retry(a);
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).expect("subscriber read");
        v
    })
}

/// Writes `data` to the source connection in pieces of 1 byte to 64 KiB, then closes it.
fn send_stream(mut s: TcpStream, data: &[u8], pace: Option<(usize, Duration)>) {
    let mut r = Rng(7);
    let mut off = 0;
    while off < data.len() {
        let n = match pace {
            Some((piece, _)) => piece,
            None => 1 + r.below(64 * 1024),
        }
        .min(data.len() - off);
        s.write_all(&data[off..off + n]).unwrap();
        off += n;
        if let Some((_, gap)) = pace {
            thread::sleep(gap);
        }
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
}

fn tcp_relay_args(port: u16, ring: usize, extra: &[&str]) -> Vec<String> {
    let mut v = args(&[
        "--source-tcp",
        &addr(port).to_string(),
        "--sink-tcp-listen",
        &addr(port + 1).to_string(),
        "-n",
        &SINKS.to_string(),
        "--ring",
        &ring.to_string(),
        "--json",
    ]);
    v.extend(args(extra));
    v
}

fn relay_tcp(bin: &str, port: u16, impl_name: &str) {
    relay_tcp_with(bin, port, impl_name, &[]);
}

fn relay_tcp_with(bin: &str, port: u16, impl_name: &str, extra: &[&str]) {
    let _g = serial();
    let data = stream_bytes(8 << 20, port.into());
    let media = TcpListener::bind(addr(port)).unwrap();
    // A ring longer than the whole stream in packets: no sink may ever be dropped from.
    let relay = Relay::spawn(bin, &tcp_relay_args(port, 4096, extra));
    let subs: Vec<_> = (0..SINKS).map(|_| reader(addr(port + 1))).collect();
    let src = accept_source(&media, &relay);
    relay.wait_ready();
    send_stream(src, &data, None);
    for (k, h) in subs.into_iter().enumerate() {
        let got = h.join().unwrap();
        assert_eq!(got.len(), data.len(), "sink {k}: length");
        assert!(got == data, "sink {k}: the byte stream differs");
    }
    let j = relay.finish(Duration::from_secs(20));
    assert_eq!(j["impl"], impl_name);
    assert_eq!(num(&j, "rx_bytes"), data.len() as u64, "{j}");
    assert_eq!(num(&j, "tx_bytes"), SINKS as u64 * data.len() as u64, "{j}");
    assert_eq!(
        num(&j, "tx_packets"),
        SINKS as u64 * num(&j, "rx_packets"),
        "{j}"
    );
    assert_eq!(num(&j, "dropped"), 0, "{j}");
}

#[test]
fn daemon_relays_tcp_to_8_exactly() {
    relay_tcp(DAEMON, 41200, "daemon");
}

#[test]
fn epoll_relays_tcp_to_8_exactly() {
    relay_tcp(EPOLL, 41300, "epoll");
}

#[test]
fn uring_relays_udp_to_8_in_order_plain_and_zero_copy() {
    relay_udp_with(URING, 41400, "iouring", &["--send", "plain"]);
    relay_udp_with(URING, 41500, "iouring", &["--send", "zc"]);
}

#[test]
fn uring_relays_tcp_to_8_exactly_plain_and_zero_copy() {
    relay_tcp_with(URING, 41600, "iouring", &["--send", "plain"]);
    relay_tcp_with(URING, 41700, "iouring", &["--send", "zc"]);
}

#[test]
fn relays_udp_and_tcp_over_ipv6() {
    over_ipv6(|| {
        relay_udp(DAEMON, 41800, "daemon");
        relay_udp(EPOLL, 41820, "epoll");
        relay_udp_with(URING, 41840, "iouring", &["--send", "plain"]);
        relay_tcp(DAEMON, 41860, "daemon");
        relay_tcp(EPOLL, 41870, "epoll");
        relay_tcp_with(URING, 41880, "iouring", &["--send", "plain"]);
    });
}

// ---------------------------------------------------------------------------------------
// A stalled TCP subscriber

fn stalled_subscriber(bin: &str, port: u16) {
    let _g = serial();
    let data = stream_bytes(24 << 20, port.into());
    let media = TcpListener::bind(addr(port)).unwrap();
    let relay = Relay::spawn(bin, &tcp_relay_args(port, 256, &["--drain-timeout", "1"]));
    // The stalled subscriber connects first (so it is one of the sinks for sure) and reads
    // nothing until the relay has exited.
    let mut stalled = connect_retry(addr(port + 1));
    let subs: Vec<_> = (1..SINKS).map(|_| reader(addr(port + 1))).collect();
    let src = accept_source(&media, &relay);
    relay.wait_ready();
    // About 32 MB/s: the live subscribers keep up easily (the ring alone is about 128 ms of
    // slack for them), while the stalled one fills its socket buffers (a few MiB) and then
    // falls more than the ring behind.
    send_stream(src, &data, Some((32 * 1024, Duration::from_millis(1))));
    for (k, h) in subs.into_iter().enumerate() {
        let got = h.join().unwrap();
        assert_eq!(got.len(), data.len(), "live sink {k}: length");
        assert!(got == data, "live sink {k}: the byte stream differs");
    }
    let j = relay.finish(Duration::from_secs(20));
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    stalled.read_to_end(&mut got).unwrap();
    assert!(num(&j, "dropped") > 0, "no drop counted: {j}");
    assert!(got.len() < data.len(), "the stalled sink got everything");
    // What it got began with the stream's start, and every byte the relay wrote reached it.
    let head = got.len().min(4096);
    assert_eq!(got[..head], data[..head]);
    assert_eq!(
        num(&j, "tx_bytes"),
        (SINKS as u64 - 1) * data.len() as u64 + got.len() as u64,
        "{j}"
    );
    assert_eq!(num(&j, "rx_bytes"), data.len() as u64, "{j}");
}

#[test]
fn daemon_counts_drops_for_a_stalled_tcp_subscriber() {
    stalled_subscriber(DAEMON, 41400);
}

#[test]
fn epoll_counts_drops_for_a_stalled_tcp_subscriber() {
    stalled_subscriber(EPOLL, 41500);
}
