//! The streams being served: one OMSS session (or user-space relay) per `/udp/ADDR:PORT`,
//! created by its first client and destroyed a linger time after its last one left.
//! A monitor polls the sessions' stats: a sink that failed or finished is a client gone,
//! and so is a client that closed its side of the connection (EOF, as nginx takes it): a
//! stream that no longer flows would not notice otherwise.
//! Sessions are persistent (`--persist-ms`): for a restart the server writes their ids and
//! tokens to a state file and exits or re-executes itself, the sessions are parked and go on
//! relaying, and the new server adopts them ([`Hub::adopt`]).

use crate::request::HttpError;
use crate::state::{self, ClientState, State, StreamState};
use crate::status::{ClientView, Snapshot, StreamView};
use crate::user_relay::{UserRelay, UserSink};
use omss_media::sys;
use omss_uapi::*;
use omssctl::dev::{errno_text, Device};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
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
    /// A late joiner starts this far back (0: with the next datagram).
    pub burst_ms: u32,
    /// OMSS modes: the park time of the sessions (0: not persistent, no restart).
    pub persist_ms: u32,
}

struct Client {
    /// The sink id (OMSS) or a local id (user mode).
    id: u32,
    /// Its address (`unknown` for a sink an adopted session had that the state file did not
    /// name).
    peer: String,
    /// Our end of its connection (None if unknown).
    local: Option<SocketAddr>,
    since: SystemTime,
    /// OMSS mode: our reference to the socket, closed once the sink is removed. None for the
    /// clients of an adopted session unless the server re-executed itself (then it kept
    /// them open).
    sock: Option<TcpStream>,
    bytes: u64,
    packets: u64,
    lag: u64,
    lost: u64,
    state: &'static str,
}

enum Path {
    Omss {
        session: u32,
        /// Adopts the session when it is parked (0 if it is not persistent).
        token: u64,
        /// The session's burst, its sinks' default.
        burst_ms: u32,
        /// The source socket; None once adopted (the session holds it).
        _source: Option<UdpSocket>,
    },
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
    /// Restarts this server went through (execve or a new process, with `--adopt`).
    restarts: u64,
    /// When the kernel's TCP table was last read (for clients without their socket).
    scanned: Option<Instant>,
}

/// How often the kernel's TCP table is read for the clients whose socket we do not hold.
const SCAN: Duration = Duration::from_secs(1);

/// TCP states of `/proc/net/tcp`: the server side of a connection the client closed.
const TCP_CLOSE_WAIT: u8 = 0x08;
const TCP_CLOSE: u8 = 0x07;

/// The TCP connections of this network namespace by local port and remote address, with
/// their state (`/proc/net/tcp` and `tcp6`); None if they cannot be read.
fn tcp_conns() -> Option<HashMap<(u16, SocketAddr), u8>> {
    let mut m = HashMap::new();
    let mut any = false;
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        any = true;
        for line in text.lines().skip(1) {
            let mut w = line.split_whitespace().skip(1);
            if let (Some(loc), Some(rem), Some(st)) = (w.next(), w.next(), w.next()) {
                if let (Some(l), Some(r), Ok(st)) =
                    (proc_addr(loc), proc_addr(rem), u8::from_str_radix(st, 16))
                {
                    m.insert((l.port(), r), st);
                }
            }
        }
    }
    any.then_some(m)
}

/// An address of `/proc/net/tcp{,6}`: `HEX:PORT`, the address as native-endian 32-bit words;
/// an IPv4-mapped IPv6 address is given as IPv4 (as `peer_addr` shows it).
fn proc_addr(s: &str) -> Option<SocketAddr> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let words = (0..a.len() / 8)
        .map(|i| u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<Vec<u32>>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => {
            let v6 = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Whether the client at `peer` closed its connection to our `port`: it is gone from the
/// table or in CLOSE_WAIT (the client's FIN came).
fn conn_closed(conns: &HashMap<(u16, SocketAddr), u8>, port: u16, peer: SocketAddr) -> bool {
    let peer = match peer {
        SocketAddr::V6(a) => a
            .ip()
            .to_ipv4_mapped()
            .map_or(peer, |v4| SocketAddr::new(IpAddr::V4(v4), a.port())),
        a => a,
    };
    matches!(
        conns.get(&(port, peer)),
        None | Some(&TCP_CLOSE_WAIT) | Some(&TCP_CLOSE)
    )
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
        let local = sock.local_addr().ok();
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
            Path::Omss {
                session, burst_ms, ..
            } => {
                let dev = self.dev.as_ref().expect("OMSS mode has a device");
                // A session adopted from a server with another burst: this one's, per sink.
                let limits = match (*burst_ms, self.cfg.burst_ms) {
                    (had, now) if had == now => OmssLimits::default(),
                    (_, 0) => OmssLimits {
                        burst_ms: OMSS_LIMIT_NONE,
                        ..OmssLimits::default()
                    },
                    (_, now) => OmssLimits {
                        burst_ms: now,
                        ..OmssLimits::default()
                    },
                };
                match dev.add_sink_with(*session, sock.as_raw_fd(), limits) {
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
            peer: peer.to_string(),
            local,
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
            Mode::User => Path::User(UserRelay::start(
                sock,
                Duration::from_millis(self.cfg.burst_ms.into()),
            )?),
            mode => {
                let dev = self.dev.as_ref().expect("OMSS mode has a device");
                let m = if mode == Mode::Copy {
                    OMSS_MODE_COPY
                } else {
                    OMSS_MODE_SHARE
                };
                let oserr =
                    |what: &str, e: i32| io::Error::other(format!("{what}: {}", errno_text(e)));
                let persist = self.cfg.persist_ms > 0;
                let mut req = OmssSessionCreate {
                    mode: m,
                    ring_entries: self.cfg.ring,
                    flags: if persist { OMSS_SESSION_PERSIST } else { 0 },
                    persist_ms: self.cfg.persist_ms,
                    // The session's default: every client it gets starts this far back.
                    limits: OmssLimits {
                        burst_ms: self.cfg.burst_ms,
                        ..OmssLimits::default()
                    },
                    ..OmssSessionCreate::request()
                };
                let (session, token) = dev
                    .create_with(&mut req)
                    .map_err(|e| oserr("create session", e))?;
                if let Err(e) = dev.set_source(session, sock.as_raw_fd()) {
                    let _ = dev.destroy(session);
                    return Err(oserr("set source", e));
                }
                Path::Omss {
                    session,
                    token,
                    burst_ms: self.cfg.burst_ms,
                    _source: Some(sock),
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
        // The connections of the clients whose socket we do not hold (adopted by a new
        // server), once a second: the kernel's table tells which ones the client closed.
        let blind = t
            .streams
            .values()
            .flat_map(|s| &s.clients)
            .any(|c| c.sock.is_none() && self.dev.is_some());
        let conns = if blind && t.scanned.is_none_or(|at| now.duration_since(at) >= SCAN) {
            t.scanned = Some(now);
            tcp_conns()
        } else {
            None
        };
        let mut closed = Vec::new();
        for (addr, s) in t.streams.iter_mut() {
            let alive = match &s.path {
                Path::Omss { session, .. } => self.poll_session(*session, s, conns.as_ref()),
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
    fn poll_session(
        &self,
        session: u32,
        s: &mut Stream,
        conns: Option<&HashMap<(u16, SocketAddr), u8>>,
    ) -> bool {
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
            if let (None, Some(conns), Some(local), Ok(peer)) =
                (&c.sock, conns, c.local, c.peer.parse())
            {
                if c.state == "active" && conn_closed(conns, local.port(), peer) {
                    c.state = "closed";
                }
            }
            if c.state != "active" {
                let _ = dev.remove_sink(session, c.id);
                c.sock = None;
            }
        }
        true
    }

    /// Whether streams can outlive this process (OMSS modes with `--persist-ms`).
    pub fn can_restart(&self) -> bool {
        self.dev.is_some() && self.cfg.persist_ms > 0
    }

    /// Runs `f` with the state of every stream, the monitor and new clients held off until
    /// it returns: to hand the streams over, `f` writes the state and then exits or
    /// re-executes the process. The state names each client's socket descriptor.
    pub fn with_state<R>(&self, f: impl FnOnce(State) -> R) -> R {
        let t = self.table.lock().unwrap();
        let streams = t
            .streams
            .iter()
            .filter_map(|(addr, s)| {
                let Path::Omss {
                    session,
                    token,
                    burst_ms,
                    ..
                } = &s.path
                else {
                    return None;
                };
                Some(StreamState {
                    address: *addr,
                    session: *session,
                    token: state::token_hex(*token),
                    burst_ms: *burst_ms,
                    since: unix_secs(s.since),
                    clients: s
                        .clients
                        .iter()
                        .map(|c| ClientState {
                            id: c.id,
                            address: c.peer.clone(),
                            local: c.local,
                            since: unix_secs(c.since),
                            fd: c.sock.as_ref().map(|k| k.as_raw_fd()),
                        })
                        .collect(),
                })
            })
            .collect();
        f(State {
            version: state::VERSION,
            mode: self.cfg.mode.name().into(),
            written: unix_secs(SystemTime::now()),
            restarts: t.restarts,
            served: t.served,
            responses: t.responses.clone(),
            exec_pid: None,
            listen_fd: None,
            streams,
        })
    }

    /// A clean stop: destroys every session (persistent ones too, so none is parked with
    /// its clients) and exits, all under the lock, so that no new session comes meanwhile.
    pub fn shutdown(&self) -> ! {
        let t = self.table.lock().unwrap();
        if let Some(dev) = &self.dev {
            for (addr, s) in &t.streams {
                if let Path::Omss { session, .. } = &s.path {
                    if let Err(e) = dev.destroy(*session) {
                        eprintln!("omss-httpd: {addr}: destroy: {}", errno_text(e));
                    }
                }
            }
        }
        eprintln!("omss-httpd: stopped ({} streams closed)", t.streams.len());
        std::process::exit(0)
    }

    /// Takes over the streams of a previous server from its state: adopts each parked
    /// session (waiting up to `wait` for the old server's file to close), and knows its
    /// clients again. With `fds` (the same process after execve) the client sockets named
    /// in the state are this process's own, checked against their peer addresses. A stream
    /// whose session cannot be adopted is left out. Returns the streams adopted.
    pub fn adopt(&self, st: &State, fds: bool, wait: Duration) -> Result<usize, String> {
        let Some(dev) = &self.dev else {
            return Err("--mode user has no OMSS sessions to adopt".into());
        };
        if st.mode != self.cfg.mode.name() {
            eprintln!(
                "omss-httpd: the adopted streams stay in {} mode; new ones are {}",
                st.mode,
                self.cfg.mode.name()
            );
        }
        let mut t = self.table.lock().unwrap();
        t.restarts = st.restarts + 1;
        t.served = st.served;
        t.responses = st.responses.clone();
        let deadline = Instant::now() + wait;
        // The client sockets this process kept across execve; the ones left over at the
        // end (their sink is gone) are closed.
        let mut socks: HashMap<(u32, u32), TcpStream> = HashMap::new();
        for ss in st.streams.iter().filter(|_| fds) {
            for c in &ss.clients {
                if let Some(k) = c.fd.and_then(|fd| own_peer(fd, &c.address)) {
                    socks.insert((ss.session, c.id), k);
                }
            }
        }
        let mut adopted = 0;
        for ss in &st.streams {
            let addr = ss.address;
            let token = state::parse_token(&ss.token)?;
            let r = loop {
                match dev.adopt(ss.session, token) {
                    // Not parked yet: the old server may still be closing its file.
                    Err(libc::ENOENT) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    r => break r,
                }
            };
            if let Err(e) = r {
                eprintln!(
                    "omss-httpd: stream {addr}: cannot adopt session {}: {}",
                    ss.session,
                    errno_text(e)
                );
                continue;
            }
            let sinks = match dev.stats_all(ss.session) {
                Ok((_, k)) => k,
                Err(e) => {
                    eprintln!("omss-httpd: {addr}: stats: {}", errno_text(e));
                    Vec::new()
                }
            };
            let known: HashMap<u32, &ClientState> = ss.clients.iter().map(|c| (c.id, c)).collect();
            let mut clients = Vec::new();
            for k in &sinks {
                if k.state != OMSS_SINK_ACTIVE {
                    // Gone while parked: let go of it as the monitor would have.
                    let _ = dev.remove_sink(ss.session, k.sink_id);
                    continue;
                }
                let c = known.get(&k.sink_id);
                let sock = socks.remove(&(ss.session, k.sink_id));
                clients.push(Client {
                    id: k.sink_id,
                    peer: c.map_or("unknown".into(), |c| c.address.clone()),
                    local: c.and_then(|c| c.local),
                    since: c.map_or(SystemTime::now(), |c| from_unix_secs(c.since)),
                    sock,
                    bytes: k.tx_bytes,
                    packets: k.tx_packets,
                    lag: k.lag,
                    lost: k.entries_lost,
                    state: "active",
                });
            }
            eprintln!(
                "omss-httpd: stream {addr}: adopted session {} with {} clients",
                ss.session,
                clients.len()
            );
            adopted += 1;
            t.streams.insert(
                addr,
                Stream {
                    since: from_unix_secs(ss.since),
                    path: Path::Omss {
                        session: ss.session,
                        token,
                        burst_ms: ss.burst_ms,
                        _source: None,
                    },
                    empty_since: clients.is_empty().then(Instant::now),
                    clients,
                    rx_bytes: 0,
                    rx_packets: 0,
                    dropped: 0,
                },
            );
        }
        Ok(adopted)
    }

    pub fn snapshot(&self) -> Snapshot {
        let t = self.table.lock().unwrap();
        let secs = unix_secs;
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
                        address: c.peer.clone(),
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
            burst_ms: self.cfg.burst_ms,
            persist_ms: match self.cfg.mode {
                Mode::User => 0,
                _ => self.cfg.persist_ms,
            },
            restarts: t.restarts,
            responses: t.responses.clone(),
            now: secs(SystemTime::now()),
            streams,
        }
    }
}

fn unix_secs(s: SystemTime) -> f64 {
    s.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn from_unix_secs(secs: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::try_from_secs_f64(secs).unwrap_or_default()
}

/// The TCP socket at `fd` if it is connected to `peer` (a client's socket kept across
/// execve), made close-on-exec again.
fn own_peer(fd: i32, peer: &str) -> Option<TcpStream> {
    // SAFETY: `fd` is only borrowed here (never closed: ManuallyDrop); a descriptor that is
    // not a connected socket makes `peer_addr` fail, nothing else.
    let s = std::mem::ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
    if s.peer_addr().ok()?.to_string() != peer {
        return None;
    }
    state::set_cloexec(fd, true).ok()?;
    Some(std::mem::ManuallyDrop::into_inner(s))
}

/// User mode: copies the relay thread's counters; a client whose socket failed is gone.
fn poll_user(s: &mut Stream) -> bool {
    let Path::User(r) = &s.path else { return true };
    s.rx_bytes = r.rx_bytes.load(std::sync::atomic::Ordering::Relaxed);
    s.rx_packets = r.rx_packets.load(std::sync::atomic::Ordering::Relaxed);
    let mut sinks = r.sinks.lock().unwrap();
    let mut by_id: HashMap<u32, &mut UserSink> = sinks.list.iter_mut().map(|k| (k.id, k)).collect();
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
    sinks.list.retain(|k| k.failed.is_none());
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
        user_hub_burst(max_clients, max_per_stream, 0)
    }

    fn user_hub_burst(max_clients: usize, max_per_stream: usize, burst_ms: u32) -> Hub {
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
            burst_ms,
            persist_ms: 0,
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
    fn user_mode_burst_gives_a_late_joiner_the_last_burst_ms() {
        let hub = user_hub_burst(8, 8, 300);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = free_udp_addr();
        let (mut first, s1) = conn(&l);
        hub.join(a, s1).unwrap();
        first
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Read by the first client: received by the relay, so remembered (or not) by now.
        let mut head = [0u8; HEAD.len()];
        first.read_exact(&mut head).unwrap();
        let mut send = |d: &[u8]| {
            tx.send_to(d, a).unwrap();
            let mut got = vec![0u8; d.len()];
            first.read_exact(&mut got).unwrap();
            assert_eq!(got, d);
        };
        send(b"old");
        std::thread::sleep(Duration::from_millis(500));
        send(b"new1");
        send(b"new2");
        // A late joiner gets the last 300 ms at once: new1 and new2, not old.
        let (mut late, s2) = conn(&l);
        hub.join(a, s2).unwrap();
        late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; HEAD.len() + 8];
        late.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[HEAD.len()..], b"new1new2");
        // Then live.
        send(b"live");
        let mut live = [0u8; 4];
        late.read_exact(&mut live).unwrap();
        assert_eq!(&live, b"live");
        // Without a burst, a late joiner starts with the next datagram.
        let hub = user_hub(8, 8);
        let b = free_udp_addr();
        let (mut c1, s1) = conn(&l);
        hub.join(b, s1).unwrap();
        c1.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = [0u8; HEAD.len()];
        c1.read_exact(&mut head).unwrap();
        tx.send_to(b"before", b).unwrap();
        let mut six = [0u8; 6];
        c1.read_exact(&mut six).unwrap();
        let (mut c2, s2) = conn(&l);
        hub.join(b, s2).unwrap();
        tx.send_to(b"after!", b).unwrap();
        c2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; HEAD.len() + 6];
        c2.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[HEAD.len()..], b"after!");
    }

    #[test]
    fn the_kernel_table_tells_a_closed_client() {
        if cfg!(target_endian = "little") {
            assert_eq!(
                proc_addr("0102A8C0:1F90"),
                Some("192.168.2.1:8080".parse().unwrap())
            );
            assert_eq!(
                proc_addr("0000000000000000FFFF00000102A8C0:0050"),
                Some("192.168.2.1:80".parse().unwrap())
            );
        }
        assert_eq!(proc_addr("zz:1"), None);
        for host in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = TcpListener::bind(host) else {
                continue; // No IPv6 here.
            };
            let (c, s) = conn(&l);
            let (peer, port) = (s.peer_addr().unwrap(), s.local_addr().unwrap().port());
            let conns = tcp_conns().expect("procfs");
            assert_eq!(conns.get(&(port, peer)), Some(&1), "{peer} ESTABLISHED");
            assert!(!conn_closed(&conns, port, peer));
            // The same client address to another local port is another connection.
            assert!(conn_closed(&conns, port ^ 1, peer));
            drop(c);
            std::thread::sleep(Duration::from_millis(50));
            assert!(conn_closed(&tcp_conns().unwrap(), port, peer), "{peer}");
            drop(s);
        }
        let gone: SocketAddr = "192.0.2.1:9".parse().unwrap();
        assert!(conn_closed(&tcp_conns().unwrap(), 80, gone));
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
