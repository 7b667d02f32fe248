//! Counters and the summary printed at exit.

use serde_json::{json, Value};
use std::ops::AddAssign;
use std::time::Duration;

/// Counters; each thread keeps its own and they are added up at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets (datagrams or TCP chunks) read from the source.
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Packets delivered to a sink, counted once per sink (a packet sent to 8 sinks counts 8).
    pub tx_packets: u64,
    /// Bytes written to sinks, all sinks together.
    pub tx_bytes: u64,
    /// Packets a sink did not get, counted once per sink: UDP sends that failed (full
    /// buffer or other error), whole packets skipped by a sink that fell more than `--ring`
    /// packets behind, and packets still undelivered when `--drain-timeout` ran out.
    pub dropped: u64,
}

impl AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.dropped += o.dropped;
    }
}

/// The summary of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// "daemon" or "epoll".
    pub implementation: &'static str,
    pub stats: Stats,
    pub threads: usize,
    pub sinks: usize,
    pub elapsed: Duration,
}

impl Report {
    pub fn json(&self) -> Value {
        let s = &self.stats;
        json!({
            "impl": self.implementation,
            "rx_packets": s.rx_packets,
            "rx_bytes": s.rx_bytes,
            "tx_packets": s.tx_packets,
            "tx_bytes": s.tx_bytes,
            "dropped": s.dropped,
            "threads": self.threads,
            "sinks": self.sinks,
        })
    }

    pub fn line(&self) -> String {
        let s = &self.stats;
        format!(
            "{}: {} threads, {} sinks, {:.3} s: rx {} pkts {} B, tx {} pkts {} B, dropped {}",
            self.implementation,
            self.threads,
            self.sinks,
            self.elapsed.as_secs_f64(),
            s.rx_packets,
            s.rx_bytes,
            s.tx_packets,
            s.tx_bytes,
            s.dropped
        )
    }

    /// JSON on stdout with `--json`, otherwise one line on stderr.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.json());
        } else {
            eprintln!("{}", self.line());
        }
    }
}
