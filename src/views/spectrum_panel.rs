//! The spectrum panel of one scan point (opened from a grid cell or a shared link): the
//! charge spectrum with its fit (optionally over the PMT type's reference spectrum), the
//! fit's parameters from the point's `result.json`, previous/next in scan order, downloads
//! and a link to share. The result is fetched only when the point itself changes (another
//! point opened, or the open one arrived), not on every board change.

use std::sync::Arc;

use dioxus::prelude::*;

use super::ShellContext;
use super::figures_panel::figures_panel;
use super::format::fmt_coords;
use super::format::fmt_gain;
use super::live::{OpenPoint, use_review_target};
use crate::monitor::RunView;
use crate::pipeline::fit::param_unit;
use crate::pipeline::point::PointResult;
use crate::pipeline::scan::PointLabel;

/// The labels before and after `label` in scan order.
fn neighbours(order: &[String], label: &str) -> (Option<String>, Option<String>) {
    let Some(i) = order.iter().position(|l| l == label) else {
        return (None, None);
    };
    let prev = i.checked_sub(1).and_then(|j| order.get(j)).cloned();
    (prev, order.get(i + 1).cloned())
}

/// A fitted number, readable at any magnitude.
fn fmt_num(v: f64) -> String {
    if v == 0.0 || (1e-3..1e5).contains(&v.abs()) {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

/// The parameter table of a point's result document.
fn params_table(r: &PointResult) -> Element {
    let gain = match r.gain_err {
        Some(e) => format!("{} ± {}", fmt_gain(r.gain), fmt_gain(Some(e))),
        None => fmt_gain(r.gain),
    };
    let chi2 = match (r.chi2, r.ndf) {
        (Some(c), Some(n)) if n > 0 => format!("{c:.1} / {n} = {:.2}", c / f64::from(n)),
        (Some(c), _) => format!("{c:.1}"),
        _ => "—".into(),
    };
    let params: Vec<(String, String)> = r
        .params
        .iter()
        .map(|(name, p)| {
            let unit = param_unit(name, &r.charge_unit);
            let value = match p.error {
                Some(e) => format!("{} ± {}", fmt_num(p.value), fmt_num(e)),
                None => fmt_num(p.value),
            };
            (
                name.clone(),
                format!("{value} {unit}").trim_end().to_string(),
            )
        })
        .collect();
    let fmt_mean_spe = |m: f64, e: Option<f64>| match e {
        Some(e) => format!("{m:.4e} ± {e:.2e} (under-amplified included)"),
        None => format!("{m:.4e} (under-amplified included)"),
    };
    rsx! {
        table { id: "review-params", class: "params",
            tbody {
                tr { th { "fit status" } td { class: "fit-{r.status.as_str()}", "{r.status.as_str()}" } }
                tr { th { "model" } td { "{r.model.as_str()}" } }
                tr { th { "gain" } td { "{gain}" } }
                tr { th { "health" } td { id: "review-health", class: "health-{r.health.as_str()}", "{r.health.as_str()}" } }
                if !r.health_reason.is_empty() {
                    tr { th { "why" } td { "{r.health_reason}" } }
                }
                if let Some(m) = r.mean_spe_gain {
                    tr { th { "mean SPE / e" } td { "{fmt_mean_spe(m, r.mean_spe_gain_err)}" } }
                }
                tr { th { "χ²/ndf" } td { "{chi2}" } }
                tr { th { "events" } td { "{r.events}" } }
                tr { th { "selected" } td { "{r.selected}" } }
                for (name, value) in params {
                    tr { key: "{name}", th { "{name}" } td { "{value}" } }
                }
                if let Some(m) = &r.message {
                    tr { th { "message" } td { "{m}" } }
                }
                if !r.warnings.is_empty() {
                    tr {
                        th { "warnings" }
                        td {
                            ul { class: "warnings",
                                for (i, w) in r.warnings.iter().enumerate() {
                                    li { key: "{i}", "{w}" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[component]
pub fn SpectrumPanel(view: ReadSignal<Arc<RunView>>, label: ReadSignal<String>) -> Element {
    let ctx = use_context::<ShellContext>();
    let mut target = use_review_target();
    let mut overlay = use_signal(|| false);
    // What the result depends on: the run, the point, and when the point was stored.
    let key = use_memo(move || {
        let v = view.read();
        let l = label.read();
        (v.run.id, l.clone(), v.points.get(&*l).map(|p| p.at))
    });
    let result = use_resource(move || {
        let ctx = ctx.clone();
        let (run, label, at) = key();
        async move {
            if at.is_none() {
                return Ok(None);
            }
            ctx.reads
                .point_result(&ctx.user, run, label)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let v = view();
    let l = label();
    let run_id = v.run.id;
    let point = v.points.get(&l).cloned();
    let order: Vec<String> = v.pattern.iter().map(PointLabel::label).collect();
    let (prev, next) = neighbours(&order, &l);
    let coords = v
        .pattern
        .iter()
        .find(|p| p.label() == l)
        .map(fmt_coords)
        .unwrap_or_default();
    let base = format!("/runs/{run_id}/points/{l}");
    let img = if overlay() {
        format!("{base}/charge.png?overlay=1")
    } else {
        format!("{base}/charge.png")
    };
    let go = move |to: Option<String>| {
        if let Some(label) = to {
            let mut t = target;
            t.set(Some(OpenPoint { run: run_id, label }));
        }
    };
    let (prev_enabled, next_enabled) = (prev.is_some(), next.is_some());
    rsx! {
        section { id: "review", class: "review", "aria-label": "point review",
            div { class: "review-head row",
                h3 { id: "review-title", "{v.run.serial} · run {run_id} · {l}" span { class: "muted", " {coords}" } }
                span { class: "spacer" }
                button { id: "review-prev", class: "btn", disabled: !prev_enabled, onclick: move |_| go(prev.clone()), "◀ Previous" }
                button { id: "review-next", class: "btn", disabled: !next_enabled, onclick: move |_| go(next.clone()), "Next ▶" }
                button { id: "review-close", class: "btn btn-ghost", onclick: move |_| target.set(None), "Close" }
            }
            div { class: "review-body",
                div { class: "review-plot",
                    if point.is_some() {
                        img { id: "review-img", class: "spectrum", src: "{img}", alt: "charge spectrum of {l}" }
                    } else {
                        p { id: "review-pending", class: "muted", "This point has not been processed yet." }
                    }
                    label { class: "check",
                        input {
                            id: "review-overlay",
                            r#type: "checkbox",
                            checked: overlay(),
                            onchange: move |e| overlay.set(e.checked()),
                        }
                        " overlay reference spectrum"
                    }
                    div { class: "row small",
                        a { id: "review-download-png", href: "{base}/charge.png?download=1", "Download PNG" }
                        a { id: "review-download-json", href: "{base}/result.json", "Download result.json" }
                        a { id: "review-link", href: "{base}", "Link to this point" }
                    }
                }
                div { class: "review-data",
                    if let Some(pt) = &point {
                        if !pt.message.is_empty() {
                            p { id: "review-reason", class: "small reason-{pt.status.as_str()}", "{pt.status.as_str()}: {pt.message}" }
                        }
                    }
                    match (&point, &*result.read()) {
                        (None, _) => rsx! {},
                        (Some(_), None) => rsx! { p { class: "muted", "loading…" } },
                        (Some(_), Some(Err(e))) => rsx! { p { id: "review-message", class: "refusal", role: "alert", "{e}" } },
                        (Some(_), Some(Ok(None))) => rsx! { p { id: "review-params", class: "muted", "no fit parameters (command mode)" } },
                        (Some(_), Some(Ok(Some(r)))) => rsx! {
                            {params_table(r)}
                            {figures_panel(&r.checks, &r.figures)}
                        },
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_and_next_follow_the_scan_order() {
        let order: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(neighbours(&order, "a"), (None, Some("b".into())));
        assert_eq!(
            neighbours(&order, "b"),
            (Some("a".into()), Some("c".into()))
        );
        assert_eq!(neighbours(&order, "c"), (Some("b".into()), None));
        assert_eq!(neighbours(&order, "x"), (None, None));
        assert_eq!(fmt_num(1.5), "1.5000");
        assert_eq!(fmt_num(1.0e7), "1.000e7");
    }
}
