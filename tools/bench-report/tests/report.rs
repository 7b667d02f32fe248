//! Runs the binary on a synthetic results directory and checks its outputs.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

const DELIVERED: u64 = 100_000;

/// Three runs around a median: CPU m-1, m, m+2; CPU per packet 0.9u, u, 1.3u
/// (us per packet = busy_s * 1e6 / DELIVERED).
fn rows(out: &mut String, prefix: &str, cpu: f64, us: f64, loss: f64) {
    for (run, (dc, fu)) in [(-1.0, 0.9), (0.0, 1.0), (2.0, 1.3)].iter().enumerate() {
        let busy = us * fu * DELIVERED as f64 / 1e6;
        let offered = (DELIVERED as f64 / (1.0 - loss)).round() as u64;
        let _ = writeln!(
            out,
            "{prefix},{run},{},{busy},10,{offered},{DELIVERED},{loss}",
            cpu + dc
        );
    }
}

/// (proto, impl, us per packet, [(subscribers, CPU %, loss ratio)]).
type FanSeries = (&'static str, &'static str, f64, &'static [(u64, f64, f64)]);

fn write_results(dir: &Path) {
    let mut f = String::from(
        "proto,impl,subscribers,run,relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio\n",
    );
    let fan: &[FanSeries] = &[
        (
            "udp",
            "omss",
            1.0,
            &[(100, 5.0, 0.0), (200, 10.0, 0.0), (400, 20.0, 0.0)],
        ),
        (
            "udp",
            "omss-m",
            2.0,
            &[(100, 8.0, 0.0), (200, 16.0, 0.0), (400, 32.0, 0.0)],
        ),
        (
            "udp",
            "daemon",
            4.0,
            &[(100, 20.0, 0.0), (200, 40.0, 0.0), (400, 97.0, 0.05)],
        ),
        (
            "udp",
            "epoll",
            3.0,
            &[(100, 15.0, 0.0), (200, 30.0, 0.0), (400, 60.0, 0.0)],
        ),
        (
            "tcp",
            "omss",
            1.2,
            &[(100, 6.0, 0.0), (200, 12.0, 0.0), (400, 24.0, 0.0)],
        ),
        (
            "tcp",
            "omss-m",
            1.5,
            &[(100, 7.0, 0.0), (200, 14.0, 0.0), (400, 28.0, 0.0)],
        ),
        (
            "tcp",
            "daemon",
            3.0,
            &[(100, 30.0, 0.0), (200, 60.0, 0.02), (400, 90.0, 0.2)],
        ),
        (
            "tcp",
            "epoll",
            2.5,
            &[(100, 25.0, 0.0), (200, 50.0, 0.0), (400, 80.0, 0.0)],
        ),
    ];
    for (proto, imp, us, pts) in fan {
        for (subs, cpu, loss) in *pts {
            rows(&mut f, &format!("{proto},{imp},{subs}"), *cpu, *us, *loss);
        }
    }
    fs::write(dir.join("fanout.csv"), f).unwrap();

    let mut p = String::from(
        "proto,impl,payload,subscribers,run,relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio\n",
    );
    let payloads = [64u64, 128, 256, 512, 1400];
    // UDP: OMSS flat at 2.0 us; OMSS-M crosses it between 128 and 256 B.
    // TCP: OMSS always cheaper.
    let pay: &[(&str, &str, [f64; 5])] = &[
        ("udp", "omss", [2.0, 2.0, 2.0, 2.0, 2.0]),
        ("udp", "omss-m", [1.5, 1.8, 2.5, 3.0, 4.0]),
        ("tcp", "omss", [1.0, 1.0, 1.0, 1.0, 1.0]),
        ("tcp", "omss-m", [1.2, 1.4, 1.6, 2.0, 3.0]),
    ];
    for (proto, imp, us) in pay {
        for (pl, u) in payloads.iter().zip(us) {
            rows(&mut p, &format!("{proto},{imp},{pl},800"), 10.0, *u, 0.0);
        }
    }
    fs::write(dir.join("payload.csv"), p).unwrap();

    fs::write(
        dir.join("meta.json"),
        r#"{"host": "testhost", "vcpus_relay": 2, "repeats": 3, "window_s": 10, "rate_kbps": 256}"#,
    )
    .unwrap();
    fs::write(
        dir.join("method.md"),
        "Fixed method paragraph for the test.\n",
    )
    .unwrap();
}

fn run(results: &Path, out: &Path, smoke: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omss-bench-report"));
    cmd.arg("--results")
        .arg(results)
        .arg("--out-docs")
        .arg(out.join("docs/benchmarks.md"))
        .arg("--figures")
        .arg(out.join("docs/figures"));
    if smoke {
        cmd.arg("--smoke");
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

const FIGS: [&str; 4] = [
    "fig6-fanout-udp.svg",
    "fig6-fanout-tcp.svg",
    "fig7-payload-udp.svg",
    "fig7-payload-tcp.svg",
];

#[test]
fn full_results() {
    let t = tempfile::tempdir().unwrap();
    let results = t.path().join("results");
    fs::create_dir_all(&results).unwrap();
    write_results(&results);
    let stdout = run(&results, t.path(), false);

    let md = fs::read_to_string(t.path().join("docs/benchmarks.md")).unwrap();
    assert!(md.starts_with("# OMSS benchmark results\n"), "{md}");
    assert!(!md.contains("SMOKE"));
    // Machine and method.
    for s in [
        "- **host**: testhost",
        "- **vcpus_relay**: 2",
        "- **rate_kbps**: 256",
        "- **repeats**: 3",
        "- **window_s**: 10",
        "Fixed method paragraph for the test.",
    ] {
        assert!(md.contains(s), "missing {s:?}");
    }
    // Results rows: median, spread, loss, CPU per packet, capacity flag.
    for s in [
        "| OMSS | 100 | 3 | 5.0 | 4.0-7.0 | 0.000% | 1.00 | yes |",
        "| Daemon | 400 | 3 | 97.0 | 96.0-99.0 | 5.000% | 4.00 | no |",
        "| Best-practice (epoll) | 200 | 3 | 30.0 | 29.0-32.0 | 0.000% | 3.00 | yes |",
        "| OMSS-M | 256 | 800 | 3 | 10.0 | 9.0-12.0 | 0.000% | 2.50 | yes |",
    ] {
        assert!(md.contains(s), "missing {s:?}\n{md}");
    }
    // Capacities.
    assert!(md.contains(
        "| OMSS | > max measured (400; not reached) | > max measured (400; not reached) |"
    ));
    assert!(md.contains("| Daemon | 200 | 100 |"));
    // Targets: UDP at 200 subscribers: 1/4 and 1/2; TCP at 100: 1.2/3 and 1.2/1.5.
    for s in [
        "| CPU per delivered packet, OMSS / Daemon | UDP | 0.25 | <= 0.30 | 0.44 (56% less CPU) | PASS |",
        "| CPU per delivered packet, OMSS / OMSS-M | UDP | 0.50 | <= 0.70 | < 1 (not quantified) | PASS |",
        "| Capacity, OMSS / Daemon | UDP | >= 2.00 (lower bound) | >= 2.5 | 4,000 vs 2,200 (1.82) | **MISS** |",
        "| Crossover payload (OMSS cheaper per packet than OMSS-M) | UDP | 256 B | <= 100 B | 200 B | **MISS** |",
        "| CPU per delivered packet, OMSS / Daemon | TCP | 0.40 | <= 0.30 | 0.41 (59% less CPU) | **MISS** |",
        "| CPU per delivered packet, OMSS / OMSS-M | TCP | 0.80 | <= 0.70 | < 1 (not quantified) | **MISS** |",
        "| Capacity, OMSS / Daemon | TCP | >= 4.00 (lower bound) | >= 2.5 | 3,500 vs 2,000 (1.75) | PASS |",
        "| Crossover payload (OMSS cheaper per packet than OMSS-M) | TCP | <= 64 B (smallest payload measured) | <= 100 B | 100 B | PASS |",
        "**Target missed** (UDP): Crossover payload",
        "**Target missed** (TCP): CPU per delivered packet, OMSS / Daemon: measured 0.40, target <= 0.30.",
        "**Crossover (UDP, 1-to-800)**: 256 B (paper: 200 B).",
        "200 subscribers (largest count without loss for all of: OMSS, OMSS-M, Daemon, Best-practice (epoll))",
    ] {
        assert!(md.contains(s), "missing {s:?}\n{md}");
    }
    // Figures embedded by relative path.
    for f in FIGS {
        assert!(md.contains(&format!("(figures/{f})")), "{f} not embedded");
    }
    // Stdout carries the targets table.
    assert!(stdout.contains("| Capacity, OMSS / Daemon | TCP | >= 4.00 (lower bound)"));

    for f in FIGS {
        let svg = fs::read_to_string(t.path().join("docs/figures").join(f)).unwrap();
        assert!(svg.starts_with("<svg"), "{f}");
        assert!(svg.contains("<polyline"), "{f}: no data line");
        assert!(svg.contains("OMSS-M"), "{f}: no legend");
        assert!(!svg.contains("not measured"), "{f}");
    }
    // Axis labels, tick labels and legend are real SVG text.
    let f6 = svg_texts(&t.path().join("docs/figures/fig6-fanout-udp.svg"));
    for s in [
        "Subscribers",
        "Relay host CPU utilisation (%), median, min-max",
        "Best-practice (epoll)",
        "Daemon",
        "400",
        "100",
    ] {
        assert!(f6.iter().any(|t| t == s), "fig6 lacks text {s:?}: {f6:?}");
    }
    let f7 = svg_texts(&t.path().join("docs/figures/fig7-payload-tcp.svg"));
    for s in [
        "Payload size (bytes)",
        "Relay CPU per delivered packet (us), median, min-max",
        "Fig. 7 (TCP): payload-size test, 1-to-800 relay",
        "1400",
        "OMSS",
    ] {
        assert!(f7.iter().any(|t| t == s), "fig7 lacks text {s:?}: {f7:?}");
    }
}

/// Contents of the `<text>` elements of an SVG.
fn svg_texts(path: &Path) -> Vec<String> {
    let svg = fs::read_to_string(path).unwrap();
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().to_string())
        })
        .collect()
}

#[test]
fn nothing_measured_smoke() {
    let t = tempfile::tempdir().unwrap();
    let results = t.path().join("empty");
    fs::create_dir_all(&results).unwrap();
    // A header-only CSV counts as not measured too.
    fs::write(
        results.join("payload.csv"),
        "proto,impl,payload,subscribers,run,relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio\n",
    )
    .unwrap();
    let stdout = run(&results, t.path(), true);
    assert!(stdout.contains("SMOKE RUN"));
    let md = fs::read_to_string(t.path().join("docs/benchmarks.md")).unwrap();
    assert!(md.starts_with("# OMSS benchmark results: SMOKE RUN (tiny, not meaningful)"));
    assert!(md.contains("`meta.json`: not measured in this run"));
    assert!(md.contains("Not measured in this run."));
    assert!(!md.contains("PASS"));
    for f in FIGS {
        let svg = fs::read_to_string(t.path().join("docs/figures").join(f)).unwrap();
        assert!(svg.contains("not measured in this run"), "{f}");
    }
}

#[test]
fn bad_csv_fails() {
    let t = tempfile::tempdir().unwrap();
    let results = t.path().join("bad");
    fs::create_dir_all(&results).unwrap();
    fs::write(results.join("fanout.csv"), "proto,impl\nudp,omss\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_omss-bench-report"))
        .arg("--results")
        .arg(&results)
        .arg("--out-docs")
        .arg(t.path().join("b.md"))
        .arg("--figures")
        .arg(t.path().join("f"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("header lacks column `subscribers`"));
}
