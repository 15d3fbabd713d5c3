//! The run logbook beside a run (its entries in time order, automatic ones muted, and a
//! form for an operator's entry) and the logbook search of the History tab (every run's
//! entries by words, FTS5 on the server). Reads through `Reads`, writes through
//! `Commands` (operators and admins; observers are refused by the server).

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_utc;
use super::live::use_board;

/// A run's logbook with the operator's entry form.
#[component]
pub fn LogbookPanel(run_id: i64) -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let mut refresh = use_signal(|| 0u32);
    // Re-read when the run's view changes (a point, a state) or after an entry here.
    let run_version = use_memo(move || {
        board
            .read()
            .runs
            .get(&run_id)
            .map(|v| (v.run.state, v.points.len(), board.read().alarms.len()))
    });
    let read_ctx = ctx.clone();
    let entries = use_resource(move || {
        let ctx = read_ctx.clone();
        let _ = (refresh(), run_version());
        async move {
            ctx.reads
                .logbook(&ctx.user, run_id)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let mut text = use_signal(String::new);
    let mut message = use_signal(|| None::<(bool, String)>);
    let add = move |_| {
        let ctx = ctx.clone();
        async move {
            match ctx
                .commands
                .add_log_entry(&ctx.user, run_id, text(), None)
                .await
            {
                Ok(_) => {
                    text.set(String::new());
                    message.set(None);
                    refresh += 1;
                }
                Err(e) => message.set(Some((false, e.to_string()))),
            }
        }
    };
    rsx! {
        section { id: "logbook-{run_id}", class: "logbook",
            h4 { "Logbook" }
            match &*entries.read() {
                None => rsx! { p { class: "muted", "loading…" } },
                Some(Err(e)) => rsx! { p { class: "refusal", "{e}" } },
                Some(Ok(list)) if list.is_empty() => rsx! { p { class: "muted", "No entries yet." } },
                Some(Ok(list)) => rsx! {
                    ol { class: "logbook-entries",
                        for e in list.iter() {
                            li { key: "{e.id}", class: if e.automatic { "log-auto" } else { "log-operator" },
                                span { class: "muted small", "{fmt_utc(e.at)} · {e.author} " }
                                span { class: "log-text", "{e.text}" }
                                if let Some(f) = &e.attachment {
                                    span { class: "muted small", " [attached: {f}]" }
                                }
                            }
                        }
                    }
                },
            }
            div { class: "row logbook-add",
                textarea { id: "logbook-text-{run_id}", rows: "2", placeholder: "add an entry (who and when are recorded)",
                    value: "{text}", oninput: move |e| text.set(e.value()) }
                button { id: "logbook-add-{run_id}", class: "btn", onclick: add, "Add entry" }
            }
            if let Some((ok, m)) = message() {
                p { class: if ok { "ok" } else { "refusal" }, "{m}" }
            }
        }
    }
}

/// Search every run's logbook by words (History tab).
#[component]
pub fn LogbookSearch() -> Element {
    let ctx = use_context::<ShellContext>();
    let mut query = use_signal(String::new);
    let mut results = use_signal(|| None::<Result<Vec<crate::model::LogEntry>, String>>);
    let search = move |_| {
        let ctx = ctx.clone();
        async move {
            let r = ctx
                .reads
                .search_logbook(&ctx.user, query(), None)
                .await
                .map_err(|e| e.to_string());
            results.set(Some(r));
        }
    };
    rsx! {
        section { id: "logbook-search", class: "logbook-search",
            h3 { "Logbook search" }
            div { class: "row",
                input { id: "logbook-query", placeholder: "words in any run's logbook", value: "{query}",
                    oninput: move |e| query.set(e.value()) }
                button { id: "logbook-search-go", class: "btn", onclick: search, "Search" }
            }
            match results() {
                None => rsx! {},
                Some(Err(e)) => rsx! { p { class: "refusal", "{e}" } },
                Some(Ok(list)) if list.is_empty() => rsx! { p { id: "logbook-results", class: "muted", "Nothing found." } },
                Some(Ok(list)) => rsx! {
                    ol { id: "logbook-results",
                        for e in list.iter() {
                            li { key: "{e.id}",
                                a { href: "/runs/{e.run_id}", "run {e.run_id}" }
                                span { class: "muted small", " {fmt_utc(e.at)} · {e.author} " }
                                span { class: "log-text", "{e.text}" }
                            }
                        }
                    }
                },
            }
        }
    }
}
