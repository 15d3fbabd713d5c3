//! The compute-profile form (step 2): every setting of a [`crate::monitor::ProfileSpec`],
//! checked on every keystroke with each problem next to its field (the model is
//! [`Draft`]); the analysis settings in a collapsible section with the bench's defaults;
//! save (admin-only on the server), connection test (each check ✓/✗ with its detail and
//! time) and delete. Whatever the server answers is shown as is.

use std::collections::BTreeMap;

use dioxus::prelude::*;

use super::ShellContext;
use super::format::{KINDS, MODES};
use super::profile_draft::{Draft, Input, models, polarities};
use crate::model::Report;

type Problems = BTreeMap<&'static str, Vec<String>>;

/// The problems of `field` in one line, shown next to it.
fn error_span(problems: &Problems, field: &'static str) -> Element {
    match problems.get(field) {
        Some(list) if !list.is_empty() => {
            let text = list.join("; ");
            rsx! { span { id: "profile-{field}-error", class: "field-error", "{text}" } }
        }
        _ => rsx! {},
    }
}

/// A labelled text input bound to the draft, with its field's problems when it shows them.
fn text_input(mut draft: Signal<Draft>, input: Input, problems: &Problems, hint: &str) -> Element {
    let value = draft.read().text(input).to_string();
    let mode = if input.numeric() { "decimal" } else { "text" };
    let invalid = input.shows_error() && problems.contains_key(input.field());
    rsx! {
        label { class: "stack",
            "{input.label()}"
            input {
                id: "profile-{input.id()}",
                value: "{value}",
                placeholder: "{hint}",
                "inputmode": "{mode}",
                autocomplete: "off",
                spellcheck: "false",
                "aria-invalid": if invalid { "true" } else { "false" },
                oninput: move |e| draft.write().set(input, e.value()),
            }
            if input.shows_error() {
                {error_span(problems, input.field())}
            }
        }
    }
}

/// A labelled select bound to the draft.
fn select_input(
    mut draft: Signal<Draft>,
    input: Input,
    options: Vec<(String, String)>,
    problems: &Problems,
) -> Element {
    let value = draft.read().text(input).to_string();
    rsx! {
        label { class: "stack",
            "{input.label()}"
            select {
                id: "profile-{input.id()}",
                onchange: move |e| draft.write().set(input, e.value()),
                for (v, text) in options {
                    option { key: "{v}", value: "{v}", selected: v == value, "{text}" }
                }
            }
            if input.shows_error() {
                {error_span(problems, input.field())}
            }
        }
    }
}

/// The connection test's report: one line per check.
fn report_list(r: &Report) -> Element {
    let verdict = if r.ok {
        "every check passed"
    } else {
        "some checks failed"
    };
    rsx! {
        p { id: "profile-test-verdict", class: if r.ok { "ok" } else { "refusal" }, "{r.target}: {verdict}" }
        ul { id: "profile-test-report", class: "checks",
            for (i, c) in r.checks.iter().enumerate() {
                li {
                    key: "{i}",
                    "data-item": "{c.item}",
                    class: if c.ok { "check-ok" } else if c.skipped { "check-skipped" } else { "check-bad" },
                    "data-ok": if c.ok { "true" } else { "false" },
                    span { class: "mark", if c.ok { "✓ " } else { "✗ " } }
                    strong { "{c.item}" }
                    " — {c.detail} "
                    span { class: "muted small", "({c.ms:.0} ms)" }
                }
            }
        }
    }
}

#[component]
pub fn ProfileForm(
    mut draft: Signal<Draft>,
    mut open: Signal<bool>,
    mut message: Signal<Option<(bool, String)>>,
    mut report: Signal<Option<Report>>,
) -> Element {
    let ctx = use_context::<ShellContext>();
    let mut busy = use_signal(|| false);
    let save_ctx = ctx.clone();
    let save = move |_| {
        let d = draft.peek().clone();
        if d.has_bad_text() {
            message.set(Some((
                false,
                "Not saved: fix the fields marked in red first.".into(),
            )));
            return;
        }
        let ctx = save_ctx.clone();
        busy.set(true);
        spawn(async move {
            let name = d.name();
            match ctx
                .commands
                .save_profile(&ctx.user, d.id, name.clone(), d.spec)
                .await
            {
                Ok(id) => {
                    draft.write().id = Some(id);
                    message.set(Some((true, format!("Saved profile “{name}”."))));
                }
                Err(e) => message.set(Some((false, e.to_string()))),
            }
            busy.set(false);
        });
    };
    let test_ctx = ctx.clone();
    let test = move |_| {
        let spec = draft.peek().spec.clone();
        let ctx = test_ctx.clone();
        busy.set(true);
        report.set(None);
        message.set(None);
        spawn(async move {
            match ctx.commands.test_profile(&ctx.user, spec).await {
                Ok(r) => report.set(Some(r)),
                Err(e) => message.set(Some((false, e.to_string()))),
            }
            busy.set(false);
        });
    };
    let delete = move |_| {
        let Some(id) = draft.peek().id else {
            open.set(false);
            return;
        };
        let ctx = ctx.clone();
        busy.set(true);
        spawn(async move {
            match ctx.commands.delete_profile(&ctx.user, id).await {
                Ok(()) => {
                    message.set(Some((true, format!("Deleted profile {id}."))));
                    open.set(false);
                }
                Err(e) => message.set(Some((false, e.to_string()))),
            }
            busy.set(false);
        });
    };
    let d = draft();
    let problems = d.problems();
    let both = |n: &str| (n.to_string(), n.to_string());
    let kinds: Vec<_> = KINDS.iter().map(|(_, n)| both(n)).collect();
    let modes: Vec<_> = MODES.iter().map(|(_, n)| both(n)).collect();
    let model_options: Vec<_> = models().map(|m| both(m.as_str())).collect();
    let polarity_options: Vec<_> = polarities().map(|p| both(p.as_str())).collect();
    let is_busy = busy();
    let title = match d.id {
        Some(id) => format!("Edit profile {id}"),
        None => "New profile".to_string(),
    };
    let count = problems.values().map(Vec::len).sum::<usize>();
    rsx! {
        div { id: "profile-form", class: "profile-form", role: "form",
            h4 { "{title}" }
            {text_input(draft, Input::Name, &problems, "e.g. bench cluster")}
            {text_input(draft, Input::PmtType, &problems, "R12860")}
            {select_input(draft, Input::Kind, kinds, &problems)}
            {select_input(draft, Input::Mode, modes, &problems)}
            fieldset { class: "group",
                legend { "SSH (ssh, and slurm reached over SSH)" }
                {text_input(draft, Input::Host, &problems, "user@host")}
                {text_input(draft, Input::Port, &problems, "22")}
                {text_input(draft, Input::Identity, &problems, "~/.ssh/id_ed25519 (empty: agent)")}
                {text_input(draft, Input::KnownHosts, &problems, "empty: your own")}
                {text_input(draft, Input::Jump, &problems, "gate.lab.org, user@inner:2222 (empty: none)")}
                {text_input(draft, Input::SshConfig, &problems, "empty: ~/.ssh/config")}
            }
            fieldset { class: "group",
                legend { "Directories" }
                {text_input(draft, Input::WorkDir, &problems, "/absolute/path")}
                {text_input(draft, Input::ScanRoot, &problems, "/where/the/digitizer/writes")}
                {text_input(draft, Input::ArchiveDir, &problems, "/archive/area")}
                {text_input(draft, Input::FlagDir, &problems, "/flag/area")}
                {text_input(draft, Input::Program, &problems, "pmtwatch")}
            }
            fieldset { class: "group",
                legend { "SLURM options (slurm only)" }
                {text_input(draft, Input::Partition, &problems, "default")}
                {text_input(draft, Input::Time, &problems, "01:00:00")}
                {text_input(draft, Input::Mem, &problems, "4G")}
                {text_input(draft, Input::Account, &problems, "")}
                {text_input(draft, Input::Gpus, &problems, "0")}
            }
            fieldset { class: "group",
                legend { "Command mode (the lab's own script)" }
                {text_input(draft, Input::CommandTemplate, &problems, "sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {SN}")}
                {text_input(draft, Input::CommandDir, &problems, "scans (relative: from the remote home)")}
                p { class: "muted small", "Used in command mode only. Synced files and the point pattern keep their defaults (*_charge.png, *_GAIN.txt)." }
            }
            fieldset { class: "group",
                legend { "Timing" }
                {text_input(draft, Input::Poll, &problems, "1")}
                {text_input(draft, Input::Settle, &problems, "2")}
            }
            fieldset { class: "group",
                legend { "Scan points" }
                label { class: "stack",
                    "{Input::Pattern.label()}"
                    textarea {
                        id: "profile-pattern",
                        rows: "3",
                        value: "{d.text(Input::Pattern)}",
                        spellcheck: "false",
                        oninput: move |e| draft.write().set(Input::Pattern, e.value()),
                    }
                    {error_span(&problems, "pattern")}
                }
                div { class: "row",
                    button { id: "profile-pattern-default", r#type: "button", class: "btn btn-small", onclick: move |_| draft.write().reset_pattern(), "Reset to R12860 pattern" }
                    span { class: "muted small", "{d.spec.pattern.len()} points" }
                }
                div { class: "row",
                    {text_input(draft, Input::HvNominal, &problems, "1500")}
                    {text_input(draft, Input::HvStep, &problems, "50")}
                    {text_input(draft, Input::HvPoints, &problems, "5")}
                    {text_input(draft, Input::DarkPoints, &problems, "3")}
                }
                {error_span(&problems, "hv")}
            }
            details { class: "group analysis",
                summary { "Analysis settings" }
                p { class: "muted small", "The R12860 bench's defaults; change only what differs on your bench." }
                {select_input(draft, Input::Model, model_options, &problems)}
                div { class: "row",
                    {text_input(draft, Input::GainMin, &problems, "9.99e6")}
                    {text_input(draft, Input::GainMax, &problems, "1.049e7")}
                }
                div { class: "row",
                    {text_input(draft, Input::ConfidenceSigma, &problems, "2")}
                    {text_input(draft, Input::MaxChi2, &problems, "5")}
                }
                p { class: "muted small",
                    "Health bands of the other figures: \"warn > X\", \"warn < X\", \"poor > X\", \"poor < X\", comma-separated; empty: no limits."
                }
                div { class: "row",
                    {text_input(draft, Input::BandResolution, &problems, "warn > 0.35, poor > 0.5")}
                    {text_input(draft, Input::BandPeakToValley, &problems, "warn < 2, poor < 1.5")}
                    {text_input(draft, Input::BandOccupancy, &problems, "warn < 0.02, warn > 3")}
                }
                div { class: "row",
                    {text_input(draft, Input::BandDarkRate, &problems, "warn > 1e4, poor > 3e4")}
                    {text_input(draft, Input::BandTts, &problems, "warn > 3, poor > 4")}
                    {text_input(draft, Input::BandRelEff, &problems, "no limits")}
                }
                div { class: "row",
                    {select_input(draft, Input::PmtPolarity, polarity_options.clone(), &problems)}
                    {text_input(draft, Input::ThresholdMv, &problems, "3")}
                }
                div { class: "row",
                    {select_input(draft, Input::TriggerPolarity, polarity_options.clone(), &problems)}
                    {text_input(draft, Input::TriggerMv, &problems, "100")}
                }
                div { class: "row",
                    {select_input(draft, Input::PickoffPolarity, polarity_options, &problems)}
                    {text_input(draft, Input::PickoffMv, &problems, "100")}
                }
                div { class: "row",
                    {text_input(draft, Input::WindowPre, &problems, "10")}
                    {text_input(draft, Input::WindowLength, &problems, "60")}
                    {text_input(draft, Input::BaselineSamples, &problems, "40")}
                }
                div { class: "row",
                    {text_input(draft, Input::Bits, &problems, "14")}
                    {text_input(draft, Input::Vpp, &problems, "2")}
                    {text_input(draft, Input::SampleNs, &problems, "2")}
                    {text_input(draft, Input::MinEvents, &problems, "200")}
                }
                {error_span(&problems, "analysis")}
            }
            p { id: "profile-problems", class: if count == 0 { "ok small" } else { "muted small" },
                if count == 0 { "No problems found." } else { "{count} problem(s) to fix before saving." }
            }
            div { class: "row",
                button { id: "profile-save", r#type: "button", class: "btn btn-primary", disabled: is_busy, onclick: save, "Save profile" }
                button { id: "profile-test", r#type: "button", class: "btn", disabled: is_busy, onclick: test, if is_busy { "Working…" } else { "Test connection" } }
                button { id: "profile-delete", r#type: "button", class: "btn btn-warn", disabled: is_busy, onclick: delete, if d.id.is_some() { "Delete profile" } else { "Discard" } }
            }
            if let Some(r) = report() {
                {report_list(&r)}
            }
        }
    }
}
