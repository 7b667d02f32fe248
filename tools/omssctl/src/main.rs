//! `omssctl`: control CLI for `/dev/omss`.

use omssctl::dev;
mod adopt;
mod netlink;
mod relay;
mod stats;
mod watch;

use clap::{Parser, Subcommand};
use dev::Device;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "omssctl",
    version,
    about = "Control the OMSS in-kernel streaming relay"
)]
struct Cli {
    /// Control device.
    #[arg(long, default_value = omss_uapi::OMSS_DEVICE)]
    device: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the module's ABI version and limits beside this tool's.
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show module-wide counters: workers, live sessions, entries and pages.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause every relay worker for a while (tasks wait in their queues), then resume.
    /// For maintenance and tests; the pause also ends if omssctl is killed.
    Pause {
        /// How long, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        ms: u64,
    },
    /// Relay a stream 1->N through a new session, then report its stats.
    #[command(args_override_self = true)]
    Relay(Box<relay::RelayArgs>),
    /// Take over a parked persistent session, hold it until its stream is over, then report
    /// its stats.
    ///
    /// The session's relay (`omssctl relay --persist-ms`) died and the session was parked,
    /// still relaying; this makes it this process's, as if it had created it, and waits as
    /// `relay` does: until the source ended and every sink is done, failed or kicked
    /// (or --idle-exit, --drain-timeout, --duration), then prints the final stats (--json as
    /// `relay --json`), destroys the session and exits 0. After SIGINT or SIGTERM it prints
    /// the stats too, exits 0 and leaves the session parked again, for its park time, to be
    /// adopted again. Fails (exit 1) with EPERM for a wrong token and ENOENT for a session
    /// that is not parked (unknown, adopted already, or reaped).
    #[command(args_override_self = true)]
    Adopt(Box<adopt::AdoptArgs>),
    /// Show every session and its sinks with their stats, as `ss` does (generic netlink
    /// family "omss", from any network namespace).
    ///
    /// One row per session (id, state, mode, priority class, drop policy, whether it is
    /// parked, ring fill/capacity, sinks, packets and bytes received, entries dropped) and
    /// under it one per sink (id, state, the errno that failed it, packets and bytes sent,
    /// entries lost, lag). Sessions of every process are listed, parked ones too. With
    /// --json: {"sessions":[{..., "sinks":[...]}]}. Fails (exit 1) if the module is not
    /// loaded, or if SESSION is given and there is no such session.
    Show {
        /// Only this session (and its sinks).
        session: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the module's events as they happen, one line each, as `ip monitor` does.
    ///
    /// Subscribes to the "events" group of the generic netlink family "omss" (events of
    /// every network namespace's sessions reach it) and prints, e.g.,
    /// `session 3 sink 7 kicked`, `session 3 sink 2 failed ECONNRESET`, `session 3 parked`.
    /// The events: a sink failed (with its errno), was kicked or is done; a session ended
    /// (source EOF), failed, was destroyed, parked or adopted. With --json each line is an
    /// object: {"event":"sink-kicked","session":3,"sink":7,"errno":0}. stdout is flushed
    /// after each line. "omssctl: monitoring" goes to stderr once subscribed.
    Monitor {
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
        /// Exit (0) after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Exit (0) after this many seconds.
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
    },
    /// Issue an ioctl with a zeroed 256-byte argument and print the result (for tests).
    #[command(hide = true)]
    RawIoctl {
        /// The ioctl command number, decimal or 0x-hex.
        cmd: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omssctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    match &cli.cmd {
        Cmd::Version { json } => {
            let v = Device::open(&cli.device)?.version()?;
            let tool = omss_uapi::OMSS_ABI_VERSION;
            if *json {
                let j = serde_json::json!({
                    "abi_version": v.abi_version, "tool_abi_version": tool,
                    "nr_classes": v.nr_classes, "ring_default": v.ring_default, "ring_max": v.ring_max,
                });
                println!("{j}");
            } else {
                println!(
                    "module ABI version {} (omssctl speaks {tool})",
                    v.abi_version
                );
                println!("priority classes   {}", v.nr_classes);
                println!(
                    "ring entries       default {}, max {}",
                    v.ring_default, v.ring_max
                );
            }
            if v.abi_version != tool {
                return Err(format!(
                    "ABI mismatch: module {}, omssctl {tool}",
                    v.abi_version
                ));
            }
            Ok(())
        }
        Cmd::Status { json } => {
            let e = Device::open(&cli.device)?
                .engine_stats()
                .map_err(|e| format!("OMSS_IOC_ENGINE_STATS: {}", dev::errno_text(e)))?;
            if *json {
                let j = serde_json::json!({
                    "workers": e.workers, "workers_idle": e.workers_idle, "sessions": e.sessions,
                    "entries_live": e.entries_live, "pages_live": e.pages_live, "tasks_run": e.tasks_run,
                });
                println!("{j}");
            } else {
                println!(
                    "workers {} ({} idle), sessions {}",
                    e.workers, e.workers_idle, e.sessions
                );
                println!(
                    "live entries {}, live pages {}, task runs {}",
                    e.entries_live, e.pages_live, e.tasks_run
                );
            }
            Ok(())
        }
        Cmd::Pause { ms } => {
            let d = Device::open(&cli.device)?;
            d.pause(true)
                .map_err(|e| format!("OMSS_IOC_ENGINE_PAUSE: {}", dev::errno_text(e)))?;
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            d.pause(false)
                .map_err(|e| format!("OMSS_IOC_ENGINE_PAUSE: {}", dev::errno_text(e)))
        }
        Cmd::Relay(a) => relay::run(&cli.device, a),
        Cmd::Adopt(a) => adopt::run(&cli.device, a),
        Cmd::Show { session, json } => netlink::show(*session, *json),
        Cmd::Monitor {
            json,
            count,
            timeout,
        } => {
            let t = match timeout {
                Some(t) if t.is_finite() && *t >= 0.0 => {
                    Some(std::time::Duration::from_secs_f64(*t))
                }
                Some(t) => return Err(format!("bad --timeout {t}")),
                None => None,
            };
            netlink::monitor(*json, *count, t)
        }
        Cmd::RawIoctl { cmd } => {
            let n = parse_u32(cmd)?;
            match Device::open(&cli.device)?.raw(n) {
                Ok(ret) => println!("ok {ret}"),
                Err(e) => println!("errno {} ({})", e, dev::errno_name(e)),
            }
            Ok(())
        }
    }
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad number {s:?}: {e}"))
}
