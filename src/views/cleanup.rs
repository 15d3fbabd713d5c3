//! Step 3: removing local copies of synced results — of runs that ended more than N hours
//! ago (or all), only reviewed (archived or flagged) ones unless the operator also ticks
//! the unreviewed ones. A preview lists what would go; removing needs that preview and a
//! confirmation. The server checks the role and logs what was removed.

use dioxus::prelude::*;

use super::ShellContext;
use super::format::{fmt_bytes, fmt_utc_opt, review_word};
use crate::monitor::{CleanupItem, CleanupRequest};

/// The "older than" field: empty means every age.
fn parse_hours(text: &str) -> Result<Option<f64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(h) if h.is_finite() && h >= 0.0 => Ok(Some(h)),
        _ => Err(format!(
            "{t:?} is not a number of hours ≥ 0 (leave it empty for all)"
        )),
    }
}

/// What a cleanup removed, in a sentence: `removed 3 runs, 12.3 MB`.
fn removed_text(items: &[CleanupItem]) -> String {
    let bytes: u64 = items.iter().map(|i| i.bytes).sum();
    let runs = if items.len() == 1 { "run" } else { "runs" };
    format!("removed {} {runs}, {}", items.len(), fmt_bytes(bytes))
}

/// A preview: the request it was made for and what it found.
type Preview = (CleanupRequest, Result<Vec<CleanupItem>, String>);

#[component]
pub fn CleanupPanel() -> Element {
    let ctx = use_context::<ShellContext>();
    let mut hours = use_signal(String::new);
    let mut include_unreviewed = use_signal(|| false);
    let mut preview = use_signal(|| None::<Preview>);
    let mut confirm = use_signal(|| false);
    let mut result = use_signal(|| None::<(bool, String)>);
    let mut busy = use_signal(|| false);
    let hours_problem = parse_hours(&hours()).err();
    let preview_ctx = ctx.clone();
    let run_preview = move |_| {
        let Ok(older_than_hours) = parse_hours(&hours.peek()) else {
            return;
        };
        let req = CleanupRequest {
            older_than_hours,
            include_unreviewed: *include_unreviewed.peek(),
        };
        let ctx = preview_ctx.clone();
        confirm.set(false);
        result.set(None);
        busy.set(true);
        spawn(async move {
            let r = ctx
                .reads
                .cleanup_preview(&ctx.user, req)
                .await
                .map_err(|e| e.to_string());
            preview.set(Some((req, r)));
            busy.set(false);
        });
    };
    let remove = move |_| {
        let Some((req, Ok(_))) = preview.peek().clone() else {
            return;
        };
        let ctx = ctx.clone();
        confirm.set(false);
        busy.set(true);
        spawn(async move {
            match ctx.commands.cleanup(&ctx.user, req).await {
                Ok(items) => {
                    result.set(Some((true, removed_text(&items))));
                    preview.set(None);
                }
                Err(e) => result.set(Some((false, e.to_string()))),
            }
            busy.set(false);
        });
    };
    let shown = preview();
    let previewed = matches!(shown, Some((_, Ok(_))));
    rsx! {
        div { class: "cleanup",
            p { class: "muted small",
                "Removes this machine's copies of synced results (plots, result files). The runs stay in History; the data where the work ran is not touched."
            }
            label { class: "stack",
                "Older than (hours; empty = all)"
                input {
                    id: "cleanup-hours",
                    r#type: "number",
                    min: "0",
                    step: "any",
                    value: "{hours}",
                    oninput: move |e| {
                        hours.set(e.value());
                        preview.set(None);
                        confirm.set(false);
                    },
                }
            }
            if let Some(p) = hours_problem {
                span { id: "cleanup-hours-error", class: "field-error", role: "alert", "{p}" }
            }
            label { class: "check",
                input {
                    id: "cleanup-include-unreviewed",
                    r#type: "checkbox",
                    checked: include_unreviewed(),
                    onchange: move |e| {
                        include_unreviewed.set(e.checked());
                        preview.set(None);
                        confirm.set(false);
                    },
                }
                " also remove runs nobody has reviewed yet (unreviewed runs are kept unless you tick this)"
            }
            div { class: "row",
                button { id: "cleanup-preview", class: "btn", disabled: busy(), onclick: run_preview, "Preview" }
                button {
                    id: "cleanup-run",
                    class: "btn btn-warn",
                    disabled: busy() || !previewed,
                    onclick: move |_| confirm.set(true),
                    "Remove local copies…"
                }
            }
            match &shown {
                None => rsx! {},
                Some((_, Err(e))) => rsx! { p { id: "cleanup-preview-message", class: "refusal", role: "alert", "{e}" } },
                Some((_, Ok(items))) if items.is_empty() => rsx! {
                    ul { id: "cleanup-preview-list", class: "cleanup-list",
                        li { class: "muted", "nothing to remove" }
                    }
                },
                Some((_, Ok(items))) => {
                    let total = fmt_bytes(items.iter().map(|i| i.bytes).sum());
                    rsx! {
                    ul { id: "cleanup-preview-list", class: "cleanup-list",
                        for i in items.iter() {
                            li { key: "{i.run_id}", id: "cleanup-item-{i.run_id}", "data-run": "{i.run_id}",
                                strong { "run {i.run_id}" }
                                " · {i.serial} · {review_word(i.review)} · ended {fmt_utc_opt(i.ended_at)} · {fmt_bytes(i.bytes)} ({i.files} files)"
                            }
                        }
                    }
                    p { class: "small", "{items.len()} runs, {total} in all" }
                    }
                }
            }
            if confirm() && previewed {
                div { id: "cleanup-confirm-box", class: "confirm", role: "alertdialog",
                    p { "Remove the local copies listed above? This cannot be undone." }
                    div { class: "row",
                        button { id: "cleanup-confirm", class: "btn btn-warn", disabled: busy(), onclick: remove, "Yes, remove them" }
                        button { id: "cleanup-cancel", class: "btn btn-ghost", onclick: move |_| confirm.set(false), "Cancel" }
                    }
                }
            }
            if let Some((ok, m)) = result() {
                p {
                    id: "cleanup-result",
                    class: if ok { "ok" } else { "refusal" },
                    role: if ok { "status" } else { "alert" },
                    "{m}"
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Review;

    #[test]
    fn hours_and_the_result_sentence() {
        assert_eq!(parse_hours(""), Ok(None));
        assert_eq!(parse_hours(" 24 "), Ok(Some(24.0)));
        assert_eq!(parse_hours("0.5"), Ok(Some(0.5)));
        assert!(parse_hours("-1").is_err());
        assert!(parse_hours("soon").is_err());
        assert!(parse_hours("inf").is_err());
        let item = |id, bytes| CleanupItem {
            run_id: id,
            serial: "KM1".into(),
            review: Review::Archived,
            ended_at: Some(0),
            bytes,
            files: 3,
        };
        assert_eq!(
            removed_text(&[item(1, 10_000_000), item(2, 2_300_000), item(3, 0)]),
            "removed 3 runs, 12.3 MB"
        );
        assert_eq!(removed_text(&[item(1, 500)]), "removed 1 run, 500 B");
    }
}
