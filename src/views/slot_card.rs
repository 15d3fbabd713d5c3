//! One PMT slot in the Scan tab (steps 4 and 5): its serial number (checked as typed, saved
//! when valid), compute profile and scan kind; the buttons that start, stop (after a
//! confirmation, optionally cancelling the job) and sync its run; the run's status line;
//! and the live grid of the run it shows. Every button is shown to every role: the server
//! decides, and its refusal is shown here as is.
//!
//! What the operator does in a card reaches the server in the order it was done: saves and
//! button presses go through one queue per card. (Each used to be its own task; on a slow
//! machine a "Run" pressed right after choosing a profile could overtake that save and
//! start — or be refused — with the slot's old settings.) The card keeps its own copy of
//! the chosen serial, profile and kind, so a press never reads settings the board has not
//! caught up with yet.

use dioxus::prelude::*;
use futures_util::StreamExt;

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

/// What the card's queue carries, in the order the operator did it.
#[derive(Debug, Clone)]
enum Msg {
    /// Save the slot's settings; only a refusal is shown.
    Save(Settings),
    /// Press a button; its answer is shown.
    Act(Act),
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
    let stored = use_memo(move || {
        slot.read()
            .as_ref()
            .map(|s| (s.serial.clone(), s.profile_id, s.kind))
            .unwrap_or((String::new(), None, ScanKind::Surface))
    });
    // The settings as chosen here; replaced when the stored ones change (here or elsewhere).
    let mut serial = use_signal(|| stored.peek().0.clone());
    let mut profile = use_signal(|| stored.peek().1);
    let mut kind = use_signal(|| stored.peek().2);
    use_effect(move || {
        let (s, p, k) = stored();
        serial.set(s);
        profile.set(p);
        kind.set(k);
    });
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
            stored.peek().0.clone()
        };
        (serial, *profile.peek(), *kind.peek())
    };
    let queue_ctx = ctx.clone();
    let queue = use_coroutine(move |mut rx: UnboundedReceiver<Msg>| {
        let ctx = queue_ctx.clone();
        async move {
            while let Some(m) = rx.next().await {
                match m {
                    Msg::Save((serial, profile, kind)) => {
                        let r = ctx
                            .commands
                            .set_slot(&ctx.user, slot_id, serial, profile, kind)
                            .await;
                        match r {
                            Ok(()) => message.set(None),
                            Err(e) => message.set(Some((false, e.to_string()))),
                        }
                    }
                    Msg::Act(a) => {
                        match perform(&ctx, slot_id, a).await {
                            Ok(m) => message.set(Some((true, m))),
                            Err(e) => message.set(Some((false, e.to_string()))),
                        }
                        busy.set(false);
                    }
                }
            }
        }
    });
    let save = move |s: Settings| queue.send(Msg::Save(s));
    let mut act = move |a: Act| {
        busy.set(true);
        message.set(None);
        queue.send(Msg::Act(a));
    };

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
                button { id: "slot-{slot_id}-remove", class: "btn btn-ghost", disabled: is_busy, onclick: move |_| act(Act::Remove), "Remove slot" }
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
                            serial.set(typed.clone());
                            if serial_problem(&typed).is_none() && typed != stored.peek().0 {
                                save(settings());
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
                            profile.set(e.value().parse::<i64>().ok());
                            save(settings());
                        },
                        option { value: "", selected: profile().is_none(), "— choose a profile —" }
                        for (pid, name) in profiles() {
                            option { key: "{pid}", value: "{pid}", selected: profile() == Some(pid), "{name}" }
                        }
                    }
                }
                label { class: "stack",
                    "Scan"
                    select {
                        id: "slot-{slot_id}-kind",
                        onchange: move |e| {
                            if let Ok(k) = e.value().parse::<ScanKind>() {
                                kind.set(k);
                                save(settings());
                            }
                        },
                        option { value: "surface", selected: kind() == ScanKind::Surface, "surface scan (θ/φ)" }
                        option { value: "hv", selected: kind() == ScanKind::Hv, "HV check" }
                    }
                }
            }
            div { class: "row slot-buttons",
                button {
                    id: "slot-{slot_id}-run",
                    class: "btn btn-primary",
                    disabled: is_busy || active,
                    onclick: move |_| {
                        // A serial typed but not yet committed is saved first.
                        let now = settings();
                        let unsaved = now != *stored.peek();
                        act(Act::Start(unsaved.then_some(now)));
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
                            act(Act::Sync(r));
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
                                act(Act::Stop { run: r, cancel: cancel_job() });
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
