//! SVG figures (plotters, SVG backend only; text is emitted as SVG `<text>`,
//! so no font library is needed to draw).

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::data::{series, Impl, Point, Proto};

type Res = Result<(), Box<dyn Error>>;

const SIZE: (u32, u32) = (820, 520);

/// How a line's points are marked (`Ring`: on the points only, not in the legend).
#[derive(Clone, Copy)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
    Ring,
    None,
}

fn style(imp: Impl) -> (RGBColor, Marker) {
    match imp {
        Impl::Omss => (RGBColor(200, 30, 30), Marker::Circle),
        Impl::OmssM => (RGBColor(30, 80, 200), Marker::Triangle),
        Impl::Daemon => (RGBColor(20, 140, 40), Marker::Square),
        Impl::Epoll => (RGBColor(220, 130, 0), Marker::Cross),
        Impl::Iouring => (RGBColor(140, 60, 170), Marker::Ring),
        Impl::IouringZc => (RGBColor(200, 110, 220), Marker::Ring),
        Impl::Gstreamer => (RGBColor(0, 150, 160), Marker::Ring),
        Impl::Floor => (RGBColor(110, 110, 110), Marker::None),
        Impl::Pktgen => (RGBColor(170, 170, 170), Marker::None),
    }
}

/// One line of a figure: its legend, colour and marker, and (x, median, min, max) per point.
pub struct Line {
    pub label: &'static str,
    pub color: RGBColor,
    pub marker: Marker,
    pub pts: Vec<(f64, f64, f64, f64)>,
}

impl Line {
    fn of(imp: Impl, pts: Vec<(f64, f64, f64, f64)>) -> Line {
        let (color, marker) = style(imp);
        Line {
            label: imp.name(),
            color,
            marker,
            pts,
        }
    }
}

/// Figure 6: relay CPU % vs subscribers, one line per implementation.
pub fn fanout_figure(path: &Path, proto: Proto, points: &[Point], smoke: bool) -> Res {
    let lines: Vec<Line> = Impl::ALL
        .into_iter()
        .map(|imp| {
            let pts = series(points, proto, imp)
                .iter()
                .map(|p| (p.subscribers as f64, p.cpu_median, p.cpu_min, p.cpu_max))
                .collect();
            Line::of(imp, pts)
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
        .map(|imp| {
            let pts = series(points, proto, imp)
                .iter()
                .filter(|p| Some(p.subscribers) == subscribers)
                .filter_map(|p| Some((p.payload as f64, p.us_median?, p.us_min?, p.us_max?)))
                .collect();
            Line::of(imp, pts)
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

/// A figure of `lines` (a placeholder when there are none); `y_cap` bounds the y axis.
pub fn draw(
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
        let c = line.color;
        let style = c.stroke_width(2);
        let xy: Vec<(f64, f64)> = line.pts.iter().map(|p| (p.0, p.1)).collect();
        let legend = chart
            .draw_series(LineSeries::new(xy.clone(), style))?
            .label(line.label);
        match line.marker {
            Marker::Circle => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + Circle::new((12, 0), 4, c.filled())
            }),
            Marker::Triangle => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + TriangleMarker::new((12, 0), 5, c.filled())
            }),
            Marker::Square => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + Rectangle::new([(8, -4), (16, 4)], c.filled())
            }),
            Marker::Cross => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], style)
                    + Cross::new((12, 0), 4, c.stroke_width(2))
            }),
            Marker::Ring | Marker::None => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y)) + PathElement::new(vec![(0, 0), (24, 0)], style)
            }),
        };
        chart.draw_series(
            line.pts
                .iter()
                .map(|&(x, med, lo, hi)| ErrorBar::new_vertical(x, lo, med, hi, c, 8)),
        )?;
        match line.marker {
            Marker::Circle => {
                chart.draw_series(xy.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
            }
            Marker::Triangle => {
                chart.draw_series(xy.iter().map(|&p| TriangleMarker::new(p, 5, c.filled())))?;
            }
            Marker::Square => {
                chart.draw_series(xy.iter().map(|&p| {
                    EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], c.filled())
                }))?;
            }
            Marker::Cross => {
                chart.draw_series(xy.iter().map(|&p| Cross::new(p, 4, c.stroke_width(2))))?;
            }
            Marker::Ring => {
                chart.draw_series(xy.iter().map(|&p| Circle::new(p, 3, c.stroke_width(2))))?;
            }
            Marker::None => {}
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
