//! Step 2, remote configuration: the compute profiles (local, SSH host, SLURM cluster) as
//! the live board lists them, each opening the form to edit it, and a button for a new
//! one. Everyone sees them; saving and deleting are admin-only on the server, testing a
//! connection needs an operator — the server's refusal is shown in `profile-message`.

use dioxus::prelude::*;

use super::format::kind_name;
use super::live::use_board;
use super::profile_draft::Draft;
use super::profile_form::ProfileForm;
use crate::model::Report;

#[component]
pub fn ProfilesPanel() -> Element {
    let board = use_board();
    let profiles = use_memo(move || board.read().profiles.clone());
    let mut draft = use_signal(Draft::default);
    let mut open = use_signal(|| false);
    let mut message = use_signal(|| None::<(bool, String)>);
    let mut report = use_signal(|| None::<Report>);
    let list = profiles();
    let editing = if open() { draft.read().id } else { None };
    rsx! {
        div { class: "profiles",
            ul { id: "profile-list", class: "profile-list",
                if list.is_empty() {
                    li { class: "muted small", "No compute profile yet." }
                }
                for p in list.iter() {
                    li { key: "{p.id}",
                        button {
                            id: "profile-{p.id}",
                            class: if editing == Some(p.id) { "profile-item active" } else { "profile-item" },
                            onclick: {
                                let p = p.clone();
                                move |_| {
                                    draft.set(Draft::of(&p));
                                    open.set(true);
                                    message.set(None);
                                    report.set(None);
                                }
                            },
                            strong { "{p.name}" }
                            span { class: "muted small", " {kind_name(p.spec.kind)} · {p.spec.pmt_type}" }
                        }
                    }
                }
            }
            div { class: "row",
                button {
                    id: "profile-new",
                    class: "btn",
                    onclick: move |_| {
                        draft.set(Draft::default());
                        open.set(true);
                        message.set(None);
                        report.set(None);
                    },
                    "New profile"
                }
            }
            if open() {
                ProfileForm { draft, open, message, report }
            }
            if let Some((ok, m)) = message() {
                p {
                    id: "profile-message",
                    class: if ok { "ok" } else { "refusal" },
                    role: if ok { "status" } else { "alert" },
                    "{m}"
                }
            }
        }
    }
}
