//! Accounts, in the System tab: everyone sees the list; the add-user form is shown to
//! admins, and the server refuses it for anyone else regardless.

use dioxus::prelude::*;

use super::ShellContext;
use crate::model::Role;

#[component]
pub fn UsersPanel() -> Element {
    let ctx = use_context::<ShellContext>();
    let is_admin = ctx.user.role.can_administer();
    let mut refresh = use_signal(|| 0u32);
    let list_ctx = ctx.clone();
    let users = use_resource(move || {
        let ctx = list_ctx.clone();
        let _ = refresh();
        async move {
            ctx.commands
                .list_users(&ctx.user)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let mut name = use_signal(String::new);
    let mut password = use_signal(String::new);
    let mut role = use_signal(|| Role::Operator);
    let mut message = use_signal(|| None::<(bool, String)>);
    let add = move |_| {
        let ctx = ctx.clone();
        async move {
            let r = ctx
                .commands
                .create_user(&ctx.user, name(), role(), password())
                .await;
            match r {
                Ok(u) => {
                    message.set(Some((true, format!("Added {} ({}).", u.name, u.role))));
                    name.set(String::new());
                    password.set(String::new());
                    refresh += 1;
                }
                Err(e) => message.set(Some((false, e.to_string()))),
            }
        }
    };
    rsx! {
        div { class: "users",
            h3 { "Accounts" }
            match &*users.read() {
                None => rsx! { p { class: "muted", "loading…" } },
                Some(Err(e)) => rsx! { p { class: "refusal", "{e}" } },
                Some(Ok(list)) => rsx! {
                    table { id: "users-table",
                        thead { tr { th { "Name" } th { "Role" } } }
                        tbody {
                            for u in list.iter() {
                                tr { key: "{u.id}", td { "{u.name}" } td { "{u.role}" } }
                            }
                        }
                    }
                },
            }
            if is_admin {
                div { class: "row add-user",
                    input { id: "new-user-name", placeholder: "name", value: "{name}", oninput: move |e| name.set(e.value()) }
                    input { id: "new-user-password", r#type: "password", placeholder: "password (8+)", value: "{password}", oninput: move |e| password.set(e.value()) }
                    select { id: "new-user-role",
                        onchange: move |e| { if let Ok(r) = e.value().parse() { role.set(r) } },
                        for r in Role::ALL {
                            option { key: "{r}", value: "{r}", selected: role() == r, "{r}" }
                        }
                    }
                    button { id: "new-user-add", class: "btn", onclick: add, "Add user" }
                }
            } else {
                p { class: "muted small", "Only an admin can add or change accounts (or use `pmtwatch user …`)." }
            }
            if let Some((ok, m)) = message() {
                p { id: "users-message", class: if ok { "ok" } else { "refusal" }, "{m}" }
            }
        }
    }
}
