//! The scan's gain map: the photocathode seen from the front, θ as the radius (0° at the
//! centre, 90° at the rim) and φ as the angle (0° to the right, counter-clockwise). Each
//! point is a disc coloured by its gain on a viridis scale; poor points get a red ring,
//! points without a gain are hollow grey. Drawn in pixel space directly — a polar chart
//! is just circles and lines, so no plotters chart coordinate system is needed.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{text as font, title_or};
use super::format::{tick, wrap};
use super::png::{Canvas, draw_err, render};
use crate::pipeline::error::Result;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 800;
/// Width of the right-hand colour-bar and legend column.
const SIDE_W: u32 = 220;

const POOR: RGBColor = RGBColor(220, 30, 30);
const NO_GAIN: RGBColor = RGBColor(150, 150, 150);
const GRID: RGBColor = RGBColor(205, 205, 205);
const TEXT_GREY: RGBColor = RGBColor(90, 90, 90);

/// Viridis at nine evenly spaced stops (matplotlib's table, sub-sampled): perceptually
/// uniform and readable by colour-blind operators.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// One scan point on the map (the caller leaves out points without θ/φ, e.g. HV points).
pub struct MapPoint {
    pub label: String,
    /// Polar angle in degrees, 0…90.
    pub theta: f64,
    /// Azimuth in degrees.
    pub phi: f64,
    pub gain: Option<f64>,
    pub healthy: bool,
}

/// Colour of `t` ∈ [0, 1] on the viridis scale (clamped; NaN maps to the low end).
fn viridis(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let f = t * (VIRIDIS.len() - 1) as f64;
    let i = (f.floor() as usize).min(VIRIDIS.len() - 2);
    let w = f - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + w * (y as f64 - x as f64)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn centred(size: u32) -> TextStyle<'static> {
    font(size).pos(Pos::new(HPos::Center, VPos::Center))
}

/// Renders the gain map as PNG bytes (1000×800). `health` is the healthy gain range,
/// marked on the colour bar.
pub fn gain_map_png(points: &[MapPoint], title: &str, health: (f64, f64)) -> Result<Vec<u8>> {
    render(WIDTH, HEIGHT, |root| draw(root, points, title, health))
}

/// The finite gain range, widened when all gains are equal so the scale is not empty.
fn gain_range(points: &[MapPoint]) -> Option<(f64, f64)> {
    let gains = points
        .iter()
        .filter_map(|p| p.gain)
        .filter(|g| g.is_finite());
    let (lo, hi) = gains.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), g| {
        (a.min(g), b.max(g))
    });
    if !lo.is_finite() {
        return None;
    }
    if hi > lo {
        Some((lo, hi))
    } else {
        let d = if lo == 0.0 { 1.0 } else { 0.05 * lo.abs() };
        Some((lo - d, hi + d))
    }
}

fn draw(root: &Canvas, points: &[MapPoint], title: &str, health: (f64, f64)) -> Result<()> {
    let title = title_or(title, "gain map");
    let body = root.titled(title, font(22)).map_err(draw_err)?;
    let (map, side) = body.split_horizontally(WIDTH - SIDE_W);
    let range = gain_range(points);
    draw_map(&map, points, range)?;
    draw_side(&side, points, range, health)
}

fn draw_map(area: &Canvas, points: &[MapPoint], range: Option<(f64, f64)>) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (cx, cy) = (w as i32 / 2, h as i32 / 2);
    // Room outside the rim for the φ labels.
    let radius = ((w.min(h) as i32) / 2 - 45).max(20);
    let rf = radius as f64;

    // Grid: θ circles every 15°, φ spokes every 45°.
    for k in 1..=6 {
        let r = radius * k / 6;
        let style = if k == 6 {
            BLACK.stroke_width(1)
        } else {
            GRID.stroke_width(1)
        };
        area.draw(&Circle::new((cx, cy), r, style))
            .map_err(draw_err)?;
    }
    for k in 0..8 {
        let a = (k as f64 * 45.0).to_radians();
        let end = (cx + (rf * a.cos()) as i32, cy - (rf * a.sin()) as i32);
        area.draw(&PathElement::new(vec![(cx, cy), end], GRID))
            .map_err(draw_err)?;
        let lab = (
            cx + ((rf + 24.0) * a.cos()) as i32,
            cy - ((rf + 22.0) * a.sin()) as i32,
        );
        area.draw_text(&format!("φ {}°", k * 45), &centred(14), lab)
            .map_err(draw_err)?;
    }
    // θ labels along the 22.5° direction, between spokes, where discs rarely sit.
    let a = 22.5f64.to_radians();
    for k in 1..=6 {
        let r = rf * k as f64 / 6.0;
        let pos = (cx + (r * a.cos()) as i32 + 4, cy - (r * a.sin()) as i32 - 2);
        area.draw_text(&format!("{}°", k * 15), &font(12).color(&TEXT_GREY), pos)
            .map_err(draw_err)?;
    }

    // Pixel positions; points without a finite position are skipped (counted in the side
    // column). θ beyond the rim is pinned to it.
    let placed: Vec<(&MapPoint, (i32, i32))> = points
        .iter()
        .filter(|p| p.theta.is_finite() && p.phi.is_finite())
        .map(|p| {
            let r = rf * p.theta.clamp(0.0, 90.0) / 90.0;
            let a = p.phi.to_radians();
            (
                p,
                (
                    cx + (r * a.cos()).round() as i32,
                    cy - (r * a.sin()).round() as i32,
                ),
            )
        })
        .collect();
    // Disc size from the closest pair, so dense scans do not overlap and sparse ones are
    // easy to see. Quadratic, but scans have tens to a few hundred points.
    let mut dmin = f64::INFINITY;
    for (i, (_, a)) in placed.iter().enumerate() {
        for (_, b) in &placed[i + 1..] {
            let d = (((a.0 - b.0).pow(2) + (a.1 - b.1).pow(2)) as f64).sqrt();
            if d > 0.0 {
                dmin = dmin.min(d);
            }
        }
    }
    let disc = if dmin.is_finite() {
        (0.36 * dmin).clamp(4.0, 24.0) as i32
    } else {
        24
    };
    let labels = disc >= 12;
    for (p, pos) in &placed {
        let gain = p.gain.filter(|g| g.is_finite());
        match (gain, range) {
            (Some(g), Some((lo, hi))) => {
                let colour = viridis((g - lo) / (hi - lo));
                area.draw(&Circle::new(*pos, disc, colour.filled()))
                    .map_err(draw_err)?;
                area.draw(&Circle::new(*pos, disc, BLACK.mix(0.5).stroke_width(1)))
                    .map_err(draw_err)?;
            }
            _ => {
                area.draw(&Circle::new(*pos, disc - 1, NO_GAIN.stroke_width(2)))
                    .map_err(draw_err)?;
            }
        }
        if !p.healthy {
            area.draw(&Circle::new(*pos, disc + 3, POOR.stroke_width(3)))
                .map_err(draw_err)?;
            if gain.is_none() {
                let d = disc / 2;
                for (a, b) in [((-d, -d), (d, d)), ((-d, d), (d, -d))] {
                    area.draw(&PathElement::new(
                        vec![(pos.0 + a.0, pos.1 + a.1), (pos.0 + b.0, pos.1 + b.1)],
                        POOR.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
                }
            }
        }
        if labels {
            let text = gain.map_or_else(|| "no gain".to_string(), |g| format!("{g:.2e}"));
            let at = (pos.0, pos.1 + disc + 11);
            area.draw_text(&text, &centred(11), at).map_err(draw_err)?;
        }
    }
    Ok(())
}

fn draw_side(
    area: &Canvas,
    points: &[MapPoint],
    range: Option<(f64, f64)>,
    health: (f64, f64),
) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let x0 = 10;
    let mut y = 20;
    // One power of ten for the whole bar, so the labels line up and compare at a glance.
    let exp10 = range.map_or(0, |(lo, hi)| {
        let m = lo.abs().max(hi.abs());
        if m > 0.0 { m.log10().floor() as i32 } else { 0 }
    });
    let unit = 10f64.powi(exp10);
    let head = if exp10 == 0 {
        "gain".to_string()
    } else {
        format!("gain [×1e{exp10}]")
    };
    area.draw_text(&head, &font(16), (x0, y))
        .map_err(draw_err)?;
    y += 28;
    let (bar_w, bar_h) = (28, 380);
    if let Some((lo, hi)) = range {
        // Top = high gain.
        let rects = (0..bar_h).map(|i| {
            let t = 1.0 - i as f64 / (bar_h - 1) as f64;
            Rectangle::new([(x0, y + i), (x0 + bar_w, y + i + 1)], viridis(t).filled())
        });
        for r in rects {
            area.draw(&r).map_err(draw_err)?;
        }
        area.draw(&Rectangle::new([(x0, y), (x0 + bar_w, y + bar_h)], BLACK))
            .map_err(draw_err)?;
        let to_y = |g: f64| y + ((hi - g) / (hi - lo) * (bar_h - 1) as f64).round() as i32;
        for k in 0..=5 {
            let g = lo + (hi - lo) * k as f64 / 5.0;
            let ty = to_y(g);
            area.draw(&PathElement::new(
                vec![(x0 + bar_w, ty), (x0 + bar_w + 5, ty)],
                BLACK,
            ))
            .map_err(draw_err)?;
            let style = font(13).pos(Pos::new(HPos::Left, VPos::Center));
            let label = tick(g / unit, lo / unit, hi / unit);
            area.draw_text(&label, &style, (x0 + bar_w + 8, ty))
                .map_err(draw_err)?;
        }
        // The healthy range, where it falls on the bar.
        for bound in [health.0, health.1] {
            if bound.is_finite() && bound >= lo && bound <= hi {
                let ty = to_y(bound);
                area.draw(&PathElement::new(
                    vec![(x0 - 4, ty), (x0 + bar_w + 4, ty)],
                    POOR.stroke_width(2),
                ))
                .map_err(draw_err)?;
            }
        }
        y += bar_h + 16;
    } else {
        area.draw_text("no point has a gain", &font(13).color(&TEXT_GREY), (x0, y))
            .map_err(draw_err)?;
        y += 24;
    }
    let grey = font(13).color(&TEXT_GREY);
    let healthy = format!("healthy: {:.2e} – {:.2e}", health.0, health.1);
    area.draw(&PathElement::new(
        vec![(x0, y + 7), (x0 + 16, y + 7)],
        POOR.stroke_width(2),
    ))
    .map_err(draw_err)?;
    area.draw_text(&healthy, &grey, (x0 + 22, y))
        .map_err(draw_err)?;
    y += 34;

    // Marker legend.
    let mid = (x0 + 12, 0);
    let entries: [(&str, u8); 3] = [("gain (colour)", 0), ("poor point", 1), ("no gain", 2)];
    for (name, kind) in entries {
        let c = (mid.0, y + 8);
        match kind {
            0 => area.draw(&Circle::new(c, 8, viridis(0.6).filled())),
            1 => area
                .draw(&Circle::new(c, 8, viridis(0.6).filled()))
                .and_then(|_| area.draw(&Circle::new(c, 11, POOR.stroke_width(3)))),
            _ => area.draw(&Circle::new(c, 8, NO_GAIN.stroke_width(2))),
        }
        .map_err(draw_err)?;
        area.draw_text(name, &font(13), (x0 + 32, y))
            .map_err(draw_err)?;
        y += 30;
    }
    y += 10;

    let n = points.len();
    let poor = points.iter().filter(|p| !p.healthy).count();
    let no_gain = points
        .iter()
        .filter(|p| !p.gain.is_some_and(f64::is_finite))
        .count();
    let unplaced = points
        .iter()
        .filter(|p| !(p.theta.is_finite() && p.phi.is_finite()))
        .count();
    let mut summary = format!("{n} points, {poor} poor, {no_gain} without gain");
    if unplaced > 0 {
        summary.push_str(&format!(
            ", {unplaced} without a valid position (not shown)"
        ));
    }
    summary.push_str(".\nθ is the radius (0° centre, 90° rim), φ the angle.");
    for line in wrap(&summary, w.saturating_sub(20), |s| {
        area.estimate_text_size(s, &grey).map_or(0, |d| d.0)
    }) {
        area.draw_text(&line, &grey, (x0, y)).map_err(draw_err)?;
        y += 18;
    }
    Ok(())
}
