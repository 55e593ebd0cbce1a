//! The scale stage's cost curves as SVG: one panel per cost, each against the instances held,
//! both axes on a log scale, one line per series (e.g. the four full-fetch shapes).

use std::path::Path;

use plotters::prelude::*;

use crate::error::BenchError;

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// One panel: a cost, its unit and its series of `(instances, value)` points.
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Draws `panels` in a grid of three columns into `path`.
pub fn curves_svg(path: &Path, panels: &[Panel]) -> Result<(), BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::Setup(format!("drawing {}: {e}", path.display()));
    let rows = panels.len().div_ceil(3).max(1);
    let root = SVGBackend::new(path, (1200, 360 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let areas = root.split_evenly((rows, 3));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let points = || panel.series.iter().flat_map(|(_, p)| p.iter().copied());
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in points().filter(|(x, y)| positive(*x) && positive(*y)) {
            (x_lo, x_hi, y_lo, y_hi) = (x_lo.min(x), x_hi.max(x), y_lo.min(y), y_hi.max(y));
        }
        if x_lo > x_hi {
            continue;
        }
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (x_lo / 1.5..x_hi * 1.5).log_scale(),
                (y_lo / 2.0..y_hi * 2.0).log_scale(),
            )
            .map_err(|e| failed(&e))?;
        chart
            .configure_mesh()
            .x_desc("instances")
            .y_desc(panel.unit.as_str())
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| short(*y))
            .draw()
            .map_err(|e| failed(&e))?;
        for (i, (name, points)) in panel.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .filter(|(x, y)| positive(*x) && positive(*y))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(|e| failed(&e))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(|e| failed(&e))?;
        }
        if panel.series.len() > 1 {
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| failed(&e))?;
        }
    }
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}

/// 1500 → "1.5k", 2000000 → "2M", 0.25 → "0.25".
fn short(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{}M", trim(v / 1e6)),
        v if v >= 1e3 => format!("{}k", trim(v / 1e3)),
        v => trim(v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short() {
        assert_eq!(short(1_500.0), "1.5k");
        assert_eq!(short(2_000_000.0), "2M");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(10.0), "10");
    }
}
