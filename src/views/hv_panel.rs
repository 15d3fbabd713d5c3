//! The HV check tab: one card per PMT slot with the nominal voltage to check around, the
//! button that runs the check, and the slot's HV run as it fills in — one cell per voltage
//! labelled by its offset ("−100 V (1600 V)") with its gain and status, the summary plot
//! (gain vs HV with the fit), and the result line ("HV for 1.00e7: 1712 ± 6 V (4 of 5
//! points; 1800 V excluded: no signal)"); flag and archive as for scans. It renders the
//! hub's board and acts through `Commands` only.

use std::sync::Arc;

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_gain;
use super::live::use_board;
use super::run_actions::RunActions;
use crate::control::CommandError;
use crate::model::ScanKind;
use crate::monitor::RunView;
use crate::pipeline::scan::PointLabel;

/// A voltage as the cells show it: `1600`, `1612.5`.
fn volts(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A cell's label: its offset from nominal and the voltage, "−100 V (1600 V)",
/// "+50 V (1750 V)", "0 V (1650 V)" (just the voltage without a nominal).
pub fn cell_title(v: f64, nominal: Option<f64>) -> String {
    let Some(n) = nominal else {
        return format!("{} V", volts(v));
    };
    let d = v - n;
    let off = if d.abs() < 1e-9 {
        "0".to_string()
    } else if d < 0.0 {
        format!("\u{2212}{}", volts(-d))
    } else {
        format!("+{}", volts(d))
    };
    format!("{off} V ({} V)", volts(v))
}

/// One voltage's cell: its label, gain, status and — when the fit left it out — why.
fn hv_cell(view: &RunView, p: &PointLabel) -> Element {
    let run_id = view.run.id;
    let label = p.label();
    let v = p.hv().unwrap_or(0.0);
    let title = cell_title(v, view.hv_nominal);
    let stored = view.points.get(&label);
    let excluded = view
        .hv
        .as_ref()
        .and_then(|h| h.excluded.get(&label))
        .cloned();
    let (status, class) = match (stored, &excluded) {
        (None, _) if view.next_expected().as_deref() == Some(label.as_str()) => {
            ("processing".to_string(), "processing")
        }
        (None, _) => ("pending".to_string(), "pending"),
        (Some(pt), Some(_)) => (pt.status.as_str().replace('_', " "), "excluded"),
        (Some(pt), None) => (pt.status.as_str().replace('_', " "), pt.status.as_str()),
    };
    let gain = fmt_gain(stored.and_then(|s| s.gain));
    let err = stored
        .and_then(|s| s.gain_err)
        .map(|e| format!("± {}", fmt_gain(Some(e))))
        .unwrap_or_default();
    let done = stored.is_some();
    // The cell says which kind of exclusion ("no signal"); its tooltip the whole reason.
    let why = excluded.unwrap_or_default();
    let why_short = why.split(':').next().unwrap_or_default().to_string();
    let tip = if why.is_empty() {
        format!("{title} · {status}")
    } else {
        format!("{title} · {status} · excluded from the fit: {why}")
    };
    rsx! {
        div {
            key: "{label}",
            id: "hv-cell-{run_id}-{label}",
            class: "cell hv-cell {class}",
            "data-status": "{status}",
            "data-done": if done { "true" } else { "false" },
            title: "{tip}",
            span { class: "cell-coords", "{title}" }
            span { class: "cell-gain", "{gain} {err}" }
            span { class: "cell-word", "{status}" }
            if !why.is_empty() {
                span { class: "cell-why", "excluded: {why_short}" }
            }
        }
    }
}

/// A slot's HV run: the cells, the plot, the result line and the review actions.
fn hv_run(view: Arc<RunView>) -> Element {
    let run_id = view.run.id;
    let cells: Vec<Element> = view.pattern.iter().map(|p| hv_cell(&view, p)).collect();
    let done = view.points.len();
    let total = view.pattern.len();
    let state = view.run.state.as_str();
    let result = match &view.hv {
        Some(h) => h.result.summary.clone(),
        None => format!(
            "{done} of {total} voltages done; the fit starts with {}",
            crate::monitor::hv::MIN_POINTS
        ),
    };
    let volts_attr = view
        .hv
        .as_ref()
        .and_then(|h| h.result.volts)
        .map(volts)
        .unwrap_or_default();
    let plot = view.hv.as_ref().is_some_and(|h| h.plot.is_some());
    let warnings = view
        .hv
        .as_ref()
        .map(|h| h.warnings.clone())
        .unwrap_or_default();
    rsx! {
        div { id: "hv-run-{run_id}", class: "hv-run", "data-state": "{state}",
            p { class: "small muted", "run {run_id} · {state} · {done}/{total} voltages · {view.run.message}" }
            div { id: "hv-cells-{run_id}", class: "row-cells hv-cells", {cells.into_iter()} }
            p { id: "hv-result-{run_id}", class: "hv-result", "data-volts": "{volts_attr}", "{result}" }
            for (i, w) in warnings.into_iter().enumerate() {
                p { key: "{i}", class: "warning small", "⚠ {w}" }
            }
            if plot {
                img {
                    id: "hv-plot-{run_id}",
                    class: "hv-plot",
                    src: "/runs/{run_id}/hv.png?v={done}-{view.run.state.as_str()}",
                    alt: "gain versus HV of run {run_id} with the power-law fit",
                }
            }
            if let Some(lab) = view.hv_lab.clone() {
                div { id: "hv-lab-{run_id}", class: "hv-lab", "data-volts": "{lab.volts.map(volts).unwrap_or_default()}",
                    p { class: "small",
                        "The lab script's own result ({lab.file}): "
                        {lab.volts.map(|v| format!("{} V (no uncertainty given)", volts(v))).unwrap_or_else(|| "no voltage in the file".into())}
                    }
                    if lab.plot {
                        img {
                            id: "hv-lab-plot-{run_id}",
                            class: "hv-plot",
                            src: "/runs/{run_id}/hv-lab.png",
                            alt: "the lab script's gain versus HV plot of run {run_id}",
                        }
                    }
                }
            }
            RunActions { run: view.run.clone() }
        }
    }
}

/// Saves the nominal voltage, sets the slot to HV check and starts the run.
async fn start(
    ctx: &ShellContext,
    slot_id: i64,
    nominal: Option<f64>,
) -> Result<String, CommandError> {
    let (c, who) = (&ctx.commands, &ctx.user);
    let slot = ctx
        .hub
        .snapshot()
        .slots
        .iter()
        .find(|s| s.slot.id == slot_id)
        .map(|s| s.slot.clone());
    if let Some(s) = slot {
        if s.hv_nominal != nominal {
            c.set_slot_hv_nominal(who, slot_id, nominal).await?;
        }
        if s.kind != ScanKind::Hv {
            c.set_slot(who, slot_id, s.serial, s.profile_id, ScanKind::Hv)
                .await?;
        }
    }
    let s = c.start_run(who, slot_id).await?;
    Ok(match s.auto_archived {
        Some(prev) => format!(
            "Started HV check run {}; previous run {prev} archived automatically.",
            s.run_id
        ),
        None => format!("Started HV check run {}.", s.run_id),
    })
}

#[component]
fn HvSlot(slot_id: i64) -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let slot = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .find(|s| s.slot.id == slot_id)
            .cloned()
    });
    let run = use_memo(move || {
        board
            .read()
            .slot_run(slot_id)
            .filter(|v| v.run.kind == ScanKind::Hv)
            .cloned()
    });
    // The profile's nominal voltage, shown when the slot has none of its own.
    let profile_nominal = use_memo(move || {
        let b = board.read();
        let pid = b
            .slots
            .iter()
            .find(|s| s.slot.id == slot_id)
            .and_then(|s| s.slot.profile_id)?;
        b.profiles
            .iter()
            .find(|p| p.id == pid)
            .map(|p| (p.spec.hv_nominal, p.spec.hv_step, p.spec.hv_points))
    });
    let stored_nominal = use_memo(move || {
        slot.read()
            .as_ref()
            .and_then(|s| s.slot.hv_nominal)
            .or_else(|| profile_nominal().map(|p| p.0))
            .map(volts)
            .unwrap_or_default()
    });
    let mut typed = use_signal(|| stored_nominal.peek().clone());
    use_effect(move || typed.set(stored_nominal()));
    let mut message = use_signal(|| None::<(bool, String)>);
    let mut busy = use_signal(|| false);

    let Some(s) = slot() else {
        return rsx! {};
    };
    let active = board
        .read()
        .slot_run(slot_id)
        .is_some_and(|v| v.run.state.is_active());
    let text = typed();
    let parsed = text
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0);
    let problem = (!text.trim().is_empty() && parsed.is_none())
        .then(|| "enter the nominal voltage in volts, e.g. 1700".to_string());
    let plan = match (parsed, profile_nominal()) {
        (Some(n), Some((_, step, count))) => {
            let list: Vec<String> = crate::pipeline::scan::hv_points(n, count, step)
                .iter()
                .filter_map(PointLabel::hv)
                .map(volts)
                .collect();
            format!("voltages: {} V", list.join(", "))
        }
        (_, None) => "choose a compute profile for this slot in the Scan tab".to_string(),
        _ => String::new(),
    };
    let serial = if s.slot.serial.trim().is_empty() {
        "no serial number yet (enter it in the Scan tab)".to_string()
    } else {
        s.slot.serial.clone()
    };
    let start_ctx = ctx.clone();
    rsx! {
        article { id: "hv-slot-{slot_id}", class: "slot-card hv-card",
            div { class: "row slot-head",
                h3 { "{s.slot.name}" }
                span { id: "hv-slot-{slot_id}-serial", class: "muted", "{serial}" }
            }
            div { class: "slot-fields",
                label { class: "stack",
                    "Nominal HV [V]"
                    input {
                        id: "hv-{slot_id}-nominal",
                        r#type: "number",
                        step: "any",
                        value: "{text}",
                        "aria-invalid": if problem.is_some() { "true" } else { "false" },
                        oninput: move |e| typed.set(e.value()),
                    }
                    if let Some(p) = &problem {
                        span { id: "hv-{slot_id}-nominal-error", class: "field-error", role: "alert", "{p}" }
                    } else {
                        span { id: "hv-{slot_id}-plan", class: "muted small", "{plan}" }
                    }
                }
            }
            div { class: "row slot-buttons",
                button {
                    id: "hv-{slot_id}-start",
                    class: "btn btn-primary",
                    disabled: busy() || active || problem.is_some(),
                    onclick: move |_| {
                        let ctx = start_ctx.clone();
                        busy.set(true);
                        message.set(None);
                        spawn(async move {
                            match start(&ctx, slot_id, parsed).await {
                                Ok(m) => message.set(Some((true, m))),
                                Err(e) => message.set(Some((false, e.to_string()))),
                            }
                            busy.set(false);
                        });
                    },
                    "Run HV check"
                }
            }
            if let Some((ok, m)) = message() {
                p {
                    id: "hv-{slot_id}-message",
                    class: if ok { "ok" } else { "refusal" },
                    role: if ok { "status" } else { "alert" },
                    "{m}"
                }
            }
            if let Some(v) = run() {
                {hv_run(v)}
            } else {
                p { class: "muted", "No HV check in this slot yet." }
            }
        }
    }
}

/// The HV check tab: one card per slot.
#[component]
pub fn HvPanel() -> Element {
    let board = use_board();
    let ids = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .map(|s| s.slot.id)
            .collect::<Vec<_>>()
    });
    rsx! {
        div { class: "slots hv-slots",
            p { class: "muted small",
                "Gain at each voltage around the nominal one, a power-law fit, and the voltage for a gain of 1e7 with its error. The result is offered to the tube's next surface scan."
            }
            for id in ids() {
                HvSlot { key: "{id}", slot_id: id }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_labelled_by_offset_and_voltage() {
        assert_eq!(cell_title(1600.0, Some(1700.0)), "\u{2212}100 V (1600 V)");
        assert_eq!(cell_title(1750.0, Some(1700.0)), "+50 V (1750 V)");
        assert_eq!(cell_title(1700.0, Some(1700.0)), "0 V (1700 V)");
        assert_eq!(cell_title(1512.5, None), "1512.5 V");
    }
}
