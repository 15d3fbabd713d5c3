//! The header bar: product name, connection indicator (the reconnect script flips it when
//! the socket drops), the signed-in user with their role, the theme toggle and sign-out.

use dioxus::prelude::*;

use super::ShellContext;
use crate::model::Theme;

#[component]
pub fn Header(mut theme: Signal<Theme>) -> Element {
    let ctx = use_context::<ShellContext>();
    let user = ctx.user.clone();
    let toggle = move |_| {
        let next = theme().toggled();
        theme.set(next);
        let ctx = ctx.clone();
        async move {
            if let Err(e) = ctx.commands.set_theme(&ctx.user, next).await {
                tracing::warn!("saving the theme of {} failed: {e}", ctx.user.name);
            }
        }
    };
    let toggle_label = match theme() {
        Theme::Dark => "Light theme",
        Theme::Light => "Dark theme",
    };
    rsx! {
        header { class: "topbar",
            span { class: "brand", "pmtwatch" }
            span { id: "conn-status", class: "conn conn-live", title: "connected to the server", "● live" }
            span { class: "spacer" }
            span { id: "current-user", class: "who",
                "{user.name} "
                span { class: "role role-{user.role.as_str()}", id: "current-role", "{user.role.as_str()}" }
            }
            button { id: "theme-toggle", class: "btn btn-ghost", onclick: toggle, "{toggle_label}" }
            a { id: "logout", class: "btn btn-ghost", href: "/logout", "Sign out" }
        }
    }
}
