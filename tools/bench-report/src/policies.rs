//! The drop-policy comparison (`tests/omss_policies.sh`, `docs/policies.md`): its CSV and
//! its figure, loss and latency per policy and subscriber class.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

type Res = Result<(), Box<dyn Error>>;

/// One policy and class: loss in percent, latency median and p99 in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub policy: String,
    pub class: String,
    pub loss_pct: f64,
    pub with_loss: u32,
    pub median_ms: f64,
    pub p99_ms: f64,
}

/// Parses `policies.csv` (the test's `policy-row` lines, header first).
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let head: Vec<&str> = lines
        .next()
        .ok_or("policies.csv: empty")?
        .split(',')
        .collect();
    let col = |name: &str| {
        head.iter()
            .position(|h| *h == name)
            .ok_or(format!("policies.csv: no column {name}"))
    };
    let (p, c, l, w, m, q) = (
        col("policy")?,
        col("class")?,
        col("loss_pct")?,
        col("with_loss")?,
        col("latency_median_us")?,
        col("latency_p99_us")?,
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| -> Result<f64, String> {
                f.get(i)
                    .and_then(|v| v.parse().ok())
                    .ok_or(format!("policies.csv: bad line {line}"))
            };
            Ok(Row {
                policy: f[p].to_string(),
                class: f[c].to_string(),
                loss_pct: num(l)?,
                with_loss: num(w)? as u32,
                median_ms: num(m)? / 1e3,
                p99_ms: num(q)? / 1e3,
            })
        })
        .collect()
}

const FAST: RGBColor = RGBColor(30, 80, 200);
const SLOW: RGBColor = RGBColor(200, 30, 30);

/// Two panels: loss (%) and median latency (ms, log scale) per policy, fast and slow side
/// by side.
pub fn figure(path: &Path, rows: &[Row]) -> Res {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let mut policies: Vec<&str> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    let n = policies.len().max(1);
    let bars = |class: &str, f: &dyn Fn(&Row) -> f64| -> Vec<(usize, f64)> {
        rows.iter()
            .filter(|r| r.class == class)
            .filter_map(|r| Some((policies.iter().position(|p| *p == r.policy)?, f(r))))
            .collect()
    };
    let label = |x: &f64| {
        policies
            .get(x.round() as usize)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    // Loss.
    let max_loss = rows.iter().map(|r| r.loss_pct).fold(1.0, f64::max) * 1.15;
    let mut c = ChartBuilder::on(&left)
        .caption("loss per subscriber class", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..max_loss)?;
    c.configure_mesh()
        .x_labels(n)
        .x_label_formatter(&label)
        .y_desc("frames lost (%)")
        .disable_x_mesh()
        .draw()?;
    for (class, color, dx) in [("fast", FAST, -0.2), ("slow", SLOW, 0.2)] {
        c.draw_series(bars(class, &|r| r.loss_pct).into_iter().map(|(i, v)| {
            let x = i as f64 + dx;
            Rectangle::new([(x - 0.18, 0.0), (x + 0.18, v)], color.filled())
        }))?
        .label(format!("{class} subscribers"))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    c.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    // Latency (log scale).
    let max_lat = rows.iter().map(|r| r.median_ms).fold(1.0, f64::max) * 3.0;
    let mut c = ChartBuilder::on(&right)
        .caption("median latency", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), (0.1..max_lat).log_scale())?;
    c.configure_mesh()
        .x_labels(n)
        .x_label_formatter(&label)
        .y_desc("ms (log)")
        .disable_x_mesh()
        .draw()?;
    for (class, color, dx) in [("fast", FAST, -0.2), ("slow", SLOW, 0.2)] {
        c.draw_series(bars(class, &|r| r.median_ms).into_iter().map(|(i, v)| {
            let x = i as f64 + dx;
            Rectangle::new([(x - 0.18, 0.1), (x + 0.18, v.max(0.1))], color.filled())
        }))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "policy,class,subscribers,frames,received,lost,loss_pct,with_loss,latency_median_us,latency_p99_us\n\
slowest,fast,8,1340,10720,0,0.00,0,1172.9,12757.5\n\
slowest,slow,8,1340,6764,3956,36.90,8,999984.1,1780738.2\n";

    #[test]
    fn parses_rows() {
        let r = parse(CSV).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].policy, "slowest");
        assert_eq!(r[1].class, "slow");
        assert_eq!(r[1].with_loss, 8);
        assert!((r[1].loss_pct - 36.9).abs() < 1e-9);
        assert!((r[1].median_ms - 999.9841).abs() < 1e-6);
        assert!(parse(CSV.lines().next().unwrap()).unwrap().is_empty());
        assert!(parse("policy,class\n").is_err(), "columns missing");
        assert!(parse("").is_err());
        assert!(parse("x,y\n1,2\n").is_err());
    }

    #[test]
    fn draws() {
        let dir = std::env::temp_dir().join(format!("omss-policies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.svg");
        figure(&f, &parse(CSV).unwrap()).unwrap();
        let svg = std::fs::read_to_string(&f).unwrap();
        assert!(svg.contains("slowest") && svg.contains("<rect"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
