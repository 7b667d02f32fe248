//! `omss-floor`: drives the benchmark's pure-transmit floor (`tools/bench/floor`). Opens the
//! source and the sinks as the other relays do, then hands them to `/dev/omss_floor`, whose
//! ioctl relays in this thread, in the kernel: one page per source packet, sent to every sink
//! with `sock_sendmsg(MSG_SPLICE_PAGES)`. A measurement mode, never a production relay.

use clap::Parser;
use omss_relays::args::{exit_status, install_stop_signals};
use omss_relays::net::SinkSockets;
use omss_relays::{sys, Args, Report, Source, Stats};
use std::fs::OpenOptions;
use std::io;
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
    /// Instead of relaying, check that the module refuses bad input with the right errno
    /// (the QEMU suite's omss_floor.sh; the source and sink options are then ignored).
    #[arg(long)]
    check_bad_input: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check_bad_input {
        return exit_status("omss-floor", check_bad_input());
    }
    exit_status("omss-floor", run(&cli.args))
}

fn open_dev() -> Result<std::fs::File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/omss_floor")
        .map_err(|e| format!("/dev/omss_floor: {e} (is omss_floor.ko loaded?)"))
}

/// Each bad call must fail with its errno and leave the module usable.
fn check_bad_input() -> Result<(), String> {
    let dev = open_dev()?;
    let d = dev.as_raw_fd();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let (u, pipe) = (udp.as_raw_fd(), dev.as_raw_fd());
    let huge = vec![u; 65537];
    let cases: [(&str, io::Result<sys::FloorRun>, i32); 5] = [
        ("no sinks", sys::floor_run(d, u, &[]), libc::EINVAL),
        ("65537 sinks", sys::floor_run(d, u, &huge), libc::EINVAL),
        (
            "a closed source fd",
            sys::floor_run(d, 9999, &[u]),
            libc::EBADF,
        ),
        (
            "a source that is no socket",
            sys::floor_run(d, pipe, &[u]),
            libc::ENOTSOCK,
        ),
        (
            "a sink that is no socket",
            sys::floor_run(d, u, &[pipe]),
            libc::ENOTSOCK,
        ),
    ];
    let mut bad = 0;
    for (what, got, want) in cases {
        let errno = got.as_ref().err().and_then(io::Error::raw_os_error);
        let ok = errno == Some(want);
        bad += usize::from(!ok);
        println!(
            "{} {what}: {got:?} (want errno {want})",
            if ok { "ok" } else { "FAIL" }
        );
    }
    if bad > 0 {
        return Err(format!("{bad} bad-input cases got the wrong answer"));
    }
    Ok(())
}

fn run(a: &Args) -> Result<(), String> {
    a.validate()?;
    install_stop_signals();
    let dev = open_dev()?;
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
