//! Clipping of polylines to a chart's data rectangle. plotters draws whatever it is given,
//! also outside the plotting area (over axes and labels), so curves that leave the range —
//! model tails falling below the log axis, a reference spectrum wider than the fitted
//! one — are cut here first, in display space (after the log transform) so that cuts land
//! exactly on the axes.

/// An axis-aligned rectangle `[x0, x1] × [y0, y1]` in display coordinates.
#[derive(Debug, Clone, Copy)]
pub struct Rect {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

/// Liang–Barsky: the parameter interval `[t0, t1]` of the segment `a → b` inside `r`.
fn clip_segment(a: (f64, f64), b: (f64, f64), r: &Rect) -> Option<(f64, f64)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0: f64 = 0.0;
    let mut t1: f64 = 1.0;
    for (p, q) in [
        (-dx, a.0 - r.x0),
        (dx, r.x1 - a.0),
        (-dy, a.1 - r.y0),
        (dy, r.y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    (t0 <= t1).then_some((t0, t1))
}

/// Splits the polyline `pts` into the runs that lie inside `r`. Non-finite points break
/// the line. Runs of a single point (a lone sample inside the box) are kept only when
/// the whole line is that one point, so a one-bin histogram still shows something.
pub fn clip_polyline(pts: &[(f64, f64)], r: &Rect) -> Vec<Vec<(f64, f64)>> {
    let inside = |p: (f64, f64)| p.0 >= r.x0 && p.0 <= r.x1 && p.1 >= r.y0 && p.1 <= r.y1;
    let finite = |p: (f64, f64)| p.0.is_finite() && p.1.is_finite();
    if let [p] = pts {
        return if finite(*p) && inside(*p) {
            vec![vec![*p]]
        } else {
            Vec::new()
        };
    }
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    // Whether the last run ends exactly at the previous segment's unclipped end point.
    let mut open = false;
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if !(finite(a) && finite(b)) {
            open = false;
            continue;
        }
        let Some((t0, t1)) = clip_segment(a, b, r) else {
            open = false;
            continue;
        };
        let at = |t: f64| (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        let end = if t1 >= 1.0 { b } else { at(t1) };
        match runs.last_mut() {
            Some(run) if open && t0 <= 0.0 => run.push(end),
            _ => runs.push(vec![if t0 <= 0.0 { a } else { at(t0) }, end]),
        }
        open = t1 >= 1.0;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rect = Rect {
        x0: 0.0,
        x1: 10.0,
        y0: 0.0,
        y1: 10.0,
    };

    #[test]
    fn keeps_inside_and_cuts_at_edges() {
        let runs = clip_polyline(&[(1.0, 1.0), (2.0, 2.0), (3.0, -2.0), (4.0, 2.0)], &R);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0], vec![(1.0, 1.0), (2.0, 2.0), (2.5, 0.0)]);
        assert_eq!(runs[1], vec![(3.5, 0.0), (4.0, 2.0)]);
    }

    #[test]
    fn nan_breaks_and_outside_vanishes() {
        let runs = clip_polyline(&[(1.0, 1.0), (f64::NAN, 1.0), (3.0, 3.0), (4.0, 4.0)], &R);
        assert_eq!(runs, vec![vec![(3.0, 3.0), (4.0, 4.0)]]);
        assert!(clip_polyline(&[(11.0, 1.0), (12.0, 1.0)], &R).is_empty());
        assert!(clip_polyline(&[], &R).is_empty());
    }
}
