//! Thin wrappers over the Linux calls std does not expose: epoll, eventfd, sendmmsg,
//! recvmmsg, readv and writev. Nothing here retries or interprets errors beyond turning -1
//! into `io::Error`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Most iovecs per readv/writev, and most messages per sendmmsg/recvmmsg (Linux's
/// IOV_MAX and UIO_MAXIOV).
pub const IOV_MAX: usize = 1024;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// An epoll instance.
#[derive(Debug)]
pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; on success the returned fd is ours to own.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Watches `fd` for `events` (EPOLLIN, EPOLLOUT | EPOLLET, ...), reported with `token`.
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits for events (`None`: forever). An interrupted wait returns no events.
    pub fn wait(
        &self,
        events: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ms = match timeout {
            None => -1,
            // Round up so that a wait for 0.3 ms does not become a busy loop of 0 ms waits.
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
        };
        let max = events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: `events` is valid for writing `max` entries.
        let r = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, ms) };
        match cvt(r) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// A non-blocking eventfd, to wake a thread sleeping in epoll_wait.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; on success the returned fd is ours to own.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Makes the eventfd readable.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64. A full counter (EAGAIN) is still readable,
        // which is all a wake-up needs, so the result is not needed.
        unsafe { libc::write(self.fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the eventfd to not readable.
    pub fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a valid u64. EAGAIN (already clear) is fine.
        unsafe { libc::read(self.fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// An iovec over `b`, for sending.
pub fn iovec(b: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    }
}

/// An iovec over `b`, for receiving.
pub fn iovec_mut(b: &mut [u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_mut_ptr().cast(),
        iov_len: b.len(),
    }
}

/// An mmsghdr with no address, no iovecs and no control data.
pub fn mmsghdr() -> libc::mmsghdr {
    // SAFETY: all-zero is a valid mmsghdr: null pointers with zero lengths, zero flags.
    unsafe { std::mem::zeroed() }
}

/// A socket address as the kernel takes it.
#[derive(Clone, Copy)]
pub struct RawAddr {
    pub storage: libc::sockaddr_storage,
    pub len: libc::socklen_t,
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawAddr({} bytes)", self.len)
    }
}

impl From<&SocketAddr> for RawAddr {
    fn from(a: &SocketAddr) -> RawAddr {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match a {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }
}

/// sendmmsg(2) without flags; returns how many messages were sent.
///
/// # Safety
/// Every message's `msg_name`, `msg_iov` and the buffers its iovecs point to must be valid
/// for reading for the duration of the call.
pub unsafe fn sendmmsg(fd: RawFd, msgs: &mut [libc::mmsghdr]) -> io::Result<usize> {
    let n = msgs.len().min(IOV_MAX) as libc::c_uint;
    // SAFETY: the caller vouches for the pointers inside the messages; `msgs` itself is
    // valid for `n` entries, which the kernel updates (msg_len).
    let r = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n, 0) };
    cvt(r).map(|n| n as usize)
}

/// recvmmsg(2) with MSG_DONTWAIT; returns how many messages arrived.
///
/// # Safety
/// Every message's `msg_iov` and the buffers its iovecs point to must be valid for writing
/// (and `msg_name`, if not null, for `msg_namelen` bytes) for the duration of the call.
pub unsafe fn recvmmsg(fd: RawFd, msgs: &mut [libc::mmsghdr]) -> io::Result<usize> {
    let n = msgs.len().min(IOV_MAX) as libc::c_uint;
    // SAFETY: the caller vouches for the pointers inside the messages; `msgs` is valid for
    // `n` entries; a null timeout is allowed.
    let r = unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            n,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    cvt(r).map(|n| n as usize)
}

/// writev(2).
///
/// # Safety
/// The buffers the iovecs point to must be valid for reading for the duration of the call.
pub unsafe fn writev(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
    let n = iov.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: the caller vouches for the buffers; `iov` is valid for `n` entries.
    cvt_size(unsafe { libc::writev(fd, iov.as_ptr(), n) })
}

/// readv(2).
///
/// # Safety
/// The buffers the iovecs point to must be valid for writing for the duration of the call.
pub unsafe fn readv(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
    let n = iov.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: the caller vouches for the buffers; `iov` is valid for `n` entries.
    cvt_size(unsafe { libc::readv(fd, iov.as_ptr(), n) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn sendmmsg_reaches_each_address_and_recvmmsg_reads_a_batch() {
        let rx: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<RawAddr> = rx
            .iter()
            .map(|s| RawAddr::from(&s.local_addr().unwrap()))
            .collect();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let payloads: [&[u8]; 2] = [b"first", b"second!"];
        let iovs: Vec<libc::iovec> = payloads.iter().map(|p| iovec(p)).collect();
        let mut msgs = Vec::new();
        for iov in &iovs {
            for a in &addrs {
                let mut m = mmsghdr();
                m.msg_hdr.msg_name = &a.storage as *const _ as *mut libc::c_void;
                m.msg_hdr.msg_namelen = a.len;
                m.msg_hdr.msg_iov = iov as *const libc::iovec as *mut libc::iovec;
                m.msg_hdr.msg_iovlen = 1;
                msgs.push(m);
            }
        }
        // SAFETY: names, iovecs and payloads all outlive the call.
        let n = unsafe { sendmmsg(tx.as_raw_fd(), &mut msgs) }.unwrap();
        assert_eq!(n, 6);
        // Loopback delivers within the call as a rule; leave it a moment anyway.
        std::thread::sleep(std::time::Duration::from_millis(50));
        for s in &rx {
            let mut bufs = [[0u8; 16]; 4];
            let iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| iovec_mut(b)).collect();
            let mut msgs: Vec<libc::mmsghdr> = iovs
                .iter()
                .map(|iov| {
                    let mut m = mmsghdr();
                    m.msg_hdr.msg_iov = iov as *const libc::iovec as *mut libc::iovec;
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect();
            // SAFETY: the iovecs point into `bufs`, which outlives the call.
            let n = unsafe { recvmmsg(s.as_raw_fd(), &mut msgs) }.unwrap();
            assert_eq!(n, 2);
            let lens: Vec<usize> = msgs[..2].iter().map(|m| m.msg_len as usize).collect();
            assert_eq!(&bufs[0][..lens[0]], b"first");
            assert_eq!(&bufs[1][..lens[1]], b"second!");
        }
    }
}

/// `struct omss_floor_run` of `tools/bench/floor/omss_floor.h`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct FloorRun {
    pub source_fd: i32,
    pub nr_sinks: u32,
    pub sink_fds: u64,
    pub packets: u64,
    pub sends: u64,
    pub send_errors: u64,
}

/// `OMSS_FLOOR_RUN`: `_IOWR('O', 0x70, struct omss_floor_run)`.
const OMSS_FLOOR_RUN: libc::c_ulong = (3 << 30)
    | ((std::mem::size_of::<FloorRun>() as libc::c_ulong) << 16)
    | ((b'O' as libc::c_ulong) << 8)
    | 0x70;

/// Runs the floor module's relay from `source` to `sinks` in this thread, until the source
/// ends, its receive timeout passes, or a signal arrives.
pub fn floor_run(dev: RawFd, source: RawFd, sinks: &[RawFd]) -> io::Result<FloorRun> {
    let mut r = FloorRun {
        source_fd: source,
        nr_sinks: u32::try_from(sinks.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        sink_fds: sinks.as_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `r` is a valid `omss_floor_run` for the call, and `sink_fds` points at
    // `nr_sinks` fds that outlive it; the kernel reads both and writes only into `r`.
    cvt(unsafe { libc::ioctl(dev, OMSS_FLOOR_RUN, &mut r as *mut FloorRun) })?;
    Ok(r)
}
