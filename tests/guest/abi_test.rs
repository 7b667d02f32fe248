//! `omss-abi-test`: every kind of bad input to `/dev/omss` gets its errno and changes
//! nothing; sockets given back are usable again. Prints TAP 13; runs as root in the guest.

use omss_uapi::*;
use omssctl::dev::{errno_name, Device};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, ExitCode};

struct Tap {
    n: u32,
    failed: u32,
}

impl Tap {
    fn check(&mut self, desc: &str, got: Result<impl std::fmt::Debug, i32>, want: i32) {
        self.n += 1;
        match got {
            Err(e) if e == want => println!("ok {} {desc}: {}", self.n, errno_name(want)),
            other => {
                self.failed += 1;
                let got = match other {
                    Err(e) => format!("errno {e} ({})", errno_name(e)),
                    Ok(v) => format!("success {v:?}"),
                };
                println!(
                    "not ok {} {desc}: want {}, got {got}",
                    self.n,
                    errno_name(want)
                );
            }
        }
    }
    fn ok(&mut self, desc: &str, cond: bool) {
        self.n += 1;
        if !cond {
            self.failed += 1;
        }
        println!("{}ok {} {desc}", if cond { "" } else { "not " }, self.n);
    }
}

const PLAN: u32 = 35;

fn udp_connected(port: u16) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(("127.0.0.1", port)).unwrap();
    s
}

/// Issues `cmd` with `arg` copied into a read-only mapping.
fn ioctl_readonly<T: Copy>(dev: &Device, cmd: u32, arg: &T) -> Result<i32, i32> {
    let len = 4096;
    // SAFETY: a fresh anonymous mapping, written as `T` while writable, then made read-only;
    // unmapped before returning.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        std::ptr::write(p.cast::<T>(), *arg);
        libc::mprotect(p, len, libc::PROT_READ);
        let r = libc::ioctl(dev.as_raw_fd(), cmd as _, p);
        let r = if r < 0 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r)
        };
        libc::munmap(p, len);
        r
    }
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--open-unprivileged") {
        // Child: drop to nobody (no capabilities) and try to open the device.
        // SAFETY: plain syscalls on this process's own credentials.
        if unsafe { libc::setgid(65534) != 0 || libc::setuid(65534) != 0 } {
            return ExitCode::from(2);
        }
        return match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(OMSS_DEVICE)
        {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => ExitCode::from(e.raw_os_error().unwrap_or(1) as u8),
        };
    }
    println!("TAP version 13");
    println!("1..{PLAN}");
    let mut t = Tap { n: 0, failed: 0 };
    let dev = Device::open(OMSS_DEVICE).expect("open /dev/omss");

    // EPERM without CAP_NET_ADMIN (file mode opened up so that only the capability decides).
    std::fs::set_permissions(
        OMSS_DEVICE,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let st = Command::new(std::env::current_exe().unwrap())
        .arg("--open-unprivileged")
        .status()
        .unwrap();
    std::fs::set_permissions(
        OMSS_DEVICE,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let code = st.code().unwrap_or(-1);
    t.check(
        "open without CAP_NET_ADMIN",
        if code == 0 { Ok(0) } else { Err(code) },
        libc::EPERM,
    );

    // Size, reserved, flags and value checks.
    let mut v = OmssVersion::request();
    v.size -= 4;
    t.check(
        "VERSION with a wrong size",
        dev.ioctl(OMSS_IOC_VERSION, &mut v),
        libc::EINVAL,
    );
    let mut v = OmssVersion::request();
    v.reserved[2] = 1;
    t.check(
        "VERSION with a non-zero reserved field",
        dev.ioctl(OMSS_IOC_VERSION, &mut v),
        libc::EINVAL,
    );
    let mut c = OmssSessionCreate {
        flags: 1,
        ..OmssSessionCreate::request()
    };
    t.check(
        "CREATE with unknown flags",
        dev.ioctl(OMSS_IOC_SESSION_CREATE, &mut c),
        libc::EINVAL,
    );
    t.check(
        "CREATE with priority 8",
        dev.create(8, OMSS_MODE_SHARE, 0),
        libc::EINVAL,
    );
    t.check("CREATE with mode 2", dev.create(0, 2, 0), libc::EINVAL);
    let max = dev.version().unwrap().ring_max;
    t.check(
        "CREATE with a ring over ring_max",
        dev.create(0, OMSS_MODE_SHARE, max + 1),
        libc::E2BIG,
    );

    // Unknown ids.
    let s = dev.create(3, OMSS_MODE_SHARE, 16).expect("create");
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    t.check(
        "SOURCE_SET on an unknown session",
        dev.set_source(s + 100, probe.as_raw_fd()),
        libc::ENOENT,
    );
    t.check(
        "SINK_REMOVE of an unknown sink",
        dev.remove_sink(s, 77),
        libc::ENOENT,
    );
    t.check(
        "DESTROY of an unknown session",
        dev.destroy(s + 100),
        libc::ENOENT,
    );
    t.check(
        "STATS of an unknown session",
        dev.stats(s + 100, 0).map(|_| ()),
        libc::ENOENT,
    );

    // Bad fds and sockets.
    t.check(
        "SINK_ADD with a closed fd",
        dev.add_sink(s, 999),
        libc::EBADF,
    );
    let file = std::fs::File::open("/dev/null").unwrap();
    t.check(
        "SINK_ADD with a non-socket",
        dev.add_sink(s, file.as_raw_fd()),
        libc::ENOTSOCK,
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    t.check(
        "SINK_ADD with a listening TCP socket",
        dev.add_sink(s, listener.as_raw_fd()),
        libc::EINVAL,
    );
    let unconnected = UdpSocket::bind("127.0.0.1:0").unwrap();
    t.check(
        "SINK_ADD with an unconnected UDP socket",
        dev.add_sink(s, unconnected.as_raw_fd()),
        libc::EINVAL,
    );
    // SAFETY: creating a socket has no memory effects; the fd is closed below.
    let raw_tcp = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    t.check(
        "SOURCE_SET with an unconnected TCP socket",
        dev.set_source(s, raw_tcp),
        libc::EINVAL,
    );
    // SAFETY: `raw_tcp` is ours.
    unsafe { libc::close(raw_tcp) };
    let unix = UnixDatagram::unbound().unwrap();
    t.check(
        "SINK_ADD with a UNIX socket",
        dev.add_sink(s, unix.as_raw_fd()),
        libc::EPROTONOSUPPORT,
    );
    // SAFETY: as above.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP) };
    t.check(
        "SINK_ADD with a raw socket",
        dev.add_sink(s, raw),
        libc::EPROTONOSUPPORT,
    );
    // SAFETY: `raw` is ours.
    unsafe { libc::close(raw) };

    // Ownership.
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let sink = udp_connected(port);
    let id = dev.add_sink(s, sink.as_raw_fd()).expect("add sink");
    t.check(
        "the same sink twice",
        dev.add_sink(s, sink.as_raw_fd()),
        libc::EEXIST,
    );
    let s2 = dev.create(0, OMSS_MODE_COPY, 0).expect("create");
    t.check(
        "a sink of another session",
        dev.add_sink(s2, sink.as_raw_fd()),
        libc::EBUSY,
    );
    let src = UdpSocket::bind("127.0.0.1:0").unwrap();
    dev.set_source(s, src.as_raw_fd()).expect("set source");
    let src2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    t.check(
        "a second source",
        dev.set_source(s, src2.as_raw_fd()),
        libc::EBUSY,
    );
    let (st, _) = dev.stats(s, 0).unwrap();
    t.ok(
        "refused calls changed nothing (1 sink, running)",
        st.nr_sinks == 1 && st.state == OMSS_SESSION_RUNNING,
    );

    // Given back: the socket works and can join another session.
    dev.remove_sink(s, id).expect("remove");
    sink.send(b"still mine").unwrap();
    let mut buf = [0u8; 32];
    rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let got = rx
        .recv(&mut buf)
        .map(|n| &buf[..n] == b"still mine")
        .unwrap_or(false);
    t.ok("a removed sink's socket is the server's again", got);
    t.ok(
        "and may join another session",
        dev.add_sink(s2, sink.as_raw_fd()).is_ok(),
    );
    dev.destroy(s2).expect("destroy");
    t.ok(
        "a destroyed session's sockets are free again",
        dev.add_sink(s, sink.as_raw_fd()).is_ok(),
    );

    // A struct that can be read but not written back (a read-only mapping): EFAULT, and
    // nothing changed.
    let sessions = |d: &Device| d.engine_stats().map(|e| e.sessions).unwrap_or(u32::MAX);
    let before = sessions(&dev);
    let c = OmssSessionCreate::request();
    t.check(
        "CREATE from a read-only mapping",
        ioctl_readonly(&dev, OMSS_IOC_SESSION_CREATE, &c),
        libc::EFAULT,
    );
    t.ok(
        &format!("and no session was created ({before} live before and after)"),
        sessions(&dev) == before,
    );
    let ro_sink = udp_connected(port);
    let a = OmssSinkAdd {
        session_id: s,
        fd: ro_sink.as_raw_fd(),
        ..OmssSinkAdd::request()
    };
    t.check(
        "SINK_ADD from a read-only mapping",
        ioctl_readonly(&dev, OMSS_IOC_SINK_ADD, &a),
        libc::EFAULT,
    );
    t.ok(
        "and the socket was not taken: it joins normally afterwards",
        dev.add_sink(s, ro_sink.as_raw_fd()).is_ok(),
    );

    // A TCP subscriber that half-closed its side at once (the relay's end is in
    // CLOSE_WAIT) can still be written to: a valid sink.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (served, _) = l.accept().unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    t.ok(
        "a half-closed (CLOSE_WAIT) TCP subscriber is accepted as a sink",
        dev.add_sink(s, served.as_raw_fd()).is_ok(),
    );

    // ABI 1's stats layout still works; a bad pause value is refused.
    let mut v1 = OmssSessionStatsV1::request();
    v1.session_id = s;
    let r = dev.ioctl(OMSS_IOC_SESSION_STATS_V1, &mut v1);
    t.ok(
        "STATS in ABI 1's layout (104 bytes) still answers",
        r.is_ok() && v1.state == OMSS_SESSION_RUNNING && v1.size == 104,
    );
    let mut p = OmssEnginePause::request();
    p.paused = 2;
    t.check(
        "ENGINE_PAUSE with paused = 2",
        dev.ioctl(OMSS_IOC_ENGINE_PAUSE, &mut p),
        libc::EINVAL,
    );
    t.ok(
        "pause and resume",
        dev.pause(true).is_ok() && dev.pause(false).is_ok(),
    );

    // Limits: sessions per open file.
    let mut n = 1; // session `s` is open; `s2` was destroyed
    let limit = loop {
        match dev.create(0, OMSS_MODE_SHARE, 2) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        if n > 10_000 {
            break 0;
        }
    };
    t.check(
        &format!("session {} on one file", n + 1),
        Err::<(), _>(limit),
        libc::ENOSPC,
    );
    drop(dev); // closing destroys them all
    let dev = Device::open(OMSS_DEVICE).expect("reopen");
    t.ok(
        "a new file starts with room again",
        dev.create(0, OMSS_MODE_SHARE, 0).is_ok(),
    );

    assert_eq!(t.n, PLAN, "plan mismatch");
    if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
