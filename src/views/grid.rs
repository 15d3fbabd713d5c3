//! The live grid of one run's scan points, shared by the Scan tab (a slot's current run)
//! and History / shared links (any run, read-only): the R12860 layout that
//! [`RunView::rows`] gives (the centre alone on top, then one row per θ with its φ
//! values; one row of voltages for an HV check), each cell a button coloured by its
//! status that opens the point's review. Beside it the gain map and a summary; below it
//! the review panel (when one of this run's points is open) and the run's review actions.

use std::sync::Arc;

use dioxus::prelude::*;

use super::format::fmt_coords;
use super::format::{cell_class, fmt_gain};
use super::live::{OpenPoint, use_review_target};
use super::run_actions::RunActions;
use super::spectrum_panel::SpectrumPanel;
use crate::monitor::RunView;
use crate::monitor::board::Cell;

/// One cell: a button with the status word, the gain and the coordinates.
fn cell_button(
    run_id: i64,
    cell: Cell,
    selected: bool,
    target: Signal<Option<OpenPoint>>,
) -> Element {
    let mut target = target;
    let class = cell_class(cell.status);
    let word = cell.status.word();
    let gain = fmt_gain(cell.gain);
    let coords = fmt_coords(&cell.point);
    let mut tip = match cell.gain_err {
        Some(e) if cell.gain.is_some() => {
            format!(
                "{} · {word} · gain {gain} ± {}",
                cell.label,
                fmt_gain(Some(e))
            )
        }
        _ => format!("{} · {word}", cell.label),
    };
    if !cell.reason.is_empty() {
        tip = format!("{tip} · {}", cell.reason);
    }
    let label = cell.label;
    let id = format!("cell-{run_id}-{label}");
    let open = label.clone();
    rsx! {
        button {
            key: "{label}",
            id: "{id}",
            class: if selected { "cell {class} selected" } else { "cell {class}" },
            "data-status": "{class}",
            title: "{tip}",
            "aria-pressed": if selected { "true" } else { "false" },
            onclick: move |_| target.set(Some(OpenPoint { run: run_id, label: open.clone() })),
            span { class: "cell-word", "{word}" }
            span { class: "cell-gain", "{gain}" }
            span { class: "cell-coords", "{coords}" }
        }
    }
}

#[component]
pub fn Grid(view: Arc<RunView>) -> Element {
    let target = use_review_target();
    let run_id = view.run.id;
    let open_label = target
        .read()
        .as_ref()
        .filter(|o| o.run == run_id)
        .map(|o| o.label.clone());
    let rows: Vec<Element> = view
        .rows()
        .into_iter()
        .map(|(title, cells)| {
            let cells: Vec<Element> = cells
                .into_iter()
                .map(|c| {
                    let selected = open_label.as_deref() == Some(c.label.as_str());
                    cell_button(run_id, c, selected, target)
                })
                .collect();
            rsx! {
                div { key: "{title}", class: "grid-row",
                    span { class: "row-title", "{title}" }
                    div { class: "row-cells", {cells.into_iter()} }
                }
            }
        })
        .collect();
    let s = view.summary();
    let mean = fmt_gain(s.mean_gain);
    let spread = s
        .spread
        .map(|x| format!("{:.1} %", x * 100.0))
        .unwrap_or_else(|| "—".into());
    let kind = view.run.kind.as_str();
    rsx! {
        div { class: "run-view",
            div { class: "grid-wrap",
                div { id: "grid-{run_id}", class: "grid grid-{kind}", "data-kind": "{kind}",
                    if rows.is_empty() {
                        p { class: "muted", "This run has no scan points (its profile could not be read)." }
                    }
                    {rows.into_iter()}
                }
                div { class: "grid-side",
                    if view.run.kind == crate::model::ScanKind::Hv {
                        if view.hv.as_ref().is_some_and(|h| h.plot.is_some()) {
                            img {
                                id: "gainmap-{run_id}",
                                class: "gainmap",
                                src: "/runs/{run_id}/hv.png?v={s.done}",
                                alt: "gain versus HV of run {run_id}",
                            }
                        }
                    } else {
                        img {
                            id: "gainmap-{run_id}",
                            class: "gainmap",
                            src: "/runs/{run_id}/gainmap.png?v={s.done}",
                            alt: "gain map of run {run_id}",
                        }
                    }
                    dl { id: "summary-{run_id}", class: "summary", "data-done": "{s.done}", "data-poor": "{s.poor}",
                        dt { "mean gain" }
                        dd { "{mean}" }
                        dt { "spread" }
                        dd { "{spread}" }
                        dt { "not healthy" }
                        dd { "{s.poor}" }
                        dt { "done" }
                        dd { "{s.done}/{s.total}" }
                    }
                }
            }
            if let Some(label) = open_label {
                SpectrumPanel { view: view.clone(), label }
            }
            RunActions { run: view.run.clone() }
        }
    }
}
