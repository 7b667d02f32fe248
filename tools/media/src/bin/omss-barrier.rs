//! `omss-barrier`: sequences two hosts over TCP. `wait --listen ADDR` returns once the
//! peer has signalled; `signal --connect ADDR` retries until the waiting side takes it.

use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Wait for, or send, a go-ahead between two hosts")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120.0, global = true)]
    timeout: f64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Wait for one signal on ADDR.
    Wait {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Signal the host waiting on ADDR.
    Signal {
        #[arg(long)]
        connect: SocketAddr,
    },
}

fn run(a: &Args) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout);
    match a.cmd {
        Cmd::Wait { listen } => {
            let l = TcpListener::bind(listen).map_err(|e| format!("listen {listen}: {e}"))?;
            // A blocking accept, so that waiting costs no CPU (a benchmark measures the idle
            // guest while this waits); a watchdog thread ends the wait at the deadline.
            let timeout = Duration::from_secs_f64(a.timeout);
            std::thread::spawn(move || {
                std::thread::sleep(timeout);
                eprintln!("omss-barrier: no signal on {listen} within {timeout:?}");
                std::process::exit(1);
            });
            loop {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let mut b = [0u8; 1];
                        if s.read_exact(&mut b).is_ok() && s.write_all(b"k").is_ok() {
                            return Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("accept on {listen}: {e}")),
                }
            }
        }
        Cmd::Signal { connect } => loop {
            let attempt =
                TcpStream::connect_timeout(&connect, Duration::from_secs(1)).and_then(|mut s| {
                    s.write_all(b"g")?;
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b)
                });
            match attempt {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => return Err(format!("cannot signal {connect}: {e}")),
            }
        },
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omss-barrier: {e}");
            ExitCode::FAILURE
        }
    }
}
