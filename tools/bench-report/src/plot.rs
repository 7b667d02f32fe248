//! SVG figures (plotters, SVG backend only; text is emitted as SVG `<text>`,
//! so no font library is needed to draw).

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::data::{series, Impl, Point, Proto};

type Res = Result<(), Box<dyn Error>>;

const SIZE: (u32, u32) = (820, 520);

fn color(imp: Impl) -> RGBColor {
    match imp {
        Impl::Omss => RGBColor(200, 30, 30),
        Impl::OmssM => RGBColor(30, 80, 200),
        Impl::Daemon => RGBColor(20, 140, 40),
        Impl::Epoll => RGBColor(220, 130, 0),
        Impl::Iouring => RGBColor(140, 60, 170),
        Impl::IouringZc => RGBColor(200, 110, 220),
        Impl::Gstreamer => RGBColor(0, 150, 160),
        Impl::Floor => RGBColor(110, 110, 110),
        Impl::Pktgen => RGBColor(170, 170, 170),
    }
}

/// One line of a figure: (x, median, min, max) per point.
struct Line {
    imp: Impl,
    pts: Vec<(f64, f64, f64, f64)>,
}

/// Figure 6: relay CPU % vs subscribers, one line per implementation.
pub fn fanout_figure(path: &Path, proto: Proto, points: &[Point], smoke: bool) -> Res {
    let lines: Vec<Line> = Impl::ALL
        .into_iter()
        .map(|imp| Line {
            imp,
            pts: series(points, proto, imp)
                .iter()
                .map(|p| (p.subscribers as f64, p.cpu_median, p.cpu_min, p.cpu_max))
                .collect(),
        })
        .filter(|l| !l.pts.is_empty())
        .collect();
    let title = format!(
        "Fig. 6 ({}): relay CPU during the bulk fan-out test{}",
        proto.name(),
        if smoke { " [SMOKE]" } else { "" }
    );
    draw(
        path,
        &title,
        "Subscribers",
        "Relay host CPU utilisation (%), median, min-max",
        &lines,
        Some(100.0),
    )
}

/// Figure 7: relay CPU per delivered packet vs payload, OMSS and OMSS-M, at
/// `subscribers` subscribers.
pub fn payload_figure(
    path: &Path,
    proto: Proto,
    points: &[Point],
    subscribers: Option<u64>,
    smoke: bool,
) -> Res {
    let lines: Vec<Line> = [Impl::Omss, Impl::OmssM]
        .into_iter()
        .map(|imp| Line {
            imp,
            pts: series(points, proto, imp)
                .iter()
                .filter(|p| Some(p.subscribers) == subscribers)
                .filter_map(|p| Some((p.payload as f64, p.us_median?, p.us_min?, p.us_max?)))
                .collect(),
        })
        .filter(|l| !l.pts.is_empty())
        .collect();
    let title = format!(
        "Fig. 7 ({}): payload-size test, 1-to-{} relay{}",
        proto.name(),
        subscribers.map_or_else(|| "N".to_string(), |n| n.to_string()),
        if smoke { " [SMOKE]" } else { "" }
    );
    draw(
        path,
        &title,
        "Payload size (bytes)",
        "Relay CPU per delivered packet (us), median, min-max",
        &lines,
        None,
    )
}

fn draw(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    y_cap: Option<f64>,
) -> Res {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    if lines.is_empty() {
        return placeholder(&root, title);
    }
    let all = lines.iter().flat_map(|l| l.pts.iter());
    let x_max = all.clone().map(|p| p.0).fold(0.0, f64::max);
    let y_max = all.map(|p| p.3).fold(0.0, f64::max);
    let x_top = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    let mut y_top = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    if let Some(cap) = y_cap {
        y_top = y_top.min(cap * 1.05);
    }

    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_top, 0f64..y_top)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", 15))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| {
            if y_top >= 10.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .draw()?;

    for line in lines {
        let c = color(line.imp);
        let style = c.stroke_width(2);
        let xy: Vec<(f64, f64)> = line.pts.iter().map(|p| (p.0, p.1)).collect();
        let legend = chart
            .draw_series(LineSeries::new(xy.clone(), style))?
            .label(line.imp.name());
        match line.imp {
            Impl::Omss => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + Circle::new((12, 0), 4, c.filled())
            }),
            Impl::OmssM => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + TriangleMarker::new((12, 0), 5, c.filled())
            }),
            Impl::Daemon => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + Rectangle::new([(8, -4), (16, 4)], c.filled())
            }),
            Impl::Epoll => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + Cross::new((12, 0), 4, c.stroke_width(2))
            }),
            Impl::Iouring | Impl::IouringZc | Impl::Gstreamer | Impl::Floor | Impl::Pktgen => {
                legend.legend(move |(x, y)| {
                    EmptyElement::at((x, y)) + PathElement::new(vec![(0, 0), (24, 0)], style)
                })
            }
        };
        chart.draw_series(
            line.pts
                .iter()
                .map(|&(x, med, lo, hi)| ErrorBar::new_vertical(x, lo, med, hi, c, 8)),
        )?;
        match line.imp {
            Impl::Omss => {
                chart.draw_series(xy.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
            }
            Impl::OmssM => {
                chart.draw_series(xy.iter().map(|&p| TriangleMarker::new(p, 5, c.filled())))?;
            }
            Impl::Daemon => {
                chart.draw_series(xy.iter().map(|&p| {
                    EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], c.filled())
                }))?;
            }
            Impl::Epoll => {
                chart.draw_series(xy.iter().map(|&p| Cross::new(p, 4, c.stroke_width(2))))?;
            }
            Impl::Iouring | Impl::IouringZc | Impl::Gstreamer => {
                chart.draw_series(xy.iter().map(|&p| Circle::new(p, 3, c.stroke_width(2))))?;
            }
            Impl::Floor | Impl::Pktgen => {}
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

fn placeholder(root: &DrawingArea<SVGBackend<'_>, Shift>, title: &str) -> Res {
    root.draw(&Text::new(
        title.to_string(),
        (20, 30),
        ("sans-serif", 20).into_font(),
    ))?;
    root.draw(&Text::new(
        "not measured in this run",
        (20, 70),
        ("sans-serif", 18).into_font(),
    ))?;
    root.present()?;
    Ok(())
}
