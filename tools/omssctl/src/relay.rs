//! `omssctl relay`: the streaming server's side of OMSS. Opens the source and sink sockets,
//! hands them to a session, then reports stats. Reads churn commands from `--commands`.

use crate::stats::print_stats;
use crate::watch::{print_final, Stop, WaitArgs, Watch};
use omss_uapi::{OmssLimits, OmssSessionCreate};
use omssctl::dev::{errno_text, Device};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct RelayArgs {
    /// Bound UDP source address (the media server sends here), IPv4 or IPv6 ([::1]:5000).
    /// A multicast group address (239.1.2.3:5000, [ff15::1]:5000) binds the group's port and
    /// joins the group (see --join-if).
    #[arg(long, value_name = "IP:PORT", conflicts_with = "source_tcp")]
    source_udp: Option<SocketAddr>,
    /// With a multicast --source-udp: the interface to join the group on, as an interface
    /// name (r0) or, for IPv4, one of its addresses (default: the kernel's choice).
    #[arg(long, value_name = "IFNAME|ADDR", requires = "source_udp")]
    join_if: Option<String>,
    /// TCP media server to connect to.
    #[arg(long, value_name = "IP:PORT")]
    source_tcp: Option<SocketAddr>,
    /// UDP subscribers (repeatable, IPv4 and IPv6 may be mixed): IP:PORT opens -n sinks,
    /// sink i sending to PORT+i of IP; IP:PORT/K opens K sinks there instead.
    #[arg(long, value_name = "IP:PORT[/K]", value_parser = parse_sink_udp)]
    sink_udp: Vec<SinkUdp>,
    /// Listen here for TCP subscribers; each accepted connection becomes a sink. May be
    /// given with --sink-udp: the session then has both kinds of sinks (the TCP ones are
    /// accepted first).
    #[arg(long, value_name = "IP:PORT")]
    sink_tcp_listen: Option<SocketAddr>,
    /// Number of sinks to set up before the source (TCP, and at each --sink-udp address
    /// without /K).
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
    #[command(flatten)]
    wait: WaitArgs,
    /// Commands, one per line: `sleep MS`, `add K`, `remove ID`, `destroy`, `close`, `stats`.
    #[arg(long)]
    commands: Option<String>,
    /// Socket buffer size for the source (SO_RCVBUF), bytes.
    #[arg(long, default_value_t = 4 << 20)]
    rcvbuf: usize,
    /// Send buffer size of every sink (SO_SNDBUF), bytes (default: the system's).
    #[arg(long)]
    sink_sndbuf: Option<usize>,
    #[command(flatten)]
    controls: Controls,
}

/// The session's operator controls (ABI 3). Every sink of the session gets these limits.
#[derive(clap::Args)]
#[command(next_help_heading = "Operator controls (module ABI 3)")]
pub struct Controls {
    /// Late-joiner burst: a sink added while the stream flows starts up to N entries back,
    /// as far as the ring holds; the session keeps its last N entries for that (0: none).
    /// With --burst-ms too, the shorter burst wins.
    #[arg(long, value_name = "N", default_value_t = 0)]
    burst_entries: u32,
    /// Late-joiner burst in time: a new sink starts with the entries received in the last
    /// MS milliseconds, as far as the ring holds; the session keeps all the ring holds
    /// (0: none).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    burst_ms: u32,
    /// Soft lag limit: a sink more than N entries behind jumps to the newest entries (where
    /// a new sink would start) and counts the ones it skipped as lost (0: none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    lag_soft_entries: u32,
    /// Soft lag limit in time: as --lag-soft-entries, for a sink whose oldest unsent entry
    /// was received more than MS milliseconds ago (0: none).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    lag_soft_ms: u32,
    /// Hard lag limit: a sink more than N entries behind is kicked: detached, its socket
    /// given back without FIN, state "kicked" (0: none). A limit in entries at or above the
    /// ring capacity is never reached (the drop policy keeps lags below it).
    #[arg(long, value_name = "N", default_value_t = 0)]
    lag_hard_entries: u32,
    /// Hard lag limit in time: as --lag-hard-entries, for a sink whose oldest unsent entry
    /// was received more than MS milliseconds ago (0: none).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    lag_hard_ms: u32,
    /// What a full ring does: slowest (the oldest entry goes; only the slowest sinks lose
    /// it), tail (the new entry is not stored), red (new entries are dropped early, more
    /// likely as the ring fills).
    #[arg(long, value_enum, value_name = "POLICY", default_value = "slowest")]
    drop_policy: DropPolicy,
    /// Make the session persistent: if this process dies (or gets a signal), the session is
    /// parked and goes on relaying for MS milliseconds (1 to 3600000), then is destroyed;
    /// `omssctl adopt --session ID --token TOKEN` takes it over meanwhile. The id and token
    /// are printed on stderr as soon as the session exists ("omssctl: session ID token
    /// 0xHEX") and in the --json output. When the relay stops on its own (end of stream,
    /// --idle-exit, --duration, an error), it destroys the session.
    #[arg(long, value_name = "MS",
        value_parser = clap::value_parser!(u32).range(1..=omss_uapi::OMSS_PERSIST_MAX_MS as i64))]
    persist_ms: Option<u32>,
    /// A TCP source's record size in bytes (188 for MPEG-TS): every entry holds whole
    /// records, so drops and lag jumps fall on record boundaries (0: none).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    record_size: u32,
    /// A TCP source's entry size in bytes, a multiple of --record-size: each entry, and so
    /// each datagram a UDP sink sends, is exactly this long (the stream's last may be
    /// shorter); keep it within the path MTU's payload, e.g. 1316 (0: as received).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    datagram_size: u32,
}

/// A `--sink-udp` value: the first subscriber's address and, if given, how many sinks
/// (consecutive ports) it stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SinkUdp {
    addr: SocketAddr,
    count: Option<usize>,
}

fn parse_sink_udp(v: &str) -> Result<SinkUdp, String> {
    // A '/' after the port (an IPv6 address has its own in brackets, never a '/').
    let (addr, count) = match v.rsplit_once('/') {
        Some((a, k)) => (
            a,
            Some(k.parse::<usize>().map_err(|e| format!("{k:?}: {e}"))?),
        ),
        None => (v, None),
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr:?}: {e} (IPv6: [ADDR]:PORT)"))?;
    if let Some(k) = count {
        if k == 0 || addr.port() as usize + k - 1 > u16::MAX as usize {
            return Err(format!("{v}: 1 to {} sinks", 65536 - addr.port() as usize));
        }
    }
    Ok(SinkUdp { addr, count })
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DropPolicy {
    Slowest,
    Tail,
    Red,
}

impl Controls {
    /// The session-create request for these controls.
    fn request(&self, priority: u32, mode: u32, ring: u32) -> OmssSessionCreate {
        let (flags, persist_ms) = match self.persist_ms {
            Some(ms) => (omss_uapi::OMSS_SESSION_PERSIST, ms),
            None => (0, 0),
        };
        OmssSessionCreate {
            flags,
            priority,
            mode,
            ring_entries: ring,
            limits: OmssLimits {
                burst_entries: self.burst_entries,
                burst_ms: self.burst_ms,
                lag_soft_entries: self.lag_soft_entries,
                lag_soft_ms: self.lag_soft_ms,
                lag_hard_entries: self.lag_hard_entries,
                lag_hard_ms: self.lag_hard_ms,
            },
            drop_policy: match self.drop_policy {
                DropPolicy::Slowest => omss_uapi::OMSS_DROP_SLOWEST,
                DropPolicy::Tail => omss_uapi::OMSS_DROP_TAIL,
                DropPolicy::Red => omss_uapi::OMSS_DROP_RED,
            },
            persist_ms,
            record_size: self.record_size,
            datagram_size: self.datagram_size,
            ..OmssSessionCreate::request()
        }
    }
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
    /// The session's token, if it is persistent.
    token: Option<u64>,
    sinks: Vec<(u32, Sock)>,
    listener: Option<TcpListener>,
    /// The --sink-udp addresses, each with the number of sinks opened there so far.
    sink_udp: Vec<(SocketAddr, usize)>,
    sink_sndbuf: Option<usize>,
}

/// A persistent session outlives its file: when the relay stops on its own (or fails), it
/// destroys the session rather than leave it parked. (The "close" command leaves it.)
impl Drop for Relay {
    fn drop(&mut self) {
        if let (Some(dev), Some(_)) = (&self.dev, self.token) {
            if dev.destroy(self.session).is_ok() {
                eprintln!("omssctl: destroyed session {}", self.session);
            }
        }
    }
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

    /// Opens `k` more sinks and adds them to the session: TCP ones if there is a listener,
    /// else UDP ones at the first --sink-udp address (the `add K` command).
    fn add(&mut self, k: usize) -> Result<(), String> {
        if self.listener.is_some() {
            self.add_tcp(k)
        } else {
            self.add_udp(0, k)
        }
    }

    /// Accepts `k` TCP subscribers and adds them as sinks.
    fn add_tcp(&mut self, k: usize) -> Result<(), String> {
        for _ in 0..k {
            let l = self.listener.as_ref().ok_or("no --sink-tcp-listen")?;
            l.set_nonblocking(false).map_err(|e| e.to_string())?;
            let (s, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
            s.set_nodelay(true).ok();
            self.add_sock(Sock::Tcp(s))?;
        }
        Ok(())
    }

    /// Opens `k` more UDP sinks at the `which`-th --sink-udp address (the next ports).
    fn add_udp(&mut self, which: usize, k: usize) -> Result<(), String> {
        for _ in 0..k {
            let (base, next) = self.sink_udp.get_mut(which).ok_or("no sink address")?;
            let port = base.port() as usize + *next;
            let port = u16::try_from(port).map_err(|_| format!("{base}: port {port} > 65535"))?;
            *next += 1;
            let mut dest = *base;
            dest.set_port(port);
            let s = UdpSocket::bind(unspecified(&dest)).map_err(|e| format!("bind: {e}"))?;
            s.connect(dest)
                .map_err(|e| format!("connect {dest}: {e}"))?;
            self.add_sock(Sock::Udp(s))?;
        }
        Ok(())
    }

    fn add_sock(&mut self, sock: Sock) -> Result<(), String> {
        if let Some(bytes) = self.sink_sndbuf {
            set_buf(sock.fd(), libc::SO_SNDBUFFORCE, bytes);
        }
        let id = self
            .dev()?
            .add_sink(self.session, sock.fd())
            .map_err(|e| err("add sink", e))?;
        self.sinks.push((id, sock));
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
    let mut req = a.controls.request(a.priority, mode, a.ring);
    let (session, token) = dev
        .create_with(&mut req)
        .map_err(|e| err("create session", e))?;
    let token = a.controls.persist_ms.map(|_| token);
    if let Some(t) = token {
        eprintln!("omssctl: session {session} token {t:#x}");
    }
    // From here on, dropping `r` destroys a persistent session.
    let mut r = Relay {
        dev: Some(dev),
        session,
        token,
        sinks: Vec::new(),
        listener: None,
        sink_udp: a.sink_udp.iter().map(|s| (s.addr, 0)).collect(),
        sink_sndbuf: a.sink_sndbuf,
    };
    if let Some(addr) = a.sink_tcp_listen {
        r.listener = Some(TcpListener::bind(addr).map_err(|e| format!("listen {addr}: {e}"))?);
    }
    if r.listener.is_none() && a.sink_udp.is_empty() {
        return Err("give --sink-udp or --sink-tcp-listen".into());
    }
    if r.listener.is_some() {
        r.add_tcp(a.sinks)?;
    }
    for (i, s) in a.sink_udp.iter().enumerate() {
        r.add_udp(i, s.count.unwrap_or(a.sinks))?;
    }
    // The source last, so every sink sees the stream from its start.
    let source = match (a.source_udp, a.source_tcp) {
        (Some(addr), None) => {
            let s = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            set_buf(s.as_raw_fd(), libc::SO_RCVBUFFORCE, a.rcvbuf);
            if addr.ip().is_multicast() {
                join_group(&s, addr.ip(), a.join_if.as_deref())?;
            } else if a.join_if.is_some() {
                return Err(format!("--join-if: {addr} is not a multicast group"));
            }
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

    let mut commands = match &a.commands {
        Some(path) => Some(
            BufReader::new(std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?).lines(),
        ),
        None => None,
    };
    let mut watch = Watch::new(&a.wait);
    let mut why: Option<Stop> = None;
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
        why = watch.poll(r.dev()?, session)?;
        alive = why.is_none();
    }
    if let Some(dev) = &r.dev {
        print_final(dev, session, a.wait.json, why, token);
    }
    drop(source);
    Ok(())
}

/// The unspecified address of `dest`'s family, port 0 (a sink's local address).
fn unspecified(dest: &SocketAddr) -> SocketAddr {
    match dest {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Joins the multicast `group` on `join_if` (an interface name, or an IPv4 address of the
/// interface; none: the kernel picks the interface from its routes).
fn join_group(s: &UdpSocket, group: IpAddr, join_if: Option<&str>) -> Result<(), String> {
    let ifindex = |name: &str| -> Result<u32, String> {
        let c = std::ffi::CString::new(name).map_err(|_| format!("--join-if {name:?}"))?;
        // SAFETY: `c` is a valid NUL-terminated string.
        match unsafe { libc::if_nametoindex(c.as_ptr()) } {
            0 => Err(format!("--join-if {name}: no such interface")),
            i => Ok(i),
        }
    };
    let r = match group {
        IpAddr::V4(g) => match join_if.map(|v| (v, v.parse::<IpAddr>())) {
            None => s.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED),
            Some((_, Ok(IpAddr::V4(a)))) => s.join_multicast_v4(&g, &a),
            Some((v, Ok(IpAddr::V6(_)))) => {
                return Err(format!("--join-if {v}: an IPv6 address for an IPv4 group"))
            }
            Some((name, Err(_))) => {
                let m = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(g.octets()),
                    },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: ifindex(name)? as i32,
                };
                // SAFETY: `s` is an open IPv4 UDP socket and `m` a valid ip_mreqn.
                let rc = unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::IPPROTO_IP,
                        libc::IP_ADD_MEMBERSHIP,
                        (&m as *const libc::ip_mreqn).cast(),
                        std::mem::size_of::<libc::ip_mreqn>() as u32,
                    )
                };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            }
        },
        IpAddr::V6(g) => {
            let index = match join_if {
                None => 0,
                Some(v) if v.parse::<IpAddr>().is_ok() => {
                    return Err(format!(
                        "--join-if {v}: an IPv6 group needs an interface name"
                    ))
                }
                Some(name) => ifindex(name)?,
            };
            s.join_multicast_v6(&g, index)
        }
    };
    r.map_err(|e| format!("join {group} on {}: {e}", join_if.unwrap_or("any")))?;
    eprintln!(
        "omssctl: joined {group} on {}",
        join_if.unwrap_or("the default interface")
    );
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        relay: RelayArgs,
    }

    fn request(args: &[&str]) -> Result<OmssSessionCreate, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("relay").chain(args.iter().copied()))?;
        Ok(cli
            .relay
            .controls
            .request(3, omss_uapi::OMSS_MODE_COPY, 512))
    }

    #[test]
    fn defaults_are_abi_2_behaviour() {
        let r = request(&[]).unwrap();
        assert_eq!(r.size as usize, std::mem::size_of::<OmssSessionCreate>());
        assert_eq!((r.flags, r.persist_ms, r.token), (0, 0, 0));
        assert_eq!(r.drop_policy, omss_uapi::OMSS_DROP_SLOWEST);
        assert_eq!(r.limits, OmssLimits::default());
        assert_eq!((r.priority, r.mode, r.ring_entries), (3, 1, 512));
    }

    #[test]
    fn controls_fill_the_request() {
        let r = request(&[
            "--burst-entries",
            "1",
            "--burst-ms",
            "2",
            "--lag-soft-entries",
            "3",
            "--lag-soft-ms",
            "4",
            "--lag-hard-entries",
            "5",
            "--lag-hard-ms",
            "6",
            "--drop-policy",
            "red",
            "--persist-ms",
            "20000",
        ])
        .unwrap();
        let l = r.limits;
        assert_eq!(
            [
                l.burst_entries,
                l.burst_ms,
                l.lag_soft_entries,
                l.lag_soft_ms,
                l.lag_hard_entries,
                l.lag_hard_ms
            ],
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(r.drop_policy, omss_uapi::OMSS_DROP_RED);
        assert_eq!(r.flags, omss_uapi::OMSS_SESSION_PERSIST);
        assert_eq!(r.persist_ms, 20000);
        let tail = request(&["--drop-policy", "tail"]).unwrap();
        assert_eq!(tail.drop_policy, omss_uapi::OMSS_DROP_TAIL);
    }

    fn relay_args(args: &[&str]) -> Result<RelayArgs, clap::Error> {
        Ok(Cli::try_parse_from(std::iter::once("relay").chain(args.iter().copied()))?.relay)
    }

    #[test]
    fn ipv6_and_repeated_sink_addresses() {
        let r = relay_args(&[
            "--source-udp",
            "[fd00:1::2]:5000",
            "--sink-udp",
            "[fd00:2::2]:7000",
            "--sink-udp",
            "198.18.2.2:7100/3",
            "--sink-tcp-listen",
            "[::]:7200",
        ])
        .unwrap();
        assert_eq!(r.source_udp, Some("[fd00:1::2]:5000".parse().unwrap()));
        assert_eq!(
            r.sink_udp,
            [
                SinkUdp {
                    addr: "[fd00:2::2]:7000".parse().unwrap(),
                    count: None
                },
                SinkUdp {
                    addr: "198.18.2.2:7100".parse().unwrap(),
                    count: Some(3)
                }
            ]
        );
        assert_eq!(r.sink_tcp_listen, Some("[::]:7200".parse().unwrap()));
        assert!(relay_args(&["--sink-udp", "fd00:2::2:7000"]).is_err());
        assert!(relay_args(&["--sink-udp", "[::1]:7000/0"]).is_err());
        assert!(relay_args(&["--sink-udp", "[::1]:65535/2"]).is_err());
        assert!(relay_args(&["--sink-udp", "[::1]:65535/1"]).is_ok());
        assert!(relay_args(&["--join-if", "r0"]).is_err());
        let m = relay_args(&["--source-udp", "239.1.2.3:5000", "--join-if", "r0"]).unwrap();
        assert_eq!(m.join_if.as_deref(), Some("r0"));
    }

    #[test]
    fn unspecified_matches_the_family() {
        assert_eq!(
            unspecified(&"[::1]:7000".parse().unwrap()),
            "[::]:0".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            unspecified(&"10.0.0.1:7000".parse().unwrap()),
            "0.0.0.0:0".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn multicast_join_on_loopback() {
        // Best effort: a host without multicast on lo only skips the join itself.
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        let g: IpAddr = "239.255.0.7".parse().unwrap();
        assert!(join_group(&s, g, Some("no-such-if0")).is_err());
        assert!(join_group(&s, g, Some("::1")).is_err());
        let _ = join_group(&s, g, Some("lo"));
    }

    #[test]
    fn bad_controls_are_refused() {
        assert!(request(&["--persist-ms", "0"]).is_err());
        assert!(request(&["--persist-ms", "3600001"]).is_err());
        assert!(request(&["--persist-ms", "3600000"]).is_ok());
        assert!(request(&["--drop-policy", "oldest"]).is_err());
        assert!(request(&["--lag-hard-ms", "-1"]).is_err());
    }
}
