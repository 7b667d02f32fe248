//! Opening the source and the sinks, the same way `omssctl relay` does.

use crate::args::Args;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// The stream's source.
#[derive(Debug)]
pub enum Source {
    /// A bound UDP socket; each datagram is a packet.
    Udp(UdpSocket),
    /// A connection to a TCP media server; each read (up to 16 KiB) is a packet.
    Tcp(TcpStream),
}

impl Source {
    /// Binds `--source-udp` (with `--rcvbuf`) or connects to `--source-tcp`.
    pub fn open(a: &Args) -> Result<Source, String> {
        match (a.source_udp, a.source_tcp) {
            (Some(addr), None) => {
                let s = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
                let got = set_rcvbuf(s.as_raw_fd(), a.rcvbuf);
                if got < a.rcvbuf {
                    eprintln!(
                        "note: source SO_RCVBUF is {got} bytes, not {} (not permitted to force)",
                        a.rcvbuf
                    );
                }
                Ok(Source::Udp(s))
            }
            (None, Some(addr)) => Ok(Source::Tcp(connect_retry(addr, Duration::from_secs(5))?)),
            _ => Err("give one of --source-udp and --source-tcp".into()),
        }
    }

    pub fn fd(&self) -> RawFd {
        match self {
            Source::Udp(s) => s.as_raw_fd(),
            Source::Tcp(s) => s.as_raw_fd(),
        }
    }

    pub fn is_tcp(&self) -> bool {
        matches!(self, Source::Tcp(_))
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Source::Udp(s) => s.set_nonblocking(on),
            Source::Tcp(s) => s.set_nonblocking(on),
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Source::Udp(s) => s.set_read_timeout(t),
            Source::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

/// The subscribers, set up before the source so that each sees the stream from its start.
#[derive(Debug)]
pub enum Sinks {
    /// UDP subscribers' addresses: PORT+i of `--sink-udp`. Each relay opens its own sockets.
    Udp(Vec<SocketAddr>),
    /// Accepted TCP subscribers, non-blocking, with TCP_NODELAY.
    Tcp(Vec<TcpStream>),
}

impl Sinks {
    pub fn open(a: &Args) -> Result<Sinks, String> {
        match (a.sink_udp, a.sink_tcp_listen) {
            (Some(base), None) => Ok(Sinks::Udp(
                (0..a.sinks)
                    .map(|i| {
                        let mut d = base;
                        d.set_port(base.port() + i as u16);
                        d
                    })
                    .collect(),
            )),
            (None, Some(addr)) => accept_sinks(addr, a.sinks).map(Sinks::Tcp),
            _ => Err("give one of --sink-udp and --sink-tcp-listen".into()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Sinks::Udp(v) => v.len(),
            Sinks::Tcp(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The sinks' sockets, open: connected UDP senders, or accepted TCP connections.
pub enum SinkSockets {
    Udp(Vec<UdpSocket>),
    Tcp(Vec<TcpStream>),
}

impl SinkSockets {
    /// Opens the sinks of `--sink-udp` (a connected sender each) or `--sink-tcp-listen`.
    pub fn open(a: &Args) -> Result<SinkSockets, String> {
        Ok(match Sinks::open(a)? {
            Sinks::Udp(addrs) => SinkSockets::Udp(
                addrs
                    .iter()
                    .map(|d| {
                        let s = udp_sender_for(d)?;
                        s.connect(d).map_err(|e| format!("connect {d}: {e}"))?;
                        Ok(s)
                    })
                    .collect::<Result<_, String>>()?,
            ),
            Sinks::Tcp(v) => SinkSockets::Tcp(v),
        })
    }

    pub fn fds(&self) -> Vec<RawFd> {
        match self {
            SinkSockets::Udp(v) => v.iter().map(|s| s.as_raw_fd()).collect(),
            SinkSockets::Tcp(v) => v.iter().map(|s| s.as_raw_fd()).collect(),
        }
    }
}

/// Listens on `addr` and accepts `n` subscribers.
pub fn accept_sinks(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
    let l = TcpListener::bind(addr).map_err(|e| format!("listen {addr}: {e}"))?;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nodelay(true).ok();
                s.set_nonblocking(true)
                    .map_err(|e| format!("sink: non-blocking: {e}"))?;
                v.push(s);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if crate::args::stop_requested() {
                    return Err("interrupted while accepting sinks".into());
                }
            }
            Err(e) => return Err(format!("accept on {addr}: {e}")),
        }
    }
    Ok(v)
}

/// Connects to `addr`, retrying until `timeout` has passed.
pub fn connect_retry(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(format!("connect {addr}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The wildcard address of `addr`'s family, port 0.
pub fn any_of(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// A non-blocking UDP socket bound to an ephemeral port of `dest`'s family.
pub fn udp_sender_for(dest: &SocketAddr) -> Result<UdpSocket, String> {
    let s = UdpSocket::bind(any_of(dest)).map_err(|e| format!("udp bind: {e}"))?;
    s.set_nonblocking(true)
        .map_err(|e| format!("udp non-blocking: {e}"))?;
    Ok(s)
}

fn set_buf(fd: RawFd, force: libc::c_int, plain: libc::c_int, bytes: usize) -> usize {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let mut got: libc::c_int = 0;
    let mut got_len = len;
    // SAFETY: `fd` is an open socket; the option values are valid `c_int`s of the size given,
    // and `got`/`got_len` are valid for writing.
    unsafe {
        let p = (&v as *const libc::c_int).cast();
        if libc::setsockopt(fd, libc::SOL_SOCKET, force, p, len) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, plain, p, len);
        }
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            plain,
            (&mut got as *mut libc::c_int).cast(),
            &mut got_len,
        );
    }
    // The kernel reports twice the size it was given (it counts its bookkeeping).
    (got.max(0) as usize) / 2
}

/// Sets SO_RCVBUF (SO_RCVBUFFORCE if permitted); returns the size now in effect.
pub fn set_rcvbuf(fd: RawFd, bytes: usize) -> usize {
    set_buf(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, bytes)
}

/// Sets SO_SNDBUF (SO_SNDBUFFORCE if permitted); returns the size now in effect.
pub fn set_sndbuf(fd: RawFd, bytes: usize) -> usize {
    set_buf(fd, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, bytes)
}

/// Whether a send error means "the socket buffer is full, try later".
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}
