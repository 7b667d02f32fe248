//! The Markdown report and the targets summary.

use std::fmt::{self, Write as _};

use crate::data::{
    capacity, capacity_ratio, comparison_point, crossover, payload_subscribers, series, us_at,
    Capacity, Crossover, Impl, Point, Proto, Ratio, CPU_SATURATED, LOSS_OK,
};

/// Everything the report is made from.
pub struct Inputs<'a> {
    /// Results directory as given on the command line.
    pub results: &'a str,
    /// meta.json, if present (keys in sorted order).
    pub meta: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// method.md, if present.
    pub method: Option<&'a str>,
    /// analysis.md (where the time goes, what limits the figures), if present.
    pub analysis: Option<&'a str>,
    /// Paired ratios, instructions per packet and slopes (`paired::markdown`), if measured.
    pub paired: Option<&'a str>,
    /// The TCG calibration table (`paired::calibration_markdown`), if measured.
    pub calibration: Option<&'a str>,
    /// Aggregated fan-out points; `None` if not measured.
    pub fanout: Option<&'a [Point]>,
    /// Aggregated payload-test points; `None` if not measured.
    pub payload: Option<&'a [Point]>,
    /// The HTTP front end section (`http::markdown`), if measured.
    pub http: Option<&'a str>,
    /// Figures directory relative to the report (for image links).
    pub fig_rel: &'a str,
    pub smoke: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    NotMeasured,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "**MISS**",
            Verdict::NotMeasured => "not measured",
        })
    }
}

/// One row of the targets table.
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub what: &'static str,
    pub proto: Proto,
    pub measured: String,
    pub target: &'static str,
    pub paper: &'static str,
    pub verdict: Verdict,
    /// Where the measured number comes from.
    pub basis: String,
}

const CPU_VS_DAEMON: f64 = 0.30;
const CPU_VS_OMSS_M: f64 = 0.70;
const CAPACITY_VS_DAEMON: f64 = 2.5;
const CROSSOVER_MAX: u64 = 100;

fn impl_list(impls: &[Impl]) -> String {
    impls
        .iter()
        .map(|i| i.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU-per-packet ratio of OMSS over `other` at the comparison point.
fn cpu_ratio_row(
    fanout: Option<&[Point]>,
    proto: Proto,
    other: Impl,
    limit: f64,
    what: &'static str,
    target: &'static str,
    paper: &'static str,
) -> TargetRow {
    let mut row = TargetRow {
        what,
        proto,
        measured: "n/a".into(),
        target,
        paper,
        verdict: Verdict::NotMeasured,
        basis: String::new(),
    };
    let Some(points) = fanout.filter(|p| p.iter().any(|p| p.proto == proto)) else {
        row.basis = "fan-out test not measured in this run".into();
        return row;
    };
    let Some((n, present)) = comparison_point(points, proto) else {
        row.basis = "no subscriber count was measured without loss by every implementation".into();
        return row;
    };
    let (Some(o), Some(d)) = (
        us_at(points, proto, Impl::Omss, n),
        us_at(points, proto, other, n),
    ) else {
        row.basis = format!("OMSS or {} not measured", other.name());
        return row;
    };
    let ratio = o / d;
    row.measured = format!("{ratio:.2}");
    row.verdict = if ratio <= limit {
        Verdict::Pass
    } else {
        Verdict::Miss
    };
    row.basis = format!(
        "1400 B payload, {n} subscribers (largest count without loss for all of: {}): OMSS {} us/pkt vs {} {} us/pkt",
        impl_list(&present),
        fmt_us(o),
        other.name(),
        fmt_us(d)
    );
    row
}

/// Daemon's CPU per delivered packet over OMSS's at the comparison point: the capacity ratio
/// if the relay's CPU were the only limit.
fn cpu_bound_capacity_ratio(points: &[Point], proto: Proto) -> Option<f64> {
    let (n, _) = comparison_point(points, proto)?;
    let o = us_at(points, proto, Impl::Omss, n)?;
    let d = us_at(points, proto, Impl::Daemon, n)?;
    (o > 0.0).then(|| d / o)
}

/// The four targets, for each protocol.
pub fn targets(fanout: Option<&[Point]>, payload: Option<&[Point]>) -> Vec<TargetRow> {
    let mut rows = Vec::new();
    for proto in Proto::ALL {
        let (paper_daemon, paper_cap, paper_cross) = match proto {
            Proto::Udp => ("0.44 (56% less CPU)", "4,000 vs 2,200 (1.82)", "200 B"),
            Proto::Tcp => ("0.41 (59% less CPU)", "3,500 vs 2,000 (1.75)", "100 B"),
        };
        rows.push(cpu_ratio_row(
            fanout,
            proto,
            Impl::Daemon,
            CPU_VS_DAEMON,
            "CPU per delivered packet, OMSS / Daemon",
            "<= 0.30",
            paper_daemon,
        ));
        rows.push(cpu_ratio_row(
            fanout,
            proto,
            Impl::OmssM,
            CPU_VS_OMSS_M,
            "CPU per delivered packet, OMSS / OMSS-M",
            "<= 0.70",
            "< 1 (not quantified)",
        ));

        // Capacity ratio.
        let (o, d) = match fanout {
            Some(p) => (
                capacity(p, proto, Impl::Omss),
                capacity(p, proto, Impl::Daemon),
            ),
            None => (Capacity::NotMeasured, Capacity::NotMeasured),
        };
        let ratio = capacity_ratio(o, d);
        let verdict = match ratio {
            Ratio::Unknown(_) if o == Capacity::NotMeasured || d == Capacity::NotMeasured => {
                Verdict::NotMeasured
            }
            r if r.shows_at_least(CAPACITY_VS_DAEMON) => Verdict::Pass,
            _ => Verdict::Miss,
        };
        let mut basis = format!("OMSS {o}, Daemon {d}");
        match ratio {
            Ratio::AtLeast(r) if r < CAPACITY_VS_DAEMON => basis.push_str(
                "; only a lower bound was measured: extend the subscriber range to settle it",
            ),
            Ratio::Unknown(_) if verdict == Verdict::Miss => {
                basis.push_str("; the measured range does not settle it")
            }
            _ => {}
        }
        if let Some(r) = fanout.and_then(|p| cpu_bound_capacity_ratio(p, proto)) {
            let _ = write!(
                basis,
                "; were relay CPU the only limit, capacity would scale as 1 / (CPU per \
                 packet): OMSS / Daemon = {r:.2} (an estimate, not a measurement)"
            );
        }
        rows.push(TargetRow {
            what: "Capacity, OMSS / Daemon",
            proto,
            measured: ratio.to_string(),
            target: ">= 2.5",
            paper: paper_cap,
            verdict,
            basis,
        });

        // Crossover.
        let sub = payload.and_then(|p| payload_subscribers(p, proto));
        let cross = match (payload, sub) {
            (Some(p), Some(n)) => crossover(p, proto, n),
            _ => Crossover::NotMeasured,
        };
        let verdict = match &cross {
            Crossover::NotMeasured => Verdict::NotMeasured,
            c => match c.upper_bound() {
                Some(b) if b <= CROSSOVER_MAX => Verdict::Pass,
                _ => Verdict::Miss,
            },
        };
        rows.push(TargetRow {
            what: "Crossover payload (OMSS cheaper per packet than OMSS-M)",
            proto,
            measured: cross.to_string(),
            target: "<= 100 B",
            paper: paper_cross,
            verdict,
            basis: match sub {
                Some(n) => format!("payload test, 1-to-{n} relay"),
                None => "payload test not measured in this run".into(),
            },
        });
    }
    rows
}

/// The targets table (Markdown), followed by plain statements of misses.
pub fn targets_markdown(rows: &[TargetRow]) -> String {
    let mut s = String::new();
    s.push_str("| Target | Proto | Measured | Target | Paper | Result |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.what,
            r.proto.name(),
            r.measured,
            r.target,
            r.paper,
            r.verdict
        );
    }
    s.push('\n');
    let missed: Vec<&TargetRow> = rows.iter().filter(|r| r.verdict == Verdict::Miss).collect();
    let unmeasured: Vec<&TargetRow> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::NotMeasured)
        .collect();
    if missed.is_empty() && unmeasured.is_empty() {
        s.push_str("All targets were met.\n");
    }
    for r in &missed {
        let _ = writeln!(
            s,
            "- **Target missed** ({}): {}: measured {}, target {}.",
            r.proto.name(),
            r.what,
            r.measured,
            r.target
        );
    }
    for r in &unmeasured {
        let _ = writeln!(
            s,
            "- Not measured in this run ({}): {}.",
            r.proto.name(),
            r.what
        );
    }
    s.push_str("\nBasis of each measured value:\n\n");
    for r in rows {
        let _ = writeln!(s, "- {} ({}): {}.", r.what, r.proto.name(), r.basis);
    }
    s
}

pub fn fmt_us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_loss(v: f64) -> String {
    format!("{:.3}%", v * 100.0)
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), fmt_us)
}

/// Results table of one test and protocol. `by_payload` picks the x column.
fn results_table(points: &[&Point], by_payload: bool) -> String {
    let mut s = String::new();
    let x = if by_payload {
        "Payload (B) | Subscribers"
    } else {
        "Subscribers"
    };
    let _ = writeln!(
        s,
        "| Implementation | {x} | Runs | Relay CPU % (median) | Spread (min-max) | Loss (median) | CPU per delivered packet (us, median) | Within capacity |"
    );
    let _ = writeln!(
        s,
        "|---|{}---|---|---|---|---|---|",
        if by_payload { "---|---|" } else { "---|" }
    );
    for p in points {
        let xv = if by_payload {
            format!("{} | {}", p.payload, p.subscribers)
        } else {
            p.subscribers.to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {xv} | {} | {:.1} | {:.1}-{:.1} | {} | {} | {} |",
            p.imp.name(),
            p.runs,
            p.cpu_median,
            p.cpu_min,
            p.cpu_max,
            fmt_loss(p.loss_median),
            opt_us(p.us_median),
            if p.ok() { "yes" } else { "no" }
        );
    }
    s
}

const NOT_MEASURED: &str = "Not measured in this run.\n";

/// The whole `docs/benchmarks.md`.
pub fn render(inp: &Inputs<'_>) -> String {
    let mut s = String::new();
    if inp.smoke {
        s.push_str("# OMSS benchmark results: SMOKE RUN (tiny, not meaningful)\n\n");
        s.push_str(
            "> **Smoke run.** These numbers come from a tiny run that only checks the \
             benchmark pipeline end to end. They say nothing about OMSS's performance.\n\n",
        );
    } else {
        s.push_str("# OMSS benchmark results\n\n");
    }
    let _ = writeln!(
        s,
        "Generated by `omss-bench-report` from the raw results in `{}` \
         (`fanout.csv`, `payload.csv`, `meta.json`, `method.md`, `analysis.md`). Do not \
         edit by hand: \
         rerun the benchmark and the report instead. The tests follow the Evaluation \
         section of \"One-to-Many Streaming Splicing\" (OMSS, OMSS-M and Daemon as in the \
         paper, plus a best-practice epoll relay).\n",
        inp.results
    );

    // Machine and method.
    s.push_str("## Machine and method\n\n");
    match inp.meta {
        Some(meta) if !meta.is_empty() => {
            for (k, v) in meta {
                let v = match v {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(s, "- **{k}**: {v}");
            }
            s.push('\n');
        }
        Some(_) => s.push_str("`meta.json` is empty.\n\n"),
        None => s.push_str("`meta.json`: not measured in this run (file absent).\n\n"),
    }
    if let Some(m) = inp.method {
        s.push_str(m.trim_end());
        s.push_str("\n\n");
    }
    let _ = writeln!(
        s,
        "How the numbers are computed: for each protocol, implementation and x value \
         (subscribers or payload), the **median over runs** of the relay host's CPU \
         utilisation (all its CPUs, 0-100 %) is shown with its **spread** (min-max over \
         runs, the error bars in the figures). **CPU per delivered packet** is the median \
         over runs of busy CPU-seconds on the relay host divided by the packets the \
         subscribers received, in microseconds. An implementation's **capacity** is the \
         largest subscriber count whose median loss ratio is <= {LOSS_OK} and whose median \
         relay CPU is < {CPU_SATURATED:.0} % (saturation). The **crossover** is the smallest \
         payload at which OMSS's median CPU per delivered packet is lower than OMSS-M's.\n"
    );

    if let Some(c) = inp.calibration {
        s.push_str(
            "### What emulation does to each kind of cost\n\nThe same operations timed \
             natively on the relay's host CPU and inside the relay guest, in this run:\n\n",
        );
        s.push_str(c);
        s.push('\n');
    }

    // Targets: from the paired ratios and the capacity searches where measured; else the
    // medians' ratios (older result sets).
    if inp.paired.is_none() {
        s.push_str("## Targets\n\n");
        s.push_str(&targets_markdown(&targets(inp.fanout, inp.payload)));
        s.push('\n');
    }

    if let Some(p) = inp.paired {
        s.push_str("## Paired ratios, instructions per packet and marginal cost\n\n");
        s.push_str(p);
    }

    // Fan-out.
    s.push_str("## Bulk fan-out test (Figure 6)\n\n");
    s.push_str(
        "One relay session, 1,400-byte payloads at the stream rate in the method above; \
         the number of subscribers grows until the relay saturates or loses packets.\n\n",
    );
    for proto in Proto::ALL {
        let _ = writeln!(s, "### {}\n", proto.name());
        let pts: Vec<&Point> = inp
            .fanout
            .unwrap_or_default()
            .iter()
            .filter(|p| p.proto == proto)
            .collect();
        if pts.is_empty() {
            s.push_str(NOT_MEASURED);
            s.push('\n');
            continue;
        }
        let _ = writeln!(
            s,
            "![Figure 6 ({0}): relay CPU vs subscribers]({1}/fig6-fanout-{2}.svg)\n",
            proto.name(),
            inp.fig_rel,
            proto.key()
        );
        s.push_str(&results_table(&pts, false));
        s.push('\n');
    }
    s.push_str(
        "### Largest fan-out point without loss\n\nBy loss alone, from the fan-out points \
         above; the capacities by bisection (where measured) add the CPU, drop and latency \
         criteria.\n\n",
    );
    match inp.fanout {
        Some(f) if !f.is_empty() => {
            s.push_str("| Implementation | UDP | TCP |\n|---|---|---|\n");
            for imp in Impl::ALL {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    imp.name(),
                    capacity(f, Proto::Udp, imp),
                    capacity(f, Proto::Tcp, imp)
                );
            }
            s.push_str(
                "\nPaper (Relay-PC): OMSS > 4,000 and Daemon < 2,200 subscribers (UDP); \
                 OMSS 3,500 and Daemon 2,000 (TCP).\n\n",
            );
        }
        _ => {
            s.push_str(NOT_MEASURED);
            s.push('\n');
        }
    }

    // Payload.
    s.push_str("## Payload-size test (Figure 7)\n\n");
    s.push_str(
        "One relay session to a fixed number of subscribers; OMSS (payload sharing) \
         against OMSS-M (one payload copy per subscriber) as the payload size varies.\n\n",
    );
    for proto in Proto::ALL {
        let _ = writeln!(s, "### {}\n", proto.name());
        let pts = inp.payload.unwrap_or_default();
        let mut rows: Vec<&Point> = [Impl::Omss, Impl::OmssM]
            .into_iter()
            .flat_map(|i| series(pts, proto, i))
            .collect();
        if rows.is_empty() {
            s.push_str(NOT_MEASURED);
            s.push('\n');
            continue;
        }
        rows.sort_by_key(|p| (p.subscribers, p.payload, p.imp));
        let n = payload_subscribers(pts, proto).expect("rows exist");
        let _ = writeln!(
            s,
            "![Figure 7 ({0}): relay CPU per delivered packet vs payload]({1}/fig7-payload-{2}.svg)\n",
            proto.name(),
            inp.fig_rel,
            proto.key()
        );
        s.push_str(&results_table(&rows, true));
        let paper = match proto {
            Proto::Udp => "200 B",
            Proto::Tcp => "100 B",
        };
        let _ = writeln!(
            s,
            "\n**Crossover ({}, 1-to-{n})**: {} (paper: {paper}).\n",
            proto.name(),
            crossover(pts, proto, n)
        );
    }
    if let Some(h) = inp.http {
        s.push_str("## HTTP front end\n\n");
        s.push_str(h);
        s.push('\n');
    }
    if let Some(a) = inp.analysis {
        s.push_str("## Where the time goes\n\n");
        s.push_str(a.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(proto: Proto, imp: Impl, payload: u64, subs: u64, us: f64, loss: f64) -> Point {
        Point {
            proto,
            imp,
            payload,
            subscribers: subs,
            runs: 3,
            cpu_median: 10.0,
            cpu_min: 9.0,
            cpu_max: 11.0,
            loss_median: loss,
            us_median: Some(us),
            us_min: Some(us),
            us_max: Some(us),
        }
    }

    #[test]
    fn targets_pass_and_miss() {
        let u = Proto::Udp;
        let fan = vec![
            pt(u, Impl::Omss, 1400, 100, 1.0, 0.0),
            pt(u, Impl::Omss, 1400, 200, 1.0, 0.0),
            pt(u, Impl::OmssM, 1400, 100, 2.0, 0.0),
            pt(u, Impl::OmssM, 1400, 200, 2.0, 0.0),
            pt(u, Impl::Daemon, 1400, 100, 4.0, 0.0),
            pt(u, Impl::Daemon, 1400, 200, 5.0, 0.5),
        ];
        let pay = vec![
            pt(u, Impl::Omss, 64, 800, 3.0, 0.0),
            pt(u, Impl::OmssM, 64, 800, 2.0, 0.0),
            pt(u, Impl::Omss, 256, 800, 3.0, 0.0),
            pt(u, Impl::OmssM, 256, 800, 4.0, 0.0),
        ];
        let rows = targets(Some(&fan), Some(&pay));
        assert_eq!(rows.len(), 8);
        // Comparison at 100 (Daemon lossy at 200): 1/4 = 0.25 <= 0.30.
        assert_eq!(rows[0].measured, "0.25");
        assert_eq!(rows[0].verdict, Verdict::Pass);
        // 1/2 = 0.50 <= 0.70.
        assert_eq!(rows[1].measured, "0.50");
        assert_eq!(rows[1].verdict, Verdict::Pass);
        // OMSS not reached (> 200), Daemon 100: >= 2.00, lower bound < 2.5.
        assert_eq!(rows[2].measured, ">= 2.00 (lower bound)");
        assert_eq!(rows[2].verdict, Verdict::Miss);
        assert!(rows[2].basis.contains("only a lower bound"));
        // Crossover at 256 B > 100 B.
        assert_eq!(rows[3].measured, "256 B");
        assert_eq!(rows[3].verdict, Verdict::Miss);
        // TCP: nothing measured.
        assert!(rows[4..].iter().all(|r| r.verdict == Verdict::NotMeasured));

        let md = targets_markdown(&rows);
        assert!(md.contains("**Target missed** (UDP): Capacity, OMSS / Daemon"));
        assert!(md.contains("**Target missed** (UDP): Crossover"));
        assert!(md.contains("Not measured in this run (TCP)"));
    }

    #[test]
    fn render_marks_smoke_and_missing_parts() {
        let inp = Inputs {
            results: "r",
            meta: None,
            method: Some("Fixed method paragraph."),
            analysis: Some("Fixed analysis paragraph."),
            paired: None,
            calibration: None,
            fanout: None,
            payload: None,
            http: None,
            fig_rel: "figures",
            smoke: true,
        };
        let md = render(&inp);
        assert!(md.starts_with("# OMSS benchmark results: SMOKE RUN (tiny, not meaningful)"));
        assert!(md.contains("Fixed method paragraph."));
        assert!(md.contains("## Where the time goes\n\nFixed analysis paragraph.\n"));
        assert!(md.contains("`meta.json`: not measured in this run"));
        assert!(md.contains("## Bulk fan-out test (Figure 6)\n\nOne relay"));
        assert!(md.matches(NOT_MEASURED).count() >= 5);
        assert!(!md.contains("fig6-fanout-udp.svg"));
        assert!(!md.contains("## HTTP front end"));
        let md = render(&Inputs {
            http: Some("HTTP table.\n"),
            ..inp
        });
        assert!(md.contains("## HTTP front end\n\nHTTP table.\n\n## Where the time goes"));
    }
}
