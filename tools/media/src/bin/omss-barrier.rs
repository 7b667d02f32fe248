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
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            loop {
                match l.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).map_err(|e| e.to_string())?;
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b).map_err(|e| format!("read: {e}"))?;
                        return s.write_all(b"k").map_err(|e| format!("write: {e}"));
                    }
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(e) => return Err(format!("no signal on {listen}: {e}")),
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
