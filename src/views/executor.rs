//! Step 1: the background executor's state, pushed live to every browser, with start/stop
//! buttons, and below it what each slot's run is doing (state, points, elapsed time, the
//! estimated time left, the job's status line, and its log on request). The buttons are
//! shown to every role on purpose: the server decides, and an observer who presses one
//! sees the server's refusal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_secs;
use super::format::fmt_utc;
use super::live::use_board;
use crate::model::clock;
use crate::monitor::RunView;

/// One slot's line: id, name and the run it shows.
type SlotLine = (i64, String, Option<Arc<RunView>>);

#[component]
pub fn ExecutorPanel() -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let status = use_memo(move || board.read().executor.clone());
    let lines = use_memo(move || {
        let b = board.read();
        b.slots
            .iter()
            .map(|s| {
                (
                    s.slot.id,
                    s.slot.name.clone(),
                    b.slot_run(s.slot.id).cloned(),
                )
            })
            .collect::<Vec<SlotLine>>()
    });
    // Elapsed time and time left move on while a run is active: a clock that ticks then.
    let mut now = use_signal(clock::now);
    use_future(move || async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let active = board.peek().runs.values().any(|r| r.run.state.is_active());
            if active {
                now.set(clock::now());
            }
        }
    });
    let mut message = use_signal(|| None::<String>);
    let send_ctx = ctx.clone();
    let send = use_callback(move |run: bool| {
        let ctx = send_ctx.clone();
        spawn(async move {
            match ctx.commands.set_executor(&ctx.user, run).await {
                Ok(()) => message.set(None),
                Err(e) => message.set(Some(e.to_string())),
            }
        });
    });
    // Fetched job logs by slot: the text or the server's refusal.
    let mut logs = use_signal(BTreeMap::<i64, Result<String, String>>::new);
    let show_log = use_callback(move |(slot, run): (i64, i64)| {
        let ctx = ctx.clone();
        spawn(async move {
            let r = ctx
                .reads
                .job_log(&ctx.user, run)
                .await
                .map_err(|e| e.to_string());
            logs.write().insert(slot, r);
        });
    });
    let s = status();
    let state_text = if s.running { "running" } else { "stopped" };
    let changed = match (&s.changed_by, s.changed_at) {
        (Some(by), Some(at)) => format!("since {} UTC, by {by}", fmt_utc(at)),
        (Some(by), None) => format!("by {by}"),
        _ => String::new(),
    };
    let t = now();
    rsx! {
        div { class: "executor",
            p {
                "Executor: "
                strong { id: "executor-state", class: "state-{state_text}", "{state_text}" }
                " "
                span { id: "executor-changed", class: "muted small", "{changed}" }
            }
            div { class: "row",
                button { id: "executor-start", class: "btn", disabled: s.running, onclick: move |_| send.call(true), "Start executor" }
                button { id: "executor-stop", class: "btn", disabled: !s.running, onclick: move |_| send.call(false), "Stop executor" }
            }
            if let Some(m) = message() {
                p { id: "action-message", class: "refusal", role: "alert", "{m}" }
            }
            p { class: "muted small",
                "Stopping the executor only stops dispatching: queued runs wait, running jobs carry on and are still synced. "
                "To cancel a running job, use Stop in its slot (Scan tab)."
            }
            ul { id: "executor-slots", class: "slot-lines",
                for (id, name, run) in lines() {
                    li { key: "{id}", id: "executor-slot-{id}", class: "slot-line",
                        strong { "{name}" }
                        match run {
                            None => rsx! { span { class: "muted small", " no run yet" } },
                            Some(v) => {
                                let elapsed = v.elapsed(t).map(fmt_secs).unwrap_or_else(|| "—".into());
                                let eta = v.eta(t).map(fmt_secs).unwrap_or_else(|| "—".into());
                                let run_id = v.run.id;
                                rsx! {
                                    div { class: "small",
                                        "run {run_id} · "
                                        span { class: "run-state state-{v.run.state.as_str()}", "{v.run.state.as_str()}" }
                                        " · {v.points.len()}/{v.pattern.len()} points"
                                    }
                                    div { class: "small muted", "elapsed {elapsed} · left ≈ {eta}" }
                                    if !v.job_status.is_empty() {
                                        div { class: "small job-status", "job: {v.job_status}" }
                                    }
                                    button {
                                        id: "slot-{id}-log",
                                        class: "btn btn-small",
                                        onclick: move |_| show_log.call((id, run_id)),
                                        if logs.read().contains_key(&id) { "Refresh log" } else { "Show log" }
                                    }
                                    match logs.read().get(&id) {
                                        Some(Ok(text)) if text.is_empty() => rsx! { pre { id: "slot-{id}-log-text", class: "job-log muted", "(no output yet)" } },
                                        Some(Ok(text)) => rsx! { pre { id: "slot-{id}-log-text", class: "job-log", "{text}" } },
                                        Some(Err(e)) => rsx! { p { id: "slot-{id}-log-text", class: "refusal", role: "alert", "{e}" } },
                                        None => rsx! {},
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
