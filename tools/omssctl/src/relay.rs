//! `omssctl relay`: the streaming server's side of OMSS. Opens the source and sink sockets,
//! hands them to a session, then reports stats. Reads churn commands from `--commands`.

use crate::stats::{print_stats, stats_json};
use omssctl::dev::{errno_text, Device};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct RelayArgs {
    /// Bound UDP source address (the media server sends here).
    #[arg(long, conflicts_with = "source_tcp")]
    source_udp: Option<SocketAddr>,
    /// TCP media server to connect to.
    #[arg(long)]
    source_tcp: Option<SocketAddr>,
    /// UDP subscribers: sink i sends to PORT+i of this address.
    #[arg(long, conflicts_with = "sink_tcp_listen")]
    sink_udp: Option<SocketAddr>,
    /// Listen here for TCP subscribers; each accepted connection becomes a sink.
    #[arg(long)]
    sink_tcp_listen: Option<SocketAddr>,
    /// Number of sinks to set up before the source.
    #[arg(short = 'n', long, default_value_t = 1)]
    sinks: usize,
    /// share (payload sharing) or copy (a private copy per sink).
    #[arg(long, default_value = "share")]
    mode: String,
    /// Priority class, 0 (lowest) to 7.
    #[arg(long, default_value_t = 0)]
    priority: u32,
    /// Ring capacity in entries (0: module default).
    #[arg(long, default_value_t = 0)]
    ring: u32,
    /// Stop after this many seconds (default: when the source ends).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop once no data has arrived for this many seconds (after some did) and every sink
    /// sent what it had (waiting at most --drain-timeout more): for UDP sources, which never
    /// end.
    #[arg(long)]
    idle_exit: Option<f64>,
    /// After the source ended (or went idle), wait at most this long for the sinks to drain.
    #[arg(long, default_value_t = 10.0)]
    drain_timeout: f64,
    /// Print stats every this many seconds.
    #[arg(long)]
    stats_every: Option<f64>,
    /// Print the final stats as JSON.
    #[arg(long)]
    json: bool,
    /// Commands, one per line: `sleep MS`, `add K`, `remove ID`, `destroy`, `close`, `stats`.
    #[arg(long)]
    commands: Option<String>,
    /// Socket buffer size for the source (SO_RCVBUF), bytes.
    #[arg(long, default_value_t = 4 << 20)]
    rcvbuf: usize,
    /// Send buffer size of every sink (SO_SNDBUF), bytes (default: the system's).
    #[arg(long)]
    sink_sndbuf: Option<usize>,
}

enum Sock {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Sock {
    fn fd(&self) -> i32 {
        match self {
            Sock::Udp(s) => s.as_raw_fd(),
            Sock::Tcp(s) => s.as_raw_fd(),
        }
    }
}

struct Relay {
    dev: Option<Device>,
    session: u32,
    sinks: Vec<(u32, Sock)>,
    listener: Option<TcpListener>,
    next_udp: usize,
    sink_udp: Option<SocketAddr>,
    sink_sndbuf: Option<usize>,
}

fn err(what: &str, e: i32) -> String {
    format!("{what}: {}", errno_text(e))
}

impl Relay {
    fn dev(&self) -> Result<&Device, String> {
        self.dev
            .as_ref()
            .ok_or_else(|| "the control file is closed".to_string())
    }

    /// Opens `k` more sinks and adds them to the session.
    fn add(&mut self, k: usize) -> Result<(), String> {
        for _ in 0..k {
            let sock = if let Some(l) = &self.listener {
                l.set_nonblocking(false).map_err(|e| e.to_string())?;
                let (s, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
                s.set_nodelay(true).ok();
                Sock::Tcp(s)
            } else {
                let base = self.sink_udp.ok_or("no sink address")?;
                let mut dest = base;
                dest.set_port(base.port() + self.next_udp as u16);
                self.next_udp += 1;
                let any: SocketAddr = if dest.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                }
                .parse()
                .unwrap();
                let s = UdpSocket::bind(any).map_err(|e| format!("bind: {e}"))?;
                s.connect(dest)
                    .map_err(|e| format!("connect {dest}: {e}"))?;
                Sock::Udp(s)
            };
            if let Some(bytes) = self.sink_sndbuf {
                set_buf(sock.fd(), libc::SO_SNDBUFFORCE, bytes);
            }
            let id = self
                .dev()?
                .add_sink(self.session, sock.fd())
                .map_err(|e| err("add sink", e))?;
            self.sinks.push((id, sock));
        }
        Ok(())
    }

    fn command(&mut self, line: &str) -> Result<bool, String> {
        let mut w = line.split_whitespace();
        let (cmd, arg) = (w.next().unwrap_or(""), w.next());
        let num = || {
            arg.and_then(|a| a.parse::<u64>().ok())
                .ok_or(format!("{cmd}: needs a number"))
        };
        match cmd {
            "" | "#" => {}
            "sleep" => std::thread::sleep(Duration::from_millis(num()?)),
            "add" => self.add(num()? as usize)?,
            "remove" => {
                let id = num()? as u32;
                self.dev()?
                    .remove_sink(self.session, id)
                    .map_err(|e| err("remove sink", e))?;
                self.sinks.retain(|(i, _)| *i != id);
                eprintln!("omssctl: removed sink {id}");
            }
            "destroy" => {
                self.dev()?
                    .destroy(self.session)
                    .map_err(|e| err("destroy", e))?;
                eprintln!("omssctl: destroyed session {}", self.session);
                return Ok(false);
            }
            "close" => {
                self.dev = None;
                eprintln!("omssctl: closed /dev/omss");
                return Ok(false);
            }
            "stats" => {
                let (s, k) = self
                    .dev()?
                    .stats(self.session, 64)
                    .map_err(|e| err("stats", e))?;
                print_stats(&s, &k);
            }
            c if c.starts_with('#') => {}
            c => return Err(format!("unknown command {c:?}")),
        }
        Ok(true)
    }
}

pub fn run(device: &str, a: &RelayArgs) -> Result<(), String> {
    let mode = match a.mode.as_str() {
        "share" => omss_uapi::OMSS_MODE_SHARE,
        "copy" => omss_uapi::OMSS_MODE_COPY,
        m => return Err(format!("--mode: {m:?} is neither share nor copy")),
    };
    let dev = Device::open(device)?;
    let session = dev
        .create(a.priority, mode, a.ring)
        .map_err(|e| err("create session", e))?;
    let listener = match a.sink_tcp_listen {
        Some(addr) => Some(TcpListener::bind(addr).map_err(|e| format!("listen {addr}: {e}"))?),
        None => None,
    };
    if listener.is_none() && a.sink_udp.is_none() {
        return Err("give --sink-udp or --sink-tcp-listen".into());
    }
    let mut r = Relay {
        dev: Some(dev),
        session,
        sinks: Vec::new(),
        listener,
        next_udp: 0,
        sink_udp: a.sink_udp,
        sink_sndbuf: a.sink_sndbuf,
    };
    r.add(a.sinks)?;
    // The source last, so every sink sees the stream from its start.
    let source = match (a.source_udp, a.source_tcp) {
        (Some(addr), None) => {
            let s = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            set_buf(s.as_raw_fd(), libc::SO_RCVBUFFORCE, a.rcvbuf);
            Sock::Udp(s)
        }
        (None, Some(addr)) => Sock::Tcp(connect_retry(addr)?),
        _ => return Err("give one of --source-udp and --source-tcp".into()),
    };
    r.dev()?
        .set_source(session, source.fd())
        .map_err(|e| err("set source", e))?;
    eprintln!(
        "omssctl: session {session} relaying to {} sinks ({})",
        r.sinks.len(),
        a.mode
    );

    let start = Instant::now();
    let mut commands = match &a.commands {
        Some(path) => Some(
            BufReader::new(std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?).lines(),
        ),
        None => None,
    };
    let mut last = Instant::now();
    let (mut last_rx, mut last_rx_at) = (0, Instant::now());
    let mut ended_at: Option<Instant> = None;
    let mut alive = true;
    while alive {
        if let Some(lines) = commands.as_mut() {
            match lines.next() {
                Some(Ok(line)) => alive = r.command(line.trim())?,
                _ => commands = None,
            }
            continue;
        }
        std::thread::sleep(Duration::from_millis(50));
        let (s, k) = r.dev()?.stats(session, 0).map_err(|e| err("stats", e))?;
        if let Some(every) = a.stats_every {
            if last.elapsed().as_secs_f64() >= every {
                print_stats(&s, &k);
                last = Instant::now();
            }
        }
        let ended =
            s.state == omss_uapi::OMSS_SESSION_ENDED || s.state == omss_uapi::OMSS_SESSION_FAILED;
        if s.rx_packets != last_rx {
            (last_rx, last_rx_at) = (s.rx_packets, Instant::now());
        }
        // Idle: no input for `idle_exit`, and the sinks sent what they had (or they have had
        // `drain_timeout` more to do it).
        let quiet = last_rx_at.elapsed().as_secs_f64();
        let idle = match a.idle_exit {
            Some(t) if last_rx > 0 && quiet >= t => {
                quiet >= t + a.drain_timeout || all_sinks_sent(r.dev()?, session, r.sinks.len())?
            }
            _ => false,
        };
        let timed_out = a
            .duration
            .is_some_and(|d| start.elapsed().as_secs_f64() >= d);
        if ended {
            ended_at.get_or_insert_with(Instant::now);
        }
        let drained = ended_at.is_some_and(|t| t.elapsed().as_secs_f64() >= a.drain_timeout);
        if timed_out
            || idle
            || drained
            || (ended && all_sinks_settled(r.dev()?, session, r.sinks.len())?)
        {
            break;
        }
    }
    if let Some(dev) = &r.dev {
        if let Ok((s, k)) = dev.stats(session, r.sinks.len().max(1) + 64) {
            if a.json {
                println!("{}", stats_json(&s, &k));
            } else {
                print_stats(&s, &k);
            }
        }
    }
    drop(source);
    Ok(())
}

/// Whether every active sink has sent every entry it has.
fn all_sinks_sent(dev: &Device, session: u32, n: usize) -> Result<bool, String> {
    let (_, k) = dev.stats(session, n).map_err(|e| err("stats", e))?;
    Ok(k.iter()
        .all(|s| s.state != omss_uapi::OMSS_SINK_ACTIVE || s.lag == 0))
}

/// After the source ended: whether every sink is done or failed.
fn all_sinks_settled(dev: &Device, session: u32, n: usize) -> Result<bool, String> {
    let (_, k) = dev.stats(session, n).map_err(|e| err("stats", e))?;
    Ok(k.iter().all(|s| s.state != omss_uapi::OMSS_SINK_ACTIVE))
}

fn connect_retry(addr: SocketAddr) -> Result<TcpStream, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(format!("connect {addr}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Sets a socket buffer size option (`SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`), best effort.
fn set_buf(fd: i32, opt: libc::c_int, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: `fd` is an open socket and `v` a valid int option value of the given size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
}
