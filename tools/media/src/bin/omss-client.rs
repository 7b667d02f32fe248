//! omss-client: media client emulator. Opens N subscribers (UDP sockets or
//! TCP connections), verifies every frame and reports exact loss, integrity
//! errors and latency. See `--help` and `omss_media::stats` for definitions.
//! `--http URL` subscribes through an HTTP server (omss-httpd): the response header is
//! checked, then the byte stream (concatenated datagrams) is verified as TCP's is.

use clap::{Parser, ValueEnum};
use mio::event::Source;
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use omss_media::http;
use omss_media::report::{render, Limits, Report};
use omss_media::stats::{SubReport, SubStats, UDP_END_COPIES};
use omss_media::sys::{self, now_ns, port_add};
use omss_media::wire::{self, Item};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::exit;
use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Proto {
    Udp,
    Tcp,
}

#[derive(Parser, Debug)]
#[command(
    args_override_self = true,
    name = "omss-client",
    version,
    about = "OMSS media client emulator",
    after_help = "Exit status: 0 all checks passed, 1 a check failed, 2 usage or setup error."
)]
struct Args {
    /// Transport.
    #[arg(long, value_enum, default_value = "udp")]
    proto: Proto,
    /// UDP: subscriber j binds IP:PORT+j.
    #[arg(long, value_name = "IP:PORT")]
    bind: Option<SocketAddr>,
    /// HTTP (repeatable): subscriber j sends GET for URL number j % (number of URLs),
    /// checks the 200 response header, then verifies the byte stream as TCP does (a UDP
    /// stream's datagrams, concatenated). Replaces --proto, --bind and --connect.
    #[arg(long, value_name = "http://IP:PORT/PATH")]
    http: Vec<String>,
    /// HTTP: send this many requests before reading their responses. Icecast answers new
    /// listeners once per pass of its stream loop: one at a time, they join slowly.
    #[arg(long, default_value_t = 1, value_name = "K")]
    http_batch: usize,
    /// TCP: subscriber j connects to IP:PORT + (j % STREAMS).
    #[arg(long, value_name = "IP:PORT")]
    connect: Option<SocketAddr>,
    /// How many copies of the END frame the stream carries: copies beyond these count as
    /// duplicates (default: 3 for UDP and HTTP, as the UDP server sends; 1 for TCP). Give 3
    /// for TCP subscribers of a relay whose source is UDP.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    end_copies: Option<u64>,
    /// Number of subscribers.
    #[arg(short = 'n', long, default_value_t = 1)]
    subscribers: usize,
    /// TCP: number of server streams (ports) to spread subscribers over.
    #[arg(long, default_value_t = 1)]
    streams: u64,
    /// Worker threads, each owning every T-th subscriber.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// TCP: keep retrying a refused connect for this long.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    connect_timeout: f64,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Stop after this long without data on any subscriber, once data started.
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    idle_ms: u64,
    /// Overall cap in seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    timeout: f64,
    /// Frames per stream the server sends: a subscriber without data counts
    /// as fully lost, and a missing END's trailing frames count as lost.
    #[arg(long, value_name = "C")]
    expect_count: Option<u64>,
    /// Fail if the total or any subscriber's loss ratio exceeds this.
    #[arg(long, value_name = "RATIO")]
    max_loss: Option<f64>,
    /// Fail if the total integrity errors exceed this.
    #[arg(long, value_name = "E")]
    max_errors: Option<u64>,
    /// Fail if any subscriber received fewer packets.
    #[arg(long, value_name = "P")]
    min_packets: Option<u64>,
    /// Subscriber J binds/connects but never reads (repeatable); it is
    /// excluded from totals and checks.
    #[arg(long = "stall-subscriber", value_name = "J")]
    stall: Vec<usize>,
    /// TCP: stalled subscriber J is reset (RST) after `--reset-after-ms`
    /// (repeatable; implies `--stall-subscriber J`).
    #[arg(long = "reset-subscriber", value_name = "J")]
    reset: Vec<usize>,
    /// When the subscribers named by `--reset-subscriber` are reset.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    reset_after_ms: u64,
    /// UDP: SO_RCVBUF in bytes (capped by net.core.rmem_max).
    #[arg(long, value_name = "BYTES")]
    rcvbuf: Option<usize>,
    /// Keep the packets received so far (all subscribers) in this file, rewritten every
    /// 10 ms, so that a benchmark can count the packets delivered inside its window.
    #[arg(long, value_name = "PATH")]
    count_file: Option<std::path::PathBuf>,
    /// Latency percentiles count only the packets received once this file exists (a
    /// benchmark creates it when its measurement window opens).
    #[arg(long, value_name = "PATH")]
    latency_from_file: Option<std::path::PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Show every subscriber in the table and every failure.
    #[arg(short, long)]
    verbose: bool,
}

enum Sock {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

struct Sub {
    id: usize,
    addr: SocketAddr,
    sock: Sock,
    stats: SubStats,
    /// TCP bytes of an incomplete item.
    pending: Vec<u8>,
    done: bool,
    stalled: bool,
}

/// State shared by the workers and the monitoring main thread.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    done: AtomicUsize,
    started: AtomicBool,
    last_data_ns: AtomicU64,
    /// Frames received by all workers, for `--count-file`.
    packets: AtomicU64,
    /// `--latency-from-file` exists: the latency samples taken before are dropped.
    latency_from: AtomicBool,
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("omss-client: error: {msg}");
    exit(2)
}

/// Feed TCP bytes to the parser; returns the bytes consumed.
fn consume(st: &mut SubStats, data: &[u8], eof: bool, now: u64) -> usize {
    let mut off = 0;
    while let Some((item, n)) = wire::next_item(&data[off..], eof) {
        match item {
            Item::Frame(f) => st.on_frame(&f, now),
            Item::Bad(_) => st.on_bad(),
            Item::Garbage => st.on_garbage(n),
        }
        off += n;
    }
    off
}

impl Sub {
    fn source(&mut self) -> &mut dyn Source {
        match &mut self.sock {
            Sock::Udp(s) => s,
            Sock::Tcp(s) => s,
        }
    }

    fn ingest(&mut self, data: &[u8], eof: bool, now: u64) {
        if self.pending.is_empty() {
            let used = consume(&mut self.stats, data, eof, now);
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            let used = consume(&mut self.stats, &self.pending, eof, now);
            self.pending.drain(..used);
        }
    }

    /// Read until the socket would block; true if any data arrived.
    fn read(&mut self, buf: &mut [u8]) -> bool {
        let mut got = false;
        loop {
            let r = match &mut self.sock {
                Sock::Udp(s) => s.recv(buf),
                Sock::Tcp(s) => s.read(buf),
            };
            let now = now_ns();
            match (r, &self.sock) {
                (Ok(n), Sock::Udp(_)) => {
                    got = true;
                    match wire::decode(&buf[..n]) {
                        Ok(f) => self.stats.on_frame(&f, now),
                        Err(_) => self.stats.on_bad(),
                    }
                }
                (Ok(0), Sock::Tcp(_)) => {
                    self.finish_tcp(now);
                    return got;
                }
                (Ok(n), Sock::Tcp(_)) => {
                    got = true;
                    self.ingest(&buf[..n], false, now);
                }
                (Err(e), _) if e.kind() == io::ErrorKind::WouldBlock => return got,
                (Err(e), _) if e.kind() == io::ErrorKind::Interrupted => {}
                (Err(e), sock) => {
                    eprintln!("omss-client: subscriber {}: {e}", self.id);
                    if matches!(sock, Sock::Tcp(_)) {
                        self.finish_tcp(now);
                    }
                    return got;
                }
            }
        }
    }

    /// TCP EOF or connection error: parse what is left; the stream is over.
    fn finish_tcp(&mut self, now: u64) {
        if !self.stats.eof {
            self.ingest(&[], true, now);
            self.stats.eof = true;
        }
    }
}

fn worker(mut subs: Vec<Sub>, sh: &Shared) -> io::Result<Vec<Sub>> {
    let mut poll = Poll::new()?;
    for (i, s) in subs.iter_mut().enumerate() {
        poll.registry()
            .register(s.source(), Token(i), Interest::READABLE)?;
    }
    // An HTTP subscriber may have had its whole stream while the others joined.
    for s in subs.iter_mut().filter(|s| s.stats.done()) {
        s.done = true;
        sh.done.fetch_add(1, SeqCst);
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 1 << 16];
    let mut latency_from = false;
    while !sh.stop.load(SeqCst) {
        if !latency_from && sh.latency_from.load(SeqCst) {
            latency_from = true;
            subs.iter_mut().for_each(|s| s.stats.lat_ns.clear());
        }
        match poll.poll(&mut events, Some(Duration::from_millis(20))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        let mut got = false;
        for ev in events.iter() {
            let s = &mut subs[ev.token().0];
            let before = s.stats.packets;
            got |= s.read(&mut buf);
            sh.packets.fetch_add(s.stats.packets - before, Relaxed);
            if !s.done && s.stats.done() {
                s.done = true;
                sh.done.fetch_add(1, SeqCst);
            }
        }
        if got {
            sh.last_data_ns.store(now_ns(), SeqCst);
            sh.started.store(true, SeqCst);
        }
    }
    Ok(subs)
}

fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<std::net::TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match std::net::TcpStream::connect_timeout(
            &addr,
            left.clamp(Duration::from_millis(10), Duration::from_secs(1)),
        ) {
            Ok(s) => return Ok(s),
            Err(_) if Instant::now() + Duration::from_millis(50) < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Connects to an HTTP server and sends the request.
fn http_request(url: &str, timeout: Duration) -> Result<(SocketAddr, std::net::TcpStream), String> {
    let (addr, path) = http::parse_url(url)?;
    let mut s = connect(addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout.max(Duration::from_millis(100))))
        .map_err(|e| e.to_string())?;
    s.write_all(http::request(addr, &path).as_bytes())
        .map_err(|e| format!("{url}: sending the request: {e}"))?;
    Ok((addr, s))
}

/// Reads and checks the response header; returns the stream bytes that came with it.
fn http_response(url: &str, s: &mut std::net::TcpStream) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s
            .read(&mut chunk)
            .map_err(|e| format!("{url}: reading the response header: {e}"))?;
        if n == 0 {
            return Err(format!("{url}: closed before a complete response header"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(len) = http::check_head(&buf).map_err(|e| format!("{url}: {e}"))? {
            s.set_read_timeout(None).map_err(|e| e.to_string())?;
            return Ok(buf.split_off(len));
        }
    }
}

/// Opens every subscriber (HTTP ones in batches), or fails.
fn open_all(a: &Args) -> Vec<Sub> {
    let fail_sub = |j: usize, e: String| -> ! { fail(format!("subscriber {j}: {e}")) };
    if a.http.is_empty() {
        return (0..a.subscribers)
            .map(|j| open(a, j, None).unwrap_or_else(|e| fail_sub(j, e)))
            .collect();
    }
    let timeout = Duration::from_secs_f64(a.connect_timeout);
    let ids: Vec<usize> = (0..a.subscribers).collect();
    let mut subs: Vec<Sub> = Vec::with_capacity(a.subscribers);
    let (mut buf, mut next_read) = (vec![0u8; 1 << 16], 0);
    for batch in ids.chunks(a.http_batch) {
        // Read what the subscribers already in received, so that none lags (and none is
        // dropped by the server) while the others join.
        if now_ns() >= next_read {
            for s in subs.iter_mut().filter(|s| !s.stalled) {
                s.read(&mut buf);
            }
            next_read = now_ns() + 10_000_000;
        }
        let sent: Vec<_> = batch
            .iter()
            .map(|&j| {
                let url = &a.http[j % a.http.len()];
                (
                    j,
                    url,
                    http_request(url, timeout).unwrap_or_else(|e| fail_sub(j, e)),
                )
            })
            .collect();
        for (j, url, (addr, mut s)) in sent {
            let rest = http_response(url, &mut s).unwrap_or_else(|e| fail_sub(j, e));
            subs.push(open(a, j, Some((addr, s, rest))).unwrap_or_else(|e| fail_sub(j, e)));
        }
    }
    subs
}

/// Subscriber `j`; an HTTP one comes with its connection (its response header read) and the
/// stream bytes that came with the header.
fn open(
    a: &Args,
    j: usize,
    http: Option<(SocketAddr, std::net::TcpStream, Vec<u8>)>,
) -> Result<Sub, String> {
    let mut pending = Vec::new();
    let (addr, sock, end_copies) = match a.proto {
        _ if http.is_some() => {
            let (addr, s, rest) = http.expect("checked");
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            pending = rest;
            // A UDP stream behind the server: its END comes as many times as UDP sends it.
            (addr, Sock::Tcp(TcpStream::from_std(s)), UDP_END_COPIES)
        }
        Proto::Udp => {
            let addr = port_add(a.bind.expect("validated"), j as u64)?;
            let s = std::net::UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            if let Some(b) = a.rcvbuf {
                sys::set_rcvbuf(&s, b).map_err(|e| format!("SO_RCVBUF: {e}"))?;
            }
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            (addr, Sock::Udp(UdpSocket::from_std(s)), UDP_END_COPIES)
        }
        Proto::Tcp => {
            let addr = port_add(a.connect.expect("validated"), j as u64 % a.streams)?;
            let s = connect(addr, Duration::from_secs_f64(a.connect_timeout))
                .map_err(|e| format!("connect {addr}: {e}"))?;
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            (addr, Sock::Tcp(TcpStream::from_std(s)), 1)
        }
    };
    Ok(Sub {
        id: j,
        addr,
        sock,
        stats: SubStats::new(a.end_copies.unwrap_or(end_copies)),
        pending,
        done: false,
        stalled: a.stall.contains(&j) || a.reset.contains(&j),
    })
}

fn validate(a: &Args) -> Result<(), String> {
    if a.subscribers == 0 || a.threads == 0 || a.streams == 0 || a.http_batch == 0 {
        return Err("--subscribers, --threads, --streams and --http-batch must be >= 1".into());
    }
    let bad_addr = match a.proto {
        _ if !a.http.is_empty() => a.bind.is_some() || a.connect.is_some(),
        Proto::Udp => a.bind.is_none() || a.connect.is_some(),
        Proto::Tcp => a.connect.is_none() || a.bind.is_some(),
    };
    if bad_addr {
        return Err(
            "UDP needs --bind IP:PORT, TCP needs --connect IP:PORT, HTTP --http URL alone".into(),
        );
    }
    if let Some(Err(e)) = a
        .http
        .iter()
        .map(|u| http::parse_url(u))
        .find(|r| r.is_err())
    {
        return Err(e);
    }
    if let Some(&j) = a.stall.iter().find(|&&j| j >= a.subscribers) {
        return Err(format!("--stall-subscriber {j}: no such subscriber"));
    }
    if a.max_loss.is_some_and(|m| m.is_nan() || m < 0.0) {
        return Err("--max-loss must be a ratio >= 0".into());
    }
    let secs = [Some(a.timeout), Some(a.connect_timeout), a.duration];
    if secs
        .into_iter()
        .flatten()
        .any(|s| !(s.is_finite() && s >= 0.0))
    {
        return Err("durations must be finite numbers of seconds >= 0".into());
    }
    Ok(())
}

/// Replaces `path` with `packets` (by rename, so a reader never sees half a number).
fn write_count(path: &std::path::Path, packets: u64) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, format!("{packets}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .is_err()
    {
        fail(format!("cannot write {}", path.display()));
    }
}

/// Wait for an end condition; returns its name.
fn monitor(a: &Args, sh: &Shared, active: usize, t0: u64) -> &'static str {
    let secs = |s: f64| (s * 1e9) as u64;
    let mut next_count = 0;
    loop {
        let now = now_ns();
        if now >= next_count {
            if let Some(path) = &a.count_file {
                write_count(path, sh.packets.load(Relaxed));
            }
            if a.latency_from_file.as_ref().is_some_and(|p| p.exists()) {
                sh.latency_from.store(true, SeqCst);
            }
            next_count = now + 10_000_000;
        }
        if sh.done.load(SeqCst) >= active && active > 0 {
            return "all_done";
        }
        if a.duration.is_some_and(|d| now - t0 >= secs(d)) {
            return "duration";
        }
        if now - t0 >= secs(a.timeout) {
            return "timeout";
        }
        let last = sh.last_data_ns.load(SeqCst);
        if sh.started.load(SeqCst) && now.saturating_sub(last) >= a.idle_ms * 1_000_000 {
            return "idle";
        }
        if sys::stop_requested() {
            return "signal";
        }
        if sh.stop.load(SeqCst) {
            return "error";
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    let a = Args::parse();
    validate(&a).unwrap_or_else(|e| fail(e));
    let t0 = now_ns();
    sys::install_stop_signals();
    if let Err(e) = sys::raise_nofile() {
        eprintln!("omss-client: warning: cannot raise RLIMIT_NOFILE: {e}");
    }
    let subs = open_all(&a);
    let (stalled, subs): (Vec<Sub>, Vec<Sub>) = subs.into_iter().partition(|s| s.stalled);
    let (to_reset, stalled): (Vec<Sub>, Vec<Sub>) =
        stalled.into_iter().partition(|s| a.reset.contains(&s.id));
    let reset_ids: Vec<(usize, SocketAddr)> = to_reset.iter().map(|s| (s.id, s.addr)).collect();
    let reset_after = Duration::from_millis(a.reset_after_ms);
    let resetter = std::thread::spawn(move || {
        std::thread::sleep(reset_after);
        // Dropping each socket closes it, with a RST.
        for s in to_reset {
            if let Sock::Tcp(t) = &s.sock {
                sys::set_reset_on_close(t);
            }
        }
    });
    let active = subs.len();
    eprintln!(
        "omss-client: ready: {} subscribers ({active} reading)",
        a.subscribers
    );
    let sh = Arc::new(Shared::default());
    // What HTTP subscribers received while the others joined.
    let early: u64 = subs.iter().map(|s| s.stats.packets).sum();
    sh.packets.store(early, Relaxed);
    let mut shares: Vec<Vec<Sub>> = (0..a.threads).map(|_| Vec::new()).collect();
    for (k, s) in subs.into_iter().enumerate() {
        shares[k % a.threads].push(s);
    }
    let workers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let sh = Arc::clone(&sh);
            std::thread::spawn(move || {
                let r = worker(share, &sh);
                if r.is_err() {
                    sh.stop.store(true, SeqCst);
                }
                r
            })
        })
        .collect();
    let reason = monitor(&a, &sh, active, t0);
    sh.stop.store(true, SeqCst);
    let mut done: Vec<Sub> = Vec::new();
    for w in workers {
        match w.join().expect("worker panicked") {
            Ok(s) => done.extend(s),
            Err(e) => fail(format!("poll: {e}")),
        }
    }
    if let Some(path) = &a.count_file {
        write_count(path, sh.packets.load(Relaxed));
    }
    let elapsed_s = (now_ns() - t0) as f64 / 1e9;
    done.extend(stalled);
    done.sort_by_key(|s| s.id);
    resetter.join().expect("resetter panicked");
    // Reset subscribers are reported like stalled ones: excluded from totals and checks.
    let mut rows: Vec<_> = reset_ids
        .iter()
        .map(|(id, addr)| (*id, SubReport::stalled(*id, addr.to_string()), Vec::new()))
        .collect();
    rows.extend(done.into_iter().map(|mut s| {
        if s.stalled {
            return (
                s.id,
                SubReport::stalled(s.id, s.addr.to_string()),
                Vec::new(),
            );
        }
        let r = s.stats.report(s.id, s.addr.to_string(), a.expect_count);
        (s.id, r, std::mem::take(&mut s.stats.lat_ns))
    }));
    rows.sort_by_key(|r| r.0);
    let rows = rows.into_iter().map(|(_, r, lat)| (r, lat)).collect();
    let limits = Limits {
        max_loss: a.max_loss,
        max_errors: a.max_errors,
        min_packets: a.min_packets,
    };
    let mut report = Report::build(rows, &limits, elapsed_s);
    report.end_reason = reason.into();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialize")
        );
    } else {
        print!("{}", render(&report, a.verbose));
    }
    let shown = if a.verbose { usize::MAX } else { 20 };
    for f in report.failures.iter().take(shown) {
        eprintln!("omss-client: FAIL: {f}");
    }
    if report.failures.len() > shown {
        eprintln!(
            "omss-client: FAIL: ... {} more",
            report.failures.len() - shown
        );
    }
    eprintln!(
        "omss-client: end={reason} packets={} lost={} errors={} {}",
        report.total.packets,
        report.total.lost,
        report.total.errors,
        if report.passed { "PASS" } else { "FAIL" }
    );
    exit(if report.passed { 0 } else { 1 });
}
