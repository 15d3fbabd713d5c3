//! The figures of one point beside its spectrum: every health check (criterion, value ±
//! error, its band, the verdict) so the operator sees *which* figure made a cell a warning
//! or poor, the reference sensor and relative efficiency, and the transit-time histogram
//! with the Gaussian fitted to its prompt peak as inline SVG (drawn from `result.json`,
//! no image round trip).

use dioxus::prelude::*;

use super::format::fmt_figure;
use crate::pipeline::figures::Figures;
use crate::pipeline::health::Check;
use crate::pipeline::timing::Timing;

/// The view box of the timing chart.
const W: f64 = 360.0;
const H: f64 = 120.0;

/// A value with its error, three significant digits.
fn pm(v: f64, e: Option<f64>) -> String {
    match e {
        Some(e) => format!("{} ± {}", fmt_figure(v), fmt_figure(e)),
        None => fmt_figure(v),
    }
}

/// The histogram as a step polyline and the fitted Gaussian (plus flat background) as a
/// smooth one, both scaled into the view box (pure, for tests). `None` without a
/// histogram or counts.
pub fn timing_paths(t: &Timing) -> Option<(String, String)> {
    let h = t.histogram.as_ref()?;
    let top = f64::from(*h.counts.iter().max()?).max(1.0) * 1.1;
    let n = h.counts.len() as f64;
    let x = |i: f64| i / n * W;
    let y = |c: f64| H - (c / top).clamp(0.0, 1.0) * H;
    let mut bars = String::new();
    for (i, c) in h.counts.iter().enumerate() {
        let (x0, x1, yc) = (x(i as f64), x(i as f64 + 1.0), y(f64::from(*c)));
        bars.push_str(&format!("{x0:.1},{yc:.1} {x1:.1},{yc:.1} "));
    }
    // Gaussian area: the counts within ±2.5σ of the peak above the background.
    let (mu, s) = (t.transit_ns.value, t.tts_sigma_ns.value.max(1e-3));
    let bg = t.background_per_ns * h.bin_ns;
    let inside: f64 = h
        .counts
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let c = h.start_ns + (*i as f64 + 0.5) * h.bin_ns;
            (c - mu).abs() <= 2.5 * s
        })
        .map(|(_, c)| f64::from(*c) - bg)
        .sum();
    let area = inside / 0.987_580_669;
    let norm = area * h.bin_ns / (s * (2.0 * std::f64::consts::PI).sqrt());
    let fit: Vec<String> = (0..=240)
        .map(|k| {
            let i = f64::from(k) / 240.0 * n;
            let t_ns = h.start_ns + i * h.bin_ns;
            let v = bg + norm * (-0.5 * ((t_ns - mu) / s).powi(2)).exp();
            format!("{:.1},{:.1}", x(i), y(v))
        })
        .collect();
    Some((bars.trim_end().to_string(), fit.join(" ")))
}

fn timing_chart(t: &Timing) -> Element {
    let Some((bars, fit)) = timing_paths(t) else {
        return rsx! {};
    };
    let fwhm = t
        .tts_fwhm_ns
        .map_or_else(|| "—".to_string(), |f| format!("{f:.2} ns"));
    let (lo, hi) = t.histogram.as_ref().map_or((0.0, 0.0), |h| {
        (h.start_ns, h.start_ns + h.bin_ns * h.counts.len() as f64)
    });
    rsx! {
        figure { id: "review-timing", class: "chart timing",
            figcaption {
                "transit time {pm(t.transit_ns.value, t.transit_ns.error)} ns, TTS σ "
                "{pm(t.tts_sigma_ns.value, t.tts_sigma_ns.error)} ns, FWHM {fwhm}; late "
                "{pm(100.0 * t.late_fraction.value, t.late_fraction.error.map(|e| 100.0 * e))} %"
            }
            svg {
                view_box: "0 0 {W} {H}",
                width: "360",
                height: "120",
                role: "img",
                "aria-label": "PMT pulse time after the trigger, {lo:.0} to {hi:.0} ns, with the Gaussian fitted to the prompt peak",
                rect { x: "0", y: "0", width: "{W}", height: "{H}", class: "chart-bg" }
                polyline { points: "{bars}", class: "chart-line", fill: "none" }
                polyline { id: "review-timing-fit", points: "{fit}", class: "chart-fit", fill: "none" }
            }
            div { class: "row small muted", span { "{lo:.0} ns" } span { class: "spacer" } span { "{hi:.0} ns" } }
        }
    }
}

/// The checks table, the reference sensor and the timing chart of a point.
pub fn figures_panel(checks: &[Check], f: &Figures) -> Element {
    rsx! {
        if !checks.is_empty() {
            table { id: "review-checks", class: "params checks",
                thead { tr { th { "criterion" } th { "value" } th { "band" } th { "verdict" } } }
                tbody {
                    for c in checks.iter() {
                        tr {
                            key: "{c.criterion.label()}",
                            title: "{c.text}",
                            "data-criterion": "{c.criterion.label()}",
                            th { "{c.criterion.label()}" }
                            td {
                                match c.value {
                                    Some(v) => format!("{} {}", pm(v, c.error), c.criterion.unit()),
                                    None => "—".to_string(),
                                }
                            }
                            td { class: "small", "{c.band}" }
                            td { class: "health-{c.verdict.as_str()}", "{c.verdict.as_str()}" }
                        }
                    }
                }
            }
        }
        if let Some(r) = &f.reference {
            p { id: "review-reference", class: "small",
                "reference sensor ch{r.channel}: "
                match &r.occupancy {
                    Some(o) => format!("occupancy {}", pm(o.value, o.error)),
                    None => "occupancy not countable (a pulse in nearly every event)".to_string(),
                }
                ", mean charge {pm(r.mean_charge_pc.value, r.mean_charge_pc.error)} pC"
                if let Some(e) = &f.relative_efficiency {
                    "; relative efficiency {pm(e.value, e.error)}"
                }
            }
        }
        if let Some(t) = &f.timing {
            {timing_chart(t)}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::fit::Param;
    use crate::pipeline::timing::TimeHistogram;

    #[test]
    fn the_fit_curve_peaks_where_the_histogram_does() {
        let mu = 10.0;
        let counts: Vec<u32> = (0..40)
            .map(|i| {
                let t = f64::from(i) * 0.5 + 0.25;
                (1000.0 * (-0.5 * ((t - mu) / 1.2).powi(2)).exp()).round() as u32
            })
            .collect();
        let p = |v: f64| Param {
            value: v,
            error: Some(0.01),
        };
        let t = Timing {
            method: "test".into(),
            timed: 1000,
            transit_ns: p(mu),
            tts_sigma_ns: p(1.2),
            tts_fwhm_ns: Some(2.8),
            late_fraction: p(0.0),
            pre_fraction: p(0.0),
            background_per_ns: 0.0,
            histogram: Some(TimeHistogram {
                start_ns: 0.0,
                bin_ns: 0.5,
                counts,
            }),
        };
        let (bars, fit) = timing_paths(&t).expect("paths");
        assert_eq!(bars.split(' ').count(), 80);
        // The fit's highest point (smallest y) is at x ≈ μ / 20 ns × W = 180.
        let lowest = fit
            .split(' ')
            .filter_map(|xy| xy.split_once(','))
            .map(|(x, y)| {
                (
                    x.parse::<f64>().unwrap_or(0.0),
                    y.parse::<f64>().unwrap_or(H),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("points");
        assert!((lowest.0 - 180.0).abs() < 3.0, "{lowest:?}");
        // …and about as high as the histogram's peak (10 % headroom above it).
        assert!((lowest.1 - (H - H / 1.1)).abs() < 6.0, "{lowest:?}");
    }
}
