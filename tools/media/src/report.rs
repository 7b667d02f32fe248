//! The client report: totals over subscribers, pass/fail checks, and the
//! human-readable table. Field meanings are defined in [`crate::stats`].

use crate::stats::{ratio, Latency, SubReport};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Default, Serialize)]
pub struct TotalReport {
    pub subscribers: usize,
    pub stalled: usize,
    pub no_data: usize,
    pub ended: usize,
    pub packets: u64,
    pub bytes: u64,
    pub expected: u64,
    pub lost: u64,
    pub loss_ratio: f64,
    pub bad_checksum: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub stream_corrupt: u64,
    pub resyncs: u64,
    pub wrong_stream: u64,
    pub errors: u64,
    #[serde(flatten)]
    pub latency: Latency,
    pub elapsed_s: f64,
}

/// Pass/fail limits; `None` disables a check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub max_loss: Option<f64>,
    pub max_errors: Option<u64>,
    pub min_packets: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub total: TotalReport,
    pub subscribers: Vec<SubReport>,
    pub passed: bool,
    pub failures: Vec<String>,
    /// Why the client stopped: all_done, duration, idle, timeout or signal.
    pub end_reason: String,
}

impl Report {
    /// Build the report. `subs[i] = (report, sorted latency ns)`; stalled
    /// subscribers are excluded from the totals and the checks.
    pub fn build(subs: Vec<(SubReport, Vec<u64>)>, limits: &Limits, elapsed_s: f64) -> Self {
        let mut t = TotalReport {
            subscribers: subs.len(),
            elapsed_s,
            ..Default::default()
        };
        let mut all_lat: Vec<u64> = Vec::new();
        for (r, lat) in subs.iter().filter(|(r, _)| !r.stalled) {
            t.no_data += r.no_data as usize;
            t.ended += r.end as usize;
            t.packets += r.packets;
            t.bytes += r.bytes;
            t.expected += r.expected;
            t.lost += r.lost;
            t.bad_checksum += r.bad_checksum;
            t.reordered += r.reordered;
            t.duplicates += r.duplicates;
            t.stream_corrupt += r.stream_corrupt;
            t.resyncs += r.resyncs;
            t.wrong_stream += r.wrong_stream;
            t.errors += r.errors;
            all_lat.extend_from_slice(lat);
        }
        t.stalled = subs.iter().filter(|(r, _)| r.stalled).count();
        t.loss_ratio = ratio(t.lost, t.expected);
        all_lat.sort_unstable();
        t.latency = Latency::from_sorted(&all_lat);
        let subscribers: Vec<SubReport> = subs.into_iter().map(|(r, _)| r).collect();
        let failures = check(&t, &subscribers, limits);
        Report {
            total: t,
            subscribers,
            passed: failures.is_empty(),
            failures,
            end_reason: String::new(),
        }
    }
}

/// Violated limits, as messages (empty = pass). A subscriber without data
/// fails `max_loss` (its loss cannot be bounded) and `min_packets`.
pub fn check(t: &TotalReport, subs: &[SubReport], l: &Limits) -> Vec<String> {
    let mut f = Vec::new();
    let active = || subs.iter().filter(|r| !r.stalled);
    if let Some(m) = l.max_loss {
        if t.loss_ratio > m {
            f.push(format!(
                "total loss {}/{} = {} > {m}",
                t.lost, t.expected, t.loss_ratio
            ));
        }
        for r in active() {
            if r.no_data && r.expected == 0 {
                f.push(format!("subscriber {}: no data", r.id));
            } else if r.loss_ratio > m {
                f.push(format!(
                    "subscriber {}: loss {}/{} = {} > {m}",
                    r.id, r.lost, r.expected, r.loss_ratio
                ));
            }
        }
    }
    if let Some(m) = l.max_errors {
        if t.errors > m {
            f.push(format!("total integrity errors {} > {m}", t.errors));
        }
    }
    if let Some(m) = l.min_packets {
        for r in active().filter(|r| r.packets < m) {
            f.push(format!("subscriber {}: {} packets < {m}", r.id, r.packets));
        }
    }
    f
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

/// Human-readable table: total line, then per-subscriber lines (first 20
/// unless `verbose`), then failures.
pub fn render(r: &Report, verbose: bool) -> String {
    let t = &r.total;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "TOTAL subs={} stalled={} no_data={} ended={} packets={} bytes={} expected={} lost={} \
         loss={:.6} errors={} (bad_checksum={} reordered={} duplicates={} stream_corrupt={} \
         wrong_stream={}) latency_us median={} p99={} max={} elapsed={:.3}s",
        t.subscribers,
        t.stalled,
        t.no_data,
        t.ended,
        t.packets,
        t.bytes,
        t.expected,
        t.lost,
        t.loss_ratio,
        t.errors,
        t.bad_checksum,
        t.reordered,
        t.duplicates,
        t.stream_corrupt,
        t.wrong_stream,
        us(t.latency.latency_median_us),
        us(t.latency.latency_p99_us),
        us(t.latency.latency_max_us),
        t.elapsed_s
    );
    let _ = writeln!(
        s,
        "{:>5} {:<21} {:>9} {:>9} {:>7} {:>9} {:>6} {:>6} {:>6} {:>8} {:>9} {:>9}  flags",
        "sub",
        "addr",
        "packets",
        "lost",
        "loss%",
        "bad_csum",
        "reord",
        "dups",
        "wrong",
        "corrupt",
        "med_us",
        "p99_us"
    );
    let shown = if verbose {
        r.subscribers.len()
    } else {
        r.subscribers.len().min(20)
    };
    for x in &r.subscribers[..shown] {
        let flags: Vec<&str> = [
            (x.stalled, "stalled"),
            (x.no_data && !x.stalled, "no-data"),
            (x.end, "end"),
            (x.eof, "eof"),
        ]
        .iter()
        .filter_map(|&(b, n)| b.then_some(n))
        .collect();
        let _ = writeln!(
            s,
            "{:>5} {:<21} {:>9} {:>9} {:>7.3} {:>9} {:>6} {:>6} {:>6} {:>8} {:>9} {:>9}  {}",
            x.id,
            x.addr,
            x.packets,
            x.lost,
            x.loss_ratio * 100.0,
            x.bad_checksum,
            x.reordered,
            x.duplicates,
            x.wrong_stream,
            x.stream_corrupt,
            us(x.latency.latency_median_us),
            us(x.latency.latency_p99_us),
            flags.join(",")
        );
    }
    if shown < r.subscribers.len() {
        let _ = writeln!(
            s,
            "  ... {} more subscribers (--verbose)",
            r.subscribers.len() - shown
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SubStats;
    use crate::wire::{Frame, FLAG_END};

    /// Frames `seqs` (the last is END), received 10 ns per seq after send.
    fn feed(s: &mut SubStats, seqs: &[u64]) {
        for (i, &seq) in seqs.iter().enumerate() {
            let flags = if i + 1 == seqs.len() { FLAG_END } else { 0 };
            let f = Frame {
                stream_id: 1,
                seq,
                send_ts_ns: 1000,
                len: 100,
                flags,
            };
            s.on_frame(&f, 1000 + seq * 10);
        }
    }

    #[test]
    fn report_totals_and_checks() {
        let mut a = SubStats::new(1);
        feed(&mut a, &[0, 1, 2, 3]);
        let mut b = SubStats::new(1);
        feed(&mut b, &[0, 2, 3]);
        let c = SubStats::new(1);
        let mut subs = Vec::new();
        for (i, mut s) in [a, b, c].into_iter().enumerate() {
            let r = s.report(i, String::new(), None);
            subs.push((r, std::mem::take(&mut s.lat_ns)));
        }
        subs.push((SubReport::stalled(3, String::new()), Vec::new()));
        let limits = Limits {
            max_loss: Some(0.0),
            max_errors: Some(0),
            min_packets: Some(1),
        };
        let r = Report::build(subs, &limits, 1.0);
        let t = &r.total;
        assert_eq!((t.subscribers, t.stalled, t.no_data, t.ended), (4, 1, 1, 2));
        assert_eq!((t.packets, t.expected, t.lost), (7, 8, 1));
        assert_eq!(t.latency.latency_samples, 7);
        assert_eq!(t.latency.latency_median_us, Some(0.02));
        assert!(!r.passed);
        assert_eq!(r.failures.len(), 4, "{:?}", r.failures);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["total"]["lost"], 1);
        assert_eq!(json["subscribers"][1]["lost"], 1);
        assert!(json["subscribers"][0]["latency_p99_us"].is_f64());
        assert!(render(&r, false).contains("no-data"));
        let ok = Report::build(Vec::new(), &Limits::default(), 0.0);
        assert!(ok.passed);
    }
}
