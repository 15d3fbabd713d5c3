//! One chart of the last hour as inline SVG (a polyline in a fixed view box): the server
//! sends only the changed `points` attribute when a new sample arrives, never an image.

use dioxus::prelude::*;

use crate::model::ChartSeries;

/// The view box: width × height in SVG units.
const W: f64 = 300.0;
const H: f64 = 60.0;
/// The window the x axis spans (seconds).
const SPAN: f64 = 3600.0;

/// The polyline's `points` for `series`, ending at `now` (pure, for tests).
pub fn polyline(series: &ChartSeries, now: i64) -> String {
    let top = series
        .max
        .unwrap_or_else(|| series.points.iter().map(|p| p.1).fold(0.0, f64::max))
        .max(1e-9);
    let mut out = String::new();
    for &(t, v) in &series.points {
        let x = (W - (now - t) as f64 / SPAN * W).clamp(0.0, W);
        let y = H - (v / top).clamp(0.0, 1.0) * H;
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{x:.1},{y:.1}"));
    }
    out
}

#[component]
pub fn Chart(series: ChartSeries, now: i64) -> Element {
    let points = polyline(&series, now);
    let last = series
        .points
        .last()
        .map(|p| format!("{:.1}{}", p.1, series.unit))
        .unwrap_or_else(|| "—".into());
    rsx! {
        figure { class: "chart",
            figcaption { "{series.title}: " strong { "{last}" } }
            svg {
                view_box: "0 0 {W} {H}",
                width: "300",
                height: "60",
                role: "img",
                "aria-label": "{series.title}, the last hour",
                rect { x: "0", y: "0", width: "{W}", height: "{H}", class: "chart-bg" }
                polyline { points: "{points}", class: "chart-line", fill: "none" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_point_is_at_the_right_and_values_scale_to_the_top() {
        let s = ChartSeries {
            key: "k".into(),
            title: "t".into(),
            unit: "%".into(),
            max: Some(100.0),
            points: vec![(0, 0.0), (3600, 100.0)],
        };
        assert_eq!(polyline(&s, 3600), "0.0,60.0 300.0,0.0");
    }
}
