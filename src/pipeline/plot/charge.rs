//! `charge.png`: one point's charge spectrum with its fit. The left column holds the
//! spectrum (log y) with the fitted model and its components, and below it the residuals;
//! the right column holds the legend and the fit parameters, so no text ever covers data.

use plotters::prelude::*;

use super::clip::{Rect, clip_polyline};
use super::font::{text as font, title_or};
use super::format::{count_tick, short, sig, tick, value_err, wrap};
use super::png::{Canvas, draw_err, render};
use crate::pipeline::error::Result;
use crate::pipeline::fit::{FitCurve, FitResult, Status};
use crate::pipeline::histogram::Histogram;

/// Picture size in pixels.
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 750;
/// Width of the right-hand legend/parameter column.
const INFO_W: u32 = 275;
/// Width of the y tick-label area; equal in both panels so their x axes line up.
const Y_LABELS: u32 = 80;

const FIT_COLOUR: RGBColor = RGBColor(220, 30, 30);
const GREY_TEXT: RGBColor = RGBColor(100, 100, 100);
const REF_COLOUR: RGBColor = RGBColor(150, 150, 150);
const COMPONENT_COLOURS: [RGBColor; 8] = [
    RGBColor(0, 90, 200),
    RGBColor(0, 150, 60),
    RGBColor(230, 130, 0),
    RGBColor(140, 60, 170),
    RGBColor(0, 160, 170),
    RGBColor(140, 90, 40),
    RGBColor(200, 0, 150),
    RGBColor(110, 110, 0),
];
/// Fit parameters in the order a physicist reads them; others follow alphabetically.
const PARAM_ORDER: [&str; 7] = ["q0", "sigma0", "q1", "sigma1", "mu", "w", "alpha"];

/// What to draw for one point.
pub struct ChargePlot<'a> {
    /// The fitted spectrum.
    pub hist: &'a Histogram,
    /// The fit; its `curve`, when present, is drawn with the residuals.
    pub fit: &'a FitResult,
    /// Title line (the caller puts serial, point and time in it).
    pub title: String,
    /// Gain and its error, when known.
    pub gain: Option<(f64, f64)>,
    /// A reference spectrum, overlaid in grey scaled to the same number of events.
    pub reference: Option<&'a Histogram>,
    /// The reference's legend entry (e.g. `reference (R12860)`); `None`: `reference (scaled)`.
    pub reference_label: Option<&'a str>,
}

/// Renders the charge spectrum plot as PNG bytes (1000×750).
pub fn charge_png(plot: &ChargePlot) -> Result<Vec<u8>> {
    render(WIDTH, HEIGHT, |root| draw(root, plot))
}

/// The x range: the histogram's, else the curve's, else `[0, 1]`.
fn x_range(hist: &Histogram, curve: Option<&FitCurve>) -> (f64, f64) {
    let (lo, hi) = (hist.lo, hist.hi());
    if lo.is_finite() && hi.is_finite() && hi > lo {
        return (lo, hi);
    }
    if let Some(c) = curve {
        let xs = c.x.iter().copied().filter(|x| x.is_finite());
        let (mn, mx) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        if mx > mn {
            return (mn, mx);
        }
    }
    (0.0, 1.0)
}

/// One model curve as drawn and listed in the legend.
struct Line {
    label: String,
    colour: RGBColor,
    width: u32,
    pts: Vec<(f64, f64)>,
}

/// Everything the panels need, computed once and sanitised (finite, in range).
struct Prepared {
    x: (f64, f64),
    /// Log-axis y range.
    y: (f64, f64),
    /// Bins with n > 0: (centre, n).
    data: Vec<(f64, f64)>,
    /// The fit's total first, then its components.
    lines: Vec<Line>,
    /// The reference spectrum's outline, already scaled.
    reference: Option<Vec<(f64, f64)>>,
}

fn prepare(p: &ChargePlot) -> Prepared {
    let hist = p.hist;
    let curve = p.fit.curve.as_ref();
    let x = x_range(hist, curve);
    let in_x = |v: f64| v >= x.0 && v <= x.1;
    let data: Vec<(f64, f64)> = hist
        .centers()
        .into_iter()
        .zip(hist.counts.iter().copied())
        .filter(|&(c, n)| c.is_finite() && in_x(c) && n.is_finite() && n > 0.0)
        .collect();

    let mut lines = Vec::new();
    if let Some(c) = curve {
        // `zip` stops at the shorter of x and y, so mismatched lengths just truncate.
        let line = |label: &str, colour, width, ys: &[f64]| Line {
            label: label.to_string(),
            colour,
            width,
            pts: c.x.iter().copied().zip(ys.iter().copied()).collect(),
        };
        lines.push(line("fit: total", FIT_COLOUR, 3, &c.total));
        for (i, (name, ys)) in c.components.iter().enumerate() {
            let colour = COMPONENT_COLOURS[i % COMPONENT_COLOURS.len()];
            lines.push(line(name, colour, 2, ys));
        }
    }

    let reference = p.reference.and_then(|r| {
        let (rt, ht) = (r.total(), hist.total());
        // Same number of events, and per bin of the fitted histogram's width.
        let scale = (ht / rt) * (hist.width / r.width);
        (scale.is_finite() && scale > 0.0 && r.width > 0.0).then(|| {
            let mut pts = Vec::with_capacity(2 * r.counts.len());
            for (i, &n) in r.counts.iter().enumerate() {
                let x0 = r.lo + i as f64 * r.width;
                pts.push((x0, n * scale));
                pts.push((x0 + r.width, n * scale));
            }
            pts
        })
    });

    // Log y: the pedestal is typically 10–100× taller than the SPE peak and the fit
    // quality shows in the tails, so a linear axis would squash exactly the part the
    // plot is for. Empty bins cannot be drawn on a log axis and are simply left out.
    let min_pos = data.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
    let ylo = if min_pos.is_finite() {
        (0.5 * min_pos).min(0.5)
    } else {
        0.5
    };
    let mut yhi = data.iter().map(|d| d.1 + d.1.sqrt()).fold(0.0, f64::max);
    if let Some(total) = lines.first() {
        for &(px, py) in &total.pts {
            if in_x(px) && py.is_finite() {
                yhi = yhi.max(py);
            }
        }
    }
    if let Some(r) = &reference {
        yhi = r
            .iter()
            .map(|d| d.1)
            .filter(|v| v.is_finite())
            .fold(yhi, f64::max);
    }
    let yhi = if yhi.is_finite() && yhi > ylo * 10.0 {
        yhi * 2.0
    } else {
        ylo * 20.0
    };
    Prepared {
        x,
        y: (ylo, yhi),
        data,
        lines,
        reference,
    }
}

/// Clips a data-space polyline to the log-y chart range; returns the visible runs in
/// data space. Non-positive y maps far below the axis so lines dive into it.
fn clip_log(pts: &[(f64, f64)], x: (f64, f64), y: (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let (l0, l1) = (y.0.log10(), y.1.log10());
    let disp: Vec<(f64, f64)> = pts
        .iter()
        .map(|&(px, py)| {
            let ly = if py > 0.0 { py.log10() } else { l0 - 3.0 };
            (px, if py.is_nan() { f64::NAN } else { ly })
        })
        .collect();
    let rect = Rect {
        x0: x.0,
        x1: x.1,
        y0: l0,
        y1: l1,
    };
    clip_polyline(&disp, &rect)
        .into_iter()
        .map(|run| run.into_iter().map(|(a, b)| (a, 10f64.powf(b))).collect())
        .collect()
}

fn draw(root: &Canvas, p: &ChargePlot) -> Result<()> {
    let title = title_or(p.title.as_str(), "charge spectrum");
    let body = root.titled(title, font(22)).map_err(draw_err)?;
    let (left, right) = body.split_horizontally(WIDTH - INFO_W);
    let prep = prepare(p);
    let curve = p.fit.curve.as_ref();
    let (main, resid) = match curve {
        Some(_) => {
            let (a, b) = left.split_vertically(left.dim_in_pixel().1 * 72 / 100);
            (a, Some(b))
        }
        None => (left, None),
    };
    draw_spectrum(&main, p, &prep, resid.is_none())?;
    if let (Some(area), Some(c)) = (resid, curve) {
        draw_residuals(&area, p.hist, c, prep.x)?;
    }
    draw_info(&right, p, &prep)
}

fn draw_spectrum(area: &Canvas, p: &ChargePlot, prep: &Prepared, x_desc: bool) -> Result<()> {
    let unit = &p.hist.unit;
    let (x, y) = (prep.x, prep.y);
    let mut chart = ChartBuilder::on(area)
        .margin_left(10)
        .margin_right(15)
        .margin_top(5)
        .x_label_area_size(if x_desc { 50 } else { 28 })
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x.0..x.1, (y.0..y.1).log_scale())
        .map_err(draw_err)?;
    let bin = short(p.hist.width, 3);
    let x_fmt = |v: &f64| tick(*v, x.0, x.1);
    let y_fmt = |v: &f64| count_tick(*v);
    let x_title = format!("charge [{unit}]");
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(8)
        .y_labels(10)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_desc(format!("events / {bin} {unit}"))
        .label_style(font(13))
        .axis_desc_style(font(15))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.08));
    if x_desc {
        mesh.x_desc(x_title);
    }
    mesh.draw().map_err(draw_err)?;

    if let Some(r) = &prep.reference {
        for run in clip_log(r, x, y) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    run,
                    REF_COLOUR.stroke_width(2),
                )))
                .map_err(draw_err)?;
        }
    }
    // Error bars then points; √n, cut at the bottom of the axis.
    chart
        .draw_series(prep.data.iter().map(|&(cx, n)| {
            let s = n.sqrt();
            PathElement::new(
                vec![(cx, (n - s).max(y.0)), (cx, n + s)],
                BLACK.stroke_width(1),
            )
        }))
        .map_err(draw_err)?;
    chart
        .draw_series(
            prep.data
                .iter()
                .map(|&pt| Circle::new(pt, 2, BLACK.filled())),
        )
        .map_err(draw_err)?;
    // Components under the total, so the total stays on top.
    for line in prep.lines.iter().rev() {
        for run in clip_log(&line.pts, x, y) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    run,
                    line.colour.stroke_width(line.width),
                )))
                .map_err(draw_err)?;
        }
    }

    // Statements in words, at the top left of the plotting area.
    let (px, py) = chart.plotting_area().get_pixel_range();
    let (ox, oy) = (
        px.start - area.get_base_pixel().0,
        py.start - area.get_base_pixel().1,
    );
    let max_w = (px.end - px.start - 20).max(50) as u32;
    let mut notes = Vec::new();
    if p.fit.status != Status::Ok {
        match p.fit.message.as_deref().map(str::trim) {
            Some(msg) if !msg.is_empty() => {
                notes.push(format!("no fit: {} — {msg}", p.fit.status));
            }
            _ => notes.push(format!("no fit: {}", p.fit.status)),
        }
    }
    if prep.data.is_empty() {
        notes.push("empty spectrum: no bin has any events".to_string());
    }
    let style = font(17).color(&FIT_COLOUR);
    let lines: Vec<String> = notes
        .iter()
        .flat_map(|n| wrap(n, max_w, |s| text_w(area, s, &style)))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    // A translucent box keeps the words readable where they cross data points.
    let box_w = lines
        .iter()
        .map(|l| text_w(area, l, &style))
        .max()
        .unwrap_or(0) as i32;
    let box_h = 22 * lines.len() as i32;
    area.draw(&Rectangle::new(
        [(ox + 4, oy + 4), (ox + 16 + box_w, oy + 12 + box_h)],
        WHITE.mix(0.85).filled(),
    ))
    .map_err(draw_err)?;
    for (i, line) in lines.iter().enumerate() {
        area.draw_text(line, &style, (ox + 10, oy + 8 + 22 * i as i32))
            .map_err(draw_err)?;
    }
    Ok(())
}

fn text_w(area: &Canvas, s: &str, style: &TextStyle) -> u32 {
    area.estimate_text_size(s, style).map_or(0, |(w, _)| w)
}

fn draw_residuals(area: &Canvas, hist: &Histogram, c: &FitCurve, x: (f64, f64)) -> Result<()> {
    let consistent = c.per_bin.len() == hist.counts.len();
    let res: Vec<(f64, f64)> = if consistent {
        hist.centers()
            .into_iter()
            .zip(hist.counts.iter().zip(&c.per_bin))
            .filter(|&(cx, (n, nu))| cx >= x.0 && cx <= x.1 && n.is_finite() && *nu > 0.0)
            .map(|(cx, (n, nu))| (cx, (n - nu) / nu.sqrt()))
            .filter(|r| r.1.is_finite())
            .collect()
    } else {
        Vec::new()
    };
    // Symmetric range, at least ±3 so a good fit looks calm, at most ±8 so one wild bin
    // does not flatten the rest; bins beyond are drawn hollow on the edge.
    let max = res.iter().map(|r| r.1.abs()).fold(0.0, f64::max);
    let lim = (max * 1.15).clamp(3.0, 8.0);
    let mut chart = ChartBuilder::on(area)
        .margin_left(10)
        .margin_right(15)
        .margin_top(8)
        .x_label_area_size(50)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x.0..x.1, -lim..lim)
        .map_err(draw_err)?;
    let x_fmt = |v: &f64| tick(*v, x.0, x.1);
    let y_fmt = |v: &f64| format!("{v:.0}");
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(5)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(format!("charge [{}]", hist.unit))
        .y_desc("(n − ν)/√ν")
        .label_style(font(13))
        .axis_desc_style(font(15))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(draw_err)?;
    for (level, colour) in [
        (0.0, BLACK.mix(0.6)),
        (2.0, BLACK.mix(0.2)),
        (-2.0, BLACK.mix(0.2)),
    ] {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x.0, level), (x.1, level)],
                colour.stroke_width(1),
            )))
            .map_err(draw_err)?;
    }
    chart
        .draw_series(res.iter().map(|&(cx, r)| {
            let inside = r.abs() <= lim;
            let style = if inside {
                BLACK.filled()
            } else {
                FIT_COLOUR.stroke_width(1)
            };
            Circle::new((cx, r.clamp(-lim, lim)), 2, style)
        }))
        .map_err(draw_err)?;
    if !consistent {
        let msg = format!(
            "no residuals: model has {} bins, spectrum {}",
            c.per_bin.len(),
            hist.counts.len()
        );
        area.draw_text(
            &msg,
            &font(14).color(&FIT_COLOUR),
            (Y_LABELS as i32 + 25, 15),
        )
        .map_err(draw_err)?;
    }
    Ok(())
}

/// Legend, fit parameters, gain, χ²/ndf, status and event counts, top to bottom.
fn draw_info(area: &Canvas, p: &ChargePlot, prep: &Prepared) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let x0 = 10;
    let max_w = w.saturating_sub(30).max(50);
    let mut y = 12;
    let text = |s: &str, style: &TextStyle, y: i32| area.draw_text(s, style, (x0, y));

    // Legend.
    let sample = |y: i32, colour: RGBColor, width: u32| {
        area.draw(&PathElement::new(
            vec![(x0, y + 8), (x0 + 28, y + 8)],
            colour.stroke_width(width),
        ))
    };
    area.draw(&PathElement::new(
        vec![(x0 + 14, y + 2), (x0 + 14, y + 14)],
        BLACK,
    ))
    .map_err(draw_err)?;
    area.draw(&Circle::new((x0 + 14, y + 8), 3, BLACK.filled()))
        .map_err(draw_err)?;
    area.draw_text("data (±√n)", &font(14), (x0 + 36, y))
        .map_err(draw_err)?;
    y += 22;
    let mut entries: Vec<(&str, RGBColor, u32)> = prep
        .lines
        .iter()
        .map(|l| (l.label.as_str(), l.colour, l.width))
        .collect();
    if prep.reference.is_some() {
        let label = p.reference_label.unwrap_or("reference (scaled)");
        entries.push((label, REF_COLOUR, 2));
    }
    for (name, colour, width) in entries {
        sample(y, colour, width).map_err(draw_err)?;
        area.draw_text(name, &font(14), (x0 + 36, y))
            .map_err(draw_err)?;
        y += 22;
    }
    y += 14;

    // Fit.
    let fit = p.fit;
    let mono = font(14);
    text(&format!("fit: {}", fit.model), &font(16), y).map_err(draw_err)?;
    y += 22;
    if !fit.params.is_empty() {
        text(
            &format!("charges in {}", p.hist.unit),
            &font(13).color(&GREY_TEXT),
            y,
        )
        .map_err(draw_err)?;
        y += 20;
    }
    let mut names: Vec<&String> = PARAM_ORDER
        .iter()
        .filter_map(|n| fit.params.get_key_value(*n).map(|(k, _)| k))
        .collect();
    names.extend(
        fit.params
            .keys()
            .filter(|k| !PARAM_ORDER.contains(&k.as_str())),
    );
    let mut lines: Vec<(String, TextStyle)> = Vec::new();
    for name in names {
        if let Some(par) = fit.params.get(name) {
            lines.push((
                format!("{name} = {}", value_err(par.value, par.error)),
                mono.clone(),
            ));
        }
    }
    if let Some((g, e)) = p.gain {
        lines.push((format!("gain = {}", value_err(g, Some(e))), font(15)));
    }
    if let (Some(chi2), Some(ndf)) = (fit.chi2, fit.ndf) {
        lines.push((format!("χ²/ndf = {} / {ndf}", sig(chi2, 4)), mono.clone()));
    }
    let status_colour = if fit.status == Status::Ok {
        RGBColor(0, 130, 50)
    } else {
        FIT_COLOUR
    };
    lines.push((
        format!("status: {}", fit.status),
        font(14).color(&status_colour),
    ));
    if fit.status != Status::Ok
        && let Some(m) = fit.message.as_deref()
    {
        let st = font(13).color(&FIT_COLOUR);
        for l in wrap(m, max_w, |s| text_w(area, s, &st)) {
            lines.push((l, st.clone()));
        }
    }
    for (s, style) in &lines {
        for l in wrap(s, max_w, |t| text_w(area, t, style)) {
            text(&l, style, y).map_err(draw_err)?;
            y += 20;
        }
    }
    y += 14;
    let grey = font(13).color(&GREY_TEXT);
    // `+ 0.0` turns the empty sum's −0 into 0.
    let events = p.hist.total() + 0.0;
    let events = if events.is_finite() && events.abs() < 1e15 {
        format!("{events:.0}")
    } else {
        format!("{events}")
    };
    text(&format!("events in spectrum: {events}"), &grey, y).map_err(draw_err)?;
    y += 18;
    text(&format!("outside range: {}", p.hist.outside), &grey, y).map_err(draw_err)?;
    y += 18;
    text(&format!("bins: {}", p.hist.counts.len()), &grey, y).map_err(draw_err)?;
    Ok(())
}
