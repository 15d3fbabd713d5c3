//! The run logbook beside a run (its entries in time order, automatic ones muted, attached
//! files as links — pictures as thumbnails — and a form for an operator's entry) and the
//! logbook search of the History tab (every run's entries by words, FTS5 on the server).
//! Reads through `Reads`; a text entry goes through `Commands` as a LiveView event, an
//! entry with a file as a plain `multipart/form-data` post to `POST /runs/{id}/logbook`
//! (`web::logbook`: a LiveView event cannot carry a file), which redirects back to the
//! run's page. Operators and admins write; an observer sees no form, and the server
//! refuses either path to them.

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_utc;
use super::live::use_board;
use crate::model::{LogEntry, attachment_is_image, attachment_title};

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
    let can_write = ctx.user.role.can_operate();
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
                                Attachment { entry: e.clone() }
                            }
                        }
                    }
                },
            }
            if can_write {
                // A plain form: "Add entry" sends the text as a LiveView event (no reload);
                // "Add with file" posts text and file over HTTP and comes back to the run.
                form { id: "logbook-form-{run_id}", class: "logbook-add", method: "post",
                    action: "/runs/{run_id}/logbook", enctype: "multipart/form-data",
                    textarea { id: "logbook-text-{run_id}", name: "text", rows: "2",
                        placeholder: "add an entry (who and when are recorded)",
                        value: "{text}", oninput: move |e| text.set(e.value()) }
                    div { class: "row",
                        button { id: "logbook-add-{run_id}", r#type: "button", class: "btn", onclick: add, "Add entry" }
                        label { class: "muted small", r#for: "logbook-file-{run_id}", "or attach a picture or file (≤ 10 MiB):" }
                        input { id: "logbook-file-{run_id}", r#type: "file", name: "file",
                            "data-plain-upload": "true" }
                        button { id: "logbook-upload-{run_id}", r#type: "submit", class: "btn btn-ghost", "Add with file" }
                    }
                }
            } else {
                p { class: "muted small", "Operators and admins write in the logbook." }
            }
            if let Some((ok, m)) = message() {
                p { class: if ok { "ok" } else { "refusal" }, "{m}" }
            }
        }
    }
}

/// An entry's attached file: a link that opens it (a picture shows as a thumbnail).
#[component]
fn Attachment(entry: LogEntry) -> Element {
    let (Some(stored), Some(url)) = (entry.attachment.as_deref(), entry.attachment_url()) else {
        return rsx! {};
    };
    let title = attachment_title(stored).to_string();
    rsx! {
        span { class: "log-attachment",
            " "
            a { id: "logbook-attachment-{entry.id}", href: "{url}", target: "_blank", rel: "noopener",
                title: "open the attached file",
                if attachment_is_image(stored) {
                    img { class: "log-thumb", src: "{url}", alt: "{title}", loading: "lazy" }
                }
                "📎 {title}"
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
