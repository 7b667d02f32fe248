//! omss-httpd: a udpxy-style HTTP front end on OMSS. `GET /udp/ADDR:PORT` answers with a
//! response header, then hands the client's socket to the stream's OMSS session as a TCP
//! sink: from there on the kernel sends it the datagrams arriving at ADDR:PORT.

mod request;
mod status;
mod streams;
mod user_relay;

use clap::Parser;
use request::{read_request, HttpError, ReadError, Route};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use streams::{Config, Hub, Mode};

#[derive(Parser)]
#[command(
    args_override_self = true,
    name = "omss-httpd",
    version,
    about = "Serve UDP (multicast) streams over HTTP, udpxy style, with OMSS as the data path"
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
    /// A late joiner's burst of recent data, in ms. Not supported yet: it needs the
    /// module's late-joiner burst; anything but 0 is reported and ignored.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    burst_ms: u64,
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

fn run(a: Args) -> Result<(), String> {
    if a.burst_ms > 0 {
        eprintln!(
            "omss-httpd: --burst-ms {}: not supported yet (needs the module's late-joiner burst); late joiners start with the next datagram",
            a.burst_ms
        );
    }
    if a.max_clients == 0 || a.max_per_stream == 0 {
        return Err("--max-clients and --max-per-stream must be >= 1".into());
    }
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
    };
    if cfg.content_type.contains(['\r', '\n']) {
        return Err("--content-type: one line".into());
    }
    raise_nofile();
    let hub = Arc::new(Hub::new(cfg, &a.device)?);
    let listener = TcpListener::bind(a.listen).map_err(|e| format!("listen {}: {e}", a.listen))?;
    let monitor = hub.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        monitor.poll();
    });
    eprintln!(
        "omss-httpd: listening on {} ({} mode)",
        a.listen,
        a.mode.name()
    );
    let header_timeout = Duration::from_millis(a.header_timeout_ms);
    let pending = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let sock = match conn {
            Ok(s) => s,
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
    Ok(())
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
