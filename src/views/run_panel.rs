//! One run opened from History or from a shared link, read-only: its facts and the same
//! grid, review panel and review actions as a slot's run, without slot actions. A run a
//! slot still shows comes straight from the live board (so it stays current at no cost);
//! any other run is fetched once with `run_detail`, and again after a review action here.

use std::sync::Arc;

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_utc_opt;
use super::grid::Grid;
use super::live::use_board;
use super::logbook::LogbookPanel;
use super::run_actions::RunChanged;

#[component]
pub fn RunPanel(mut open: Signal<Option<i64>>, title: String) -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let changed = use_context_provider(|| RunChanged(Signal::new(0))).0;
    let live = use_memo(move || open().and_then(|id| board.read().runs.get(&id).cloned()));
    let is_live = use_memo(move || live.read().is_some());
    let detail = use_resource(move || {
        let ctx = ctx.clone();
        let id = open();
        let from_board = is_live();
        let _ = changed();
        async move {
            match id {
                Some(id) if !from_board => ctx
                    .reads
                    .run_detail(&ctx.user, id)
                    .await
                    .map(|d| d.map(Arc::new))
                    .map_err(|e| e.to_string()),
                _ => Ok(None),
            }
        }
    });
    let Some(id) = open() else {
        return rsx! {};
    };
    let fetched = match &*detail.read() {
        Some(Ok(v)) => Ok(v.clone()),
        Some(Err(e)) => Err(Some(e.clone())),
        None => Err(None),
    };
    let view = live().or_else(|| fetched.clone().ok().flatten());
    rsx! {
        section { id: "run-panel-{id}", class: "run-panel",
            div { class: "row",
                h3 { "{title}: run {id}" }
                span { class: "spacer" }
                a { id: "run-panel-link", class: "btn btn-ghost", href: "/runs/{id}", "Link" }
                button { id: "run-panel-close", class: "btn btn-ghost", onclick: move |_| open.set(None), "Close" }
            }
            match (&view, fetched) {
                (Some(v), _) => {
                    let r = &v.run;
                    let created = fmt_utc_opt(Some(r.created_at));
                    let ended = fmt_utc_opt(r.ended_at);
                    rsx! {
                        p { class: "small run-facts",
                            "{r.serial} · {r.kind.as_str()} · profile {r.profile_name} · operator {r.operator} · "
                            span { class: "run-state state-{r.state.as_str()}", "{r.state.as_str()}" }
                            " · {v.points.len()}/{v.pattern.len()} points · created {created} UTC · ended {ended}"
                        }
                        if !r.message.is_empty() {
                            p { class: "small muted", "{r.message}" }
                        }
                        if r.local_removed {
                            p { class: "small muted", "The local copy of this run's results was removed by a cleanup; plots may be missing." }
                        }
                    }
                }
                (None, Err(None)) => rsx! { p { class: "muted", "loading…" } },
                (None, Err(Some(e))) => rsx! { p { id: "run-panel-message", class: "refusal", role: "alert", "{e}" } },
                (None, Ok(_)) => rsx! { p { id: "run-panel-message", class: "refusal", role: "alert", "There is no run {id}." } },
            }
            for v in view {
                Grid { key: "{v.run.id}", view: v }
            }
            LogbookPanel { run_id: id }
        }
    }
}
