//! The latency-by-percentile chart (HdrHistogram style: the x axis spreads the tail, 1/(1−q) on a
//! log scale), one line per load, as SVG.

use std::path::Path;

use plotters::prelude::*;

use super::Summary;
use crate::error::BenchError;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws every summary's percentiles into `path`.
pub fn latency_svg(path: &Path, title: &str, summaries: &[Summary]) -> Result<(), BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::Setup(format!("drawing {}: {e}", path.display()));
    let x_of = |q: f64| 1.0 / (1.0 - q.min(0.99999));
    let top = summaries
        .iter()
        .flat_map(|s| s.percentiles.iter().map(|p| p[1]))
        .fold(0.01_f64, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((1.0_f64..x_of(0.9999)).log_scale(), 0.0..top)
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| format!("{:.3}%", 100.0 * (1.0 - 1.0 / x)))
        .draw()
        .map_err(|e| failed(&e))?;
    for (i, s) in summaries.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points = s.percentiles.iter().map(|p| (x_of(p[0]), p[1]));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(|e| failed(&e))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}
