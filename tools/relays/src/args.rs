//! The command line shared by both relays, and the policy that decides when to stop.

use clap::ArgGroup;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The relay's command line. It mirrors `omssctl relay` so that a benchmark can swap the
/// kernel relay for either user-space one.
#[derive(clap::Args, Debug, Clone)]
#[command(group(ArgGroup::new("source").required(true).args(["source_udp", "source_tcp"])))]
#[command(group(ArgGroup::new("sink").required(true).args(["sink_udp", "sink_tcp_listen"])))]
pub struct Args {
    /// Bind this UDP address; every datagram arriving there is one packet.
    #[arg(long, value_name = "IP:PORT")]
    pub source_udp: Option<SocketAddr>,
    /// Connect to this TCP media server (retrying for 5 s); its byte stream is relayed in
    /// chunks of up to 16 KiB.
    #[arg(long, value_name = "IP:PORT")]
    pub source_tcp: Option<SocketAddr>,
    /// UDP subscribers: subscriber i is at PORT+i of this address.
    #[arg(long, value_name = "IP:PORT")]
    pub sink_udp: Option<SocketAddr>,
    /// Listen here and accept the TCP subscribers before opening the source.
    #[arg(long, value_name = "IP:PORT")]
    pub sink_tcp_listen: Option<SocketAddr>,
    /// Number of subscribers (sinks).
    #[arg(short = 'n', long = "sinks", default_value_t = 1)]
    pub sinks: usize,
    /// Packets kept for slow sinks; a sink that falls further behind skips whole packets.
    #[arg(long, default_value_t = 256)]
    pub ring: usize,
    /// Threads (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop once no data has arrived for this many seconds (after some did).
    #[arg(long, value_name = "SECS")]
    pub idle_exit: Option<f64>,
    /// After a TCP source's end, wait at most this long for the sinks to drain.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub drain_timeout: f64,
    /// SO_RCVBUF of a UDP source, bytes (SO_RCVBUFFORCE when permitted).
    #[arg(long, default_value_t = 4 << 20)]
    pub rcvbuf: usize,
    /// Print the final counters as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn secs(what: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("{what}: {v} is not a number of seconds"))
}

impl Args {
    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.sinks == 0 {
            return Err("--sinks must be at least 1".into());
        }
        if self.ring == 0 {
            return Err("--ring must be at least 1".into());
        }
        if self.threads == Some(0) {
            return Err("--threads must be at least 1".into());
        }
        if let Some(base) = self.sink_udp {
            if base.port() as usize + self.sinks - 1 > u16::MAX as usize {
                return Err(format!(
                    "--sink-udp {base} -n {}: ports run past 65535",
                    self.sinks
                ));
            }
        }
        secs("--drain-timeout", self.drain_timeout)?;
        if let Some(d) = self.duration {
            secs("--duration", d)?;
        }
        if let Some(d) = self.idle_exit {
            secs("--idle-exit", d)?;
        }
        Ok(())
    }

    /// `--threads`, or the number of CPUs.
    pub fn threads_wanted(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs_f64(self.drain_timeout)
    }

    /// Bytes per source read: one datagram, or one TCP chunk.
    pub fn packet_size(&self) -> usize {
        if self.source_tcp.is_some() {
            TCP_CHUNK
        } else {
            UDP_MAX
        }
    }
}

/// Largest datagram (a UDP payload is at most 65535 bytes).
pub const UDP_MAX: usize = 65536;
/// Bytes per read from a TCP source.
pub const TCP_CHUNK: usize = 16 * 1024;

/// Decides when the source side stops: `--duration`, `--idle-exit`, or SIGINT/SIGTERM.
#[derive(Debug, Clone)]
pub struct StopClock {
    start: Instant,
    duration: Option<Duration>,
    idle: Option<Duration>,
    last_rx: Option<Instant>,
}

impl StopClock {
    pub fn new(a: &Args) -> Self {
        StopClock {
            start: Instant::now(),
            duration: a.duration.map(Duration::from_secs_f64),
            idle: a.idle_exit.map(Duration::from_secs_f64),
            last_rx: None,
        }
    }

    /// Records that data arrived at `now`.
    pub fn received(&mut self, now: Instant) {
        self.last_rx = Some(now);
    }

    /// Whether the relay should stop at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        stop_requested() || self.time_left(now) == Some(Duration::ZERO)
    }

    /// Time until the clock could expire without anything else happening, if it can.
    pub fn time_left(&self, now: Instant) -> Option<Duration> {
        let by_duration = self
            .duration
            .map(|d| (self.start + d).saturating_duration_since(now));
        let by_idle = match (self.idle, self.last_rx) {
            (Some(i), Some(t)) => Some((t + i).saturating_duration_since(now)),
            _ => None,
        };
        match (by_duration, by_idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM end the relay cleanly (with its summary) instead of killing it.
pub fn install_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero `sigaction` is valid (empty mask, no flags); the handler only
        // stores to an atomic, which is async-signal-safe. No SA_RESTART, so blocking calls
        // return EINTR and the loops look at the flag.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether SIGINT or SIGTERM arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A relay's exit status: 0 on success, else 1 with its error on stderr.
pub fn exit_status(name: &str, r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
