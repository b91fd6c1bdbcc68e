//! The two pictures: the receive-livelock curves and the distribution of UDP echo round trips,
//! as SVG files that docs/benchmarks.md links.

use std::path::Path;

use plotters::prelude::*;

use crate::livelock::Curve;

/// Picture size in pixels: fits a documentation page.
const SIZE: (u32, u32) = (800, 500);
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

/// Delivered against offered frames per second, one line per configuration, with the
/// "everything delivered" diagonal for reference.
pub fn livelock(path: &Path, curves: &[(&str, &Curve)]) -> Result<(), String> {
    let kilo = |v: f64| v / 1000.0;
    let max_offered = curves
        .iter()
        .flat_map(|(_, c)| c.ramp.iter().chain(&c.points).map(|p| kilo(p.offered)))
        .fold(1.0, f64::max);
    let max_delivered = curves
        .iter()
        .flat_map(|(_, c)| c.ramp.iter().chain(&c.points).map(|p| kilo(p.delivered)))
        .fold(1.0, f64::max);
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
    for (i, (name, curve)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points: Vec<(f64, f64)> = curve
            .ramp
            .iter()
            .chain(&curve.points)
            .map(|p| (kilo(p.offered), kilo(p.delivered)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
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
    let mut sorted: Vec<(&str, Vec<f64>)> = series
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
    // The x axis ends at the largest 99.5th percentile, so one outlier does not squash the rest.
    let right = sorted
        .iter()
        .map(|(_, v)| v[((v.len() - 1) as f64 * 0.995) as usize])
        .fold(1.0, f64::max);
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
        .build_cartesian_2d(0.0..right * 1.05, 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("round trip (µs, wall time under TCG)")
        .y_desc("fraction of datagrams")
        .draw()
        .map_err(err)?;
    for (i, (name, values)) in sorted.iter_mut().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let n = values.len() as f64;
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| **v <= right * 1.05)
            .map(|(k, v)| (*v, (k + 1) as f64 / n))
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
        livelock(&livelock_svg, &[("ward", &curve), ("linux", &curve)]).unwrap();
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
