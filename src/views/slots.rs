//! The Scan tab (steps 4–6): one card per PMT slot with its live grid, a button to add a
//! slot, and — when the page was opened from a shared link to a run that no slot shows —
//! that run, read-only, above the slots (a slot's current run opens in its own card).

use dioxus::prelude::*;

use super::ShellContext;
use super::live::use_board;
use super::run_panel::RunPanel;
use super::slot_card::SlotCard;

#[component]
pub fn SlotsPanel() -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let ids = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .map(|s| s.slot.id)
            .collect::<Vec<_>>()
    });
    let linked = use_signal(|| ctx.open.as_ref().map(|(id, _)| *id));
    let linked_is_slot_run = use_memo(move || {
        linked().is_some_and(|id| board.read().slots.iter().any(|s| s.run_id == Some(id)))
    });
    let mut message = use_signal(|| None::<String>);
    let add = move |_| {
        let ctx = ctx.clone();
        async move {
            match ctx.commands.add_slot(&ctx.user).await {
                Ok(_) => message.set(None),
                Err(e) => message.set(Some(e.to_string())),
            }
        }
    };
    let list = ids();
    rsx! {
        div { class: "slots",
            if linked().is_some() && !linked_is_slot_run() {
                RunPanel { open: linked, title: "Shared run (read-only)" }
            }
            if list.is_empty() {
                p { class: "muted", "No PMT slot yet: add one, then enter the PMT's serial number." }
            }
            for id in list {
                SlotCard { key: "{id}", slot_id: id }
            }
            div { class: "row",
                button { id: "slot-add", class: "btn", onclick: add, "Add PMT slot" }
            }
            if let Some(m) = message() {
                p { id: "slots-message", class: "refusal", role: "alert", "{m}" }
            }
        }
    }
}
