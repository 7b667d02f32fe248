//! `omssctl adopt`: takes over a parked persistent session (one whose relay died, see
//! `omssctl relay --persist-ms`) and holds it, as its relay would have, until the stream is
//! over; then reports its stats as `omssctl relay` does.

use crate::watch::{install_stop_signals, nap, print_final, Stop, WaitArgs, Watch};
use omssctl::dev::{errno_text, Device};
use std::time::Duration;

#[derive(clap::Args)]
pub struct AdoptArgs {
    /// Id of the parked session (as `omssctl relay --persist-ms` printed it).
    #[arg(long, value_name = "ID")]
    session: u32,
    /// The session's token: 0x-prefixed hex (as printed) or decimal.
    #[arg(long, value_name = "TOKEN", value_parser = parse_token)]
    token: u64,
    #[command(flatten)]
    wait: WaitArgs,
}

fn parse_token(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad token {s:?}: {e}"))
}

/// How often the session's stats are read.
const POLL: Duration = Duration::from_secs(1);

pub fn run(device: &str, a: &AdoptArgs) -> Result<(), String> {
    // Before the adoption, so that a signal never kills a process that holds the session.
    install_stop_signals();
    let dev = Device::open(device)?;
    let id = a.session;
    dev.adopt(id, a.token)
        .map_err(|e| format!("adopt session {id}: {}", errno_text(e)))?;
    eprintln!("omssctl: adopted session {id}");
    let mut watch = Watch::new(&a.wait);
    let why = loop {
        if let Some(why) = watch.poll(&dev, id)? {
            break why;
        }
        nap(&watch, POLL);
    };
    print_final(&dev, id, a.wait.json, Some(why), Some(a.token));
    if why == Stop::Signal {
        // Closing the file parks the session again, for its park time, still relaying.
        eprintln!("omssctl: stopped by a signal: session {id} is parked again (adopt it again with its token)");
    } else {
        eprintln!("omssctl: session {id}: {}", why.name());
        dev.destroy(id)
            .map_err(|e| format!("destroy session {id}: {}", errno_text(e)))?;
        eprintln!("omssctl: destroyed session {id}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_token;

    #[test]
    fn tokens_in_hex_or_decimal() {
        assert_eq!(parse_token("0xdeadbeef00000001"), Ok(0xdead_beef_0000_0001));
        assert_eq!(parse_token("0XFFFFFFFFFFFFFFFF"), Ok(u64::MAX));
        assert_eq!(parse_token("42"), Ok(42));
        assert!(parse_token("0x").is_err());
        assert!(parse_token("0x1ffffffffffffffff").is_err());
        assert!(parse_token("-1").is_err());
    }
}
