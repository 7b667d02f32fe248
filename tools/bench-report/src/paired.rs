//! Statistics that hold on a noisy machine: ratios paired within a repeat, with bootstrap
//! 95 % intervals; cost against subscribers fitted as a line; and `summary.json`.
//!
//! Every point of one repeat ran in the same shuffled pass, so the ratio of two relays'
//! costs within a repeat cancels the slow drifts of the machine that a ratio of medians
//! would keep.

use crate::data::{self, Impl, Point, Proto, LOSS_OK};
use rand::{rngs::StdRng, RngExt as _, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One run's per-packet measures (a row of `fanout.csv` or `payload.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub proto: Proto,
    pub imp: Impl,
    pub payload: u64,
    pub subscribers: u64,
    pub run: u64,
    /// (a): the vCPU thread's CPU per delivered packet, idle subtracted.
    pub ns_per_pkt: f64,
    /// (c): guest instructions per delivered packet, idle subtracted.
    pub insn_per_pkt: f64,
    pub loss_ratio: f64,
    /// The load side stayed under half its core and dropped nothing.
    pub valid: bool,
    /// (a) and (b) disagree by more than 10 %.
    pub ab_flag: bool,
}

/// Parses the per-packet columns; `None` for a CSV of the older layout (without them).
pub fn parse(text: &str, with_payload: bool) -> Option<Vec<Measure>> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let names: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let col = |name: &str| names.iter().position(|n| *n == name);
    let (proto, imp, subs, run, ns, insn, loss, valid, ab) = (
        col("proto")?,
        col("impl")?,
        col("subscribers")?,
        col("run")?,
        col("ns_per_pkt")?,
        col("insn_per_pkt")?,
        col("loss_ratio")?,
        col("valid")?,
        col("ab_flag")?,
    );
    let payload = if with_payload {
        Some(col("payload")?)
    } else {
        None
    };
    let rows = lines.filter_map(|l| {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let num = |i: usize| f.get(i)?.parse::<f64>().ok();
        Some(Measure {
            proto: Proto::parse(f.get(proto)?)?,
            imp: Impl::parse(f.get(imp)?)?,
            payload: match payload {
                Some(i) => num(i)? as u64,
                None => data::FANOUT_PAYLOAD,
            },
            subscribers: num(subs)? as u64,
            run: num(run)? as u64,
            ns_per_pkt: num(ns)?,
            insn_per_pkt: num(insn)?,
            loss_ratio: num(loss)?,
            valid: num(valid)? != 0.0,
            ab_flag: num(ab)? != 0.0,
        })
    });
    Some(rows.collect())
}

/// A median with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn json(self) -> Value {
        json!({"median": self.median, "lo": self.lo, "hi": self.hi})
    }
}

const RESAMPLES: usize = 4000;

/// The median of `values` and a percentile-bootstrap 95 % interval of it (seeded, so a
/// report redrawn from the same CSVs is the same). `None` when empty.
pub fn median_interval(values: &[f64]) -> Option<Interval> {
    let median = data::median(values)?;
    let mut rng = StdRng::seed_from_u64(0x05EED);
    let meds: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let s: Vec<f64> = (0..values.len())
                .map(|_| values[rng.random_range(0..values.len())])
                .collect();
            data::median(&s).expect("non-empty")
        })
        .collect();
    percentile_interval(median, meds, 1)
}

/// `estimate` with the 2.5th and 97.5th percentiles of its bootstrap `samples`; `None` with
/// fewer than `min` samples (resamples where the estimate did not exist are left out).
fn percentile_interval(estimate: f64, mut samples: Vec<f64>, min: usize) -> Option<Interval> {
    samples.sort_by(f64::total_cmp);
    let k = samples.len();
    (k >= min.max(1)).then(|| Interval {
        median: estimate,
        lo: samples[k * 25 / 1000],
        hi: samples[k * 975 / 1000 - 1],
    })
}

/// Valid, lossless runs of one (proto, impl, payload, subscribers), by repeat.
fn by_run(
    ms: &[Measure],
    proto: Proto,
    imp: Impl,
    payload: u64,
    n: u64,
) -> BTreeMap<u64, &Measure> {
    ms.iter()
        .filter(|m| m.proto == proto && m.imp == imp && m.payload == payload && m.subscribers == n)
        .filter(|m| m.valid && m.loss_ratio <= LOSS_OK && m.ns_per_pkt > 0.0)
        .map(|m| (m.run, m))
        .collect()
}

/// `a`'s CPU per delivered packet over `b`'s, paired within each repeat at `n` subscribers.
pub fn paired_ratio(ms: &[Measure], proto: Proto, a: Impl, b: Impl, n: u64) -> Option<Interval> {
    let (ra, rb) = (
        by_run(ms, proto, a, data::FANOUT_PAYLOAD, n),
        by_run(ms, proto, b, data::FANOUT_PAYLOAD, n),
    );
    let ratios: Vec<f64> = ra
        .iter()
        .filter_map(|(run, x)| rb.get(run).map(|y| x.ns_per_pkt / y.ns_per_pkt))
        .collect();
    median_interval(&ratios)
}

/// Least-squares line y = a + b x; `None` with fewer than two distinct x.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let b = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    Some((my - b * mx, b))
}

/// The slope of a line fitted to `points`, with a bootstrap 95 % interval (runs resampled).
pub fn slope_interval(points: &[(f64, f64)]) -> Option<Interval> {
    let (_, slope) = fit(points)?;
    let mut rng = StdRng::seed_from_u64(0x05EED);
    let slopes: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| {
            let s: Vec<(f64, f64)> = (0..points.len())
                .map(|_| points[rng.random_range(0..points.len())])
                .collect();
            fit(&s).map(|f| f.1)
        })
        .collect();
    percentile_interval(slope, slopes, 100)
}

/// Fan-out cost per source packet against subscribers, fitted as a line over every valid
/// run of `imp`: the slope is the marginal cost of one more delivered packet, in ns (a)
/// and in instructions (c).
pub fn slopes(ms: &[Measure], proto: Proto, imp: Impl) -> (Option<Interval>, Option<Interval>) {
    let runs: Vec<&Measure> = ms
        .iter()
        .filter(|m| m.proto == proto && m.imp == imp && m.payload == data::FANOUT_PAYLOAD)
        .filter(|m| m.valid && m.loss_ratio <= LOSS_OK)
        .collect();
    let line = |f: fn(&Measure) -> f64| -> Vec<(f64, f64)> {
        runs.iter()
            .map(|m| (m.subscribers as f64, f(m) * m.subscribers as f64))
            .collect()
    };
    (
        slope_interval(&line(|m| m.ns_per_pkt)),
        slope_interval(&line(|m| m.insn_per_pkt)),
    )
}

/// The median CPU per delivered packet of `imp` at `n` subscribers (valid, lossless runs).
fn median_cost(ms: &[Measure], proto: Proto, imp: Impl, n: u64) -> Option<f64> {
    let v: Vec<f64> = by_run(ms, proto, imp, data::FANOUT_PAYLOAD, n)
        .values()
        .map(|m| m.ns_per_pkt)
        .collect();
    data::median(&v)
}

/// The cheapest of `relays` (lowest median CPU per delivered packet) at `n` subscribers.
pub fn cheapest(ms: &[Measure], proto: Proto, relays: &[Impl], n: u64) -> Option<Impl> {
    relays
        .iter()
        .filter_map(|&i| median_cost(ms, proto, i, n).map(|c| (c, i)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, i)| i)
}

/// (payload, ns per delivered packet) of `imp`'s valid, loss-free payload-test runs.
fn payload_runs(ms: &[Measure], proto: Proto, imp: Impl) -> Vec<(f64, f64)> {
    ms.iter()
        .filter(|m| m.proto == proto && m.imp == imp && m.valid && m.loss_ratio <= LOSS_OK)
        .map(|m| (m.payload as f64, m.ns_per_pkt))
        .collect()
}

/// The payload where OMSS's fitted cost line (ns per delivered packet = a + b * payload, over
/// the payload test's valid runs) crosses OMSS-M's: below it, copying is cheaper. The
/// interval resamples each relay's runs. `None` if either has fewer than two payloads, or
/// the lines do not cross at a positive payload.
pub fn crossover(ms: &[Measure], proto: Proto) -> Option<Interval> {
    let (o, c) = (
        payload_runs(ms, proto, Impl::Omss),
        payload_runs(ms, proto, Impl::OmssM),
    );
    let cross = |o: &[(f64, f64)], c: &[(f64, f64)]| -> Option<f64> {
        let ((ao, bo), (ac, bc)) = (fit(o)?, fit(c)?);
        let x = (ao - ac) / (bc - bo);
        (x.is_finite() && x > 0.0).then_some(x)
    };
    let median = cross(&o, &c)?;
    let mut rng = StdRng::seed_from_u64(0x05EED);
    let pick = |v: &[(f64, f64)], rng: &mut StdRng| -> Vec<(f64, f64)> {
        (0..v.len())
            .map(|_| v[rng.random_range(0..v.len())])
            .collect()
    };
    let xs: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| {
            let (ro, rc) = (pick(&o, &mut rng), pick(&c, &mut rng));
            cross(&ro, &rc)
        })
        .collect();
    percentile_interval(median, xs, RESAMPLES / 2)
}

/// `summary.json`'s crossover: the fitted crossing with its interval; else, when OMSS's
/// fitted cost is already below OMSS-M's at the smallest payload measured, `{"below": that
/// payload}` (copying never pays in the measured range); else null.
pub fn crossover_json(ms: &[Measure], proto: Proto) -> Value {
    if let Some(c) = crossover(ms, proto) {
        return c.json();
    }
    let (o, c) = (
        payload_runs(ms, proto, Impl::Omss),
        payload_runs(ms, proto, Impl::OmssM),
    );
    let smallest = o
        .iter()
        .chain(&c)
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min);
    match (fit(&o), fit(&c)) {
        (Some((ao, bo)), Some((ac, bc))) if ao + bo * smallest < ac + bc * smallest => {
            json!({ "below": smallest })
        }
        _ => Value::Null,
    }
}

/// The summary key of an implementation.
pub fn key(imp: Impl) -> &'static str {
    match imp {
        Impl::Omss => "omss",
        Impl::OmssM => "omss_m",
        Impl::Daemon => "daemon",
        Impl::Epoll => "epoll",
        Impl::Iouring => "iouring",
        Impl::IouringZc => "iouring_zc",
        Impl::Gstreamer => "gstreamer",
        Impl::Floor => "floor",
        Impl::Pktgen => "pktgen",
    }
}

fn capacity_json(c: data::Capacity) -> Value {
    match c {
        data::Capacity::Reached {
            capacity: Some(c), ..
        } => json!(c),
        data::Capacity::NotReached { max } => json!({"above": max}),
        _ => Value::Null,
    }
}

/// One protocol's part of `summary.json`.
fn proto_summary(
    ms: &[Measure],
    payload: &[Measure],
    points: &[Point],
    caps: &Capacities,
    proto: Proto,
) -> Value {
    let mut o = serde_json::Map::new();
    let n = data::comparison_point(points, proto).map(|(n, _)| n);
    o.insert("subscribers_compared".into(), json!(n));
    for other in [
        Impl::Daemon,
        Impl::OmssM,
        Impl::Epoll,
        Impl::Gstreamer,
        Impl::Floor,
    ] {
        let r = n.and_then(|n| paired_ratio(ms, proto, Impl::Omss, other, n));
        o.insert(
            format!("omss_over_{}", key(other)),
            r.map_or(Value::Null, Interval::json),
        );
    }
    // The io_uring relay sends plainly or with zero copy, whichever is cheaper here.
    let uring = n.and_then(|n| cheapest(ms, proto, &[Impl::Iouring, Impl::IouringZc], n));
    let r = n
        .zip(uring)
        .and_then(|(n, u)| paired_ratio(ms, proto, Impl::Omss, u, n));
    o.insert(
        "omss_over_iouring".into(),
        r.map_or(Value::Null, Interval::json),
    );
    o.insert("iouring_send".into(), json!(uring.map(key)));
    let mut insn = serde_json::Map::new();
    let mut cap = serde_json::Map::new();
    let mut slope = serde_json::Map::new();
    for imp in Impl::ALL {
        let v: Vec<f64> = n
            .map(|n| by_run(ms, proto, imp, data::FANOUT_PAYLOAD, n))
            .unwrap_or_default()
            .values()
            .map(|m| m.insn_per_pkt)
            .collect();
        insn.insert(key(imp).into(), json!(data::median(&v)));
        // By bisection where searched; else from the fan-out points.
        let searched = caps.get(&("regular".to_string(), proto, imp));
        let c = match searched {
            Some(_) => bisected(searched),
            None => capacity_json(data::capacity(points, proto, imp)),
        };
        cap.insert(key(imp).into(), c);
        let (ns, ins) = slopes(ms, proto, imp);
        slope.insert(
            key(imp).into(),
            json!({"ns": ns.map(Interval::json), "insns": ins.map(Interval::json)}),
        );
    }
    o.insert("insn_per_pkt".into(), Value::Object(insn));
    o.insert("capacity".into(), Value::Object(cap));
    o.insert("slope_per_delivered_pkt".into(), Value::Object(slope));
    o.insert("crossover_bytes".into(), crossover_json(payload, proto));
    Value::Object(o)
}

/// `summary.json`: the shape of the measurement issue; keys this run could not fill are null.
pub fn summary(
    fanout: &[Measure],
    payload: &[Measure],
    points: &[Point],
    caps: &Capacities,
    meta: Option<&serde_json::Map<String, Value>>,
) -> Value {
    let m = |k: &str| meta.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
    let embedded: serde_json::Map<String, Value> = [Impl::Omss, Impl::OmssM, Impl::Daemon]
        .into_iter()
        .map(|i| {
            let c = caps.get(&("embedded".to_string(), Proto::Tcp, i));
            (key(i).to_string(), bisected(c))
        })
        .collect();
    json!({
        "udp": proto_summary(fanout, payload, points, caps, Proto::Udp),
        "tcp": proto_summary(fanout, payload, points, caps, Proto::Tcp),
        "embedded_tcp": {"capacity": embedded},
        "repeats": m("repeats"),
        "date": m("date"),
        "commit": m("commit"),
    })
}

fn fmt_interval(i: Option<Interval>, digits: usize) -> String {
    i.map_or("n/a".into(), |i| {
        format!("{:.d$} [{:.d$}, {:.d$}]", i.median, i.lo, i.hi, d = digits)
    })
}

/// Targets of the measurement issue on paired ratios: (label, relays, upper bound). The ratio
/// over a set of relays is taken against the cheapest of them (the best user-space relay).
const RATIO_TARGETS: [(&str, &[Impl], f64); 4] = [
    ("OMSS / Daemon", &[Impl::Daemon], 0.30),
    ("OMSS / OMSS-M", &[Impl::OmssM], 0.70),
    (
        "OMSS / best user-space relay",
        &[
            Impl::Daemon,
            Impl::Epoll,
            Impl::Iouring,
            Impl::IouringZc,
            Impl::Gstreamer,
        ],
        0.50,
    ),
    ("OMSS / pure-transmit floor", &[Impl::Floor], 1.25),
];

/// Met when the whole interval is at or under the bound, missed when it is all above.
fn verdict(i: Option<Interval>, bound: f64) -> &'static str {
    match i {
        Some(i) if i.hi <= bound => "met",
        Some(i) if i.lo > bound => "**missed**",
        Some(_) => "undecided (the interval spans the target)",
        None => "not measured",
    }
}

/// The paired ratio of OMSS over the cheapest of `relays`.
fn ratio_over_best(ms: &[Measure], proto: Proto, relays: &[Impl], n: u64) -> Option<Interval> {
    paired_ratio(ms, proto, Impl::Omss, cheapest(ms, proto, relays, n)?, n)
}

/// The targets table on paired ratios, for one protocol.
pub fn targets_markdown(ms: &[Measure], proto: Proto, n: u64) -> String {
    let mut s =
        String::from("| Target | ratio [95 % interval] | bound | result |\n|---|---|---|---|\n");
    for (label, relays, bound) in RATIO_TARGETS {
        let r = ratio_over_best(ms, proto, relays, n);
        s += &format!(
            "| {label} | {} | <= {bound} | {} |\n",
            fmt_interval(r, 2),
            verdict(r, bound)
        );
    }
    s
}

/// The report's section: paired ratios, instructions per packet and fitted slopes.
pub fn markdown(ms: &[Measure], payload: &[Measure], points: &[Point]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let rejected = ms.iter().filter(|m| !m.valid).count();
    let flagged = ms.iter().filter(|m| m.ab_flag).count();
    let _ = writeln!(
        s,
        "Of {} fan-out runs, {rejected} were rejected because the load side passed half its core \
         or dropped packets, and in {flagged} the host's view (a) and the guest's view (b) of \
         the relay's CPU disagreed by more than 10 %.\n",
        ms.len()
    );
    for proto in Proto::ALL {
        let Some((n, present)) = data::comparison_point(points, proto) else {
            continue;
        };
        let _ = writeln!(
            s,
            "### {}\n\nAt {n} subscribers, the largest count that every relay carried without \
             loss. Ratios are OMSS's CPU per delivered packet (a) over the other relay's, paired \
             within each repeat: median [95 % bootstrap interval].\n",
            proto.name()
        );
        s.push_str(&targets_markdown(ms, proto, n));
        s.push('\n');
        s.push_str("| OMSS over | ratio | repeats paired |\n|---|---|---|\n");
        for other in present.iter().copied().filter(|&i| i != Impl::Omss) {
            let pairs = by_run(ms, proto, Impl::Omss, data::FANOUT_PAYLOAD, n)
                .keys()
                .filter(|r| by_run(ms, proto, other, data::FANOUT_PAYLOAD, n).contains_key(r))
                .count();
            let _ = writeln!(
                s,
                "| {} | {} | {pairs} |",
                other.name(),
                fmt_interval(paired_ratio(ms, proto, Impl::Omss, other, n), 2)
            );
        }
        s.push_str(
            "\n| Relay | ns per delivered packet (a) | instructions per delivered packet (c) | \
             slope, ns per added delivered packet | slope, instructions |\n|---|---|---|---|---|\n",
        );
        for imp in present {
            let runs = by_run(ms, proto, imp, data::FANOUT_PAYLOAD, n);
            let med = |f: fn(&Measure) -> f64| {
                data::median(&runs.values().map(|m| f(m)).collect::<Vec<_>>())
                    .map_or("n/a".into(), |v| format!("{v:.0}"))
            };
            let (sn, si) = slopes(ms, proto, imp);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                imp.name(),
                med(|m| m.ns_per_pkt),
                med(|m| m.insn_per_pkt),
                fmt_interval(sn, 0),
                fmt_interval(si, 0)
            );
        }
        if let Some(c) = crossover(payload, proto) {
            let _ = writeln!(
                s,
                "\nCrossover payload, where OMSS's fitted cost line (a + b x payload) crosses \
                 OMSS-M's: {}.",
                fmt_interval(Some(c), 0)
            );
        }
        s.push('\n');
    }
    s
}

/// Capacities found by bisection (`capacity.csv`): (scenario, proto, impl) -> (capacity,
/// first subscriber count that failed, if any).
pub type Capacities = BTreeMap<(String, Proto, Impl), (u64, Option<u64>)>;

pub fn parse_capacities(csv: &str) -> Capacities {
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let [sc, proto, imp, cap, fail, _] = f[..] else {
                return None;
            };
            Some((
                (sc.to_string(), Proto::parse(proto)?, Impl::parse(imp)?),
                (cap.parse().ok()?, fail.parse().ok()),
            ))
        })
        .collect()
}

fn bisected(c: Option<&(u64, Option<u64>)>) -> Value {
    match c {
        Some((cap, Some(_))) => json!(cap),
        Some((cap, None)) => json!({"above": cap}),
        None => Value::Null,
    }
}

/// The capacities table of the report.
pub fn capacities_markdown(caps: &Capacities) -> String {
    let mut s = String::from(
        "Largest subscriber count that passed (relay vCPU busy < 95 %, no drop anywhere, no \
         loss, subscriber p99 latency under two frame intervals), found by bisection to 5 %; \
         the first count that failed in brackets.\n\n| Scenario | Protocol | Relay | Capacity |\n|---|---|---|---|\n",
    );
    for ((sc, proto, imp), (cap, fail)) in caps {
        let fail = fail.map_or("not reached".to_string(), |f| format!("fails at {f}"));
        s += &format!(
            "| {sc} | {} | {} | {cap} ({fail}) |\n",
            proto.name(),
            imp.name()
        );
    }
    s
}

/// Capacity targets: OMSS over Daemon, at least 2.5 (regular) and 2 (embedded, TCP). A
/// capacity not reached (the search hit its maximum) is a lower bound.
pub fn capacity_targets_markdown(caps: &Capacities) -> String {
    let mut s =
        String::from("| Capacity target | OMSS / Daemon | bound | result |\n|---|---|---|---|\n");
    let rows = [
        ("regular", Proto::Udp, 2.5),
        ("regular", Proto::Tcp, 2.5),
        ("embedded", Proto::Tcp, 2.0),
    ];
    for (sc, proto, bound) in rows {
        let get = |imp| caps.get(&(sc.to_string(), proto, imp)).copied();
        let (cell, result) = match (get(Impl::Omss), get(Impl::Daemon)) {
            (Some((o, of)), Some((d, df))) if d > 0 => {
                let r = o as f64 / d as f64;
                // A capacity not reached is a lower bound: OMSS's makes the ratio a lower
                // bound, Daemon's an upper bound.
                let verdict = match (of.is_some(), df.is_some()) {
                    (_, true) if r >= bound => "met",
                    (true, _) if r < bound => "**missed**",
                    _ => "undecided (a capacity above the searched range)",
                };
                (format!("{r:.2} ({o} / {d})"), verdict)
            }
            _ => ("n/a".to_string(), "not measured"),
        };
        s += &format!(
            "| {sc} {} | {cell} | >= {bound} | {result} |\n",
            proto.name()
        );
    }
    s
}

/// The calibration table (`calibration.csv`: op,native_ns,guest_ns,guest_over_native).
pub fn calibration_markdown(csv: &str) -> String {
    let mut s = String::from(
        "| Operation | native, ns | in the guest (TCG), ns | guest / native |\n|---|---|---|---|\n",
    );
    for l in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if let [op, native, guest, ratio] = f[..] {
            s += &format!("| {op} | {native} | {guest} | {ratio} |\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_the_median() {
        let v = [1.0, 1.1, 0.9, 1.05, 0.95];
        let i = median_interval(&v).unwrap();
        assert_eq!(i.median, 1.0);
        assert!(
            i.lo <= 1.0 && i.hi >= 1.0 && i.lo >= 0.9 && i.hi <= 1.1,
            "{i:?}"
        );
        assert!(median_interval(&[]).is_none());
        let same = median_interval(&[2.0; 5]).unwrap();
        assert_eq!((same.lo, same.hi), (2.0, 2.0));
    }

    #[test]
    fn line_fit_and_slope_interval() {
        let pts: Vec<(f64, f64)> = (1..=10).map(|x| (x as f64, 3.0 + 2.0 * x as f64)).collect();
        let (a, b) = fit(&pts).unwrap();
        assert!((a - 3.0).abs() < 1e-9 && (b - 2.0).abs() < 1e-9);
        let s = slope_interval(&pts).unwrap();
        assert!((s.lo - 2.0).abs() < 1e-9 && (s.hi - 2.0).abs() < 1e-9);
        assert!(fit(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    fn m(imp: Impl, run: u64, ns: f64, valid: bool) -> Measure {
        Measure {
            proto: Proto::Udp,
            imp,
            payload: 1400,
            subscribers: 100,
            run,
            ns_per_pkt: ns,
            insn_per_pkt: ns * 10.0,
            loss_ratio: 0.0,
            valid,
            ab_flag: false,
        }
    }

    #[test]
    fn ratios_are_paired_within_a_repeat() {
        // Run 1 is slow for both (a noisy moment): paired, the ratio stays 0.5.
        let ms = vec![
            m(Impl::Omss, 0, 10.0, true),
            m(Impl::Daemon, 0, 20.0, true),
            m(Impl::Omss, 1, 30.0, true),
            m(Impl::Daemon, 1, 60.0, true),
            m(Impl::Omss, 2, 11.0, true),
            m(Impl::Daemon, 2, 22.0, true),
            // A rejected run (load side over its limit) is left out.
            m(Impl::Omss, 3, 1.0, false),
            m(Impl::Daemon, 3, 90.0, true),
        ];
        let r = paired_ratio(&ms, Proto::Udp, Impl::Omss, Impl::Daemon, 100).unwrap();
        assert_eq!((r.median, r.lo, r.hi), (0.5, 0.5, 0.5));
        assert!(paired_ratio(&ms, Proto::Udp, Impl::Omss, Impl::Epoll, 100).is_none());
    }

    #[test]
    fn target_verdicts() {
        let i = |lo, hi| {
            Some(Interval {
                median: (lo + hi) / 2.0,
                lo,
                hi,
            })
        };
        assert_eq!(verdict(i(0.2, 0.29), 0.30), "met");
        assert_eq!(verdict(i(0.31, 0.4), 0.30), "**missed**");
        assert!(verdict(i(0.25, 0.35), 0.30).starts_with("undecided"));
        assert_eq!(verdict(None, 0.30), "not measured");
        // The best user-space relay is the cheapest one: here the epoll relay (10 < 20).
        let ms = vec![
            m(Impl::Omss, 0, 8.0, true),
            m(Impl::Daemon, 0, 20.0, true),
            m(Impl::Epoll, 0, 10.0, true),
        ];
        let r = ratio_over_best(&ms, Proto::Udp, &[Impl::Daemon, Impl::Epoll], 100).unwrap();
        assert_eq!(r.median, 0.8);
    }

    #[test]
    fn crossover_of_fitted_lines() {
        // OMSS: 1000 + 1 * payload; OMSS-M: 500 + 6 * payload: they cross at 100 bytes.
        let mut ms = Vec::new();
        for run in 0..3 {
            for p in [64u64, 256, 1024, 1400] {
                for (imp, a, b) in [(Impl::Omss, 1000.0, 1.0), (Impl::OmssM, 500.0, 6.0)] {
                    let mut x = m(imp, run, a + b * p as f64 + run as f64, true);
                    x.payload = p;
                    ms.push(x);
                }
            }
        }
        let c = crossover(&ms, Proto::Udp).unwrap();
        assert!(
            (c.median - 100.0).abs() < 1.0 && c.lo <= c.median && c.hi >= c.median,
            "{c:?}"
        );
        assert!(crossover(&ms, Proto::Tcp).is_none());
        assert_eq!(crossover_json(&ms, Proto::Tcp), Value::Null);
    }

    #[test]
    fn crossover_below_the_smallest_payload() {
        // OMSS cheaper at every payload: the lines cross at a negative payload.
        let mut ms = Vec::new();
        for run in 0..3 {
            for p in [64u64, 256, 1400] {
                for (imp, a, b) in [(Impl::Omss, 500.0, 1.0), (Impl::OmssM, 900.0, 2.0)] {
                    let mut x = m(imp, run, a + b * p as f64 + run as f64, true);
                    x.payload = p;
                    ms.push(x);
                }
            }
        }
        assert!(crossover(&ms, Proto::Udp).is_none());
        assert_eq!(crossover_json(&ms, Proto::Udp), json!({ "below": 64.0 }));
    }

    #[test]
    fn capacities_by_bisection() {
        let caps = parse_capacities(
            "scenario,proto,impl,capacity,first_fail,probes\n\
             regular,udp,omss,387,400,6\nembedded,tcp,daemon,40,,2\nregular,udp,nosuch,1,2,1\n",
        );
        assert_eq!(caps.len(), 2);
        let s = summary(&[], &[], &[], &caps, None);
        assert_eq!(s["udp"]["capacity"]["omss"], 387);
        assert_eq!(s["embedded_tcp"]["capacity"]["daemon"]["above"], 40);
        assert!(s["embedded_tcp"]["capacity"]["omss"].is_null());
    }

    #[test]
    fn capacity_target_verdicts() {
        let caps = parse_capacities(
            "scenario,proto,impl,capacity,first_fail,probes\n\
             regular,udp,omss,1000,1050,6\nregular,udp,daemon,300,320,6\n\
             regular,tcp,omss,500,520,6\nregular,tcp,daemon,400,420,6\n\
             embedded,tcp,omss,640,,6\nembedded,tcp,daemon,640,,6\n",
        );
        let t = capacity_targets_markdown(&caps);
        assert!(
            t.contains("| regular UDP | 3.33 (1000 / 300) | >= 2.5 | met |"),
            "{t}"
        );
        assert!(
            t.contains("| regular TCP | 1.25 (500 / 400) | >= 2.5 | **missed** |"),
            "{t}"
        );
        assert!(
            t.contains("| embedded TCP | 1.00 (640 / 640) | >= 2 | undecided"),
            "{t}"
        );
    }

    #[test]
    fn calibration_table() {
        let t = calibration_markdown(
            "op,native_ns,guest_ns,guest_over_native\ncopy_1400,17.5,524.3,30.0\n",
        );
        assert!(t.ends_with("| copy_1400 | 17.5 | 524.3 | 30.0 |\n"), "{t}");
    }

    #[test]
    fn parses_new_columns_and_refuses_old_layout() {
        let csv = "proto,impl,subscribers,run,ns_per_pkt,insn_per_pkt,loss_ratio,valid,ab_flag\n\
                   udp,omss,100,0,1234.5,5000,0.0,1,0\n";
        let v = parse(csv, false).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].ns_per_pkt, v[0].insn_per_pkt, v[0].valid),
            (1234.5, 5000.0, true)
        );
        assert!(parse("proto,impl,subscribers,run,relay_cpu_pct\n", false).is_none());
    }
}
