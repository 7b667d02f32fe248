//! Small OS helpers shared by both tools.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// CLOCK_MONOTONIC in nanoseconds (the clock of `send_ts_ns`).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; CLOCK_MONOTONIC always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleep until the monotonic time `deadline_ns` (no busy-wait), in slices
/// of at most `max_slice` so that a stop request is noticed.
pub fn sleep_until(deadline_ns: u64, max_slice: Duration) {
    let now = now_ns();
    if deadline_ns > now {
        std::thread::sleep(Duration::from_nanos(deadline_ns - now).min(max_slice));
    }
}

/// Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the new limit.
pub fn raise_nofile() -> io::Result<libc::rlim_t> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if rl.rlim_cur < rl.rlim_max {
        rl.rlim_cur = rl.rlim_max;
        // SAFETY: valid pointer to an rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(rl.rlim_cur)
}

/// Set SO_RCVBUF (the kernel caps it at net.core.rmem_max).
pub fn set_rcvbuf(sock: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    set_buf(sock, libc::SO_RCVBUF, bytes)
}

/// Set SO_RCVBUFFORCE (CAP_NET_ADMIN: beyond net.core.rmem_max), else SO_RCVBUF.
pub fn set_rcvbuf_force(sock: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    set_buf(sock, libc::SO_RCVBUFFORCE, bytes).or_else(|_| set_rcvbuf(sock, bytes))
}

/// Sets the socket buffer option `opt` (SOL_SOCKET) to `bytes`.
fn set_buf(sock: &impl AsRawFd, opt: libc::c_int, bytes: usize) -> io::Result<()> {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: valid fd and a pointer to a c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read and discard what a non-blocking TCP peer sent (a bounded amount); true when it
/// closed its side or the connection failed.
pub fn peer_closed(sock: &mut impl std::io::Read) -> bool {
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Make SIGINT and SIGTERM set the flag read by [`stop_requested`].
pub fn install_stop_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// `addr` with its port increased by `offset`, if that stays a valid port.
pub fn port_add(addr: SocketAddr, offset: u64) -> Result<SocketAddr, String> {
    let port = addr.port() as u64 + offset;
    if port > u16::MAX as u64 {
        return Err(format!("port {} + {offset} exceeds 65535", addr.port()));
    }
    let mut a = addr;
    a.set_port(port as u16);
    Ok(a)
}

/// Sets up `sock` to send to the multicast group `to`: out of the interface `iface` (a name,
/// or for IPv4 an address of it; None: the route's), with TTL (hop limit) `ttl`; no loop
/// back to this host's own listeners.
pub fn multicast_sender(
    sock: &std::net::UdpSocket,
    to: &SocketAddr,
    iface: Option<&str>,
    ttl: u32,
) -> io::Result<()> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    let ifindex = |name: &str| -> io::Result<u32> {
        let c = std::ffi::CString::new(name).map_err(|_| bad(format!("{name:?}")))?;
        // SAFETY: `c` is a valid NUL-terminated string.
        match unsafe { libc::if_nametoindex(c.as_ptr()) } {
            0 => Err(bad(format!("{name}: no such interface"))),
            i => Ok(i),
        }
    };
    match to {
        SocketAddr::V4(_) => {
            sock.set_multicast_ttl_v4(ttl)?;
            sock.set_multicast_loop_v4(false)?;
            if let Some(v) = iface {
                let m = match v.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(a)) => libc::ip_mreqn {
                        imr_multiaddr: libc::in_addr { s_addr: 0 },
                        imr_address: libc::in_addr {
                            s_addr: u32::from_ne_bytes(a.octets()),
                        },
                        imr_ifindex: 0,
                    },
                    Ok(_) => return Err(bad(format!("{v}: an IPv6 address for an IPv4 group"))),
                    Err(_) => libc::ip_mreqn {
                        imr_multiaddr: libc::in_addr { s_addr: 0 },
                        imr_address: libc::in_addr { s_addr: 0 },
                        imr_ifindex: ifindex(v)? as i32,
                    },
                };
                setsockopt(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &m)?;
            }
        }
        SocketAddr::V6(_) => {
            setsockopt(
                sock,
                libc::IPPROTO_IPV6,
                libc::IPV6_MULTICAST_HOPS,
                &(ttl as libc::c_int),
            )?;
            sock.set_multicast_loop_v6(false)?;
            if let Some(v) = iface {
                if v.parse::<std::net::IpAddr>().is_ok() {
                    return Err(bad(format!("{v}: an IPv6 group needs an interface name")));
                }
                let i = ifindex(v)? as libc::c_int;
                setsockopt(sock, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &i)?;
            }
        }
    }
    Ok(())
}

/// setsockopt(2) with a plain value `v`.
fn setsockopt<T>(
    sock: &impl AsRawFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: &T,
) -> io::Result<()> {
    // SAFETY: valid fd; `v` points to a value of the given size that the option takes.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes closing `s` send a RST instead of a FIN (SO_LINGER with a zero timeout).
pub fn set_reset_on_close(s: &impl std::os::fd::AsRawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `s` is an open socket and `l` a valid linger value of the given size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a && a > 0);
    }

    #[test]
    fn port_arithmetic() {
        let a: SocketAddr = "127.0.0.1:65530".parse().unwrap();
        assert_eq!(port_add(a, 5).unwrap().port(), 65535);
        assert!(port_add(a, 6).is_err());
    }

    #[test]
    fn multicast_sender_options() {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let g: SocketAddr = "239.1.2.3:5000".parse().unwrap();
        multicast_sender(&s, &g, None, 4).unwrap();
        assert_eq!(s.multicast_ttl_v4().unwrap(), 4);
        multicast_sender(&s, &g, Some("127.0.0.1"), 1).unwrap();
        multicast_sender(&s, &g, Some("lo"), 1).unwrap();
        assert!(multicast_sender(&s, &g, Some("no-such-if0"), 1).is_err());
        assert!(multicast_sender(&s, &g, Some("::1"), 1).is_err());
        if let Ok(s6) = std::net::UdpSocket::bind("[::1]:0") {
            let g6: SocketAddr = "[ff15::1]:5000".parse().unwrap();
            multicast_sender(&s6, &g6, Some("lo"), 2).unwrap();
            assert!(multicast_sender(&s6, &g6, Some("::1"), 1).is_err());
        }
    }

    #[test]
    fn nofile_can_be_raised() {
        assert!(raise_nofile().unwrap() > 0);
    }
}
