//! The live grid of one run's scan points, shared by the Scan tab (a slot's current run)
//! and History / shared links (any run, read-only): the R12860 layout that
//! [`RunView::rows`] gives (the centre alone on top, then one row per θ with its φ
//! values; one row of voltages for an HV check), each cell a button coloured by its
//! status that opens the point's review. Beside it the gain map and a summary; below it
//! the review panel (when one of this run's points is open) and the run's review actions.

use std::sync::Arc;

use dioxus::prelude::*;

use super::format::fmt_coords;
use super::format::{cell_class, fmt_figure, fmt_gain};
use super::live::{OpenPoint, use_review_target};
use super::run_actions::RunActions;
use super::spectrum_panel::SpectrumPanel;
use crate::monitor::RunView;
use crate::monitor::board::Cell;

/// What the grid's cells are coloured by: their status (the default), or one figure on a
/// colour ramp between the run's lowest and highest value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourBy {
    Status,
    Gain,
    Resolution,
    PeakToValley,
    DarkRate,
    Tts,
    RelativeEfficiency,
}

impl ColourBy {
    pub const ALL: [ColourBy; 7] = [
        ColourBy::Status,
        ColourBy::Gain,
        ColourBy::Resolution,
        ColourBy::PeakToValley,
        ColourBy::DarkRate,
        ColourBy::Tts,
        ColourBy::RelativeEfficiency,
    ];

    /// The `<option>` value.
    pub fn key(self) -> &'static str {
        match self {
            ColourBy::Status => "status",
            ColourBy::Gain => "gain",
            ColourBy::Resolution => "resolution",
            ColourBy::PeakToValley => "peak_to_valley",
            ColourBy::DarkRate => "dark_rate",
            ColourBy::Tts => "tts",
            ColourBy::RelativeEfficiency => "relative_efficiency",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ColourBy::Status => "status",
            ColourBy::Gain => "gain",
            ColourBy::Resolution => "SPE resolution σ1/Q1",
            ColourBy::PeakToValley => "peak-to-valley",
            ColourBy::DarkRate => "dark rate (Hz)",
            ColourBy::Tts => "TTS FWHM (ns)",
            ColourBy::RelativeEfficiency => "relative efficiency",
        }
    }

    fn from_key(k: &str) -> ColourBy {
        ColourBy::ALL
            .into_iter()
            .find(|c| c.key() == k)
            .unwrap_or(ColourBy::Status)
    }

    /// The cell's value of this figure.
    pub fn value(self, c: &Cell) -> Option<f64> {
        let f = &c.figures;
        match self {
            ColourBy::Status => None,
            ColourBy::Gain => c.gain,
            ColourBy::Resolution => f.resolution,
            ColourBy::PeakToValley => f.peak_to_valley,
            ColourBy::DarkRate => f.dark_rate_hz,
            ColourBy::Tts => f.tts_fwhm_ns,
            ColourBy::RelativeEfficiency => f.relative_efficiency,
        }
        .filter(|v| v.is_finite())
    }
}

/// A colour on a dark-blue → teal → yellow ramp (viridis-like, readable in both themes)
/// for `t` in 0…1, as `rgb(r, g, b)`.
pub fn ramp(t: f64) -> String {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    format!(
        "rgb({}, {}, {})",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// How many points each criterion made poor or a warning (`"dark rate" → (1 poor, 0
/// warning)`), in the order first seen.
pub fn criteria_counts(cells: &[Cell]) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for c in cells {
        for (name, verdict) in &c.figures.flagged {
            let i = match out.iter().position(|(n, _, _)| n == name) {
                Some(i) => i,
                None => {
                    out.push((name.clone(), 0, 0));
                    out.len() - 1
                }
            };
            if verdict == "poor" {
                out[i].1 += 1;
            } else {
                out[i].2 += 1;
            }
        }
    }
    out
}

/// One cell: a button with the status word, the gain and the coordinates.
fn cell_button(
    run_id: i64,
    cell: Cell,
    selected: bool,
    target: Signal<Option<OpenPoint>>,
    fill: Option<(String, f64)>,
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
    let (style, figure) = match &fill {
        Some((colour, v)) => (
            format!("background: {colour}; color: #fff; text-shadow: 0 0 2px #000;"),
            fmt_figure(*v),
        ),
        None => (String::new(), String::new()),
    };
    let label = cell.label;
    let id = format!("cell-{run_id}-{label}");
    let open = label.clone();
    rsx! {
        button {
            key: "{label}",
            id: "{id}",
            class: if selected { "cell {class} selected" } else { "cell {class}" },
            "data-status": "{class}",
            "data-figure": "{figure}",
            style: "{style}",
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
    let mut colour_by = use_signal(|| ColourBy::Status);
    let by = colour_by();
    let run_id = view.run.id;
    let all_rows = view.rows();
    let all_cells: Vec<Cell> = all_rows
        .iter()
        .flat_map(|(_, c)| c.iter().cloned())
        .collect();
    let values: Vec<f64> = all_cells.iter().filter_map(|c| by.value(c)).collect();
    let range = values
        .iter()
        .fold(None, |acc: Option<(f64, f64)>, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        });
    let fill_of = move |c: &Cell| {
        let v = by.value(c)?;
        let (lo, hi) = range?;
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        Some((ramp(t), v))
    };
    let criteria = criteria_counts(&all_cells);
    let open_label = target
        .read()
        .as_ref()
        .filter(|o| o.run == run_id)
        .map(|o| o.label.clone());
    // The reference sensor's own small grid: its counted occupancy per point, the same
    // layout, shown when the run's points have one.
    let reference_rows: Vec<Element> = if all_cells
        .iter()
        .any(|c| c.figures.reference_occupancy.is_some())
    {
        all_rows
            .iter()
            .map(|(title, cells)| {
                let cells: Vec<Element> = cells
                    .iter()
                    .map(|c| {
                        let v = c.figures.reference_occupancy;
                        let text = v.map(fmt_figure).unwrap_or_else(|| "—".into());
                        let data = v.map(|v| v.to_string()).unwrap_or_default();
                        rsx! {
                            span {
                                key: "{c.label}",
                                class: "ref-cell",
                                "data-point": "{c.label}",
                                "data-ref": "{data}",
                                title: "reference sensor at {fmt_coords(&c.point)}: μ = {text}",
                                "{text}"
                            }
                        }
                    })
                    .collect();
                rsx! {
                    div { key: "{title}", class: "grid-row",
                        span { class: "row-title", "{title}" }
                        div { class: "row-cells", {cells.into_iter()} }
                    }
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let rows: Vec<Element> = all_rows
        .into_iter()
        .map(|(title, cells)| {
            let cells: Vec<Element> = cells
                .into_iter()
                .map(|c| {
                    let selected = open_label.as_deref() == Some(c.label.as_str());
                    let fill = fill_of(&c);
                    cell_button(run_id, c, selected, target, fill)
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
            div { class: "row small colour-by",
                label { r#for: "colour-by-{run_id}", "colour by " }
                select {
                    id: "colour-by-{run_id}",
                    onchange: move |e| colour_by.set(ColourBy::from_key(&e.value())),
                    for c in ColourBy::ALL {
                        option { key: "{c.key()}", value: "{c.key()}", selected: c == by, "{c.title()}" }
                    }
                }
                if by != ColourBy::Status {
                    match range {
                        Some((lo, hi)) => rsx! {
                            span { id: "legend-{run_id}", class: "legend",
                                "{fmt_figure(lo)} "
                                span {
                                    class: "legend-ramp",
                                    style: "display: inline-block; width: 8em; height: 0.8em; background: linear-gradient(to right, {ramp(0.0)}, {ramp(0.25)}, {ramp(0.5)}, {ramp(0.75)}, {ramp(1.0)});",
                                }
                                " {fmt_figure(hi)} · {by.title()}"
                            }
                        },
                        None => rsx! { span { id: "legend-{run_id}", class: "legend muted", "no point of this run has a {by.title()}" } },
                    }
                }
            }
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
                    if !criteria.is_empty() {
                        dl { id: "criteria-{run_id}", class: "summary criteria",
                            for (name, poor, warn) in criteria {
                                dt { key: "{name}", "{name}" }
                                dd { "data-criterion": "{name}", "{poor} poor, {warn} warning" }
                            }
                        }
                    }
                }
            }
            if !reference_rows.is_empty() {
                div { id: "reference-{run_id}", class: "grid grid-reference",
                    p { class: "small muted",
                        "Reference sensor: counted occupancy μ per point (the PMT's relative efficiency is its own μ over this one)"
                    }
                    {reference_rows.into_iter()}
                }
            }
            if let Some(label) = open_label {
                SpectrumPanel { view: view.clone(), label }
            }
            RunActions { run: view.run.clone() }
        }
    }
}
