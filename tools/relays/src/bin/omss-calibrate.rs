//! `omss-calibrate`: what the benchmark's basic operations cost where it runs, so that the
//! emulated guest can be compared with the host: a 1,400-byte copy, a system call, and a
//! 1,400-byte UDP send (over loopback, to a socket that is never read). Each is timed over
//! `--iters` repetitions after a warm-up; prints one CSV line per operation: `op,ns_per_op`.

use clap::Parser;
use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "omss-calibrate",
    version,
    about = "Times a copy, a syscall and a UDP send"
)]
struct Cli {
    /// Repetitions of each operation.
    #[arg(long, default_value_t = 200_000)]
    iters: u64,
}

/// ns per call of `f`, over `iters` calls after `iters / 10` warm-up calls.
fn time(iters: u64, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn main() -> std::io::Result<()> {
    let n = Cli::parse().iters.max(1);
    let src = vec![7u8; 1400];
    let mut dst = vec![0u8; 1400];
    let copy = time(n, || {
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
    });
    // SAFETY: getppid has no preconditions and cannot fail.
    let syscall = time(n, || {
        black_box(unsafe { libc::getppid() });
    });
    let rx = UdpSocket::bind("127.0.0.1:0")?;
    let tx = UdpSocket::bind("127.0.0.1:0")?;
    tx.connect(rx.local_addr()?)?;
    // The receiver never reads: once its buffer is full the kernel drops at its queue, so
    // each send runs the whole transmit path and the loopback receive up to the socket.
    let udp = time(n, || {
        let _ = black_box(tx.send(black_box(&src)));
    });
    println!("copy_1400,{copy:.1}\nsyscall,{syscall:.1}\nudp_send_1400,{udp:.1}");
    Ok(())
}
