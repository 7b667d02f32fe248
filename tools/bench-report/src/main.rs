//! omss-bench-report: raw benchmark CSVs -> Figures 6/7 (SVG) and docs/benchmarks.md.

mod data;
mod http;
mod paired;
mod plot;
mod policies;
mod report;

use std::error::Error;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use data::{aggregate, parse_fanout, parse_payload, payload_subscribers, Point, Proto};

/// Turn OMSS benchmark results (CSV) into the paper's Figures 6 and 7 and a
/// Markdown report.
#[derive(Parser, Debug)]
#[command(name = "omss-bench-report", version)]
struct Cli {
    /// Results directory: fanout.csv, payload.csv, meta.json, method.md, analysis.md (each
    /// optional).
    #[arg(long, value_name = "DIR")]
    results: PathBuf,
    /// Markdown report to write.
    #[arg(long, value_name = "FILE", default_value = "docs/benchmarks.md")]
    out_docs: PathBuf,
    /// Directory for the SVG figures.
    #[arg(long, value_name = "DIR", default_value = "docs/figures")]
    figures: PathBuf,
    /// Mark the report as a smoke run (tiny, not meaningful).
    #[arg(long)]
    smoke: bool,
}

/// Read a file that may be absent.
fn read_optional(path: &Path) -> Result<Option<String>, Box<dyn Error>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

/// Aggregated points of one CSV; `None` when absent or without data rows.
fn load_points(
    dir: &Path,
    name: &str,
    parse: fn(&str, &str) -> Result<Vec<data::Run>, data::ParseError>,
) -> Result<Option<Vec<Point>>, Box<dyn Error>> {
    let path = dir.join(name);
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    let runs = parse(&text, &path.display().to_string())?;
    Ok((!runs.is_empty()).then(|| aggregate(&runs)))
}

/// Path of `to` relative to directory `from` (both must exist), with `/`.
fn relative(from: &Path, to: &Path) -> io::Result<String> {
    let from = fs::canonicalize(from)?;
    let to = fs::canonicalize(to)?;
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn run(cli: &Cli) -> Result<(), Box<dyn Error>> {
    if !cli.results.is_dir() {
        return Err(format!("{}: not a directory", cli.results.display()).into());
    }
    let fanout = load_points(&cli.results, "fanout.csv", parse_fanout)?;
    let payload = load_points(&cli.results, "payload.csv", parse_payload)?;
    let meta = match read_optional(&cli.results.join("meta.json"))? {
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| format!("meta.json: {e}"))?
        {
            serde_json::Value::Object(m) => Some(m),
            _ => return Err("meta.json: expected a JSON object".into()),
        },
        None => None,
    };
    let method = read_optional(&cli.results.join("method.md"))?;
    // The per-packet measures of the native topology (absent in older results).
    let measures =
        read_optional(&cli.results.join("fanout.csv"))?.and_then(|t| paired::parse(&t, false));
    let calibration = read_optional(&cli.results.join("calibration.csv"))?
        .map(|t| paired::calibration_markdown(&t));
    let pay = read_optional(&cli.results.join("payload.csv"))?
        .and_then(|t| paired::parse(&t, true))
        .unwrap_or_default();
    let paired_md = measures
        .as_deref()
        .map(|ms| paired::markdown(ms, &pay, fanout.as_deref().unwrap_or_default()));
    let caps = read_optional(&cli.results.join("capacity.csv"))?
        .map(|t| paired::parse_capacities(&t))
        .unwrap_or_default();
    let paired_md = paired_md.map(|p| {
        if caps.is_empty() {
            p
        } else {
            p + "### Capacities by bisection\n\n"
                + &paired::capacities_markdown(&caps)
                + "\n"
                + &paired::capacity_targets_markdown(&caps)
                + "\n"
        }
    });
    if let Some(ms) = &measures {
        let fan = fanout.as_deref().unwrap_or_default();
        let summary = paired::summary(ms, &pay, fan, &caps, meta.as_ref());
        let path = cli.results.join("summary.json");
        fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let analysis = read_optional(&cli.results.join("analysis.md"))?;

    fs::create_dir_all(&cli.figures)?;
    let docs_dir = match cli.out_docs.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&docs_dir)?;

    // All four figures are always written (a placeholder when not measured),
    // so no stale figure from an earlier run survives.
    let fan = fanout.as_deref().unwrap_or_default();
    let pay = payload.as_deref().unwrap_or_default();
    for proto in Proto::ALL {
        let f6 = cli.figures.join(format!("fig6-fanout-{}.svg", proto.key()));
        plot::fanout_figure(&f6, proto, fan, cli.smoke)
            .map_err(|e| format!("{}: {e}", f6.display()))?;
        let f7 = cli
            .figures
            .join(format!("fig7-payload-{}.svg", proto.key()));
        plot::payload_figure(&f7, proto, pay, payload_subscribers(pay, proto), cli.smoke)
            .map_err(|e| format!("{}: {e}", f7.display()))?;
    }

    // The drop-policy comparison's figure (docs/policies.md shows it), when it was run.
    if let Some(text) = read_optional(&cli.results.join("policies.csv"))? {
        let f = cli.figures.join("policies.svg");
        policies::figure(&f, &policies::parse(&text)?)
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    let fig_rel = relative(&docs_dir, &cli.figures)?;
    let http_md = http_section(cli, &fig_rel)?;
    let results = cli.results.display().to_string();
    let md = report::render(&report::Inputs {
        results: &results,
        meta: meta.as_ref(),
        method: method.as_deref(),
        analysis: analysis.as_deref(),
        paired: paired_md.as_deref(),
        calibration: calibration.as_deref(),
        fanout: fanout.as_deref(),
        payload: payload.as_deref(),
        http: http_md.as_deref(),
        fig_rel: &fig_rel,
        smoke: cli.smoke,
    });
    fs::write(&cli.out_docs, md).map_err(|e| format!("{}: {e}", cli.out_docs.display()))?;

    // The summary; a closed stdout (e.g. piped into `head`) is not an error.
    let mut out = io::stdout().lock();
    let mut summary = String::new();
    if cli.smoke {
        summary.push_str("SMOKE RUN (tiny, not meaningful)\n");
    }
    summary.push_str(&report::targets_markdown(&report::targets(
        fanout.as_deref(),
        payload.as_deref(),
    )));
    let _ = writeln!(
        out,
        "{summary}\nwrote {} and {} figures in {}",
        cli.out_docs.display(),
        4 + http_md.is_some() as u32,
        cli.figures.display()
    );
    Ok(())
}

/// The HTTP front end section and its figure, when `http.csv` has data; otherwise `None`,
/// and no figure of an earlier run is left.
fn http_section(cli: &Cli, fig_rel: &str) -> Result<Option<String>, Box<dyn Error>> {
    let fig = cli.figures.join(http::FIGURE);
    let points = read_optional(&cli.results.join("http.csv"))?
        .map(|t| http::parse(&t))
        .unwrap_or_default();
    if points.is_empty() {
        match fs::remove_file(&fig) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => return Ok(None),
        }
    }
    http::figure(&fig, &points, cli.smoke).map_err(|e| format!("{}: {e}", fig.display()))?;
    let caps = read_optional(&cli.results.join("http_capacity.csv"))?
        .map(|t| http::parse_capacities(&t))
        .unwrap_or_default();
    let meta = match read_optional(&cli.results.join("http_meta.json"))? {
        Some(t) => Some(
            serde_json::from_str::<serde_json::Value>(&t)
                .map_err(|e| format!("http_meta.json: {e}"))?,
        ),
        None => None,
    };
    let meta = meta.as_ref().and_then(|v| v.as_object());
    Ok(Some(http::markdown(&points, &caps, meta, fig_rel)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omss-bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let t = tempfile::tempdir().unwrap();
        let docs = t.path().join("docs");
        let figs = docs.join("figures");
        let other = t.path().join("out/figs");
        fs::create_dir_all(&figs).unwrap();
        fs::create_dir_all(&other).unwrap();
        assert_eq!(relative(&docs, &figs).unwrap(), "figures");
        assert_eq!(relative(&docs, &other).unwrap(), "../out/figs");
        assert_eq!(relative(&docs, &docs).unwrap(), ".");
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "omss-bench-report",
            "--results",
            "r",
            "--out-docs",
            "d/b.md",
            "--figures",
            "d/f",
            "--smoke",
        ])
        .unwrap();
        assert!(cli.smoke);
        assert_eq!(cli.results, PathBuf::from("r"));
        assert_eq!(cli.out_docs, PathBuf::from("d/b.md"));
        assert_eq!(cli.figures, PathBuf::from("d/f"));
        assert!(Cli::try_parse_from(["omss-bench-report"]).is_err());
    }
}
