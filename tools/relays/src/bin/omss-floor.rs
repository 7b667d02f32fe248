//! `omss-floor`: drives the benchmark's pure-transmit floor (`tools/bench/floor`). Opens the
//! source and the sinks as the other relays do, then hands them to `/dev/omss_floor`, whose
//! ioctl relays in this thread, in the kernel: one page per source packet, sent to every sink
//! with `sock_sendmsg(MSG_SPLICE_PAGES)`. A measurement mode, never a production relay.

use clap::Parser;
use omss_relays::args::{exit_status, install_stop_signals};
use omss_relays::net::SinkSockets;
use omss_relays::{sys, Args, Report, Source, Stats};
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "omss-floor",
    version,
    about = "The benchmark's pure-transmit floor: an in-kernel send loop with nothing else"
)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

fn main() -> ExitCode {
    exit_status("omss-floor", run(&Cli::parse().args))
}

fn run(a: &Args) -> Result<(), String> {
    a.validate()?;
    install_stop_signals();
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/omss_floor")
        .map_err(|e| format!("/dev/omss_floor: {e} (is omss_floor.ko loaded?)"))?;
    let socks = SinkSockets::open(a)?;
    let sinks = socks.fds();
    let source = Source::open(a)?;
    eprintln!("ready");
    // A UDP source ends on its receive timeout: wait for the stream's first packet, then
    // let the timeout be the idle limit.
    if let Source::Udp(s) = &source {
        s.set_read_timeout(a.duration.map(Duration::from_secs_f64))
            .map_err(|e| e.to_string())?;
        s.peek(&mut [0u8; 1])
            .map_err(|e| format!("no stream: {e}"))?;
        let idle = Duration::from_secs_f64(a.idle_exit.unwrap_or(3.0));
        s.set_read_timeout(Some(idle)).map_err(|e| e.to_string())?;
    }
    let start = Instant::now();
    let r = sys::floor_run(dev.as_raw_fd(), source.fd(), &sinks)
        .map_err(|e| format!("OMSS_FLOOR_RUN: {e}"))?;
    Report {
        implementation: "floor",
        stats: Stats {
            rx_packets: r.packets,
            tx_packets: r.sends,
            dropped: r.send_errors,
            ..Default::default()
        },
        threads: 1,
        sinks: sinks.len(),
        elapsed: start.elapsed(),
    }
    .print(a.json);
    Ok(())
}
