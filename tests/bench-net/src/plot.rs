//! The two pictures: the receive-livelock curves and the distribution of UDP echo round trips,
//! as SVG files that docs/benchmarks.md links.

use std::path::Path;

use plotters::prelude::*;

use crate::livelock::{median_at, Curve};

/// Picture size in pixels: fits a documentation page.
const SIZE: (u32, u32) = (800, 500);
/// Points per distribution line.
const CDF_STEPS: usize = 1000;
/// Colours per series, in the order configurations are drawn.
const COLOURS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Delivered against offered frames per second, one line per configuration through the medians
/// of its rounds at each multiple of saturation, every measured step as a faint dot, and the
/// "everything delivered" diagonal for reference.
pub fn livelock(path: &Path, configs: &[(&str, &[Curve])]) -> Result<(), String> {
    let kilo = |v: f64| v / 1000.0;
    let all_points = || {
        configs
            .iter()
            .flat_map(|(_, curves)| curves.iter())
            .flat_map(|c| c.ramp.iter().chain(&c.points))
    };
    let max_offered = all_points().map(|p| kilo(p.offered)).fold(1.0, f64::max);
    let max_delivered = all_points().map(|p| kilo(p.delivered)).fold(1.0, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Receive livelock: UDP echo under rising offered load",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_offered * 1.05, 0.0..max_delivered * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("offered (kframes/s)")
        .y_desc("delivered (kframes/s)")
        .draw()
        .map_err(err)?;
    let diagonal_end = max_offered.min(max_delivered * 1.15);
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (diagonal_end, diagonal_end)],
            BLACK.mix(0.3).stroke_width(1),
        ))
        .map_err(err)?
        .label("all delivered")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.3)));
    for (i, (name, curves)) in configs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let dots: Vec<(f64, f64)> = curves
            .iter()
            .flat_map(|c| c.ramp.iter().chain(&c.points))
            .map(|p| (kilo(p.offered), kilo(p.delivered)))
            .collect();
        chart
            .draw_series(
                dots.into_iter()
                    .map(|p| Circle::new(p, 2, colour.mix(0.35).filled())),
            )
            .map_err(err)?;
        let mut multiples: Vec<f64> = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.multiple))
            .collect();
        multiples.sort_by(f64::total_cmp);
        multiples.dedup();
        let medians: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
            .chain(
                multiples
                    .iter()
                    .filter_map(|&m| median_at(curves, m))
                    .map(|p| (kilo(p.offered), kilo(p.delivered))),
            )
            .collect();
        chart
            .draw_series(LineSeries::new(medians.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(format!("{name} ({} round(s))", curves.len()))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(
                medians
                    .into_iter()
                    .skip(1)
                    .map(|p| Circle::new(p, 4, colour.filled())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// The cumulative distribution of UDP echo round trips, one line per configuration.
pub fn rtt_distribution(path: &Path, series: &[(&str, &[f64])]) -> Result<(), String> {
    let sorted: Vec<(&str, Vec<f64>)> = series
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(n, s)| {
            let mut v = s.to_vec();
            v.sort_by(f64::total_cmp);
            (*n, v)
        })
        .collect();
    if sorted.is_empty() {
        return Err("no round trips to draw".into());
    }
    // A logarithmic axis from the fastest round trip to the largest 99.9th percentile: the body
    // and the tail both stay readable.
    let quantile = |v: &[f64], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    let left = sorted
        .iter()
        .map(|(_, v)| v[0])
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let right = sorted
        .iter()
        .map(|(_, v)| quantile(v, 0.999))
        .fold(left * 2.0, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "UDP echo round trip: cumulative distribution",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((left * 0.9..right * 1.1).log_scale(), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("round trip (µs, wall time under TCG, logarithmic)")
        .y_desc("fraction of datagrams")
        .draw()
        .map_err(err)?;
    for (i, (name, values)) in sorted.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // One point per thousandth of the distribution is as fine as the picture can show.
        let points: Vec<(f64, f64)> = (0..=CDF_STEPS)
            .map(|k| {
                let q = k as f64 / CDF_STEPS as f64;
                (quantile(values, q).min(right * 1.1), q)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(err)?
            .label(format!("{name} ({} datagrams)", values.len()))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::livelock::Point;

    #[test]
    fn both_pictures_are_written_as_svg() {
        let dir = std::env::temp_dir().join(format!("bench-net-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let curve = Curve {
            saturation: 10_000.0,
            ramp: vec![Point {
                multiple: 0.0,
                offered: 5_000.0,
                delivered: 5_000.0,
            }],
            points: vec![Point {
                multiple: 2.0,
                offered: 20_000.0,
                delivered: 9_000.0,
            }],
        };
        let livelock_svg = dir.join("livelock.svg");
        let curves = [curve.clone(), curve];
        livelock(&livelock_svg, &[("ward", &curves), ("linux", &curves[..1])]).unwrap();
        let rtt_svg = dir.join("rtt.svg");
        let a = [100.0, 120.0, 150.0, 900.0];
        rtt_distribution(&rtt_svg, &[("linux", &a), ("ward", &[])]).unwrap();
        for f in [livelock_svg, rtt_svg] {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                text.starts_with("<svg") && text.contains("linux"),
                "{}",
                f.display()
            );
        }
        assert!(rtt_distribution(&dir.join("none.svg"), &[("ward", &[])]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
