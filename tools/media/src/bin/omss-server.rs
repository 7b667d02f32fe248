//! omss-server: media server emulator. Sends K paced frame streams over UDP
//! (to fixed destinations, optionally fanned out) or TCP (to every peer that
//! connects), or one stream as the source of an Icecast mount. See `--help`.

use clap::{Parser, ValueEnum};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use omss_media::fanout::Outbox;
use omss_media::icecast;
use omss_media::pace::{interval_ns, Faults, Produced, Stream};
use omss_media::sys::{self, now_ns, port_add, stop_requested};
use omss_media::wire;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, UdpSocket};
use std::process::exit;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The UDP END frame is sent this many times, 10 ms apart.
const END_COPIES: u32 = omss_media::stats::UDP_END_COPIES as u32;
const END_GAP_NS: u64 = 10_000_000;
/// TCP with `--rate 0`: produce while some peer's backlog is below this.
const LOW_WATER: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Proto {
    Udp,
    Tcp,
    /// Set by `--icecast`, not a `--proto` value.
    #[value(skip)]
    Icecast,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Icecast => "icecast",
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    args_override_self = true,
    name = "omss-server",
    version,
    about = "OMSS media server emulator",
    after_help = "Exit status: 0 done (SIGINT/SIGTERM also end the streams with END), 2 usage or setup error."
)]
struct Args {
    /// Transport.
    #[arg(long, value_enum, default_value = "udp")]
    proto: Proto,
    /// UDP destination IP:PORT (IPv6: [ADDR]:PORT); stream i copy j goes to
    /// PORT + i*FANOUT + j. May be a multicast group (239.1.2.3:5000, [ff15::1]:5000).
    #[arg(long, value_name = "IP:PORT")]
    to: Option<SocketAddr>,
    /// UDP to a multicast group: send out of this interface, given as an interface name
    /// (s0) or, for IPv4, one of its addresses (IP_MULTICAST_IF / IPV6_MULTICAST_IF;
    /// default: the route to the group).
    #[arg(long, value_name = "IFNAME|ADDR")]
    multicast_if: Option<String>,
    /// UDP to a multicast group: the packets' TTL (hop limit), 1 (this link) to 255.
    #[arg(long, value_name = "N", default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=255))]
    multicast_ttl: u32,
    /// TCP listen IP:PORT; stream i listens on PORT + i.
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<SocketAddr>,
    /// Be the source of this Icecast 2.4 mount (HTTP PUT, Basic auth) and write the frames
    /// to it, concatenated, as TCP does (one stream; replaces --proto).
    #[arg(long, value_name = "http://IP:PORT/MOUNT")]
    icecast: Option<String>,
    /// Icecast source user.
    #[arg(long, default_value = "source", value_name = "USER")]
    icecast_user: String,
    /// Icecast source password.
    #[arg(long, default_value = "hackme", value_name = "PASSWORD")]
    icecast_password: String,
    /// Number of streams.
    #[arg(long, default_value_t = 1)]
    streams: u32,
    /// UDP: send each stream to this many consecutive destination ports.
    #[arg(long, default_value_t = 1)]
    fanout: u32,
    /// Frame length in bytes, header included (32..=65507).
    #[arg(long, alias = "len", default_value_t = 1400)]
    size: usize,
    /// Bitrate per stream in kbit/s (interval = size*8/rate ms); 0 = as fast
    /// as possible.
    #[arg(long, default_value_t = 256)]
    rate: u64,
    /// Frames per second per stream, whatever their size (overrides --rate's pace).
    #[arg(long, value_parser = positive_pps)]
    pps: Option<f64>,
    /// Frames per stream (the last one is END).
    #[arg(long)]
    count: Option<u64>,
    /// Stream for this many seconds, then send END.
    #[arg(long)]
    duration: Option<f64>,
    /// TCP: start streaming only after N connections (all streams).
    #[arg(long, default_value_t = 0, value_name = "N")]
    wait_clients: u64,
    /// TCP: once --wait-clients connected, wait this long more before streaming (a relay
    /// that connects to its source before its subscribers join). Icecast: wait this long
    /// after the mount was opened (listeners can join it from then on).
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    start_delay: f64,
    /// TCP: close a peer whose unsent backlog exceeds this many bytes.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    max_backlog: usize,
    /// TCP: at the end, wait at most this long for backlogs to drain.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    flush_timeout: f64,
    /// Fault: flip one body byte of every K-th frame after the checksum.
    #[arg(long, default_value_t = 0, value_name = "K")]
    corrupt_every: u64,
    /// Fault: do not send every K-th frame.
    #[arg(long, default_value_t = 0, value_name = "K")]
    skip_every: u64,
    /// Fault (UDP only): send every K-th frame after the next one (K >= 2).
    #[arg(long, default_value_t = 0, value_name = "K")]
    reorder_every: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, Clone, Serialize)]
struct StreamStats {
    /// Per stream only (absent in the total).
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    /// Distinct frames sent (END once), faulty ones included.
    frames: u64,
    /// Bytes of those frames (one copy).
    bytes: u64,
    /// UDP datagrams sent (all destinations, END copies) or TCP frames
    /// completely written to peers.
    sends: u64,
    send_errors: u64,
    skipped: u64,
    corrupted: u64,
    reordered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    final_seq: Option<u64>,
    accepted: u64,
    /// TCP peers closed because their backlog exceeded --max-backlog.
    dropped: u64,
    /// TCP peers that closed or failed.
    closed: u64,
    /// TCP peers with unsent data after --flush-timeout.
    unflushed: u64,
}

impl StreamStats {
    fn add(&mut self, o: &StreamStats) {
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.sends += o.sends;
        self.send_errors += o.send_errors;
        self.skipped += o.skipped;
        self.corrupted += o.corrupted;
        self.reordered += o.reordered;
        self.accepted += o.accepted;
        self.dropped += o.dropped;
        self.closed += o.closed;
        self.unflushed += o.unflushed;
    }

    /// Account a frame's first transmission.
    fn sent_frame(&mut self, p: &Produced) {
        self.frames += 1;
        self.bytes += p.bytes.len() as u64;
        self.corrupted += p.corrupted as u64;
        if p.end {
            self.final_seq = Some(p.seq);
        }
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    proto: Proto,
    size: usize,
    rate_kbps: u64,
    interval_ns: u64,
    elapsed_s: f64,
    total: StreamStats,
    streams: &'a [StreamStats],
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("omss-server: error: {msg}");
    exit(2)
}

fn validate(a: &Args) -> Result<(), String> {
    if !(wire::MIN_LEN..=wire::MAX_LEN).contains(&a.size) {
        return Err(format!(
            "--size must be {}..={}",
            wire::MIN_LEN,
            wire::MAX_LEN
        ));
    }
    if a.streams == 0 || a.fanout == 0 {
        return Err("--streams and --fanout must be >= 1".into());
    }
    if a.count == Some(0) {
        return Err("--count must be >= 1".into());
    }
    if a.duration.is_some_and(|d| !(d.is_finite() && d >= 0.0)) {
        return Err("--duration must be a number of seconds >= 0".into());
    }
    if !(a.start_delay.is_finite() && (0.0..=3600.0).contains(&a.start_delay)) {
        return Err("--start-delay must be 0..=3600 seconds".into());
    }
    if a.reorder_every == 1 {
        return Err("--reorder-every must be >= 2".into());
    }
    if let Some(url) = &a.icecast {
        let other = a.proto != Proto::Udp || a.to.is_some() || a.listen.is_some();
        if other || a.wait_clients > 0 || a.streams != 1 || a.fanout != 1 || a.reorder_every != 0 {
            return Err("--icecast streams one stream: no --proto, --to, --listen, \
                        --wait-clients, --streams, --fanout or --reorder-every"
                .into());
        }
        return icecast::parse_url(url).map(|_| ());
    }
    if a.multicast_if.is_some()
        && !(a.proto == Proto::Udp && a.to.is_some_and(|t| t.ip().is_multicast()))
    {
        return Err("--multicast-if needs --proto udp and a multicast --to".into());
    }
    let (addr, span) = match a.proto {
        Proto::Udp if a.listen.is_some() || a.wait_clients > 0 => {
            return Err("--listen/--wait-clients are TCP options".into())
        }
        Proto::Tcp if a.to.is_some() || a.fanout != 1 || a.reorder_every != 0 => {
            return Err("--to/--fanout/--reorder-every are UDP options".into())
        }
        Proto::Udp => (
            a.to.ok_or("UDP needs --to IP:PORT")?,
            a.streams as u64 * a.fanout as u64,
        ),
        Proto::Tcp => (
            a.listen.ok_or("TCP needs --listen IP:PORT")?,
            a.streams as u64,
        ),
        Proto::Icecast => unreachable!("not a --proto value"),
    };
    port_add(addr, span - 1).map(|_| ())
}

/// The pace: `--pps` if given, else what `--rate` makes of the frame size.
fn interval(a: &Args) -> u64 {
    a.pps
        .map_or_else(|| interval_ns(a.size, a.rate), |p| (1e9 / p) as u64)
}

fn positive_pps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p.is_finite() && p > 0.0 => Ok(p),
        _ => Err(format!("{s}: a positive number of frames per second")),
    }
}

fn new_streams(a: &Args, start: u64) -> Vec<Stream> {
    let iv = interval(a);
    let stop_ns = a.duration.map(|d| start + (d * 1e9) as u64);
    (0..a.streams)
        .map(|i| Stream {
            stream_id: i,
            len: a.size,
            interval_ns: iv,
            // Spread the streams' deadlines evenly over one interval.
            start_ns: start + iv * i as u64 / a.streams as u64,
            count: a.count,
            stop_ns,
            next_seq: 0,
            finished: false,
        })
        .collect()
}

fn main() {
    let a = Args::parse();
    validate(&a).unwrap_or_else(|e| fail(e));
    sys::install_stop_signals();
    if let Err(e) = sys::raise_nofile() {
        eprintln!("omss-server: warning: cannot raise RLIMIT_NOFILE: {e}");
    }
    let faults = Faults {
        corrupt_every: a.corrupt_every,
        skip_every: a.skip_every,
        reorder_every: a.reorder_every,
    };
    let proto = if a.icecast.is_some() {
        Proto::Icecast
    } else {
        a.proto
    };
    let t0 = now_ns();
    let stats = match proto {
        Proto::Udp => run_udp(&a, &faults),
        Proto::Tcp => run_tcp(&a, &faults),
        Proto::Icecast => run_icecast(&a, &faults),
    }
    .unwrap_or_else(|e| fail(e));
    let elapsed_s = (now_ns() - t0) as f64 / 1e9;
    let mut total = StreamStats::default();
    stats.iter().for_each(|s| total.add(s));
    let mut line = format!(
        "omss-server: {} streams={} frames={} bytes={} sends={} send_errors={} skipped={} \
         corrupted={} reordered={}",
        proto.name(),
        a.streams,
        total.frames,
        total.bytes,
        total.sends,
        total.send_errors,
        total.skipped,
        total.corrupted,
        total.reordered
    );
    if proto == Proto::Tcp {
        line += &format!(
            " accepted={} dropped={} closed={} unflushed={}",
            total.accepted, total.dropped, total.closed, total.unflushed
        );
    }
    for s in &stats {
        let (id, port) = (s.stream_id.unwrap_or(0), s.port.unwrap_or(0));
        line += &format!(" | s{id}:{port} frames={} bytes={}", s.frames, s.bytes);
    }
    eprintln!("{line} elapsed={elapsed_s:.3}s");
    if a.json {
        let sum = Summary {
            proto,
            size: a.size,
            rate_kbps: a.rate,
            interval_ns: interval(&a),
            elapsed_s,
            total,
            streams: &stats,
        };
        println!("{}", serde_json::to_string_pretty(&sum).expect("serialize"));
    }
}

/// A UDP stream's socket, destinations, held (reordered) frame, and END
/// frame with the number of copies still to send and when.
struct UdpState {
    sock: UdpSocket,
    dests: Vec<SocketAddr>,
    held: Option<Vec<u8>>,
    end: Option<(Vec<u8>, u32, u64)>,
}

fn send_all(sock: &UdpSocket, dests: &[SocketAddr], bytes: &[u8], st: &mut StreamStats) {
    for d in dests {
        match sock.send_to(bytes, d) {
            Ok(_) => st.sends += 1,
            Err(_) => st.send_errors += 1,
        }
    }
}

fn run_udp(a: &Args, faults: &Faults) -> io::Result<Vec<StreamStats>> {
    let to = a.to.expect("validated");
    let any: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .unwrap();
    let m = a.fanout as u64;
    let mut us = Vec::new();
    let mut stats = Vec::new();
    for i in 0..a.streams as u64 {
        let dests: Vec<SocketAddr> = (0..m)
            .map(|j| port_add(to, i * m + j).expect("validated"))
            .collect();
        let port = dests[0].port();
        let sock = UdpSocket::bind(any)?;
        if to.ip().is_multicast() {
            sys::multicast_sender(&sock, &to, a.multicast_if.as_deref(), a.multicast_ttl)
                .map_err(|e| io::Error::new(e.kind(), format!("multicast setup: {e}")))?;
        }
        us.push(UdpState {
            sock,
            dests,
            held: None,
            end: None,
        });
        stats.push(StreamStats {
            stream_id: Some(i as u32),
            port: Some(port),
            ..Default::default()
        });
    }
    let mut streams = new_streams(a, now_ns());
    loop {
        let stop = stop_requested();
        let next = streams
            .iter()
            .zip(&us)
            .filter_map(|(s, u)| match &u.end {
                None => Some(if stop { 0 } else { s.deadline() }),
                Some((_, left, t)) => (*left > 0).then_some(*t),
            })
            .min();
        let Some(next) = next else { break };
        sys::sleep_until(next, Duration::from_millis(100));
        let now = now_ns();
        for ((s, u), st) in streams.iter_mut().zip(&mut us).zip(&mut stats) {
            let UdpState {
                sock,
                dests,
                held,
                end,
            } = u;
            if let Some((bytes, left, t)) = end {
                if *left > 0 && *t <= now {
                    *left -= 1;
                    *t += END_GAP_NS;
                    send_all(sock, dests, bytes, st);
                }
                continue;
            }
            if s.deadline() > now && !stop {
                continue;
            }
            let p = s.produce(now, faults, stop);
            if p.skip {
                st.skipped += 1;
                continue;
            }
            st.sent_frame(&p);
            if p.hold {
                st.reordered += 1;
                *held = Some(p.bytes);
                continue;
            }
            if p.end {
                // Never send a held frame after END: the client may be gone.
                if let Some(h) = held.take() {
                    send_all(sock, dests, &h, st);
                }
            }
            send_all(sock, dests, &p.bytes, st);
            if let Some(h) = held.take() {
                send_all(sock, dests, &h, st);
            }
            if p.end {
                *end = Some((p.bytes, END_COPIES - 1, now + END_GAP_NS));
            }
        }
    }
    Ok(stats)
}

struct Peer {
    sock: TcpStream,
    stream: usize,
    out: Outbox,
}

struct Tcp<'a> {
    a: &'a Args,
    poll: Poll,
    listeners: Vec<TcpListener>,
    peers: HashMap<usize, Peer>,
    members: Vec<Vec<usize>>,
    next_id: usize,
    accepted: u64,
    stats: Vec<StreamStats>,
}

impl Tcp<'_> {
    fn poll(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            r => r?,
        }
        let k = self.listeners.len();
        for ev in events.iter() {
            let t = ev.token().0;
            if t < k {
                self.accept(t)?;
                continue;
            }
            let Some(p) = self.peers.get_mut(&(t - k)) else {
                continue;
            };
            let mut gone = ev.is_error();
            if ev.is_readable() || ev.is_read_closed() {
                gone |= sys::peer_closed(&mut p.sock);
            }
            if !gone && ev.is_writable() {
                match p.out.flush(&mut p.sock) {
                    Ok(n) => self.stats[p.stream].sends += n,
                    Err(_) => gone = true,
                }
            }
            if gone {
                let s = self.remove(t - k);
                self.stats[s].closed += 1;
            }
        }
        Ok(())
    }

    fn accept(&mut self, i: usize) -> io::Result<()> {
        loop {
            let (mut sock, _) = match self.listeners[i].accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("omss-server: accept on stream {i}: {e}");
                    return Ok(());
                }
            };
            let _ = sock.set_nodelay(true);
            let id = self.next_id;
            self.next_id += 1;
            let k = self.listeners.len();
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut sock, Token(k + id), interest)?;
            self.peers.insert(
                id,
                Peer {
                    sock,
                    stream: i,
                    out: Outbox::default(),
                },
            );
            self.members[i].push(id);
            self.stats[i].accepted += 1;
            self.accepted += 1;
        }
    }

    fn remove(&mut self, id: usize) -> usize {
        let mut p = self.peers.remove(&id).expect("peer exists");
        let _ = self.poll.registry().deregister(&mut p.sock);
        self.members[p.stream].retain(|&x| x != id);
        p.stream
    }

    /// Queue a frame to every peer of stream `i`, dropping peers over limit.
    fn deliver(&mut self, i: usize, frame: Rc<[u8]>) {
        let mut over = Vec::new();
        for id in &self.members[i] {
            let p = self.peers.get_mut(id).expect("member");
            p.out.push(frame.clone());
            match p.out.flush(&mut p.sock) {
                Ok(n) => self.stats[i].sends += n,
                Err(_) => over.push((*id, false)),
            }
            if p.out.backlog() > self.a.max_backlog {
                over.push((*id, true));
            }
        }
        for (id, dropped) in over {
            if self.peers.contains_key(&id) {
                self.remove(id);
                if dropped {
                    eprintln!("omss-server: stream {i}: peer over --max-backlog, closed");
                    self.stats[i].dropped += 1;
                } else {
                    self.stats[i].closed += 1;
                }
            }
        }
    }

    /// `--rate 0`: stream `i` may produce (no peer, or one is keeping up).
    fn can_produce(&self, i: usize) -> bool {
        let m = &self.members[i];
        m.is_empty() || m.iter().any(|id| self.peers[id].out.backlog() < LOW_WATER)
    }
}

fn run_tcp(a: &Args, faults: &Faults) -> io::Result<Vec<StreamStats>> {
    let listen = a.listen.expect("validated");
    let poll = Poll::new()?;
    let mut t = Tcp {
        a,
        listeners: Vec::new(),
        poll,
        peers: HashMap::new(),
        members: vec![Vec::new(); a.streams as usize],
        next_id: 0,
        accepted: 0,
        stats: Vec::new(),
    };
    for i in 0..a.streams as usize {
        let addr = port_add(listen, i as u64).expect("validated");
        let mut l = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))?;
        t.poll
            .registry()
            .register(&mut l, Token(i), Interest::READABLE)?;
        t.listeners.push(l);
        t.stats.push(StreamStats {
            stream_id: Some(i as u32),
            port: Some(addr.port()),
            ..Default::default()
        });
    }
    let last = port_add(listen, a.streams as u64 - 1)
        .expect("validated")
        .port();
    eprintln!(
        "omss-server: listening on {listen} (ports {}..={last})",
        listen.port()
    );
    let mut events = Events::with_capacity(1024);
    while t.accepted < a.wait_clients && !stop_requested() {
        t.poll(&mut events, Duration::from_millis(100))?;
    }
    let start = Instant::now() + Duration::from_secs_f64(a.start_delay);
    while Instant::now() < start && !stop_requested() {
        t.poll(&mut events, Duration::from_millis(100))?;
    }
    let mut streams = new_streams(a, now_ns());
    while streams.iter().any(|s| !s.finished) {
        let stop = stop_requested();
        let mut ready = false;
        for (i, s) in streams.iter_mut().enumerate() {
            // Bounded burst so that events are still polled under --rate 0.
            for _ in 0..64 {
                let due = if a.rate == 0 {
                    t.can_produce(i)
                } else {
                    s.deadline() <= now_ns()
                };
                if s.finished || !(due || stop) {
                    break;
                }
                let p = s.produce(now_ns(), faults, stop);
                if p.skip {
                    t.stats[i].skipped += 1;
                    continue;
                }
                t.stats[i].sent_frame(&p);
                t.deliver(i, p.bytes.into());
            }
            ready |= !s.finished && a.rate == 0 && t.can_produce(i);
        }
        let now = now_ns();
        let timeout = if ready {
            Duration::ZERO
        } else if a.rate == 0 {
            Duration::from_millis(100)
        } else {
            let next = streams
                .iter()
                .filter(|s| !s.finished)
                .map(Stream::deadline)
                .min();
            Duration::from_nanos(next.unwrap_or(now).saturating_sub(now))
                .min(Duration::from_millis(100))
        };
        t.poll(&mut events, timeout)?;
    }
    let deadline = now_ns() + (a.flush_timeout * 1e9) as u64;
    while t.peers.values().any(|p| p.out.backlog() > 0) && now_ns() < deadline {
        t.poll(&mut events, Duration::from_millis(50))?;
    }
    for p in t.peers.values() {
        t.stats[p.stream].unflushed += (p.out.backlog() > 0) as u64;
        let _ = p.sock.shutdown(Shutdown::Write);
    }
    Ok(t.stats)
}

/// Icecast: opens the mount (the source request, then Icecast's answer), waits
/// `--start-delay`, then writes each frame whole, at its deadline, to the one connection.
fn run_icecast(a: &Args, faults: &Faults) -> io::Result<Vec<StreamStats>> {
    let url = a.icecast.as_deref().expect("validated");
    let (addr, mount) = icecast::parse_url(url).expect("validated");
    let mut st = StreamStats {
        stream_id: Some(0),
        port: Some(addr.port()),
        ..Default::default()
    };
    let timeout = Duration::from_secs(10);
    let err = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{url}: {what}: {e}"));
    let mut sock =
        std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| err("connect", e))?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let req = icecast::source_request(addr, &mount, &a.icecast_user, &a.icecast_password);
    sock.write_all(req.as_bytes())
        .map_err(|e| err("sending the source request", e))?;
    let mut answer = Vec::new();
    let status = loop {
        let mut chunk = [0u8; 1024];
        let n = sock
            .read(&mut chunk)
            .map_err(|e| err("reading the answer", e))?;
        if n == 0 {
            return Err(io::Error::other(format!("{url}: closed before answering")));
        }
        answer.extend_from_slice(&chunk[..n]);
        if let Some((_, status)) = icecast::check_answer(&answer).map_err(io::Error::other)? {
            break status;
        }
    };
    eprintln!("omss-server: icecast source of {url}: {status}");
    let start = Instant::now() + Duration::from_secs_f64(a.start_delay);
    while Instant::now() < start && !stop_requested() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = new_streams(a, now_ns()).remove(0);
    while !s.finished {
        let stop = stop_requested();
        if !stop && s.deadline() > now_ns() {
            sys::sleep_until(s.deadline(), Duration::from_millis(100));
            continue;
        }
        let p = s.produce(now_ns(), faults, stop);
        if p.skip {
            st.skipped += 1;
            continue;
        }
        st.sent_frame(&p);
        if let Err(e) = sock.write_all(&p.bytes) {
            eprintln!("omss-server: icecast source of {url}: {e}; stream ended");
            st.send_errors += 1;
            break;
        }
        st.sends += 1;
    }
    let _ = sock.shutdown(Shutdown::Write);
    Ok(vec![st])
}
