//! The alarm banner above every tab: how many alarms need someone, and each active alarm
//! with what to do, who acknowledged it and whether it is shelved. Acknowledge (with an
//! optional comment) and shelve (an hour, a night, or until the run ends) go through
//! `Commands`, which refuses observers on the server; the banner shows the refusal. Every
//! browser shows the same board, so an acknowledgement in one updates all of them.

use std::sync::Arc;

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_utc_opt;
use super::live::use_board;
use crate::model::{Alarm, Shelve, now};

#[component]
pub fn AlarmBanner() -> Element {
    let board = use_board();
    let alarms = use_memo(move || board.read().alarms.clone());
    // A run that is no longer active (or no longer on the board) ends "shelved until the
    // run ends".
    let active_runs = use_memo(move || {
        board
            .read()
            .runs
            .values()
            .filter(|v| v.run.state.is_active())
            .map(|v| v.run.id)
            .collect::<Vec<i64>>()
    });
    let mut expanded = use_signal(|| false);
    let message = use_signal(|| None::<(bool, String)>);
    let list: Arc<Vec<Alarm>> = alarms();
    let t = now();
    let runs = active_runs();
    let shelved = |a: &Alarm| a.is_shelved(t, |r| runs.contains(&r));
    let open: Vec<&Alarm> = list
        .iter()
        .filter(|a| !a.is_acked() && !shelved(a))
        .collect();
    let count = open.len();
    let total = list.len();
    let class = if count > 0 {
        "alarm-banner alarm-banner-open"
    } else if total > 0 {
        "alarm-banner alarm-banner-quiet"
    } else {
        "alarm-banner alarm-banner-none"
    };
    let summary = match (count, total) {
        (0, 0) => "No alarms".to_string(),
        (0, n) => format!("No unacknowledged alarms ({n} acknowledged or shelved)"),
        (1, _) => "1 alarm needs attention".to_string(),
        (n, _) => format!("{n} alarms need attention"),
    };
    rsx! {
        div { id: "alarm-banner", class: "{class}", "data-count": "{count}", "data-total": "{total}",
            div { class: "row",
                span { id: "alarm-count", class: "alarm-count", "{count}" }
                span { id: "alarm-summary", "{summary}" }
                span { class: "spacer" }
                if total > 0 {
                    button { id: "alarm-toggle", class: "btn btn-ghost",
                        onclick: move |_| expanded.set(!expanded()),
                        if expanded() { "Hide" } else { "Show" }
                    }
                }
            }
            if let Some((ok, m)) = message() {
                p { id: "alarm-message", class: if ok { "ok" } else { "refusal" }, "{m}" }
            }
            if expanded() || count > 0 {
                ul { class: "alarm-list",
                    for a in list.iter() {
                        AlarmItem { key: "{a.id}", alarm: a.clone(), shelved: shelved(a), message }
                    }
                }
            }
        }
    }
}

#[component]
fn AlarmItem(alarm: Alarm, shelved: bool, message: Signal<Option<(bool, String)>>) -> Element {
    let ctx = use_context::<ShellContext>();
    let ack_role = ctx.user.role;
    let mut comment = use_signal(String::new);
    let id = alarm.id;
    let ack_ctx = ctx.clone();
    let ack = move |_| {
        let ctx = ack_ctx.clone();
        async move {
            match ctx.commands.ack_alarm(&ctx.user, id, comment()).await {
                Ok(a) => {
                    message.set(Some((true, format!("Acknowledged: {}.", a.kind.title()))));
                    comment.set(String::new());
                }
                Err(e) => message.set(Some((false, e.to_string()))),
            }
        }
    };
    let shelve = move |how: Shelve| {
        let ctx = ctx.clone();
        async move {
            match ctx.commands.shelve_alarm(&ctx.user, id, how).await {
                Ok(a) => message.set(Some((true, format!("Shelved: {}.", a.kind.title())))),
                Err(e) => message.set(Some((false, e.to_string()))),
            }
        }
    };
    let s1 = shelve.clone();
    let s2 = shelve.clone();
    let s3 = shelve;
    let raised = fmt_utc_opt(Some(alarm.raised_at));
    let state = if let Some(by) = &alarm.acked_by {
        let c = if alarm.ack_comment.is_empty() {
            String::new()
        } else {
            format!(" — “{}”", alarm.ack_comment)
        };
        format!("acknowledged by {by} at {}{c}", fmt_utc_opt(alarm.acked_at))
    } else if shelved {
        let until = match (alarm.shelved_until, alarm.shelved_run) {
            (Some(t), _) => format!("until {}", fmt_utc_opt(Some(t))),
            _ => "until the run ends".to_string(),
        };
        format!(
            "shelved by {} {until}",
            alarm.shelved_by.clone().unwrap_or_default()
        )
    } else {
        "not acknowledged".to_string()
    };
    let kind = alarm.kind.as_str();
    // Observers see the actions greyed out; the server refuses them anyway (Commands).
    let observer = !ack_role.can_operate();
    let why = if observer {
        "observers cannot acknowledge or shelve"
    } else {
        ""
    };
    rsx! {
        li { id: "alarm-{id}", class: "alarm alarm-{alarm.severity.as_str()} alarm-kind-{kind}",
            "data-acked": "{alarm.is_acked()}",
            div { class: "row",
                strong { "{alarm.kind.title()}" }
                if let Some(run) = alarm.run_id {
                    a { class: "alarm-run", href: "/runs/{run}", " run {run}" }
                }
                span { class: "muted small", " {raised} · {state}" }
            }
            p { class: "alarm-text", "{alarm.message}" }
            if !alarm.is_acked() {
                div { class: "row alarm-actions",
                    input { id: "alarm-comment-{id}", placeholder: "comment (optional)", value: "{comment}",
                        oninput: move |e| comment.set(e.value()) }
                    button { id: "alarm-ack-{id}", class: "btn", disabled: observer, title: "{why}", onclick: ack, "Acknowledge" }
                    button { id: "alarm-shelve-hour-{id}", class: "btn btn-ghost", disabled: observer, title: "{why}",
                        onclick: move |_| s1(Shelve::Until(now() + 3600)), "Shelve 1 h" }
                    button { id: "alarm-shelve-night-{id}", class: "btn btn-ghost", disabled: observer, title: "{why}",
                        onclick: move |_| s2(Shelve::Until(now() + 12 * 3600)), "Shelve 12 h" }
                    if alarm.run_id.is_some() {
                        button { id: "alarm-shelve-run-{id}", class: "btn btn-ghost", disabled: observer, title: "{why}",
                            onclick: move |_| s3(Shelve::RunEnds), "Shelve until run ends" }
                    }
                }
            }
        }
    }
}
