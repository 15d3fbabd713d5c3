//! One PMT slot in the Scan tab (steps 4 and 5): its serial number (checked as typed, saved
//! when valid), compute profile and scan kind; the buttons that start, stop (after a
//! confirmation, optionally cancelling the job) and sync its run; the run's status line;
//! and the live grid of the run it shows. Every button is shown to every role: the server
//! decides, and its refusal is shown here as is.

use dioxus::prelude::*;

use super::ShellContext;
use super::grid::Grid;
use super::live::use_board;
use super::logbook::LogbookPanel;
use crate::control::CommandError;
use crate::model::ScanKind;
use crate::pipeline::serial::Serial;

/// What is wrong with a typed serial number; an empty one is allowed (not yet entered).
fn serial_problem(typed: &str) -> Option<String> {
    let t = typed.trim();
    if t.is_empty() {
        return None;
    }
    Serial::parse(t).err()
}

/// A slot's settings as `set_slot` takes them.
type Settings = (String, Option<i64>, ScanKind);

/// What a button asks the server.
#[derive(Debug, Clone)]
enum Act {
    /// Start a run, first saving the settings when the typed serial is not saved yet.
    Start(Option<Settings>),
    Stop {
        run: i64,
        cancel: bool,
    },
    Sync(i64),
    Remove,
}

/// Asks the server; the answer in words for the slot's message line.
async fn perform(ctx: &ShellContext, slot_id: i64, a: Act) -> Result<String, CommandError> {
    let (c, who) = (&ctx.commands, &ctx.user);
    match a {
        Act::Start(first) => {
            if let Some((serial, profile, kind)) = first {
                c.set_slot(who, slot_id, serial, profile, kind).await?;
            }
            let s = c.start_run(who, slot_id).await?;
            Ok(match s.auto_archived {
                Some(prev) => format!(
                    "Started run {}; previous run {prev} archived automatically.",
                    s.run_id
                ),
                None => format!("Started run {}.", s.run_id),
            })
        }
        Act::Stop { run, cancel } => {
            c.stop_run(who, run, cancel).await?;
            Ok(if cancel {
                format!("Stopping run {run} and cancelling its job.")
            } else {
                format!("Stopping run {run}; its job is left running.")
            })
        }
        Act::Sync(run) => Ok(match c.sync_run(who, run).await? {
            1 => "1 new point".to_string(),
            n => format!("{n} new points"),
        }),
        Act::Remove => {
            c.remove_slot(who, slot_id).await?;
            Ok("Removed.".into())
        }
    }
}

#[component]
pub fn SlotCard(slot_id: i64) -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let slot = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .find(|s| s.slot.id == slot_id)
            .map(|s| s.slot.clone())
    });
    let run = use_memo(move || board.read().slot_run(slot_id).cloned());
    // The voltage of this tube's last HV check, offered to its next surface scan.
    let hv_offer = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .find(|s| s.slot.id == slot_id)
            .and_then(|s| s.hv_offer.clone())
    });
    let profiles = use_memo(move || {
        board
            .read()
            .profiles
            .iter()
            .map(|p| (p.id, p.name.clone()))
            .collect::<Vec<_>>()
    });
    let stored_serial = use_memo(move || {
        slot.read()
            .as_ref()
            .map(|s| s.serial.clone())
            .unwrap_or_default()
    });
    // The serial as typed; replaced when the stored one changes (here or elsewhere).
    let mut serial = use_signal(|| stored_serial.peek().clone());
    use_effect(move || serial.set(stored_serial()));
    let mut message = use_signal(|| None::<(bool, String)>);
    let mut busy = use_signal(|| false);
    let mut stop_open = use_signal(|| false);
    let mut cancel_job = use_signal(|| true);

    // The settings to save: the typed serial when it is valid, else the stored one.
    let settings = move || -> Settings {
        let typed = serial.peek().trim().to_string();
        let serial = if serial_problem(&typed).is_none() {
            typed
        } else {
            stored_serial.peek().clone()
        };
        let s = slot.peek();
        let (profile, kind) = s
            .as_ref()
            .map(|s| (s.profile_id, s.kind))
            .unwrap_or((None, ScanKind::Surface));
        (serial, profile, kind)
    };
    let save_ctx = ctx.clone();
    let save = use_callback(move |(serial, profile, kind): Settings| {
        let ctx = save_ctx.clone();
        spawn(async move {
            let r = ctx
                .commands
                .set_slot(&ctx.user, slot_id, serial, profile, kind)
                .await;
            match r {
                Ok(()) => message.set(None),
                Err(e) => message.set(Some((false, e.to_string()))),
            }
        });
    });
    let act = use_callback(move |a: Act| {
        let ctx = ctx.clone();
        busy.set(true);
        message.set(None);
        spawn(async move {
            match perform(&ctx, slot_id, a).await {
                Ok(m) => message.set(Some((true, m))),
                Err(e) => message.set(Some((false, e.to_string()))),
            }
            busy.set(false);
        });
    });

    let Some(s) = slot() else {
        return rsx! {};
    };
    let current = run();
    let active = current.as_ref().is_some_and(|v| v.run.state.is_active());
    let run_id = current.as_ref().map(|v| v.run.id);
    let typed = serial();
    let problem = serial_problem(&typed);
    let (state_word, status) = match &current {
        None => ("none".to_string(), "no run yet".to_string()),
        Some(v) => {
            let word = v.run.state.as_str();
            let mut t = format!(
                "run {} · {word} · {}/{}",
                v.run.id,
                v.points.len(),
                v.pattern.len()
            );
            if !v.run.message.is_empty() {
                t.push_str(&format!(" · {}", v.run.message));
            }
            if let Some(hv) = v.run.hv {
                t.push_str(&format!(" · HV {hv:.0} V"));
            }
            (word.to_string(), t)
        }
    };
    let is_busy = busy();
    let offer = hv_offer().filter(|_| s.kind == ScanKind::Surface);
    let offer_volts = offer
        .as_ref()
        .and_then(|h| h.volts)
        .map(|v| format!("{v:.0}"))
        .unwrap_or_default();
    rsx! {
        article { id: "slot-{slot_id}", class: "slot-card",
            div { class: "row slot-head",
                h3 { "{s.name}" }
                span { class: "spacer" }
                button { id: "slot-{slot_id}-remove", class: "btn btn-ghost", disabled: is_busy, onclick: move |_| act.call(Act::Remove), "Remove slot" }
            }
            div { class: "slot-fields",
                label { class: "stack",
                    "PMT serial number"
                    input {
                        id: "slot-{slot_id}-serial",
                        value: "{typed}",
                        placeholder: "e.g. KM12345",
                        autocomplete: "off",
                        spellcheck: "false",
                        "aria-invalid": if problem.is_some() { "true" } else { "false" },
                        oninput: move |e| serial.set(e.value()),
                        onchange: move |e| {
                            let typed = e.value().trim().to_string();
                            if serial_problem(&typed).is_none() && typed != *stored_serial.peek() {
                                let (_, profile, kind) = settings();
                                save.call((typed, profile, kind));
                            }
                        },
                    }
                    if let Some(p) = &problem {
                        span { id: "slot-{slot_id}-serial-error", class: "field-error", role: "alert", "{p}" }
                    } else if typed.trim().is_empty() {
                        span { class: "muted small", "enter the serial number of the PMT in this slot" }
                    }
                }
                label { class: "stack",
                    "Compute profile"
                    select {
                        id: "slot-{slot_id}-profile",
                        onchange: move |e| {
                            let (serial, _, kind) = settings();
                            save.call((serial, e.value().parse::<i64>().ok(), kind));
                        },
                        option { value: "", selected: s.profile_id.is_none(), "— choose a profile —" }
                        for (pid, name) in profiles() {
                            option { key: "{pid}", value: "{pid}", selected: s.profile_id == Some(pid), "{name}" }
                        }
                    }
                }
                label { class: "stack",
                    "Scan"
                    select {
                        id: "slot-{slot_id}-kind",
                        onchange: move |e| {
                            if let Ok(kind) = e.value().parse::<ScanKind>() {
                                let (serial, profile, _) = settings();
                                save.call((serial, profile, kind));
                            }
                        },
                        option { value: "surface", selected: s.kind == ScanKind::Surface, "surface scan (θ/φ)" }
                        option { value: "hv", selected: s.kind == ScanKind::Hv, "HV check" }
                    }
                }
            }
            div { class: "row slot-buttons",
                button {
                    id: "slot-{slot_id}-run",
                    class: "btn btn-primary",
                    disabled: is_busy || active,
                    onclick: move |_| {
                        let first = settings();
                        let unsaved = first.0 != *stored_serial.peek();
                        act.call(Act::Start(unsaved.then_some(first)));
                    },
                    "Run live monitoring"
                }
                button { id: "slot-{slot_id}-stop", class: "btn", disabled: is_busy || !active, onclick: move |_| stop_open.set(true), "Stop" }
                button {
                    id: "slot-{slot_id}-sync",
                    class: "btn",
                    disabled: is_busy || run_id.is_none(),
                    onclick: move |_| {
                        if let Some(r) = run_id {
                            act.call(Act::Sync(r));
                        }
                    },
                    "Manual sync"
                }
            }
            if let (true, true, Some(r)) = (stop_open(), active, run_id) {
                div { id: "slot-{slot_id}-stop-confirm", class: "confirm", role: "alertdialog",
                    p { "Stop following run {r}? Its points so far are kept; the run ends as cancelled." }
                    label { class: "check",
                        input {
                            id: "slot-{slot_id}-cancel-job",
                            r#type: "checkbox",
                            checked: cancel_job(),
                            onchange: move |e| cancel_job.set(e.checked()),
                        }
                        " also cancel the job on the cluster"
                    }
                    div { class: "row",
                        button {
                            id: "slot-{slot_id}-stop-yes",
                            class: "btn btn-warn",
                            onclick: move |_| {
                                stop_open.set(false);
                                act.call(Act::Stop { run: r, cancel: cancel_job() });
                            },
                            "Stop the run"
                        }
                        button { id: "slot-{slot_id}-stop-no", class: "btn btn-ghost", onclick: move |_| stop_open.set(false), "Keep it running" }
                    }
                }
            }
            if let Some(h) = offer {
                p {
                    id: "slot-{slot_id}-hv-offer",
                    class: "hv-offer",
                    "data-volts": "{offer_volts}",
                    "Operating HV from HV check run {h.run_id}: {h.summary}"
                }
            }
            p { id: "slot-{slot_id}-status", class: "slot-status", "data-state": "{state_word}", "{status}" }
            if let Some((ok, m)) = message() {
                p {
                    id: "slot-{slot_id}-message",
                    class: if ok { "ok" } else { "refusal" },
                    role: if ok { "status" } else { "alert" },
                    "{m}"
                }
            }
            for v in current {
                Grid { key: "{v.run.id}", view: v.clone() }
                details { class: "slot-logbook",
                    summary { "Logbook of run {v.run.id}" }
                    LogbookPanel { run_id: v.run.id }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_checked_as_typed_and_empty_is_not_an_error() {
        assert_eq!(serial_problem(""), None);
        assert_eq!(serial_problem("  "), None);
        assert_eq!(serial_problem("KM12345"), None);
        assert!(serial_problem("-rf").is_some());
        assert!(serial_problem("KM 1").is_some());
    }
}
