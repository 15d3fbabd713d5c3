//! A run's review state and actions, below its grid: flag (with a reason) or archive a run
//! that has ended and is unreviewed, the review as it stands (`archive requested` while the
//! move of its data is under way, then where it went), the zip download and a link to
//! share. The server checks the role, the state and the reason; its refusal is shown as is.

use dioxus::prelude::*;

use super::ShellContext;
use super::format::{review_text, review_word};
use crate::model::{Review, Run};
use crate::monitor::ReviewAction;

/// Provided by a panel that shows a run fetched once (History, a shared link) so that it
/// fetches the run again after a review action; slot runs come back through the board.
#[derive(Clone, Copy)]
pub struct RunChanged(pub Signal<u32>);

/// What the operator reads while their own review action waits for the server.
fn pending_text(requested: Review) -> String {
    format!(
        "{} — waiting for the move to be confirmed",
        review_word(requested)
    )
}

#[component]
pub fn RunActions(run: ReadSignal<Run>) -> Element {
    let ctx = use_context::<ShellContext>();
    let changed = try_use_context::<RunChanged>();
    let mut reason = use_signal(String::new);
    let mut message = use_signal(|| None::<String>);
    let mut pending = use_signal(|| None::<Review>);
    let act = use_callback(move |flag: bool| {
        let id = run.peek().id;
        let action = if flag {
            let text = reason.peek().trim().to_string();
            if text.is_empty() {
                message.set(Some(
                    "Flagging needs a reason: say what is wrong with the run.".into(),
                ));
                return;
            }
            ReviewAction::Flag { reason: text }
        } else {
            ReviewAction::Archive
        };
        pending.set(Some(if flag {
            Review::FlagRequested
        } else {
            Review::ArchiveRequested
        }));
        message.set(None);
        let ctx = ctx.clone();
        spawn(async move {
            match ctx.commands.review(&ctx.user, id, action).await {
                Ok(_) => {
                    reason.set(String::new());
                    if let Some(RunChanged(mut c)) = changed {
                        c += 1;
                    }
                }
                Err(e) => message.set(Some(e.to_string())),
            }
            pending.set(None);
        });
    });
    let r = run();
    let id = r.id;
    let waiting = pending();
    let shown = match waiting {
        Some(p) if r.review == Review::Unreviewed => pending_text(p),
        _ => review_text(&r),
    };
    let can_review = r.state.is_final() && r.review == Review::Unreviewed && waiting.is_none();
    rsx! {
        div { id: "run-{id}-actions", class: "run-actions",
            p {
                "Review: "
                span {
                    id: "run-{id}-review",
                    class: "review-state review-{r.review.as_str()}",
                    "data-review": "{r.review.as_str()}",
                    "{shown}"
                }
            }
            if can_review {
                label { class: "stack",
                    "Reason for flagging (required to flag)"
                    textarea {
                        id: "run-{id}-flag-reason",
                        rows: "2",
                        placeholder: "what is wrong with this run",
                        value: "{reason}",
                        oninput: move |e| reason.set(e.value()),
                    }
                }
                div { class: "row",
                    button { id: "run-{id}-flag", class: "btn btn-warn", onclick: move |_| act.call(true), "Flag run" }
                    button { id: "run-{id}-archive", class: "btn", onclick: move |_| act.call(false), "Archive run" }
                }
            } else if !r.state.is_final() {
                p { class: "muted small", "Flag or archive the run once it has ended (or been stopped)." }
            }
            if let Some(m) = message() {
                p { id: "run-{id}-message", class: "refusal", role: "alert", "{m}" }
            }
            div { class: "row small links",
                a { id: "run-{id}-zip", href: "/runs/{id}/download.zip", "Download all (zip)" }
                a { id: "run-{id}-link", href: "/runs/{id}", "Link to this run" }
            }
        }
    }
}
