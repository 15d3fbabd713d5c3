//! Step 1: the background executor's state, pushed live to every browser, with start/stop
//! buttons. The buttons are shown to every role on purpose: the server decides, and an
//! observer who presses one sees the server's refusal.

use dioxus::prelude::*;

use super::ShellContext;
use crate::web::hub::ExecutorStatus;

#[component]
pub fn ExecutorPanel() -> Element {
    let ctx = use_context::<ShellContext>();
    let mut status = use_signal(|| ctx.hub.executor());
    let hub = ctx.hub.clone();
    use_future(move || {
        let mut rx = hub.board();
        async move {
            loop {
                let now: ExecutorStatus = rx.borrow_and_update().executor.clone();
                if *status.peek() != now {
                    status.set(now);
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    });
    let mut message = use_signal(|| None::<String>);
    let send = move |run: bool| {
        let ctx = ctx.clone();
        async move {
            match ctx.commands.set_executor(&ctx.user, run).await {
                Ok(()) => message.set(None),
                Err(e) => message.set(Some(e.to_string())),
            }
        }
    };
    let send_stop = send.clone();
    let s = status();
    let state_text = if s.running { "running" } else { "stopped" };
    let changed = match (&s.changed_by, s.changed_at) {
        (Some(by), Some(_)) => format!("last changed by {by}"),
        _ => String::new(),
    };
    rsx! {
        div { class: "executor",
            p {
                "Executor: "
                strong { id: "executor-state", class: "state-{state_text}", "{state_text}" }
                " "
                span { class: "muted", "{changed}" }
            }
            div { class: "row",
                button { id: "executor-start", class: "btn", disabled: s.running, onclick: move |_| send(true), "Start executor" }
                button { id: "executor-stop", class: "btn", disabled: !s.running, onclick: move |_| send_stop(false), "Stop executor" }
            }
            if let Some(m) = message() {
                p { id: "action-message", class: "refusal", role: "alert", "{m}" }
            }
            p { class: "muted small",
                "The executor keeps running when the browser closes. Dispatching and syncing work arrive with the live-monitoring issue."
            }
        }
    }
}
