//! CSV parsing and aggregation of benchmark runs.
//!
//! Both CSV files carry a header line; columns are looked up by name, so their
//! order does not matter and extra columns are ignored. Blank lines and lines
//! starting with `#` are skipped. Values are plain (no quoting).

use std::collections::BTreeMap;
use std::fmt;

/// Loss ratio at or below which a point counts as "without loss".
pub const LOSS_OK: f64 = 0.001;
/// Relay CPU % at or above which a point counts as saturated.
pub const CPU_SATURATED: f64 = 95.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub const ALL: [Proto; 2] = [Proto::Udp, Proto::Tcp];

    pub fn parse(s: &str) -> Option<Proto> {
        match s.trim().to_ascii_lowercase().as_str() {
            "udp" => Some(Proto::Udp),
            "tcp" => Some(Proto::Tcp),
            _ => None,
        }
    }

    /// Lower-case name, as in the CSV and the figure file names.
    pub fn key(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Impl {
    Omss,
    OmssM,
    Daemon,
    Epoll,
    /// The io_uring relay with plain sends (WRITE_FIXED from registered buffers).
    Iouring,
    /// The io_uring relay with zero-copy sends (SEND_ZC from registered buffers).
    IouringZc,
    /// GStreamer 1.22 (udpsrc ! multiudpsink, tcpclientsrc ! tcpserversink).
    Gstreamer,
    /// The pure-transmit floor (tools/bench/floor): a cost mark, not a relay to deploy.
    Floor,
    /// The device floor: pktgen sending the same frames with no socket layer (UDP only).
    Pktgen,
}

impl Impl {
    pub const ALL: [Impl; 9] = [
        Impl::Omss,
        Impl::OmssM,
        Impl::Daemon,
        Impl::Epoll,
        Impl::Iouring,
        Impl::IouringZc,
        Impl::Gstreamer,
        Impl::Floor,
        Impl::Pktgen,
    ];

    pub fn parse(s: &str) -> Option<Impl> {
        match s.trim().to_ascii_lowercase().as_str() {
            "omss" => Some(Impl::Omss),
            "omss-m" => Some(Impl::OmssM),
            "daemon" => Some(Impl::Daemon),
            "epoll" => Some(Impl::Epoll),
            "iouring" => Some(Impl::Iouring),
            "iouring-zc" => Some(Impl::IouringZc),
            "gstreamer" => Some(Impl::Gstreamer),
            "floor" => Some(Impl::Floor),
            "pktgen" => Some(Impl::Pktgen),
            _ => None,
        }
    }

    /// Display name used in tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Omss => "OMSS",
            Impl::OmssM => "OMSS-M",
            Impl::Daemon => "Daemon",
            Impl::Epoll => "Best-practice (epoll)",
            Impl::Iouring => "io_uring",
            Impl::IouringZc => "io_uring (zero copy)",
            Impl::Gstreamer => "GStreamer",
            Impl::Floor => "Floor (pure transmit)",
            Impl::Pktgen => "Device floor (pktgen)",
        }
    }
}

/// One measured run (one CSV row).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub proto: Proto,
    pub imp: Impl,
    /// Payload bytes; 1400 for the fan-out test (not in its CSV).
    pub payload: u64,
    pub subscribers: u64,
    pub run: u64,
    pub relay_cpu_pct: f64,
    pub busy_s: f64,
    pub elapsed_s: f64,
    pub offered_pkts: u64,
    pub delivered_pkts: u64,
    pub loss_ratio: f64,
}

/// Payload of every fan-out run (the paper's 1,400-byte streams).
pub const FANOUT_PAYLOAD: u64 = 1400;

#[derive(Debug)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

const FANOUT_COLS: &[&str] = &[
    "proto",
    "impl",
    "subscribers",
    "run",
    "relay_cpu_pct",
    "busy_s",
    "elapsed_s",
    "offered_pkts",
    "delivered_pkts",
    "loss_ratio",
];

/// Parse `fanout.csv` (payload is fixed at [`FANOUT_PAYLOAD`]).
pub fn parse_fanout(text: &str, file: &str) -> Result<Vec<Run>, ParseError> {
    parse_runs(text, file, false)
}

/// Parse `payload.csv` (has an extra `payload` column).
pub fn parse_payload(text: &str, file: &str) -> Result<Vec<Run>, ParseError> {
    parse_runs(text, file, true)
}

fn parse_runs(text: &str, file: &str, with_payload: bool) -> Result<Vec<Run>, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut wanted: Vec<&str> = FANOUT_COLS.to_vec();
    if with_payload {
        wanted.push("payload");
    }
    let mut idx = BTreeMap::new();
    for col in &wanted {
        let i = names
            .iter()
            .position(|n| n == col)
            .ok_or_else(|| ParseError(format!("{file}: header lacks column `{col}`")))?;
        idx.insert(*col, i);
    }

    let mut runs = Vec::new();
    for (lineno, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |col: &str| -> Result<&str, ParseError> {
            fields
                .get(idx[col])
                .copied()
                .ok_or_else(|| ParseError(format!("{file}:{lineno}: missing field `{col}`")))
        };
        let num = |col: &str| -> Result<f64, ParseError> {
            let s = get(col)?;
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| ParseError(format!("{file}:{lineno}: `{col}`: bad number {s:?}")))
        };
        let int = |col: &str| -> Result<u64, ParseError> {
            let s = get(col)?;
            s.parse::<u64>()
                .map_err(|_| ParseError(format!("{file}:{lineno}: `{col}`: bad integer {s:?}")))
        };
        let proto_s = get("proto")?;
        let proto = Proto::parse(proto_s)
            .ok_or_else(|| ParseError(format!("{file}:{lineno}: unknown proto {proto_s:?}")))?;
        let impl_s = get("impl")?;
        let imp = Impl::parse(impl_s)
            .ok_or_else(|| ParseError(format!("{file}:{lineno}: unknown impl {impl_s:?}")))?;
        runs.push(Run {
            proto,
            imp,
            payload: if with_payload {
                int("payload")?
            } else {
                FANOUT_PAYLOAD
            },
            subscribers: int("subscribers")?,
            run: int("run")?,
            relay_cpu_pct: num("relay_cpu_pct")?,
            busy_s: num("busy_s")?,
            elapsed_s: num("elapsed_s")?,
            offered_pkts: int("offered_pkts")?,
            delivered_pkts: int("delivered_pkts")?,
            loss_ratio: num("loss_ratio")?,
        });
    }
    Ok(runs)
}

/// Median of a sample (mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Minimum and maximum of a sample.
pub fn spread(values: &[f64]) -> Option<(f64, f64)> {
    let min = values.iter().copied().min_by(f64::total_cmp)?;
    let max = values.iter().copied().max_by(f64::total_cmp)?;
    Some((min, max))
}

/// Relay CPU time per delivered packet of one run, in microseconds.
/// `None` when nothing was delivered.
pub fn us_per_pkt(r: &Run) -> Option<f64> {
    (r.delivered_pkts > 0).then(|| r.busy_s * 1e6 / r.delivered_pkts as f64)
}

/// The runs of one (proto, impl, payload, subscribers) cell, aggregated.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub proto: Proto,
    pub imp: Impl,
    pub payload: u64,
    pub subscribers: u64,
    pub runs: usize,
    pub cpu_median: f64,
    pub cpu_min: f64,
    pub cpu_max: f64,
    pub loss_median: f64,
    /// Median over runs of busy_s / delivered_pkts, in µs (runs delivering
    /// nothing are left out; `None` if all were).
    pub us_median: Option<f64>,
    pub us_min: Option<f64>,
    pub us_max: Option<f64>,
}

impl Point {
    /// Without loss and not saturated: counts toward capacity.
    pub fn ok(&self) -> bool {
        self.loss_median <= LOSS_OK && self.cpu_median < CPU_SATURATED
    }
}

/// Group runs by (proto, impl, payload, subscribers) and aggregate each group.
/// The result is sorted by that key.
pub fn aggregate(runs: &[Run]) -> Vec<Point> {
    let mut groups: BTreeMap<(Proto, Impl, u64, u64), Vec<&Run>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((r.proto, r.imp, r.payload, r.subscribers))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((proto, imp, payload, subscribers), rs)| {
            let cpu: Vec<f64> = rs.iter().map(|r| r.relay_cpu_pct).collect();
            let loss: Vec<f64> = rs.iter().map(|r| r.loss_ratio).collect();
            let us: Vec<f64> = rs.iter().filter_map(|r| us_per_pkt(r)).collect();
            let (cpu_min, cpu_max) = spread(&cpu).expect("group is non-empty");
            let us_spread = spread(&us);
            Point {
                proto,
                imp,
                payload,
                subscribers,
                runs: rs.len(),
                cpu_median: median(&cpu).expect("group is non-empty"),
                cpu_min,
                cpu_max,
                loss_median: median(&loss).expect("group is non-empty"),
                us_median: median(&us),
                us_min: us_spread.map(|s| s.0),
                us_max: us_spread.map(|s| s.1),
            }
        })
        .collect()
}

/// The points of one (proto, impl) series, in ascending key order.
pub fn series(points: &[Point], proto: Proto, imp: Impl) -> Vec<&Point> {
    points
        .iter()
        .filter(|p| p.proto == proto && p.imp == imp)
        .collect()
}

/// Capacity of one implementation in the fan-out test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// No fan-out data for this (proto, impl).
    NotMeasured,
    /// Some measured count failed; the capacity is the largest count that
    /// passed, or `None` if even the smallest measured count (`min`) failed.
    Reached { capacity: Option<u64>, min: u64 },
    /// Every measured count passed, up to and including `max`: the capacity
    /// is above the measured range.
    NotReached { max: u64 },
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capacity::NotMeasured => f.write_str("not measured"),
            Capacity::Reached {
                capacity: Some(c), ..
            } => write!(f, "{c}"),
            Capacity::Reached {
                capacity: None,
                min,
            } => write!(f, "< {min} (failed at the smallest count measured)"),
            Capacity::NotReached { max } => write!(f, "> max measured ({max}; not reached)"),
        }
    }
}

/// Capacity = the largest subscriber count whose median loss ratio is
/// <= [`LOSS_OK`] and whose median relay CPU is < [`CPU_SATURATED`] %.
pub fn capacity(points: &[Point], proto: Proto, imp: Impl) -> Capacity {
    let s = series(points, proto, imp);
    let (Some(first), Some(last)) = (
        s.iter().min_by_key(|p| p.subscribers),
        s.iter().max_by_key(|p| p.subscribers),
    ) else {
        return Capacity::NotMeasured;
    };
    if s.iter().all(|p| p.ok()) {
        return Capacity::NotReached {
            max: last.subscribers,
        };
    }
    Capacity::Reached {
        capacity: s.iter().filter(|p| p.ok()).map(|p| p.subscribers).max(),
        min: first.subscribers,
    }
}

/// A ratio that may only be known as a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ratio {
    Exact(f64),
    /// The true ratio is at least this.
    AtLeast(f64),
    /// The true ratio is at most this.
    AtMost(f64),
    /// Not computable from the data (reason).
    Unknown(&'static str),
}

impl Ratio {
    /// Whether the data demonstrate `ratio >= target`.
    pub fn shows_at_least(self, target: f64) -> bool {
        match self {
            Ratio::Exact(r) | Ratio::AtLeast(r) => r >= target,
            Ratio::AtMost(_) | Ratio::Unknown(_) => false,
        }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ratio::Exact(r) => write!(f, "{r:.2}"),
            Ratio::AtLeast(r) => write!(f, ">= {r:.2} (lower bound)"),
            Ratio::AtMost(r) => write!(f, "<= {r:.2} (upper bound)"),
            Ratio::Unknown(why) => write!(f, "n/a ({why})"),
        }
    }
}

/// Capacity of `a` divided by capacity of `b`, exact or as a bound.
pub fn capacity_ratio(a: Capacity, b: Capacity) -> Ratio {
    // Each capacity as an interval [lo, hi]; hi = None: unbounded above.
    let interval = |c: Capacity| -> Option<(f64, Option<f64>)> {
        match c {
            Capacity::NotMeasured => None,
            Capacity::Reached {
                capacity: Some(c), ..
            } => Some((c as f64, Some(c as f64))),
            // Failed at the smallest count: somewhere below `min`.
            Capacity::Reached {
                capacity: None,
                min,
            } => Some((0.0, Some(min as f64))),
            Capacity::NotReached { max } => Some((max as f64, None)),
        }
    };
    let (Some((a_lo, a_hi)), Some((b_lo, b_hi))) = (interval(a), interval(b)) else {
        return Ratio::Unknown("capacity not measured");
    };
    // ratio lies in [a_lo / b_hi, a_hi / b_lo].
    let lower = b_hi
        .filter(|&bh| bh > 0.0 && a_lo > 0.0)
        .map(|bh| a_lo / bh);
    let upper = a_hi.filter(|_| b_lo > 0.0).map(|ah| ah / b_lo);
    match (lower, upper) {
        (Some(l), Some(u)) if l == u => Ratio::Exact(l),
        (Some(l), _) => Ratio::AtLeast(l),
        (None, Some(u)) => Ratio::AtMost(u),
        (None, None) => Ratio::Unknown("the capacities measured do not bound it"),
    }
}

/// Where OMSS's CPU per delivered packet first drops below OMSS-M's.
#[derive(Debug, Clone, PartialEq)]
pub enum Crossover {
    NotMeasured,
    /// OMSS is lower at the smallest payload measured already.
    AtOrBelowSmallest {
        smallest: u64,
        reversals: Vec<u64>,
    },
    /// Smallest payload at which OMSS is lower; `reversals` lists larger
    /// payloads where OMSS-M is lower again.
    At {
        payload: u64,
        reversals: Vec<u64>,
    },
    /// OMSS is never lower (largest payload compared given).
    Never {
        largest: u64,
    },
}

impl Crossover {
    /// Upper bound on the crossover payload, if the data give one.
    pub fn upper_bound(&self) -> Option<u64> {
        match self {
            Crossover::AtOrBelowSmallest { smallest, .. } => Some(*smallest),
            Crossover::At { payload, .. } => Some(*payload),
            Crossover::NotMeasured | Crossover::Never { .. } => None,
        }
    }
}

impl fmt::Display for Crossover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rev = |f: &mut fmt::Formatter<'_>, r: &[u64]| -> fmt::Result {
            if r.is_empty() {
                return Ok(());
            }
            let list: Vec<String> = r.iter().map(|p| format!("{p} B")).collect();
            write!(
                f,
                " (not monotonic: OMSS-M lower again at {})",
                list.join(", ")
            )
        };
        match self {
            Crossover::NotMeasured => f.write_str("not measured in this run"),
            Crossover::AtOrBelowSmallest {
                smallest,
                reversals,
            } => {
                write!(f, "<= {smallest} B (smallest payload measured)")?;
                rev(f, reversals)
            }
            Crossover::At { payload, reversals } => {
                write!(f, "{payload} B")?;
                rev(f, reversals)
            }
            Crossover::Never { largest } => write!(
                f,
                "none: OMSS is never cheaper per packet than OMSS-M (payloads up to {largest} B)"
            ),
        }
    }
}

/// Subscriber count used for the payload test of `proto`: the largest present.
pub fn payload_subscribers(points: &[Point], proto: Proto) -> Option<u64> {
    points
        .iter()
        .filter(|p| p.proto == proto)
        .map(|p| p.subscribers)
        .max()
}

/// Crossover over the payload-test points of `proto` at `subscribers`,
/// comparing median CPU per delivered packet at payloads where both OMSS and
/// OMSS-M have a value.
pub fn crossover(points: &[Point], proto: Proto, subscribers: u64) -> Crossover {
    let per_payload = |imp| -> BTreeMap<u64, f64> {
        points
            .iter()
            .filter(|p| p.proto == proto && p.imp == imp && p.subscribers == subscribers)
            .filter_map(|p| p.us_median.map(|u| (p.payload, u)))
            .collect()
    };
    let omss = per_payload(Impl::Omss);
    let omss_m = per_payload(Impl::OmssM);
    let both: Vec<(u64, bool)> = omss
        .iter()
        .filter_map(|(pl, o)| omss_m.get(pl).map(|m| (*pl, o < m)))
        .collect();
    let Some(&(smallest, _)) = both.first() else {
        return Crossover::NotMeasured;
    };
    let Some(i) = both.iter().position(|&(_, better)| better) else {
        return Crossover::Never {
            largest: both.last().map_or(smallest, |b| b.0),
        };
    };
    let reversals = both[i..]
        .iter()
        .filter(|(_, better)| !better)
        .map(|(pl, _)| *pl)
        .collect();
    if i == 0 {
        Crossover::AtOrBelowSmallest {
            smallest,
            reversals,
        }
    } else {
        Crossover::At {
            payload: both[i].0,
            reversals,
        }
    }
}

/// The subscriber count at which CPU-per-packet ratios are taken: the largest
/// count that every implementation present for `proto` measured without loss
/// (median loss <= [`LOSS_OK`]). Also returns the implementations considered. The device
/// floor is not a relay and has no say: pktgen's losses are its own pacing's.
pub fn comparison_point(points: &[Point], proto: Proto) -> Option<(u64, Vec<Impl>)> {
    let present: Vec<Impl> = Impl::ALL
        .into_iter()
        .filter(|&i| i != Impl::Pktgen)
        .filter(|&i| points.iter().any(|p| p.proto == proto && p.imp == i))
        .collect();
    if present.is_empty() {
        return None;
    }
    let lossless = |imp: Impl, n: u64| {
        points.iter().any(|p| {
            p.proto == proto
                && p.imp == imp
                && p.subscribers == n
                && p.loss_median <= LOSS_OK
                && p.us_median.is_some()
        })
    };
    let n = points
        .iter()
        .filter(|p| p.proto == proto)
        .map(|p| p.subscribers)
        .filter(|&n| present.iter().all(|&i| lossless(i, n)))
        .max()?;
    Some((n, present))
}

/// Median CPU per delivered packet of `imp` at `subscribers`.
pub fn us_at(points: &[Point], proto: Proto, imp: Impl, subscribers: u64) -> Option<f64> {
    points
        .iter()
        .find(|p| p.proto == proto && p.imp == imp && p.subscribers == subscribers)
        .and_then(|p| p.us_median)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(proto: Proto, imp: Impl, payload: u64, subs: u64, cpu: f64, busy: f64) -> Run {
        Run {
            proto,
            imp,
            payload,
            subscribers: subs,
            run: 0,
            relay_cpu_pct: cpu,
            busy_s: busy,
            elapsed_s: 10.0,
            offered_pkts: 1000,
            delivered_pkts: 1000,
            loss_ratio: 0.0,
        }
    }

    fn point(imp: Impl, subs: u64, cpu: f64, loss: f64) -> Point {
        Point {
            proto: Proto::Udp,
            imp,
            payload: 1400,
            subscribers: subs,
            runs: 1,
            cpu_median: cpu,
            cpu_min: cpu,
            cpu_max: cpu,
            loss_median: loss,
            us_median: Some(cpu),
            us_min: Some(cpu),
            us_max: Some(cpu),
        }
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn spread_min_max() {
        assert_eq!(spread(&[5.0, 1.0, 9.0]), Some((1.0, 9.0)));
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn aggregate_groups_and_medians() {
        let mut runs = vec![
            run(Proto::Udp, Impl::Omss, 1400, 100, 10.0, 1.0),
            run(Proto::Udp, Impl::Omss, 1400, 100, 30.0, 3.0),
            run(Proto::Udp, Impl::Omss, 1400, 100, 20.0, 2.0),
            run(Proto::Udp, Impl::Daemon, 1400, 100, 50.0, 5.0),
        ];
        // A run that delivered nothing is left out of the per-packet median.
        let mut dead = run(Proto::Udp, Impl::Daemon, 1400, 100, 60.0, 6.0);
        dead.delivered_pkts = 0;
        runs.push(dead);
        let pts = aggregate(&runs);
        assert_eq!(pts.len(), 2);
        let o = &pts[0];
        assert_eq!((o.imp, o.runs), (Impl::Omss, 3));
        assert_eq!((o.cpu_median, o.cpu_min, o.cpu_max), (20.0, 10.0, 30.0));
        // 2 s / 1000 pkts = 2000 µs.
        assert_eq!(o.us_median, Some(2000.0));
        assert_eq!((o.us_min, o.us_max), (Some(1000.0), Some(3000.0)));
        let d = &pts[1];
        assert_eq!(d.cpu_median, 55.0);
        assert_eq!(d.us_median, Some(5000.0));
    }

    #[test]
    fn capacity_cases() {
        let pts = vec![
            point(Impl::Omss, 100, 10.0, 0.0),
            point(Impl::Omss, 200, 20.0, 0.0),
            point(Impl::Daemon, 100, 40.0, 0.0),
            point(Impl::Daemon, 200, 96.0, 0.0),  // saturated
            point(Impl::OmssM, 100, 10.0, 0.002), // lossy at smallest
            point(Impl::OmssM, 200, 10.0, 0.01),
            point(Impl::Epoll, 100, 10.0, 0.0),
            point(Impl::Epoll, 200, 10.0, 0.0011), // lossy
            point(Impl::Epoll, 300, 10.0, 0.001),  // exactly at the limit: ok
        ];
        assert_eq!(
            capacity(&pts, Proto::Udp, Impl::Omss),
            Capacity::NotReached { max: 200 }
        );
        assert_eq!(
            capacity(&pts, Proto::Udp, Impl::Daemon),
            Capacity::Reached {
                capacity: Some(100),
                min: 100
            }
        );
        assert_eq!(
            capacity(&pts, Proto::Udp, Impl::OmssM),
            Capacity::Reached {
                capacity: None,
                min: 100
            }
        );
        assert_eq!(
            capacity(&pts, Proto::Udp, Impl::Epoll),
            Capacity::Reached {
                capacity: Some(300),
                min: 100
            }
        );
        assert_eq!(
            capacity(&pts, Proto::Tcp, Impl::Omss),
            Capacity::NotMeasured
        );
    }

    #[test]
    fn capacity_ratios() {
        let exact = |c| Capacity::Reached {
            capacity: Some(c),
            min: 100,
        };
        assert_eq!(capacity_ratio(exact(4000), exact(2000)), Ratio::Exact(2.0));
        // OMSS above range, Daemon exact: lower bound.
        assert_eq!(
            capacity_ratio(Capacity::NotReached { max: 5000 }, exact(2000)),
            Ratio::AtLeast(2.5)
        );
        // Daemon failed even at 100: OMSS/Daemon > 4000/100.
        assert_eq!(
            capacity_ratio(
                exact(4000),
                Capacity::Reached {
                    capacity: None,
                    min: 100
                }
            ),
            Ratio::AtLeast(40.0)
        );
        // Daemon above range, OMSS exact: upper bound.
        assert_eq!(
            capacity_ratio(exact(4000), Capacity::NotReached { max: 1000 }),
            Ratio::AtMost(4.0)
        );
        assert!(matches!(
            capacity_ratio(
                Capacity::NotReached { max: 10 },
                Capacity::NotReached { max: 10 }
            ),
            Ratio::Unknown(_)
        ));
        assert!(matches!(
            capacity_ratio(Capacity::NotMeasured, exact(1)),
            Ratio::Unknown(_)
        ));
        assert!(Ratio::AtLeast(2.6).shows_at_least(2.5));
        assert!(!Ratio::AtLeast(2.0).shows_at_least(2.5));
        assert!(!Ratio::AtMost(4.0).shows_at_least(2.5));
    }

    fn pl(imp: Impl, payload: u64, us: f64) -> Point {
        Point {
            payload,
            subscribers: 800,
            us_median: Some(us),
            ..point(imp, 800, 10.0, 0.0)
        }
    }

    #[test]
    fn crossover_cases() {
        // OMSS cheaper from 256 B on.
        let pts = vec![
            pl(Impl::Omss, 64, 5.0),
            pl(Impl::OmssM, 64, 4.0),
            pl(Impl::Omss, 128, 5.0),
            pl(Impl::OmssM, 128, 5.0), // equal is not lower
            pl(Impl::Omss, 256, 5.0),
            pl(Impl::OmssM, 256, 6.0),
            pl(Impl::Omss, 1400, 5.0),
            pl(Impl::OmssM, 1400, 9.0),
        ];
        assert_eq!(
            crossover(&pts, Proto::Udp, 800),
            Crossover::At {
                payload: 256,
                reversals: vec![]
            }
        );
        assert_eq!(crossover(&pts, Proto::Udp, 800).upper_bound(), Some(256));

        let always = vec![pl(Impl::Omss, 64, 1.0), pl(Impl::OmssM, 64, 2.0)];
        assert_eq!(
            crossover(&always, Proto::Udp, 800),
            Crossover::AtOrBelowSmallest {
                smallest: 64,
                reversals: vec![]
            }
        );
        assert_eq!(
            crossover(&always, Proto::Udp, 800).to_string(),
            "<= 64 B (smallest payload measured)"
        );

        let never = vec![
            pl(Impl::Omss, 64, 3.0),
            pl(Impl::OmssM, 64, 2.0),
            pl(Impl::Omss, 1400, 3.0),
            pl(Impl::OmssM, 1400, 2.0),
        ];
        assert_eq!(
            crossover(&never, Proto::Udp, 800),
            Crossover::Never { largest: 1400 }
        );

        let bumpy = vec![
            pl(Impl::Omss, 64, 1.0),
            pl(Impl::OmssM, 64, 2.0),
            pl(Impl::Omss, 512, 3.0),
            pl(Impl::OmssM, 512, 2.0),
            // Only one impl measured at 1000: ignored.
            pl(Impl::Omss, 1000, 9.0),
        ];
        assert_eq!(
            crossover(&bumpy, Proto::Udp, 800),
            Crossover::AtOrBelowSmallest {
                smallest: 64,
                reversals: vec![512]
            }
        );
        assert_eq!(crossover(&bumpy, Proto::Tcp, 800), Crossover::NotMeasured);
    }

    #[test]
    fn comparison_point_all_lossless() {
        let pts = vec![
            point(Impl::Omss, 100, 1.0, 0.0),
            point(Impl::Omss, 200, 1.0, 0.0),
            point(Impl::Omss, 300, 1.0, 0.0),
            point(Impl::Daemon, 100, 4.0, 0.0),
            point(Impl::Daemon, 200, 5.0, 0.0),
            point(Impl::Daemon, 300, 5.0, 0.5),
        ];
        let (n, present) = comparison_point(&pts, Proto::Udp).unwrap();
        assert_eq!(n, 200);
        assert_eq!(present, vec![Impl::Omss, Impl::Daemon]);
        let ratio = us_at(&pts, Proto::Udp, Impl::Omss, n).unwrap()
            / us_at(&pts, Proto::Udp, Impl::Daemon, n).unwrap();
        assert_eq!(ratio, 0.2);
        assert_eq!(comparison_point(&pts, Proto::Tcp), None);
        // The device floor's losses do not move the comparison point.
        let mut with_pktgen = pts.clone();
        with_pktgen.push(point(Impl::Pktgen, 200, 0.5, 0.7));
        assert_eq!(comparison_point(&with_pktgen, Proto::Udp).unwrap().0, 200);
    }

    #[test]
    fn parse_by_header_name() {
        let text = "# comment\nimpl,proto,subscribers,run,relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio,extra\n\
                    omss-m,TCP,10,0,12.5,1.25,10,100,99,0.01,x\n\n";
        let runs = parse_fanout(text, "fanout.csv").unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].imp, Impl::OmssM);
        assert_eq!(runs[0].proto, Proto::Tcp);
        assert_eq!(runs[0].payload, FANOUT_PAYLOAD);
        assert_eq!(runs[0].delivered_pkts, 99);

        let err = parse_fanout("proto,impl\nudp,omss\n", "f.csv").unwrap_err();
        assert!(err.0.contains("header lacks column `subscribers`"), "{err}");
        let bad = "proto,impl,payload,subscribers,run,relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio\n\
                   udp,nginx,64,1,0,1,1,1,1,1,0\n";
        let err = parse_payload(bad, "p.csv").unwrap_err();
        assert!(err.0.contains("p.csv:2: unknown impl"), "{err}");
        assert!(parse_payload("", "p.csv").unwrap().is_empty());
    }
}
