//! When a relayed stream is over, for `omssctl relay` and `omssctl adopt` alike: the source
//! ended and every sink settled, no data for a while (UDP sources never end), a drain or
//! overall time limit, or (for `adopt`) SIGINT or SIGTERM. Also the final report, which both
//! print the same way.

use crate::stats::{print_stats, stats_json};
use omss_uapi::*;
use omssctl::dev::{errno_text, Device};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long to hold a session and what to print: shared by `relay` and `adopt`.
#[derive(clap::Args)]
pub struct WaitArgs {
    /// Stop after this many seconds (default: when the source ends).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop once no data has arrived for this many seconds (after some did) and every sink
    /// sent what it had (waiting at most --drain-timeout more): for UDP sources, which never
    /// end.
    #[arg(long, value_name = "SECS")]
    pub idle_exit: Option<f64>,
    /// After the source ended (or went idle), wait at most this long for the sinks to drain.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub drain_timeout: f64,
    /// Print stats every this many seconds.
    #[arg(long, value_name = "SECS")]
    pub stats_every: Option<f64>,
    /// Print the final stats as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why omssctl stopped holding a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The source ended (or failed) and every sink is done, failed or kicked.
    Ended,
    /// The source ended, but the sinks did not all settle within --drain-timeout.
    DrainTimeout,
    /// --idle-exit: no data for that long, and the sinks sent what they had.
    Idle,
    /// --duration elapsed.
    Duration,
    /// SIGINT or SIGTERM (`adopt` only).
    Signal,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Ended => "ended",
            Stop::DrainTimeout => "drain_timeout",
            Stop::Idle => "idle",
            Stop::Duration => "duration",
            Stop::Signal => "signal",
        }
    }
}

fn err(what: &str, e: i32) -> String {
    format!("{what}: {}", errno_text(e))
}

/// Watches one session, one stats read per [`Watch::poll`].
pub struct Watch<'a> {
    a: &'a WaitArgs,
    start: Instant,
    last_print: Instant,
    last_rx: u64,
    last_rx_at: Instant,
    ended_at: Option<Instant>,
}

impl<'a> Watch<'a> {
    pub fn new(a: &'a WaitArgs) -> Self {
        let now = Instant::now();
        Self {
            a,
            start: now,
            last_print: now,
            last_rx: 0,
            last_rx_at: now,
            ended_at: None,
        }
    }

    /// Whether --duration has elapsed.
    pub fn timed_out(&self) -> bool {
        self.a
            .duration
            .is_some_and(|d| self.start.elapsed().as_secs_f64() >= d)
    }

    /// Reads the session's stats once (printing them if --stats-every is due); returns why
    /// to stop, if it is time.
    pub fn poll(&mut self, dev: &Device, session: u32) -> Result<Option<Stop>, String> {
        if stop_requested() {
            return Ok(Some(Stop::Signal));
        }
        let (s, k) = dev.stats(session, 0).map_err(|e| err("stats", e))?;
        if let Some(every) = self.a.stats_every {
            if self.last_print.elapsed().as_secs_f64() >= every {
                print_stats(&s, &k);
                self.last_print = Instant::now();
            }
        }
        let ended = s.state == OMSS_SESSION_ENDED || s.state == OMSS_SESSION_FAILED;
        if s.rx_packets != self.last_rx {
            (self.last_rx, self.last_rx_at) = (s.rx_packets, Instant::now());
        }
        if ended {
            self.ended_at.get_or_insert_with(Instant::now);
            if all_sinks_settled(dev, session)? {
                return Ok(Some(Stop::Ended));
            }
        }
        // Idle: no input for `idle_exit`, and the sinks sent what they had (or they have had
        // `drain_timeout` more to do it).
        let quiet = self.last_rx_at.elapsed().as_secs_f64();
        if let Some(t) = self.a.idle_exit {
            if self.last_rx > 0
                && quiet >= t
                && (quiet >= t + self.a.drain_timeout || all_sinks_sent(dev, session)?)
            {
                return Ok(Some(Stop::Idle));
            }
        }
        if self
            .ended_at
            .is_some_and(|t| t.elapsed().as_secs_f64() >= self.a.drain_timeout)
        {
            return Ok(Some(Stop::DrainTimeout));
        }
        if self.timed_out() {
            return Ok(Some(Stop::Duration));
        }
        Ok(None)
    }
}

/// Whether every active sink has sent every entry it has.
fn all_sinks_sent(dev: &Device, session: u32) -> Result<bool, String> {
    let (_, k) = dev.stats_all(session).map_err(|e| err("stats", e))?;
    Ok(k.iter().all(|s| s.state != OMSS_SINK_ACTIVE || s.lag == 0))
}

/// After the source ended: whether every sink is done, failed or kicked.
fn all_sinks_settled(dev: &Device, session: u32) -> Result<bool, String> {
    let (_, k) = dev.stats_all(session).map_err(|e| err("stats", e))?;
    Ok(k.iter().all(|s| s.state != OMSS_SINK_ACTIVE))
}

/// Prints the session's final stats, every sink's: readable, or as one JSON object
/// (`{"end": WHY, "session": {...}, "sinks": [...]}`, with the session's `token` when it is
/// persistent). Nothing if the session is gone.
pub fn print_final(dev: &Device, session: u32, json: bool, why: Option<Stop>, token: Option<u64>) {
    let Ok((s, k)) = dev.stats_all(session) else {
        return;
    };
    if json {
        let mut j = stats_json(&s, &k);
        j["end"] = why.map_or("commands", Stop::name).into();
        if let Some(t) = token {
            j["session"]["token"] = format!("{t:#x}").into();
        }
        println!("{j}");
    } else {
        print_stats(&s, &k);
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set the flag that [`Watch::poll`] reads, instead of killing.
pub fn install_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero `sigaction` is valid (empty mask, no flags); the handler only
        // stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether SIGINT or SIGTERM arrived (after [`install_stop_signals`]).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleeps up to `max`, waking early for a signal or the end of --duration.
pub fn nap(w: &Watch, max: Duration) {
    let end = Instant::now() + max;
    while !stop_requested() && !w.timed_out() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
