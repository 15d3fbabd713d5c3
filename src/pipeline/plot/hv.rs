//! The HV check's summary plot (`<SN>_gain_vs_hv_loglog.png`): gain (or Q1) against the
//! supply voltage on log–log axes with the points' error bars, the fitted power law and
//! its 1σ band, excluded points hollow with their reason, and the target gain with the
//! voltage that reaches it. The right-hand column holds the legend and the result in
//! words, so no text covers data.

use plotters::prelude::*;

use super::font::{text as font, title_or};
use super::format::{sig, value_err, wrap};
use super::png::{Canvas, draw_err, render};
use crate::pipeline::error::Result;
use crate::pipeline::hv::HvFit;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 700;
const INFO_W: u32 = 300;

const FIT_COLOUR: RGBColor = RGBColor(220, 30, 30);
const BAND_COLOUR: RGBColor = RGBColor(250, 190, 190);
const EXCLUDED: RGBColor = RGBColor(120, 120, 120);
const TARGET: RGBColor = RGBColor(0, 90, 200);

/// What to draw.
pub struct HvPlot<'a> {
    pub fit: &'a HvFit,
    /// Title line (serial, when the caller knows it).
    pub title: String,
    /// The y quantity in words with its unit: `gain` or `Q1 [mV*ns]`.
    pub quantity: String,
}

/// Renders the gain-versus-HV plot as PNG bytes (1000×700).
pub fn hv_png(plot: &HvPlot) -> Result<Vec<u8>> {
    render(WIDTH, HEIGHT, |root| draw(root, plot))
}

/// Axis ranges (both positive, for log axes) covering points, error bars, target and
/// the fit line.
fn ranges(f: &HvFit) -> ((f64, f64), (f64, f64)) {
    let mut xs: Vec<f64> = f.points.iter().map(|p| p.volts).collect();
    let mut ys: Vec<f64> = Vec::new();
    for p in &f.points {
        if let Some(v) = p.value.filter(|v| *v > 0.0 && v.is_finite()) {
            ys.push(v);
            if let Some(e) = p.error.filter(|e| e.is_finite() && *e < v) {
                ys.push(v - e);
                ys.push(v + e);
            }
        }
    }
    if let Some(v) = f.hv_at_target {
        xs.push(v);
    }
    if f.target > 0.0 && f.target.is_finite() {
        ys.push(f.target);
    }
    let span = |v: &[f64], pad: f64| {
        let v: Vec<f64> = v
            .iter()
            .copied()
            .filter(|x| *x > 0.0 && x.is_finite())
            .collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi > lo {
            (lo / pad, hi * pad)
        } else if lo.is_finite() {
            (lo / (pad * 2.0), lo * pad * 2.0)
        } else {
            (1.0, 10.0)
        }
    };
    let x = span(&xs, 1.03);
    // The fit line over the whole x range stays on the plot (no flat clamped ends).
    if let Some(law) = &f.fit {
        for v in [x.0, x.1] {
            let ly = law.ln_value_at(v).0;
            if ly.is_finite() && ly.abs() < 700.0 {
                ys.push(ly.exp());
            }
        }
    }
    (x, span(&ys, 1.3))
}

/// Round voltages for the x axis: an HV check spans a few hundred volts, far less than
/// the decade a log axis would label by itself.
fn volt_ticks(x: (f64, f64)) -> Vec<f64> {
    let span = x.1 - x.0;
    let step = [10.0, 20.0, 25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0]
        .into_iter()
        .find(|s| span / s <= 10.0)
        .unwrap_or(2000.0);
    let first = (x.0 / step).ceil() as i64;
    let last = (x.1 / step).floor() as i64;
    (first..=last.min(first + 40))
        .map(|k| k as f64 * step)
        .collect()
}

/// 1-2-5 ticks per decade on the y axis (every integer mantissa when that gives fewer
/// than three), so a span of less than a decade still reads.
fn log_ticks(y: (f64, f64)) -> Vec<f64> {
    let (k0, k1) = (y.0.log10().floor() as i32, y.1.log10().ceil() as i32);
    let within = |ms: &[f64]| -> Vec<f64> {
        (k0..=k1.min(k0 + 30))
            .flat_map(|k| ms.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|v| *v >= y.0 && *v <= y.1)
            .collect()
    };
    let t = within(&[1.0, 2.0, 5.0]);
    if t.len() >= 3 {
        t
    } else {
        within(&[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    }
}

fn draw(root: &Canvas, p: &HvPlot) -> Result<()> {
    let title = title_or(p.title.as_str(), "gain vs HV");
    let body = root.titled(title, font(22)).map_err(draw_err)?;
    let (left, right) = body.split_horizontally(WIDTH - INFO_W);
    let f = p.fit;
    let (x, y) = ranges(f);
    let mut chart = ChartBuilder::on(&left)
        .margin_left(10)
        .margin_right(15)
        .margin_top(5)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x.0..x.1).log_scale().with_key_points(volt_ticks(x)),
            (y.0..y.1).log_scale().with_key_points(log_ticks(y)),
        )
        .map_err(draw_err)?;
    let x_fmt = |v: &f64| format!("{v:.0}");
    let y_fmt = |v: &f64| sig(*v, 2);
    chart
        .configure_mesh()
        .x_labels(20)
        .y_labels(20)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc("high voltage [V]")
        .y_desc(p.quantity.clone())
        .label_style(font(13))
        .axis_desc_style(font(15))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(draw_err)?;

    if let Some(law) = &f.fit {
        // The band and line over the plotted voltage range, 60 steps in ln V.
        let n = 60;
        let grid: Vec<f64> = (0..=n)
            .map(|i| (x.0.ln() + (x.1.ln() - x.0.ln()) * i as f64 / n as f64).exp())
            .collect();
        let clamp = |v: f64| v.clamp(y.0, y.1);
        let mut band: Vec<(f64, f64)> = Vec::with_capacity(2 * grid.len());
        let mut line = Vec::with_capacity(grid.len());
        for &v in &grid {
            let (ly, e) = law.ln_value_at(v);
            band.push((v, clamp((ly + e).exp())));
            line.push((v, clamp(ly.exp())));
        }
        for &v in grid.iter().rev() {
            let (ly, e) = law.ln_value_at(v);
            band.push((v, clamp((ly - e).exp())));
        }
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                BAND_COLOUR.mix(0.6).filled(),
            )))
            .map_err(draw_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                line,
                FIT_COLOUR.stroke_width(2),
            )))
            .map_err(draw_err)?;
    }
    // Target gain (horizontal) and the voltage found (vertical), dashed by segments.
    if f.target > y.0 && f.target < y.1 {
        chart
            .draw_series(dashes((x.0, f.target), (x.1, f.target), true))
            .map_err(draw_err)?;
    }
    if let Some(v) = f.hv_at_target.filter(|v| *v > x.0 && *v < x.1) {
        chart
            .draw_series(dashes((v, y.0), (v, y.1), false))
            .map_err(draw_err)?;
        if let Some(e) = f.hv_at_target_err.filter(|e| e.is_finite()) {
            let (lo, hi) = ((v - e).max(x.0), (v + e).min(x.1));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(lo, y.0), (hi, y.1)],
                    TARGET.mix(0.12).filled(),
                )))
                .map_err(draw_err)?;
        }
    }
    // Points: error bars, then filled (used) or hollow (excluded) markers.
    for pt in &f.points {
        let Some(v) = pt.value.filter(|v| *v > 0.0 && v.is_finite()) else {
            continue;
        };
        let colour = if pt.used { BLACK } else { EXCLUDED };
        if let Some(e) = pt.error.filter(|e| e.is_finite() && *e > 0.0) {
            let (lo, hi) = ((v - e).max(y.0), (v + e).min(y.1));
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(pt.volts, lo), (pt.volts, hi)],
                    colour.stroke_width(1),
                )))
                .map_err(draw_err)?;
        }
        let style = if pt.used {
            BLACK.filled()
        } else {
            EXCLUDED.stroke_width(2)
        };
        chart
            .draw_series(std::iter::once(Circle::new(
                (pt.volts, v.clamp(y.0, y.1)),
                5,
                style,
            )))
            .map_err(draw_err)?;
    }
    // Excluded points without a value: a hollow marker on the bottom axis. Every excluded
    // point gets its kind written next to it (the reason in full is in the side column).
    chart
        .draw_series(
            f.points
                .iter()
                .filter(|pt| !pt.used && pt.value.is_none_or(|v| !(v > 0.0 && v.is_finite())))
                .map(|pt| Circle::new((pt.volts, y.0), 5, EXCLUDED.stroke_width(2))),
        )
        .map_err(draw_err)?;
    let label_style = font(12).color(&EXCLUDED);
    chart
        .draw_series(f.points.iter().filter(|pt| !pt.used).map(|pt| {
            let at = pt
                .value
                .filter(|v| *v > 0.0 && v.is_finite())
                .map_or(y.0, |v| v.clamp(y.0, y.1));
            let words = pt.excluded.as_ref().map_or("excluded", |e| e.kind.words());
            EmptyElement::at((pt.volts, at))
                + Text::new(words.to_string(), (8, -18), label_style.clone())
        }))
        .map_err(draw_err)?;
    draw_info(&right, p)
}

/// A dashed straight line from `a` to `b` on the log–log chart (14 dashes).
fn dashes(
    a: (f64, f64),
    b: (f64, f64),
    horizontal: bool,
) -> impl Iterator<Item = PathElement<(f64, f64)>> {
    let n = 28;
    let at = move |i: usize| {
        let t = i as f64 / n as f64;
        if horizontal {
            ((a.0.ln() + (b.0.ln() - a.0.ln()) * t).exp(), a.1)
        } else {
            (a.0, (a.1.ln() + (b.1.ln() - a.1.ln()) * t).exp())
        }
    };
    (0..n)
        .step_by(2)
        .map(move |i| PathElement::new(vec![at(i), at(i + 1)], TARGET.stroke_width(2)))
}

fn draw_info(area: &Canvas, p: &HvPlot) -> Result<()> {
    let f = p.fit;
    let max_w = INFO_W - 25;
    let mut lines: Vec<(String, RGBColor)> = Vec::new();
    let mut push = |text: String, colour: RGBColor| {
        for l in wrap(&text, max_w, |s| {
            area.estimate_text_size(s, &font(14)).map_or(0, |(w, _)| w)
        }) {
            lines.push((l, colour));
        }
    };
    push("● used point   ○ excluded".into(), BLACK);
    push("— power law, band: 1σ".into(), FIT_COLOUR);
    push(format!("- - target {}", sig(f.target, 3)), TARGET);
    push(String::new(), BLACK);
    match (f.hv_at_target, f.hv_at_target_err) {
        (Some(v), e) => {
            push(format!("HV at target: {} V", value_err(v, e)), TARGET);
            if let Some(s) = f.hv_at_target_err_syst {
                push(
                    format!(
                        "syst. (gain model {:.0} %): ± {} V",
                        f.gain_syst * 100.0,
                        sig(s, 2)
                    ),
                    BLACK,
                );
            }
        }
        (None, _) => push("no voltage for the target".into(), FIT_COLOUR),
    }
    if let (Some(b), Some(law)) = (f.slope, &f.fit) {
        push(format!("slope: {}", value_err(b, f.slope_err)), BLACK);
        push(
            format!(
                "χ²/ndf: {:.1}/{}{}",
                law.chi2,
                law.ndf,
                if law.scale_factor > 1.0 {
                    format!(" (errors ×{:.2})", law.scale_factor)
                } else {
                    String::new()
                }
            ),
            BLACK,
        );
    }
    let used = f.points.iter().filter(|p| p.used).count();
    push(format!("{used} of {} points used", f.points.len()), BLACK);
    for e in &f.exclusions {
        push(format!("{:.0} V excluded: {}", e.volts, e.reason), EXCLUDED);
    }
    for w in &f.warnings {
        push(format!("warning: {w}"), FIT_COLOUR);
    }
    for (i, (l, c)) in lines.iter().enumerate() {
        area.draw_text(l, &font(14).color(c), (10, 20 + 19 * i as i32))
            .map_err(draw_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::hv::{ExclusionKind, HvFitOptions, HvInput, fit_hv};

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(
            volt_ticks((1455.0, 1750.0)),
            vec![1500.0, 1550.0, 1600.0, 1650.0, 1700.0, 1750.0]
        );
        let t = log_ticks((30.0, 400.0));
        assert_eq!(t, vec![50.0, 100.0, 200.0]);
        assert!(log_ticks((6e6, 1.5e7)).len() >= 3);
    }

    #[test]
    fn draws_fits_exclusions_and_empty_input() {
        let mut pts: Vec<HvInput> = [1400.0, 1450.0, 1500.0, 1550.0, 1600.0]
            .iter()
            .map(|&v: &f64| HvInput {
                volts: v,
                value: Some(1e7 * (v / 1500.0).powi(7)),
                error: Some(2e5),
                problem: None,
                source: String::new(),
            })
            .collect();
        pts[1].problem = Some((ExclusionKind::NoSignal, "no signal".into()));
        pts[1].value = None;
        let f = fit_hv(&pts, &HvFitOptions::default());
        for fit in [f, fit_hv(&[], &HvFitOptions::default())] {
            let png = hv_png(&HvPlot {
                fit: &fit,
                title: "SN gain vs HV".into(),
                quantity: "gain".into(),
            })
            .expect("png");
            assert!(png.starts_with(b"\x89PNG"));
        }
    }
}
