//! The streams being served: one OMSS session (or user-space relay) per `/udp/ADDR:PORT`,
//! created by its first client and destroyed a linger time after its last one left.
//! A monitor polls the sessions' stats: a sink that failed or finished is a client gone,
//! and so is a client that closed its side of the connection (EOF, as nginx takes it): a
//! stream that no longer flows would not notice otherwise.

use crate::request::HttpError;
use crate::status::{ClientView, Snapshot, StreamView};
use crate::user_relay::{UserRelay, UserSink};
use omss_media::sys;
use omss_uapi::*;
use omssctl::dev::{errno_text, Device};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// OMSS share mode: every client's sink sends the same pages.
    Share,
    /// OMSS copy mode: a private copy per client.
    Copy,
    /// A user-space copy relay in this process (for comparison).
    User,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Share => "share",
            Mode::Copy => "copy",
            Mode::User => "user",
        }
    }
}

pub struct Config {
    pub mode: Mode,
    pub max_clients: usize,
    pub max_per_stream: usize,
    pub linger: Duration,
    pub content_type: String,
    pub mcast_if: Ipv4Addr,
    pub mcast_if6: u32,
    pub rcvbuf: usize,
    pub ring: u32,
}

struct Client {
    /// The sink id (OMSS) or a local id (user mode).
    id: u32,
    peer: SocketAddr,
    since: SystemTime,
    /// OMSS mode: our reference to the socket, closed once the sink is removed.
    sock: Option<TcpStream>,
    bytes: u64,
    packets: u64,
    lag: u64,
    lost: u64,
    state: &'static str,
}

enum Path {
    Omss { session: u32, _source: UdpSocket },
    User(UserRelay),
}

struct Stream {
    since: SystemTime,
    path: Path,
    clients: Vec<Client>,
    empty_since: Option<Instant>,
    rx_bytes: u64,
    rx_packets: u64,
    dropped: u64,
}

#[derive(Default)]
struct Table {
    streams: BTreeMap<SocketAddr, Stream>,
    next_user_id: u32,
    served: u64,
    responses: BTreeMap<u16, u64>,
}

impl Table {
    fn clients(&self) -> usize {
        self.streams.values().map(|s| s.clients.len()).sum()
    }
}

pub struct Hub {
    cfg: Config,
    dev: Option<Device>,
    table: Mutex<Table>,
}

impl Hub {
    pub fn new(cfg: Config, device: &str) -> Result<Self, String> {
        let dev = match cfg.mode {
            Mode::User => None,
            _ => Some(Device::open(device)?),
        };
        Ok(Self {
            cfg,
            dev,
            table: Mutex::default(),
        })
    }

    pub fn count_response(&self, code: u16) {
        let mut t = self.table.lock().unwrap();
        *t.responses.entry(code).or_default() += 1;
    }

    /// Serves `sock` the stream at `addr`: checks the limits, creates the stream if it is
    /// the first client, writes the response header and hands the socket over. On an
    /// error, gives the socket back for the answer.
    pub fn join(&self, addr: SocketAddr, sock: TcpStream) -> Result<(), (HttpError, TcpStream)> {
        let mut t = self.table.lock().unwrap();
        if let Err(e) = self.check_and_open(&mut t, addr) {
            return Err((e, sock));
        }
        let Ok(peer) = sock.peer_addr() else {
            return Ok(()); // The client left already: nothing to serve.
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nConnection: close\r\n\r\n",
            self.cfg.content_type
        );
        let mut sock = sock;
        sock.set_write_timeout(Some(Duration::from_secs(2))).ok();
        if sock.write_all(head.as_bytes()).is_err() {
            return Ok(());
        }
        sock.set_write_timeout(None).ok();
        sock.set_nodelay(true).ok();
        // For `peer_closed`; the kernel's sends do not depend on it (MSG_DONTWAIT).
        if sock.set_nonblocking(true).is_err() {
            return Ok(());
        }
        t.served += 1;
        *t.responses.entry(200).or_default() += 1;
        let local_id = t.next_user_id;
        t.next_user_id += 1;
        let s = t.streams.get_mut(&addr).expect("opened above");
        let (id, sock) = match &s.path {
            Path::Omss { session, .. } => {
                let dev = self.dev.as_ref().expect("OMSS mode has a device");
                match dev.add_sink(*session, sock.as_raw_fd()) {
                    Ok(id) => (id, Some(sock)),
                    Err(e) => {
                        eprintln!("omss-httpd: {addr}: add sink: {}", errno_text(e));
                        return Ok(());
                    }
                }
            }
            Path::User(r) => {
                if let Err(e) = r.add(local_id, sock) {
                    eprintln!("omss-httpd: {addr}: add client: {e}");
                    return Ok(());
                }
                (local_id, None)
            }
        };
        s.empty_since = None;
        s.clients.push(Client {
            id,
            peer,
            since: SystemTime::now(),
            sock,
            bytes: 0,
            packets: 0,
            lag: 0,
            lost: 0,
            state: "active",
        });
        Ok(())
    }

    /// Checks the limits, and opens the stream if it is not open yet.
    fn check_and_open(&self, t: &mut Table, addr: SocketAddr) -> Result<(), HttpError> {
        if t.clients() >= self.cfg.max_clients {
            return Err(HttpError::Unavailable);
        }
        if let Some(s) = t.streams.get(&addr) {
            if s.clients.len() >= self.cfg.max_per_stream {
                return Err(HttpError::Unavailable);
            }
            return Ok(());
        }
        let s = self.open_stream(addr).map_err(|e| {
            eprintln!("omss-httpd: stream {addr}: {e}");
            match e.kind() {
                io::ErrorKind::AddrNotAvailable | io::ErrorKind::InvalidInput => {
                    HttpError::BadRequest
                }
                _ => HttpError::Unavailable,
            }
        })?;
        eprintln!(
            "omss-httpd: stream {addr} opened ({})",
            self.cfg.mode.name()
        );
        t.streams.insert(addr, s);
        Ok(())
    }

    /// The source socket (bound there; a multicast group is joined) and its data path.
    fn open_stream(&self, addr: SocketAddr) -> io::Result<Stream> {
        let sock = UdpSocket::bind(addr)?;
        match addr.ip() {
            IpAddr::V4(g) if g.is_multicast() => sock.join_multicast_v4(&g, &self.cfg.mcast_if)?,
            IpAddr::V6(g) if g.is_multicast() => sock.join_multicast_v6(&g, self.cfg.mcast_if6)?,
            _ => {}
        }
        let _ = sys::set_rcvbuf_force(&sock, self.cfg.rcvbuf);
        let path = match self.cfg.mode {
            Mode::User => Path::User(UserRelay::start(sock)?),
            mode => {
                let dev = self.dev.as_ref().expect("OMSS mode has a device");
                let m = if mode == Mode::Copy {
                    OMSS_MODE_COPY
                } else {
                    OMSS_MODE_SHARE
                };
                let oserr =
                    |what: &str, e: i32| io::Error::other(format!("{what}: {}", errno_text(e)));
                let session = dev
                    .create(0, m, self.cfg.ring)
                    .map_err(|e| oserr("create session", e))?;
                if let Err(e) = dev.set_source(session, sock.as_raw_fd()) {
                    let _ = dev.destroy(session);
                    return Err(oserr("set source", e));
                }
                Path::Omss {
                    session,
                    _source: sock,
                }
            }
        };
        Ok(Stream {
            since: SystemTime::now(),
            path,
            clients: Vec::new(),
            empty_since: Some(Instant::now()),
            rx_bytes: 0,
            rx_packets: 0,
            dropped: 0,
        })
    }

    /// One monitor round: refreshes every client's counters, lets go of the clients that
    /// are gone, and closes the streams that had no client for the linger time.
    pub fn poll(&self) {
        let mut t = self.table.lock().unwrap();
        let now = Instant::now();
        let mut closed = Vec::new();
        for (addr, s) in t.streams.iter_mut() {
            let alive = match &s.path {
                Path::Omss { session, .. } => self.poll_session(*session, s),
                Path::User(_) => poll_user(s),
            };
            for c in s.clients.iter().filter(|c| c.state != "active") {
                eprintln!(
                    "omss-httpd: {addr}: client {} left ({}, {} bytes)",
                    c.peer, c.state, c.bytes
                );
            }
            s.clients.retain(|c| c.state == "active");
            if !s.clients.is_empty() {
                s.empty_since = None;
            } else if !alive
                || now.duration_since(*s.empty_since.get_or_insert(now)) >= self.cfg.linger
            {
                closed.push(*addr);
            }
        }
        for addr in closed {
            if let Some(s) = t.streams.remove(&addr) {
                if let (Path::Omss { session, .. }, Some(dev)) = (&s.path, &self.dev) {
                    if let Err(e) = dev.destroy(*session) {
                        eprintln!("omss-httpd: {addr}: destroy: {}", errno_text(e));
                    }
                }
                eprintln!("omss-httpd: stream {addr} closed");
            }
        }
    }

    /// Reads a session's stats into its clients; removes the sinks that failed or ended.
    /// Returns false if the session is gone.
    fn poll_session(&self, session: u32, s: &mut Stream) -> bool {
        let dev = self.dev.as_ref().expect("OMSS mode has a device");
        let (st, sinks) = match dev.stats(session, s.clients.len() + 16) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("omss-httpd: session {session}: stats: {}", errno_text(e));
                s.clients.iter_mut().for_each(|c| c.state = "failed");
                return false;
            }
        };
        (s.rx_bytes, s.rx_packets, s.dropped) = (st.rx_bytes, st.rx_packets, st.entries_dropped);
        let by_id: HashMap<u32, &OmssSinkStats> = sinks.iter().map(|k| (k.sink_id, k)).collect();
        for c in s.clients.iter_mut() {
            let Some(k) = by_id.get(&c.id) else {
                continue;
            };
            (c.bytes, c.packets, c.lag, c.lost) = (k.tx_bytes, k.tx_packets, k.lag, k.entries_lost);
            c.state = match k.state {
                OMSS_SINK_ACTIVE => "active",
                OMSS_SINK_DONE => "done",
                OMSS_SINK_KICKED => "kicked",
                _ => "failed",
            };
            if c.state == "active" && c.sock.as_mut().is_some_and(sys::peer_closed) {
                c.state = "closed";
            }
            if c.state != "active" {
                let _ = dev.remove_sink(session, c.id);
                c.sock = None;
            }
        }
        true
    }

    pub fn snapshot(&self) -> Snapshot {
        let t = self.table.lock().unwrap();
        let secs = |s: SystemTime| {
            s.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        };
        let streams: Vec<StreamView> = t
            .streams
            .iter()
            .map(|(addr, s)| StreamView {
                address: addr.to_string(),
                session: match &s.path {
                    Path::Omss { session, .. } => Some(*session),
                    Path::User(_) => None,
                },
                since: secs(s.since),
                rx_bytes: s.rx_bytes,
                rx_packets: s.rx_packets,
                entries_dropped: s.dropped,
                clients: s
                    .clients
                    .iter()
                    .map(|c| ClientView {
                        id: c.id,
                        address: c.peer.to_string(),
                        bytes: c.bytes,
                        packets: c.packets,
                        lag: c.lag,
                        lost: c.lost,
                        state: c.state,
                        since: secs(c.since),
                    })
                    .collect(),
            })
            .collect();
        Snapshot {
            mode: self.cfg.mode.name(),
            clients_total: t.clients(),
            served: t.served,
            max_clients: self.cfg.max_clients,
            max_per_stream: self.cfg.max_per_stream,
            burst_supported: false,
            responses: t.responses.clone(),
            now: secs(SystemTime::now()),
            streams,
        }
    }
}

/// User mode: copies the relay thread's counters; a client whose socket failed is gone.
fn poll_user(s: &mut Stream) -> bool {
    let Path::User(r) = &s.path else { return true };
    s.rx_bytes = r.rx_bytes.load(std::sync::atomic::Ordering::Relaxed);
    s.rx_packets = r.rx_packets.load(std::sync::atomic::Ordering::Relaxed);
    let mut sinks = r.sinks.lock().unwrap();
    let mut by_id: HashMap<u32, &mut UserSink> = sinks.iter_mut().map(|k| (k.id, k)).collect();
    for c in s.clients.iter_mut() {
        if let Some(k) = by_id.get_mut(&c.id) {
            (c.bytes, c.packets, c.lag, c.lost) = (k.bytes, k.packets, k.lag(), k.lost);
            if k.failed.is_some() {
                c.state = "failed";
            } else if sys::peer_closed(&mut k.sock) {
                k.failed = Some(0);
                c.state = "closed";
            }
        }
    }
    drop(by_id);
    sinks.retain(|k| k.failed.is_none());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    const HEAD: &[u8; 64] =
        b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n";

    fn user_hub(max_clients: usize, max_per_stream: usize) -> Hub {
        let cfg = Config {
            mode: Mode::User,
            max_clients,
            max_per_stream,
            linger: Duration::from_millis(100),
            content_type: "video/mp2t".into(),
            mcast_if: Ipv4Addr::UNSPECIFIED,
            mcast_if6: 0,
            rcvbuf: 1 << 20,
            ring: 0,
        };
        Hub::new(cfg, "/nonexistent").unwrap()
    }

    /// A client connection: (client side, server side).
    fn conn(l: &TcpListener) -> (TcpStream, TcpStream) {
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    }

    fn free_udp_addr() -> SocketAddr {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    #[test]
    fn user_mode_serves_limits_and_lingers() {
        let hub = user_hub(2, 1);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (a, b) = (free_udp_addr(), free_udp_addr());
        let (mut c1, s1) = conn(&l);
        hub.join(a, s1).unwrap();
        // Over the per-stream limit, then over the total limit.
        let (_c2, s2) = conn(&l);
        assert_eq!(
            hub.join(a, s2).err().map(|e| e.0),
            Some(HttpError::Unavailable)
        );
        let (_c3, s3) = conn(&l);
        hub.join(b, s3).unwrap();
        let (_c4, s4) = conn(&l);
        let c_addr = free_udp_addr();
        assert_eq!(
            hub.join(c_addr, s4).err().map(|e| e.0),
            Some(HttpError::Unavailable)
        );
        assert_eq!(hub.snapshot().clients_total, 2);

        // The header, then the datagrams, concatenated.
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for d in [&b"one"[..], b"two", b"three"] {
            tx.send_to(d, a).unwrap();
        }
        let head = HEAD;
        let mut got = vec![0u8; head.len() + 11];
        c1.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c1.read_exact(&mut got).unwrap();
        assert_eq!(&got[..head.len()], head);
        assert_eq!(&got[head.len()..], b"onetwothree");

        // The client leaves: it is let go, and its stream closes after the linger.
        drop(c1);
        hub.poll();
        let snap = hub.snapshot();
        assert_eq!(snap.clients_total, 1);
        assert_eq!(snap.streams.len(), 2, "a lingers");
        std::thread::sleep(Duration::from_millis(150));
        hub.poll();
        let snap = hub.snapshot();
        assert_eq!(snap.streams.len(), 1);
        assert_eq!(snap.streams[0].address, b.to_string());
        assert_eq!(snap.served, 2);
        assert_eq!(snap.responses.get(&200), Some(&2));
    }

    #[test]
    fn a_client_that_does_not_read_holds_back_nobody() {
        let hub = user_hub(8, 8);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = free_udp_addr();
        let (mut reader, s1) = conn(&l);
        hub.join(a, s1).unwrap();
        let (_stalled, s2) = conn(&l);
        hub.join(a, s2).unwrap();
        reader
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = [0u8; HEAD.len()];
        reader.read_exact(&mut head).unwrap();
        assert_eq!(&head, HEAD);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let d = vec![7u8; 8192];
        // Far more than the stalled client's socket buffers and queue hold.
        let n = 2000;
        let mut buf = vec![0u8; d.len()];
        for _ in 0..n {
            tx.send_to(&d, a).unwrap();
            reader.read_exact(&mut buf).unwrap();
            assert_eq!(buf, d);
        }
        hub.poll();
        let snap = hub.snapshot();
        let c = &snap.streams[0].clients;
        assert_eq!((c[0].packets, c[0].lost), (n, 0));
        assert!(c[1].lost > 0 && c[1].lag as usize <= 256, "{:?}", c[1]);
    }
}
