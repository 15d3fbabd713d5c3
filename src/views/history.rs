//! The History tab: past runs filtered by serial, state, review, operator and creation
//! date (UTC days), each with a link to share. A run opens read-only below the table, in
//! the same grid as a live one (review actions still there for ended, unreviewed runs),
//! and "compare" lists each point's gain against the previous run of the same serial.

use std::collections::BTreeMap;

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_gain;
use super::format::{fmt_run_hv, fmt_utc, parse_date, review_word};
use super::live::use_board;
use super::run_panel::RunPanel;
use crate::model::{Review, RunFilter, RunState};
use crate::monitor::Comparison;

/// The filter fields as typed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Typed {
    serial: String,
    state: String,
    review: String,
    operator: String,
    since: String,
    until: String,
}

/// The History query for the typed filters; `until` includes its whole day.
fn build_filter(t: &Typed) -> Result<RunFilter, String> {
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let day = |s: &str, what: &str| -> Result<Option<i64>, String> {
        match text(s) {
            None => Ok(None),
            Some(d) => parse_date(&d)
                .map(Some)
                .ok_or_else(|| format!("{what}: {d:?} is not a date; write YYYY-MM-DD")),
        }
    };
    let state = match text(&t.state) {
        None => None,
        Some(s) => Some(s.parse::<RunState>().map_err(|e| e.to_string())?),
    };
    let review = match text(&t.review) {
        None => None,
        Some(s) => Some(s.parse::<Review>().map_err(|e| e.to_string())?),
    };
    let since = day(&t.since, "from")?;
    let until = day(&t.until, "until")?.map(|d| d + 86_400);
    if let (Some(a), Some(b)) = (since, until)
        && a >= b
    {
        return Err("the \"from\" day must not be after the \"until\" day".into());
    }
    Ok(RunFilter {
        serial: text(&t.serial),
        state,
        review,
        operator: text(&t.operator),
        since,
        until,
        limit: None,
    })
}

/// A slot's name, or its number once the slot is gone.
fn slot_label(names: &BTreeMap<i64, String>, id: i64) -> String {
    names
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("slot {id}"))
}

/// A relative difference as a signed percentage.
fn fmt_pct(rel: Option<f64>) -> String {
    match rel {
        Some(r) if r.is_finite() => format!("{:+.1} %", r * 100.0),
        _ => "—".into(),
    }
}

/// The comparison of run `id` with the previous run of its serial.
fn compare_table(id: i64, res: &Result<Option<Comparison>, String>) -> Element {
    match res {
        Err(e) => rsx! { p { id: "compare-{id}", class: "refusal", role: "alert", "{e}" } },
        Ok(None) => {
            rsx! { p { id: "compare-{id}", class: "muted", "no previous run of this serial" } }
        }
        Ok(Some(c)) => {
            let prev = c.previous.id;
            rsx! {
                p { class: "small", "Run {id} against run {prev} ({fmt_utc(c.previous.created_at)} UTC)" }
                table { id: "compare-{id}", class: "compare",
                    thead { tr { th { "Point" } th { "This gain" } th { "Previous gain" } th { "Difference" } } }
                    tbody {
                        for (label, (now, before, rel)) in c.diffs.iter() {
                            tr { key: "{label}", id: "compare-{id}-{label}",
                                td { "{label}" }
                                td { "{fmt_gain(*now)}" }
                                td { "{fmt_gain(*before)}" }
                                td { "{fmt_pct(*rel)}" }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[component]
pub fn HistoryPanel() -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let slot_names = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .map(|s| (s.slot.id, s.slot.name.clone()))
            .collect::<BTreeMap<_, _>>()
    });
    let mut typed = use_signal(Typed::default);
    let mut filter_error = use_signal(|| None::<String>);
    let mut applied = use_signal(RunFilter::default);
    let list_ctx = ctx.clone();
    let runs = use_resource(move || {
        let ctx = list_ctx.clone();
        let filter = applied();
        async move {
            ctx.reads
                .history(&ctx.user, filter)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let mut open = use_signal(|| None::<i64>);
    let mut compared = use_signal(|| None::<(i64, Result<Option<Comparison>, String>)>);
    let compare = use_callback(move |id: i64| {
        let ctx = ctx.clone();
        spawn(async move {
            let r = ctx
                .reads
                .compare(&ctx.user, id)
                .await
                .map_err(|e| e.to_string());
            compared.set(Some((id, r)));
        });
    });
    let apply = move |_| match build_filter(&typed.peek()) {
        Ok(f) => {
            filter_error.set(None);
            applied.set(f);
        }
        Err(e) => filter_error.set(Some(e)),
    };
    let t = typed();
    let names = slot_names();
    rsx! {
        div { class: "history",
            div { class: "filters row",
                label { class: "stack", "Serial"
                    input { id: "history-serial", value: "{t.serial}", placeholder: "contains…", oninput: move |e| typed.write().serial = e.value() }
                }
                label { class: "stack", "State"
                    select { id: "history-status", onchange: move |e| typed.write().state = e.value(),
                        option { value: "", selected: t.state.is_empty(), "any" }
                        for s in RunState::ALL.iter() {
                            option { key: "{s}", value: "{s}", selected: t.state == s.as_str(), "{s}" }
                        }
                    }
                }
                label { class: "stack", "Review"
                    select { id: "history-review", onchange: move |e| typed.write().review = e.value(),
                        option { value: "", selected: t.review.is_empty(), "any" }
                        for r in Review::ALL.iter() {
                            option { key: "{r}", value: "{r}", selected: t.review == r.as_str(), "{review_word(*r)}" }
                        }
                    }
                }
                label { class: "stack", "Operator"
                    input { id: "history-operator", value: "{t.operator}", oninput: move |e| typed.write().operator = e.value() }
                }
                label { class: "stack", "From (UTC)"
                    input { id: "history-since", r#type: "date", value: "{t.since}", oninput: move |e| typed.write().since = e.value() }
                }
                label { class: "stack", "Until (UTC)"
                    input { id: "history-until", r#type: "date", value: "{t.until}", oninput: move |e| typed.write().until = e.value() }
                }
                button { id: "history-apply", class: "btn", onclick: apply, "Apply" }
            }
            if let Some(e) = filter_error() {
                p { id: "history-filter-error", class: "field-error", role: "alert", "{e}" }
            }
            match &*runs.read() {
                None => rsx! { p { class: "muted", "loading…" } },
                Some(Err(e)) => rsx! { p { id: "history-message", class: "refusal", role: "alert", "{e}" } },
                Some(Ok(list)) if list.is_empty() => rsx! { p { id: "history-empty", class: "muted", "No run matches." } },
                Some(Ok(list)) => rsx! {
                    div { class: "table-scroll",
                        table { id: "history-table",
                            thead {
                                tr {
                                    th { "Run" } th { "Serial" } th { "Slot" } th { "Kind" } th { "HV" } th { "State" }
                                    th { "Review" } th { "Operator" } th { "Created (UTC)" } th { "Points" } th { "" }
                                }
                            }
                            tbody {
                                for r in list.iter() {
                                    tr {
                                        key: "{r.id}",
                                        id: "history-row-{r.id}",
                                        class: if open() == Some(r.id) { "selected" } else { "" },
                                        "data-state": "{r.state.as_str()}",
                                        "data-review": "{r.review.as_str()}",
                                        td { a { id: "history-link-{r.id}", href: "/runs/{r.id}", title: "link to this run", "{r.id}" } }
                                        td { "{r.serial}" }
                                        td { "{slot_label(&names, r.slot_id)}" }
                                        td { "{r.kind.as_str()}" }
                                        td { id: "history-hv-{r.id}", "{fmt_run_hv(r)}" }
                                        td { class: "run-state state-{r.state.as_str()}", "{r.state.as_str()}" }
                                        td { "{review_word(r.review)}" }
                                        td { "{r.operator}" }
                                        td { "{fmt_utc(r.created_at)}" }
                                        td { "{r.points_done}/{r.points_total}" }
                                        td { class: "row-actions",
                                            button { id: "history-open-{r.id}", class: "btn btn-small", onclick: { let id = r.id; move |_| open.set(Some(id)) }, "Open" }
                                            button { id: "history-compare-{r.id}", class: "btn btn-small", onclick: { let id = r.id; move |_| compare.call(id) }, "Compare" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                },
            }
            if let Some((id, res)) = compared() {
                section { class: "compare-box",
                    div { class: "row",
                        h3 { "Compared with the previous run" }
                        span { class: "spacer" }
                        button { id: "compare-close", class: "btn btn-ghost", onclick: move |_| compared.set(None), "Close" }
                    }
                    {compare_table(id, &res)}
                }
            }
            RunPanel { open, title: "History" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_from_typed_text() {
        let f = build_filter(&Typed {
            serial: " KM1 ".into(),
            state: "complete".into(),
            review: "flagged".into(),
            since: "2024-02-29".into(),
            until: "2024-02-29".into(),
            ..Typed::default()
        });
        let f = f.expect("valid filter");
        assert_eq!(f.serial.as_deref(), Some("KM1"));
        assert_eq!(f.state, Some(RunState::Complete));
        assert_eq!(f.review, Some(Review::Flagged));
        assert_eq!(f.operator, None);
        assert_eq!(f.since, Some(1_709_164_800));
        assert_eq!(f.until, Some(1_709_164_800 + 86_400));
        assert_eq!(build_filter(&Typed::default()), Ok(RunFilter::default()));
        for bad in [
            Typed {
                since: "2024-02-30".into(),
                ..Typed::default()
            },
            Typed {
                state: "nonsense".into(),
                ..Typed::default()
            },
            Typed {
                since: "2024-03-02".into(),
                until: "2024-03-01".into(),
                ..Typed::default()
            },
        ] {
            assert!(build_filter(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(fmt_pct(Some(0.0123)), "+1.2 %");
        assert_eq!(fmt_pct(None), "—");
    }
}
