//! omss-httpd: a udpxy-style HTTP front end on OMSS. `GET /udp/ADDR:PORT` answers with a
//! response header, then hands the client's socket to the stream's OMSS session as a TCP
//! sink: from there on the kernel sends it the datagrams arriving at ADDR:PORT.
//!
//! Restarts keep the clients: SIGHUP re-executes the server (the same binary, pid and
//! listening socket), SIGUSR2 makes it exit for a new one started by hand with `--adopt`.
//! Either way it first writes the state file (its streams' session ids and tokens, their
//! clients), then its `/dev/omss` file closes and the persistent sessions are parked: they
//! go on relaying until the new server adopts them. SIGTERM and SIGINT stop it cleanly:
//! its sessions are destroyed, not parked.

mod request;
mod state;
mod status;
mod streams;
mod user_relay;

use clap::Parser;
use request::{read_request, HttpError, ReadError, Route};
use std::ffi::{CString, OsString};
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use streams::{Config, Hub, Mode};

#[derive(Parser)]
#[command(
    args_override_self = true,
    name = "omss-httpd",
    version,
    about = "Serve UDP (multicast) streams over HTTP, udpxy style, with OMSS as the data path",
    after_help = "Signals: SIGHUP restarts the server in place (execve of the same binary, same pid and \
listening socket) and SIGUSR2 makes it exit for a new server started with --adopt; both \
first write the state file, and the clients keep their streams without a gap (OMSS modes, \
--persist-ms > 0). SIGTERM and SIGINT stop it and close every stream."
)]
struct Args {
    /// Listen for HTTP clients here.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Streaming clients at most, all streams together (503 beyond).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_clients: usize,
    /// Streaming clients at most per stream (503 beyond).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_per_stream: usize,
    /// A new client of a stream that flows starts with its last MS ms at once (as far as
    /// the session's ring holds, see --ring), then goes on live; 0: with the next datagram.
    /// --mode user keeps the same burst in user space.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    burst_ms: u32,
    /// OMSS modes: each stream's session is persistent with this park time, so that a
    /// restart (SIGHUP, SIGUSR2 and --adopt) keeps its clients; a session that nobody adopts
    /// is destroyed when it is up. 0: sessions die with the server, no restart.
    #[arg(long, default_value_t = 10000, value_name = "MS")]
    persist_ms: u32,
    /// Where a restart writes the streams' state (default /run/omss-httpd-PORT.json).
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    /// Take over the streams of the server that wrote this state file (a restart): adopt
    /// their parked sessions and know their clients. The file is removed once read.
    #[arg(long, value_name = "STATE_FILE")]
    adopt: Option<PathBuf>,
    /// Keep a stream this long after its last client left.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    linger_ms: u64,
    /// The whole request header must arrive within this time (else 408).
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    header_timeout_ms: u64,
    /// Content-Type of the streams.
    #[arg(long, default_value = "video/mp2t", value_name = "T")]
    content_type: String,
    /// share and copy: an OMSS session per stream; user: a user-space copy relay.
    #[arg(long, value_enum, default_value = "share")]
    mode: Mode,
    /// Join IPv4 groups on the interface with this address (default: the kernel's choice).
    #[arg(long, default_value = "0.0.0.0", value_name = "IPV4")]
    mcast_if: Ipv4Addr,
    /// Join IPv6 groups on this interface (default: the kernel's choice).
    #[arg(long, value_name = "NAME")]
    mcast_if6: Option<String>,
    /// Ring capacity of each session in entries (0: the module's default).
    #[arg(long, default_value_t = 0)]
    ring: u32,
    /// SO_RCVBUF of each stream's source socket, bytes.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    rcvbuf: usize,
    /// Control device.
    #[arg(long, default_value = omss_uapi::OMSS_DEVICE)]
    device: String,
}

/// Connections still in their request phase at most; more are answered 503 at once.
const MAX_PENDING: usize = 256;
/// A restart lets the requests being read finish for at most this long; connections that
/// come meanwhile wait in the listen backlog for the new server.
const RESTART_DRAIN: Duration = Duration::from_secs(2);
/// `--adopt` waits this long for the old server's sessions to be parked.
const ADOPT_WAIT: Duration = Duration::from_secs(5);
/// The signals handled by the signal thread (blocked in every thread).
const SIGNALS: [i32; 4] = [libc::SIGHUP, libc::SIGUSR2, libc::SIGTERM, libc::SIGINT];

fn main() -> ExitCode {
    let a = Args::parse();
    match run(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omss-httpd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ifindex(name: &str) -> Result<u32, String> {
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(format!("--mcast-if6: no interface {name}"))
}

/// Every client holds a socket: raise RLIMIT_NOFILE's soft limit to the hard limit.
fn raise_nofile() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// Blocks `SIGNALS` in this thread and the threads it starts; returns the set.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc calls on a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// The listening socket at `fd`, kept open across execve, if it listens at `addr`.
fn own_listener(fd: i32, addr: SocketAddr) -> Option<TcpListener> {
    // SAFETY: only borrowed (ManuallyDrop) until checked; a descriptor that is not a
    // socket makes `local_addr` fail, nothing else.
    let l = ManuallyDrop::new(unsafe { TcpListener::from_raw_fd(fd) });
    if l.local_addr().ok()? != addr {
        return None;
    }
    state::set_cloexec(fd, true).ok()?;
    Some(ManuallyDrop::into_inner(l))
}

/// Reads the state file of `--adopt`, waiting up to `ADOPT_WAIT` for the old server to write
/// it (it does so on SIGUSR2, then exits).
fn read_state(path: &Path) -> Result<state::State, String> {
    let deadline = Instant::now() + ADOPT_WAIT;
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    state::read(path)
}

/// Listens at `addr`. A server that takes over (`retry`) waits up to `ADOPT_WAIT` for the old
/// one to let go of the address.
fn bind(addr: SocketAddr, retry: bool) -> Result<TcpListener, String> {
    let deadline = Instant::now() + ADOPT_WAIT;
    loop {
        match TcpListener::bind(addr) {
            Err(e)
                if retry && e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50))
            }
            r => return r.map_err(|e| format!("listen {addr}: {e}")),
        }
    }
}

/// The arguments of the restarted server: ours without `--adopt`, then `--adopt STATE`.
fn restart_args(args: &[OsString], state: &Path) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a == "--adopt" {
            skip = true;
        } else if !a.as_bytes().starts_with(b"--adopt=") {
            out.push(a.clone());
        }
    }
    out.push("--adopt".into());
    out.push(state.into());
    out
}

/// What the signal thread needs to restart or stop the server.
struct Control {
    hub: Arc<Hub>,
    listen_fd: i32,
    /// Connections in their request phase.
    pending: Arc<AtomicUsize>,
    /// Held by the accept loop around each accept; a restart takes it for good.
    gate: Mutex<()>,
    state_file: PathBuf,
    args: Vec<OsString>,
}

impl Control {
    fn signals(&self, set: libc::sigset_t) {
        loop {
            let mut sig = 0;
            // SAFETY: `set` is a valid, blocked set; `sig` a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            match sig {
                libc::SIGHUP => self.restart(true),
                libc::SIGUSR2 => self.restart(false),
                _ => self.hub.shutdown(),
            }
        }
    }

    /// Hands the streams over: writes the state file, then re-executes the server
    /// (`exec`) or exits. Returns only if that failed (the server goes on).
    fn restart(&self, exec: bool) {
        let what = if exec { "SIGHUP" } else { "SIGUSR2" };
        if !self.hub.can_restart() {
            eprintln!(
                "omss-httpd: {what}: a restart needs an OMSS mode and --persist-ms > 0; ignored"
            );
            return;
        }
        let _gate = self.gate.lock().unwrap();
        let deadline = Instant::now() + RESTART_DRAIN;
        while self.pending.load(SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.hub.with_state(|st| {
            let st = if exec {
                state::State {
                    exec_pid: Some(std::process::id()),
                    listen_fd: Some(self.listen_fd),
                    ..st
                }
            } else {
                st.without_fds()
            };
            if let Err(e) = state::write(&self.state_file, &st) {
                eprintln!(
                    "omss-httpd: {what}: cannot write {}: {e}; no restart",
                    self.state_file.display()
                );
                return;
            }
            let clients: usize = st.streams.iter().map(|s| s.clients.len()).sum();
            eprintln!(
                "omss-httpd: {what}: {} streams, {clients} clients handed over in {}; {}",
                st.streams.len(),
                self.state_file.display(),
                if exec { "restarting" } else { "exiting" }
            );
            if !exec {
                // Exiting closes /dev/omss: the sessions are parked for the new server.
                std::process::exit(0);
            }
            let fds: Vec<i32> = std::iter::once(self.listen_fd)
                .chain(
                    st.streams
                        .iter()
                        .flat_map(|s| s.clients.iter().filter_map(|c| c.fd)),
                )
                .collect();
            for &fd in &fds {
                let _ = state::set_cloexec(fd, false);
            }
            let e = execv_self(&restart_args(&self.args, &self.state_file));
            eprintln!("omss-httpd: {what}: execve: {e}; going on without a restart");
            for &fd in &fds {
                let _ = state::set_cloexec(fd, true);
            }
            let _ = std::fs::remove_file(&self.state_file);
        });
    }
}

/// Re-executes this binary (/proc/self/exe) with `args` (`args[0]` first); returns only on
/// failure. The close-on-exec descriptors close, /dev/omss among them.
fn execv_self(args: &[OsString]) -> io::Error {
    let c = |s: &[u8]| CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let (path, argv) = match (
        c(b"/proc/self/exe"),
        args.iter()
            .map(|a| c(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>(),
    ) {
        (Ok(p), Ok(v)) => (p, v),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and a NULL-terminated array, alive across the call.
    unsafe { libc::execv(path.as_ptr(), ptrs.as_ptr()) };
    io::Error::last_os_error()
}

fn run(a: Args) -> Result<(), String> {
    if a.max_clients == 0 || a.max_per_stream == 0 {
        return Err("--max-clients and --max-per-stream must be >= 1".into());
    }
    if a.burst_ms == omss_uapi::OMSS_LIMIT_NONE {
        return Err("--burst-ms: too large".into());
    }
    if a.persist_ms > omss_uapi::OMSS_PERSIST_MAX_MS {
        return Err(format!(
            "--persist-ms: at most {}",
            omss_uapi::OMSS_PERSIST_MAX_MS
        ));
    }
    // Before any thread starts: the signal thread takes them with sigwait.
    let sigset = block_signals();
    let cfg = Config {
        mode: a.mode,
        max_clients: a.max_clients,
        max_per_stream: a.max_per_stream,
        linger: Duration::from_millis(a.linger_ms),
        content_type: a.content_type.clone(),
        mcast_if: a.mcast_if,
        mcast_if6: a
            .mcast_if6
            .as_deref()
            .map(ifindex)
            .transpose()?
            .unwrap_or(0),
        rcvbuf: a.rcvbuf,
        ring: a.ring,
        burst_ms: a.burst_ms,
        persist_ms: a.persist_ms,
    };
    if cfg.content_type.contains(['\r', '\n']) {
        return Err("--content-type: one line".into());
    }
    raise_nofile();
    let hub = Arc::new(Hub::new(cfg, &a.device)?);
    let state_file = a
        .state_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/omss-httpd-{}.json", a.listen.port())));
    let adopted = a.adopt.as_deref().map(read_state).transpose()?;
    // After execve (the same pid), the listening socket is still open: no connection
    // attempt was refused meanwhile. Else bind (SO_REUSEADDR, as std does).
    let inherited = adopted
        .as_ref()
        .filter(|st| st.exec_pid == Some(std::process::id()))
        .and_then(|st| st.listen_fd)
        .and_then(|fd| own_listener(fd, a.listen));
    let listener = match inherited {
        Some(l) => l,
        None => bind(a.listen, a.adopt.is_some())?,
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listen {}: {e}", a.listen))?;
    if let (Some(st), Some(path)) = (&adopted, &a.adopt) {
        let same = st.exec_pid == Some(std::process::id());
        let n = hub.adopt(st, same, ADOPT_WAIT)?;
        let _ = std::fs::remove_file(path);
        eprintln!(
            "omss-httpd: adopted {n} of {} streams ({})",
            st.streams.len(),
            if same {
                "restarted in place"
            } else {
                "a new server"
            }
        );
    }
    let monitor = hub.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        monitor.poll();
    });
    let pending = Arc::new(AtomicUsize::new(0));
    let control = Arc::new(Control {
        hub: hub.clone(),
        listen_fd: listener.as_raw_fd(),
        pending: pending.clone(),
        gate: Mutex::new(()),
        state_file,
        args: std::env::args_os().collect(),
    });
    let c = control.clone();
    std::thread::spawn(move || c.signals(sigset));
    eprintln!(
        "omss-httpd: listening on {} ({} mode, pid {})",
        a.listen,
        a.mode.name(),
        std::process::id()
    );
    let header_timeout = Duration::from_millis(a.header_timeout_ms);
    loop {
        let mut pfd = libc::pollfd {
            fd: control.listen_fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 200) };
        // A restart holds the gate: no connection is accepted (they wait in the backlog).
        let _gate = control.gate.lock().unwrap();
        let sock = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                eprintln!("omss-httpd: accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if pending.fetch_add(1, SeqCst) >= MAX_PENDING {
            pending.fetch_sub(1, SeqCst);
            hub.count_response(503);
            let mut s = sock;
            s.set_nonblocking(true).ok();
            let _ = s.write_all(HttpError::Unavailable.response().as_bytes());
            continue;
        }
        let (hub, pending) = (hub.clone(), pending.clone());
        let spawned = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                serve(&hub, sock, header_timeout);
                pending.fetch_sub(1, SeqCst);
            });
        if let Err(e) = spawned {
            eprintln!("omss-httpd: thread: {e}");
        }
    }
}

/// One connection: its request, then its stream or its answer.
fn serve(hub: &Hub, mut sock: TcpStream, header_timeout: Duration) {
    let route = match read_request(&mut sock, header_timeout) {
        Ok(r) => r,
        Err(ReadError::Gone) => return,
        Err(ReadError::Http(e)) => return answer_error(hub, sock, e),
    };
    let (ctype, body) = match route {
        Route::Stream(addr) => {
            if let Err((e, sock)) = hub.join(addr, sock) {
                answer_error(hub, sock, e);
            }
            return;
        }
        Route::Status => ("text/html; charset=utf-8", status::html(&hub.snapshot())),
        Route::StatusJson => ("application/json", status::json(&hub.snapshot())),
        Route::Metrics => (
            "text/plain; version=0.0.4; charset=utf-8",
            status::metrics(&hub.snapshot()),
        ),
    };
    hub.count_response(200);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.set_write_timeout(Some(Duration::from_secs(5))).ok();
    if sock.write_all(head.as_bytes()).is_ok() && sock.write_all(body.as_bytes()).is_ok() {
        linger_close(sock);
    }
}

fn answer_error(hub: &Hub, mut sock: TcpStream, e: HttpError) {
    hub.count_response(e.code());
    sock.set_write_timeout(Some(Duration::from_secs(2))).ok();
    if sock.write_all(e.response().as_bytes()).is_ok() {
        linger_close(sock);
    }
}

/// Closes after the response without a reset: unread request bytes at close would make the
/// kernel send RST, which can destroy the response before the client reads it. So: FIN,
/// then read and discard until the client closes too (for at most 2 s).
fn linger_close(mut sock: TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    {
        sock.set_read_timeout(Some(left)).ok();
        match sock.read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_passes_the_arguments_and_one_adopt() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let st = Path::new("/run/s.json");
        assert_eq!(
            restart_args(
                &args(&["omss-httpd", "--listen", "0.0.0.0:80", "--burst-ms", "5"]),
                st
            ),
            args(&[
                "omss-httpd",
                "--listen",
                "0.0.0.0:80",
                "--burst-ms",
                "5",
                "--adopt",
                "/run/s.json"
            ])
        );
        assert_eq!(
            restart_args(
                &args(&[
                    "omss-httpd",
                    "--adopt",
                    "/tmp/old",
                    "--listen",
                    "[::]:80",
                    "--adopt=/x"
                ]),
                st
            ),
            args(&[
                "omss-httpd",
                "--listen",
                "[::]:80",
                "--adopt",
                "/run/s.json"
            ])
        );
    }

    #[test]
    fn only_a_listening_socket_at_the_address_is_taken_over() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let fd = l.as_raw_fd();
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(own_listener(fd, other).is_none());
        // A descriptor that is no socket is left alone too.
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(own_listener(f.as_raw_fd(), addr).is_none());
        state::set_cloexec(fd, false).unwrap();
        let taken = own_listener(fd, addr).expect("the listener");
        std::mem::forget(l); // `taken` owns the descriptor now.
                             // SAFETY: F_GETFD on an open fd.
        assert_ne!(
            unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC,
            0
        );
        drop(taken);
    }
}
