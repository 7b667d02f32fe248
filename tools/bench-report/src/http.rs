//! The HTTP front end scenario (tools/bench/http.sh): `http.csv`, `http_capacity.csv` and
//! `http_meta.json` -> the report's "HTTP front end" section and its figure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::style::RGBColor;

use crate::data::{median, spread};
use crate::plot::{draw, Line, Marker};

/// The servers, in the order of the tables: CSV key, name, colour and marker.
const SERVERS: [(&str, &str, RGBColor, Marker); 4] = [
    (
        "httpd-share",
        "omss-httpd, OMSS share",
        RGBColor(200, 30, 30),
        Marker::Circle,
    ),
    (
        "httpd-copy",
        "omss-httpd, OMSS copy",
        RGBColor(30, 80, 200),
        Marker::Triangle,
    ),
    (
        "httpd-user",
        "omss-httpd, user-space copy",
        RGBColor(20, 140, 40),
        Marker::Square,
    ),
    (
        "icecast",
        "Icecast 2.4",
        RGBColor(220, 130, 0),
        Marker::Cross,
    ),
];

/// The figure's file name in the figures directory.
pub const FIGURE: &str = "http-cpu-per-byte.svg";

/// One server's runs at one listener count, aggregated (medians over runs).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPoint {
    /// Index into [`SERVERS`].
    pub server: usize,
    pub listeners: u64,
    pub runs: usize,
    /// Runs whose load side stayed under half its core and dropped nothing.
    pub valid: usize,
    pub cpu_pct: f64,
    /// The relay's vCPU ns per delivered byte: median, min, max.
    pub ns_per_byte: (f64, f64, f64),
    pub insn_per_byte: f64,
    pub loss: f64,
    pub p99_ms: f64,
}

/// Parses `http.csv` (columns by name) and aggregates it; rows of unknown servers or with
/// missing numbers are left out.
pub fn parse(csv: &str) -> Vec<HttpPoint> {
    groups(csv)
        .unwrap_or_default()
        .into_iter()
        .map(|((server, listeners), rows)| {
            let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<f64>>();
            let med = |i: usize| median(&col(i)).expect("non-empty group");
            let (lo, hi) = spread(&col(1)).expect("non-empty group");
            HttpPoint {
                server,
                listeners,
                runs: rows.len(),
                valid: rows.iter().filter(|r| r[5] != 0.0).count(),
                cpu_pct: med(0),
                ns_per_byte: (med(1), lo, hi),
                insn_per_byte: med(2),
                loss: med(3),
                p99_ms: med(4),
            }
        })
        .collect()
}

/// One run: [CPU %, ns/B, instructions/B, loss, p99, valid].
type Row = [f64; 6];

/// The rows by (server, listeners); `None` without a header that has every column.
fn groups(csv: &str) -> Option<BTreeMap<(usize, u64), Vec<Row>>> {
    let mut lines = csv
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let names: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let col = |name: &str| names.iter().position(|n| *n == name);
    let (imp, subs, payload, cpu, ns) = (
        col("impl")?,
        col("subscribers")?,
        col("payload")?,
        col("relay_cpu_pct")?,
        col("ns_per_pkt")?,
    );
    let (insn, loss, p99, valid) = (
        col("insn_per_pkt")?,
        col("loss_ratio")?,
        col("p99_ms")?,
        col("valid")?,
    );
    let mut groups: BTreeMap<(usize, u64), Vec<Row>> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
        let row = (|| {
            let server = SERVERS.iter().position(|s| Some(&s.0) == f.get(imp))?;
            let bytes = num(payload).filter(|b| *b > 0.0)?;
            let vals = [
                num(cpu)?,
                num(ns)? / bytes,
                num(insn)? / bytes,
                num(loss)?,
                num(p99)?,
                num(valid)?,
            ];
            Some(((server, num(subs)? as u64), vals))
        })();
        if let Some((key, vals)) = row {
            groups.entry(key).or_default().push(vals);
        }
    }
    Some(groups)
}

/// Parses `http_capacity.csv`: (server index, capacity, first count that failed).
pub fn parse_capacities(csv: &str) -> Vec<(usize, u64, Option<u64>)> {
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let [_, _, imp, cap, fail, _] = f[..] else {
                return None;
            };
            let server = SERVERS.iter().position(|s| s.0 == imp)?;
            Some((server, cap.parse().ok()?, fail.parse().ok()))
        })
        .collect()
}

/// Draws the figure: relay CPU per delivered byte against listeners, one line per server.
pub fn figure(
    path: &Path,
    points: &[HttpPoint],
    smoke: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let lines: Vec<Line> = SERVERS
        .iter()
        .enumerate()
        .map(|(i, &(_, label, color, marker))| Line {
            label,
            color,
            marker,
            pts: points
                .iter()
                .filter(|p| p.server == i)
                .map(|p| {
                    let (med, lo, hi) = p.ns_per_byte;
                    (p.listeners as f64, med, lo, hi)
                })
                .collect(),
        })
        .filter(|l| !l.pts.is_empty())
        .collect();
    let title = format!(
        "HTTP front end: relay CPU per delivered byte{}",
        if smoke { " [SMOKE]" } else { "" }
    );
    draw(
        path,
        &title,
        "HTTP listeners",
        "Relay vCPU ns per delivered byte, median, min-max",
        &lines,
        None,
    )
}

/// The section, from the aggregated points, the capacities and `http_meta.json`.
pub fn markdown(
    points: &[HttpPoint],
    caps: &[(usize, u64, Option<u64>)],
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
    fig_rel: &str,
) -> String {
    let mut s = String::from(
        "N HTTP listeners (`omss-client --http`, native on the load CPU) take one 256 kbit/s \
         stream of 1,400-byte frames from the relay guest, served by `omss-httpd` on OMSS \
         (share and copy mode), by `omss-httpd --mode user` (its user-space copy relay, one \
         thread writing each datagram to every client), all three fed by a UDP stream, and by \
         Icecast 2.4 from Debian (`icecast2`, `tools/bench/icecast.xml`: no burst on connect, \
         a 350 KiB listener queue) fed through its source protocol (`omss-server --icecast`). \
         Each point is measured as the fan-out points are (the relay's vCPU time in the \
         window, the idle rate subtracted). **CPU per delivered byte** is that time over the \
         bytes the listeners received in the window; **p99** is the listeners' latency from \
         the media server's send to their read, over the packets received from the window's \
         opening on. Medians over runs; the figure's bars span min-max.\n\n",
    );
    if let Some(m) = meta {
        let get = |k: &str| match m.get(k) {
            Some(serde_json::Value::String(t)) => t.clone(),
            Some(v) => v.to_string(),
            None => "?".into(),
        };
        let _ = writeln!(
            s,
            "This scenario's run: {} (commit {}, {} mode), {}, {} repeats, window {} s.\n",
            get("date"),
            get("commit"),
            get("mode"),
            get("icecast"),
            get("repeats"),
            get("window_s")
        );
    }
    let _ = writeln!(
        s,
        "![HTTP front end: relay CPU per delivered byte vs listeners]({fig_rel}/{FIGURE})\n"
    );
    s.push_str(
        "| Server | Listeners | Runs (valid) | Relay CPU % | CPU per delivered byte (ns) \
         | Instructions per byte | Loss | p99 latency (ms) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for p in points {
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}) | {:.1} | {:.2} | {:.2} | {:.3}% | {:.1} |",
            SERVERS[p.server].1,
            p.listeners,
            p.runs,
            p.valid,
            p.cpu_pct,
            p.ns_per_byte.0,
            p.insn_per_byte,
            p.loss * 100.0,
            p.p99_ms
        );
    }
    if !caps.is_empty() {
        s.push_str(
            "\n### Capacity (HTTP)\n\nThe largest listener count that passed the capacity \
             criteria of the method (bisection to 5 %).\n\n| Server | Capacity |\n|---|---|\n",
        );
        for &(server, cap, fail) in caps {
            let fail = fail.map_or("not reached".to_string(), |f| format!("fails at {f}"));
            let _ = writeln!(s, "| {} | {cap} ({fail}) |", SERVERS[server].1);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "impl,subscribers,payload,run,relay_cpu_pct,ns_per_pkt,insn_per_pkt,\
loss_ratio,p99_ms,valid\n\
icecast,100,1400,0,30.0,28000,14000,0.0,12.5,1\n\
icecast,100,1400,1,34.0,35000,15400,0.0,14.5,1\n\
icecast,100,1400,2,32.0,30800,14700,0.0,13.0,0\n\
httpd-share,100,1400,0,20.0,14000,7000,0.0,9.0,1\n\
nosuch,100,1400,0,1.0,1,1,0.0,1.0,1\n\
httpd-user,200,1400,0,bad,1,1,0.0,1.0,1\n";

    #[test]
    fn parses_and_aggregates() {
        let pts = parse(CSV);
        assert_eq!(pts.len(), 2, "{pts:?}");
        assert_eq!((pts[0].server, pts[0].listeners, pts[0].runs), (0, 100, 1));
        let ice = &pts[1];
        assert_eq!(
            (SERVERS[ice.server].0, ice.runs, ice.valid),
            ("icecast", 3, 2)
        );
        assert_eq!(ice.ns_per_byte, (22.0, 20.0, 25.0));
        assert_eq!(
            (ice.cpu_pct, ice.insn_per_byte, ice.p99_ms),
            (32.0, 10.5, 13.0)
        );
        assert!(parse("").is_empty());
        assert!(parse("impl,subscribers\nicecast,100\n").is_empty());
    }

    #[test]
    fn section() {
        let caps = parse_capacities(
            "scenario,proto,impl,capacity,first_fail,probes\n\
             http,http,icecast,380,400,7\nhttp,http,httpd-share,6400,,7\nhttp,http,x,1,2,1\n",
        );
        assert_eq!(caps, [(3, 380, Some(400)), (0, 6400, None)]);
        let meta = serde_json::json!({"date": "2026-12-01T05:30Z", "repeats": 3});
        let md = markdown(&parse(CSV), &caps, meta.as_object(), "figures");
        assert!(md.contains("](figures/http-cpu-per-byte.svg)"), "{md}");
        assert!(
            md.contains("| Icecast 2.4 | 100 | 3 (2) | 32.0 | 22.00 | 10.50 | 0.000% | 13.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| omss-httpd, OMSS share | 100 | 1 (1) |"),
            "{md}"
        );
        assert!(md.contains("| Icecast 2.4 | 380 (fails at 400) |"), "{md}");
        assert!(
            md.contains("| omss-httpd, OMSS share | 6400 (not reached) |"),
            "{md}"
        );
        assert!(md.contains("run: 2026-12-01T05:30Z (commit ?"), "{md}");
    }
}
