//! Readable and JSON renderings of session stats.

use omss_uapi::*;
use serde_json::{json, Value};

pub(crate) fn session_state(s: u32) -> &'static str {
    match s {
        OMSS_SESSION_IDLE => "idle",
        OMSS_SESSION_RUNNING => "running",
        OMSS_SESSION_ENDED => "ended",
        OMSS_SESSION_FAILED => "failed",
        _ => "?",
    }
}

pub(crate) fn sink_state(s: u32) -> &'static str {
    match s {
        OMSS_SINK_ACTIVE => "active",
        OMSS_SINK_FAILED => "failed",
        OMSS_SINK_DONE => "done",
        OMSS_SINK_KICKED => "kicked",
        _ => "?",
    }
}

pub fn stats_json(s: &OmssSessionStats, sinks: &[OmssSinkStats]) -> Value {
    let per_entry = if s.entries_stored == 0 {
        0.0
    } else {
        s.pages_allocated as f64 / s.entries_stored as f64
    };
    // Pages allocated per page of payload stored: share ~1, copy ~1 + N.
    let copies = if s.pages_stored == 0 {
        0.0
    } else {
        s.pages_allocated as f64 / s.pages_stored as f64
    };
    json!({
        "session": {
            "id": s.session_id, "state": session_state(s.state), "source_err": s.source_err,
            "priority": s.priority, "mode": if s.mode == OMSS_MODE_COPY { "copy" } else { "share" },
            "ring_capacity": s.ring_capacity, "ring_fill": s.ring_fill, "nr_sinks": s.nr_sinks,
            "rx_bytes": s.rx_bytes, "rx_packets": s.rx_packets, "entries_stored": s.entries_stored,
            "entries_dropped": s.entries_dropped, "pages_allocated": s.pages_allocated,
            "pages_per_entry": per_entry, "pages_stored": s.pages_stored,
            "payload_copies": copies, "rx_errors": s.rx_errors,
            "rx_truncated": s.rx_truncated, "run_first": s.run_first, "run_last": s.run_last,
        },
        "sinks": sinks.iter().map(|k| json!({
            "id": k.sink_id, "state": sink_state(k.state), "err": k.err, "tx_bytes": k.tx_bytes,
            "tx_packets": k.tx_packets, "entries_lost": k.entries_lost, "lag": k.lag,
            "errors": k.errors,
        })).collect::<Vec<_>>(),
    })
}

pub fn print_stats(s: &OmssSessionStats, sinks: &[OmssSinkStats]) {
    println!(
        "session {} {} prio {} {}: rx {} pkts {} B, stored {}, dropped {}, ring {}/{}, sinks {}, pages {}, rx errors {}",
        s.session_id,
        session_state(s.state),
        s.priority,
        if s.mode == OMSS_MODE_COPY { "copy" } else { "share" },
        s.rx_packets,
        s.rx_bytes,
        s.entries_stored,
        s.entries_dropped,
        s.ring_fill,
        s.ring_capacity,
        s.nr_sinks,
        s.pages_allocated,
        s.rx_errors
    );
    for k in sinks {
        println!(
            "  sink {:>4} {:<6} err {:>3}  tx {:>8} pkts {:>11} B  lost {:>6}  lag {:>5}  errors {}",
            k.sink_id,
            sink_state(k.state),
            k.err,
            k.tx_packets,
            k.tx_bytes,
            k.entries_lost,
            k.lag,
            k.errors
        );
    }
}
